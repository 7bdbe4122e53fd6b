//! 1-D convolution in the frequency domain, for long and causal filters: a 2-D convolution of
//! maps one row high, whose overlap-save tiling (chosen by the cost model) splits a long
//! sequence into blocks, so a long filter over a long sequence needs no giant transform.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Initializer, PaddingConfig1d};
use burn::tensor::Tensor;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;

use crate::functional::convolve;
use crate::module::{
    ConvAlgorithm, DirectOp, auto_takes_fft, config_conversions, geometry_of, impl_fft_layer,
    passes_of, same_padding,
};
use crate::ops::BackwardMemory;
use crate::tuning::tuned_takes_fft;

const FUNCTION: &str = "fft_conv1d";

/// The options of a 2-D convolution of maps one row high that computes the 1-D convolution
/// `options` describe: stride, padding and dilation 1, 0 and 1 along the rows.
pub fn conv1d_as_conv2d(options: ConvOptions<1>) -> ConvOptions<2> {
    let ConvOptions {
        stride: [stride],
        padding: [padding],
        dilation: [dilation],
        groups,
    } = options;
    ConvOptions::new_with_padding([1, stride], [(0, 0), padding], [1, dilation], groups)
}

/// Refuses, in 1-D terms, what the 2-D checks would report with the extra row's values.
fn check_1d(x: &Tensor<3>, weight: &Tensor<3>, options: &ConvOptions<1>) {
    let refuse = |message: String| -> ! { panic!("{FUNCTION}: {message}") };
    for (name, value) in [("stride", options.stride), ("dilation", options.dilation)] {
        if value.contains(&0) {
            refuse(format!("`{name}` must be non-zero, got {value:?}"));
        }
    }
    for (name, shape) in [("x", x.dims()), ("weight", weight.dims())] {
        if shape[1..].contains(&0) {
            refuse(format!("`{name}` has an empty dimension: shape {shape:?}"));
        }
    }
    let [(left, right)] = options.padding;
    let [dilation] = options.dilation;
    let kernel = weight.dims()[2];
    let dilated = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|n| n.checked_add(1));
    let padded = [x.dims()[2], left, right]
        .into_iter()
        .try_fold(0usize, usize::checked_add);
    match (dilated, padded) {
        (Some(dilated), Some(padded)) if dilated > padded => refuse(format!(
            "the dilated kernel ({dilated}) is larger than the padded input ({padded})"
        )),
        (None, _) | (_, None) => refuse(format!(
            "the sizes of kernel {kernel}, dilation {dilation} and padding {:?} do not fit in \
             usize",
            options.padding
        )),
        _ => {}
    }
}

/// 1-D convolution (cross-correlation, NCL) computed in the frequency domain: the same
/// arguments, result and panics on bad input as [`burn::tensor::module::conv1d`].
///
/// `x` is `[batch, channels, length]`, `weight` is `[out_channels, channels / groups, kernel]`,
/// `bias` is `[out_channels]`. Causal convolution is the padding `(kernel - 1, 0)`
/// (`dilation * (kernel - 1)` with dilation). On an autodiff device the gradients are computed
/// in the frequency domain too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv1d;
/// use burn::tensor::ops::ConvOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv1d;
///
/// let device = Device::flex();
/// let x = Tensor::<3>::random([2, 4, 300], Distribution::Default, &device);
/// let w = Tensor::<3>::random([6, 4, 64], Distribution::Default, &device);
/// // Causal: each output sees the current sample and the 63 before it.
/// let causal = ConvOptions::new_with_padding([1], [(63, 0)], [1], 1);
/// let y = fft_conv1d(x.clone(), w.clone(), None, causal.clone());
/// let direct = conv1d(x, w, None, causal);
/// assert_eq!(y.dims(), [2, 6, 300]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-3);
/// ```
pub fn fft_conv1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<1>>,
) -> Tensor<3> {
    fft_conv1d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv1d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv1d_with_memory(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<1>>,
    memory: BackwardMemory,
) -> Tensor<3> {
    let options = options.into();
    check_1d(&x, &weight, &options);
    let options = conv1d_as_conv2d(options);
    let operands = [x.unsqueeze_dim(2), weight.unsqueeze_dim(2)];
    convolve(FUNCTION, operands, bias, options, memory).squeeze_dim(2)
}

/// Configuration of an [`FftConv1d`]: the fields, defaults and initializer of
/// [`Conv1dConfig`], plus the [`ConvAlgorithm`].
///
/// ```
/// use burn::nn::PaddingConfig1d;
/// use burn::tensor::{Device, Tensor};
/// use burn_fftconv::FftConv1dConfig;
///
/// let device = Device::flex();
/// // A causal filter of 256 taps.
/// let conv = FftConv1dConfig::new(8, 8, 256)
///     .with_padding(PaddingConfig1d::Explicit(255, 0))
///     .init(&device);
/// let y = conv.forward(Tensor::<3>::ones([1, 8, 1000], &device));
/// assert_eq!(y.dims(), [1, 8, 1000]);
/// ```
#[derive(Config, Debug)]
pub struct FftConv1dConfig {
    /// The number of input channels.
    pub channels_in: usize,
    /// The number of output channels.
    pub channels_out: usize,
    /// The size of the kernel.
    pub kernel_size: usize,
    /// The stride of the convolution.
    #[config(default = "1")]
    pub stride: usize,
    /// Spacing between kernel elements.
    #[config(default = "1")]
    pub dilation: usize,
    /// Controls the connections between input and output channels.
    #[config(default = "1")]
    pub groups: usize,
    /// The padding configuration; `Explicit(kernel_size - 1, 0)` is causal.
    #[config(default = "PaddingConfig1d::Valid")]
    pub padding: PaddingConfig1d,
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `Conv1dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

config_conversions!(FftConv1dConfig <-> Conv1dConfig, to_conv1d_config, new(channels_in, channels_out, kernel_size), with(stride, dilation, groups, padding, bias, initializer), init FftConv1d);

/// A 1-D convolution layer computed in the frequency domain: same parameters, record layout
/// and forward semantics as [`Conv1d`], so that weights saved from one load into the other.
#[derive(Module, Debug)]
pub struct FftConv1d {
    /// Tensor of shape `[channels_out, channels_in / groups, kernel_size]`.
    pub weight: Param<Tensor<3>>,
    /// Tensor of shape `[channels_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Stride of the convolution.
    pub stride: usize,
    /// Size of the kernel.
    pub kernel_size: usize,
    /// Spacing between kernel elements.
    pub dilation: usize,
    /// Controls the connections between input and output channels.
    pub groups: usize,
    /// The padding configuration.
    #[module(skip)]
    pub padding: PaddingConfig1d,
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConv1d from Conv1d { weight, bias, stride, kernel_size, dilation, groups, padding });

impl FftConv1d {
    /// The convolution options for an input of `length` samples.
    pub fn options(&self, length: usize) -> ConvOptions<1> {
        let padding = match self.padding {
            PaddingConfig1d::Valid => (0, 0),
            PaddingConfig1d::Same => same_padding(self.kernel_size, self.stride, length),
            PaddingConfig1d::Explicit(left, right) => (left, right),
        };
        ConvOptions::new_with_padding([self.stride], [padding], [self.dilation], self.groups)
    }

    /// Applies the layer to `input` (`[batch, channels_in, length]`).
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let options = self.options(input.dims()[2]);
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let weight = self.weight.val();
        let run = |fft: bool, [input, weight]: [Tensor<3>; 2], bias: Option<Tensor<1>>| {
            if fft {
                fft_conv1d_with_memory(input, weight, bias, options.clone(), self.backward_memory)
            } else {
                conv1d(input, weight, bias, options.clone())
            }
        };
        let [batch, channels, length] = input.dims();
        let [out, per_group, kernel] = weight.dims();
        let as_2d = ([batch, channels, 1, length], [out, per_group, 1, kernel]);
        let use_fft = match self.algorithm {
            ConvAlgorithm::Fft => true,
            ConvAlgorithm::Direct => false,
            ConvAlgorithm::Auto => auto_takes_fft(
                &as_2d.0,
                &as_2d.1,
                &conv1d_as_conv2d(options.clone()),
                &input.device(),
                passes_of(&input, &weight),
            ),
            ConvAlgorithm::Tuned => tuned_takes_fft(
                geometry_of(&as_2d.0, &as_2d.1, &conv1d_as_conv2d(options.clone())),
                DirectOp::Convolution,
                [&input, &weight],
                bias.as_ref(),
                run,
            ),
        };
        run(use_fft, [input, weight], bias)
    }
}

//! Transposed 1-D convolution in the frequency domain (the upsampling layers of audio decoders
//! and vocoders): the 2-D one on maps one row high, its errors given in 1-D terms.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::conv::{ConvTranspose1d, ConvTranspose1dConfig};
use burn::tensor::Tensor;
use burn::tensor::module::conv_transpose1d;
use burn::tensor::ops::ConvTransposeOptions;

use crate::module::{ConvAlgorithm, DirectOp, config_conversions, impl_fft_layer};
use crate::ops::BackwardMemory;
use crate::transposed::{Caller, convolution_of, fft_pays_for, transpose};
use crate::tuning::tuned_takes_fft;

/// The 1-D function, as its errors name it: in 1-D terms, over maps one row high.
const CALLER_1D: Caller = Caller {
    function: "fft_conv_transpose1d",
    one_row: true,
};

/// The options of the 2-D transposed convolution of maps one row high that computes the 1-D
/// one `options` describe: stride, padding, `padding_out` and dilation 1, 0, 0 and 1 along
/// the rows.
pub fn conv_transpose1d_as_2d(options: ConvTransposeOptions<1>) -> ConvTransposeOptions<2> {
    let ConvTransposeOptions {
        stride: [stride],
        padding: [padding],
        padding_out: [padding_out],
        dilation: [dilation],
        groups,
    } = options;
    // Not `ConvTransposeOptions::new`, which would refuse a zero stride before the checks
    // that name it in 1-D terms.
    ConvTransposeOptions {
        stride: [1, stride],
        padding: [0, padding],
        padding_out: [0, padding_out],
        dilation: [1, dilation],
        groups,
    }
}

/// 1-D transposed convolution (NCL) computed in the frequency domain: the same arguments,
/// result and panics on bad input as [`burn::tensor::module::conv_transpose1d`].
///
/// `x` is `[batch, channels_in, length]`, `weight` is
/// `[channels_in, channels_out / groups, kernel]`, `bias` is `[channels_out]`. On an autodiff
/// device the gradients are computed in the frequency domain too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv_transpose1d;
/// use burn::tensor::ops::ConvTransposeOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv_transpose1d;
///
/// let device = Device::flex();
/// let x = Tensor::<3>::random([2, 4, 50], Distribution::Default, &device);
/// let w = Tensor::<3>::random([4, 3, 16], Distribution::Default, &device);
/// // Eight times the length, as a vocoder's upsampling layer.
/// let options = ConvTransposeOptions::new([8], [4], [0], [1], 1);
/// let y = fft_conv_transpose1d(x.clone(), w.clone(), None, options.clone());
/// let direct = conv_transpose1d(x, w, None, options);
/// assert_eq!(y.dims(), [2, 3, 400]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn fft_conv_transpose1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<1>,
) -> Tensor<3> {
    fft_conv_transpose1d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv_transpose1d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv_transpose1d_with_memory(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<1>,
    memory: BackwardMemory,
) -> Tensor<3> {
    let operands = [x.unsqueeze_dim(2), weight.unsqueeze_dim(2)];
    let options = conv_transpose1d_as_2d(options);
    transpose(CALLER_1D, operands, bias, options, memory).squeeze_dim(2)
}

/// Configuration of an [`FftConvTranspose1d`]: the fields, defaults and initializer of
/// [`ConvTranspose1dConfig`], plus the [`ConvAlgorithm`].
#[derive(Config, Debug)]
pub struct FftConvTranspose1dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
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
    /// Padding, cropped from each end of the output.
    #[config(default = "0")]
    pub padding: usize,
    /// Samples added at the end of the output.
    #[config(default = "0")]
    pub padding_out: usize,
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `ConvTranspose1dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

config_conversions!(FftConvTranspose1dConfig <-> ConvTranspose1dConfig, to_conv_transpose1d_config, new(channels, kernel_size), with(stride, dilation, groups, padding, padding_out, bias, initializer), init FftConvTranspose1d);

/// A transposed 1-D convolution layer computed in the frequency domain: same parameters,
/// record layout and forward semantics as [`ConvTranspose1d`], so that weights saved from one
/// load into the other.
#[derive(Module, Debug)]
pub struct FftConvTranspose1d {
    /// Tensor of shape `[channels_in, channels_out / groups, kernel_size]`.
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
    /// Padding, cropped from each end of the output.
    pub padding: usize,
    /// Samples added at the end of the output.
    pub padding_out: usize,
    /// Input and output channels.
    pub channels: [usize; 2],
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConvTranspose1d from ConvTranspose1d { weight, bias, stride, kernel_size, dilation, groups, padding, padding_out, channels });

impl FftConvTranspose1d {
    /// The transposed convolution's options.
    pub fn options(&self) -> ConvTransposeOptions<1> {
        ConvTransposeOptions::new(
            [self.stride],
            [self.padding],
            [self.padding_out],
            [self.dilation],
            self.groups,
        )
    }

    /// Applies the layer to `input` (`[batch, channels_in, length]`). `Auto` decides as the
    /// 2-D layer does on the same maps one row high.
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let (weight, options) = (self.weight.val(), self.options());
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let run = |fft: bool, [input, weight]: [Tensor<3>; 2], bias: Option<Tensor<1>>| {
            let options = options.clone();
            if fft {
                fft_conv_transpose1d_with_memory(input, weight, bias, options, self.backward_memory)
            } else {
                conv_transpose1d(input, weight, bias, options)
            }
        };
        let as_2d = [&input, &weight].map(|tensor| tensor.clone().unsqueeze_dim::<4>(2));
        let options_2d = conv_transpose1d_as_2d(options.clone());
        let use_fft = match self.algorithm {
            ConvAlgorithm::Fft => true,
            ConvAlgorithm::Direct => false,
            ConvAlgorithm::Auto => fft_pays_for(CALLER_1D, &as_2d[0], &as_2d[1], &options_2d),
            ConvAlgorithm::Tuned => tuned_takes_fft(
                convolution_of(CALLER_1D, &as_2d[0], &as_2d[1], &options_2d),
                DirectOp::Transposed,
                [&input, &weight],
                bias.as_ref(),
                run,
            ),
        };
        run(use_fft, [input, weight], bias)
    }
}

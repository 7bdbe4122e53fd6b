//! Transposed 2-D and 3-D convolution in the frequency domain: the input-gradient identity of
//! a convolution, run forward (written once over the rank).
//!
//! `conv_transpose2d(x, w)` is the gradient of `conv2d(z, w)` with respect to `z`, taken at the
//! output gradient `x`, for the convolution whose input `z` has the transposed output's shape.
//! Its own gradients are the two other identities: the forward convolution for `x` and the
//! weight gradient for `w`, both from the spectra of this call.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose2d, conv_transpose3d};
use burn::tensor::ops::{ConvTransposeOptions, PadMode};
use fftconv_kernels::ConvGeometry;

use crate::functional::{check_device, check_like_x, run_pass, spectral_path_runs, widened};
use crate::module::{
    ConvAlgorithm, DirectOp, config_conversions, fft_pays, impl_fft_layer, passes_of,
};
use crate::ops::{BackwardMemory, ConvPass};
use crate::tuning::tuned_takes_fft;

/// The 2-D function, as its errors name it.
const CALLER_2D: Caller = Caller {
    function: "fft_conv_transpose2d",
    one_row: false,
};

/// The 3-D function, as its errors name it.
pub(crate) const CALLER_3D: Caller = Caller {
    function: "fft_conv_transpose3d",
    one_row: false,
};

/// burn's transposed convolution for the tensor rank `D` of `ConvTransposeOptions<N>`: what
/// the FFT functions fall back to.
pub(crate) trait DirectTransposed<const D: usize>: Clone {
    /// burn's `conv_transpose2d` or `conv_transpose3d`.
    fn conv_transpose(
        x: Tensor<D>,
        weight: Tensor<D>,
        bias: Option<Tensor<1>>,
        options: Self,
    ) -> Tensor<D>;
}

impl DirectTransposed<4> for ConvTransposeOptions<2> {
    fn conv_transpose(
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Option<Tensor<1>>,
        options: Self,
    ) -> Tensor<4> {
        conv_transpose2d(x, weight, bias, options)
    }
}

impl DirectTransposed<5> for ConvTransposeOptions<3> {
    fn conv_transpose(
        x: Tensor<5>,
        weight: Tensor<5>,
        bias: Option<Tensor<1>>,
        options: Self,
    ) -> Tensor<5> {
        conv_transpose3d(x, weight, bias, options)
    }
}

/// The public function a transposed convolution is computed for, so that its errors speak in
/// its terms: its name, and for `fft_conv_transpose1d` (maps one row high) 1-D values.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    /// The public function's name.
    pub function: &'static str,
    /// Whether the caller's tensors are 1-D sequences laid out as maps of one row.
    pub one_row: bool,
}

impl Caller {
    /// Panics with `message` prefixed by the function's name.
    fn refuse(self, message: String) -> ! {
        panic!("{}: {message}", self.function)
    }

    /// Per-axis values as the caller gave them: every axis, or the sequence's alone.
    fn values(self, values: &[usize]) -> String {
        if self.one_row {
            format!("{:?}", &values[1..])
        } else {
            format!("{values:?}")
        }
    }

    /// A shape as the caller gave it (without the row axis for 1-D).
    fn shape(self, shape: &[usize]) -> String {
        if self.one_row {
            format!("{:?}", [shape[0], shape[1], shape[3]])
        } else {
            format!("{shape:?}")
        }
    }

    /// The axis, named.
    fn axis(self, axis: usize) -> String {
        if self.one_row {
            "the sequence".into()
        } else {
            format!("axis {axis}")
        }
    }
}

/// How a transposed convolution maps onto the convolution whose input gradient it is.
struct TransposedGeometry<const N: usize> {
    /// The convolution: its input is the transposed output less `zero_tail`, its output
    /// `x`'s shape.
    convolution: ConvGeometry,
    /// Samples at the end of each axis of the transposed output that no input reaches (where
    /// `padding_out` exceeds `padding`): zeros, added after the transform.
    zero_tail: [usize; N],
}

/// The transposed output's size along one axis (burn's formula), and the convolution input
/// size and end padding that make a convolution with output size `input` its adjoint.
/// `None` when no input sample reaches the output (padding crops all of it).
fn axis_sizes<const N: usize>(
    caller: Caller,
    input: usize,
    kernel: usize,
    options: &ConvTransposeOptions<N>,
    axis: usize,
) -> Option<(usize, usize, usize)> {
    let (stride, padding) = (options.stride[axis], options.padding[axis]);
    let (padding_out, dilation) = (options.padding_out[axis], options.dilation[axis]);
    let overflow = || -> usize {
        caller.refuse(format!(
            "the output size along {} does not fit in usize",
            caller.axis(axis)
        ))
    };
    // (input - 1) * stride + dilation * (kernel - 1) + 1 + padding_out, then less 2 padding.
    let full = (input - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(dilation.checked_mul(kernel - 1)?))
        .and_then(|n| n.checked_add(1 + padding_out))
        .unwrap_or_else(overflow);
    let output = full
        .checked_sub(padding.checked_mul(2).unwrap_or_else(overflow))
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            caller.refuse(format!(
                "`padding` = {} leaves no output along {}: the uncropped output has {full} \
                 samples",
                caller.values(&options.padding),
                caller.axis(axis)
            ))
        });
    // `padding_out` samples past the convolution's reach: up to `padding` of them are cropped
    // samples given back (less end padding), the rest are zeros.
    let zero_tail = padding_out.saturating_sub(padding);
    let pad_end = padding.saturating_sub(padding_out);
    let conv_input = output - zero_tail;
    (conv_input > 0).then_some((conv_input, pad_end, zero_tail))
}

/// Validates the arguments in the transposed convolution's own terms and maps them onto the
/// convolution; `None` when padding crops every sample an input reaches (the output is the
/// bias alone, left to burn).
fn transposed_geometry<const D: usize, const N: usize>(
    caller: Caller,
    x: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvTransposeOptions<N>,
) -> Option<TransposedGeometry<N>> {
    check_device(caller.function, &x.device());
    check_like_x(caller.function, "weight", weight, x);
    let (x_shape, weight_shape) = (x.dims(), weight.dims());
    let (batch, channels) = (x_shape[0], x_shape[1]);
    let (weight_in, weight_out) = (weight_shape[0], weight_shape[1]);
    if channels != weight_in {
        caller.refuse(format!(
            "`x` has {channels} channels but `weight` takes {weight_in} (`weight.dims()[0]`)"
        ));
    }
    for (name, value) in [("stride", options.stride), ("dilation", options.dilation)] {
        if value.contains(&0) {
            caller.refuse(format!(
                "`{name}` must be non-zero, got {}",
                caller.values(&value)
            ));
        }
    }
    if options.groups == 0 || !channels.is_multiple_of(options.groups) {
        caller.refuse(format!(
            "`groups` = {} must be non-zero and divide the {channels} input channels",
            options.groups
        ));
    }
    if x_shape[2..].contains(&0) || weight_shape[1..].contains(&0) {
        caller.refuse(format!(
            "`x` {} and `weight` {} must have non-empty channels, maps and kernels",
            caller.shape(&x_shape),
            caller.shape(&weight_shape)
        ));
    }
    let mut sizes = [(0, 0, 0); N];
    for (axis, size) in sizes.iter_mut().enumerate() {
        let (input, kernel) = (x_shape[2 + axis], weight_shape[2 + axis]);
        *size = axis_sizes(caller, input, kernel, options, axis)?;
    }
    let out_channels = weight_out.checked_mul(options.groups).unwrap_or_else(|| {
        caller.refuse(format!(
            "{weight_out} output channels per group times `groups` = {} does not fit in usize",
            options.groups
        ))
    });
    let conv_input: Vec<usize> = [batch.max(1), out_channels]
        .into_iter()
        .chain(sizes.iter().map(|&(input, _, _)| input))
        .collect();
    let padding = std::array::from_fn(|axis| (options.padding[axis], sizes[axis].1));
    let convolution = ConvGeometry::new(
        &conv_input,
        &weight_shape,
        options.stride,
        padding,
        options.dilation,
        options.groups,
    )
    .unwrap_or_else(|error| caller.refuse(error.to_string()));
    debug_assert_eq!(convolution.output_shape()[1..], x_shape[1..]);
    Some(TransposedGeometry {
        convolution,
        zero_tail: sizes.map(|(_, _, zero_tail)| zero_tail),
    })
}

/// 2-D transposed convolution (NCHW) computed in the frequency domain: the same arguments,
/// result and panics on bad input as [`burn::tensor::module::conv_transpose2d`].
///
/// `x` is `[batch, channels_in, height, width]`, `weight` is
/// `[channels_in, channels_out / groups, kernel_height, kernel_width]`, `bias` is
/// `[channels_out]`. On an autodiff device the gradients are computed in the frequency domain
/// too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::{conv_transpose2d, conv_transpose3d};
/// use burn::tensor::ops::ConvTransposeOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv_transpose2d;
///
/// let device = Device::flex();
/// let x = Tensor::<4>::random([2, 4, 9, 7], Distribution::Default, &device);
/// let w = Tensor::<4>::random([4, 3, 4, 3], Distribution::Default, &device);
/// // Stride 2 and 1, padding 1 and 0, one extra output row, two groups.
/// let options = ConvTransposeOptions::new([2, 1], [1, 0], [1, 0], [1, 1], 2);
/// let y = fft_conv_transpose2d(x.clone(), w.clone(), None, options.clone());
/// let direct = conv_transpose2d(x, w, None, options);
/// assert_eq!(y.dims(), [2, 6, 19, 9]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn fft_conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    fft_conv_transpose2d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv_transpose2d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv_transpose2d_with_memory(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
    memory: BackwardMemory,
) -> Tensor<4> {
    transpose(CALLER_2D, [x, weight], bias, options, memory)
}

/// 3-D transposed convolution (NCDHW) computed in the frequency domain: the same arguments,
/// result and panics on bad input as [`burn::tensor::module::conv_transpose3d`].
///
/// `x` is `[batch, channels_in, depth, height, width]`, `weight` is
/// `[channels_in, channels_out / groups, kernel_depth, kernel_height, kernel_width]`, `bias`
/// is `[channels_out]`. On an autodiff device the gradients are computed in the frequency
/// domain too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv_transpose3d;
/// use burn::tensor::ops::ConvTransposeOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv_transpose3d;
///
/// let device = Device::flex();
/// let x = Tensor::<5>::random([2, 4, 5, 6, 4], Distribution::Default, &device);
/// let w = Tensor::<5>::random([4, 3, 3, 4, 3], Distribution::Default, &device);
/// // Stride 2, 2 and 1, padding 1, 1 and 0, one extra output sample along the depth.
/// let options = ConvTransposeOptions::new([2, 2, 1], [1, 1, 0], [1, 0, 0], [1; 3], 2);
/// let y = fft_conv_transpose3d(x.clone(), w.clone(), None, options.clone());
/// let direct = conv_transpose3d(x, w, None, options);
/// assert_eq!(y.dims(), [2, 6, 10, 12, 6]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn fft_conv_transpose3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<3>,
) -> Tensor<5> {
    fft_conv_transpose3d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv_transpose3d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv_transpose3d_with_memory(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<3>,
    memory: BackwardMemory,
) -> Tensor<5> {
    transpose(CALLER_3D, [x, weight], bias, options, memory)
}

/// The transposed convolution for `caller` (`fft_conv_transpose2d`, `3d`, or `1d` on maps one
/// row high), in whose terms errors are given.
pub(crate) fn transpose<const D: usize, const N: usize>(
    caller: Caller,
    [x, weight]: [Tensor<D>; 2],
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<N>,
    memory: BackwardMemory,
) -> Tensor<D>
where
    ConvTransposeOptions<N>: DirectTransposed<D>,
{
    let geometry = transposed_geometry(caller, &x, &weight, &options);
    if let Some(bias) = &bias {
        check_like_x(caller.function, "bias", bias, &x);
        let out_channels = weight.dims()[1] * options.groups;
        if bias.dims()[0] != out_channels {
            caller.refuse(format!(
                "`bias` must have one entry per output channel ({out_channels}), got length {}",
                bias.dims()[0]
            ));
        }
    }
    let Some(TransposedGeometry {
        convolution,
        zero_tail,
    }) = geometry
        .filter(|_| x.dims()[0] > 0)
        .filter(|g| spectral_path_runs(&x.device(), x.dtype(), &g.convolution))
    else {
        return DirectTransposed::conv_transpose(x, weight, bias, options);
    };
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let bias = bias.map(|bias| bias.cast(wide));
        let operands = [x.cast(wide), weight.cast(wide)];
        return transpose(caller, operands, bias, options, memory).cast(dtype);
    }
    let mut y = run_pass([x, weight], ConvPass::InputGrad, convolution, memory);
    if zero_tail.iter().any(|&zeros| zeros > 0) {
        y = y.pad(zero_tail.map(|zeros| (0, zeros)), PadMode::Constant(0.0));
    }
    match bias {
        Some(bias) => {
            let mut per_channel = [1; D];
            per_channel[1] = y.dims()[1] as i64;
            y + bias.reshape(per_channel)
        }
        None => y,
    }
}

/// Whether `Auto` takes the frequency domain for this transposed convolution (of `caller`):
/// as for the convolution whose input gradient it is.
pub(crate) fn fft_pays_for<const D: usize, const N: usize>(
    caller: Caller,
    input: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvTransposeOptions<N>,
) -> bool {
    // The transposed convolution's passes map onto the convolution's one for one (its forward
    // pass is the input gradient's), each with one product and a transform per operand.
    let passes = passes_of(input, weight);
    transposed_geometry(caller, input, weight, options).is_some_and(|g| {
        fft_pays(
            &input.device(),
            &g.convolution,
            passes,
            DirectOp::Transposed,
        )
    })
}

/// The convolution whose input gradient this transposed convolution (of `caller`) computes;
/// `None` where padding crops every sample an input reaches.
pub(crate) fn convolution_of<const D: usize, const N: usize>(
    caller: Caller,
    input: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvTransposeOptions<N>,
) -> Option<ConvGeometry> {
    transposed_geometry(caller, input, weight, options).map(|g| g.convolution)
}

/// A transposed convolution layer's forward pass by its `algorithm`: in the frequency domain
/// (as `caller`, keeping `memory` for the backward pass), or by burn's direct transposed
/// convolution; for `Auto`, whichever [`fft_pays_for`] picks, for `Tuned` whichever
/// [`tuned_takes_fft`] measured.
pub(crate) fn layer_transpose<const D: usize, const N: usize>(
    caller: Caller,
    (algorithm, memory): (ConvAlgorithm, BackwardMemory),
    [input, weight]: [Tensor<D>; 2],
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<N>,
) -> Tensor<D>
where
    ConvTransposeOptions<N>: DirectTransposed<D>,
{
    let run = |fft: bool, [input, weight]: [Tensor<D>; 2], bias: Option<Tensor<1>>| {
        if fft {
            transpose(caller, [input, weight], bias, options.clone(), memory)
        } else {
            DirectTransposed::conv_transpose(input, weight, bias, options.clone())
        }
    };
    let use_fft = match algorithm {
        ConvAlgorithm::Fft => true,
        ConvAlgorithm::Direct => false,
        ConvAlgorithm::Auto => fft_pays_for(caller, &input, &weight, &options),
        ConvAlgorithm::Tuned => tuned_takes_fft(
            convolution_of(caller, &input, &weight, &options),
            DirectOp::Transposed,
            [&input, &weight],
            bias.as_ref(),
            run,
        ),
    };
    run(use_fft, [input, weight], bias)
}

/// Configuration of an [`FftConvTranspose2d`]: the fields, defaults and initializer of
/// [`ConvTranspose2dConfig`], plus the [`ConvAlgorithm`].
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_fftconv::FftConvTranspose2dConfig;
///
/// let device = Device::flex();
/// // A decoder step: twice the size, 16 -> 8 channels.
/// let up = FftConvTranspose2dConfig::new([16, 8], [4, 4])
///     .with_stride([2, 2])
///     .with_padding([1, 1])
///     .init(&device);
/// let y = up.forward(Tensor::<4>::ones([1, 16, 12, 12], &device));
/// assert_eq!(y.dims(), [1, 8, 24, 24]);
/// ```
#[derive(Config, Debug)]
pub struct FftConvTranspose2dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Kernel height and width.
    pub kernel_size: [usize; 2],
    /// Stride of the convolution.
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// Spacing between kernel elements.
    #[config(default = "[1, 1]")]
    pub dilation: [usize; 2],
    /// Controls the connections between input and output channels.
    #[config(default = "1")]
    pub groups: usize,
    /// Padding, cropped from each side of the output.
    #[config(default = "[0, 0]")]
    pub padding: [usize; 2],
    /// Rows and columns added at the end of the output.
    #[config(default = "[0, 0]")]
    pub padding_out: [usize; 2],
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `ConvTranspose2dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

config_conversions!(FftConvTranspose2dConfig <-> ConvTranspose2dConfig, to_conv_transpose2d_config, new(channels, kernel_size), with(stride, dilation, groups, padding, padding_out, bias, initializer), init FftConvTranspose2d);

/// A transposed 2-D convolution layer computed in the frequency domain: same parameters,
/// record layout and forward semantics as [`ConvTranspose2d`], so that weights saved from one
/// load into the other.
#[derive(Module, Debug)]
pub struct FftConvTranspose2d {
    /// Tensor of shape `[channels_in, channels_out / groups, kernel_size_1, kernel_size_2]`.
    pub weight: Param<Tensor<4>>,
    /// Tensor of shape `[channels_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Stride of the convolution.
    pub stride: [usize; 2],
    /// Size of the kernel.
    pub kernel_size: [usize; 2],
    /// Spacing between kernel elements.
    pub dilation: [usize; 2],
    /// Controls the connections between input and output channels.
    pub groups: usize,
    /// Padding, cropped from each side of the output.
    pub padding: [usize; 2],
    /// Rows and columns added at the end of the output.
    pub padding_out: [usize; 2],
    /// Input and output channels.
    pub channels: [usize; 2],
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConvTranspose2d from ConvTranspose2d { weight, bias, stride, kernel_size, dilation, groups, padding, padding_out, channels });

impl FftConvTranspose2d {
    /// The transposed convolution's options.
    pub fn options(&self) -> ConvTransposeOptions<2> {
        ConvTransposeOptions::new(
            self.stride,
            self.padding,
            self.padding_out,
            self.dilation,
            self.groups,
        )
    }

    /// Applies the layer to `input` (`[batch, channels_in, height, width]`).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let modes = (self.algorithm, self.backward_memory);
        let operands = [input, self.weight.val()];
        layer_transpose(CALLER_2D, modes, operands, bias, self.options())
    }
}

//! Transposed 2-D convolution in the frequency domain: the input-gradient identity of a
//! convolution, run forward.
//!
//! `conv_transpose2d(x, w)` is the gradient of `conv2d(z, w)` with respect to `z`, taken at the
//! output gradient `x`, for the convolution whose input `z` has the transposed output's shape.
//! Its own gradients are the two other identities: the forward convolution for `x` and the
//! weight gradient for `w`, both from the spectra of this call.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::{ConvTransposeOptions, PadMode};
use burn::tensor::{Device, Tensor};
use fftconv_kernels::ConvGeometry;

use crate::functional::{check_device, check_like_x, run_pass, widened};
use crate::module::{ConvAlgorithm, fft_pays, impl_fft_layer};
use crate::ops::{BackwardMemory, ConvPass};

/// The 2-D function, as its errors name it.
const CALLER_2D: Caller = Caller {
    function: "fft_conv_transpose2d",
    one_row: false,
};

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

    /// Per-axis values as the caller gave them: both axes, or the sequence's alone.
    fn values(self, values: [usize; 2]) -> String {
        if self.one_row {
            format!("{:?}", [values[1]])
        } else {
            format!("{values:?}")
        }
    }

    /// A 4-D shape as the caller gave it (without the row axis for 1-D).
    fn shape(self, [n, c, h, w]: [usize; 4]) -> String {
        if self.one_row {
            format!("{:?}", [n, c, w])
        } else {
            format!("{:?}", [n, c, h, w])
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
struct TransposedGeometry {
    /// The convolution: its input is the transposed output less `zero_tail`, its output
    /// `x`'s shape.
    convolution: ConvGeometry,
    /// Rows and columns at the end of the transposed output that no input reaches (where
    /// `padding_out` exceeds `padding`): zeros, added after the transform.
    zero_tail: [usize; 2],
}

/// The transposed output's size along one axis (burn's formula), and the convolution input
/// size and end padding that make a convolution with output size `input` its adjoint.
/// `None` when no input sample reaches the output (padding crops all of it).
fn axis_sizes(
    caller: Caller,
    input: usize,
    kernel: usize,
    options: &ConvTransposeOptions<2>,
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
                caller.values(options.padding),
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
fn transposed_geometry(
    caller: Caller,
    x: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvTransposeOptions<2>,
) -> Option<TransposedGeometry> {
    check_device(caller.function, &x.device());
    check_like_x(caller.function, "weight", weight, x);
    let [batch, channels, height, width] = x.dims();
    let [weight_in, weight_out, kernel_height, kernel_width] = weight.dims();
    if channels != weight_in {
        caller.refuse(format!(
            "`x` has {channels} channels but `weight` takes {weight_in} (`weight.dims()[0]`)"
        ));
    }
    for (name, value) in [("stride", options.stride), ("dilation", options.dilation)] {
        if value.contains(&0) {
            caller.refuse(format!(
                "`{name}` must be non-zero, got {}",
                caller.values(value)
            ));
        }
    }
    if options.groups == 0 || !channels.is_multiple_of(options.groups) {
        caller.refuse(format!(
            "`groups` = {} must be non-zero and divide the {channels} input channels",
            options.groups
        ));
    }
    if [height, width, kernel_height, kernel_width, weight_out].contains(&0) {
        caller.refuse(format!(
            "`x` {} and `weight` {} must have non-empty channels, maps and kernels",
            caller.shape(x.dims()),
            caller.shape(weight.dims())
        ));
    }
    let [rows, columns] = [(height, kernel_height, 0), (width, kernel_width, 1)]
        .map(|(input, kernel, axis)| axis_sizes(caller, input, kernel, options, axis));
    let ((rows, pad_bottom, zero_rows), (columns, pad_right, zero_columns)) = (rows?, columns?);
    let out_channels = weight_out.checked_mul(options.groups).unwrap_or_else(|| {
        caller.refuse(format!(
            "{weight_out} output channels per group times `groups` = {} does not fit in usize",
            options.groups
        ))
    });
    let [pad_top, pad_left] = options.padding;
    let convolution = ConvGeometry::new(
        &[batch.max(1), out_channels, rows, columns],
        &weight.dims(),
        options.stride,
        [(pad_top, pad_bottom), (pad_left, pad_right)],
        options.dilation,
        options.groups,
    )
    .unwrap_or_else(|error| caller.refuse(error.to_string()));
    debug_assert_eq!(convolution.output_shape()[1..], [channels, height, width]);
    Some(TransposedGeometry {
        convolution,
        zero_tail: [zero_rows, zero_columns],
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
/// use burn::tensor::module::conv_transpose2d;
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

/// [`fft_conv_transpose2d_with_memory`] for `caller` (also `fft_conv_transpose1d`, on maps one
/// row high), in whose terms errors are given.
pub(crate) fn transpose(
    caller: Caller,
    [x, weight]: [Tensor<4>; 2],
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
    memory: BackwardMemory,
) -> Tensor<4> {
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
        zero_tail: [zero_rows, zero_columns],
    }) = geometry
        .filter(|_| x.dims()[0] > 0)
        .filter(|g| fftconv_kernels::check_budget(&g.convolution).is_ok())
    else {
        return conv_transpose2d(x, weight, bias, options);
    };
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let bias = bias.map(|bias| bias.cast(wide));
        let operands = [x.cast(wide), weight.cast(wide)];
        return transpose(caller, operands, bias, options, memory).cast(dtype);
    }
    let mut y = run_pass([x, weight], ConvPass::InputGrad, convolution, memory);
    if zero_rows + zero_columns > 0 {
        y = y.pad([(0, zero_rows), (0, zero_columns)], PadMode::Constant(0.0));
    }
    match bias {
        Some(bias) => {
            let channels = y.dims()[1];
            y + bias.reshape([1, channels as i64, 1, 1])
        }
        None => y,
    }
}

/// Whether `Auto` takes the frequency domain for this transposed convolution: as for the
/// convolution whose input gradient it is.
pub(crate) fn fft_pays_for(
    input: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvTransposeOptions<2>,
) -> bool {
    transposed_geometry(CALLER_2D, input, weight, options)
        .is_some_and(|g| fft_pays(&input.device(), &g.convolution))
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

impl FftConvTranspose2dConfig {
    /// The equivalent [`ConvTranspose2dConfig`].
    pub fn to_conv_transpose2d_config(&self) -> ConvTranspose2dConfig {
        ConvTranspose2dConfig::new(self.channels, self.kernel_size)
            .with_stride(self.stride)
            .with_dilation(self.dilation)
            .with_groups(self.groups)
            .with_padding(self.padding)
            .with_padding_out(self.padding_out)
            .with_bias(self.bias)
            .with_initializer(self.initializer.clone())
    }

    /// Initializes a new [`FftConvTranspose2d`] exactly as [`ConvTranspose2dConfig::init`]
    /// would, parameters included.
    pub fn init(&self, device: &Device) -> FftConvTranspose2d {
        FftConvTranspose2d {
            algorithm: self.algorithm,
            backward_memory: self.backward_memory,
            ..FftConvTranspose2d::from(self.to_conv_transpose2d_config().init(device))
        }
    }
}

impl From<ConvTranspose2dConfig> for FftConvTranspose2dConfig {
    fn from(config: ConvTranspose2dConfig) -> Self {
        Self::new(config.channels, config.kernel_size)
            .with_stride(config.stride)
            .with_dilation(config.dilation)
            .with_groups(config.groups)
            .with_padding(config.padding)
            .with_padding_out(config.padding_out)
            .with_bias(config.bias)
            .with_initializer(config.initializer)
    }
}

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
        let (weight, options) = (self.weight.val(), self.options());
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let use_fft = match self.algorithm {
            ConvAlgorithm::Fft => true,
            ConvAlgorithm::Direct => false,
            ConvAlgorithm::Auto => fft_pays_for(&input, &weight, &options),
        };
        if use_fft {
            fft_conv_transpose2d_with_memory(input, weight, bias, options, self.backward_memory)
        } else {
            conv_transpose2d(input, weight, bias, options)
        }
    }
}

//! `FftConv2d`: a drop-in replacement for `burn::nn::conv::Conv2d` that convolves in the
//! frequency domain.

use burn::config::Config;
use burn::module::{Module, ModuleDisplay, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use fftconv_kernels::ConvGeometry;

use crate::FftConv3d;
use crate::functional::{DirectConv, convolve};
use crate::ops::BackwardMemory;
use crate::tuning::tuned_takes_fft;

/// How an [`FftConv2d`] computes its convolution.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// The cheaper of the two for the geometry and the passes of each call (a training step,
    /// or the forward pass alone where autodiff tracks neither the input nor the weight): on
    /// Flex by [`prefers_fft_as`], the cost model calibrated there, against burn's convolution
    /// or, for transposed layers, its transposed convolution; on NdArray, whose direct
    /// convolution is far slower, always the FFT; on CubeCL devices (wgpu), the FFT for
    /// kernels of 25 taps (5x5, 3x3x3) or more (81 where whole images are transformed), as
    /// measured on an H100 (training steps; inference there is not measured apart).
    Auto,
    /// Always the frequency domain ([`crate::fft_conv2d`]).
    Fft,
    /// Always burn's direct convolution (`burn::tensor::module::conv2d`).
    Direct,
    /// The faster of the two as timed on the first call of each shape: the layer runs both
    /// on copies of its operands (the forward pass, and the gradients autodiff tracks), as
    /// cuDNN's benchmark mode does, then remembers the faster for that geometry, set of passes,
    /// device and float type for the rest of the process ([`crate::tuned_algorithm`] says
    /// which). That first call costs the two algorithms' time three times over; the others
    /// run at the faster's speed wherever the two differ by more than the machine's noise.
    /// A layer past the [`crate::SpectralBudget`] goes direct untimed.
    Tuned,
}

pub use fftconv_kernels::cost::{DirectOp, Passes, prefers_fft, prefers_fft_as, prefers_fft_for};

/// Whether `Auto` takes the frequency domain for `passes` of `geometry` on `device`, against
/// burn's `op` there.
///
/// - NdArray: always, its direct convolution being so slow that the FFT wins whatever the
///   FLOP model says. Training steps at batch 16, 64x64, 64 channels, one run per line
///   (`cargo bench --bench conv -- 'ndarray/train_step/n16_c64_f64_64x64_k(3|7)/'` and
///   `'ndarray/train_step/n16_c64_f64_64x64_k3_g64/'`): FFT 70.9x faster at kernel 3, 327x at
///   kernel 7, and 2.4x on the depthwise kernel-3 layer, where Flex's direct convolution wins.
/// - CubeCL devices: for kernels of 25 taps or more (5x5, 3x3x3) where the tile kernels run
///   (the kernels of the polyphase components fit a tile), 81 (9x9) or more where whole images
///   are transformed, within the spectral budget. Measured on an NVIDIA H100 over Vulkan,
///   training step, "same" padding, one run (`benches/gpu_check.sh`, see
///   `docs/performance.md`): N16 64->64, the FFT is 4.7x, 8.0x and 57x as fast as burn's
///   direct convolution at kernels 5, 7 and 15 on 64x64 and 2.9x, 8.3x, 31x and 80x at
///   kernels 3, 5, 7 and 15 on 128x128 (kernel 3 on 64x64, the first geometry timed, read a
///   tie and is left to direct); 3-D, N4 32->32 on 32^3, 3.3x, 8.2x and 20x at kernels 3, 5
///   and 7. The whole-image path was slower than direct up to kernel 7 and 5x faster at 15.
/// - Otherwise (Flex): by [`prefers_fft_as`], the cost model calibrated on Flex, the only
///   rule here that tells `passes` and `op` apart.
pub(crate) fn fft_pays(
    device: &Device,
    geometry: &ConvGeometry,
    passes: Passes,
    op: DirectOp,
) -> bool {
    match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "ndarray")]
        burn::backend::DispatchDevice::NdArray(_) => true,
        #[cfg(feature = "wgpu")]
        burn::backend::DispatchDevice::Cube(_) => {
            let taps: usize = geometry.axes().iter().map(|a| a.kernel()).product();
            let tiled = matches!(
                crate::layout::DeviceTiling::of(geometry),
                crate::layout::DeviceTiling::Tiles(_)
            );
            let least = if tiled { 25 } else { 81 };
            taps >= least && crate::functional::within_budget(device, geometry)
        }
        #[allow(unreachable_patterns)]
        _ => prefers_fft_as(geometry, passes, op),
    }
}

/// The algorithm `Auto` runs for `passes` of `geometry` against burn's `op` on `device`
/// ([`ConvAlgorithm::Fft`] or [`ConvAlgorithm::Direct`]): the rule of each device, as the
/// layers apply it on every call. A 1-D layer's geometry is that of its 2-D form
/// ([`crate::conv1d_as_conv2d`]), a transposed layer's that of the convolution whose input
/// gradient it computes.
pub fn auto_algorithm(
    geometry: &ConvGeometry,
    passes: Passes,
    op: DirectOp,
    device: &Device,
) -> ConvAlgorithm {
    if fft_pays(device, geometry, passes, op) {
        ConvAlgorithm::Fft
    } else {
        ConvAlgorithm::Direct
    }
}

/// The passes a call on `input` and `weight` makes: the forward pass, and the gradient of
/// each that autodiff tracks (none in inference).
pub(crate) fn passes_of<const D: usize>(input: &Tensor<D>, weight: &Tensor<D>) -> Passes {
    Passes {
        input_grad: input.is_tracked(),
        weight_grad: weight.is_tracked(),
    }
}

/// `Auto`'s choice for a convolution of an `x_shape` input by a `weight_shape` weight with
/// `options` on `device` (see [`fft_pays`]). An invalid geometry goes the FFT way, whose error
/// names the bad argument.
pub(crate) fn auto_takes_fft<const N: usize>(
    x_shape: &[usize],
    weight_shape: &[usize],
    options: &ConvOptions<N>,
    device: &Device,
    passes: Passes,
) -> bool {
    geometry_of(x_shape, weight_shape, options)
        .is_none_or(|geometry| fft_pays(device, &geometry, passes, DirectOp::Convolution))
}

/// The geometry of a convolution of an `x_shape` input by a `weight_shape` weight with
/// `options`, or `None` where they are invalid.
pub(crate) fn geometry_of<const N: usize>(
    x_shape: &[usize],
    weight_shape: &[usize],
    options: &ConvOptions<N>,
) -> Option<ConvGeometry> {
    ConvGeometry::new(
        x_shape,
        weight_shape,
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
    .ok()
}

/// For a layer that is burn's `$burn` (fields `$field`) plus `algorithm` and
/// `backward_memory`: `From<$burn>` (burn's parameters and options, `Auto`, spectra kept) and
/// the builders of those two.
macro_rules! impl_fft_layer {
    ($layer:ident from $burn:ident { $($field:ident),* }) => {
        impl From<$burn> for $layer {
            fn from(conv: $burn) -> Self {
                Self {
                    $($field: conv.$field,)*
                    algorithm: $crate::ConvAlgorithm::Auto,
                    backward_memory: $crate::BackwardMemory::KeepSpectra,
                }
            }
        }

        impl $layer {
            /// The same layer computed by `algorithm`.
            pub fn with_algorithm(mut self, algorithm: $crate::ConvAlgorithm) -> Self {
                self.algorithm = algorithm;
                self
            }

            /// The same layer keeping `memory` for the backward pass.
            pub fn with_backward_memory(mut self, memory: $crate::BackwardMemory) -> Self {
                self.backward_memory = memory;
                self
            }
        }
    };
}
pub(crate) use impl_fft_layer;

/// A convolution layer's forward pass by its `algorithm`: in the frequency domain (as the
/// public `function`, keeping `memory` for the backward pass), or by burn's direct
/// convolution; for `Auto`, whichever [`auto_takes_fft`] picks, for `Tuned` whichever
/// [`tuned_takes_fft`] measured.
pub(crate) fn layer_convolve<const D: usize, const N: usize>(
    function: &str,
    (algorithm, memory): (ConvAlgorithm, BackwardMemory),
    [input, weight]: [Tensor<D>; 2],
    bias: Option<Tensor<1>>,
    options: ConvOptions<N>,
) -> Tensor<D>
where
    ConvOptions<N>: DirectConv<D>,
{
    let run = |fft: bool, operands: [Tensor<D>; 2], bias: Option<Tensor<1>>| {
        if fft {
            convolve(function, operands, bias, options.clone(), memory)
        } else {
            let [input, weight] = operands;
            DirectConv::conv(input, weight, bias, options.clone())
        }
    };
    let use_fft = match algorithm {
        ConvAlgorithm::Fft => true,
        ConvAlgorithm::Direct => false,
        ConvAlgorithm::Auto => auto_takes_fft(
            &input.dims(),
            &weight.dims(),
            &options,
            &input.device(),
            passes_of(&input, &weight),
        ),
        ConvAlgorithm::Tuned => tuned_takes_fft(
            geometry_of(&input.dims(), &weight.dims(), &options),
            DirectOp::Convolution,
            [&input, &weight],
            bias.as_ref(),
            run,
        ),
    };
    run(use_fft, [input, weight], bias)
}

/// The two conversions between a layer config `$fft` and burn's `$burn`, whose fields it
/// shares: `$to` (burn's config) and `From<$burn>`. `$arg` are the arguments of both `new`s,
/// `$field` the fields both set with their `with_` builders; the `$fft`-only fields keep
/// their defaults.
macro_rules! config_conversions {
    (
        $fft:ident <-> $burn:ident, $to:ident,
        new($($arg:ident),*), with($($field:ident),*) $(, init $layer:ident)?
    ) => {
        impl $fft {
            #[doc = concat!("The equivalent [`", stringify!($burn), "`].")]
            pub fn $to(&self) -> $burn {
                let config = self.clone();
                let mut burn = $burn::new($(config.$arg),*);
                $(burn.$field = config.$field;)*
                burn
            }
        }

        impl From<$burn> for $fft {
            fn from(config: $burn) -> Self {
                let mut fft = Self::new($(config.$arg),*);
                $(fft.$field = config.$field;)*
                fft
            }
        }

        $(
            impl $fft {
                #[doc = concat!(
                    "Initializes a new [`", stringify!($layer), "`] exactly as [`",
                    stringify!($burn), "::init`] would, parameters included."
                )]
                pub fn init(&self, device: &burn::tensor::Device) -> $layer {
                    $layer::from(self.$to().init(device))
                        .with_algorithm(self.algorithm)
                        .with_backward_memory(self.backward_memory)
                }
            }
        )?
    };
}
pub(crate) use config_conversions;

/// Configuration of an [`FftConv2d`]: the fields, defaults and initializer of
/// [`Conv2dConfig`], plus the [`ConvAlgorithm`].
///
/// ```
/// use burn::nn::PaddingConfig2d;
/// use burn::tensor::{Device, Tensor};
/// use burn_fftconv::{ConvAlgorithm, FftConv2dConfig};
///
/// let device = Device::flex();
/// let conv = FftConv2dConfig::new([3, 16], [7, 7])
///     .with_padding(PaddingConfig2d::Same)
///     .with_algorithm(ConvAlgorithm::Fft)
///     .init(&device);
/// let y = conv.forward(Tensor::<4>::ones([1, 3, 32, 32], &device));
/// assert_eq!(y.dims(), [1, 16, 32, 32]);
/// ```
#[derive(Config, Debug)]
pub struct FftConv2dConfig {
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
    /// The padding configuration, `Same` with even kernels included (asymmetric padding).
    #[config(default = "PaddingConfig2d::Valid")]
    pub padding: PaddingConfig2d,
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `Conv2dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

config_conversions!(FftConv2dConfig <-> Conv2dConfig, to_conv2d_config, new(channels, kernel_size), with(stride, dilation, groups, padding, bias, initializer), init FftConv2d);

/// A 2-D convolution layer computed in the frequency domain: same parameters, record layout,
/// forward semantics and display as [`Conv2d`], so that weights saved from one load into the
/// other.
///
/// ```
/// use burn::nn::conv::Conv2dConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::FftConv2d;
///
/// let device = Device::flex();
/// let direct = Conv2dConfig::new([2, 4], [5, 5]).init(&device);
/// let x = Tensor::<4>::random([3, 2, 16, 16], Distribution::Default, &device);
/// let expected = direct.forward(x.clone());
/// // The same weights, computed with FFTs.
/// let fft = FftConv2d::from(direct);
/// assert!((fft.forward(x) - expected).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct FftConv2d {
    /// Tensor of shape `[channels_out, channels_in / groups, kernel_size_1, kernel_size_2]`.
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
    /// The padding configuration.
    #[module(skip)]
    pub padding: PaddingConfig2d,
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConv2d from Conv2d { weight, bias, stride, kernel_size, dilation, groups, padding });

/// burn's display of a convolution layer, for the layers with `Conv2d`'s fields: channels in
/// and out, stride, kernel size, dilation, groups, then padding, algorithm and backward
/// memory.
macro_rules! impl_conv_display {
    ($($layer:ident),*) => {$(
        impl burn::module::ModuleDisplay for $layer {
            fn custom_settings(&self) -> Option<burn::module::DisplaySettings> {
                burn::module::DisplaySettings::new()
                    .with_new_line_after_attribute(false)
                    .optional()
            }

            fn custom_content(
                &self,
                content: burn::module::Content,
            ) -> Option<burn::module::Content> {
                let [channels_out, group_channels_in, ..] = self.weight.dims();
                content
                    .add("ch_in", &format!("{:?}", group_channels_in * self.groups))
                    .add("ch_out", &format!("{channels_out:?}"))
                    .add("stride", &format!("{:?}", self.stride))
                    .add("kernel_size", &format!("{:?}", self.kernel_size))
                    .add("dilation", &format!("{:?}", self.dilation))
                    .add("groups", &self.groups)
                    .add_debug_attribute("padding", &self.padding)
                    .add_debug_attribute("algorithm", &self.algorithm)
                    .add_debug_attribute("backward_memory", &self.backward_memory)
                    .optional()
            }
        }
    )*};
}
impl_conv_display!(FftConv2d, FftConv3d);

/// `Same` padding as `burn::nn` computes it: output size `ceil(input / stride)`, the extra
/// row or column at the end. Like `Conv2d`, it ignores dilation.
pub(crate) fn same_padding(kernel: usize, stride: usize, input: usize) -> (usize, usize) {
    let output = input.div_ceil(stride);
    let total = ((output.max(1) - 1) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

impl FftConv2d {
    /// The convolution options for an input of `height x width`.
    pub fn options(&self, height: usize, width: usize) -> ConvOptions<2> {
        let padding = match self.padding {
            PaddingConfig2d::Valid => [(0, 0); 2],
            PaddingConfig2d::Same => [
                same_padding(self.kernel_size[0], self.stride[0], height),
                same_padding(self.kernel_size[1], self.stride[1], width),
            ],
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        };
        ConvOptions::new_with_padding(self.stride, padding, self.dilation, self.groups)
    }

    /// Applies the layer to `input` (`[batch, channels_in, height, width]`).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let [_, _, height, width] = input.dims();
        let options = self.options(height, width);
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let modes = (self.algorithm, self.backward_memory);
        layer_convolve(
            "fft_conv2d",
            modes,
            [input, self.weight.val()],
            bias,
            options,
        )
    }
}

/// A 2-D convolution layer, `Conv2d` or `FftConv2d`: lets a model be written once and built
/// with either.
pub trait Conv2dLayer: Module + ModuleDisplay {
    /// Applies the layer to `input` (`[batch, channels_in, height, width]`).
    fn convolve(&self, input: Tensor<4>) -> Tensor<4>;
    /// The weight, `[channels_out, channels_in / groups, kernel_height, kernel_width]`.
    fn weight(&self) -> &Param<Tensor<4>>;
    /// The bias, `[channels_out]`, if the layer has one.
    fn bias(&self) -> Option<&Param<Tensor<1>>>;
}

/// Implements [`Conv2dLayer`] for a layer with `forward`, `weight` and `bias` like `Conv2d`'s.
macro_rules! impl_conv2d_layer {
    ($($layer:ty),*) => {$(
        impl Conv2dLayer for $layer {
            fn convolve(&self, input: Tensor<4>) -> Tensor<4> {
                self.forward(input)
            }
            fn weight(&self) -> &Param<Tensor<4>> {
                &self.weight
            }
            fn bias(&self) -> Option<&Param<Tensor<1>>> {
                self.bias.as_ref()
            }
        }
    )*};
}
impl_conv2d_layer!(Conv2d, FftConv2d);

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Passes = Passes::TRAINING_STEP;

    /// A batch-16, 64 -> 64 channel layer on a `size` x `size` image with "same" padding.
    fn layer(size: usize, kernel: usize) -> ConvGeometry {
        let pad = (kernel / 2, kernel - 1 - kernel / 2);
        ConvGeometry::new(
            &[16, 64, size, size],
            &[64, 64, kernel, kernel],
            [1, 1],
            [pad, pad],
            [1, 1],
            1,
        )
        .expect("a valid geometry")
    }

    /// A `batch`, `channels` -> `channels` 3-D layer on a 32^3 volume with "same" padding.
    fn volume(batch: usize, channels: usize, kernel: usize) -> ConvGeometry {
        let pad = (kernel / 2, kernel / 2);
        ConvGeometry::new(
            &[batch, channels, 32, 32, 32],
            &[channels, channels, kernel, kernel, kernel],
            [1; 3],
            [pad; 3],
            [1; 3],
            1,
        )
        .expect("a valid geometry")
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn auto_on_a_cubecl_device_takes_the_fft_from_5x5_and_3x3x3_kernels() {
        let wgpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        for size in [64, 128] {
            for (kernel, fft) in [(3, false), (5, true), (7, true), (15, true)] {
                assert_eq!(
                    fft_pays(&wgpu, &layer(size, kernel), STEP, DirectOp::Convolution),
                    fft,
                    "{size}x{size} k{kernel}"
                );
            }
        }
        // The 3-D layers of `benches/gpu_check.sh` (batch 4, 32 -> 32 channels, 32^3), where
        // the FFT step was 3.3x as fast as burn's `conv3d` already at kernel 3.
        for kernel in [3, 5, 7] {
            let volume = volume(4, 32, kernel);
            assert!(
                fft_pays(&wgpu, &volume, STEP, DirectOp::Convolution),
                "32^3 k{kernel}"
            );
        }
    }

    /// The 3-D layers of `cargo bench --bench conv -- 'flex/conv3d_train_step/'` (batch 2,
    /// 16 -> 16 channels, 32^3, "same"): the FFT step was 2.80x, 9.99x and 18.6x as fast as
    /// burn's `conv3d` at kernels 3, 5 and 7 (`benches/REPORT.md`), and the model, calibrated
    /// on 2-D layers, picks it at each.
    #[test]
    fn auto_on_flex_takes_the_fft_for_the_benchmarked_3d_layers() {
        for kernel in [3, 5, 7] {
            assert!(
                fft_pays(
                    &Device::flex(),
                    &volume(2, 16, kernel),
                    STEP,
                    DirectOp::Convolution
                ),
                "k{kernel}"
            );
        }
    }

    #[test]
    fn auto_on_flex_follows_the_cost_model_and_on_ndarray_takes_the_fft() {
        #[allow(deprecated)]
        let ndarray = Device::ndarray();
        for kernel in [3, 7, 15] {
            let geometry = layer(64, kernel);
            for (passes, op) in [
                (STEP, DirectOp::Convolution),
                (Passes::FORWARD, DirectOp::Transposed),
            ] {
                assert_eq!(
                    fft_pays(&Device::flex(), &geometry, passes, op),
                    prefers_fft_as(&geometry, passes, op)
                );
                assert!(fft_pays(&ndarray, &geometry, passes, op));
            }
        }
    }
}

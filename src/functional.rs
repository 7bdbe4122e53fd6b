//! The public functions, with the signatures and semantics of `burn::tensor::module::conv2d`
//! and its gradient functions.

use burn::backend::ops::ModuleOps;
use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::module::{conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor};
use fftconv_kernels::{Conv2dGeometry, SpectrumKind};

use crate::ops::{BackwardMemory, ConvPass, FftConvBackend};

/// The burn options of the convolution `geometry` describes: the inverse of the validation
/// that turns options and shapes into a [`Conv2dGeometry`].
pub fn conv_options(geometry: &Conv2dGeometry) -> ConvOptions<2> {
    let [h, w] = geometry.axes();
    ConvOptions::new_with_padding(
        [h.stride(), w.stride()],
        [(h.pad_begin(), h.pad_end()), (w.pad_begin(), w.pad_end())],
        [h.dilation(), w.dilation()],
        geometry.groups(),
    )
}

/// Validates the arguments of a convolution and panics with a message naming the offending
/// argument and value, as burn's own `conv2d` does.
fn geometry(
    function: &str,
    x: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvOptions<2>,
) -> Conv2dGeometry {
    let device = x.device();
    check_device(function, &device);
    if weight.device() != device {
        panic!(
            "{function}: `x` is on {device:?} but `weight` is on {:?}",
            weight.device()
        );
    }
    if x.dtype() != weight.dtype() {
        panic!(
            "{function}: `x` has dtype {:?} but `weight` has dtype {:?}",
            x.dtype(),
            weight.dtype()
        );
    }
    // An empty batch is valid (burn returns an empty output); the rest is checked as for one
    // image.
    let [batch, channels, height, width] = x.dims();
    Conv2dGeometry::new(
        &[batch.max(1), channels, height, width],
        &weight.dims(),
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
    .unwrap_or_else(|error| panic!("{function}: {error}"))
}

/// Whether a call goes to burn's direct convolution instead: an empty batch (nothing to
/// transform; burn's result and autodiff graph), or a geometry whose transforms or spectra
/// exceed the [`SpectralBudget`](fftconv_kernels::SpectralBudget).
fn computed_directly(x: &Tensor<4>, geometry: &Conv2dGeometry) -> bool {
    x.dims()[0] == 0 || fftconv_kernels::check_budget(geometry).is_err()
}

/// The dtype the spectral kernels compute a `dtype` tensor in: half precision (f16, bf16) in
/// f32, whose FFTs and products keep a half-precision result accurate; `None` for dtypes
/// computed as they are.
pub(crate) fn widened(dtype: DType) -> Option<DType> {
    matches!(dtype, DType::F16 | DType::BF16).then_some(DType::F32)
}

/// The device of a backend this crate runs on, by the name a command line gives it: `flex`,
/// `ndarray` or (with the `wgpu` feature) `wgpu`, the default wgpu device, or `wgpu:N`, the
/// discrete GPU of index `N`.
#[allow(deprecated)]
pub fn device_named(name: &str) -> Result<Device, String> {
    match name.split_once(':') {
        None if name == "flex" => Ok(Device::flex()),
        None if name == "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        None if name == "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        Some(("wgpu", index)) => index
            .parse()
            .map(|index| Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(index)))
            .map_err(|_| format!("{name}: the GPU index must be a number, got {index:?}")),
        #[cfg(not(feature = "wgpu"))]
        _ if name == "wgpu" || name.starts_with("wgpu:") => Err(format!(
            "{name}: the wgpu device needs burn-fftconv's `wgpu` feature \
             (`--features wgpu` on this crate's and the MNIST example's command lines)"
        )),
        _ => Err(format!(
            "the device must be flex, ndarray, wgpu or wgpu:N, got {name}"
        )),
    }
}

/// Panics, naming `function` and the device, on a device without an implementation of this
/// crate's extensions (burn would panic deeper, without saying which call).
pub(crate) fn check_device(function: &str, device: &Device) {
    match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => {}
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => {}
        #[cfg(feature = "wgpu")]
        DispatchDevice::Cube(_) => {}
        #[allow(unreachable_patterns)]
        other => panic!(
            "{function}: burn-fftconv has no implementation for the device {other:?}; it runs \
             on Flex, NdArray and, with its `wgpu` feature, burn's CubeCL devices"
        ),
    }
}

/// `pass` on `lhs` and `rhs` (in the order of [`ConvPass::operands`]) through the backend
/// extension: differentiable under autodiff, each gradient another pass.
pub(crate) fn run_pass(
    [lhs, rhs]: [Tensor<4>; 2],
    pass: ConvPass,
    geometry: Conv2dGeometry,
    memory: BackwardMemory,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FftConvBackend>::fft_conv2d_pass(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
        pass,
        geometry,
        memory,
    ))
}

pub(crate) fn check_like_x<const D: usize>(
    function: &str,
    name: &str,
    tensor: &Tensor<D>,
    x: &Tensor<4>,
) {
    if tensor.device() != x.device() {
        panic!(
            "{function}: `x` is on {:?} but `{name}` is on {:?}",
            x.device(),
            tensor.device()
        );
    }
    if tensor.dtype() != x.dtype() {
        panic!(
            "{function}: `x` has dtype {:?} but `{name}` has dtype {:?}",
            x.dtype(),
            tensor.dtype()
        );
    }
}

fn check_output_grad(
    function: &str,
    output_grad: &Tensor<4>,
    x: &Tensor<4>,
    geometry: &Conv2dGeometry,
) {
    check_like_x(function, "output_grad", output_grad, x);
    let mut output_shape = geometry.output_shape();
    // The geometry of an empty batch is checked for one image.
    output_shape[0] = x.dims()[0];
    if output_grad.dims() != output_shape {
        panic!(
            "{function}: `output_grad` has shape {:?} but the convolution's output has shape \
             {output_shape:?}",
            output_grad.dims(),
        );
    }
}

/// 2-D convolution (cross-correlation, NCHW) computed in the frequency domain: the same
/// arguments, result and panics on bad input as [`burn::tensor::module::conv2d`].
///
/// `x` is `[batch, channels, height, width]`, `weight` is
/// `[out_channels, channels / groups, kernel_height, kernel_width]`, `bias` is
/// `[out_channels]`. On an autodiff device the gradients are computed in the frequency domain
/// too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv2d;
/// use burn::tensor::ops::ConvOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv2d;
///
/// let device = Device::flex();
/// let x = Tensor::<4>::random([2, 4, 20, 17], Distribution::Default, &device);
/// let w = Tensor::<4>::random([6, 2, 5, 3], Distribution::Default, &device);
/// // Stride 2 and 1, padding 2 and 1, dilation 1 and 2, two groups.
/// let options = ConvOptions::new([2, 1], [2, 1], [1, 2], 2);
/// let y = fft_conv2d(x.clone(), w.clone(), None, options.clone());
/// let direct = conv2d(x, w, None, options);
/// assert_eq!(y.dims(), [2, 6, 10, 15]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn fft_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<2>>,
) -> Tensor<4> {
    fft_conv2d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv2d`], choosing what its backward pass keeps: spectra (no repeated transform) or
/// the input and weight (less memory, their transforms run again in the backward pass).
pub fn fft_conv2d_with_memory(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<2>>,
    memory: BackwardMemory,
) -> Tensor<4> {
    convolve("fft_conv2d", [x, weight], bias, options.into(), memory)
}

/// [`fft_conv2d_with_memory`] for the public `function` (`fft_conv2d`, or `fft_conv1d` on maps
/// one row high), whose name errors carry.
pub(crate) fn convolve(
    function: &str,
    [x, weight]: [Tensor<4>; 2],
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    memory: BackwardMemory,
) -> Tensor<4> {
    let geometry = geometry(function, &x, &weight, &options);
    if let Some(bias) = &bias {
        check_like_x(function, "bias", bias, &x);
        geometry
            .check_bias(bias.dims()[0])
            .unwrap_or_else(|error| panic!("{function}: {error}"));
    }
    if computed_directly(&x, &geometry) {
        return conv2d(x, weight, bias, options);
    }
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let bias = bias.map(|bias| bias.cast(wide));
        let operands = [x.cast(wide), weight.cast(wide)];
        return convolve(function, operands, bias, options, memory).cast(dtype);
    }
    let y = run_pass([x, weight], ConvPass::Forward, geometry, memory);
    match bias {
        Some(bias) => y + bias.reshape([1, geometry.out_channels() as i64, 1, 1]),
        None => y,
    }
}

/// Gradient of a convolution with respect to its input, from the output gradient, computed
/// through the input-gradient pass. Takes the arguments of
/// [`burn::tensor::module::conv2d_weight_backward`]; only the shape of `x` is used.
pub fn fft_conv2d_x_backward(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let direct: DirectGradient = direct_conv2d_x_backward;
    let pass = (ConvPass::InputGrad, "fft_conv2d_x_backward", direct);
    gradient(pass, x, weight, output_grad, options)
}

/// Gradient of a convolution with respect to its weight, from the output gradient, computed
/// through the weight-gradient pass. Mirrors
/// [`burn::tensor::module::conv2d_weight_backward`]: only the shape of `weight` is used.
pub fn fft_conv2d_weight_backward(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let direct: DirectGradient = conv2d_weight_backward;
    let pass = (ConvPass::WeightGrad, "fft_conv2d_weight_backward", direct);
    gradient(pass, x, weight, output_grad, options)
}

/// A gradient function: its pass, its public name, and burn's direct gradient with the same
/// arguments.
type GradientFunction = (ConvPass, &'static str, DirectGradient);

/// burn's gradient functions of `conv2d`: `(x, weight, output_grad, options)`.
type DirectGradient = fn(Tensor<4>, Tensor<4>, Tensor<4>, ConvOptions<2>) -> Tensor<4>;

/// The input gradient or the weight gradient, through the spectral `pass`.
fn gradient(
    (pass, function, direct): GradientFunction,
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let geometry = geometry(function, &x, &weight, &options);
    check_output_grad(function, &output_grad, &x, &geometry);
    if computed_directly(&x, &geometry) {
        return direct(x, weight, output_grad, options);
    }
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let [x, weight, output_grad] = [x, weight, output_grad].map(|t| t.cast(wide));
        let function = (pass, function, direct);
        return gradient(function, x, weight, output_grad, options).cast(dtype);
    }
    // The operand besides `output_grad`: the weight for the input gradient, `x` for the
    // weight gradient.
    let operand = if pass.operands()[1] == SpectrumKind::Weight {
        weight
    } else {
        x
    };
    run_pass(
        [output_grad, operand],
        pass,
        geometry,
        BackwardMemory::KeepSpectra,
    )
}

/// burn's own (direct) input gradient of `conv2d`, which burn's tensor API does not expose
/// as it does [`conv2d_weight_backward`]: the baseline the FFT input gradient is measured
/// against, and what an empty batch gets.
pub fn direct_conv2d_x_backward(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv2d_x_backward(
        x.into_dispatch(),
        weight.into_dispatch(),
        output_grad.into_dispatch(),
        options,
    ))
}

/// Gradient of a convolution with respect to its bias: the output gradient summed over batch
/// and space.
pub fn fft_conv2d_bias_backward(output_grad: Tensor<4>) -> Tensor<1> {
    let [_, out_channels, _, _] = output_grad.dims();
    output_grad
        .sum_dim(0)
        .sum_dim(2)
        .sum_dim(3)
        .reshape([out_channels as i64])
}

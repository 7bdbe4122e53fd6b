//! The public functions, with the signatures and semantics of `burn::tensor::module::conv2d`
//! and `conv3d` and their gradient functions, written once over the rank.

use burn::backend::ops::ModuleOps;
use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::module::{conv2d, conv2d_weight_backward, conv3d};
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{DType, Device, Tensor};
use fftconv_kernels::{ConvGeometry, SpectrumKind};

use crate::ops::{BackwardMemory, ConvPass, FftConvBackend};

/// The burn options of the convolution `geometry` describes: the inverse of the validation
/// that turns options and shapes into a [`ConvGeometry`]. `N` must be the geometry's rank.
pub fn conv_options<const N: usize>(geometry: &ConvGeometry) -> ConvOptions<N> {
    let axes: &[_; N] = geometry.axes().try_into().unwrap_or_else(|_| {
        panic!(
            "conv_options::<{N}> of a geometry of rank {}",
            geometry.rank()
        )
    });
    ConvOptions::new_with_padding(
        axes.map(|a| a.stride()),
        axes.map(|a| (a.pad_begin(), a.pad_end())),
        axes.map(|a| a.dilation()),
        geometry.groups(),
    )
}

/// burn's direct convolution and its gradients for the tensor rank `D` of options of
/// `ConvOptions<N>`: what the FFT functions fall back to, and their reference.
pub(crate) trait DirectConv<const D: usize>: Clone {
    /// burn's `conv2d` or `conv3d` (asymmetric padding included).
    fn conv(x: Tensor<D>, weight: Tensor<D>, bias: Option<Tensor<1>>, options: Self) -> Tensor<D>;
    /// burn's input gradient of the convolution.
    fn x_backward(
        x: Tensor<D>,
        weight: Tensor<D>,
        output_grad: Tensor<D>,
        options: Self,
    ) -> Tensor<D>;
    /// burn's weight gradient of the convolution.
    fn weight_backward(
        x: Tensor<D>,
        weight: Tensor<D>,
        output_grad: Tensor<D>,
        options: Self,
    ) -> Tensor<D>;
}

impl DirectConv<4> for ConvOptions<2> {
    fn conv(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: Self) -> Tensor<4> {
        conv2d(x, weight, bias, options)
    }

    fn x_backward(
        x: Tensor<4>,
        weight: Tensor<4>,
        output_grad: Tensor<4>,
        options: Self,
    ) -> Tensor<4> {
        direct_conv2d_x_backward(x, weight, output_grad, options)
    }

    fn weight_backward(
        x: Tensor<4>,
        weight: Tensor<4>,
        output_grad: Tensor<4>,
        options: Self,
    ) -> Tensor<4> {
        conv2d_weight_backward(x, weight, output_grad, options)
    }
}

impl DirectConv<5> for ConvOptions<3> {
    fn conv(x: Tensor<5>, weight: Tensor<5>, bias: Option<Tensor<1>>, options: Self) -> Tensor<5> {
        let (x, options) = symmetric(x, options);
        conv3d(x, weight, bias, options)
    }

    fn x_backward(
        x: Tensor<5>,
        weight: Tensor<5>,
        output_grad: Tensor<5>,
        options: Self,
    ) -> Tensor<5> {
        let dims = x.dims();
        let (padded, symmetric_options) = symmetric(x, options.clone());
        let dx = Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv3d_x_backward(
            padded.into_dispatch(),
            weight.into_dispatch(),
            output_grad.into_dispatch(),
            symmetric_options,
        ));
        // The gradient of the explicit padding is the crop.
        let start = options
            .padding
            .map(|(begin, end)| if begin == end { 0 } else { begin });
        dx.slice([
            0..dims[0],
            0..dims[1],
            start[0]..start[0] + dims[2],
            start[1]..start[1] + dims[3],
            start[2]..start[2] + dims[4],
        ])
    }

    fn weight_backward(
        x: Tensor<5>,
        weight: Tensor<5>,
        output_grad: Tensor<5>,
        options: Self,
    ) -> Tensor<5> {
        let (x, options) = symmetric(x, options);
        Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv3d_weight_backward(
            x.into_dispatch(),
            weight.into_dispatch(),
            output_grad.into_dispatch(),
            options,
        ))
    }
}

/// `x` and `options` as burn's `conv3d` takes them: it refuses asymmetric padding, so an
/// axis padded unevenly is padded explicitly first.
fn symmetric(x: Tensor<5>, mut options: ConvOptions<3>) -> (Tensor<5>, ConvOptions<3>) {
    if !options.is_asymmetric() {
        return (x, options);
    }
    let explicit = options
        .padding
        .map(|(begin, end)| if begin == end { (0, 0) } else { (begin, end) });
    for (padding, explicit) in options.padding.iter_mut().zip(explicit) {
        if explicit != (0, 0) {
            *padding = (0, 0);
        }
    }
    let [(front, back), (top, bottom), (left, right)] = explicit;
    let pads = [(0, 0), (0, 0), (front, back), (top, bottom), (left, right)];
    (x.pad(pads, PadMode::Constant(0.0)), options)
}

/// Validates the arguments of a convolution and panics with a message naming the offending
/// argument and value, as burn's own `conv2d` does.
fn geometry<const D: usize, const N: usize>(
    function: &str,
    x: &Tensor<D>,
    weight: &Tensor<D>,
    options: &ConvOptions<N>,
) -> ConvGeometry {
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
    let mut x_shape = x.dims();
    x_shape[0] = x_shape[0].max(1);
    ConvGeometry::new(
        &x_shape,
        &weight.dims(),
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
    .unwrap_or_else(|error| panic!("{function}: {error}"))
}

/// Whether a call goes to burn's direct convolution instead: an empty batch (nothing to
/// transform; burn's result and autodiff graph), or a geometry the spectral path cannot take
/// in `x`'s dtype on its device ([`spectral_path_runs`]).
fn computed_directly<const D: usize>(x: &Tensor<D>, geometry: &ConvGeometry) -> bool {
    x.dims()[0] == 0 || !spectral_path_runs(&x.device(), x.dtype(), geometry)
}

/// Whether the spectral path computes `geometry` in `dtype` on `device`: within the
/// [`SpectralBudget`](fftconv_kernels::SpectralBudget) ([`within_budget`]), and not through
/// FFTs that cannot be right there ([`device_fft_fails`]).
pub(crate) fn spectral_path_runs(device: &Device, dtype: DType, geometry: &ConvGeometry) -> bool {
    within_budget(device, geometry) && !device_fft_fails(device, dtype, geometry)
}

/// Why CubeCL devices have no f64 FFTs but the tile kernels': cubek-fft, which burn-signal's
/// FFTs run on, computes its turns with sine and cosine, which SPIR-V (so Vulkan) defines for
/// 16- and 32-bit floats only; in f64 lavapipe returned garbage.
#[cfg(feature = "wgpu")]
pub(crate) const DEVICE_F64_FFT: &str = "f64 FFTs on CubeCL devices are not supported: \
    cubek-fft computes their turns with sine and cosine, which Vulkan defines for 32-bit floats \
    only, and returns wrong values; use f32 on the device, or f64 on Flex or NdArray";

/// Whether `dtype` on `device` has no right FFTs but the tile kernels' (which compute f64
/// turns from series): f64 on a CubeCL device, where cubek-fft's turns are wrong
/// ([`DEVICE_F64_FFT`]).
#[cfg(feature = "wgpu")]
pub(crate) fn tile_ffts_only(device: &Device, dtype: DType) -> bool {
    dtype == DType::F64
        && matches!(
            device.clone().without_autodiff().as_dispatch(),
            DispatchDevice::Cube(_)
        )
}

/// Whether the FFT path would compute `geometry` in `dtype` on `device` through FFTs that
/// cannot be right: where only the tile kernels' are ([`tile_ffts_only`]) and the kernel is
/// too wide for a tile, so whole images would go through cubek-fft. Burn's direct convolution
/// computes those calls.
#[cfg_attr(not(feature = "wgpu"), allow(unused_variables))]
fn device_fft_fails(device: &Device, dtype: DType, geometry: &ConvGeometry) -> bool {
    #[cfg(feature = "wgpu")]
    if tile_ffts_only(device, dtype) {
        return matches!(
            crate::layout::DeviceTiling::of(geometry),
            crate::layout::DeviceTiling::Whole(_)
        );
    }
    false
}

/// Whether the transforms and spectra of `geometry` fit the process's
/// [`SpectralBudget`](fftconv_kernels::SpectralBudget) on `device`: those of the host kernels'
/// plan (checked in wide integers, so absurd geometries stop there), and on CubeCL devices
/// also those of the device tiling, whose spectra differ.
pub(crate) fn within_budget(device: &Device, geometry: &ConvGeometry) -> bool {
    if fftconv_kernels::check_budget(geometry).is_err() {
        return false;
    }
    match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "wgpu")]
        DispatchDevice::Cube(_) => crate::layout::DeviceTiling::of(geometry)
            .fits(geometry, &fftconv_kernels::SpectralBudget::current()),
        #[allow(unreachable_patterns)]
        _ => true,
    }
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
pub(crate) fn run_pass<const D: usize>(
    [lhs, rhs]: [Tensor<D>; 2],
    pass: ConvPass,
    geometry: ConvGeometry,
    memory: BackwardMemory,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FftConvBackend>::fft_conv_pass(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
        pass,
        geometry,
        memory,
    ))
}

pub(crate) fn check_like_x<const D: usize, const X: usize>(
    function: &str,
    name: &str,
    tensor: &Tensor<D>,
    x: &Tensor<X>,
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

fn check_output_grad<const D: usize>(
    function: &str,
    output_grad: &Tensor<D>,
    x: &Tensor<D>,
    geometry: &ConvGeometry,
) {
    check_like_x(function, "output_grad", output_grad, x);
    let mut output_shape = geometry.output_shape();
    // The geometry of an empty batch is checked for one image.
    output_shape[0] = x.dims()[0];
    if output_grad.dims()[..] != output_shape[..] {
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

/// [`fft_conv2d_with_memory`] for the public `function` (`fft_conv2d`, `fft_conv3d`, or
/// `fft_conv1d` on maps one row high), whose name errors carry.
pub(crate) fn convolve<const D: usize, const N: usize>(
    function: &str,
    [x, weight]: [Tensor<D>; 2],
    bias: Option<Tensor<1>>,
    options: ConvOptions<N>,
    memory: BackwardMemory,
) -> Tensor<D>
where
    ConvOptions<N>: DirectConv<D>,
{
    let geometry = geometry(function, &x, &weight, &options);
    if let Some(bias) = &bias {
        check_like_x(function, "bias", bias, &x);
        geometry
            .check_bias(bias.dims()[0])
            .unwrap_or_else(|error| panic!("{function}: {error}"));
    }
    if computed_directly(&x, &geometry) {
        return DirectConv::conv(x, weight, bias, options);
    }
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let bias = bias.map(|bias| bias.cast(wide));
        let operands = [x.cast(wide), weight.cast(wide)];
        return convolve(function, operands, bias, options, memory).cast(dtype);
    }
    let y = run_pass([x, weight], ConvPass::Forward, geometry, memory);
    match bias {
        Some(bias) => {
            let mut per_channel = [1; D];
            per_channel[1] = geometry.out_channels() as i64;
            y + bias.reshape(per_channel)
        }
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
    let pass = (ConvPass::InputGrad, "fft_conv2d_x_backward");
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
    let pass = (ConvPass::WeightGrad, "fft_conv2d_weight_backward");
    gradient(pass, x, weight, output_grad, options)
}

/// A gradient function: its pass and its public name.
type GradientFunction = (ConvPass, &'static str);

/// The input gradient or the weight gradient, through the spectral `pass`; burn's direct
/// gradient where the call is [`computed_directly`].
fn gradient<const D: usize, const N: usize>(
    (pass, function): GradientFunction,
    x: Tensor<D>,
    weight: Tensor<D>,
    output_grad: Tensor<D>,
    options: ConvOptions<N>,
) -> Tensor<D>
where
    ConvOptions<N>: DirectConv<D>,
{
    let geometry = geometry(function, &x, &weight, &options);
    check_output_grad(function, &output_grad, &x, &geometry);
    if computed_directly(&x, &geometry) {
        return match pass {
            ConvPass::InputGrad => DirectConv::x_backward(x, weight, output_grad, options),
            _ => DirectConv::weight_backward(x, weight, output_grad, options),
        };
    }
    if let Some(wide) = widened(x.dtype()) {
        let dtype = x.dtype();
        let [x, weight, output_grad] = [x, weight, output_grad].map(|t| t.cast(wide));
        return gradient((pass, function), x, weight, output_grad, options).cast(dtype);
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
/// as it does `conv2d_weight_backward`: the baseline the FFT input gradient is measured
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

/// 3-D convolution (cross-correlation, NCDHW) computed in the frequency domain: the same
/// arguments and result as [`burn::tensor::module::conv3d`], and its panics on bad input,
/// with asymmetric padding (`ConvOptions::new_with_padding`) supported where `conv3d`
/// refuses it.
///
/// `x` is `[batch, channels, depth, height, width]`, `weight` is
/// `[out_channels, channels / groups, kernel_depth, kernel_height, kernel_width]`, `bias` is
/// `[out_channels]`. The direct cost grows with the kernel's volume, the spectral one hardly:
/// from kernel 3 on, training steps are several times faster than burn's `conv3d` on the CPU
/// (see the README). On an autodiff device the gradients are computed in the frequency
/// domain too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv3d;
/// use burn::tensor::ops::ConvOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv3d;
///
/// let device = Device::flex();
/// let x = Tensor::<5>::random([2, 4, 9, 10, 11], Distribution::Default, &device);
/// let w = Tensor::<5>::random([6, 2, 3, 5, 3], Distribution::Default, &device);
/// // Stride 1, 2 and 1, padding 1, 2 and 1, dilation 2, 1 and 1, two groups.
/// let options = ConvOptions::new([1, 2, 1], [1, 2, 1], [2, 1, 1], 2);
/// let y = fft_conv3d(x.clone(), w.clone(), None, options.clone());
/// let direct = conv3d(x, w, None, options);
/// assert_eq!(y.dims(), [2, 6, 7, 5, 11]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-3);
/// ```
pub fn fft_conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<3>>,
) -> Tensor<5> {
    fft_conv3d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv3d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv3d_with_memory(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<3>>,
    memory: BackwardMemory,
) -> Tensor<5> {
    convolve("fft_conv3d", [x, weight], bias, options.into(), memory)
}

/// Gradient of a 3-D convolution with respect to its input, through the input-gradient pass;
/// the arguments of burn's `ModuleOps::conv3d_x_backward`, of which only the shape of `x` is
/// used.
pub fn fft_conv3d_x_backward(
    x: Tensor<5>,
    weight: Tensor<5>,
    output_grad: Tensor<5>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    let pass = (ConvPass::InputGrad, "fft_conv3d_x_backward");
    gradient(pass, x, weight, output_grad, options)
}

/// Gradient of a 3-D convolution with respect to its weight, through the weight-gradient
/// pass; mirrors burn's `ModuleOps::conv3d_weight_backward`: only the shape of `weight` is
/// used.
pub fn fft_conv3d_weight_backward(
    x: Tensor<5>,
    weight: Tensor<5>,
    output_grad: Tensor<5>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    let pass = (ConvPass::WeightGrad, "fft_conv3d_weight_backward");
    gradient(pass, x, weight, output_grad, options)
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

//! Differentiable 2-D FFTs over the last two dimensions, with hand-written adjoints: Flex and
//! NdArray run this crate's FFT kernels; the CubeCL devices (wgpu) run burn-signal's FFTs on
//! the device along power-of-two axes and Bluestein's algorithm along the others (any size,
//! `O(n log n)`).
//!
//! Complex tensors are (real, imaginary) pairs. Sizes follow numpy's `s`: the input is
//! cropped or zero-padded to `s` before a forward transform; an inverse real transform
//! crops or pads its half spectrum to `[s[0], s[1] / 2 + 1]` and returns `s[1]` columns.
//!
//! # Gradients of real FFTs
//!
//! The gradients are adjoints, computed with FFTs, and tested against dense matrices
//! (`tests/fft2.rs`). The complex DFT's adjoint is the DFT of opposite sign. The real ones
//! need care, because a half spectrum stores each interior column once for two bins of the
//! full spectrum:
//!
//! - `rfft2`: the gradient of `x` is the unnormalized inverse real DFT of the output
//!   gradient after **halving** its interior columns (all but DC and, for even widths,
//!   Nyquist).
//! - `irfft2`: the gradient of the half spectrum is the real DFT of the output gradient,
//!   **doubled** on the interior columns. The imaginary parts of bins that are their own
//!   conjugate (DC or Nyquist along both axes) do not reach the output; their gradient is
//!   exactly zero. Plain inverse transforms without this weighting (the "naive" rule) are
//!   wrong by a factor of two on most bins.
//!
//! Normalization multiplies the map and its adjoint by the same factor.
//!
//! `cargo run --release --example spectral_loss` fits an image to a target power spectrum
//! with these gradients.

use burn::backend::Dispatch;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Tensor;

use crate::functional::check_device;
use crate::ops::Fft2Backend;

/// Scaling of a forward/inverse transform pair, as in numpy and PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FftNorm {
    /// Forward unscaled, inverse scaled by `1 / n`.
    #[default]
    Backward,
    /// Both scaled by `1 / sqrt(n)`: the transforms are unitary.
    Ortho,
    /// Forward scaled by `1 / n`, inverse unscaled.
    Forward,
}

impl FftNorm {
    /// The factor of a transform of `n` points, forward or inverse.
    fn factor(self, n: usize, inverse: bool) -> f64 {
        match (self, inverse) {
            (Self::Backward, false) | (Self::Forward, true) => 1.0,
            (Self::Ortho, _) => 1.0 / (n as f64).sqrt(),
            (Self::Backward, true) | (Self::Forward, false) => 1.0 / n as f64,
        }
    }
}

fn check_inputs<const D: usize>(function: &str, tensors: &[&Tensor<D>], s: Option<[usize; 2]>) {
    let device = tensors[0].device();
    check_device(function, &device);
    #[cfg(feature = "wgpu")]
    if crate::functional::tile_ffts_only(&device, tensors[0].dtype()) {
        panic!("{function}: {}", crate::functional::DEVICE_F64_FFT);
    }
    assert!(
        D >= 2,
        "{function}: needs at least two dimensions, got rank {D}"
    );
    if let [re, im] = tensors
        && re.dims() != im.dims()
    {
        panic!(
            "{function}: real part has shape {:?} but imaginary part has shape {:?}",
            re.dims(),
            im.dims()
        );
    }
    if let Some(size) = s
        && size.contains(&0)
    {
        panic!("{function}: `s` must be positive, got {size:?}");
    }
}

/// Panics unless the transform `size` is positive: a DFT of no points has no defined
/// normalization (numpy and PyTorch refuse it too).
fn check_size(function: &str, size: [usize; 2]) {
    if size.contains(&0) {
        panic!(
            "{function}: cannot transform an empty map: the transform size is {size:?} (the \
             last two dimensions, or `s`)"
        );
    }
}

/// `tensor` cropped or zero-padded at the end of its last two dimensions to `size`.
fn resize<const D: usize>(mut tensor: Tensor<D>, size: [usize; 2]) -> Tensor<D> {
    for (axis, target) in [(D - 2, size[0]), (D - 1, size[1])] {
        let current = tensor.dims()[axis];
        if current > target {
            tensor = tensor.narrow(axis, 0, target);
        } else if current < target {
            let mut pad_shape = tensor.dims();
            pad_shape[axis] = target - current;
            let zeros = Tensor::zeros(pad_shape, (&tensor.device(), tensor.dtype()));
            tensor = Tensor::cat(vec![tensor, zeros], axis);
        }
    }
    tensor
}

/// The sizes of the last two dimensions.
fn last2<const D: usize>(tensor: &Tensor<D>) -> [usize; 2] {
    let dims = tensor.dims();
    [dims[D - 2], dims[D - 1]]
}

fn complex<const D: usize>(
    function: &str,
    re: Tensor<D>,
    im: Tensor<D>,
    s: Option<[usize; 2]>,
    norm: FftNorm,
    inverse: bool,
) -> (Tensor<D>, Tensor<D>) {
    check_inputs(function, &[&re, &im], s);
    let size = s.unwrap_or_else(|| last2(&re));
    check_size(function, size);
    let (re, im) = (resize(re, size), resize(im, size));
    let factor = norm.factor(size[0] * size[1], inverse);
    let spectrum = <Dispatch as Fft2Backend>::dft2(re.into_dispatch(), im.into_dispatch(), inverse);
    scaled_pair(spectrum, factor)
}

/// The (real, imaginary) outputs of a dispatched transform as tensors, times `factor`.
fn scaled_pair<const D: usize>(
    (re, im): (FloatTensor<Dispatch>, FloatTensor<Dispatch>),
    factor: f64,
) -> (Tensor<D>, Tensor<D>) {
    (
        Tensor::from_dispatch(re) * factor,
        Tensor::from_dispatch(im) * factor,
    )
}

/// 2-D DFT of the complex tensor `(re, im)` over its last two dimensions.
pub fn fft2<const D: usize>(
    re: Tensor<D>,
    im: Tensor<D>,
    s: Option<[usize; 2]>,
    norm: FftNorm,
) -> (Tensor<D>, Tensor<D>) {
    complex("fft2", re, im, s, norm, false)
}

/// Inverse 2-D DFT of the complex tensor `(re, im)` over its last two dimensions.
pub fn ifft2<const D: usize>(
    re: Tensor<D>,
    im: Tensor<D>,
    s: Option<[usize; 2]>,
    norm: FftNorm,
) -> (Tensor<D>, Tensor<D>) {
    complex("ifft2", re, im, s, norm, true)
}

/// 2-D DFT of the real tensor `x` over its last two dimensions: the half spectrum
/// `[.., s[0], s[1] / 2 + 1]` as (real, imaginary) parts.
///
/// ```
/// use burn::tensor::{Device, Tensor, TensorData};
/// use burn_fftconv::{FftNorm, rfft2};
///
/// let device = Device::flex();
/// // A constant 2 x 4 map: all its energy is in the DC bin.
/// let x = Tensor::<2>::ones([2, 4], &device);
/// let (re, im) = rfft2(x, None, FftNorm::Backward);
/// assert_eq!(re.dims(), [2, 3]);
/// re.into_data().assert_eq(&TensorData::from([[8.0f32, 0.0, 0.0], [0.0, 0.0, 0.0]]), false);
/// im.into_data().assert_eq(&TensorData::from([[0.0f32; 3]; 2]), false);
/// ```
pub fn rfft2<const D: usize>(
    x: Tensor<D>,
    s: Option<[usize; 2]>,
    norm: FftNorm,
) -> (Tensor<D>, Tensor<D>) {
    check_inputs("rfft2", &[&x], s);
    let size = s.unwrap_or_else(|| last2(&x));
    check_size("rfft2", size);
    let (x, factor) = (resize(x, size), norm.factor(size[0] * size[1], false));
    scaled_pair(<Dispatch as Fft2Backend>::rdft2(x.into_dispatch()), factor)
}

/// Inverse of [`rfft2`]: real maps of `s` (default: the spectrum's height and
/// `2 * (columns - 1)`) from the half spectrum `(re, im)`.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::{FftNorm, irfft2, rfft2};
///
/// let device = Device::flex();
/// // An odd width needs `s`: the half spectrum of 5 and of 4 columns both have 3.
/// let x = Tensor::<3>::random([2, 3, 5], Distribution::Default, &device);
/// let (re, im) = rfft2(x.clone(), None, FftNorm::Ortho);
/// let back = irfft2(re, im, Some([3, 5]), FftNorm::Ortho);
/// assert!((back - x).abs().max().into_scalar::<f32>() < 1e-5);
/// ```
pub fn irfft2<const D: usize>(
    re: Tensor<D>,
    im: Tensor<D>,
    s: Option<[usize; 2]>,
    norm: FftNorm,
) -> Tensor<D> {
    check_inputs("irfft2", &[&re, &im], s);
    let [height, half] = last2(&re);
    let size = s.unwrap_or([height, (2 * half.saturating_sub(1)).max(1)]);
    check_size("irfft2", size);
    let spectrum_size = [size[0], size[1] / 2 + 1];
    let (re, im) = (resize(re, spectrum_size), resize(im, spectrum_size));
    let factor = norm.factor(size[0] * size[1], true);
    let x = <Dispatch as Fft2Backend>::irdft2(re.into_dispatch(), im.into_dispatch(), size[1]);
    Tensor::from_dispatch(x) * factor
}

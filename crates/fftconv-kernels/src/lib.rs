//! Spectral kernels for FFT convolution, with no deep-learning framework attached.
//!
//! [`SpectralConv`] computes a convolution layer's forward pass and both gradients in the
//! frequency domain, in one, two or three dimensions ([`ConvGeometry`]): batched real FFTs of
//! zero-padded (polyphase) tiles, one complex GEMM per frequency bin over channels, inverse
//! FFTs and a crop. Spectra are plain `Vec<Complex<T>>` values so a caller can keep the
//! forward pass's spectra for the backward, and hand them back with [`recycle`] when done.
//!
//! The one-call functions [`conv`], [`conv_input_grad`], [`conv_weight_grad`] validate their
//! arguments and transform what they need.
//!
//! # Range
//!
//! Data spectra (of the input and the output gradient) are scaled by `1 / points` of their
//! transform, so no bin exceeds the largest value of its tile: a result is finite wherever
//! the bound `channels * max|x| * sum|w|` of the direct convolution is (for the weight
//! gradient, `batch * output positions * max|x| * max|dy|`). Values below about
//! `f32::MIN_POSITIVE * points` (1e-34 for 64 x 64 tiles) lose precision to subnormals in f32.
//!
//! # Non-finite values
//!
//! A NaN or infinity in one sample never reaches another sample. Inside its sample it spreads
//! to every output of the tiles whose input window holds it (their whole transform), where
//! direct convolution spreads it to the kernel footprint only.

#![warn(missing_docs)]

mod budget;
mod conv;
pub mod cost;
mod fft;
mod geometry;
mod kernel_dft;
mod matmul;
mod memory;
mod parallel;
mod real_rows;
mod tiling;

pub use budget::{SpectralBudget, check_budget};
pub use conv::{SpectralConv, SpectrumKind, add_bias, bias_grad};
pub use fft::{FftPlan, Scalar, TransformCount, fast_len};
pub use geometry::{AxisGeometry, ConvGeometry, GeometryError, check_len};
pub use memory::{keep_freed_memory_mapped, recycle, release_pooled_buffers};
pub use num_complex::Complex;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// `y = x * weight + bias` (cross-correlation, channels first) for a validated geometry.
pub fn conv<T: Scalar>(
    geometry: ConvGeometry,
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
) -> Result<Vec<T>, GeometryError> {
    check_len("x", &geometry.input_shape(), x.len())?;
    check_len("weight", &geometry.weight_shape(), weight.len())?;
    if let Some(bias) = bias {
        geometry.check_bias(bias.len())?;
    }
    let plan = SpectralConv::new(geometry)?;
    let mut y = plan.forward(&plan.input_spectrum(x), &plan.weight_spectrum(weight));
    if let Some(bias) = bias {
        add_bias(&mut y, bias, geometry.output_shape()[2..].iter().product());
    }
    Ok(y)
}

/// Gradient of `sum(dy * conv(x, weight))` with respect to `x`.
pub fn conv_input_grad<T: Scalar>(
    geometry: ConvGeometry,
    weight: &[T],
    output_grad: &[T],
) -> Result<Vec<T>, GeometryError> {
    check_len("weight", &geometry.weight_shape(), weight.len())?;
    check_len("output_grad", &geometry.output_shape(), output_grad.len())?;
    let plan = SpectralConv::new(geometry)?;
    Ok(plan.input_grad(
        &plan.output_grad_spectrum(output_grad),
        &plan.weight_spectrum(weight),
    ))
}

/// Gradient of `sum(dy * conv(x, weight))` with respect to `weight`.
pub fn conv_weight_grad<T: Scalar>(
    geometry: ConvGeometry,
    x: &[T],
    output_grad: &[T],
) -> Result<Vec<T>, GeometryError> {
    check_len("x", &geometry.input_shape(), x.len())?;
    check_len("output_grad", &geometry.output_shape(), output_grad.len())?;
    let plan = SpectralConv::new(geometry)?;
    Ok(plan.weight_grad(
        &plan.output_grad_spectrum(output_grad),
        &plan.input_spectrum(x),
    ))
}

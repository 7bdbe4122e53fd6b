//! FFT-based convolution for burn 0.22: 1-D, 2-D, 3-D and transposed.
//!
//! [`fft_conv2d`] has the signature and semantics of `burn::tensor::module::conv2d` and
//! computes the convolution in the frequency domain ([`fft_conv1d`], [`fft_conv3d`],
//! [`fft_conv_transpose2d`], [`fft_conv_transpose3d`] and [`fft_conv_transpose1d`] do the same
//! for their burn counterparts, and [`FftConv2d`], [`FftConv3d`], ... are drop-ins for burn's layers); its input and weight gradients are the
//! frequency-domain identities of Mathieu, Henaff & LeCun (2014), available directly
//! ([`fft_conv2d_x_backward`], [`fft_conv2d_weight_backward`]) and as the custom autodiff
//! backward of [`fft_conv2d`]. The spectral kernels live in the `fftconv-kernels` crate.
//! [`rfft2`], [`irfft2`], [`fft2()`] and [`ifft2`] are differentiable 2-D FFTs with tested
//! gradient rules, explained in the [`mod@fft2`] module docs.

#![warn(missing_docs)]

mod backends;
mod conv1d;
mod conv3d;
pub mod fft2;
mod functional;
#[cfg(any(feature = "wgpu", all(test, feature = "flex")))]
mod layout;
mod module;
mod ops;
mod transposed;
mod transposed1d;
mod transposed3d;
mod tuning;

pub use conv1d::{
    FftConv1d, FftConv1dConfig, conv1d_as_conv2d, fft_conv1d, fft_conv1d_with_memory,
};
pub use conv3d::{FftConv3d, FftConv3dConfig};
pub use fft2::{FftNorm, fft2, ifft2, irfft2, rfft2};
pub use fftconv_kernels::{
    ConvGeometry, GeometryError, SpectralBudget, SpectrumKind, TransformCount,
    keep_freed_memory_mapped, release_pooled_buffers,
};
pub use functional::{
    conv_options, device_named, direct_conv2d_x_backward, fft_conv2d, fft_conv2d_bias_backward,
    fft_conv2d_weight_backward, fft_conv2d_with_memory, fft_conv2d_x_backward, fft_conv3d,
    fft_conv3d_weight_backward, fft_conv3d_with_memory, fft_conv3d_x_backward,
};
pub use module::{
    Conv2dLayer, ConvAlgorithm, DirectOp, FftConv2d, FftConv2dConfig, Passes, auto_algorithm,
    prefers_fft, prefers_fft_as, prefers_fft_for,
};
pub use ops::{BackwardMemory, ConvPass, Fft2Backend, FftConvBackend};
pub use transposed::{
    FftConvTranspose2d, FftConvTranspose2dConfig, fft_conv_transpose2d,
    fft_conv_transpose2d_with_memory, fft_conv_transpose3d, fft_conv_transpose3d_with_memory,
};
pub use transposed1d::{
    FftConvTranspose1d, FftConvTranspose1dConfig, conv_transpose1d_as_2d, fft_conv_transpose1d,
    fft_conv_transpose1d_with_memory,
};
pub use transposed3d::{FftConvTranspose3d, FftConvTranspose3dConfig};
pub use tuning::tuned_algorithm;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

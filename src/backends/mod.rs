//! One file per backend, as burn-signal does: the CPU backends share [`host`], which runs the
//! kernels of `fftconv-kernels` on host memory; [`composed`] serves every other device with
//! burn tensor operations.

mod autodiff;
pub(crate) mod composed;
#[cfg(feature = "flex")]
mod flex;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod host;
#[cfg(feature = "ndarray")]
mod ndarray;

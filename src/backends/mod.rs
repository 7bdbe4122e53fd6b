//! One file per backend, as burn-signal does: the CPU backends share [`host`], which runs the
//! kernels of `fftconv-kernels` on host memory.

mod autodiff;
#[cfg(feature = "flex")]
mod flex;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod host;
#[cfg(feature = "ndarray")]
mod ndarray;

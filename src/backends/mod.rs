//! One file per backend, as burn-signal does: the CPU backends share [`host`], which runs the
//! kernels of `fftconv-kernels` on host memory; the CubeCL backend (`cube.rs`) runs its own
//! tile kernels (`tiles.rs`), or [`composed`], burn tensor operations and burn-signal
//! transforms, on the device.

mod autodiff;
#[cfg(any(feature = "wgpu", all(test, feature = "flex")))]
pub(crate) mod composed;
#[cfg(feature = "wgpu")]
mod cube;
#[cfg(feature = "flex")]
mod flex;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod host;
#[cfg(feature = "ndarray")]
mod ndarray;
#[cfg(feature = "wgpu")]
mod tiles;

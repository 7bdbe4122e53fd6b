//! MNIST for the burn-fftconv example: a checked IDX reader, the bundled 10,000-digit subset,
//! a small CNN trained with either `FftConv2d` or burn's `Conv2d` through burn's `Learner`,
//! a plain-line progress display, and safe model files.

#![warn(missing_docs)]

pub mod batch;
pub mod dataset;
pub mod idx;
pub mod progress;
pub mod store;
pub mod train;

//! MNIST for the burn-fftconv example: a checked IDX reader, the bundled 10,000-digit subset,
//! a small CNN trained with either `FftConv2d` or burn's `Conv2d`, and safe model files.

pub mod dataset;
pub mod idx;
pub mod store;
pub mod train;

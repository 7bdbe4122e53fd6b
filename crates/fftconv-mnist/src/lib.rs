//! MNIST for the burn-fftconv example: a checked IDX reader, the bundled 10,000-digit subset,
//! and a small CNN trained with either `FftConv2d` or burn's `Conv2d`.

pub mod dataset;
pub mod idx;
pub mod train;

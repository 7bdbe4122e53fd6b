//! A FLOP model of direct and spectral convolution, used to pick the faster algorithm.
//!
//! Direct convolution costs `2 N (C / g) F OH OW kh kw` flops. The spectral forward pass costs
//! a real 2-D FFT (about `2.5 n log2 n` flops for `n` points) per input, weight and output
//! map, plus `8` real flops per complex multiply-add of the per-bin channel products.
//! The two run at different fractions of the machine's peak, which
//! [`SPECTRAL_FLOP_PENALTY`] accounts for.

use crate::conv::SpectralConv2d;
use crate::geometry::Conv2dGeometry;

/// How many times slower, per flop, the spectral path runs than burn's direct convolution
/// on the CPU: direct convolution is one large, cache-friendly GEMM, while the spectral path
/// spends much of its time in memory-bound FFTs and transposes.
pub const SPECTRAL_FLOP_PENALTY: f64 = 3.0;

/// Flop counts of one forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostEstimate {
    /// Direct convolution.
    pub direct: f64,
    /// Forward FFTs of the input and weight maps and inverse FFTs of the output maps.
    pub transforms: f64,
    /// Per-bin channel products.
    pub products: f64,
}

impl CostEstimate {
    /// The spectral total.
    pub fn spectral(&self) -> f64 {
        self.transforms + self.products
    }
}

/// The flop counts of one forward pass of `geometry`.
pub fn estimate(geometry: &Conv2dGeometry) -> CostEstimate {
    let plan = SpectralConv2d::<f32>::new(*geometry);
    let [batch, in_channels, _, _] = geometry.input_shape();
    let [out_channels, group_in, kh, kw] = geometry.weight_shape();
    let [_, _, oh, ow] = geometry.output_shape();
    let phases = geometry
        .axes
        .iter()
        .map(|a| a.phases().len())
        .product::<usize>();
    let [fft_h, fft_w] = plan.fft_size();
    let points = (fft_h * fft_w) as f64;
    let per_transform = 2.5 * points * points.log2().max(1.0);
    let maps =
        batch * in_channels * phases + out_channels * group_in * phases + batch * out_channels;
    let group_out = out_channels / geometry.groups;
    CostEstimate {
        direct: 2.0 * (batch * group_in * out_channels * oh * ow * kh * kw) as f64,
        transforms: maps as f64 * per_transform,
        products: 8.0 * (plan.bins() * batch * in_channels * phases * group_out) as f64,
    }
}

/// Whether the spectral path is expected to beat direct convolution on `geometry`.
pub fn prefers_fft(geometry: &Conv2dGeometry) -> bool {
    let cost = estimate(geometry);
    cost.spectral() * SPECTRAL_FLOP_PENALTY < cost.direct
}

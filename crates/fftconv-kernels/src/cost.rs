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
/// spends much of its time in memory-bound FFTs, transposes and small per-bin GEMMs.
/// Calibrated on the Flex training-step benches at batch 16, 64x64, 64 -> 64 channels
/// (`cargo bench --bench conv -- flex/train_step/n16_c64_f64_64x64`), where the measured
/// crossover lies between kernels 5 and 7 and the model's flop ratio there is about 6 and 12.
pub const SPECTRAL_FLOP_PENALTY: f64 = 8.0;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn square(batch: usize, channels: usize, image: usize, kernel: usize) -> Conv2dGeometry {
        let pad = (kernel / 2, kernel - 1 - kernel / 2);
        Conv2dGeometry::new(
            &[batch, channels, image, image],
            &[channels, channels, kernel, kernel],
            [1, 1],
            [pad; 2],
            [1, 1],
            1,
        )
        .unwrap()
    }

    #[test]
    fn the_crossover_follows_the_calibration_benches() {
        let choices: Vec<bool> = [3, 5, 7, 9, 15]
            .into_iter()
            .map(|k| prefers_fft(&square(16, 64, 64, k)))
            .collect();
        assert_eq!(choices, [false, false, true, true, true]);
    }

    #[test]
    fn estimates_count_the_direct_flops_exactly() {
        let cost = estimate(&square(2, 3, 8, 3));
        assert_eq!(cost.direct, 2.0 * (2 * 3 * 3 * 8 * 8 * 9) as f64);
        assert!(cost.transforms > 0.0 && cost.products > 0.0);
    }
}

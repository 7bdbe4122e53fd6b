//! A FLOP model of direct and spectral convolution: it picks the tile size of the spectral
//! path and, for `Auto`, the faster algorithm.
//!
//! Direct convolution costs `2 N (C / g) F OH OW kh kw` flops per pass. The spectral path costs
//! a real 2-D FFT (about `2.5 n log2 n` flops for `n` points) per input, weight and output
//! map and tile, `8` real flops per complex multiply-add of the per-bin channel products, and
//! memory traffic for every spectrum value it writes and reads back. All counts are for a
//! training step: the forward pass and both gradients.

use crate::budget::SpectralBudget;
use crate::geometry::{Conv2dGeometry, GeometryError};
use crate::tiling::TileLayout;

/// The time of a modelled spectral flop over that of a direct one on the CPU. Below 1 since
/// the spectra are written bin-major without separate transposes and in huge pages: the model
/// charges memory traffic that the blocked writes now mostly hide. Calibrated on the whole Flex
/// training-step grid (`cargo bench --bench conv -- 'flex/train_step/'`, the table in this
/// module's tests): with 0.75, `Auto` runs within 0.9x of the faster algorithm at every point,
/// strided and depthwise layers included.
pub const SPECTRAL_FLOP_SCALE: f64 = 0.75;

/// How much slower per flop burn's direct convolution runs when each group has few input
/// channels: `8 / channels_per_group`, at least 1. Calibrated on depthwise layers
/// (`flex/train_step/n16_c64_f64_64x64_k{3,7}_g64`: FFT 0.69x and 2.26x as fast as direct,
/// where the scaled flop model without this factor says 0.10x and 0.41x, with it 0.83x and
/// 3.3x).
fn direct_slowdown(geometry: &Conv2dGeometry) -> f64 {
    let group_in = geometry.in_channels() / geometry.groups();
    (8.0 / group_in as f64).max(1.0)
}

/// How many GEMM flops one FFT flop costs: the per-bin products run near 47 GFLOP/s in the
/// stage benches (`cargo bench -p fftconv-kernels --bench stages`), the transforms near 5.
const TRANSFORM_FLOP_WEIGHT: f64 = 6.0;

/// Flop-equivalents charged per complex spectrum value written, gathered and read back.
const TRAFFIC_PER_VALUE: f64 = 16.0;

/// Smallest FFT side worth tiling to: below it the per-transform overhead dominates.
const MIN_TILE_FFT: usize = 8;

/// Flop counts of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostEstimate {
    /// Direct convolution.
    pub direct: f64,
    /// Forward and inverse FFTs of all maps and tiles, weighted by their lower flop rate.
    pub transforms: f64,
    /// Per-bin channel products.
    pub products: f64,
    /// Spectrum values moved, in flop-equivalents.
    pub traffic: f64,
}

impl CostEstimate {
    /// The spectral total.
    pub fn spectral(&self) -> f64 {
        self.transforms + self.products + self.traffic
    }
}

/// The cost of a training step of `geometry` split into output tiles of `tile`; refused
/// when the tiles' transform exceeds the [`SpectralBudget`].
pub fn step_cost(
    geometry: &Conv2dGeometry,
    tile: [usize; 2],
) -> Result<CostEstimate, GeometryError> {
    let layout = TileLayout::new(geometry, tile, &SpectralBudget::current())?;
    Ok(layout_cost(geometry, &layout))
}

/// Counted in `f64`: the products of a valid geometry's sizes need not fit in `usize`.
fn layout_cost(geometry: &Conv2dGeometry, layout: &TileLayout) -> CostEstimate {
    let [batch, in_channels, _, _] = geometry.input_shape().map(|n| n as f64);
    let [out_channels, group_in, kh, kw] = geometry.weight_shape().map(|n| n as f64);
    let [_, _, oh, ow] = geometry.output_shape().map(|n| n as f64);
    let points = (layout.fft[0] * layout.fft[1]) as f64;
    let bins = layout.bins() as f64;
    let phases = layout.phase_count() as f64;
    let rows = batch * layout.tile_count() as f64;
    let spectrum_values =
        (rows * in_channels * phases + out_channels * group_in * phases + rows * out_channels)
            * bins;
    let group_out = out_channels / geometry.groups() as f64;
    CostEstimate {
        direct: 3.0 * 2.0 * batch * group_in * out_channels * oh * ow * kh * kw,
        transforms: TRANSFORM_FLOP_WEIGHT * 2.0 * spectrum_values / bins
            * 2.5
            * points
            * points.log2().max(1.0),
        products: 3.0 * 8.0 * bins * rows * in_channels * phases * group_out,
        traffic: 2.0 * TRAFFIC_PER_VALUE * spectrum_values,
    }
}

/// Tile sizes worth trying along one axis, increasing: every tile whose transform length is
/// a `2^a 3^b` size of at least [`MIN_TILE_FFT`] (rustfft's radix-2 and radix-3 passes run
/// markedly faster than its radix-5 and radix-7 ones, which the flop count does not see),
/// and the whole output. Enumerated from the sizes, so a huge axis has few candidates.
fn tile_candidates(geometry: &Conv2dGeometry, axis: usize) -> Vec<usize> {
    let a = geometry.axes()[axis];
    let taps = a.phase_kernel();
    // Spans `t + taps - 1` for tiles `t` in `1..output`.
    let spans = taps..a.output() + taps - 1;
    let powers = |base: usize, factor: usize| {
        std::iter::successors(Some(base), move |&p| p.checked_mul(factor))
            .take_while(|&p| p < spans.end)
    };
    let mut candidates: Vec<usize> = powers(1, 2)
        .flat_map(|p2| powers(p2, 3))
        .filter(|&span| {
            span >= MIN_TILE_FFT.max(spans.start) && (axis == 0 || span.is_multiple_of(2))
        })
        .map(|span| span - taps + 1)
        .collect();
    candidates.sort_unstable();
    candidates.push(a.output());
    candidates
}

/// The tile size with the lowest modelled cost (the largest among equals) among those
/// within the [`SpectralBudget`]; refused when none is.
pub fn choose_tile(geometry: &Conv2dGeometry) -> Result<[usize; 2], GeometryError> {
    let budget = SpectralBudget::current();
    let mut best: Option<([usize; 2], f64)> = None;
    let mut refusal = None;
    for &th in &tile_candidates(geometry, 0) {
        for &tw in &tile_candidates(geometry, 1) {
            match TileLayout::new(geometry, [th, tw], &budget) {
                Ok(layout) => {
                    let cost = layout_cost(geometry, &layout).spectral();
                    if best.is_none_or(|(_, lowest)| cost <= lowest) {
                        best = Some(([th, tw], cost));
                    }
                }
                Err(error) => refusal = Some(error),
            }
        }
    }
    match (best, refusal) {
        (Some((tile, _)), _) => Ok(tile),
        (None, Some(error)) => Err(error),
        (None, None) => unreachable!("the whole output is always a candidate"),
    }
}

/// The cost of a training step of `geometry` with the tiles [`choose_tile`] picks.
pub fn estimate(geometry: &Conv2dGeometry) -> Result<CostEstimate, GeometryError> {
    step_cost(geometry, choose_tile(geometry)?)
}

/// Whether the spectral path is expected to beat direct convolution on `geometry`: never
/// when it exceeds the [`SpectralBudget`] ([`crate::check_budget`]).
pub fn prefers_fft(geometry: &Conv2dGeometry) -> bool {
    crate::check_budget(geometry).is_ok() && spectral_to_direct_time(geometry) < 1.0
}

/// The modelled time of the spectral path over that of direct convolution.
fn spectral_to_direct_time(geometry: &Conv2dGeometry) -> f64 {
    match estimate(geometry) {
        Ok(cost) => {
            cost.spectral() * SPECTRAL_FLOP_SCALE / (cost.direct * direct_slowdown(geometry))
        }
        Err(_) => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch-16 layer with "same" padding, as in the benches.
    fn layer(
        channels: usize,
        image: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
    ) -> Conv2dGeometry {
        let pad = (kernel / 2, kernel - 1 - kernel / 2);
        Conv2dGeometry::new(
            &[16, channels, image, image],
            &[channels, channels / groups, kernel, kernel],
            [stride; 2],
            [pad; 2],
            [1, 1],
            groups,
        )
        .unwrap()
    }

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

    /// Training-step speedups (direct time / FFT time) of the whole Flex grid, batch 16,
    /// "same" padding, from one run of `cargo bench --bench conv -- 'flex/train_step/'`
    /// (`benches/REPORT.md`): (channels, image, kernel, stride, groups, speedup).
    const MEASURED: [(usize, usize, usize, usize, usize, f64); 40] = [
        (16, 28, 3, 1, 1, 2.05),
        (16, 28, 5, 1, 1, 2.55),
        (16, 28, 7, 1, 1, 4.27),
        (16, 28, 9, 1, 1, 6.65),
        (16, 28, 11, 1, 1, 12.17),
        (16, 28, 15, 1, 1, 19.29),
        (16, 64, 3, 1, 1, 2.47),
        (16, 64, 5, 1, 1, 4.89),
        (16, 64, 7, 1, 1, 5.54),
        (16, 64, 9, 1, 1, 8.82),
        (16, 64, 11, 1, 1, 11.45),
        (16, 64, 15, 1, 1, 30.74),
        (16, 128, 3, 1, 1, 1.51),
        (16, 128, 5, 1, 1, 3.55),
        (16, 128, 7, 1, 1, 7.50),
        (16, 128, 9, 1, 1, 13.31),
        (16, 128, 11, 1, 1, 15.49),
        (16, 128, 15, 1, 1, 22.97),
        (64, 28, 3, 1, 1, 1.99),
        (64, 28, 5, 1, 1, 3.33),
        (64, 28, 7, 1, 1, 5.27),
        (64, 28, 9, 1, 1, 5.84),
        (64, 28, 11, 1, 1, 8.72),
        (64, 28, 15, 1, 1, 10.48),
        (64, 64, 3, 1, 1, 1.77),
        (64, 64, 5, 1, 1, 3.61),
        (64, 64, 7, 1, 1, 5.28),
        (64, 64, 9, 1, 1, 8.37),
        (64, 64, 11, 1, 1, 9.28),
        (64, 64, 15, 1, 1, 19.16),
        (64, 128, 3, 1, 1, 2.09),
        (64, 128, 5, 1, 1, 3.66),
        (64, 128, 7, 1, 1, 6.38),
        (64, 128, 9, 1, 1, 9.56),
        (64, 128, 11, 1, 1, 12.43),
        (64, 128, 15, 1, 1, 20.61),
        (64, 64, 3, 2, 1, 0.83),
        (64, 64, 7, 2, 1, 1.67),
        (64, 64, 3, 1, 64, 0.69),
        (64, 64, 7, 1, 64, 2.26),
    ];

    /// `Auto` (FFT where [`prefers_fft`]) runs at least 0.9x as fast as the faster of the two
    /// at every measured grid point.
    #[test]
    fn auto_is_within_ten_percent_of_the_faster_on_the_measured_grid() {
        let mut misses = Vec::new();
        for (channels, image, kernel, stride, groups, speedup) in MEASURED {
            let fft = prefers_fft(&layer(channels, image, kernel, stride, groups));
            // Auto's time over the faster one's.
            let relative_speed = if fft {
                speedup.min(1.0)
            } else {
                (1.0 / speedup).min(1.0)
            };
            if relative_speed < 0.9 {
                misses.push(format!(
                    "{channels}ch {image}x{image} k{kernel} stride {stride} groups {groups}: \
                     Auto picks {} at {relative_speed:.2}x of the faster (speedup {speedup})",
                    if fft { "FFT" } else { "direct" }
                ));
            }
        }
        assert!(misses.is_empty(), "{misses:#?}");
    }

    #[test]
    fn estimates_count_the_direct_flops_exactly() {
        let cost = estimate(&square(2, 3, 8, 3)).unwrap();
        assert_eq!(cost.direct, 3.0 * 2.0 * (2 * 3 * 3 * 8 * 8 * 9) as f64);
        assert!(cost.transforms > 0.0 && cost.products > 0.0);
    }

    #[test]
    fn large_images_are_tiled_and_small_ones_are_not() {
        let [th, tw] = choose_tile(&square(16, 64, 128, 5)).unwrap();
        assert!(th < 128 && tw < 128, "{th}x{tw}");
        assert_eq!(choose_tile(&square(1, 1, 4, 3)).unwrap(), [4, 4]);
    }
}

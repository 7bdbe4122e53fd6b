//! A FLOP model of direct and spectral convolution: it picks the tile size of the spectral
//! path and, for `Auto`, the faster algorithm.
//!
//! Direct convolution costs `2 N (C / g) F` flops per pass for every output position and
//! kernel tap. The spectral path costs a real FFT (about `2.5 n log2 n` flops for `n` points) per input, weight and output
//! map and tile, `8` real flops per complex multiply-add of the per-bin channel products, and
//! memory traffic for every spectrum value it writes and reads back. All counts are for a
//! training step: the forward pass and both gradients.

use std::sync::RwLock;

use crate::budget::SpectralBudget;
use crate::fft::fast_len;
use crate::geometry::{AxisGeometry, ConvGeometry, GeometryError};
use crate::tiling::TileLayout;

/// The machine-dependent constants of the model. Each is measured by
/// `cargo run --release --example calibrate_cost`, which prints them as a value of the
/// environment variable `FFTCONV_COST_MODEL`: a new machine is calibrated without editing code.
/// [`CostModel::DEFAULT`] holds this project's measurements on its earlier 2-core build
/// machine (an AMD EPYC): one run of that example after the row pairs and the `2^a 3^b`
/// transform lengths (2026-11-27).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// The time of a modelled spectral flop over that of a direct one. Fitted (geometric mean
    /// of measured over modelled) on training steps of both algorithms, direct and FFT, over a
    /// grid of layers. Default 0.476: with it `Auto` runs within 0.9x of the faster algorithm
    /// at every point of the Flex grid of `cargo bench --bench conv -- 'flex/train_step/'` (the
    /// table in this module's tests), strided and depthwise layers included.
    pub spectral_flop_scale: f64,
    /// How many GEMM flops one FFT flop costs: the rate of the per-bin complex products over
    /// that of the transforms, fitted to kernel stages of layers of several channel counts.
    /// Default 9.15 (products 70 GFLOP/s, transforms 7.7, from the 32-channel 32x32 k5
    /// layer's stages alone on the AMD EPYC of the defaults).
    pub transform_flop_weight: f64,
    /// Flop-equivalents charged per complex spectrum value written, gathered and read back.
    /// Default 16. No stage isolates it, so the calibration keeps it and the fitted scale
    /// absorbs the difference.
    pub traffic_per_value: f64,
    /// Input channels per group below which burn's direct convolution loses speed per flop,
    /// in proportion: it runs `channels / channels_per_group` times slower. Timed as the
    /// per-flop time of a depthwise layer over that of a dense one. Default 11.4 (depthwise
    /// `flex/train_step/n16_c64_f64_64x64_k{3,7}_g64`: FFT 1.00x and 2.69x as fast as direct,
    /// where the scaled model with this factor says 1.15x and 4.6x).
    pub direct_full_rate_channels: f64,
    /// How much more a forward pass alone costs the spectral path, against burn's direct
    /// convolution, than the model's share of a training step says: a layer called for
    /// inference transforms its weight for one product, and burn's direct forward pass runs
    /// faster per flop than its backward. Default 2.15, fitted with the next field to the
    /// forward passes of the Flex grid (`cargo bench --bench conv -- '^flex/forward/'`, the
    /// table in this module's tests): `Auto` within 0.9x of the faster at every point from
    /// 2.1 to 2.2.
    pub forward_spectral_scale: f64,
    /// Input channels per group below which burn's direct forward pass loses speed per flop,
    /// in proportion, as `direct_full_rate_channels` for a training step; depthwise layers
    /// excepted, which burn's forward pass runs at full speed. Default 48 (any value from 40
    /// to 64 fits the grid's forward passes).
    pub forward_full_rate_channels: f64,
}

/// The environment variable [`CostModel::current`] reads.
pub const COST_MODEL_VARIABLE: &str = "FFTCONV_COST_MODEL";

static COST_MODEL: RwLock<Option<CostModel>> = RwLock::new(None);

impl CostModel {
    /// This project's measurements (see each field).
    pub const DEFAULT: Self = Self {
        spectral_flop_scale: 0.476,
        transform_flop_weight: 9.15,
        traffic_per_value: 16.0,
        direct_full_rate_channels: 11.4,
        forward_spectral_scale: 2.15,
        forward_full_rate_channels: 48.0,
    };

    /// The model in force: the last one [`CostModel::set`], else the one `FFTCONV_COST_MODEL`
    /// describes (read at the first call), else [`CostModel::DEFAULT`]. Panics, naming the
    /// variable and the entry, when the variable is malformed.
    pub fn current() -> Self {
        if let Some(model) = *COST_MODEL.read().unwrap_or_else(|p| p.into_inner()) {
            return model;
        }
        let from_environment = || match std::env::var(COST_MODEL_VARIABLE) {
            Ok(text) => Self::parse(&text)
                .unwrap_or_else(|error| panic!("{COST_MODEL_VARIABLE}={text:?}: {error}")),
            Err(_) => Self::DEFAULT,
        };
        // A model set meanwhile by another thread wins over the environment.
        *COST_MODEL
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(from_environment)
    }

    /// Puts this model in force for every later decision of the process.
    pub fn set(self) {
        *COST_MODEL.write().unwrap_or_else(|p| p.into_inner()) = Some(self);
    }

    /// Reads `name=value` pairs separated by commas (the form [`CostModel`]'s `Display`
    /// writes); fields left out keep their default. Every value must be finite and positive.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut model = Self::DEFAULT;
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not `name=value`"))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("`{entry}`: the value must be a positive number"))?;
            let field = match name.trim() {
                "spectral_flop_scale" => &mut model.spectral_flop_scale,
                "transform_flop_weight" => &mut model.transform_flop_weight,
                "traffic_per_value" => &mut model.traffic_per_value,
                "direct_full_rate_channels" => &mut model.direct_full_rate_channels,
                "forward_spectral_scale" => &mut model.forward_spectral_scale,
                "forward_full_rate_channels" => &mut model.forward_full_rate_channels,
                other => return Err(format!("unknown field `{other}`")),
            };
            *field = value;
        }
        Ok(model)
    }

    /// How much slower per flop burn's direct convolution runs on a training step of
    /// `geometry` than on dense layers: `direct_full_rate_channels / channels_per_group`, at
    /// least 1.
    pub fn direct_slowdown(&self, geometry: &ConvGeometry) -> f64 {
        self.direct_slowdown_for(geometry, Passes::TRAINING_STEP)
    }

    /// [`CostModel::direct_slowdown`] for `passes`: a forward pass alone by
    /// `forward_full_rate_channels`, 1 for depthwise layers.
    pub fn direct_slowdown_for(&self, geometry: &ConvGeometry, passes: Passes) -> f64 {
        let group_in = (geometry.in_channels() / geometry.groups()) as f64;
        let full_rate = match passes {
            Passes::FORWARD if group_in <= 1.0 => return 1.0,
            Passes::FORWARD => self.forward_full_rate_channels,
            _ => self.direct_full_rate_channels,
        };
        (full_rate / group_in).max(1.0)
    }
}

impl Default for CostModel {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for CostModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "spectral_flop_scale={},transform_flop_weight={},traffic_per_value={},\
             direct_full_rate_channels={},forward_spectral_scale={},forward_full_rate_channels={}",
            self.spectral_flop_scale,
            self.transform_flop_weight,
            self.traffic_per_value,
            self.direct_full_rate_channels,
            self.forward_spectral_scale,
            self.forward_full_rate_channels
        )
    }
}

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

/// The passes of a convolution a decision is for: the forward pass, and the gradients its
/// backward pass computes. A layer called for inference runs the forward pass alone, whose
/// transforms (of the weight among them) are shared by no gradient: the FFT pays less there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Passes {
    /// The input gradient is computed.
    pub input_grad: bool,
    /// The weight gradient is computed.
    pub weight_grad: bool,
}

impl Passes {
    /// Forward pass and both gradients.
    pub const TRAINING_STEP: Self = Self {
        input_grad: true,
        weight_grad: true,
    };
    /// The forward pass alone.
    pub const FORWARD: Self = Self {
        input_grad: false,
        weight_grad: false,
    };
}

impl CostModel {
    /// The cost of a training step of `geometry` split into output tiles of `tile`; refused
    /// when the tiles' transform exceeds the [`SpectralBudget`].
    pub fn step_cost(
        &self,
        geometry: &ConvGeometry,
        tile: [usize; 3],
    ) -> Result<CostEstimate, GeometryError> {
        self.tile_cost(geometry, tile, Passes::TRAINING_STEP)
    }

    /// The cost of `passes` of `geometry` split into output tiles of `tile`, refused as
    /// [`CostModel::step_cost`].
    fn tile_cost(
        &self,
        geometry: &ConvGeometry,
        tile: [usize; 3],
        passes: Passes,
    ) -> Result<CostEstimate, GeometryError> {
        let layout = TileLayout::new(geometry, tile, &SpectralBudget::current())?;
        Ok(self.layout_cost(geometry, &layout, passes))
    }

    /// Counted in `f64`: the products of a valid geometry's sizes need not fit in `usize`.
    fn layout_cost(
        &self,
        geometry: &ConvGeometry,
        layout: &TileLayout,
        passes: Passes,
    ) -> CostEstimate {
        let [batch, in_channels, out_channels] = [
            geometry.batch(),
            geometry.in_channels(),
            geometry.out_channels(),
        ]
        .map(|n| n as f64);
        let group_in = in_channels / geometry.groups() as f64;
        let volume = |size: fn(&AxisGeometry) -> usize| {
            geometry
                .spatial(size)
                .iter()
                .map(|&n| n as f64)
                .product::<f64>()
        };
        let (outputs, taps) = (volume(AxisGeometry::output), volume(AxisGeometry::kernel));
        let points = layout.points() as f64;
        let bins = layout.bins() as f64;
        let phases = layout.phase_count() as f64;
        let rows = batch * layout.tile_count() as f64;
        // Values of each spectrum, and of the inverse transforms' inputs of its size.
        let [input, weight, output] = [
            rows * in_channels * phases,
            out_channels * group_in * phases,
            rows * out_channels,
        ]
        .map(|matrix| matrix * bins);
        let count = |pass: bool| f64::from(u8::from(pass));
        let backward = count(passes.input_grad || passes.weight_grad);
        let pass_count = 1.0 + count(passes.input_grad) + count(passes.weight_grad);
        // Forward: the input's and weight's spectra, the output's inverse; the gradients:
        // `dy`'s spectrum once, and the inverse of each.
        let spectrum_values = input
            + weight
            + output
            + backward * output
            + count(passes.input_grad) * input
            + count(passes.weight_grad) * weight;
        let group_out = out_channels / geometry.groups() as f64;
        CostEstimate {
            direct: pass_count * 2.0 * batch * group_in * out_channels * outputs * taps,
            transforms: self.transform_flop_weight * spectrum_values / bins
                * 2.5
                * points
                * points.log2().max(1.0),
            products: pass_count * 8.0 * bins * rows * in_channels * phases * group_out,
            traffic: self.traffic_per_value * spectrum_values,
        }
    }

    /// The tile size with the lowest modelled cost (the largest among equals) among those
    /// within the [`SpectralBudget`]; refused when none is.
    pub fn choose_tile(&self, geometry: &ConvGeometry) -> Result<[usize; 3], GeometryError> {
        let budget = SpectralBudget::current();
        let mut best: Option<([usize; 3], f64)> = None;
        let mut refusal = None;
        let [depths, heights, widths] = [0, 1, 2].map(|axis| tile_candidates(geometry, axis));
        let widths = &widths;
        let tiles = depths.iter().flat_map(|&td| {
            heights
                .iter()
                .flat_map(move |&th| widths.iter().map(move |&tw| [td, th, tw]))
        });
        for tile in tiles {
            match TileLayout::new(geometry, tile, &budget) {
                Ok(layout) => {
                    let cost = self
                        .layout_cost(geometry, &layout, Passes::TRAINING_STEP)
                        .spectral();
                    if best.is_none_or(|(_, lowest)| cost <= lowest) {
                        best = Some((tile, cost));
                    }
                }
                Err(error) => refusal = Some(error),
            }
        }
        match (best, refusal) {
            (Some((tile, _)), _) => Ok(tile),
            (None, Some(error)) => Err(error),
            (None, None) => unreachable!("the whole output is always a candidate"),
        }
    }

    /// The cost of a training step of `geometry` with the tiles [`CostModel::choose_tile`]
    /// picks.
    pub fn estimate(&self, geometry: &ConvGeometry) -> Result<CostEstimate, GeometryError> {
        self.estimate_passes(geometry, Passes::TRAINING_STEP)
    }

    /// The cost of `passes` of `geometry` with the tiles [`CostModel::choose_tile`] picks.
    pub fn estimate_passes(
        &self,
        geometry: &ConvGeometry,
        passes: Passes,
    ) -> Result<CostEstimate, GeometryError> {
        self.tile_cost(geometry, self.choose_tile(geometry)?, passes)
    }

    /// The modelled time of the spectral path over that of direct convolution for a training
    /// step (infinite over the [`SpectralBudget`]).
    pub fn spectral_to_direct_time(&self, geometry: &ConvGeometry) -> f64 {
        self.spectral_to_direct_time_for(geometry, Passes::TRAINING_STEP)
    }

    /// [`CostModel::spectral_to_direct_time`] for `passes`.
    pub fn spectral_to_direct_time_for(&self, geometry: &ConvGeometry, passes: Passes) -> f64 {
        match self.estimate_passes(geometry, passes) {
            Ok(cost) => {
                let forward = if passes == Passes::FORWARD {
                    self.forward_spectral_scale
                } else {
                    1.0
                };
                cost.spectral() * self.spectral_flop_scale * forward
                    / (cost.direct * self.direct_slowdown_for(geometry, passes))
            }
            Err(_) => f64::INFINITY,
        }
    }

    /// Whether the spectral path is expected to beat direct convolution on a training step
    /// of `geometry`: never when it exceeds the [`SpectralBudget`] ([`crate::check_budget`]).
    pub fn prefers_fft(&self, geometry: &ConvGeometry) -> bool {
        self.prefers_fft_for(geometry, Passes::TRAINING_STEP)
    }

    /// [`CostModel::prefers_fft`] for `passes`.
    pub fn prefers_fft_for(&self, geometry: &ConvGeometry, passes: Passes) -> bool {
        crate::check_budget(geometry).is_ok()
            && self.spectral_to_direct_time_for(geometry, passes) < 1.0
    }
}

/// Tile sizes worth trying along one of the three axes, increasing: every tile whose
/// transform length is a [`fast_len`] of at least [`MIN_TILE_FFT`] (rustfft runs those
/// markedly faster per point than other lengths, which the flop count does not see), and the
/// whole output. Enumerated from the sizes, so a huge axis has few candidates.
fn tile_candidates(geometry: &ConvGeometry, axis: usize) -> Vec<usize> {
    let a = geometry.axes3()[axis];
    let taps = a.phase_kernel();
    // Spans `t + taps - 1` for tiles `t` in `1..output`.
    let spans = taps..a.output() + taps - 1;
    let powers = |base: usize, factor: usize| {
        std::iter::successors(Some(base), move |&p| p.checked_mul(factor))
            .take_while(|&p| p < spans.end)
    };
    let mut candidates: Vec<usize> = powers(1, 2)
        .flat_map(|p2| powers(p2, 3))
        .filter(|&span| span >= MIN_TILE_FFT.max(spans.start) && fast_len(span, axis == 2) == span)
        .map(|span| span - taps + 1)
        .collect();
    candidates.sort_unstable();
    candidates.push(a.output());
    candidates
}

/// [`CostModel::choose_tile`] of the current model.
pub fn choose_tile(geometry: &ConvGeometry) -> Result<[usize; 3], GeometryError> {
    CostModel::current().choose_tile(geometry)
}

/// [`CostModel::prefers_fft`] of the current model.
pub fn prefers_fft(geometry: &ConvGeometry) -> bool {
    CostModel::current().prefers_fft(geometry)
}

/// [`CostModel::prefers_fft_for`] of the current model.
pub fn prefers_fft_for(geometry: &ConvGeometry, passes: Passes) -> bool {
    CostModel::current().prefers_fft_for(geometry, passes)
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
    ) -> ConvGeometry {
        let pad = (kernel / 2, kernel - 1 - kernel / 2);
        ConvGeometry::new(
            &[16, channels, image, image],
            &[channels, channels / groups, kernel, kernel],
            [stride; 2],
            [pad; 2],
            [1, 1],
            groups,
        )
        .unwrap()
    }

    fn square(batch: usize, channels: usize, image: usize, kernel: usize) -> ConvGeometry {
        let pad = (kernel / 2, kernel - 1 - kernel / 2);
        ConvGeometry::new(
            &[batch, channels, image, image],
            &[channels, channels, kernel, kernel],
            [1, 1],
            [pad; 2],
            [1, 1],
            1,
        )
        .unwrap()
    }

    /// A measured layer: (channels, image, kernel, stride, groups, speedup).
    type Measured = (usize, usize, usize, usize, usize, f64);

    /// Training-step speedups (direct time / FFT time) of the whole Flex grid, batch 16,
    /// "same" padding, from one run of `cargo bench --bench conv -- 'flex/train_step/'`
    /// (`benches/REPORT.md`).
    const MEASURED: [Measured; 46] = [
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
        // Strided and depthwise, from a later run, after the row pairs and the 2^a 3^b
        // lengths: `cargo bench --bench conv --
        // '^flex/train_step/n16_c64_f64_64x64_k(3|5|7)_(s2|g64)/'`, fastest of two.
        (64, 64, 3, 2, 1, 1.40),
        (64, 64, 7, 2, 1, 2.34),
        (64, 64, 3, 1, 64, 1.00),
        (64, 64, 7, 1, 64, 2.69),
        (64, 64, 5, 2, 1, 2.26),
        (64, 64, 5, 1, 64, 1.83),
        // The deep layers of a ResNet, after the kernels' matrix products (`kernel_dft.rs`)
        // and the thin products' panels: `cargo bench --bench conv --
        // '^flex/(train_step|forward)/n16_c(128_f128_16x16|256_f256_14x14|256_f256_8x8|512_f512_7x7)_k3/'`,
        // the second of two runs (before the matrix products 0.66x-0.73x at 512 and 256
        // channels on 7x7 and 8x8, where this model picked the FFT too).
        (128, 16, 3, 1, 1, 2.34),
        (256, 14, 3, 1, 1, 2.66),
        (256, 8, 3, 1, 1, 1.22),
        (512, 7, 3, 1, 1, 1.42),
    ];

    /// Forward-pass speedups (direct time / FFT time) on Flex, batch 16, "same" padding, one
    /// run of `cargo bench --bench conv --
    /// '^flex/forward/n16_c(64_f64_(28x28|64x64|128x128)_k(3|5|7|15)(_s2|_g64)?|16_f16_(28x28|64x64|128x128)_k(3|7|15)|128_f128_16x16|256_f256|512_f512)'`
    /// (after the kernels' matrix products; the deep layers from the run of [`MEASURED`]'s,
    /// after the thin products' panels): as [`MEASURED`].
    const MEASURED_FORWARD: [Measured; 31] = [
        (16, 28, 3, 1, 1, 1.49),
        (16, 28, 7, 1, 1, 3.86),
        (16, 28, 15, 1, 1, 10.60),
        (16, 64, 3, 1, 1, 2.44),
        (16, 64, 7, 1, 1, 6.43),
        (16, 64, 15, 1, 1, 22.51),
        (16, 128, 3, 1, 1, 2.17),
        (16, 128, 7, 1, 1, 5.33),
        (16, 128, 15, 1, 1, 19.12),
        (64, 28, 3, 1, 1, 1.68),
        (64, 28, 5, 1, 1, 3.00),
        (64, 28, 7, 1, 1, 5.21),
        (64, 28, 15, 1, 1, 8.52),
        (64, 64, 3, 1, 1, 1.67),
        (64, 64, 5, 1, 1, 2.86),
        (64, 64, 7, 1, 1, 5.27),
        (64, 64, 15, 1, 1, 14.91),
        (64, 128, 3, 1, 1, 1.66),
        (64, 128, 5, 1, 1, 3.46),
        (64, 128, 7, 1, 1, 5.54),
        (64, 128, 15, 1, 1, 15.16),
        (64, 64, 3, 2, 1, 0.78),
        (64, 64, 3, 1, 64, 0.19),
        (64, 64, 5, 2, 1, 1.09),
        (64, 64, 5, 1, 64, 0.40),
        (64, 64, 7, 2, 1, 1.89),
        (64, 64, 7, 1, 64, 0.76),
        (128, 16, 3, 1, 1, 1.03),
        (256, 14, 3, 1, 1, 1.37),
        (256, 8, 3, 1, 1, 0.64),
        (512, 7, 3, 1, 1, 0.78),
    ];

    /// `Auto` (FFT where the default model [`CostModel::prefers_fft_for`] the passes) runs at
    /// least 0.9x as fast as the faster of the two at every measured grid point, training
    /// steps and forward passes alone.
    #[test]
    fn auto_is_within_ten_percent_of_the_faster_on_the_measured_grid() {
        let mut misses = Vec::new();
        let grids = [
            (MEASURED.as_slice(), Passes::TRAINING_STEP),
            (MEASURED_FORWARD.as_slice(), Passes::FORWARD),
        ];
        for (grid, passes) in grids {
            for &(channels, image, kernel, stride, groups, speedup) in grid {
                let geometry = layer(channels, image, kernel, stride, groups);
                let fft = CostModel::DEFAULT.prefers_fft_for(&geometry, passes);
                // Auto's time over the faster one's.
                let relative_speed = if fft {
                    speedup.min(1.0)
                } else {
                    (1.0 / speedup).min(1.0)
                };
                if relative_speed < 0.9 {
                    misses.push(format!(
                        "{passes:?} {channels}ch {image}x{image} k{kernel} stride {stride} \
                         groups {groups}: Auto picks {} at {relative_speed:.2}x of the faster \
                         (speedup {speedup})",
                        if fft { "FFT" } else { "direct" }
                    ));
                }
            }
        }
        assert!(misses.is_empty(), "{misses:#?}");
    }

    #[test]
    fn estimates_count_the_direct_flops_exactly() {
        let cost = CostModel::DEFAULT.estimate(&square(2, 3, 8, 3)).unwrap();
        assert_eq!(cost.direct, 3.0 * 2.0 * (2 * 3 * 3 * 8 * 8 * 9) as f64);
        assert!(cost.transforms > 0.0 && cost.products > 0.0);
    }

    #[test]
    fn large_images_are_tiled_and_small_ones_are_not() {
        let model = CostModel::DEFAULT;
        let [td, th, tw] = model.choose_tile(&square(16, 64, 128, 5)).unwrap();
        assert!(td == 1 && th < 128 && tw < 128, "{td}x{th}x{tw}");
        assert_eq!(model.choose_tile(&square(1, 1, 4, 3)).unwrap(), [1, 4, 4]);
    }
}

#[cfg(test)]
mod model_text {
    use super::CostModel;

    #[test]
    fn a_model_reads_back_what_it_writes_and_names_bad_entries() {
        let model = CostModel {
            spectral_flop_scale: 0.5,
            transform_flop_weight: 7.25,
            ..CostModel::DEFAULT
        };
        assert_eq!(CostModel::parse(&model.to_string()), Ok(model));
        assert_eq!(
            CostModel::parse("transform_flop_weight = 3"),
            Ok(CostModel {
                transform_flop_weight: 3.0,
                ..CostModel::DEFAULT
            })
        );
        assert_eq!(CostModel::parse(""), Ok(CostModel::DEFAULT));
        for (text, message) in [
            ("spectral_flop_scale", "not `name=value`"),
            ("spectral_flop_scale=-1", "positive number"),
            ("spectral_flop_scale=NaN", "positive number"),
            ("flop_scale=1", "unknown field `flop_scale`"),
        ] {
            let error = CostModel::parse(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}

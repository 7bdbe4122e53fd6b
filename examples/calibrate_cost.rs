//! Measures the constants of `Auto`'s cost model on this machine (Flex, f32) and prints them
//! as a value of `FFTCONV_COST_MODEL`, which the model reads at its first decision: a new
//! machine is calibrated without editing code.
//!
//! ```sh
//! cargo run --release --example calibrate_cost                 # seconds, once built
//! cargo run --release --example calibrate_cost -- --reps 5 --batch 16
//! ```
//!
//! - `transform_flop_weight`: the kernels' per-bin products and their transforms, fitted to
//!   two kernel stages (the input spectrum: transforms; the forward product: products, then
//!   inverse transforms) of layers of 16 to 128 channels.
//! - `direct_step.depthwise`: burn's direct training step on a depthwise layer, per flop,
//!   over the same on a dense layer, times the dense layer's modelled slowdown.
//! - `spectral_flop_scale`: training steps of both algorithms over a grid of layers; the
//!   geometric mean of measured over modelled time ratios.
//! - `traffic_per_value` is kept: no stage isolates it, and the fitted scale absorbs it.
//! - `image_overhead` is kept: it was fitted to one layer's stages at two tile sizes
//!   (`docs/performance.md`), which this example does not compare.
//! - `forward_spectral_scale`, `direct_forward` (forward passes alone) and the rest of
//!   `direct_step` are kept: they were fitted to `cargo bench --bench conv -- '^flex/forward/'`
//!   and to thin layers (`docs/performance.md`), which this example does not time.

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{ConvGeometry, SpectrumKind, fft_conv2d};
use fftconv_kernels::SpectralConv;
use fftconv_kernels::cost::{COST_MODEL_VARIABLE, CostModel};

const USAGE: &str = "usage: calibrate_cost [--reps N] [--batch N]";

/// One layer of the grid: channels in and out, square image and kernel, stride, groups;
/// "same" padding.
#[derive(Debug, Clone, Copy)]
struct Layer {
    batch: usize,
    channels: usize,
    image: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl Layer {
    fn options(&self) -> ConvOptions<2> {
        let before = self.kernel / 2;
        let pad = (before, self.kernel - 1 - before);
        ConvOptions::new_with_padding([self.stride; 2], [pad, pad], [1, 1], self.groups)
    }

    fn shapes(&self) -> [[usize; 4]; 2] {
        let (c, k) = (self.channels, self.kernel);
        [
            [self.batch, c, self.image, self.image],
            [c, c / self.groups, k, k],
        ]
    }

    fn geometry(&self) -> ConvGeometry {
        let [x, w] = self.shapes();
        let o = self.options();
        ConvGeometry::new(&x, &w, o.stride, o.padding, o.dilation, o.groups)
            .expect("the grid's layers are valid")
    }

    /// Median seconds of a training step (forward, `dx` and `dw` through autodiff), each
    /// ending with a read of the loss and both gradients.
    fn train_step_seconds(&self, fft: bool, reps: usize) -> f64 {
        let device = Device::flex().autodiff();
        let [x_shape, w_shape] = self.shapes();
        let x = Tensor::<4>::random(x_shape, Distribution::Default, &device);
        let w = Tensor::<4>::random(w_shape, Distribution::Default, &device);
        median_seconds(reps, || {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = if fft {
                fft_conv2d(x.clone(), w.clone(), None, self.options())
            } else {
                conv2d(x.clone(), w.clone(), None, self.options())
            };
            let loss = y.sum();
            let grads = loss.backward();
            let dx = x.grad(&grads).expect("x is tracked").sum();
            let dw = w.grad(&grads).expect("the weight is tracked").sum();
            (loss.inner() + dx + dw).into_scalar::<f64>();
        })
    }
}

/// Median wall time of `reps` runs of `run` after one warm-up run, in seconds.
fn median_seconds(reps: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Modelled flops of one real FFT of `points` points, as the cost model counts them.
fn transform_flops(points: usize) -> f64 {
    2.5 * points as f64 * (points as f64).log2().max(1.0)
}

/// Two kernel stages of one layer, timed: the input spectrum (forward transforms alone) and
/// the forward product (per-bin products, then inverse transforms), each with its modelled
/// flops.
struct StageTimes {
    spectrum_seconds: f64,
    spectrum_transforms: f64,
    forward_seconds: f64,
    forward_products: f64,
    forward_transforms: f64,
}

impl StageTimes {
    fn of(layer: &Layer, reps: usize) -> Self {
        let geometry = layer.geometry();
        let plan = SpectralConv::<f32>::new(geometry).expect("within the spectral budget");
        let values = |shape: Vec<usize>| vec![0.5f32; shape.iter().product()];
        let (x, w) = (
            values(geometry.input_shape()),
            values(geometry.weight_shape()),
        );
        let per_transform = transform_flops(plan.fft_size().iter().product());
        let [images, image_columns] = plan.spectrum_matrix(SpectrumKind::Input);
        let [outputs, out_channels] = plan.spectrum_matrix(SpectrumKind::OutputGrad);
        let [_, weight_columns] = plan.spectrum_matrix(SpectrumKind::Weight);
        let group_out = out_channels / geometry.groups();
        let (x_spectrum, w_spectrum) = (plan.input_spectrum(&x), plan.weight_spectrum(&w));
        Self {
            spectrum_seconds: median_seconds(reps, || drop(plan.input_spectrum(&x))),
            spectrum_transforms: (images * image_columns) as f64 * per_transform,
            forward_seconds: median_seconds(reps, || drop(plan.forward(&x_spectrum, &w_spectrum))),
            forward_products: 8.0 * (plan.bins() * images * weight_columns * group_out) as f64,
            forward_transforms: (outputs * out_channels) as f64 * per_transform,
        }
    }
}

/// GEMM flops over FFT flops: the seconds per product flop `p` and per transform flop `t`
/// that fit the stages of `layers` best, `spectrum = t T` and `forward = p P + t T'`, in the
/// least squares of relative errors; the weight is `t / p`. Layers of several channel counts
/// make the fit well posed: products grow with the square of the channels, transforms
/// linearly. (Taking one layer's inverse transforms off its forward pass at the spectrum's
/// rate, a difference of near-equal times on 32 channels, moved the weight 5x between runs.)
fn transform_flop_weight(layers: &[Layer], reps: usize) -> f64 {
    // Rows `[products, transforms] / seconds` against a target of 1.
    let mut rows = Vec::new();
    for layer in layers {
        let times = StageTimes::of(layer, reps);
        rows.push([0.0, times.spectrum_transforms / times.spectrum_seconds]);
        rows.push([
            times.forward_products / times.forward_seconds,
            times.forward_transforms / times.forward_seconds,
        ]);
    }
    let dot = |i: usize, j: usize| rows.iter().map(|r| r[i] * r[j]).sum::<f64>();
    let ([pp, pt, tt], [p1, t1]) = (
        [dot(0, 0), dot(0, 1), dot(1, 1)],
        [0, 1].map(|i| rows.iter().map(|r| r[i]).sum::<f64>()),
    );
    let determinant = pp * tt - pt * pt;
    let product_seconds = (p1 * tt - t1 * pt) / determinant;
    let transform_seconds = (pp * t1 - pt * p1) / determinant;
    println!(
        "kernel stages ({} layers, {} to {} channels): transforms {:.2} GFLOP/s, per-bin \
         products {:.2} GFLOP/s",
        layers.len(),
        layers[0].channels,
        layers[layers.len() - 1].channels,
        1e-9 / transform_seconds,
        1e-9 / product_seconds
    );
    transform_seconds / product_seconds
}

/// Direct convolution's per-flop time on a depthwise layer over its full rate: over that on
/// a dense layer, times the dense layer's modelled slowdown.
fn direct_depthwise_slowdown(dense: &Layer, reps: usize) -> f64 {
    let depthwise = Layer {
        groups: dense.channels,
        ..*dense
    };
    let per_flop = |layer: &Layer| {
        let direct_flops = CostModel::DEFAULT
            .estimate(&layer.geometry())
            .expect("within the spectral budget")
            .direct;
        layer.train_step_seconds(false, reps) / direct_flops
    };
    let dense_slowdown = CostModel::DEFAULT.direct_slowdown(&dense.geometry());
    (per_flop(&depthwise) / per_flop(dense) * dense_slowdown).max(1.0)
}

fn parse_args() -> Result<(usize, usize), String> {
    let (mut reps, mut batch) = (3, 8);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--reps" => &mut reps,
            "--batch" => &mut batch,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        };
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        *target = value.parse().ok().filter(|n| *n > 0).ok_or(format!(
            "{flag}: expected a positive whole number, got {value}"
        ))?;
    }
    Ok((reps, batch))
}

fn main() -> ExitCode {
    let (reps, batch) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let layer = |channels, image, kernel, stride, groups| Layer {
        batch,
        channels,
        image,
        kernel,
        stride,
        groups,
    };
    let mut model = CostModel {
        spectral_flop_scale: 1.0,
        transform_flop_weight: transform_flop_weight(
            &[16, 32, 64, 128].map(|channels| layer(channels, 32, 5, 1, 1)),
            reps,
        ),
        ..CostModel::DEFAULT
    };
    model.direct_step.depthwise = direct_depthwise_slowdown(&layer(32, 32, 3, 1, 1), reps);
    let grid = [
        layer(32, 32, 3, 1, 1),
        layer(32, 32, 5, 1, 1),
        layer(32, 32, 7, 1, 1),
        layer(32, 32, 11, 1, 1),
        layer(16, 64, 3, 1, 1),
        layer(16, 64, 7, 1, 1),
        layer(32, 32, 3, 2, 1),
        layer(32, 32, 7, 2, 1),
        layer(32, 32, 3, 1, 32),
        layer(32, 32, 7, 1, 32),
    ];
    // Measured FFT-over-direct time ratio and the model's at scale 1, per layer.
    let ratios: Vec<(Layer, f64, f64)> = grid
        .iter()
        .map(|layer| {
            let measured =
                layer.train_step_seconds(true, reps) / layer.train_step_seconds(false, reps);
            let modelled = model.spectral_to_direct_time(&layer.geometry());
            (*layer, measured, modelled)
        })
        .collect();
    let log_mean = ratios
        .iter()
        .map(|(_, measured, modelled)| (measured / modelled).ln())
        .sum::<f64>()
        / ratios.len() as f64;
    model.spectral_flop_scale = log_mean.exp();
    // Three significant digits are all the timings carry.
    let round = |v: f64| {
        let scale = 10f64.powi(2 - v.log10().floor() as i32);
        (v * scale).round() / scale
    };
    model.spectral_flop_scale = round(model.spectral_flop_scale);
    model.transform_flop_weight = round(model.transform_flop_weight);
    model.direct_step.depthwise = round(model.direct_step.depthwise);

    println!("\n| layer | FFT speedup | modelled | Auto picks | Auto vs the faster |");
    println!("|---|---:|---:|---|---:|");
    for (layer, measured, modelled) in &ratios {
        let modelled = modelled * model.spectral_flop_scale;
        let fft = model.prefers_fft(&layer.geometry());
        let relative = if fft { 1.0 / measured } else { *measured }.min(1.0);
        let Layer {
            channels,
            image,
            kernel,
            stride,
            groups,
            ..
        } = layer;
        println!(
            "| {channels}ch {image}x{image} k{kernel} s{stride} g{groups} | {:.2}x | {:.2}x | {} \
             | {relative:.2}x |",
            1.0 / measured,
            1.0 / modelled,
            if fft { "FFT" } else { "direct" },
        );
    }
    println!("\n{COST_MODEL_VARIABLE}={model}");
    ExitCode::SUCCESS
}

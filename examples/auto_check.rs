//! Times both algorithms, the FFT and burn's direct convolution, on layers beyond the
//! benchmark grid (Flex, f32) and prints how `Auto` fares on each: the layers of the cost
//! model's test tables `BEYOND_THE_GRID` and `TRANSPOSED_FORWARD`.
//!
//! ```sh
//! cargo run --release --example auto_check                       # all sets, both passes
//! cargo run --release --example auto_check -- --set grouped --forward --reps 5
//! ```
//!
//! Sets ("same" padding but for the transposed ones): `thin` (1 and 3 input channels; 1-D on
//! 4,096 samples, 2-D on 32x32 and 64x64, 3-D on 24^3), `grouped` (depthwise, two outputs per
//! group, 3-D depthwise), `wide` (1-D, 2-D and 3-D layers of 4 to 512 channels), `strided`
//! (2-D, stride 2, 8 to 64 channels), `small-batch` (batches of 1 and 4: 2-D layers of 1 to
//! 256 channels, 1-D filters of 9 to 1,025 taps, 3-D), `transposed` (2-D transposed layers of 1 to 128 input
//! channels, explicit padding). Each time is
//! the fastest of `--reps` calls after one warm-up call; `Auto` decides with the cost model
//! in force (`FFTCONV_COST_MODEL`).

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::module::{conv_transpose2d, conv1d, conv2d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    ConvGeometry, DirectOp, fft_conv_transpose2d, fft_conv1d, fft_conv2d, fft_conv3d,
};
use fftconv_kernels::cost::{CostModel, Passes};

const USAGE: &str = "usage: auto_check [--set thin|grouped|wide|strided|small-batch|transposed|all] \
                     [--forward | --step] [--reps N]";

/// A layer: spatial rank, batch, channels in and out, size of each axis, kernel, groups,
/// stride.
#[derive(Debug, Clone, Copy)]
struct Layer {
    rank: usize,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    size: usize,
    kernel: usize,
    groups: usize,
    stride: usize,
}

impl Layer {
    fn shapes(&self) -> (Vec<usize>, Vec<usize>) {
        let mut x = vec![self.batch, self.in_channels];
        let mut w = vec![self.out_channels, self.in_channels / self.groups];
        x.extend(std::iter::repeat_n(self.size, self.rank));
        w.extend(std::iter::repeat_n(self.kernel, self.rank));
        (x, w)
    }

    fn padding(&self) -> (usize, usize) {
        (self.kernel / 2, self.kernel - 1 - self.kernel / 2)
    }

    fn geometry(&self) -> ConvGeometry {
        let (x, w) = self.shapes();
        let (pad, stride) = (self.padding(), self.stride);
        match self.rank {
            1 => ConvGeometry::new(&x, &w, [stride], [pad], [1], self.groups),
            2 => ConvGeometry::new(&x, &w, [stride; 2], [pad; 2], [1; 2], self.groups),
            _ => ConvGeometry::new(&x, &w, [stride; 3], [pad; 3], [1; 3], self.groups),
        }
        .expect("the sets hold valid layers")
    }

    fn options<const N: usize>(&self) -> ConvOptions<N> {
        ConvOptions::new_with_padding([self.stride; N], [self.padding(); N], [1; N], self.groups)
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (x, w) = self.shapes();
        write!(f, "{}-D x {x:?} w {w:?}", self.rank)?;
        if self.groups > 1 {
            write!(f, " groups {}", self.groups)?;
        }
        if self.stride > 1 {
            write!(f, " stride {}", self.stride)?;
        }
        Ok(())
    }
}

fn layer(
    rank: usize,
    batch: usize,
    (in_channels, out_channels): (usize, usize),
    size: usize,
    kernel: usize,
    groups: usize,
) -> Layer {
    Layer {
        rank,
        batch,
        in_channels,
        out_channels,
        size,
        kernel,
        groups,
        stride: 1,
    }
}

fn thin() -> Vec<Layer> {
    let mut layers = Vec::new();
    for size in [32, 64] {
        for channels in [1, 3].into_iter().flat_map(|c| [(c, 8), (c, 16), (c, 64)]) {
            layers.extend([3, 5, 7].map(|k| layer(2, 16, channels, size, k, 1)));
        }
    }
    for channels in [1, 3].into_iter().flat_map(|c| [(c, 16), (c, 64)]) {
        layers.extend([9, 33, 65].map(|k| layer(1, 16, channels, 4096, k, 1)));
    }
    for channels in [1, 3].into_iter().flat_map(|c| [(c, 1), (c, 8), (c, 16)]) {
        layers.extend([3, 5].map(|k| layer(3, 4, channels, 24, k, 1)));
    }
    layers
}

fn grouped() -> Vec<Layer> {
    let mut layers = Vec::new();
    for (size, c, k) in [
        (28, 32, 3),
        (28, 32, 5),
        (32, 16, 3),
        (32, 16, 7),
        (64, 8, 5),
    ] {
        layers.push(layer(2, 16, (c, c), size, k, c));
        layers.push(layer(2, 16, (c, 2 * c), size, k, c));
    }
    for (c, k) in [(16, 9), (64, 9), (64, 33)] {
        layers.push(layer(1, 16, (c, c), 4096, k, c));
    }
    layers.extend([3, 5].map(|k| layer(3, 4, (8, 8), 24, k, 8)));
    layers
}

fn wide() -> Vec<Layer> {
    let mut layers: Vec<Layer> = [3, 5, 9, 33]
        .map(|k| layer(1, 16, (64, 64), 1024, k, 1))
        .into();
    layers.extend([
        layer(1, 8, (128, 128), 256, 3, 1),
        layer(1, 8, (256, 256), 128, 3, 1),
        layer(1, 16, (32, 32), 4096, 7, 1),
        layer(1, 16, (64, 64), 1024, 1, 1),
        layer(1, 16, (64, 64), 1024, 9, 64),
        layer(2, 16, (128, 128), 16, 3, 1),
        layer(2, 16, (256, 256), 8, 3, 1),
        layer(2, 16, (512, 512), 7, 3, 1),
        layer(2, 16, (256, 256), 14, 3, 1),
        layer(2, 4, (64, 64), 56, 3, 1),
        layer(2, 16, (64, 64), 32, 1, 1),
        layer(2, 16, (3, 32), 32, 3, 1),
        layer(2, 16, (32, 32), 32, 5, 1),
        layer(3, 2, (16, 16), 32, 3, 1),
        layer(3, 4, (8, 8), 16, 3, 1),
        layer(3, 2, (32, 32), 16, 3, 1),
        layer(3, 2, (64, 64), 8, 3, 1),
        layer(3, 1, (4, 4), 32, 3, 1),
        layer(3, 2, (16, 16), 16, 5, 1),
        layer(3, 1, (1, 1), 24, 5, 1),
    ]);
    layers
}

/// Inference and small training batches (1 to 4), where a call's fixed cost (plans, buffers,
/// hand-overs to rayon's threads) weighs most: ResNet-like 2-D layers from the 3-channel stem
/// to 256 channels, 1-D filters of 9 to 1,025 taps, small 3-D layers.
fn small_batch() -> Vec<Layer> {
    let mut layers = Vec::new();
    for (channels, size, kernels) in [
        ((1, 8), 28, [3, 5].as_slice()),
        ((3, 32), 32, &[3, 5, 7]),
        ((3, 64), 224, &[7]),
        ((16, 16), 32, &[3, 5, 7]),
        ((32, 32), 32, &[3, 5]),
        ((64, 64), 56, &[3]),
        ((64, 64), 64, &[5, 7]),
        ((128, 128), 16, &[3]),
        ((256, 256), 14, &[3]),
    ] {
        layers.extend(kernels.iter().map(|&k| layer(2, 1, channels, size, k, 1)));
    }
    for (channels, kernel) in [((3, 32), 3), ((16, 16), 3), ((16, 16), 5), ((64, 64), 3)] {
        layers.push(layer(2, 4, channels, 32, kernel, 1));
    }
    for (channels, size, kernel) in [
        ((1, 1), 16384, 129),
        ((1, 1), 16384, 1025),
        ((1, 16), 4096, 9),
        ((1, 16), 4096, 65),
        ((16, 16), 1024, 9),
        ((16, 16), 1024, 33),
    ] {
        layers.push(layer(1, 1, channels, size, kernel, 1));
    }
    layers.extend([
        layer(3, 1, (1, 8), 32, 3, 1),
        layer(3, 1, (8, 8), 16, 3, 1),
        layer(3, 1, (8, 8), 16, 5, 1),
    ]);
    layers
}

fn strided() -> Vec<Layer> {
    let mut layers = Vec::new();
    for (channels, size) in [(8, 28), (16, 28), (16, 64), (32, 32), (64, 28)] {
        for kernel in [3, 5, 7] {
            let layer = layer(2, 16, (channels, channels), size, kernel, 1);
            layers.push(Layer { stride: 2, ..layer });
        }
    }
    layers
}

/// A 2-D transposed layer, batch 16: input and output channels, input size, kernel, stride,
/// padding.
#[derive(Debug, Clone, Copy)]
struct TransposedLayer {
    input: usize,
    output: usize,
    size: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl TransposedLayer {
    /// The convolution whose input gradient this layer computes: what `Auto` decides on.
    fn convolution(&self) -> ConvGeometry {
        let full = (self.size - 1) * self.stride + self.kernel - 2 * self.padding;
        ConvGeometry::new(
            &[16, self.output, full, full],
            &[self.input, self.output, self.kernel, self.kernel],
            [self.stride; 2],
            [(self.padding, self.padding); 2],
            [1, 1],
            1,
        )
        .expect("the set holds valid layers")
    }

    /// FFT and direct times of `passes` in milliseconds.
    fn time(&self, passes: Passes, reps: usize) -> (f64, f64) {
        let device = Device::flex();
        let random = |shape| Tensor::<4>::random(shape, Distribution::Default, &device);
        let full = (self.size - 1) * self.stride + self.kernel - 2 * self.padding;
        let operands = [
            random([16, self.input, self.size, self.size]),
            random([self.input, self.output, self.kernel, self.kernel]),
            random([16, self.output, full, full]),
        ];
        let options =
            ConvTransposeOptions::new([self.stride; 2], [self.padding; 2], [0, 0], [1, 1], 1);
        let convs = [fft_conv_transpose2d, conv_transpose2d];
        time_both(&operands, convs, options, passes, reps)
    }
}

impl std::fmt::Display for TransposedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (i, o, s, k) = (self.input, self.output, self.size, self.kernel);
        write!(
            f,
            "2-D transposed x [16, {i}, {s}, {s}] w [{i}, {o}, {k}, {k}]"
        )?;
        write!(f, " stride {} padding {}", self.stride, self.padding)
    }
}

fn transposed() -> Vec<TransposedLayer> {
    let channels = [
        (8, 1),
        (16, 1),
        (32, 3),
        (64, 3),
        (16, 16),
        (64, 32),
        (128, 64),
        (32, 8),
        (3, 16),
        (1, 8),
    ];
    let shapes = [
        (16, 4, 2, 1),
        (32, 3, 1, 1),
        (32, 5, 1, 2),
        (32, 7, 1, 3),
        (16, 3, 2, 1),
    ];
    channels
        .into_iter()
        .flat_map(|(input, output)| {
            shapes.map(|(size, kernel, stride, padding)| TransposedLayer {
                input,
                output,
                size,
                kernel,
                stride,
                padding,
            })
        })
        .collect()
}

/// The fastest of `reps` calls of `conv` (after one warm-up call): a forward pass, or a
/// training step (forward and both gradients, through autodiff).
fn fastest_ms<const D: usize>(
    [x, w, dy]: &[Tensor<D>; 3],
    conv: impl Fn(Tensor<D>, Tensor<D>) -> Tensor<D>,
    passes: Passes,
    reps: usize,
) -> f64 {
    let call = || {
        if passes == Passes::FORWARD {
            let _ = conv(x.clone(), w.clone()).into_data();
            return;
        }
        let x = x.clone().autodiff().require_grad();
        let w = w.clone().autodiff().require_grad();
        let loss = (conv(x.clone(), w.clone()) * dy.clone().autodiff()).sum();
        let mut grads = loss.backward();
        for tracked in [x, w] {
            let _ = tracked.grad_remove(&mut grads).map(|g| g.into_data());
        }
    };
    call();
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// FFT and direct times of `layer` in milliseconds.
fn time_layer<const D: usize, const N: usize>(
    layer: &Layer,
    fft: ConvFn<D, ConvOptions<N>>,
    direct: ConvFn<D, ConvOptions<N>>,
    passes: Passes,
    reps: usize,
) -> (f64, f64) {
    let device = Device::flex();
    let (x_shape, w_shape) = layer.shapes();
    let random = |shape: &[usize]| {
        let shape: [usize; D] = shape.try_into().expect("the layer's rank");
        Tensor::<D>::random(shape, Distribution::Default, &device)
    };
    let (x, w) = (random(&x_shape), random(&w_shape));
    let options = layer.options::<N>();
    let dy = random(&direct(x.clone(), w.clone(), None, options.clone()).dims());
    time_both(&[x, w, dy], [fft, direct], options, passes, reps)
}

/// A convolution function of burn's signature: input, weight, bias, options.
type ConvFn<const D: usize, O> = fn(Tensor<D>, Tensor<D>, Option<Tensor<1>>, O) -> Tensor<D>;

/// The fastest times of `fft` and `direct` on `operands` (input, weight, output gradient), in
/// milliseconds.
fn time_both<const D: usize, O: Clone>(
    operands: &[Tensor<D>; 3],
    [fft, direct]: [ConvFn<D, O>; 2],
    options: O,
    passes: Passes,
    reps: usize,
) -> (f64, f64) {
    let time = |conv: ConvFn<D, O>| {
        fastest_ms(
            operands,
            |x, w| conv(x, w, None, options.clone()),
            passes,
            reps,
        )
    };
    (time(fft), time(direct))
}

/// The layers, transposed layers, passes and repetitions the arguments ask for.
type Args = (Vec<Layer>, Vec<TransposedLayer>, Vec<Passes>, usize);

fn parse_args() -> Result<Args, String> {
    let (mut sets, mut passes, mut reps) = (None, vec![Passes::FORWARD, Passes::TRAINING_STEP], 5);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--set" => {
                let set = value()?;
                sets = Some(match set.as_str() {
                    "thin" => (thin(), Vec::new()),
                    "grouped" => (grouped(), Vec::new()),
                    "wide" => (wide(), Vec::new()),
                    "strided" => (strided(), Vec::new()),
                    "small-batch" => (small_batch(), Vec::new()),
                    "transposed" => (Vec::new(), transposed()),
                    "all" => all(),
                    other => return Err(format!("--set: unknown set {other}\n{USAGE}")),
                });
            }
            "--forward" => passes = vec![Passes::FORWARD],
            "--step" => passes = vec![Passes::TRAINING_STEP],
            "--reps" => {
                let text = value()?;
                reps = text.parse().ok().filter(|&n| n > 0).ok_or(format!(
                    "--reps: expected a positive whole number, got {text}"
                ))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let (layers, transposed) = sets.unwrap_or_else(all);
    Ok((layers, transposed, passes, reps))
}

fn all() -> (Vec<Layer>, Vec<TransposedLayer>) {
    (
        [thin(), grouped(), wide(), strided(), small_batch()].concat(),
        transposed(),
    )
}

/// Prints a table row; returns how fast `Auto` ran against the faster of the two.
fn report(
    layer: &dyn std::fmt::Display,
    passes: Passes,
    (fft, direct): (f64, f64),
    picks_fft: bool,
) -> f64 {
    let auto = if picks_fft { fft } else { direct };
    let relative = fft.min(direct) / auto;
    println!(
        "| {layer} | {} | {fft:.2} ms | {direct:.2} ms | {:.2}x | {} | {relative:.2}x |",
        if passes == Passes::FORWARD {
            "forward"
        } else {
            "training step"
        },
        direct / fft,
        if picks_fft { "FFT" } else { "direct" },
    );
    relative
}

fn main() -> ExitCode {
    let (layers, transposed, passes, reps) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let model = CostModel::current();
    println!("| layer | passes | FFT | direct | FFT speedup | Auto picks | Auto vs the faster |");
    println!("|---|---|---:|---:|---:|---|---:|");
    let mut relative_speeds = Vec::new();
    for &passes in &passes {
        for layer in &layers {
            let times = match layer.rank {
                1 => time_layer::<3, 1>(layer, fft_conv1d, conv1d, passes, reps),
                2 => time_layer::<4, 2>(layer, fft_conv2d, conv2d, passes, reps),
                _ => time_layer::<5, 3>(layer, fft_conv3d, conv3d, passes, reps),
            };
            let picks_fft = model.prefers_fft_for(&layer.geometry(), passes);
            relative_speeds.push(report(layer, passes, times, picks_fft));
        }
    }
    for &passes in &passes {
        for layer in &transposed {
            let picks_fft =
                model.prefers_fft_as(&layer.convolution(), passes, DirectOp::Transposed);
            relative_speeds.push(report(layer, passes, layer.time(passes, reps), picks_fft));
        }
    }
    let checked = relative_speeds.len();
    let within = relative_speeds.iter().filter(|&&r| r >= 0.9).count();
    println!("\n`Auto` within 0.9x of the faster in {within} of {checked} cases.");
    ExitCode::SUCCESS
}

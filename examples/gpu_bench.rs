//! FFT convolution against burn's direct convolution on one device, in one process: the
//! training step (forward, `dx` and `dw` through autodiff) and each pass alone, f32, "same"
//! padding, median of synchronized repetitions after warm-up.
//!
//! ```sh
//! cargo run --release --features wgpu --example gpu_bench -- --device wgpu
//! cargo run --release --features wgpu --example gpu_bench -- --device wgpu --size 64 --k 3 7 --reps 3
//! ```
//!
//! The figure is the mean of `--reps` runs issued back to back between two device
//! synchronizations (after the warm-up, where shape-specific compilation and autotuning
//! happen), their checksums (one scalar depending on every result of the pass) accumulated and
//! read at the end. Beside it, `read ms` is the median time of one run until its checksum is
//! read, without a synchronization: on burn 0.22.1's wgpu that read returns before the
//! device has done the work (an H100 "did" a 128x128 k15 direct training step in 0.9 ms, 1.6
//! PFLOP/s), so it is printed only to show the trap. Each line also gives the
//! direct-equivalent FLOP rate (`2 N C F H W k²` per pass) and the largest difference between
//! the two algorithms' results; a direct figure above `--peak-tflops` (the FFT's may pass it:
//! it does fewer operations than the definition counts) or results that differ are not
//! reported as a speedup. `--stages` adds the FFT path's stages alone (each operand's
//! spectrum, each pass's product; on wgpu each contraction's matmul alone, in two layouts),
//! for where a step's time goes. `--volume` times 3-D
//! training steps on cubic volumes instead (`--size 32 --k 3 5 7`, say). `--memory` adds the
//! device memory one training step reserves, FFT and direct. `--stride 2` and `--dilation 2`
//! time strided and dilated layers.

use std::process::ExitCode;
use std::time::Instant;

use burn::backend::Dispatch;
use burn::tensor::module::{conv2d, conv2d_weight_backward, conv3d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    ConvGeometry, ConvPass, FftConvBackend, SpectrumKind, device_named, direct_conv2d_x_backward,
    fft_conv2d, fft_conv2d_weight_backward, fft_conv2d_x_backward, fft_conv3d,
};
use clap::Parser;
use clap::builder::RangedU64ValueParser;

/// FFT convolution against burn's direct convolution on one device: training step and passes.
#[derive(Parser, Debug)]
struct Args {
    /// Device: flex, ndarray or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "wgpu")]
    device: String,
    /// Batch size.
    #[arg(long, default_value_t = 16, value_parser = positive())]
    batch: usize,
    /// Input and output channels.
    #[arg(long, default_value_t = 64, value_parser = positive())]
    channels: usize,
    /// Image sizes (square).
    #[arg(long = "size", num_args = 1.., default_values_t = [64, 128], value_parser = positive())]
    sizes: Vec<usize>,
    /// Kernel sizes (square).
    #[arg(long = "k", num_args = 1.., default_values_t = [3, 5, 7, 15], value_parser = positive())]
    kernels: Vec<usize>,
    /// Stride on every axis (the padding stays "same"'s: half the dilated kernel before, the
    /// rest after).
    #[arg(long, default_value_t = 1, value_parser = positive())]
    stride: usize,
    /// Dilation on every axis.
    #[arg(long, default_value_t = 1, value_parser = positive())]
    dilation: usize,
    /// Untimed steps first (compilation, autotuning).
    #[arg(long, default_value_t = 3, value_parser = positive())]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10, value_parser = positive())]
    reps: usize,
    /// The device's peak rate: an H100's fp32 rate without tensor cores by default.
    #[arg(long, default_value_t = 67.0)]
    peak_tflops: f64,
    /// Seconds of untimed training steps of the first geometry before any timing, for a GPU
    /// that raises its clocks under load: on an H100, after a 5-step warm-up alone, the first
    /// geometry's training step read 14.9 ms where its three passes timed next took 6.6 ms in
    /// all.
    #[arg(long, default_value_t = 3.0)]
    settle_seconds: f64,
    /// Also time the stages of the FFT path alone: each operand's spectrum and each pass's
    /// product (contraction and inverse transform), from spectra made beforehand.
    #[arg(long)]
    stages: bool,
    /// Cubic volumes and 3-D kernels instead of square images and kernels: the training step
    /// alone (`fft_conv3d` against burn's `conv3d`).
    #[arg(long, conflicts_with = "stages")]
    volume: bool,
    /// Also report the device memory one training step reserves, FFT and direct: the growth
    /// of the allocator's reserved bytes over a step run after a warm-up step and a memory
    /// cleanup (the operands excluded; on a device that reports its pools).
    #[arg(long)]
    memory: bool,
}

/// A parser of whole numbers from 1 up.
fn positive() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

/// One measured geometry: `channels` in and out, square (or cubic: `rank` 3) image and
/// kernel, "same" padding, `stride` and `dilation` on every axis.
struct Case {
    batch: usize,
    channels: usize,
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    rank: u32,
}

impl Case {
    fn options<const R: usize>(&self) -> ConvOptions<R> {
        let span = self.dilation * (self.kernel - 1);
        let pad = (span / 2, span - span / 2);
        ConvOptions::new_with_padding([self.stride; R], [pad; R], [self.dilation; R], 1)
    }

    /// Output length per axis: the "same" padding keeps `size` stride-1 outputs.
    fn output(&self) -> usize {
        (self.size - 1) / self.stride + 1
    }

    /// Multiply-adds of one direct pass, times two.
    fn pass_flop(&self) -> f64 {
        let (n, c) = (self.batch, self.channels);
        let (o, k) = (self.output().pow(self.rank), self.kernel.pow(self.rank));
        2.0 * (n * c * c * o * k) as f64
    }

    /// The label of its size: `64x64`, `32x32x32`.
    fn size_label(&self) -> String {
        vec![self.size.to_string(); self.rank as usize].join("x")
    }
}

/// `x`, `weight`, `dy`.
struct Operands([Tensor<4>; 3]);

/// The operands of one geometry: images, or volumes (`x`, `weight`, `dy`) for `--volume`.
enum Inputs {
    Images(Operands),
    Volumes([Tensor<5>; 3]),
}

/// A random tensor of `shape` on `device`.
fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Default, device)
}

/// A pass: returns every result it computes.
type Pass = fn(&Case, &Operands, bool) -> Vec<Tensor<4>>;

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

/// The convolution under test: this crate's, or burn's direct one.
fn convolution(fft: bool) -> Conv {
    if fft { fft_conv2d } else { conv2d }
}

fn forward(case: &Case, Operands([x, w, _]): &Operands, fft: bool) -> Vec<Tensor<4>> {
    vec![convolution(fft)(x.clone(), w.clone(), None, case.options())]
}

fn input_grad(case: &Case, Operands([x, w, dy]): &Operands, fft: bool) -> Vec<Tensor<4>> {
    let conv_x_backward = if fft {
        fft_conv2d_x_backward
    } else {
        direct_conv2d_x_backward
    };
    vec![conv_x_backward(
        x.clone(),
        w.clone(),
        dy.clone(),
        case.options(),
    )]
}

fn weight_grad(case: &Case, Operands([x, w, dy]): &Operands, fft: bool) -> Vec<Tensor<4>> {
    let conv_weight_backward = if fft {
        fft_conv2d_weight_backward
    } else {
        conv2d_weight_backward
    };
    vec![conv_weight_backward(
        x.clone(),
        w.clone(),
        dy.clone(),
        case.options(),
    )]
}

/// Forward and backward through autodiff of `conv` with `x` and the weight tracked: the loss
/// and both gradients.
fn autodiff_step<const D: usize>(
    [x, w, dy]: &[Tensor<D>; 3],
    conv: impl Fn(Tensor<D>, Tensor<D>) -> Tensor<D>,
) -> [Tensor<D>; 3] {
    let x = x.clone().autodiff().require_grad();
    let w = w.clone().autodiff().require_grad();
    let loss = (conv(x.clone(), w.clone()) * dy.clone().autodiff()).sum();
    let grads = loss.backward();
    [
        loss.inner().reshape([1; D]),
        x.grad(&grads).expect("x is tracked"),
        w.grad(&grads).expect("the weight is tracked"),
    ]
}

/// The training step of `case` (forward and backward through autodiff).
fn train_step(case: &Case, Operands(operands): &Operands, fft: bool) -> Vec<Tensor<4>> {
    let options = case.options();
    autodiff_step(operands, |x, w| {
        convolution(fft)(x, w, None, options.clone())
    })
    .to_vec()
}

/// The 3-D training step of `case` on `volumes` (`x`, `weight`, `dy`), its results as 4-D
/// tensors.
fn volume_train_step(case: &Case, volumes: &[Tensor<5>; 3], fft: bool) -> Vec<Tensor<4>> {
    let options = case.options();
    let conv = if fft { fft_conv3d } else { conv3d };
    autodiff_step(volumes, |x, w| conv(x, w, None, options.clone()))
        .map(|t| t.flatten::<4>(3, 4))
        .to_vec()
}

/// The spectral stages of the FFT path for `case`, each on operands made beforehand: name and
/// a run returning its result (spectra as 4-D tensors); with `device_spectra` (a CubeCL
/// device's tile spectra), its contractions alone in several layouts too.
fn stages(
    case: &Case,
    Operands([x, w, dy]): &Operands,
    device_spectra: bool,
) -> Vec<(&'static str, StageRun)> {
    let options = case.options::<2>();
    let geometry = ConvGeometry::new(
        &x.dims(),
        &w.dims(),
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
    .expect("a valid geometry");
    let spectrum = move |t: &Tensor<4>, kind: SpectrumKind| {
        Tensor::<5>::from_dispatch(<Dispatch as FftConvBackend>::fft_conv_spectrum(
            t.clone().into_dispatch(),
            kind,
            geometry,
        ))
    };
    // Host backends hold a spectrum in fewer dimensions than a device's five.
    let flat = |t: Tensor<5>| t.reshape([1, 1, 1, -1]);
    let [x_hat, w_hat, dy_hat] = [
        (x, SpectrumKind::Input),
        (w, SpectrumKind::Weight),
        (dy, SpectrumKind::OutputGrad),
    ]
    .map(|(t, kind)| spectrum(t, kind));
    let product = move |lhs: &Tensor<5>, rhs: &Tensor<5>, pass: ConvPass| {
        Tensor::<4>::from_dispatch(<Dispatch as FftConvBackend>::fft_conv_product(
            lhs.clone().into_dispatch(),
            rhs.clone().into_dispatch(),
            pass,
            geometry,
        ))
    };
    let mut runs: Vec<(&'static str, StageRun)> = Vec::new();
    for (name, t, kind) in [
        ("x spectrum", x.clone(), SpectrumKind::Input),
        ("w spectrum", w.clone(), SpectrumKind::Weight),
        ("dy spectrum", dy.clone(), SpectrumKind::OutputGrad),
    ] {
        runs.push((name, Box::new(move || vec![flat(spectrum(&t, kind))])));
    }
    for (name, lhs, rhs, pass) in [
        ("y product", &x_hat, &w_hat, ConvPass::Forward),
        ("dx product", &dy_hat, &w_hat, ConvPass::InputGrad),
        ("dw product", &dy_hat, &x_hat, ConvPass::WeightGrad),
    ] {
        let (lhs, rhs) = (lhs.clone(), rhs.clone());
        runs.push((name, Box::new(move || vec![product(&lhs, &rhs, pass)])));
    }
    if device_spectra {
        runs.extend(contraction_layouts(&x_hat, &w_hat, &dy_hat));
    }
    runs
}

/// The contractions of a device's spectra alone (burn's batched matmul, no transform), each
/// in the operand layout the products use and with its operands' roles swapped (the
/// transposed result, `B^T A^T`), for the layout burn's matmul runs fastest: spectra
/// `[groups, bins, rows, 2, columns]`, the weight's real form `[groups, bins, 2, out, 2 in]`.
fn contraction_layouts(
    x_hat: &Tensor<5>,
    w_hat: &Tensor<5>,
    dy_hat: &Tensor<5>,
) -> Vec<(&'static str, StageRun)> {
    let [groups, bins, _, two, columns] = x_hat.dims();
    let out = dy_hat.dims()[4];
    if two != 2 || w_hat.dims() != [groups, bins, 2, out, 2 * columns] {
        // Not the tile kernels' spectra (the composed path's, for kernels wider than a tile).
        return Vec::new();
    }
    let rows = |t: &Tensor<5>| t.clone().flatten::<4>(3, 4);
    let weight = w_hat.clone().flatten::<4>(2, 3);
    let (x, dy) = (rows(x_hat), rows(dy_hat));
    let t = |m: &Tensor<4>| m.clone().swap_dims(2, 3);
    let products: [(&'static str, Tensor<4>, Tensor<4>); 6] = [
        ("y mm X.W^T", x.clone(), t(&weight)),
        ("y mm W.X^T", weight.clone(), t(&x)),
        ("dx mm dY.W", dy.clone(), weight.clone()),
        ("dx mm W^T.dY^T", t(&weight), t(&dy)),
        ("dw mm dY^T.X", t(&dy), x.clone()),
        ("dw mm X^T.dY", t(&x), dy.clone()),
    ];
    products
        .into_iter()
        .map(|(name, lhs, rhs)| -> (&'static str, StageRun) {
            (
                name,
                Box::new(move || vec![lhs.clone().matmul(rhs.clone())]),
            )
        })
        .collect()
}

/// A timed pass, ready to run through the FFT (`true`) or directly.
type AlgorithmRun<'a> = Box<dyn Fn(bool) -> Vec<Tensor<4>> + 'a>;

/// A stage of [`stages`], ready to run.
type StageRun = Box<dyn Fn() -> Vec<Tensor<4>>>;

/// One scalar that depends on every element of every result.
fn checksum(results: Vec<Tensor<4>>) -> Tensor<1> {
    results
        .into_iter()
        .map(Tensor::sum)
        .reduce(|a, b| a + b)
        .expect("a pass returns a result")
}

/// Median wall time of `reps` runs after `warmup` runs, each until its checksum is read,
/// without synchronizing the device: what a naive benchmark measures.
fn read_seconds(run: impl Fn() -> Vec<Tensor<4>>, warmup: usize, reps: usize) -> f64 {
    for _ in 0..warmup {
        checksum(run()).into_data();
    }
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            checksum(run()).into_data();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Mean wall time of `reps` runs issued back to back, their checksums accumulated and read
/// once, between two synchronizations of the whole device: the work itself.
fn synced_seconds(run: impl Fn() -> Vec<Tensor<4>>, device: &Device, reps: usize) -> f64 {
    device.sync().expect("the device synchronizes");
    let start = Instant::now();
    let total = (0..reps)
        .map(|_| checksum(run()))
        .reduce(|a, b| a + b)
        .expect("at least one repetition");
    total.into_data();
    device.sync().expect("the device synchronizes");
    start.elapsed().as_secs_f64() / reps as f64
}

/// The bytes the device allocator reserves beyond what it held before `run`, run once after a
/// warm-up run (compilation, autotuning) and a memory cleanup, while its results live: with
/// pages kept for reuse, what the run needed at its peak. `None` where the device does not
/// report its allocator.
fn reserved_bytes(run: impl Fn() -> Vec<Tensor<4>>, device: &Device) -> Option<u64> {
    checksum(run()).into_data();
    let settled_reserve = || {
        device.sync().expect("the device synchronizes");
        device.memory_cleanup();
        device.sync().expect("the device synchronizes");
        device.memory_pool_usage().map(|usage| usage.bytes_reserved)
    };
    let before = settled_reserve()?;
    let results = run();
    device.sync().expect("the device synchronizes");
    let after = device.memory_pool_usage()?.bytes_reserved;
    drop(results);
    Some(after.saturating_sub(before))
}

/// `bytes` in MiB, or `n/a`.
fn mebibytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "n/a".into(),
        |b| format!("{:.1} MiB", b as f64 / 1048576.0),
    )
}

/// The largest difference between two algorithms' results relative to the largest magnitude
/// of the second's, after the timed runs: a timing of wrong values is no timing.
fn relative_difference(results: Vec<Tensor<4>>, reference: Vec<Tensor<4>>) -> f64 {
    results
        .into_iter()
        .zip(reference)
        .map(|(got, expected)| {
            let scale = expected.clone().abs().max().into_scalar::<f64>();
            let difference = (got - expected).abs().max().into_scalar::<f64>();
            if scale > 0.0 {
                difference / scale
            } else {
                difference
            }
        })
        .fold(0.0, f64::max)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.peak_tflops > 0.0 && args.peak_tflops.is_finite()) {
        eprintln!(
            "--peak-tflops must be a positive number, got {}",
            args.peak_tflops
        );
        return ExitCode::FAILURE;
    }
    let device = match device_named(&args.device) {
        Ok(device) => device,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "device {device:?}, f32, batch {}, {} -> {} channels; ms = mean of {} runs back to back \
         between device synchronizations, after {} warm-up; stride {}, dilation {}; rate = \
         direct-equivalent FLOP / time, peak {} TFLOP/s; read ms = median time until a result \
         is read, unsynchronized",
        args.batch,
        args.channels,
        args.channels,
        args.reps,
        args.warmup,
        args.stride,
        args.dilation,
        args.peak_tflops,
    );
    println!(
        "{:>9} {:>3} {:>12} {:>10} {:>10} {:>8} {:>12} {:>12} {:>9} {:>12} {:>12}",
        "size",
        "k",
        "pass",
        "fft ms",
        "direct ms",
        "speedup",
        "fft GFLOP/s",
        "dir GFLOP/s",
        "rel diff",
        "fft read ms",
        "dir read ms"
    );
    let passes: [(&str, Pass, f64); 4] = [
        ("train_step", train_step, 3.0),
        ("forward", forward, 1.0),
        ("input_grad", input_grad, 1.0),
        ("weight_grad", weight_grad, 1.0),
    ];
    let mut suspect = 0;
    let mut settled = false;
    for &size in &args.sizes {
        for &kernel in &args.kernels {
            let case = Case {
                batch: args.batch,
                channels: args.channels,
                size,
                kernel,
                stride: args.stride,
                dilation: args.dilation,
                rank: if args.volume { 3 } else { 2 },
            };
            let (n, c, o) = (args.batch, args.channels, case.output());
            let inputs = if args.volume {
                Inputs::Volumes([
                    random([n, c, size, size, size], &device),
                    random([c, c, kernel, kernel, kernel], &device),
                    random([n, c, o, o, o], &device),
                ])
            } else {
                Inputs::Images(Operands([
                    random([n, c, size, size], &device),
                    random([c, c, kernel, kernel], &device),
                    random([n, c, o, o], &device),
                ]))
            };
            let step = |fft: bool| match &inputs {
                Inputs::Volumes(volumes) => volume_train_step(&case, volumes, fft),
                Inputs::Images(operands) => train_step(&case, operands, fft),
            };
            // The first geometry's timings are taken twice and the first set dropped: on an
            // H100 its training step read 10.2 ms (FFT) and 10.3 ms (direct) at 64x64 k3 after
            // the settling below, where its three passes timed next took 5.8 ms and 7.9 ms.
            let rounds = if settled { 1 } else { 2 };
            if !settled {
                let start = Instant::now();
                while start.elapsed().as_secs_f64() < args.settle_seconds {
                    for fft in [true, false] {
                        checksum(step(fft)).into_data();
                        device.sync().expect("the device synchronizes");
                    }
                }
                settled = true;
            }
            if args.memory {
                let reserved = [true, false].map(|fft| reserved_bytes(|| step(fft), &device));
                let ratio = match reserved {
                    [Some(fft), Some(direct)] if direct > 0 => {
                        format!("{:.2}x", fft as f64 / direct as f64)
                    }
                    _ => "n/a".into(),
                };
                println!(
                    "{:>9} {kernel:>3} {:>12} {} (FFT) against {} (direct): {ratio}",
                    case.size_label(),
                    "step memory",
                    mebibytes(reserved[0]),
                    mebibytes(reserved[1]),
                );
            }
            let timed: Vec<(&str, AlgorithmRun, f64)> = match &inputs {
                Inputs::Volumes(_) => vec![("train_step", Box::new(step), 3.0)],
                Inputs::Images(operands) => passes
                    .iter()
                    .map(|&(name, pass, passes_in_flop)| {
                        let case = &case;
                        let run: AlgorithmRun = Box::new(move |fft| pass(case, operands, fft));
                        (name, run, passes_in_flop)
                    })
                    .collect(),
            };
            for (round, (name, run, passes_in_flop)) in
                (0..rounds).flat_map(|round| timed.iter().map(move |entry| (round, entry)))
            {
                let [fft_read, direct_read] =
                    [true, false].map(|fft| read_seconds(|| run(fft), args.warmup, args.reps));
                let [fft, direct] =
                    [true, false].map(|fft| synced_seconds(|| run(fft), &device, args.reps));
                if round + 1 < rounds {
                    continue;
                }
                let difference = relative_difference(run(true), run(false));
                let flop = passes_in_flop * case.pass_flop();
                let [fft_rate, direct_rate] = [fft, direct].map(|t| flop / t / 1e9);
                let peak = args.peak_tflops * 1e3;
                // The FFT does fewer operations than the direct definition counts: its rate
                // may pass the peak; the direct one may not.
                let speedup = if difference > 1e-3 {
                    suspect += 1;
                    "results differ: not a real timing".into()
                } else if direct_rate <= peak {
                    format!("{:.2}x", direct / fft)
                } else {
                    suspect += 1;
                    "above peak: not a real timing".into()
                };
                println!(
                    "{:>9} {kernel:>3} {name:>12} {:>10.3} {:>10.3} {speedup:>8} {fft_rate:>12.1} \
                     {direct_rate:>12.1} {difference:>9.1e} {:>12.3} {:>12.3}",
                    case.size_label(),
                    fft * 1e3,
                    direct * 1e3,
                    fft_read * 1e3,
                    direct_read * 1e3,
                );
            }
            if let (true, Inputs::Images(operands)) = (args.stages, &inputs) {
                for (name, run) in stages(&case, operands, args.device == "wgpu") {
                    for _ in 0..args.warmup {
                        checksum(run()).into_data();
                    }
                    let seconds = synced_seconds(&run, &device, args.reps);
                    println!(
                        "{:>9} {kernel:>3} {name:>12} {:>10.3}",
                        case.size_label(),
                        seconds * 1e3
                    );
                }
            }
        }
    }
    if suspect > 0 {
        eprintln!(
            "{suspect} timings exceed the stated peak or time results that differ by more than \
             1e-3: they are not reported as speedups"
        );
    }
    ExitCode::SUCCESS
}

//! How `ConvAlgorithm::Tuned` fares where `Auto`'s cost model misses most, on Flex (or the
//! `--device` named), forward passes and training steps: 2-D layers at batches of 1 and 4 (`auto_check --set
//! small-batch`'s), thin 2-D layers at batch 16, and the 1-D, 3-D and stride-2 layers the cost
//! model's tests name as `Auto`'s misses. For each layer, a layer of this crate with `Tuned`
//! runs its first call (which times both algorithms), then it is timed with `Fft`, `Direct` and
//! `Tuned`, alternately, the fastest of `--reps` calls each; the table says what `Tuned` and
//! `Auto` picked and how fast the pick runs against the faster of the two.
//!
//! ```sh
//! cargo run --release --example tuned_check -- --reps 10
//! cargo run --release --features wgpu --example tuned_check -- --device wgpu --reps 3
//! ```

use std::process::ExitCode;
use std::time::Instant;

use burn::nn::{PaddingConfig1d, PaddingConfig2d, PaddingConfig3d};
use burn::tensor::{DType, Device, Distribution, Tensor};
use burn_fftconv::{
    ConvAlgorithm, ConvGeometry, DirectOp, FftConv1d, FftConv1dConfig, FftConv2d, FftConv2dConfig,
    FftConv3d, FftConv3dConfig, Passes, auto_algorithm, device_named, tuned_algorithm,
};

/// A layer ("same" padding): spatial rank, batch, input and output channels, size of each
/// axis, kernel, stride.
#[derive(Clone, Copy)]
struct Layer {
    rank: usize,
    batch: usize,
    channels: (usize, usize),
    size: usize,
    kernel: usize,
    stride: usize,
}

const fn layer(
    rank: usize,
    batch: usize,
    channels: (usize, usize),
    size: usize,
    kernel: usize,
) -> Layer {
    Layer {
        rank,
        batch,
        channels,
        size,
        kernel,
        stride: 1,
    }
}

/// `auto_check --set small-batch`'s 2-D layers, thin 2-D layers at batch 16, and the layers
/// of the cost model's tests where `Auto` is known to miss (1-D, 3-D, stride 2).
const LAYERS: [Layer; 27] = [
    layer(2, 1, (1, 8), 28, 3),
    layer(2, 1, (1, 8), 28, 5),
    layer(2, 1, (3, 32), 32, 3),
    layer(2, 1, (3, 32), 32, 5),
    layer(2, 1, (3, 32), 32, 7),
    layer(2, 1, (16, 16), 32, 3),
    layer(2, 1, (16, 16), 32, 5),
    layer(2, 1, (32, 32), 32, 3),
    layer(2, 1, (32, 32), 32, 5),
    layer(2, 1, (64, 64), 56, 3),
    layer(2, 1, (128, 128), 16, 3),
    layer(2, 1, (256, 256), 14, 3),
    layer(2, 4, (3, 32), 32, 3),
    layer(2, 4, (16, 16), 32, 3),
    layer(2, 4, (64, 64), 32, 3),
    layer(2, 16, (3, 16), 32, 3),
    layer(2, 16, (3, 64), 32, 5),
    layer(2, 16, (1, 16), 64, 7),
    layer(2, 16, (1, 16), 32, 7),
    layer(2, 16, (1, 64), 32, 7),
    Layer {
        stride: 2,
        ..layer(2, 16, (16, 16), 64, 3)
    },
    layer(1, 16, (64, 64), 1024, 3),
    layer(1, 1, (1, 1), 16384, 129),
    layer(1, 1, (1, 16), 4096, 65),
    layer(3, 4, (1, 16), 24, 3),
    layer(3, 2, (64, 64), 8, 3),
    layer(3, 1, (8, 8), 16, 3),
];

impl Layer {
    /// The convolution as `tuned_algorithm` and `Auto` know it (a 1-D one as its 2-D form).
    fn geometry(&self) -> ConvGeometry {
        let (input, output) = self.channels;
        let (k, pad) = (
            self.kernel,
            (self.kernel / 2, self.kernel - 1 - self.kernel / 2),
        );
        let spatial = |value: usize, unit: usize| match self.rank {
            1 => vec![unit, value],
            2 => vec![value; 2],
            _ => vec![value; 3],
        };
        let x: Vec<usize> = [self.batch, input]
            .into_iter()
            .chain(spatial(self.size, 1))
            .collect();
        let w: Vec<usize> = [output, input].into_iter().chain(spatial(k, 1)).collect();
        match self.rank {
            1 => ConvGeometry::new(&x, &w, [1, self.stride], [(0, 0), pad], [1, 1], 1),
            2 => ConvGeometry::new(&x, &w, [self.stride; 2], [pad; 2], [1, 1], 1),
            _ => ConvGeometry::new(&x, &w, [self.stride; 3], [pad; 3], [1; 3], 1),
        }
        .expect("valid layers")
    }

    fn describe(&self) -> String {
        let (input, output) = self.channels;
        let side = vec![self.size.to_string(); self.rank].join("x");
        let stride = if self.stride > 1 {
            format!(" stride {}", self.stride)
        } else {
            String::new()
        };
        format!(
            "{}-D n{} {input}->{output} {side} k{}{stride}",
            self.rank, self.batch, self.kernel
        )
    }

    /// The fastest FFT, direct and `Tuned` calls (milliseconds) and the first `Tuned` call.
    fn time(&self, passes: Passes, device: &Device, reps: usize) -> [f64; 4] {
        let (input, output) = self.channels;
        let (k, s, pad) = (self.kernel, self.stride, self.kernel / 2);
        let tuned = ConvAlgorithm::Tuned;
        let mut shape = vec![self.batch, input];
        shape.extend(std::iter::repeat_n(self.size, self.rank));
        match self.rank {
            1 => race(
                FftConv1dConfig::new(input, output, k)
                    .with_stride(s)
                    .with_padding(PaddingConfig1d::Explicit(pad, k - 1 - pad))
                    .with_algorithm(tuned)
                    .init(device),
                random(&shape, device),
                passes,
                reps,
            ),
            2 => race(
                FftConv2dConfig::new([input, output], [k, k])
                    .with_stride([s, s])
                    .with_padding(PaddingConfig2d::Explicit(
                        pad,
                        pad,
                        k - 1 - pad,
                        k - 1 - pad,
                    ))
                    .with_algorithm(tuned)
                    .init(device),
                random(&shape, device),
                passes,
                reps,
            ),
            _ => race(
                FftConv3dConfig::new([input, output], [k; 3])
                    .with_stride([s; 3])
                    .with_padding(PaddingConfig3d::Same)
                    .with_algorithm(tuned)
                    .init(device),
                random(&shape, device),
                passes,
                reps,
            ),
        }
    }
}

fn random<const D: usize>(shape: &[usize], device: &Device) -> Tensor<D> {
    let shape: [usize; D] = shape.try_into().expect("the layer's rank");
    Tensor::random(shape, Distribution::Default, device)
}

/// A layer of this crate as the race needs it, for each rank.
trait TunedLayer<const D: usize>: Clone {
    fn run(&self, x: Tensor<D>) -> Tensor<D>;
    fn weight(&self) -> Tensor<D>;
    fn by(self, algorithm: ConvAlgorithm) -> Self;
}

macro_rules! tuned_layer {
    ($($layer:ty => $rank:literal),*) => {$(
        impl TunedLayer<$rank> for $layer {
            fn run(&self, x: Tensor<$rank>) -> Tensor<$rank> {
                self.forward(x)
            }
            fn weight(&self) -> Tensor<$rank> {
                self.weight.val()
            }
            fn by(self, algorithm: ConvAlgorithm) -> Self {
                self.with_algorithm(algorithm)
            }
        }
    )*};
}

tuned_layer!(FftConv1d => 3, FftConv2d => 4, FftConv3d => 5);

/// The first call of the `Tuned` layer, then the fastest of `reps` calls of it and of the same
/// layer by FFT and directly, alternately: `[fft, direct, tuned, first]` in milliseconds.
fn race<const D: usize, L: TunedLayer<D>>(
    tuned: L,
    x: Tensor<D>,
    passes: Passes,
    reps: usize,
) -> [f64; 4] {
    let first = milliseconds(|| call(&tuned, &x, passes));
    let [fft, direct] = [ConvAlgorithm::Fft, ConvAlgorithm::Direct].map(|a| tuned.clone().by(a));
    let mut fastest = [f64::INFINITY; 3];
    for _ in 0..reps {
        for (best, layer) in fastest.iter_mut().zip([&fft, &direct, &tuned]) {
            *best = best.min(milliseconds(|| call(layer, &x, passes)));
        }
    }
    [fastest[0], fastest[1], fastest[2], first]
}

/// One call of `layer` on `x`: the forward pass, and for a training step the backward pass
/// of its output's sum, both gradients read back.
fn call<const D: usize, L: TunedLayer<D>>(layer: &L, x: &Tensor<D>, passes: Passes) {
    if passes == Passes::FORWARD {
        let _ = layer.run(x.clone()).into_data();
        return;
    }
    let x = x.clone().require_grad();
    let mut grads = layer.run(x.clone()).sum().backward();
    for tracked in [x, layer.weight()] {
        let _ = tracked.grad_remove(&mut grads).map(|g| g.into_data());
    }
}

fn milliseconds(run: impl FnOnce()) -> f64 {
    let start = Instant::now();
    run();
    start.elapsed().as_secs_f64() * 1e3
}

fn name(fft: bool) -> &'static str {
    if fft { "FFT" } else { "direct" }
}

const USAGE: &str = "usage: tuned_check [--device flex|ndarray|wgpu|wgpu:N] [--reps N]";

/// The device and the repetitions the arguments ask for (Flex and 10 by default).
fn parse_args() -> Result<(Device, usize), String> {
    let (mut device, mut reps) = (Device::flex(), 10);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--device" => device = device_named(&value)?,
            "--reps" => {
                reps = value.parse().ok().filter(|&reps| reps > 0).ok_or(format!(
                    "--reps: expected a positive whole number, got {value}"
                ))?
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok((device, reps))
}

fn main() -> ExitCode {
    let (device, reps) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "| layer | passes | FFT | direct | Tuned | its first call | Tuned picks | vs the faster \
         | Auto picks | vs the faster |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---|---:|");
    let (mut tuned_hits, mut auto_hits, mut cases) = (0, 0, 0);
    for passes in [Passes::FORWARD, Passes::TRAINING_STEP] {
        let device = if passes == Passes::FORWARD {
            device.clone()
        } else {
            device.clone().autodiff()
        };
        for layer in LAYERS {
            let [fft, direct, tuned_ms, first] = layer.time(passes, &device, reps);
            let geometry = layer.geometry();
            let pick = tuned_algorithm(
                &geometry,
                passes,
                DirectOp::Convolution,
                &device,
                DType::F32,
            );
            let tuned_fft = pick == Some(ConvAlgorithm::Fft);
            let auto_fft = auto_algorithm(&geometry, passes, DirectOp::Convolution, &device)
                == ConvAlgorithm::Fft;
            let faster = fft.min(direct);
            let of = |picks_fft: bool| faster / if picks_fft { fft } else { direct };
            let (tuned_speed, auto_speed) = (of(tuned_fft), of(auto_fft));
            cases += 1;
            tuned_hits += usize::from(tuned_speed >= 0.9);
            auto_hits += usize::from(auto_speed >= 0.9);
            println!(
                "| {} | {} | {fft:.2} ms | {direct:.2} ms | {tuned_ms:.2} ms | {first:.1} ms | {} \
                 | {tuned_speed:.2}x | {} | {auto_speed:.2}x |",
                layer.describe(),
                if passes == Passes::FORWARD {
                    "forward"
                } else {
                    "training step"
                },
                name(tuned_fft),
                name(auto_fft),
            );
        }
    }
    println!(
        "\nWithin 0.9x of the faster: `Tuned` in {tuned_hits} of {cases} cases, `Auto` in \
         {auto_hits}."
    );
    ExitCode::SUCCESS
}

//! How `ConvAlgorithm::Tuned` fares where `Auto`'s cost model misses most: 2-D layers at
//! batches of 1 and 4 (`auto_check --set small-batch`'s) and thin layers at batch 16, on Flex,
//! forward passes and training steps. For each layer an `FftConv2d` with `Tuned` runs its
//! first call (which times both algorithms), then the layer is timed with `Fft`, `Direct` and
//! `Tuned`, alternately, the fastest of `--reps` calls each; the table says what `Tuned` and
//! `Auto` picked and how fast the pick runs against the faster of the two.
//!
//! ```sh
//! cargo run --release --example tuned_check -- --reps 10
//! ```

use std::process::ExitCode;
use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, Device, Distribution, Tensor};
use burn_fftconv::{
    ConvAlgorithm, ConvGeometry, DirectOp, FftConv2d, FftConv2dConfig, Passes, prefers_fft_as,
    tuned_algorithm,
};

/// Batch, input and output channels, image side, kernel side ("same" padding).
type Layer = (usize, usize, usize, usize, usize);

const LAYERS: [Layer; 18] = [
    (1, 1, 8, 28, 3),
    (1, 1, 8, 28, 5),
    (1, 3, 32, 32, 3),
    (1, 3, 32, 32, 5),
    (1, 3, 32, 32, 7),
    (1, 16, 16, 32, 3),
    (1, 16, 16, 32, 5),
    (1, 32, 32, 32, 3),
    (1, 32, 32, 32, 5),
    (1, 64, 64, 56, 3),
    (1, 128, 128, 16, 3),
    (1, 256, 256, 14, 3),
    (4, 3, 32, 32, 3),
    (4, 16, 16, 32, 3),
    (4, 64, 64, 32, 3),
    (16, 3, 16, 32, 3),
    (16, 3, 64, 32, 5),
    (16, 1, 16, 64, 7),
];

/// One call of `layer` on `x`: the forward pass, and for a training step the backward pass of
/// its output's sum, both gradients read back.
fn call(layer: &FftConv2d, x: &Tensor<4>, passes: Passes) {
    if passes == Passes::FORWARD {
        let _ = layer.forward(x.clone()).into_data();
        return;
    }
    let x = x.clone().require_grad();
    let mut grads = layer.forward(x.clone()).sum().backward();
    for tracked in [x, layer.weight.val()] {
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

fn parse_reps() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => Ok(10),
        (Some("--reps"), Some(text), None) => text.parse().ok().filter(|&reps| reps > 0).ok_or(
            format!("--reps: expected a positive whole number, got {text}"),
        ),
        _ => Err("usage: tuned_check [--reps N]".into()),
    }
}

fn main() -> ExitCode {
    let reps = match parse_reps() {
        Ok(reps) => reps,
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
            Device::flex()
        } else {
            Device::flex().autodiff()
        };
        for (batch, input, output, size, kernel) in LAYERS {
            let tuned = FftConv2dConfig::new([input, output], [kernel, kernel])
                .with_padding(PaddingConfig2d::Same)
                .with_algorithm(ConvAlgorithm::Tuned)
                .init(&device);
            let x = Tensor::<4>::random([batch, input, size, size], Distribution::Default, &device);
            let first = milliseconds(|| call(&tuned, &x, passes));
            let pad = (kernel / 2, kernel - 1 - kernel / 2);
            let geometry = ConvGeometry::new(
                &[batch, input, size, size],
                &[output, input, kernel, kernel],
                [1, 1],
                [pad; 2],
                [1, 1],
                1,
            )
            .expect("valid layers");
            let tuned_fft = tuned_algorithm(
                &geometry,
                passes,
                DirectOp::Convolution,
                &device,
                DType::F32,
            ) == Some(ConvAlgorithm::Fft);
            let auto_fft = prefers_fft_as(&geometry, passes, DirectOp::Convolution);
            let layers = [ConvAlgorithm::Fft, ConvAlgorithm::Direct]
                .map(|algorithm| tuned.clone().with_algorithm(algorithm));
            let mut fastest = [f64::INFINITY; 3];
            for _ in 0..reps {
                for (best, layer) in fastest.iter_mut().zip([&layers[0], &layers[1], &tuned]) {
                    *best = best.min(milliseconds(|| call(layer, &x, passes)));
                }
            }
            let [fft, direct, tuned_ms] = fastest;
            let faster = fft.min(direct);
            let of = |picks_fft: bool| faster / if picks_fft { fft } else { direct };
            let (tuned_speed, auto_speed) = (of(tuned_fft), of(auto_fft));
            cases += 1;
            tuned_hits += usize::from(tuned_speed >= 0.9);
            auto_hits += usize::from(auto_speed >= 0.9);
            println!(
                "| n{batch} {input}->{output} {size}x{size} k{kernel} | {} | {fft:.2} ms | \
                 {direct:.2} ms | {tuned_ms:.2} ms | {first:.1} ms | {} | {tuned_speed:.2}x | {} \
                 | {auto_speed:.2}x |",
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

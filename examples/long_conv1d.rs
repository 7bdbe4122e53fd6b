//! Long causal 1-D convolution, training step (forward, `dx` and `dw` through autodiff), f32:
//! `fft_conv1d` against burn's direct `conv1d` on one device, in one process.
//!
//! ```sh
//! cargo run --release --example long_conv1d -- --kernel 1024            # 64->64, batch 8, 16384 samples
//! cargo run --release --example long_conv1d -- --kernel 16384 --deadline 60
//! ```
//!
//! The FFT figure is the median of `--reps` steps after one warm-up step. burn's direct
//! convolution of a long filter can take minutes per step, so it runs once (after a warm-up
//! on a small problem), in a thread the example waits for at most `--deadline`
//! seconds; past it the line says so and gives the lower bound of the speedup that implies.
//! Every step ends by reading a scalar that depends on the loss and both gradients.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{device_named, fft_conv1d};
use clap::Parser;
use clap::builder::RangedU64ValueParser;

/// Long causal 1-D convolution, training step: `fft_conv1d` against burn's direct `conv1d`.
#[derive(Parser, Clone, Debug)]
struct Args {
    /// Device: flex, ndarray or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Batch size.
    #[arg(long, default_value_t = 8, value_parser = positive())]
    batch: usize,
    /// Input and output channels.
    #[arg(long, default_value_t = 64, value_parser = positive())]
    channels: usize,
    /// Sequence length.
    #[arg(long, default_value_t = 16384, value_parser = positive())]
    length: usize,
    /// Filter taps.
    #[arg(long, default_value_t = 1024, value_parser = positive())]
    kernel: usize,
    /// Timed FFT steps (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = positive())]
    reps: usize,
    /// Seconds to wait for burn's direct step.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
}

type Conv1d = fn(Tensor<3>, Tensor<3>, Option<Tensor<1>>, ConvOptions<1>) -> Tensor<3>;

/// One training step of a causal convolution over `length` samples; returns its duration.
fn step(conv: Conv1d, args: &Args, length: usize, device: &Device) -> Duration {
    let ad = device.clone().autodiff();
    let random = |shape: [usize; 3]| Tensor::<3>::random(shape, Distribution::Default, &ad);
    let x = random([args.batch, args.channels, length]).require_grad();
    let w = random([args.channels, args.channels, args.kernel]).require_grad();
    let dy = random([args.batch, args.channels, length]);
    device.sync().expect("the device synchronizes");
    let start = Instant::now();
    let causal = ConvOptions::new_with_padding([1], [(args.kernel - 1, 0)], [1], 1);
    let y = conv(x.clone(), w.clone(), None, causal);
    let loss = (y * dy).sum();
    let grads = loss.backward();
    let dx = x.grad(&grads).expect("x is tracked");
    let dw = w.grad(&grads).expect("w is tracked");
    (loss.inner() + dx.sum() + dw.sum()).into_data();
    device.sync().expect("the device synchronizes");
    start.elapsed()
}

/// A parser of whole numbers from 1 up.
fn positive() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let device = match device_named(&args.device) {
        Ok(device) => device,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let (n, c, l, k) = (args.batch, args.channels, args.length, args.kernel);
    println!(
        "{device:?}, f32, causal conv1d training step, batch {n}, {c} -> {c} channels, \
         {l} samples, kernel {k}"
    );
    step(fft_conv1d, &args, l, &device);
    let mut times: Vec<f64> = (0..args.reps)
        .map(|_| step(fft_conv1d, &args, l, &device).as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let fft = times[times.len() / 2];
    println!("fft_conv1d: {:.3} s (median of {})", fft, args.reps);

    // The direct step, warmed up on a small problem, in a thread with a deadline.
    let small = Args {
        kernel: k.min(64),
        ..args.clone()
    };
    step(conv1d, &small, l.min(1024), &device);
    let (sender, receiver) = mpsc::channel();
    let (direct_args, direct_device) = (args.clone(), device.clone());
    std::thread::spawn(move || {
        let time = step(conv1d, &direct_args, l, &direct_device);
        let _ = sender.send(time);
    });
    let deadline = Duration::from_secs(args.deadline);
    match receiver.recv_timeout(deadline) {
        Ok(direct) => {
            let direct = direct.as_secs_f64();
            println!(
                "burn conv1d: {direct:.3} s (one step); fft_conv1d is {:.1}x faster",
                direct / fft
            );
        }
        Err(_) => println!(
            "burn conv1d: did not finish within {} s; fft_conv1d is more than {:.0}x faster",
            deadline.as_secs(),
            deadline.as_secs_f64() / fft
        ),
    }
    ExitCode::SUCCESS
}

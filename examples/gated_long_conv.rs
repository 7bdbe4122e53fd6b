//! A small long-convolution sequence model, trained with `FftConv1d`: a Hyena-style gated
//! block (a long causal filter, gated by a short causal one) that learns to denoise synthetic
//! signals in real time, offline, in seconds on 2 CPU cores.
//!
//! ```sh
//! cargo run --release --example gated_long_conv                     # Flex, 300 steps
//! cargo run --release --example gated_long_conv -- --steps 100 --kernel 512
//! cargo run --release --example gated_long_conv -- --steps 10 --conv direct   # burn's conv1d
//! ```
//!
//! Each signal is a sum of sinusoids at random low frequencies, phases and amplitudes, buried
//! in white noise of the same power. The model sees the noisy signal and predicts the clean
//! one, causally (each output from the current and past samples only):
//!
//! `y = mix(long(x) * sigmoid(gate(x)))`, `long` a `channels`-filter causal convolution of
//! `--kernel` taps (the part only an FFT convolution makes cheap), `gate` a 16-tap causal one,
//! `mix` a pointwise convolution back to one channel.
//!
//! It prints the mean squared error against the clean signal on held-out signals: of the noisy
//! input (the noise power), and of the model before and after training. On wgpu, burn 0.22.1
//! computes such a mean straight from a convolution's output wrongly (see the README's "Not
//! yet"), so the figures are only right on the CPU backends.

use std::process::ExitCode;

use burn::module::Module;
use burn::nn::PaddingConfig1d;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor};
use burn_fftconv::{FftConv1d, FftConv1dConfig};
use clap::Parser;

mod common;
use common::{Conv, mean_squared_error, positive};

/// Trains a gated causal long-convolution block to denoise synthetic signals.
#[derive(Parser, Debug)]
struct Args {
    /// Device: flex, ndarray or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Adam steps.
    #[arg(long, default_value_t = 300, value_parser = positive())]
    steps: usize,
    /// Taps of the long filters.
    #[arg(long, default_value_t = 1024, value_parser = positive())]
    kernel: usize,
    /// Long filters (channels of the block).
    #[arg(long, default_value_t = 8, value_parser = positive())]
    channels: usize,
    /// Samples per signal.
    #[arg(long, default_value_t = 4096, value_parser = positive())]
    length: usize,
    /// Signals per step.
    #[arg(long, default_value_t = 16, value_parser = positive())]
    batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed of the initialization and the signals.
    #[arg(long, default_value_t = 5)]
    seed: u64,
    /// How the long filters are computed.
    #[arg(long, value_enum, default_value_t = Conv::Fft)]
    conv: Conv,
}

/// The gated long-convolution block.
#[derive(Module, Debug)]
struct GatedLongConv {
    long: FftConv1d,
    gate: FftConv1d,
    mix: FftConv1d,
}

impl GatedLongConv {
    fn new(args: &Args, device: &Device) -> Self {
        let causal = |channels_in, channels_out, kernel: usize| {
            FftConv1dConfig::new(channels_in, channels_out, kernel)
                .with_padding(PaddingConfig1d::Explicit(kernel - 1, 0))
        };
        Self {
            long: causal(1, args.channels, args.kernel)
                .with_algorithm(args.conv.algorithm())
                .init(device),
            gate: causal(1, args.channels, 16).init(device),
            mix: causal(args.channels, 1, 1).init(device),
        }
    }

    /// `[batch, 1, length]` noisy signals to `[batch, 1, length]` estimates of the clean ones.
    fn forward(&self, noisy: Tensor<3>) -> Tensor<3> {
        let gated = self.long.forward(noisy.clone()) * sigmoid(self.gate.forward(noisy));
        self.mix.forward(gated)
    }
}

/// `batch` clean signals of `length` samples (sums of four sinusoids below a tenth of the
/// sampling rate, unit power on average) and their noisy versions (white noise of the same
/// power added), `[batch, 1, length]` each.
fn signals(batch: usize, length: usize, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let random = |low: f64, high: f64| {
        Tensor::<3>::random([batch, 4, 1], Distribution::Uniform(low, high), device)
    };
    let (frequency, phase, amplitude) = (
        random(0.002, 0.1),
        random(0.0, std::f64::consts::TAU),
        random(0.3, 1.1),
    );
    let time = Tensor::<1, Int>::arange(0..length as i64, device)
        .float()
        .reshape([1, 1, length as i64]);
    let clean = (amplitude * (frequency * time * std::f64::consts::TAU + phase).sin()).sum_dim(1);
    let noise = Tensor::random([batch, 1, length], Distribution::Normal(0.0, 1.0), device);
    (clean.clone(), clean + noise)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(device) = common::seeded_autodiff_device(&args.device, args.seed) else {
        return ExitCode::FAILURE;
    };
    let (held_out_clean, held_out_noisy) = signals(64, args.length, &device);
    let held_out = |model: &GatedLongConv| {
        mean_squared_error(
            model.forward(held_out_noisy.clone()),
            held_out_clean.clone(),
        )
    };
    let model = GatedLongConv::new(&args, &device);
    println!(
        "{device:?}: gated causal long convolution, {} filters of {} taps ({:?}), {} samples, \
         batch {}",
        args.channels, args.kernel, args.conv, args.length, args.batch
    );
    println!(
        "held-out MSE against the clean signal: noisy input {:.4}, untrained model {:.4}",
        mean_squared_error(held_out_noisy.clone(), held_out_clean.clone()),
        held_out(&model)
    );
    common::train(
        model,
        (args.steps, args.lr),
        || signals(args.batch, args.length, &device),
        |model, noisy| model.forward(noisy),
        held_out,
    );
    ExitCode::SUCCESS
}

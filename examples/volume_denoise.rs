//! A small 3-D convolutional denoiser, trained with `FftConv3d`: two 5x5x5 layers learn to
//! remove white noise from synthetic volumes (smooth blobs), offline, in seconds on 2 CPU
//! cores; `--conv direct` trains the same model with burn's `conv3d` for comparison.
//!
//! ```sh
//! cargo run --release --example volume_denoise                     # Flex, 100 steps
//! cargo run --release --example volume_denoise -- --conv direct    # burn's conv3d
//! cargo run --release --example volume_denoise -- --kernel 7 --size 32
//! ```
//!
//! Each clean volume is a sum of eight Gaussian blobs at random centres, widths and heights;
//! the model sees it with white noise added and predicts the clean volume:
//! `y = second(relu(first(x)))`, both `--kernel`-wide cubic convolutions with "same" padding.
//! It prints the mean squared error against the clean volumes on held-out ones: of the noisy
//! input (the noise power), of a zero prediction (the clean volumes' power), and of the model
//! before and after training.

use std::process::ExitCode;

use burn::module::Module;
use burn::nn::PaddingConfig3d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor};
use burn_fftconv::{FftConv3d, FftConv3dConfig};
use clap::Parser;
use clap::builder::TypedValueParser;

mod common;
use common::{Conv, mean_squared_error, positive};

/// Trains a two-layer 3-D convolutional denoiser on synthetic volumes.
#[derive(Parser, Debug)]
struct Args {
    /// Device: flex, ndarray or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Adam steps.
    #[arg(long, default_value_t = 100, value_parser = positive())]
    steps: usize,
    /// Kernel size along each axis (odd, for "same" padding).
    #[arg(long, default_value_t = 5, value_parser = odd())]
    kernel: usize,
    /// Channels between the two layers.
    #[arg(long, default_value_t = 8, value_parser = positive())]
    channels: usize,
    /// Samples per axis of a volume.
    #[arg(long, default_value_t = 24, value_parser = positive())]
    size: usize,
    /// Volumes per step.
    #[arg(long, default_value_t = 4, value_parser = positive())]
    batch: usize,
    /// Standard deviation of the noise.
    #[arg(long, default_value_t = 0.5)]
    noise: f64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed of the initialization and the volumes.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How the convolutions are computed.
    #[arg(long, value_enum, default_value_t = Conv::Fft)]
    conv: Conv,
}

/// The denoiser: two cubic convolutions with a ReLU between.
#[derive(Module, Debug)]
struct Denoiser {
    first: FftConv3d,
    second: FftConv3d,
}

impl Denoiser {
    fn new(args: &Args, device: &Device) -> Self {
        let algorithm = args.conv.algorithm();
        let layer = |channels| {
            FftConv3dConfig::new(channels, [args.kernel; 3])
                .with_padding(PaddingConfig3d::Same)
                .with_algorithm(algorithm)
                .init(device)
        };
        Self {
            first: layer([1, args.channels]),
            second: layer([args.channels, 1]),
        }
    }

    /// `[batch, 1, size, size, size]` noisy volumes to estimates of the clean ones.
    fn forward(&self, noisy: Tensor<5>) -> Tensor<5> {
        self.second.forward(relu(self.first.forward(noisy)))
    }
}

/// `batch` clean volumes of `size` samples per axis (eight Gaussian blobs each: centres
/// anywhere, widths 2 to 5 samples, heights 0.5 to 1.5) and their noisy versions,
/// `[batch, 1, size, size, size]` each.
fn volumes(batch: usize, size: usize, noise: f64, device: &Device) -> (Tensor<5>, Tensor<5>) {
    let random = |low: f64, high: f64| {
        Tensor::<5>::random(
            [batch, 3, 1, 1, 1],
            Distribution::Uniform(low, high),
            device,
        )
    };
    let coordinate = |axis: usize| {
        let mut shape = [1i64; 5];
        shape[2 + axis] = size as i64;
        Tensor::<1, Int>::arange(0..size as i64, device)
            .float()
            .reshape(shape)
    };
    let squared_distance = (0..3)
        .map(|axis| (coordinate(axis) - random(0.0, size as f64)).powi_scalar(2))
        .reduce(|a, b| a + b)
        .expect("three axes");
    let width = random(2.0, 5.0);
    let height = random(0.5, 1.5);
    let clean = (height * (-squared_distance / (width.powi_scalar(2) * 2.0)).exp()).sum_dim(1);
    let shape = [batch, 1, size, size, size];
    let noisy = clean.clone() + Tensor::random(shape, Distribution::Normal(0.0, noise), device);
    (clean, noisy)
}

/// A parser of odd whole numbers.
fn odd() -> impl TypedValueParser<Value = usize> {
    positive().try_map(|k: usize| {
        if k % 2 == 1 {
            Ok(k)
        } else {
            Err(format!(
                "the kernel must be odd for \"same\" padding, got {k}"
            ))
        }
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(device) = common::seeded_autodiff_device(&args.device, args.seed) else {
        return ExitCode::FAILURE;
    };
    let (held_out_clean, held_out_noisy) = volumes(16, args.size, args.noise, &device);
    let held_out = |model: &Denoiser| {
        mean_squared_error(
            model.forward(held_out_noisy.clone()),
            held_out_clean.clone(),
        )
    };
    let model = Denoiser::new(&args, &device);
    println!(
        "{device:?}: 3-D denoiser, 1 -> {} -> 1 channels, kernels {}^3 ({:?}), volumes {}^3, \
         batch {}",
        args.channels, args.kernel, args.conv, args.size, args.batch
    );
    println!(
        "held-out MSE against the clean volumes: noisy input {:.4}, zero prediction {:.4}, \
         untrained model {:.4}",
        mean_squared_error(held_out_noisy.clone(), held_out_clean.clone()),
        mean_squared_error(held_out_clean.zeros_like(), held_out_clean.clone()),
        held_out(&model)
    );
    common::train(
        model,
        (args.steps, args.lr),
        || volumes(args.batch, args.size, args.noise, &device),
        |model, noisy| model.forward(noisy),
        held_out,
    );
    ExitCode::SUCCESS
}

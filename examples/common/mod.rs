//! What the training examples share: `--conv`, the device, the training loop (Adam steps on fresh batches, the
//! held-out error printed five times along the way and at the end), the error measure and a
//! command-line parser.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use burn_fftconv::{ConvAlgorithm, device_named};
use clap::ValueEnum;
use clap::builder::RangedU64ValueParser;

/// How an example's convolutions are computed (`--conv`).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Conv {
    /// In the frequency domain (this crate's layers).
    Fft,
    /// By burn's direct convolution.
    Direct,
}

impl Conv {
    /// The layers' algorithm.
    pub fn algorithm(self) -> ConvAlgorithm {
        match self {
            Self::Fft => ConvAlgorithm::Fft,
            Self::Direct => ConvAlgorithm::Direct,
        }
    }
}

/// The autodiff device `name` names (see [`device_named`]), its RNG seeded with `seed`;
/// `None`, the reason printed, for a name of no device.
pub fn seeded_autodiff_device(name: &str, seed: u64) -> Option<Device> {
    match device_named(name) {
        Ok(device) => {
            let device = device.autodiff();
            device.seed(seed);
            Some(device)
        }
        Err(message) => {
            eprintln!("{message}");
            None
        }
    }
}

/// Trains `model` for `steps` Adam steps of learning rate `lr` on the mean squared error of
/// `forward(model, noisy)` against `clean`, for fresh `(clean, noisy)` pairs from `batch`;
/// `held_out(model)` is the error printed.
pub fn train<M: Module, const D: usize>(
    mut model: M,
    (steps, lr): (usize, f64),
    mut batch: impl FnMut() -> (Tensor<D>, Tensor<D>),
    forward: impl Fn(&M, Tensor<D>) -> Tensor<D>,
    held_out: impl Fn(&M) -> f64,
) -> M {
    let mut optim = AdamConfig::new().init();
    let start = Instant::now();
    for step in 1..=steps {
        let (clean, noisy) = batch();
        let loss = (forward(&model, noisy) - clean).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        if step % (steps / 5).max(1) == 0 {
            println!(
                "step {step:>5}: held-out MSE {:.4} ({:.1} s)",
                held_out(&model),
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "trained {steps} steps in {:.1} s: held-out MSE {:.4}",
        start.elapsed().as_secs_f64(),
        held_out(&model)
    );
    model
}

/// The mean squared difference of `a` and `b`.
pub fn mean_squared_error<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f64 {
    (a - b).powi_scalar(2).mean().into_scalar::<f64>()
}

/// A parser of whole numbers from 1 up.
pub fn positive() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

//! Training recipes for a [`ButterflyFft`], with the diagnostics that explain their outcome.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::butterfly::exact_twiddles;
use crate::reference::{basis, operator_error, rdft_matrix};
use crate::{
    ButterflyFft, ButterflyFftConfig, ButterflyInit, ComplexTensor, Parameterization, Twiddles,
};

/// What each training step feeds the transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probe {
    /// `batch` fresh standard-normal rows per step (seeded).
    Gaussian {
        /// Rows per step.
        batch: usize,
    },
    /// The standard basis: the loss is the squared operator error itself, free of sampling
    /// noise.
    Basis,
}

/// How parameters are updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update {
    /// Adam (burn's β1 = 0.9, β2 = 0.999) with a constant learning rate.
    Adam {
        /// Learning rate.
        learning_rate: f64,
        /// The `ε` added to the root of the second moment (burn's default is 1e-5,
        /// PyTorch's 1e-8).
        epsilon: f32,
    },
    /// Gradient descent with Polyak's step `loss / |grad|^2`, which needs no tuning when the
    /// smallest loss is known to be 0, as it is for a realizable target.
    Polyak,
}

/// A training recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Twiddle parameterization.
    pub parameterization: Parameterization,
    /// Starting point.
    pub init: ButterflyInit,
    /// Data of each step.
    pub probe: Probe,
    /// Optimizer.
    pub update: Update,
    /// Train the 2-, 4-, …, N-point transforms in turn (the first `s` levels on the
    /// `2^s`-point FFT) instead of all levels on the N-point one at once.
    pub grow: bool,
    /// While growing, train only the newest level (the lower ones are frozen).
    pub freeze: bool,
    /// Steps per trained length.
    pub steps: usize,
    /// Stop a length early once its operator error is at most this (checked every 10
    /// steps).
    pub tolerance: f64,
    /// Seed of the data.
    pub seed: u64,
}

impl Recipe {
    /// The recipe as first specified: free twiddles from all ones, Adam at 1e-2 (burn's other
    /// defaults), batches of 16 standard-normal rows, 3000 steps on the full length. The
    /// examples measure how far it gets against the other recipes.
    pub fn as_specified() -> Self {
        Self {
            parameterization: Parameterization::Free,
            init: ButterflyInit::Ones,
            probe: Probe::Gaussian { batch: 16 },
            update: Update::Adam {
                learning_rate: 1e-2,
                epsilon: 1e-5,
            },
            grow: false,
            freeze: false,
            steps: 3000,
            tolerance: 0.0,
            seed: 7,
        }
    }

    /// The recovering recipe: grow the transform one level at a time, training only the
    /// newest level, by gradient descent with Polyak's step on batches of 16 standard-normal
    /// rows; at most 300 steps per level, on to the next at operator error 1e-12.
    pub fn growing(parameterization: Parameterization, init: ButterflyInit) -> Self {
        Self {
            parameterization,
            init,
            probe: Probe::Gaussian { batch: 16 },
            update: Update::Polyak,
            grow: true,
            freeze: true,
            steps: 300,
            tolerance: 1e-12,
            seed: 7,
        }
    }
}

/// Diagnostics of one moment of training. Per-level vectors start with level 1 (`M`).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Steps taken so far (all lengths together).
    pub step: usize,
    /// Length being trained.
    pub len: usize,
    /// Loss of the last step.
    pub loss: f64,
    /// Relative operator error of the trained length.
    pub error: f64,
    /// Root-mean-square gradient entry of each level (0 where frozen or unused).
    pub gradient_rms: Vec<f64>,
    /// Root-mean-square distance of each level's complex factors from the FFT's.
    pub factor_error: Vec<f64>,
    /// Smallest and largest twiddle modulus of each level (`M`'s entries for level 1).
    pub modulus: Vec<(f64, f64)>,
    /// Seconds since training started.
    pub seconds: f64,
}

/// How a recipe ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The trained transform.
    pub model: ButterflyFft,
    /// Relative operator error of the full length.
    pub error: f64,
    /// Steps taken.
    pub steps: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// The gradient entries of each level's parameters; empty where there is none.
fn level_gradients(model: &ButterflyFft, grads: &Gradients) -> Vec<Vec<f64>> {
    let first = [&model.first_re, &model.first_im]
        .into_iter()
        .filter_map(|p| p.val().grad(grads).map(host))
        .flatten()
        .collect();
    let twiddles = model.twiddles.iter().map(|twiddles| {
        let params = match twiddles {
            Twiddles::Free(t) => vec![t.re.val(), t.im.val()],
            Twiddles::UnitModulus(t) => vec![t.theta.val()],
        };
        params
            .into_iter()
            .filter_map(|p| p.grad(grads).map(host))
            .flatten()
            .collect()
    });
    std::iter::once(first).chain(twiddles).collect()
}

/// Complex values on the host as (real, imaginary) pairs.
type HostComplex = Vec<(f64, f64)>;

/// The complex factors of each level on the host, with the FFT's.
fn level_factors(model: &ButterflyFft) -> Vec<(HostComplex, HostComplex)> {
    let pairs =
        |c: ComplexTensor<1>| -> HostComplex { host(c.re).into_iter().zip(host(c.im)).collect() };
    let first = ComplexTensor::new(
        model.first_re.val().reshape([4]),
        model.first_im.val().reshape([4]),
    );
    let exact_first = vec![(1.0, 0.0), (1.0, 0.0), (1.0, 0.0), (-1.0, 0.0)];
    let twiddles = model.twiddles.iter().map(|twiddles| {
        let (re, im) = exact_twiddles(twiddles.len());
        (pairs(twiddles.values()), re.into_iter().zip(im).collect())
    });
    std::iter::once((pairs(first), exact_first))
        .chain(twiddles)
        .collect()
}

fn rms(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let len = values.len().max(1) as f64;
    (values.map(|v| v * v).sum::<f64>() / len).sqrt()
}

fn checkpoint(
    model: &ButterflyFft,
    gradients: &[Vec<f64>],
    step: usize,
    len: usize,
    loss: f64,
    error: f64,
    seconds: f64,
) -> Checkpoint {
    let factors = level_factors(model);
    Checkpoint {
        step,
        len,
        loss,
        error,
        gradient_rms: gradients.iter().map(|g| rms(g.iter().copied())).collect(),
        factor_error: factors
            .iter()
            .map(|(got, exact)| {
                rms(got
                    .iter()
                    .zip(exact)
                    .map(|(a, b)| (a.0 - b.0).hypot(a.1 - b.1)))
            })
            .collect(),
        modulus: factors
            .iter()
            .map(|(got, _)| {
                got.iter()
                    .map(|(re, im)| re.hypot(*im))
                    .fold((f64::INFINITY, 0.0f64), |(lo, hi), m| {
                        (lo.min(m), hi.max(m))
                    })
            })
            .collect(),
        seconds,
    }
}

/// Freezes every level below `level` (level 1 is `M`).
fn freeze_below(mut model: ButterflyFft, level: usize) -> ButterflyFft {
    if level > 1 {
        model.first_re = model.first_re.set_require_grad(false);
        model.first_im = model.first_im.set_require_grad(false);
    }
    model.twiddles = model
        .twiddles
        .into_iter()
        .enumerate()
        .map(|(i, t)| if i + 2 < level { t.no_grad() } else { t })
        .collect();
    model
}

/// Mean squared error over the real and imaginary parts of `model`'s real FFT of `x`
/// against `target`.
fn loss(model: &ButterflyFft, x: Tensor<2>, target: ComplexTensor<2>) -> Tensor<1> {
    let [batch, bins] = target.dims();
    (model.forward(x) - target).squared_norm() / (2 * batch * bins) as f64
}

/// Trains a fresh transform of length `len` by `recipe` on the autodiff `device`, calling
/// `observe` every `every` steps of each trained length and at its end.
pub fn train(
    len: usize,
    recipe: &Recipe,
    device: &Device,
    every: usize,
    mut observe: impl FnMut(&Checkpoint),
) -> Outcome {
    assert!(
        device.is_autodiff(),
        "train: `device` must be an autodiff device, got {device:?}"
    );
    assert!(every > 0, "train: `every` must be positive, got 0");
    let plain = device.clone().without_autodiff();
    let start = Instant::now();
    let mut model = ButterflyFftConfig::new(len)
        .with_parameterization(recipe.parameterization)
        .with_init(recipe.init)
        .init(device);
    let lengths: Vec<usize> = if recipe.grow {
        (1..=len.trailing_zeros()).map(|s| 1 << s).collect()
    } else {
        vec![len]
    };
    let mut rng = StdRng::seed_from_u64(recipe.seed);
    let mut adam = match recipe.update {
        Update::Adam { epsilon, .. } => Some(AdamConfig::new().with_epsilon(epsilon).init()),
        Update::Polyak => None,
    };
    let mut sgd = SgdConfig::new().init();
    let mut step = 0;
    for n in lengths {
        if recipe.freeze {
            model = freeze_below(model, n.trailing_zeros() as usize);
        }
        let exact = rdft_matrix(n, device);
        for stage_step in 1..=recipe.steps {
            let x = match recipe.probe {
                Probe::Basis => basis(n, device),
                Probe::Gaussian { batch } => {
                    let values: Vec<f64> = StandardNormal
                        .sample_iter(&mut rng)
                        .take(batch * n)
                        .collect();
                    Tensor::from_data(TensorData::new(values, [batch, n]), device)
                }
            };
            let target = exact.clone().map(|f| x.clone().matmul(f));
            let loss = loss(&model, x, target);
            let loss_value = loss.clone().into_scalar::<f64>();
            let grads = loss.backward();
            step += 1;
            let report = stage_step == recipe.steps || stage_step % every == 0;
            let error =
                (report || stage_step % 10 == 0).then(|| operator_error(&model.valid(), n, &plain));
            let done = error.is_some_and(|e| e <= recipe.tolerance);
            // Read back to the host only when a checkpoint or Polyak's step needs them.
            let polyak = recipe.update == Update::Polyak;
            let gradients = (report || done || polyak).then(|| level_gradients(&model, &grads));
            if let (true, Some(gradients), Some(error)) = (report || done, &gradients, error) {
                let seconds = start.elapsed().as_secs_f64();
                observe(&checkpoint(
                    &model, gradients, step, n, loss_value, error, seconds,
                ));
            }
            if done {
                break;
            }
            let squared_gradient: f64 = gradients.iter().flatten().flatten().map(|g| g * g).sum();
            let grads = GradientsParams::from_grads(grads, &model);
            model = match (recipe.update, adam.as_mut()) {
                (Update::Adam { learning_rate, .. }, Some(adam)) => {
                    adam.step(learning_rate, model, grads)
                }
                _ if squared_gradient > 0.0 => {
                    sgd.step(loss_value / squared_gradient, model, grads)
                }
                _ => model,
            };
        }
    }
    let model = model.valid();
    Outcome {
        error: operator_error(&model, len, &plain),
        model,
        steps: step,
        seconds: start.elapsed().as_secs_f64(),
    }
}

//! The butterfly FFT in f64: the exact construction, its gradients, bad input, and a small
//! recovery by each recipe. Devices in this test binary default to f64.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::module::Param;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use fftconv_butterfly::learn::{Recipe, train};
use fftconv_butterfly::reference::{operator_error, rdft_matrix};
use fftconv_butterfly::{
    ButterflyFft, ButterflyFftConfig, ButterflyInit, Parameterization, Twiddles,
};
use fftconv_testing::Sampler;

fn f64_device(mut device: Device) -> Device {
    // Settings are per process and fixed by the first tensor; every test here wants f64.
    let _ = device.configure(FloatDType::F64);
    assert_eq!(device.settings().float_dtype, FloatDType::F64);
    device
}

fn exact(len: usize, parameterization: Parameterization, device: &Device) -> ButterflyFft {
    ButterflyFftConfig::new(len)
        .with_parameterization(parameterization)
        .with_init(ButterflyInit::Exact)
        .init(device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

#[test]
fn exact_construction_is_the_real_fft() {
    let device = f64_device(Device::flex());
    for parameterization in [Parameterization::Free, Parameterization::UnitModulus] {
        for levels in 1..=9 {
            let len = 1 << levels;
            let error = operator_error(&exact(len, parameterization, &device), len, &device);
            assert!(error <= 1e-15, "{parameterization:?} N={len}: {error:e}");
        }
    }
}

#[test]
fn exact_construction_on_random_rows_and_shorter_lengths() {
    let device = f64_device(Device::flex());
    let model = exact(64, Parameterization::Free, &device);
    assert_eq!(model.len(), 64);
    assert_eq!(model.twiddles.iter().map(Twiddles::len).sum::<usize>(), 62);
    let mut sampler = Sampler::new(5);
    for n in [2, 4, 16, 64] {
        let x: Tensor<2> =
            Tensor::from_data(TensorData::new(sampler.values(3 * n), [3, n]), &device);
        let reference = rdft_matrix(n, &device).map(|f| x.clone().matmul(f));
        let got = model.forward(x);
        assert_eq!(got.dims(), [3, n / 2 + 1]);
        let error = (got - reference.clone())
            .squared_norm()
            .into_scalar::<f64>()
            .sqrt();
        let scale = reference.squared_norm().into_scalar::<f64>().sqrt();
        assert!(error <= 1e-14 * scale, "n={n}: {error:e} of {scale:e}");
    }
}

#[test]
fn exact_construction_on_ndarray() {
    #[allow(deprecated)]
    let device = f64_device(Device::ndarray());
    let error = operator_error(
        &exact(128, Parameterization::UnitModulus, &device),
        128,
        &device,
    );
    assert!(error <= 1e-15, "{error:e}");
}

/// `param` with `delta` added to its entry `index` (row-major).
fn shifted<const D: usize>(param: &Param<Tensor<D>>, index: usize, delta: f64) -> Param<Tensor<D>> {
    let tensor = param.val();
    let (shape, mut entries) = (tensor.dims(), values(tensor.clone()));
    entries[index] += delta;
    Param::from_tensor(Tensor::from_data(
        TensorData::new(entries, shape),
        &tensor.device(),
    ))
}

/// The parameter tensor checked at each level: `M`'s real parts, free twiddles' real parts,
/// or phases.
fn checked_parameter(model: &ButterflyFft, level: usize) -> Tensor<1> {
    match level.checked_sub(1).map(|i| &model.twiddles[i]) {
        None => model.first_re.val().reshape([4]),
        Some(Twiddles::Free(t)) => t.re.val(),
        Some(Twiddles::UnitModulus(t)) => t.theta.val(),
    }
}

/// `model` with `delta` added to entry `index` of [`checked_parameter`] of `level`.
fn perturbed(mut model: ButterflyFft, level: usize, index: usize, delta: f64) -> ButterflyFft {
    match level.checked_sub(1).map(|i| &mut model.twiddles[i]) {
        None => model.first_re = shifted(&model.first_re, index, delta),
        Some(Twiddles::Free(t)) => t.re = shifted(&t.re, index, delta),
        Some(Twiddles::UnitModulus(t)) => t.theta = shifted(&t.theta, index, delta),
    }
    model
}

/// Autodiff gradients of `sum(r * |X|^2)` (a nonlinear loss of the output) against central
/// differences, for `M` and every twiddle of a random 8-point transform in both
/// parameterizations.
#[test]
fn gradients_match_central_differences() {
    let device = f64_device(Device::flex());
    let ad = device.clone().autodiff();
    let mut sampler = Sampler::new(11);
    let x = sampler.values(2 * 8);
    let r = sampler.values(2 * 5);
    let loss = |model: &ButterflyFft, device: &Device| {
        let x = Tensor::<2>::from_data(TensorData::new(x.clone(), [2, 8]), device);
        let r = Tensor::<2>::from_data(TensorData::new(r.clone(), [2, 5]), device);
        let y = model.forward(x);
        ((y.re.square() + y.im.square()) * r).sum()
    };
    for parameterization in [Parameterization::Free, Parameterization::UnitModulus] {
        let config = ButterflyFftConfig::new(8)
            .with_parameterization(parameterization)
            .with_init(ButterflyInit::Random { seed: 2 });
        let tracked = config.init(&ad);
        let grads = loss(&tracked, &ad).backward();
        let mut checked = 0;
        for level in 0..3 {
            let analytic = match level {
                0 => values(tracked.first_re.val().grad(&grads).unwrap()),
                _ => values(checked_parameter(&tracked, level).grad(&grads).unwrap()),
            };
            for (index, analytic) in analytic.iter().enumerate() {
                let eps = 1e-6;
                let at = |delta| {
                    let model = perturbed(config.init(&device), level, index, delta);
                    loss(&model, &device).into_scalar::<f64>()
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
                assert!(
                    (numeric - analytic).abs() <= 1e-7 * (1.0 + analytic.abs()),
                    "{parameterization:?} level {} entry {index}: {numeric} vs {analytic}",
                    level + 1
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 4 + 2 + 4);
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn bad_lengths_are_refused_by_name() {
    let device = f64_device(Device::flex());
    for len in [0, 1, 12] {
        let message = panic_message(|| {
            ButterflyFftConfig::new(len).init(&device);
        });
        assert!(
            message.contains("`len`") && message.contains(&format!("got {len}")),
            "{message}"
        );
    }
    let model = exact(16, Parameterization::Free, &device);
    for n in [1, 6, 32] {
        let message = panic_message(|| {
            model.forward(Tensor::zeros([2, n], &device));
        });
        assert!(
            message.contains("from 2 to 16") && message.contains(&format!("got {n}")),
            "{message}"
        );
    }
}

#[test]
fn growing_recipe_recovers_n16_from_ones_and_random_starts() {
    let device = f64_device(Device::flex()).autodiff();
    for parameterization in [Parameterization::Free, Parameterization::UnitModulus] {
        for init in [ButterflyInit::Ones, ButterflyInit::Random { seed: 9 }] {
            let outcome = train(
                16,
                &Recipe::growing(parameterization, init),
                &device,
                1000,
                |_| {},
            );
            assert!(
                outcome.error <= 1e-10,
                "{parameterization:?} {init:?}: {:e}",
                outcome.error
            );
        }
    }
}

#[test]
fn the_specified_recipe_reports_its_diagnostics() {
    let device = f64_device(Device::flex()).autodiff();
    let recipe = Recipe {
        steps: 100,
        ..Recipe::as_specified()
    };
    let mut checkpoints = Vec::new();
    let outcome = train(16, &recipe, &device, 50, |c| checkpoints.push(c.clone()));
    assert_eq!(outcome.steps, 100);
    assert_eq!(
        checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(),
        [50, 100]
    );
    for c in &checkpoints {
        assert_eq!(c.gradient_rms.len(), 4);
        assert_eq!(c.factor_error.len(), 4);
        assert!(c.gradient_rms.iter().all(|g| *g > 0.0), "{c:?}");
        assert!(c.error > 0.0 && c.error.is_finite());
    }
    // The last checkpoint saw the parameters before the last step; the outcome after it.
    assert!(outcome.error < checkpoints[0].error);
}

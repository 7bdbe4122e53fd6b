//! CI smoke tests of training through burn's `Learner`: a short run on a few hundred bundled
//! digits learns and leaves checkpoints, and a run resumes from one exactly.

mod common;
use common::conv_weights;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use fftconv_mnist::dataset::{self, Mnist};
use fftconv_mnist::progress::LineProgress;
use fftconv_mnist::train::{Run, TrainConfig, evaluate, fft_net, fit, latest_checkpoint};

fn digits() -> (Mnist, Mnist) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let (train_set, test_set) = dataset::bundled(&dir).unwrap();
    (train_set.take(600), test_set.take(300))
}

/// A fresh artifact directory private to one test.
fn artifact_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fftconv-mnist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(device: &Device, artifact_dir: &Path, resume_from: Option<usize>) -> Run {
    Run {
        devices: vec![device.clone()],
        artifact_dir: artifact_dir.to_path_buf(),
        resume_from,
        renderer: Some(Box::new(LineProgress::new())),
    }
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        ..TrainConfig::default()
    }
}

#[test]
fn a_short_run_learns_and_leaves_a_checkpoint_per_epoch() {
    let (train_set, test_set) = digits();
    let device = Device::flex();
    device.seed(7);
    let model = fft_net(&device);
    let before = evaluate(&model, &test_set, &device);
    let dir = artifact_dir("learns");
    let trained = fit(
        model,
        train_set,
        test_set.clone(),
        &config(2),
        run(&device, &dir, None),
    )
    .unwrap();
    let after = evaluate(&trained, &test_set, &device);
    assert!(
        after.loss < 0.6 * before.loss,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(after.accuracy > 0.6, "accuracy {}", after.accuracy);
    assert_eq!(latest_checkpoint(&dir), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Resuming at the last epoch trains no further, so the model returned must be the checkpoint's,
/// bit for bit, although the run starts from a model initialized with another seed.
#[test]
fn a_run_resumes_from_its_checkpoint() {
    let (train_set, test_set) = digits();
    let device = Device::flex();
    let dir = artifact_dir("resumes");
    device.seed(7);
    let first = fit(
        fft_net(&device),
        train_set.clone(),
        test_set.clone(),
        &config(1),
        run(&device, &dir, None),
    )
    .unwrap();
    assert_eq!(latest_checkpoint(&dir), Some(1));
    device.seed(8);
    let resumed = fit(
        fft_net(&device),
        train_set,
        test_set.clone(),
        &config(1),
        run(&device, &dir, Some(1)),
    )
    .unwrap();
    assert_eq!(conv_weights(&first), conv_weights(&resumed));
    assert_eq!(
        evaluate(&first, &test_set, &device),
        evaluate(&resumed, &test_set, &device)
    );
    // The resumed model still trains: one more epoch from the checkpoint.
    let further = fit(
        resumed,
        digits().0,
        test_set,
        &config(2),
        run(&device, &dir, Some(1)),
    );
    assert!(further.is_ok(), "{further:?}");
    assert_eq!(latest_checkpoint(&dir), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Data-parallel training on two devices of different backends (Flex and NdArray), the
/// optimizer on the first: the model it returns lives there and has learned.
#[test]
fn two_devices_train_one_model() {
    let (train_set, test_set) = digits();
    let devices = vec![
        Device::flex(),
        burn_fftconv::device_named("ndarray").unwrap(),
    ];
    for device in &devices {
        device.seed(7);
    }
    let dir = artifact_dir("devices");
    let trained = fit(
        fft_net(&devices[0]),
        train_set,
        test_set.clone(),
        &config(2),
        Run {
            devices: devices.clone(),
            ..run(&devices[0], &dir, None)
        },
    )
    .unwrap();
    assert_eq!(trained.conv1.weight.val().device(), devices[0]);
    let score = evaluate(&trained, &test_set, &devices[0]);
    assert!(score.accuracy > 0.6, "accuracy {}", score.accuracy);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_run_without_digits_or_devices_is_refused() {
    let (train_set, test_set) = digits();
    let device = Device::flex();
    let dir = artifact_dir("refused");
    let mut no_device = run(&device, &dir, None);
    no_device.devices.clear();
    let error = fit(
        fft_net(&device),
        train_set.clone(),
        test_set.clone(),
        &config(1),
        no_device,
    )
    .unwrap_err();
    assert!(error.contains("no device"), "{error}");
    let error = fit(
        fft_net(&device),
        train_set.take(0),
        test_set,
        &config(1),
        run(&device, &dir, None),
    )
    .unwrap_err();
    assert!(error.contains("0 training"), "{error}");
}

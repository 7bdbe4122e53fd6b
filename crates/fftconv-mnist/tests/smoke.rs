//! CI smoke test: a short training run on a few hundred bundled digits learns.

use std::path::Path;

use burn::tensor::Device;
use fftconv_mnist::dataset;
use fftconv_mnist::train::{TrainConfig, evaluate, fft_net, train};

#[test]
fn a_short_run_lowers_the_loss_and_beats_chance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let (train_set, test_set) = dataset::bundled(&dir).unwrap();
    let (train_set, test_set) = (train_set.take(600), test_set.take(300));
    let device = Device::flex();
    device.seed(7);
    let autodiff = device.clone().autodiff();
    let model = fft_net(&autodiff);
    let before = evaluate(&model, &test_set, &device);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let (_, reports) = train(model, &train_set, &test_set, &config, &autodiff, |_| {});
    let after = reports.last().unwrap().test;
    assert!(
        after.loss < 0.6 * before.loss,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(after.accuracy > 0.6, "accuracy {}", after.accuracy);
}

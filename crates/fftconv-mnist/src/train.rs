//! A small CNN for MNIST, generic over the convolution layer, and its training loop.

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_fftconv::{Conv2dLayer, ConvAlgorithm, FftConv2d};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::Mnist;

/// Two 5x5 convolutions with max pooling and a linear head.
#[derive(Module, Debug)]
pub struct Net<C: Conv2dLayer> {
    /// 1 -> 32 channels, 28x28 -> 24x24.
    pub conv1: C,
    /// 32 -> 64 channels, 12x12 -> 8x8.
    pub conv2: C,
    /// 2x2 max pooling after each convolution.
    pub pool: MaxPool2d,
    /// 64 * 4 * 4 -> 10 classes.
    pub head: Linear,
}

/// The convolutions of a fresh [`Net`], as burn's `Conv2d` would initialize them.
fn conv_configs() -> [Conv2dConfig; 2] {
    [
        Conv2dConfig::new([1, 32], [5, 5]),
        Conv2dConfig::new([32, 64], [5, 5]),
    ]
}

impl<C: Conv2dLayer> Net<C> {
    /// Builds the network with `make` turning each `Conv2dConfig` into the layer type.
    pub fn init(device: &Device, make: impl Fn(&Conv2dConfig, &Device) -> C) -> Self {
        let [conv1, conv2] = conv_configs();
        Self {
            conv1: make(&conv1, device),
            conv2: make(&conv2, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            head: LinearConfig::new(64 * 4 * 4, 10).init(device),
        }
    }

    /// Logits for a batch of images `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.convolve(images)));
        let x = self.pool.forward(relu(self.conv2.convolve(x)));
        let [batch, channels, h, w] = x.dims();
        self.head.forward(x.reshape([batch, channels * h * w]))
    }
}

/// A [`Net`] with `FftConv2d` layers computing in the frequency domain.
pub fn fft_net(device: &Device) -> Net<FftConv2d> {
    Net::init(device, |config, device| {
        FftConv2d::from(config.init(device)).with_algorithm(ConvAlgorithm::Fft)
    })
}

/// A [`Net`] with burn's `Conv2d` layers.
pub fn direct_net(device: &Device) -> Net<burn::nn::conv::Conv2d> {
    Net::init(device, |config, device| config.init(device))
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Digits per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate of the first epoch.
    pub learning_rate: f64,
    /// Factor applied to the learning rate after each epoch.
    pub learning_rate_decay: f64,
    /// Seed of the parameter initialization and the shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 64,
            learning_rate: 2e-3,
            learning_rate_decay: 0.7,
            seed: 1,
        }
    }
}

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// What one epoch achieved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Running score over the epoch's training batches.
    pub train: Score,
    /// Score on the held-out digits after the epoch.
    pub test: Score,
    /// Seconds spent training (not evaluating) in this epoch.
    pub train_seconds: f64,
}

/// A batch of digits as `[batch, 1, rows, cols]` pixels scaled to zero mean and unit variance
/// (MNIST's mean 0.1307 and deviation 0.3081), and their labels.
pub fn batch(data: &Mnist, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let pixels_per_image = data.rows * data.cols;
    let mut pixels = Vec::with_capacity(indices.len() * pixels_per_image);
    for &i in indices {
        let image = &data.pixels[i * pixels_per_image..(i + 1) * pixels_per_image];
        pixels.extend(
            image
                .iter()
                .map(|&p| (f32::from(p) / 255.0 - 0.1307) / 0.3081),
        );
    }
    let labels: Vec<i64> = indices.iter().map(|&i| i64::from(data.labels[i])).collect();
    (
        Tensor::from_data(
            TensorData::new(pixels, [indices.len(), 1, data.rows, data.cols]),
            device,
        ),
        Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
    )
}

/// Sum of the loss and number of correct predictions in a batch.
fn batch_score(logits: Tensor<2>, labels: Tensor<1, Int>, loss: Tensor<1>) -> (f64, usize) {
    let count = labels.dims()[0];
    let correct = logits
        .argmax(1)
        .reshape([count as i64])
        .equal(labels)
        .int()
        .sum();
    let correct = correct.into_scalar::<i64>();
    let loss = loss.into_scalar::<f64>();
    (loss * count as f64, correct as usize)
}

/// Loss and accuracy of `model` on `data`, without gradients.
pub fn evaluate<C: Conv2dLayer>(model: &Net<C>, data: &Mnist, device: &Device) -> Score {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut loss_sum, mut correct) = (0.0, 0);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(500) {
        let (images, labels) = batch(data, chunk, device);
        let logits = model.forward(images);
        let loss = loss_fn.forward(logits.clone(), labels.clone());
        let (l, c) = batch_score(logits, labels, loss);
        loss_sum += l;
        correct += c;
    }
    Score {
        loss: loss_sum / data.len() as f64,
        accuracy: correct as f64 / data.len() as f64,
    }
}

/// A deterministic shuffle of `0..len` for `seed`.
fn shuffled(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

/// Trains `model` with Adam on `train`, scoring it on `test` after every epoch, and calls
/// `on_epoch` with each report. `device` must be an autodiff device.
pub fn train<C: Conv2dLayer>(
    mut model: Net<C>,
    train: &Mnist,
    test: &Mnist,
    config: &TrainConfig,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochReport),
) -> (Net<C>, Vec<EpochReport>) {
    assert!(
        device.is_autodiff(),
        "train: `device` must be an autodiff device, got {device:?}"
    );
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optim = AdamConfig::new().init();
    let mut reports = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        let (mut loss_sum, mut correct) = (0.0, 0);
        let order = shuffled(train.len(), config.seed.wrapping_add(epoch as u64));
        let learning_rate =
            config.learning_rate * config.learning_rate_decay.powi(epoch as i32 - 1);
        for chunk in order.chunks(config.batch_size) {
            let (images, labels) = batch(train, chunk, device);
            let logits = model.forward(images);
            let loss = loss_fn.forward(logits.clone(), labels.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let (l, c) = batch_score(logits, labels, loss);
            loss_sum += l;
            correct += c;
            model = optim.step(learning_rate, model, grads);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch,
            train: Score {
                loss: loss_sum / train.len() as f64,
                accuracy: correct as f64 / train.len() as f64,
            },
            test: evaluate(&model.valid(), test, &device.clone().without_autodiff()),
            train_seconds,
        };
        on_epoch(&report);
        reports.push(report);
    }
    (model, reports)
}

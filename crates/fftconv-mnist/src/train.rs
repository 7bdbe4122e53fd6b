//! A small CNN for MNIST, generic over the convolution layer, and its training with burn's
//! `Learner` (metrics, progress display, checkpoints, one device or several).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::AdamConfig;
use burn::optim::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use burn_fftconv::{Conv2dLayer, ConvAlgorithm, FftConv2d};
use burn_train::metric::{AccuracyMetric, LossMetric};
use burn_train::renderer::MetricsRenderer;
use burn_train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};

use crate::batch::{DigitBatch, DigitBatcher};
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

    /// Logits and cross-entropy loss of a batch, in the form burn-train's metrics read.
    pub fn classify(&self, batch: DigitBatch) -> ClassificationOutput {
        let output = self.forward(batch.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&output.device())
            .forward(output.clone(), batch.targets.clone());
        ClassificationOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

impl<C: Conv2dLayer> TrainStep for Net<C> {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.classify(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl<C: Conv2dLayer> InferenceStep for Net<C> {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> ClassificationOutput {
        self.classify(batch)
    }
}

/// A [`Net`] with `FftConv2d` layers computing in the frequency domain.
pub fn fft_net(device: &Device) -> Net<FftConv2d> {
    Net::init(device, |config, device| {
        FftConv2d::from(config.init(device)).with_algorithm(ConvAlgorithm::Fft)
    })
}

/// A [`Net`] with `FftConv2d` layers that time both algorithms on their first call of each
/// shape and keep the faster ([`ConvAlgorithm::Tuned`]).
pub fn tuned_net(device: &Device) -> Net<FftConv2d> {
    Net::init(device, |config, device| {
        FftConv2d::from(config.init(device)).with_algorithm(ConvAlgorithm::Tuned)
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
    /// Digits per batch (per device when training on several).
    pub batch_size: usize,
    /// Adam learning rate of the first step.
    pub learning_rate: f64,
    /// Factor the learning rate has shrunk by after one epoch (applied smoothly, per step).
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

/// Where and how a training run happens, beside the hyperparameters of [`TrainConfig`].
pub struct Run {
    /// Devices to train on (autodiff is added here): one, or several for data-parallel
    /// training, the first one holding the optimizer state.
    pub devices: Vec<Device>,
    /// Directory of the run: checkpoints in `checkpoint/`, metric logs, `experiment.log`.
    pub artifact_dir: PathBuf,
    /// Epoch whose checkpoint the run resumes from, if any.
    pub resume_from: Option<usize>,
    /// Progress display; `None` gives burn-train's default (its terminal dashboard when
    /// standard output is a terminal).
    pub renderer: Option<Box<dyn MetricsRenderer>>,
}

/// Trains `model` with Adam on `train`, validating on `test` after each epoch, with burn's
/// `Learner`: loss and accuracy metrics, a checkpoint per epoch (model, optimizer and
/// scheduler) and resumption from one. Returns the trained model, on the first device,
/// without autodiff.
pub fn fit<C: Conv2dLayer + 'static>(
    model: Net<C>,
    train: Mnist,
    test: Mnist,
    config: &TrainConfig,
    run: Run,
) -> Result<Net<C>, String> {
    let main_device = run
        .devices
        .first()
        .ok_or("fit: no device to train on")?
        .clone();
    if config.batch_size == 0 {
        return Err("fit: the batch size must be at least 1".into());
    }
    if train.is_empty() || test.is_empty() {
        return Err(format!(
            "fit: {} training and {} held-out digits; both must be at least 1",
            train.len(),
            test.len()
        ));
    }
    // Steps per epoch, for the per-step decay that compounds to `learning_rate_decay`.
    let steps = train
        .len()
        .div_ceil(config.batch_size * run.devices.len())
        .max(1);
    let scheduler = ExponentialLrSchedulerConfig::new(
        config.learning_rate,
        config.learning_rate_decay.powf(1.0 / steps as f64),
    )
    .init()
    .map_err(|e| format!("learning rate schedule: {e}"))?;
    let train_loader = loader(train, config, Some(config.seed));
    let test_loader = loader(test, config, None);
    let strategy = match run.devices.len() {
        1 => ExecutionStrategy::SingleDevice(main_device.clone().autodiff()),
        _ => ExecutionStrategy::MultiDevice(
            run.devices.iter().map(|d| d.clone().autodiff()).collect(),
            MultiDeviceOptim::OptimMainDevice,
        ),
    };
    let mut training = SupervisedTraining::new(&run.artifact_dir, train_loader, test_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_default_checkpointers()
        .with_training_strategy(strategy.into())
        .num_epochs(config.epochs)
        .summary();
    if let Some(epoch) = run.resume_from {
        training = training.checkpoint(epoch);
    }
    if let Some(renderer) = run.renderer {
        training = training.renderer(renderer);
    }
    // Tracked parameters on the first device, wherever and in whichever mode they were made.
    let model = model.fork(&main_device.clone().autodiff()).train();
    let result = training.launch(Learner::new(model, AdamConfig::new().init(), scheduler));
    if let Some(error) = result.error {
        return Err(format!("training stopped: {error}"));
    }
    Ok(result.model.valid())
}

/// A data loader over `data` in batches of the configured size, shuffled when `shuffle` gives
/// a seed.
fn loader(
    data: Mnist,
    config: &TrainConfig,
    shuffle: Option<u64>,
) -> Arc<dyn DataLoader<DigitBatch>> {
    let builder =
        DataLoaderBuilder::new(DigitBatcher::for_data(&data)).batch_size(config.batch_size);
    let builder = match shuffle {
        Some(seed) => builder.shuffle(seed),
        None => builder,
    };
    builder.build(data)
}

/// The newest epoch with a model checkpoint in `artifact_dir/checkpoint`, if any.
pub fn latest_checkpoint(artifact_dir: &Path) -> Option<usize> {
    std::fs::read_dir(artifact_dir.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?
                .strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .max()
}

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// Loss and accuracy of `model` on `data`, without gradients.
pub fn evaluate<C: Conv2dLayer>(model: &Net<C>, data: &Mnist, device: &Device) -> Score {
    let batcher = DigitBatcher::for_data(data);
    let (mut loss_sum, mut correct) = (0.0, 0);
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(500)
        .set_device(device.clone())
        .build(data.clone());
    for batch in loader.iter() {
        let batch = batch.expect("digits in memory are always readable");
        let count = batch.targets.dims()[0];
        let scored = model.classify(batch);
        let right = scored
            .output
            .argmax(1)
            .reshape([count as i64])
            .equal(scored.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        loss_sum += scored.loss.into_scalar::<f64>() * count as f64;
        correct += right as usize;
    }
    let len = data.len().max(1) as f64;
    Score {
        loss: loss_sum / len,
        accuracy: correct as f64 / len,
    }
}

//! Trains a small CNN on MNIST with `FftConv2d` (or burn's `Conv2d`) through burn's `Learner`,
//! offline on the bundled digits by default.
//!
//! ```sh
//! cargo run --release -p fftconv-mnist --example mnist                      # bundled 10,000 digits, FFT conv
//! cargo run --release -p fftconv-mnist --example mnist -- --help            # every option and its default
//! cargo run --release -p fftconv-mnist --example mnist -- --conv direct     # the same model with Conv2d
//! cargo run --release -p fftconv-mnist --example mnist -- --resume          # go on from the last checkpoint
//! cargo run --release -p fftconv-mnist --example mnist -- --eval artifacts/mnist-fft/model.bpk
//! ```

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use burn_fftconv::{Conv2dLayer, device_named};
use clap::{Parser, ValueEnum};
use fftconv_mnist::dataset::{self, Mnist};
use fftconv_mnist::progress::LineProgress;
use fftconv_mnist::store::{load_model, save_model};
use fftconv_mnist::train::{
    Net, Run, TrainConfig, direct_net, evaluate, fft_net, fit, latest_checkpoint, tuned_net,
};

/// Train (or evaluate) a two-convolution CNN on MNIST, its convolutions computed with FFTs
/// (burn-fftconv's `FftConv2d`) or directly (burn's `Conv2d`).
#[derive(Parser, Debug)]
#[command(name = "mnist")]
struct Args {
    /// How the convolutions are computed.
    #[arg(long, value_enum, default_value_t = Conv::Fft)]
    conv: Conv,
    /// Device to train on: flex, ndarray, wgpu or wgpu:N (the Nth discrete GPU). Several
    /// (repeated or comma-separated) train data-parallel, the first holding the optimizer.
    #[arg(long, value_delimiter = ',', default_value = "flex")]
    device: Vec<String>,
    /// Directory of the full MNIST IDX files (gzipped or not); the bundled 10,000 digits
    /// (8,000 to train, 2,000 held out) when absent.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use only the first N training and the first N held-out digits.
    #[arg(long)]
    limit: Option<usize>,
    /// Passes over the training set.
    #[arg(long, default_value_t = TrainConfig::default().epochs, value_parser = at_least_one)]
    epochs: usize,
    /// Digits per batch (per device).
    #[arg(long, default_value_t = TrainConfig::default().batch_size, value_parser = at_least_one)]
    batch_size: usize,
    /// Adam learning rate at the start.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Factor the learning rate shrinks by over each epoch.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate_decay)]
    lr_decay: f64,
    /// Seed of the initialization and the shuffling.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Directory of the run (checkpoints, metric logs); artifacts/mnist-<conv> when absent.
    #[arg(long)]
    artifact_dir: Option<PathBuf>,
    /// Resume from the checkpoint of this epoch, or of the last one saved when no epoch is given.
    #[arg(long, num_args = 0..=1, value_name = "EPOCH")]
    resume: Option<Option<usize>>,
    /// Where the trained model goes; <artifact-dir>/model.bpk when absent.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Evaluate this saved model on the held-out digits instead of training.
    #[arg(long, value_name = "MODEL")]
    eval: Option<PathBuf>,
    /// Progress display: burn-train's dashboard, plain lines, or the dashboard only when
    /// standard output is a terminal.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
}

/// A count that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1, got 0".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a count: {e}")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Conv {
    /// burn-fftconv's `FftConv2d`, in the frequency domain.
    Fft,
    /// burn's `Conv2d`.
    Direct,
    /// `FftConv2d` layers that time both on their first call of each shape and keep the
    /// faster (`ConvAlgorithm::Tuned`).
    Tuned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Progress {
    /// The dashboard on a terminal, lines otherwise.
    Auto,
    /// burn-train's terminal dashboard.
    Dashboard,
    /// A few plain lines per epoch.
    Lines,
}

impl Args {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            learning_rate_decay: self.lr_decay,
            seed: self.seed,
        }
    }

    fn conv_name(&self) -> &'static str {
        match self.conv {
            Conv::Fft => "fft",
            Conv::Direct => "direct",
            Conv::Tuned => "tuned",
        }
    }

    fn artifact_dir(&self) -> PathBuf {
        self.artifact_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("artifacts/mnist-{}", self.conv_name())))
    }
}

fn run<C: Conv2dLayer + 'static>(
    args: &Args,
    make_model: impl Fn(&Device) -> Net<C>,
    devices: Vec<Device>,
    (train_set, test_set): (Mnist, Mnist),
) -> Result<(), String> {
    let main_device = devices[0].clone();
    if let Some(path) = &args.eval {
        let mut model = make_model(&main_device);
        load_model(&mut model, path)?;
        let score = evaluate(&model, &test_set, &main_device);
        println!(
            "{}: test loss {:.4}, accuracy {:.2}% on {} digits",
            path.display(),
            score.loss,
            100.0 * score.accuracy,
            test_set.len()
        );
        return Ok(());
    }
    let artifact_dir = args.artifact_dir();
    let resume_from = match args.resume {
        None => None,
        Some(Some(epoch)) => Some(epoch),
        Some(None) => Some(latest_checkpoint(&artifact_dir).ok_or_else(|| {
            format!(
                "--resume: no checkpoint in {}",
                artifact_dir.join("checkpoint").display()
            )
        })?),
    };
    let dashboard = match args.progress {
        Progress::Auto => std::io::stdout().is_terminal(),
        Progress::Dashboard => true,
        Progress::Lines => false,
    };
    println!(
        "training {} conv on {:?}: {} training digits, {} held out, {} epochs of batch {}",
        args.conv_name(),
        devices,
        train_set.len(),
        test_set.len(),
        args.epochs,
        args.batch_size
    );
    let start = Instant::now();
    let model = fit(
        make_model(&main_device),
        train_set,
        test_set.clone(),
        &args.config(),
        Run {
            devices,
            artifact_dir: artifact_dir.clone(),
            resume_from,
            renderer: (!dashboard).then(|| Box::new(LineProgress::new()) as _),
        },
    )?;
    let total = start.elapsed().as_secs_f64();
    let epochs_run = args.epochs.saturating_sub(resume_from.unwrap_or(0)).max(1);
    let score = evaluate(&model, &test_set, &main_device);
    println!(
        "summary: {} conv, test accuracy {:.2}%, test loss {:.4}, {:.1} s per epoch, {:.1} s in all",
        args.conv_name(),
        100.0 * score.accuracy,
        score.loss,
        total / epochs_run as f64,
        total
    );
    let path = args
        .save
        .clone()
        .unwrap_or_else(|| artifact_dir.join("model.bpk"));
    save_model(&model, &path)?;
    println!(
        "model saved to {} (evaluate with --eval {}); checkpoints in {}",
        path.display(),
        path.display(),
        artifact_dir.join("checkpoint").display()
    );
    Ok(())
}

/// The `BURN_DEVICE` name of the backend of a `--device` name.
fn backend_name(device: &str) -> &str {
    device
        .split_once(':')
        .map_or(device, |(backend, _)| backend)
}

fn main() -> ExitCode {
    // Each training step frees and allocates tens of MiB; without this, glibc gave them back
    // to the OS and faulted them in again, step after step (twice the run time with FFTs).
    burn_fftconv::keep_freed_memory_mapped();
    let args = Args::parse();
    let result = (|| {
        let devices = args
            .device
            .iter()
            .map(|name| device_named(name).map_err(|e| format!("--device: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        // burn-optim 0.22.1 puts Adam's state on the default device when a checkpoint is
        // resumed; make that the training device (the first) unless the user chose a default.
        if std::env::var_os("BURN_DEVICE").is_none() {
            let backend = backend_name(&args.device[0]).to_string();
            // SAFETY: no other thread exists yet: naming devices starts no runtime.
            unsafe { std::env::set_var("BURN_DEVICE", backend) };
        }
        let data = match &args.data_dir {
            Some(dir) => dataset::full(dir),
            None => dataset::bundled(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k"),
            ),
        }
        .map_err(|e| e.to_string())?;
        let data = match args.limit {
            Some(n) => (data.0.take(n), data.1.take(n)),
            None => data,
        };
        for device in &devices {
            device.seed(args.seed);
        }
        match args.conv {
            Conv::Fft => run(&args, fft_net, devices, data),
            Conv::Direct => run(&args, direct_net, devices, data),
            Conv::Tuned => run(&args, tuned_net, devices, data),
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

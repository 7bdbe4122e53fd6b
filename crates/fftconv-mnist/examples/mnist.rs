//! Trains a small CNN on MNIST with `FftConv2d` (or burn's `Conv2d`), offline.
//!
//! ```sh
//! cargo run --release -p fftconv-mnist --example mnist                      # bundled 10,000 digits, FFT conv
//! cargo run --release -p fftconv-mnist --example mnist -- --conv direct     # the same model with Conv2d
//! cargo run --release -p fftconv-mnist --example mnist -- --data-dir DIR    # full MNIST IDX files
//! cargo run --release -p fftconv-mnist --example mnist -- --eval artifacts/mnist-fft.bpk
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use burn_fftconv::{Conv2dLayer, device_named};
use fftconv_mnist::dataset::{self, Mnist};
use fftconv_mnist::store::{load_model, save_model};
use fftconv_mnist::train::{EpochReport, Net, TrainConfig, direct_net, evaluate, fft_net, train};

const USAGE: &str = "usage: mnist [--conv fft|direct] [--device flex|ndarray|wgpu] [--data-dir DIR] \
[--epochs N] [--batch-size N] [--lr RATE] [--limit N] [--save PATH] [--eval PATH]";

struct Args {
    conv: String,
    device: String,
    data_dir: Option<PathBuf>,
    config: TrainConfig,
    limit: Option<usize>,
    save: Option<PathBuf>,
    eval: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        conv: "fft".into(),
        device: "flex".into(),
        data_dir: None,
        config: TrainConfig::default(),
        limit: None,
        save: None,
        eval: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--conv" => args.conv = value()?,
            "--device" => args.device = value()?,
            "--data-dir" => args.data_dir = Some(value()?.into()),
            "--epochs" => args.config.epochs = number(value()?)?,
            "--batch-size" => args.config.batch_size = number(value()?)?.max(1),
            "--lr" => {
                let v = value()?;
                args.config.learning_rate =
                    v.parse().map_err(|_| format!("--lr: not a number: {v}"))?
            }
            "--limit" => args.limit = Some(number(value()?)?),
            "--save" => args.save = Some(value()?.into()),
            "--eval" => args.eval = Some(value()?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if !matches!(args.conv.as_str(), "fft" | "direct") {
        return Err(format!("--conv must be fft or direct, got {}", args.conv));
    }
    Ok(args)
}

fn print_epoch(report: &EpochReport) {
    println!(
        "epoch {:>2} | train loss {:.4} acc {:6.2}% | test loss {:.4} acc {:6.2}% | {:.1} s",
        report.epoch,
        report.train.loss,
        100.0 * report.train.accuracy,
        report.test.loss,
        100.0 * report.test.accuracy,
        report.train_seconds
    );
}

fn run<C: Conv2dLayer>(
    args: &Args,
    make_model: impl Fn(&Device) -> Net<C>,
    device: &Device,
    data: (Mnist, Mnist),
) -> Result<(), String> {
    let (train_set, test_set) = data;
    if let Some(path) = &args.eval {
        let mut model = make_model(device);
        load_model(&mut model, path)?;
        let score = evaluate(&model, &test_set, device);
        println!(
            "{}: test loss {:.4}, accuracy {:.2}% on {} digits",
            path.display(),
            score.loss,
            100.0 * score.accuracy,
            test_set.len()
        );
        return Ok(());
    }
    println!(
        "training {} conv on {:?}: {} training digits, {} held out, {} epochs of batch {}",
        args.conv,
        device,
        train_set.len(),
        test_set.len(),
        args.config.epochs,
        args.config.batch_size
    );
    let start = Instant::now();
    let autodiff = device.clone().autodiff();
    let (model, reports) = train(
        make_model(&autodiff),
        &train_set,
        &test_set,
        &args.config,
        &autodiff,
        print_epoch,
    );
    let total = start.elapsed().as_secs_f64();
    let last = reports.last().ok_or("--epochs must be at least 1")?;
    let per_epoch = reports.iter().map(|r| r.train_seconds).sum::<f64>() / reports.len() as f64;
    println!(
        "summary: {} conv, test accuracy {:.2}%, test loss {:.4}, {:.1} s per training epoch, {:.1} s in all",
        args.conv,
        100.0 * last.test.accuracy,
        last.test.loss,
        per_epoch,
        total
    );
    let path = args
        .save
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("artifacts/mnist-{}.bpk", args.conv)));
    save_model(&model.valid(), &path)?;
    println!(
        "model saved to {} (evaluate with --eval {})",
        path.display(),
        path.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        let device = device_named(&args.device).map_err(|e| format!("--device: {e}"))?;
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
        device.seed(args.config.seed);
        match args.conv.as_str() {
            "fft" => run(&args, fft_net, &device, data),
            _ => run(&args, direct_net, &device, data),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

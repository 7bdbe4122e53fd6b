//! Learning the FFT's butterfly factorization by gradient descent (f64, Flex).
//!
//! `cargo run --release -p fftconv-butterfly --example learn_fft` runs (a) the recipe as first specified (reported to fail) at N = 512
//! with per-level diagnostics, and (b) the growing recipe for N = 8 … 512 from all-ones and
//! random starts, both parameterizations, and plots their operator error against step in
//! `artifacts/learn_fft.svg`. `-- --ablations` adds the variants that tell which ingredient
//! matters. See `docs/learn_fft.md`.

use burn::tensor::{Device, FloatDType};
use fftconv_butterfly::learn::{Checkpoint, Probe, Recipe, Update, train};
use fftconv_butterfly::{ButterflyInit, Parameterization};

const LEN: usize = 512;

fn short(values: &[f64]) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.1e}")).collect();
    cells.join(" ")
}

/// Operator error against step, one line per recipe.
type Curve = (String, Vec<(usize, f64)>);

fn specified_recipe(device: &Device) -> Curve {
    println!("## (a) the recipe as specified, N = {LEN}: free twiddles and M all ones, Adam 1e-2,");
    println!("##     batches of 16 N(0,1) rows, MSE on real and imaginary parts, 3000 steps\n");
    println!(
        "| step | loss | operator error | gradient RMS, levels 1..9 | factor error, levels 1..9 | twiddle modulus range |"
    );
    println!("|---:|---:|---:|---|---|---|");
    let mut curve = Vec::new();
    let print = |c: &Checkpoint| {
        curve.push((c.step, c.error));
        if !c.step.is_multiple_of(250) {
            return;
        }
        let (lo, hi) = c.modulus[1..]
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), m| {
                (lo.min(m.0), hi.max(m.1))
            });
        println!(
            "| {} | {:.2e} | {:.2e} | {} | {} | {lo:.2}..{hi:.2} |",
            c.step,
            c.loss,
            c.error,
            short(&c.gradient_rms),
            short(&c.factor_error)
        );
    };
    let outcome = train(LEN, &Recipe::as_specified(), device, 50, print);
    println!(
        "\n(a) final relative operator error {:.2e} after {} steps ({:.1} s)\n",
        outcome.error, outcome.steps, outcome.seconds
    );
    ("(a) free, all ones, Adam".into(), curve)
}

fn growing_recipe(device: &Device) -> Vec<Curve> {
    println!("## (b) growing recipe: one new level per length, lower levels frozen, gradient");
    println!(
        "##     descent with Polyak's step, batches of 16 N(0,1) rows, <= 300 steps a level\n"
    );
    println!("| N | twiddles | start | steps | seconds | operator error |");
    println!("|---:|---|---|---:|---:|---:|");
    let mut curves = Vec::new();
    for parameterization in [Parameterization::Free, Parameterization::UnitModulus] {
        for init in [ButterflyInit::Ones, ButterflyInit::Random { seed: 3 }] {
            let recipe = Recipe::growing(parameterization, init);
            for len in (3..=LEN.trailing_zeros()).map(|s| 1 << s) {
                let mut curve = Vec::new();
                let outcome = train(len, &recipe, device, 10, |c| {
                    curve.push((c.len, c.step, c.seconds, c.error));
                });
                println!(
                    "| {len} | {parameterization:?} | {} | {} | {:.2} | {:.2e} |",
                    start_name(init),
                    outcome.steps,
                    outcome.seconds,
                    outcome.error
                );
                if len == LEN {
                    curves.push((parameterization, init, curve));
                }
            }
        }
    }
    println!("\n### (b) at N = {LEN}: operator error of each grown length when it is done\n");
    println!("| twiddles | start | length: step, seconds, error |");
    println!("|---|---|---|");
    let mut plotted = Vec::new();
    for (parameterization, init, curve) in curves {
        // The last checkpoint of each length is where it was done.
        let done = curve
            .iter()
            .enumerate()
            .filter(|(i, point)| curve.get(i + 1).is_none_or(|next| next.0 != point.0));
        let cells: Vec<String> = done
            .map(|(_, (len, step, seconds, error))| {
                format!("{len}: {step}, {seconds:.2}, {error:.1e}")
            })
            .collect();
        println!(
            "| {parameterization:?} | {} | {} |",
            start_name(init),
            cells.join(" · ")
        );
        let points = curve.iter().map(|c| (c.1, c.3)).collect();
        plotted.push((
            format!("(b) {parameterization:?}, {}", start_name(init)),
            points,
        ));
    }
    println!();
    plotted
}

/// An SVG plot of `curves`: log operator error of the length being trained against step
/// (always N for (a); 2, 4, …, N in turn for (b)).
fn plot(curves: &[Curve]) -> String {
    let (width, height, left, bottom) = (720.0, 420.0, 70.0, 40.0);
    let max_step = curves
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1) as f64;
    let (log_lo, log_hi) = (-17.0, 1.0);
    let x = |step: usize| left + (width - left - 20.0) * step as f64 / max_step;
    let y = |error: f64| {
        let log = error.max(1e-17).log10().clamp(log_lo, log_hi);
        20.0 + (height - bottom - 20.0) * (log_hi - log) / (log_hi - log_lo)
    };
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for exponent in (log_lo as i32..=log_hi as i32).step_by(2) {
        let level = y(10f64.powi(exponent));
        svg += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{level}\" y2=\"{level}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{exponent}</text>\n",
            width - 20.0,
            left - 6.0,
            level + 4.0
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step (max {max_step})</text>\n\
         <text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">\
         relative operator error of the trained length</text>\n",
        (left + width) / 2.0,
        height - 8.0,
        height / 2.0,
        height / 2.0
    );
    for (i, (name, points)) in curves.iter().enumerate() {
        let color = colors[i % colors.len()];
        let path: Vec<String> = points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(step, error)| format!("{:.1},{:.1}", x(step), y(error)))
            .collect();
        svg += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>\n",
            path.join(" "),
            width - 260.0,
            30.0 + 16.0 * i as f64
        );
    }
    svg + "</svg>\n"
}

fn start_name(init: ButterflyInit) -> &'static str {
    match init {
        ButterflyInit::Ones => "ones",
        ButterflyInit::Random { .. } => "random",
        ButterflyInit::Exact => "exact",
    }
}

fn ablations(device: &Device) {
    println!("## Ablations at N = {LEN} (final operator error)\n");
    println!("| variant | steps | seconds | operator error | factor error, levels 1..9 |");
    println!("|---|---:|---:|---:|---|");
    let specified = Recipe::as_specified();
    let growing = Recipe::growing(Parameterization::Free, ButterflyInit::Ones);
    let variants = [
        ("(a) as specified", specified.clone()),
        (
            "(a), random start",
            Recipe {
                init: ButterflyInit::Random { seed: 3 },
                ..specified.clone()
            },
        ),
        (
            "(a), Adam ε = 1e-8 (PyTorch's)",
            Recipe {
                update: Update::Adam {
                    learning_rate: 1e-2,
                    epsilon: 1e-8,
                },
                ..specified.clone()
            },
        ),
        (
            "(a), unit-modulus twiddles",
            Recipe {
                parameterization: Parameterization::UnitModulus,
                ..specified.clone()
            },
        ),
        (
            "(a), unit-modulus twiddles, random start",
            Recipe {
                parameterization: Parameterization::UnitModulus,
                init: ButterflyInit::Random { seed: 3 },
                ..specified.clone()
            },
        ),
        (
            "(a), Polyak-step gradient descent instead of Adam",
            Recipe {
                update: Update::Polyak,
                ..specified.clone()
            },
        ),
        (
            "(b) without freezing (all grown levels trained)",
            Recipe {
                freeze: false,
                ..growing.clone()
            },
        ),
        (
            "(b) without freezing, basis probe (no sampling noise)",
            Recipe {
                freeze: false,
                probe: Probe::Basis,
                ..growing.clone()
            },
        ),
        (
            "(b) with Adam 1e-2 instead of Polyak's step, unit-modulus",
            Recipe {
                parameterization: Parameterization::UnitModulus,
                update: specified.update,
                ..growing.clone()
            },
        ),
    ];
    for (name, recipe) in variants {
        let mut last = None;
        let outcome = train(LEN, &recipe, device, usize::MAX, |c| last = Some(c.clone()));
        let factor_error = last.map_or_else(String::new, |c| short(&c.factor_error));
        println!(
            "| {name} | {} | {:.1} | {:.2e} | {factor_error} |",
            outcome.steps, outcome.seconds, outcome.error
        );
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = args.iter().find(|a| *a != "--ablations") {
        eprintln!("learn_fft: unknown argument `{unknown}` (the only option is --ablations)");
        std::process::exit(2);
    }
    let mut device = Device::flex();
    device
        .configure(FloatDType::F64)
        .expect("the first use of the Flex device can choose f64");
    let device = device.autodiff();
    let mut curves = vec![specified_recipe(&device)];
    curves.extend(growing_recipe(&device));
    let path = std::path::Path::new("artifacts/learn_fft.svg");
    let written =
        std::fs::create_dir_all("artifacts").and_then(|()| std::fs::write(path, plot(&curves)));
    match written {
        Ok(()) => println!("wrote {} (operator error against step)\n", path.display()),
        Err(error) => eprintln!("learn_fft: could not write {}: {error}", path.display()),
    }
    if args.iter().any(|a| a == "--ablations") {
        ablations(&device);
    }
}

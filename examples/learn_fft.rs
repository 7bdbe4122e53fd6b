//! Learning the FFT's butterfly factorization by gradient descent (f64, Flex).
//!
//! `cargo run --release --example learn_fft` runs (a) the known failing recipe at N = 512
//! with per-level diagnostics, and (b) the growing recipe for N = 8 … 512 from all-ones and
//! random starts, both parameterizations. `-- --ablations` adds the variants that tell which
//! ingredient matters. See `docs/learn_fft.md`.

use burn::tensor::{Device, FloatDType};
use fftconv_butterfly::learn::{Checkpoint, Probe, Recipe, Update, train};
use fftconv_butterfly::{ButterflyInit, Parameterization};

const LEN: usize = 512;

fn short(values: &[f64]) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.1e}")).collect();
    cells.join(" ")
}

fn failing_recipe(device: &Device) {
    println!("## (a) known failing recipe, N = {LEN}: free twiddles and M all ones, Adam 1e-2,");
    println!("##     batches of 16 N(0,1) rows, MSE on real and imaginary parts, 3000 steps\n");
    println!(
        "| step | loss | operator error | gradient RMS, levels 1..9 | factor error, levels 1..9 | twiddle modulus range |"
    );
    println!("|---:|---:|---:|---|---|---|");
    let print = |c: &Checkpoint| {
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
    let outcome = train(LEN, &Recipe::failing(), device, 250, print);
    println!(
        "\n(a) final relative operator error {:.2e} after {} steps ({:.1} s)\n",
        outcome.error, outcome.steps, outcome.seconds
    );
}

fn growing_recipe(device: &Device) {
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
                let outcome = train(len, &recipe, device, recipe.steps, |c| {
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
    for (parameterization, init, curve) in curves {
        let cells: Vec<String> = curve
            .iter()
            .map(|(len, step, seconds, error)| format!("{len}: {step}, {seconds:.2}, {error:.1e}"))
            .collect();
        println!(
            "| {parameterization:?} | {} | {} |",
            start_name(init),
            cells.join(" · ")
        );
    }
    println!();
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
    let failing = Recipe::failing();
    let growing = Recipe::growing(Parameterization::Free, ButterflyInit::Ones);
    let variants = [
        ("(a) as specified", failing.clone()),
        (
            "(a), random start",
            Recipe {
                init: ButterflyInit::Random { seed: 3 },
                ..failing.clone()
            },
        ),
        (
            "(a), Adam ε = 1e-8 (PyTorch's)",
            Recipe {
                update: Update::Adam {
                    learning_rate: 1e-2,
                    epsilon: 1e-8,
                },
                ..failing.clone()
            },
        ),
        (
            "(a), unit-modulus twiddles",
            Recipe {
                parameterization: Parameterization::UnitModulus,
                ..failing.clone()
            },
        ),
        (
            "(a), unit-modulus twiddles, random start",
            Recipe {
                parameterization: Parameterization::UnitModulus,
                init: ButterflyInit::Random { seed: 3 },
                ..failing.clone()
            },
        ),
        (
            "(a), Polyak-step gradient descent instead of Adam",
            Recipe {
                update: Update::Polyak,
                ..failing.clone()
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
                update: failing.update,
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
    failing_recipe(&device);
    growing_recipe(&device);
    if args.iter().any(|a| a == "--ablations") {
        ablations(&device);
    }
}

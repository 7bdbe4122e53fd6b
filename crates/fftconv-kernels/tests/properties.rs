//! Property tests over geometries with extreme values (0, 1, huge sizes, strides, dilations
//! and paddings): every call returns a correct result or an error that says what is wrong;
//! none panics inside the kernels, hangs or allocates for a size it was not given data for.

use std::collections::BTreeMap;

use fftconv_kernels::cost::prefers_fft;
use fftconv_kernels::{
    ConvGeometry, GeometryError, check_budget, conv, conv_input_grad, conv_weight_grad,
};
use fftconv_testing::reference::by_definition;
use fftconv_testing::{Sampler, relative_error};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// Element counts up to which a case computes and checks the convolution.
const CHECKED_ELEMENTS: usize = 4096;

/// Mostly `common`, sometimes 0, sometimes huge: 2^26 (a transform past the budget), 2^40,
/// 2^62 and `usize::MAX` (sums and products past `usize`).
fn size(common: std::ops::Range<usize>) -> impl Strategy<Value = usize> {
    prop_oneof![
        14 => common,
        1 => Just(0),
        3 => prop::sample::select(vec![1 << 26, 1 << 40, 1 << 62, usize::MAX]),
    ]
}

/// The arguments of one call of `N` spatial axes: shapes of `x` and `weight` (`N + 2`
/// entries each), stride, padding, dilation, groups.
type Arguments<const N: usize> = (
    Vec<usize>,
    Vec<usize>,
    [usize; N],
    [(usize, usize); N],
    [usize; N],
    usize,
);

/// Channels consistent with the groups most of the time (so that the geometry's other checks
/// and the kernels are reached), arbitrary otherwise; inputs mostly in `input`, kernels
/// mostly in `kernel`.
fn arguments<const N: usize>(
    input: std::ops::Range<usize>,
    kernel: std::ops::Range<usize>,
) -> impl Strategy<Value = Arguments<N>> {
    let small = || size(1..4);
    let channels = (
        small(),
        small(),
        small(),
        prop::bool::weighted(0.9),
        small(),
    );
    let per_axis = |common: std::ops::Range<usize>| -> [_; N] {
        std::array::from_fn(|_| size(common.clone()))
    };
    let padding: [_; N] = std::array::from_fn(|_| (size(0..3), size(0..3)));
    let axes = (per_axis(input), per_axis(kernel), per_axis(1..4), padding);
    (small(), channels, axes, per_axis(1..4)).prop_map(
        |(batch, (groups, per_in, per_out, consistent, any_in), axes, dilation)| {
            let (input, kernel, stride, padding) = axes;
            let weight_in = if consistent { per_in } else { any_in };
            let x = [batch, groups.saturating_mul(per_in)];
            let w = [groups.saturating_mul(per_out), weight_in];
            (
                x.into_iter().chain(input).collect(),
                w.into_iter().chain(kernel).collect(),
                stride,
                padding,
                dilation,
                groups,
            )
        },
    )
}

fn len(shape: Vec<usize>) -> usize {
    shape.iter().product()
}

/// Checks one call and says which way it went.
fn check<const N: usize>(
    arguments: Arguments<N>,
    seed: u64,
) -> Result<&'static str, TestCaseError> {
    let (x, w, stride, padding, dilation, groups) = arguments;
    let g = match ConvGeometry::new(&x, &w, stride, padding, dilation, groups) {
        Ok(g) => g,
        Err(GeometryError::Overflow { .. }) => return Ok("overflow refused"),
        Err(_) => return Ok("invalid arguments refused"),
    };
    // The model and the budget answer for every valid geometry, whatever its size.
    let within_budget = check_budget(&g).is_ok();
    prefers_fft(&g);
    let sizes = [g.input_shape(), g.weight_shape(), g.output_shape()].map(len);
    if sizes.iter().any(|&n| n > CHECKED_ELEMENTS) {
        // Buffers this large are not made here: too short ones are refused by name.
        let refused = conv::<f64>(g, &[], &[], None).unwrap_err();
        prop_assert!(
            matches!(refused, GeometryError::BufferLength { .. }),
            "{refused:?}"
        );
        return Ok("large, short buffers refused");
    }
    for axis in g.axes() {
        prop_assert_eq!(axis.phase_count(), axis.phases().len());
    }
    let mut sampler = Sampler::new(seed);
    let [x, w, dy] = sizes.map(|n| sampler.values(n));
    let results = (
        conv(g, &x, &w, None),
        conv_input_grad(g, &w, &dy),
        conv_weight_grad(g, &x, &dy),
    );
    match results {
        (Ok(y), Ok(dx), Ok(dw)) => {
            prop_assert!(within_budget);
            let [y_ref, dx_ref, dw_ref] = by_definition(&g, &x, &w, &dy);
            for (name, got, expected) in [("y", y, y_ref), ("dx", dx, dx_ref), ("dw", dw, dw_ref)] {
                let error = relative_error(&got, &expected);
                prop_assert!(error < 1e-9, "{name}: relative error {error:e} for {g:?}");
            }
            Ok("computed and checked")
        }
        (Err(GeometryError::OverBudget { .. }), Err(_), Err(_)) => {
            prop_assert!(!within_budget);
            Ok("over the budget refused")
        }
        other => Err(TestCaseError::fail(format!(
            "inconsistent results {other:?} for {g:?}"
        ))),
    }
}

/// `cases` seeded cases of `N` axes; every outcome must occur, so the properties are
/// exercised on each path, and at least `computed` are computed and checked.
fn run<const N: usize>(
    (cases, seed, computed): (u32, u64, usize),
    strategy: impl Strategy<Value = Arguments<N>>,
) {
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let outcomes = std::sync::Mutex::new(BTreeMap::<&str, usize>::new());
    let mut runner = TestRunner::new(config);
    runner
        .run(&(strategy, any::<u64>()), |(arguments, seed)| {
            let outcome = check(arguments, seed)?;
            *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner().unwrap();
    println!("{N}-D: {outcomes:#?}");
    for outcome in [
        "overflow refused",
        "invalid arguments refused",
        "large, short buffers refused",
        "over the budget refused",
        "computed and checked",
    ] {
        assert!(
            outcomes.contains_key(outcome),
            "no case {outcome}: {outcomes:?}"
        );
    }
    assert!(outcomes["computed and checked"] >= computed, "{outcomes:?}");
}

/// 10 000 seeded 2-D cases.
#[test]
fn any_geometry_gives_a_right_result_or_a_named_error() {
    run((10_000, 0xf17c, 200), arguments::<2>(1..12, 1..5));
}

/// 4 000 seeded cases in one dimension, 20 000 in three (where an extreme value on one of
/// three axes makes most geometries invalid).
#[test]
fn any_geometry_of_one_or_three_axes_gives_a_right_result_or_a_named_error() {
    run((4_000, 0x1d, 200), arguments::<1>(1..40, 1..9));
    run((20_000, 0x3d, 100), arguments::<3>(1..7, 1..4));
}

//! Hostile and extreme geometries: sizes that overflow are refused by name, work is bounded by
//! the spectral budget, and f32 values near `f32::MAX` stay finite where direct convolution
//! does. CI runs these with release arithmetic (no overflow checks).

use std::time::{Duration, Instant};

use fftconv_kernels::cost::{choose_tile, prefers_fft};
use fftconv_kernels::{
    ConvGeometry, GeometryError, check_budget, conv, conv_input_grad, conv_weight_grad, fast_len,
};

fn geometry(
    x: [usize; 4],
    w: [usize; 4],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
) -> Result<ConvGeometry, GeometryError> {
    ConvGeometry::new(&x, &w, stride, padding, dilation, 1)
}

/// The argument an overflow error names.
fn overflowing_argument(result: Result<ConvGeometry, GeometryError>) -> &'static str {
    match result {
        Err(GeometryError::Overflow { argument, .. }) => argument,
        other => panic!("expected an overflow error, got {other:?}"),
    }
}

/// Batch 2 and 2^63 channels: the element count wraps to 0 in release arithmetic, which once
/// let empty buffers through to the unsafe per-bin products.
#[test]
fn element_counts_that_overflow_are_refused() {
    let huge = 1 << 63;
    let result = geometry(
        [2, huge, 1, 1],
        [2, huge, 1, 1],
        [1; 2],
        [(0, 0); 2],
        [1; 2],
    );
    assert_eq!(overflowing_argument(result.clone()), "x");
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("does not fit in usize"),
        "the message says why"
    );
    let result = geometry([1, 1, 1, 1], [huge, 1, 3, 3], [1; 2], [(0, 2); 2], [1; 2]);
    assert_eq!(overflowing_argument(result), "weight");
    let max = usize::MAX;
    let result = geometry(
        [1, 1, 4, 4],
        [1, 1, 1, 1],
        [1; 2],
        [(max, 1), (0, 0)],
        [1; 2],
    );
    assert_eq!(overflowing_argument(result), "padding");
    let result = geometry(
        [1, 1, 4, 4],
        [1, 1, 3, 3],
        [1; 2],
        [(0, 0); 2],
        [max / 2 + 1, 1],
    );
    assert_eq!(overflowing_argument(result), "dilation");
}

/// One output value from two taps, dilated over 2^27 columns: the FFT path would need a
/// transform of 1.3e8 points (82 s and gigabytes before the budget). It is refused at once,
/// by size, and `Auto`'s model never picks it.
#[test]
fn a_giant_transform_for_a_tiny_convolution_is_refused_quickly() {
    let g = geometry(
        [1, 1, 1, 1],
        [1, 1, 1, 2],
        [1; 2],
        [(0, 0), (1 << 26, 1 << 26)],
        [1, 1 << 27],
    )
    .expect("burn accepts this geometry");
    let start = Instant::now();
    let refusal = check_budget(&g).expect_err("over the budget");
    assert!(
        matches!(
            refusal,
            GeometryError::OverBudget {
                quantity: "transform",
                ..
            }
        ),
        "{refusal:?}"
    );
    assert!(refusal.to_string().contains("SpectralBudget"), "{refusal}");
    assert_eq!(conv(g, &[1.0f32], &[1.0, 2.0], None), Err(refusal.clone()));
    assert_eq!(conv_input_grad(g, &[1.0f32, 2.0], &[1.0]), Err(refusal));
    assert!(!prefers_fft(&g));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// A valid geometry with an output of 2^40 columns: the tile search enumerates fast sizes
/// instead of every tile width, and picks tiles within the budget.
#[test]
fn the_tile_search_is_bounded_on_huge_outputs() {
    let g = geometry(
        [1, 1, 1, 1 << 40],
        [1, 1, 1, 3],
        [1; 2],
        [(0, 0); 2],
        [1; 2],
    )
    .unwrap();
    let [_, th, tw] = choose_tile(&g).expect("small tiles fit the budget");
    assert_eq!(th, 1);
    assert!(tw < 1 << 24, "tile width {tw}");
}

#[test]
fn fast_lengths_of_huge_targets_are_found_by_enumeration() {
    for target in [(1usize << 40) + 1, (1 << 62) + 1, usize::MAX / 3] {
        let n = fast_len(target, true);
        assert!(n >= target && n.is_multiple_of(2), "{target} -> {n}");
        let mut rest = n;
        for p in [2, 3] {
            while rest.is_multiple_of(p) {
                rest /= p;
            }
        }
        assert_eq!(rest, 1, "{n} is 3-smooth");
    }
}

#[test]
#[should_panic(expected = "fits in usize")]
fn a_fast_length_beyond_usize_panics_by_name() {
    fast_len(usize::MAX - 1, true);
}

/// The direct cross-correlation of one `[1, 1, side, side]` map with a `k x k` kernel of ones
/// ("valid"), in f64.
fn box_filter(x: &[f64], side: usize, k: usize) -> Vec<f64> {
    let out = side - k + 1;
    let mut y = vec![0.0; out * out];
    for (i, row) in y.chunks_exact_mut(out).enumerate() {
        for (j, value) in row.iter_mut().enumerate() {
            *value = (0..k * k).map(|t| x[(i + t / k) * side + j + t % k]).sum();
        }
    }
    y
}

fn assert_finite_and_close(what: &str, got: &[f32], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (g, e) in got.iter().zip(expected) {
        assert!(g.is_finite(), "{what}: {g} where direct gives {e:e}");
        let error = (*g as f64 - e).abs() / e.abs();
        assert!(error < 1e-5, "{what}: {g:e} vs {e:e}");
    }
}

/// An f32 input of 1e36 under a 3x3 kernel of ones: direct gives 9e36, finite; the
/// unnormalized transform once summed a whole tile into its DC bin and returned infinity.
/// The same holds for the output gradient in the input gradient, and (at 1e34, where the
/// sum over the output stays finite) for the weight gradient.
#[test]
fn values_near_the_top_of_the_f32_range_stay_finite() {
    let (side, k) = (28, 3);
    let g = geometry(
        [1, 1, side, side],
        [1, 1, k, k],
        [1; 2],
        [(0, 0); 2],
        [1; 2],
    )
    .unwrap();
    let out = side - k + 1;
    let ones = vec![1.0f32; k * k];
    let x = vec![1e36f32; side * side];
    let y = conv(g, &x, &ones, None).unwrap();
    let wide_x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    assert_finite_and_close("y", &y, &box_filter(&wide_x, side, k));

    let dy = vec![1e36f32; out * out];
    let dx = conv_input_grad(g, &ones, &dy).unwrap();
    // Input position (i, j) meets as many outputs as the kernel windows that cover it.
    let covering = |i: usize| (i.min(k - 1).min(side - 1 - i) + 1).min(out) as f64;
    let expected_dx: Vec<f64> = (0..side * side)
        .map(|p| 1e36 * covering(p / side) * covering(p % side))
        .collect();
    assert_finite_and_close("dx", &dx, &expected_dx);

    let x = vec![1e34f32; side * side];
    let dy = vec![1.0f32; out * out];
    let dw = conv_weight_grad(g, &x, &dy).unwrap();
    assert_finite_and_close("dw", &dw, &vec![1e34 * (out * out) as f64; k * k]);
}

//! The three identities against the definition of the convolution, in f64, on seeded random
//! geometries; adjoint tests; rejected geometries.

use fftconv_kernels::{
    ConvGeometry, GeometryError, SpectralConv, SpectrumKind, bias_grad, conv, conv_input_grad,
    conv_weight_grad,
};
use fftconv_testing::reference::by_definition;
use fftconv_testing::{GeometryLimits, Sampler, relative_error};

fn len(shape: Vec<usize>) -> usize {
    shape.iter().product()
}

fn assert_close(what: &str, g: &ConvGeometry, got: &[f64], expected: &[f64], tol: f64) -> f64 {
    assert_eq!(got.len(), expected.len(), "{what}: length for {g:?}");
    let err = relative_error(got, expected);
    assert!(err <= tol, "{what}: relative error {err:e} for {g:?}");
    err
}

#[test]
fn forced_tiles_match_the_definition() {
    let mut rng = Sampler::new(0x711e);
    let limits = GeometryLimits {
        size: 20,
        ..GeometryLimits::default()
    };
    for _ in 0..150 {
        let g = rng.geometry(&limits);
        let tile = [1, rng.range(1, 6), rng.range(1, 6)];
        let plan = SpectralConv::<f64>::with_tile(g, tile).unwrap();
        passes_match_the_definition(&mut rng, &g, &plan);
    }
}

/// Wide channel groups: per-bin products large enough for `gemm` (2048 multiply-adds per
/// group and bin or more; the small random geometries above mostly take the plain loops for
/// small products), strided, dilated and grouped; and a deep layer's thin products (two rows
/// per bin, more than 64 channels: multiplied in panels of columns).
#[test]
fn wide_channel_groups_match_the_definition() {
    let mut rng = Sampler::new(0x91de);
    let geometries = [
        (
            [4, 32, 12, 12],
            [32, 32, 3, 3],
            [1, 1],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        ),
        (
            [3, 40, 11, 9],
            [24, 20, 5, 3],
            [2, 1],
            [(2, 2), (1, 0)],
            [1, 2],
            2,
        ),
        (
            [2, 64, 10, 13],
            [64, 32, 3, 4],
            [1, 3],
            [(0, 1), (2, 1)],
            [2, 1],
            2,
        ),
        (
            [2, 80, 5, 6],
            [72, 80, 3, 3],
            [1, 1],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        ),
    ];
    for (x, w, stride, padding, dilation, groups) in geometries {
        let g = ConvGeometry::new(&x, &w, stride, padding, dilation, groups).unwrap();
        let plan = SpectralConv::<f64>::new(g).unwrap();
        let [rows, _] = plan.spectrum_matrix(SpectrumKind::Input);
        let [out_channels, cols] = plan.spectrum_matrix(SpectrumKind::Weight);
        let per_group = rows * out_channels / groups * cols;
        assert!(
            per_group >= 2048,
            "{per_group} multiply-adds per group for {g:?}"
        );
        passes_match_the_definition(&mut rng, &g, &plan);
    }
}

/// The three passes of `plan` on random values against the definition of the convolution.
fn passes_match_the_definition(rng: &mut Sampler, g: &ConvGeometry, plan: &SpectralConv<f64>) {
    let x = rng.values(len(g.input_shape()));
    let w = rng.values(len(g.weight_shape()));
    let dy = rng.values(len(g.output_shape()));
    let [y_ref, dx_ref, dw_ref] = by_definition(g, &x, &w, &dy);
    let (xs, ws, dys) = (
        plan.input_spectrum(&x),
        plan.weight_spectrum(&w),
        plan.output_grad_spectrum(&dy),
    );
    let what = format!("tile {:?}", plan.tile());
    assert_close(&what, g, &plan.forward(&xs, &ws), &y_ref, 1e-10);
    assert_close(&what, g, &plan.input_grad(&dys, &ws), &dx_ref, 1e-10);
    assert_close(&what, g, &plan.weight_grad(&dys, &xs), &dw_ref, 1e-10);
}

#[test]
fn identities_match_the_definition_on_random_geometries() {
    let mut rng = Sampler::new(0x5eed_f00d);
    let limits = GeometryLimits::default();
    let mut worst = [0.0f64; 4];
    for _ in 0..250 {
        let g = rng.geometry(&limits);
        let x = rng.values(len(g.input_shape()));
        let w = rng.values(len(g.weight_shape()));
        let bias = rng.values(g.out_channels());
        let dy = rng.values(len(g.output_shape()));

        let map: usize = g.output_shape()[2..].iter().product();
        let [mut y_ref, dx_ref, dw_ref] = by_definition(&g, &x, &w, &dy);
        for (i, y) in y_ref.iter_mut().enumerate() {
            *y += bias[i / map % g.out_channels()];
        }
        let db_ref: Vec<f64> = (0..g.out_channels())
            .map(|f| {
                (0..len(g.output_shape()))
                    .filter(|i| i / map % g.out_channels() == f)
                    .map(|i| dy[i])
                    .sum()
            })
            .collect();

        let y = conv(g, &x, &w, Some(&bias)).unwrap();
        let dx = conv_input_grad(g, &w, &dy).unwrap();
        let dw = conv_weight_grad(g, &x, &dy).unwrap();
        let db = bias_grad(&dy, g.out_channels(), map);
        for (i, (what, got, expected)) in [
            ("forward", &y, &y_ref),
            ("input grad", &dx, &dx_ref),
            ("weight grad", &dw, &dw_ref),
            ("bias grad", &db, &db_ref),
        ]
        .into_iter()
        .enumerate()
        {
            worst[i] = worst[i].max(assert_close(what, &g, got, expected, 1e-10));
        }
    }
    println!("largest relative errors (forward, dx, dw, db): {worst:?}");
}

/// The same checks in one and three dimensions: the identities against the definition with
/// the cost model's tiles and with forced ones, and the adjoint relations.
#[test]
fn identities_match_the_definition_in_one_and_three_dimensions() {
    let mut rng = Sampler::new(0x3d);
    for (rank, size, kernel, cases) in [(1, 40, 9, 150), (3, 9, 4, 60)] {
        let limits = GeometryLimits {
            rank,
            size,
            kernel,
            tiny_map_chance: 0.1,
            ..GeometryLimits::default()
        };
        for _ in 0..cases {
            let g = rng.geometry(&limits);
            let x = rng.values(len(g.input_shape()));
            let w = rng.values(len(g.weight_shape()));
            let dy = rng.values(len(g.output_shape()));
            let [y_ref, dx_ref, dw_ref] = by_definition(&g, &x, &w, &dy);
            let tile = [(); 3].map(|_| rng.range(1, 5));
            for plan in [
                SpectralConv::<f64>::new(g).unwrap(),
                SpectralConv::<f64>::with_tile(g, tile).unwrap(),
            ] {
                let (xs, ws, dys) = (
                    plan.input_spectrum(&x),
                    plan.weight_spectrum(&w),
                    plan.output_grad_spectrum(&dy),
                );
                let what = format!("rank {rank}, tile {:?}", plan.tile());
                assert_close(&what, &g, &plan.forward(&xs, &ws), &y_ref, 1e-10);
                assert_close(&what, &g, &plan.input_grad(&dys, &ws), &dx_ref, 1e-10);
                assert_close(&what, &g, &plan.weight_grad(&dys, &xs), &dw_ref, 1e-10);
            }
            let y = conv(g, &x, &w, None).unwrap();
            let norm = |v: &[f64]| dot(v, v).sqrt();
            for (what, operand, gradient) in [
                ("x", &x, conv_input_grad(g, &w, &dy).unwrap()),
                ("w", &w, conv_weight_grad(g, &x, &dy).unwrap()),
            ] {
                // Scaled by the operands, not by `y`: where every output sees only padding,
                // `y` and the gradients are rounding noise around zero.
                let scale = norm(&x) * norm(&w) * norm(&dy);
                let gap = (dot(&y, &dy) - dot(operand, &gradient)).abs();
                assert!(gap <= 1e-12 * scale, "{what} adjoint for {g:?}");
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn gradients_are_adjoints_of_the_forward_map() {
    let mut rng = Sampler::new(7);
    let limits = GeometryLimits::default();
    for _ in 0..100 {
        let g = rng.geometry(&limits);
        let x = rng.values(len(g.input_shape()));
        let w = rng.values(len(g.weight_shape()));
        let y = rng.values(len(g.output_shape()));
        let ax = conv(g, &x, &w, None).unwrap();
        let lhs = dot(&ax, &y);
        let scale = (dot(&ax, &ax) * dot(&y, &y)).sqrt().max(1e-300);
        let via_input = dot(&x, &conv_input_grad(g, &w, &y).unwrap());
        let via_weight = dot(&w, &conv_weight_grad(g, &x, &y).unwrap());
        assert!(
            (lhs - via_input).abs() <= 1e-12 * scale,
            "x adjoint for {g:?}"
        );
        assert!(
            (lhs - via_weight).abs() <= 1e-12 * scale,
            "w adjoint for {g:?}"
        );
    }
}

#[test]
fn f32_follows_f64_within_single_precision() {
    let mut rng = Sampler::new(11);
    let limits = GeometryLimits::default();
    for _ in 0..40 {
        let g = rng.geometry(&limits);
        let x = rng.values(len(g.input_shape()));
        let w = rng.values(len(g.weight_shape()));
        let y64 = conv(g, &x, &w, None).unwrap();
        let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
        let y32: Vec<f64> = conv(g, &to32(&x), &to32(&w), None)
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        assert_close("f32 forward", &g, &y32, &y64, 1e-5);
    }
}

fn geometry_error(
    x: &[usize],
    w: &[usize],
    stride: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> String {
    ConvGeometry::new(x, w, stride, [(0, 0); 2], dilation, groups)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_geometries_are_rejected_with_the_argument_and_value() {
    let msg = geometry_error(&[1, 4, 8, 8], &[2, 3, 3, 3], [1, 1], [1, 1], 1);
    assert!(
        msg.contains("channel mismatch") && msg.contains("`weight.dims()[1]` = 3"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 4, 8, 8], &[3, 2, 3, 3], [1, 1], [1, 1], 2);
    assert!(
        msg.contains("`groups` = 2") && msg.contains("3 output channels"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 5, 8, 8], &[4, 2, 3, 3], [1, 1], [1, 1], 2);
    assert!(
        msg.contains("`groups` = 2") && msg.contains("5 input channels"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 4, 8, 8], &[4, 4, 3, 3], [0, 1], [1, 1], 1);
    assert!(msg.contains("`stride`") && msg.contains("[0, 1]"), "{msg}");
    let msg = geometry_error(&[1, 4, 8, 8], &[4, 4, 3, 3], [1, 1], [1, 0], 1);
    assert!(
        msg.contains("`dilation`") && msg.contains("[1, 0]"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 4, 8, 8], &[4, 4, 3, 3], [1, 1], [1, 1], 0);
    assert!(msg.contains("`groups` must be non-zero"), "{msg}");
    let msg = geometry_error(&[1, 4, 8, 8], &[4, 4, 3, 3], [1, 1], [4, 1], 1);
    assert!(
        msg.contains("dilated kernel (9)")
            && msg.contains("padded input (8)")
            && msg.contains("height"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 4, 8], &[4, 4, 3, 3], [1, 1], [1, 1], 1);
    assert!(
        msg.contains("`x` must have rank 4") && msg.contains("[1, 4, 8]"),
        "{msg}"
    );
    let msg = geometry_error(&[1, 4, 8, 8], &[4, 4, 3], [1, 1], [1, 1], 1);
    assert!(msg.contains("`weight` must have rank 4"), "{msg}");
    let msg = geometry_error(&[1, 4, 0, 8], &[4, 4, 3, 3], [1, 1], [1, 1], 1);
    assert!(msg.contains("`x` has an empty dimension"), "{msg}");

    let g =
        ConvGeometry::new(&[1, 2, 5, 5], &[3, 2, 3, 3], [1, 1], [(0, 0); 2], [1, 1], 1).unwrap();
    let err = conv(g, &[0.0f64; 50], &[0.0; 54], Some(&[0.0; 2])).unwrap_err();
    assert_eq!(
        err,
        GeometryError::BiasLength {
            expected: 3,
            got: 2
        }
    );
    assert!(err.to_string().contains("`bias`"));
    let err = conv(g, &[0.0f64; 49], &[0.0; 54], None).unwrap_err();
    assert!(
        err.to_string()
            .contains("`x` holds 49 values but its shape implies 50"),
        "{err}"
    );
}

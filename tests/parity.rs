//! `fft_conv2d` and its gradients against burn's own `conv2d` and the gradients burn's autodiff
//! gives for it, on Flex and NdArray, in f64 and f32, over seeded random geometries, and on
//! wgpu (f32) with the `wgpu` feature.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor};
use burn_fftconv::{
    ConvGeometry, conv_options, fft_conv2d, fft_conv2d_bias_backward, fft_conv2d_weight_backward,
    fft_conv2d_x_backward,
};
use fftconv_testing::{GeometryLimits, Sampler};

mod common;
use common::{relative_error, tensor, values};

struct Case {
    geometry: ConvGeometry,
    x: Vec<f64>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    output_grad: Vec<f64>,
}

impl Case {
    /// `geometry` with random values in `[-1, 1)` for every operand.
    fn random(geometry: ConvGeometry, sampler: &mut Sampler) -> Self {
        Self {
            x: sampler.values(geometry.input_shape().iter().product()),
            weight: sampler.values(geometry.weight_shape().iter().product()),
            bias: sampler.values(geometry.out_channels()),
            output_grad: sampler.values(geometry.output_shape().iter().product()),
            geometry,
        }
    }
}

/// `[y, dx, dw, db]` of one case.
type Results = [Vec<f64>; 4];

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

/// `conv` on an autodiff device, differentiated by autodiff: burn's direct convolution with
/// burn's gradients, or `fft_conv2d` with its custom backward.
fn autodiff_results(case: &Case, device: &Device, dtype: DType, conv: Conv) -> Results {
    let g = &case.geometry;
    let ad = device.clone().autodiff();
    let x = tensor(case.x.clone(), g.input_shape(), &ad, dtype).require_grad();
    let w = tensor(case.weight.clone(), g.weight_shape(), &ad, dtype).require_grad();
    let b = tensor(case.bias.clone(), [g.out_channels()], &ad, dtype).require_grad();
    let dy = tensor(case.output_grad.clone(), g.output_shape(), &ad, dtype);
    let y = conv(x.clone(), w.clone(), Some(b.clone()), conv_options(g));
    let grads = (y.clone() * dy).sum().backward();
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        values(w.grad(&grads).unwrap()),
        values(b.grad(&grads).unwrap()),
    ]
}

/// The functions under test on a plain device.
fn spectral(case: &Case, device: &Device, dtype: DType) -> Results {
    let g = &case.geometry;
    let x = tensor(case.x.clone(), g.input_shape(), device, dtype);
    let w = tensor(case.weight.clone(), g.weight_shape(), device, dtype);
    let b = tensor(case.bias.clone(), [g.out_channels()], device, dtype);
    let dy = tensor(case.output_grad.clone(), g.output_shape(), device, dtype);
    [
        values(fft_conv2d(x.clone(), w.clone(), Some(b), conv_options(g))),
        values(fft_conv2d_x_backward(
            x.clone(),
            w.clone(),
            dy.clone(),
            conv_options(g),
        )),
        values(fft_conv2d_weight_backward(
            x,
            w,
            dy.clone(),
            conv_options(g),
        )),
        values(fft_conv2d_bias_backward(dy)),
    ]
}

/// Checks `case` computed through the functions and through autodiff on `device` in `dtype`
/// against burn's `conv2d` and its autodiff gradients on `reference`; returns the largest
/// relative error of each result (y, dx, dw, db).
fn assert_matches_reference(
    case: &Case,
    (device, dtype): (Device, DType),
    reference: (Device, DType),
    tolerance: f64,
) -> [f64; 4] {
    let expected = autodiff_results(case, &reference.0, reference.1, conv2d);
    let mut worst = [0.0f64; 4];
    for (how, got) in [
        ("functions", spectral(case, &device, dtype)),
        (
            "autodiff",
            autodiff_results(case, &device, dtype, fft_conv2d),
        ),
    ] {
        for (i, name) in ["y", "dx", "dw", "db"].into_iter().enumerate() {
            let err = relative_error(&got[i], &expected[i]);
            assert!(
                err <= tolerance,
                "{how} {name} on {device:?} {dtype:?}: relative error {err:e} for {:?}",
                case.geometry
            );
            worst[i] = worst[i].max(err);
        }
    }
    worst
}

/// Runs `cases` random geometries within `limits` on `device` in `dtype`, and compares each
/// result with burn's `conv2d` and its autodiff gradients on `reference` (a device and
/// dtype), relative to the largest reference magnitude; prints the largest error seen per
/// result.
fn check(
    (device, dtype): (Device, DType),
    reference: (Device, DType),
    limits: &GeometryLimits,
    (cases, seed): (usize, u64),
    tolerance: f64,
) {
    let mut sampler = Sampler::new(seed);
    let mut worst = [0.0f64; 4];
    for _ in 0..cases {
        let geometry = sampler.geometry(limits);
        let case = Case::random(geometry, &mut sampler);
        let errors =
            assert_matches_reference(&case, (device.clone(), dtype), reference.clone(), tolerance);
        for (worst, error) in worst.iter_mut().zip(errors) {
            *worst = worst.max(error);
        }
    }
    println!(
        "{device:?} {dtype:?}, {cases} geometries (seed {seed}): largest relative errors \
         (y, dx, dw, db) {worst:?}"
    );
}

/// A check against burn on the same device, in the same dtype.
fn check_against_burn(device: Device, dtype: DType, cases: usize, seed: u64, tolerance: f64) {
    let limits = GeometryLimits::default();
    let reference = (device.clone(), dtype);
    check(
        (device, dtype),
        reference,
        &limits,
        (cases, seed),
        tolerance,
    );
}

/// A number from the environment variable `name`, or `default`.
#[cfg(feature = "wgpu")]
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}"))
    })
}

/// Every kind of geometry on a wgpu device (lavapipe in CI) in f32, against burn's direct
/// convolution in f64 on Flex: maps of 1 and 2 samples after padding, kernels spanning the
/// padded input and strides larger than the map are frequent here. A long run:
/// `FFTCONV_WGPU_CASES=1000 FFTCONV_WGPU_SEED=9 cargo nextest run --release --features wgpu
/// --test parity wgpu --no-capture`.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_matches_an_f64_reference_on_random_geometries() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f32_matches_an_f64_reference_on_random_geometries")
    else {
        return;
    };
    let limits = GeometryLimits {
        tiny_map_chance: 0.2,
        full_kernel_chance: 0.25,
        ..GeometryLimits::default()
    };
    let cases = env_number("FFTCONV_WGPU_CASES", 200) as usize;
    let seed = env_number("FFTCONV_WGPU_SEED", 7);
    check(
        (wgpu, DType::F32),
        (Device::flex(), DType::F64),
        &limits,
        (cases, seed),
        wgpu_tolerance(DType::F32),
    );
}

/// The geometries that failed on wgpu before: a map of width 1 (burn-signal's FFT panicked
/// inside the device queue) and two outputs of one sample along a strided axis (garbage
/// around 1e23 from a stepped slice).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_is_right_where_it_failed_before() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f32_is_right_where_it_failed_before") else {
        return;
    };
    let geometries = [
        (
            [1, 2, 8, 1],
            [8, 1, 1, 1],
            [1, 2],
            [(2, 1), (0, 0)],
            [3, 2],
            2,
        ),
        (
            [3, 2, 21, 2],
            [2, 2, 5, 2],
            [1, 3],
            [(2, 2), (2, 0)],
            [1, 1],
            1,
        ),
        (
            [3, 1, 1, 11],
            [4, 1, 3, 5],
            [3, 1],
            [(3, 1), (3, 0)],
            [2, 2],
            1,
        ),
    ];
    wgpu_matches_on(&wgpu, DType::F32, &geometries, 11);
}

/// Geometries whose tiles on CubeCL devices are the largest (32 and 64 points a side, 2,048
/// points, and long 1-D tiles for a causal filter of 300 taps), with stride, dilation, groups
/// and a shorter 1-D causal filter, and two whose kernels fit no tile (whole images, the
/// composed path): the random geometries above are too small to reach them.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_is_right_on_large_tiles() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f32_is_right_on_large_tiles") else {
        return;
    };
    let geometries = [
        (
            [1, 2, 1, 2000],
            [3, 2, 1, 300],
            [1, 1],
            [(0, 0), (299, 0)],
            [1, 1],
            1,
        ),
        (
            [1, 2, 70, 90],
            [3, 2, 17, 9],
            [1, 1],
            [(8, 8), (4, 4)],
            [1, 1],
            1,
        ),
        (
            [2, 2, 50, 120],
            [2, 1, 5, 60],
            [1, 1],
            [(2, 2), (0, 0)],
            [1, 1],
            2,
        ),
        (
            [1, 2, 64, 64],
            [2, 2, 7, 7],
            [2, 3],
            [(15, 15), (15, 15)],
            [5, 5],
            1,
        ),
        (
            [1, 2, 1, 500],
            [2, 2, 1, 40],
            [1, 1],
            [(0, 0), (39, 0)],
            [1, 1],
            1,
        ),
        (
            [1, 1, 40, 130],
            [2, 1, 33, 40],
            [1, 1],
            [(0, 0), (0, 0)],
            [1, 1],
            1,
        ),
        (
            [1, 1, 70, 70],
            [1, 1, 65, 3],
            [1, 1],
            [(0, 0), (1, 1)],
            [1, 1],
            1,
        ),
    ];
    wgpu_matches_on(&wgpu, DType::F32, &geometries, 12);
}

/// Strided geometries, which CubeCL devices split into polyphase components: one component
/// per axis (a 1x1 downsampling layer; stride and dilation with a common factor), fewer
/// components than the stride (a kernel shorter than it), all of them (stride 3, dilation 2),
/// with groups, a patch embedding (kernel and stride 16: a one-point sub-kernel) and a
/// benchmark-sized layer.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_is_right_on_polyphase_components() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f32_is_right_on_polyphase_components") else {
        return;
    };
    let geometries = [
        (
            [2, 4, 17, 16],
            [6, 4, 1, 1],
            [2, 2],
            [(0, 0), (0, 0)],
            [1, 1],
            1,
        ),
        (
            [2, 3, 20, 21],
            [4, 3, 3, 3],
            [2, 2],
            [(2, 2), (2, 1)],
            [2, 2],
            1,
        ),
        (
            [2, 4, 30, 29],
            [4, 2, 2, 2],
            [4, 4],
            [(1, 0), (0, 1)],
            [1, 1],
            2,
        ),
        (
            [1, 2, 40, 33],
            [3, 2, 5, 4],
            [3, 3],
            [(4, 3), (1, 2)],
            [2, 1],
            1,
        ),
        (
            [2, 3, 32, 48],
            [8, 3, 16, 16],
            [16, 16],
            [(0, 0), (0, 0)],
            [1, 1],
            1,
        ),
        (
            [2, 8, 64, 64],
            [8, 8, 7, 7],
            [2, 2],
            [(3, 3), (3, 3)],
            [1, 1],
            1,
        ),
    ];
    wgpu_matches_on(&wgpu, DType::F32, &geometries, 13);
}

/// Dilated axes without stride, which CubeCL devices split into the components of their
/// output (rows of the contraction, each with the dense kernel): a causal filter of dilation
/// 32 (65 dilated taps), 3x3 taps of dilation 32 (wider than a 2-D tile), dilation on both
/// axes, a dilation larger than the outputs, a strided axis beside a dilated one, with groups,
/// and a depthwise layer.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_is_right_on_dilated_axes() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f32_is_right_on_dilated_axes") else {
        return;
    };
    let geometries = [
        (
            [1, 2, 100, 100],
            [3, 2, 3, 3],
            [1, 1],
            [(32, 32), (32, 32)],
            [32, 32],
            1,
        ),
        (
            [1, 2, 1, 300],
            [3, 2, 1, 3],
            [1, 1],
            [(0, 0), (64, 0)],
            [1, 32],
            1,
        ),
        (
            [2, 3, 25, 22],
            [4, 3, 3, 2],
            [1, 1],
            [(3, 3), (1, 2)],
            [3, 4],
            1,
        ),
        (
            [1, 2, 10, 10],
            [2, 2, 2, 2],
            [1, 1],
            [(0, 0), (0, 0)],
            [7, 8],
            1,
        ),
        (
            [2, 4, 31, 30],
            [6, 2, 3, 3],
            [2, 1],
            [(1, 1), (2, 2)],
            [1, 2],
            2,
        ),
        (
            [1, 4, 20, 20],
            [4, 1, 3, 3],
            [1, 1],
            [(2, 2), (2, 2)],
            [2, 2],
            4,
        ),
    ];
    wgpu_matches_on(&wgpu, DType::F32, &geometries, 14);
}

/// The 2-D geometry of a convolution: input and weight shapes, stride, padding, dilation,
/// groups.
type Geometry2d = (
    [usize; 4],
    [usize; 4],
    [usize; 2],
    [(usize, usize); 2],
    [usize; 2],
    usize,
);

/// The largest relative error allowed on wgpu in `dtype` (f32 or f64) against an f64
/// reference.
#[cfg(feature = "wgpu")]
fn wgpu_tolerance(dtype: DType) -> f64 {
    if dtype == DType::F64 { 1e-12 } else { 2e-4 }
}

/// Each of `geometries` on `wgpu` in `dtype` (f32 or f64), with data drawn from `seed`,
/// against burn's direct convolution in f64 on Flex.
#[cfg(feature = "wgpu")]
fn wgpu_matches_on(wgpu: &Device, dtype: DType, geometries: &[Geometry2d], seed: u64) {
    matches_f64_on(wgpu, dtype, geometries, seed, wgpu_tolerance(dtype));
}

/// Each of `geometries` on `device` in `dtype`, with data drawn from `seed`, against burn's
/// direct convolution in f64 on Flex, to `tolerance`.
fn matches_f64_on(
    device: &Device,
    dtype: DType,
    geometries: &[Geometry2d],
    seed: u64,
    tolerance: f64,
) {
    let mut sampler = Sampler::new(seed);
    for &(x, w, stride, padding, dilation, groups) in geometries {
        let geometry =
            ConvGeometry::new(&x, &w, stride, padding, dilation, groups).expect("a valid geometry");
        let case = Case::random(geometry, &mut sampler);
        assert_matches_reference(
            &case,
            (device.clone(), dtype),
            (Device::flex(), DType::F64),
            tolerance,
        );
    }
}

#[test]
fn flex_f64_matches_burn_conv2d() {
    check_against_burn(Device::flex(), DType::F64, 200, 1, 1e-10);
}

#[test]
fn flex_f32_matches_burn_conv2d() {
    check_against_burn(Device::flex(), DType::F32, 100, 2, 1e-4);
}

/// A deep layer's thin per-bin products (two rows per bin, 144 and 160 channels: the weight
/// multiplied in panels of columns) in f32 on Flex against burn's direct convolution in f64,
/// both passes of the backward included.
#[test]
fn flex_f32_is_right_on_a_deep_layer() {
    let deep = (
        [2, 160, 5, 5],
        [144, 160, 3, 3],
        [1, 1],
        [(1, 1); 2],
        [1, 1],
        1,
    );
    matches_f64_on(&Device::flex(), DType::F32, &[deep], 7, 1e-4);
}

#[test]
#[allow(deprecated)]
fn ndarray_f64_matches_burn_conv2d() {
    check_against_burn(Device::ndarray(), DType::F64, 200, 3, 1e-10);
}

#[test]
#[allow(deprecated)]
fn ndarray_f32_matches_burn_conv2d() {
    check_against_burn(Device::ndarray(), DType::F32, 100, 4, 1e-4);
}

/// Every kind of geometry on a wgpu device in f64 against burn on Flex in f64: the tile
/// kernels compute their f64 turns from series (SPIR-V's sine and cosine are f32 only; with
/// them every f64 tile transform was garbage on lavapipe), and kernels too wide for a tile go
/// to burn's direct convolution, since the whole-image FFTs (cubek-fft's) have no f64 turns.
/// A long run: `FFTCONV_WGPU_F64_CASES=200 FFTCONV_WGPU_SEED=5`.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f64_matches_an_f64_reference_on_random_geometries() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_f64_matches_an_f64_reference_on_random_geometries")
    else {
        return;
    };
    check(
        (wgpu.clone(), DType::F64),
        (Device::flex(), DType::F64),
        &GeometryLimits::default(),
        (
            env_number("FFTCONV_WGPU_F64_CASES", 12) as usize,
            env_number("FFTCONV_WGPU_SEED", 11),
        ),
        wgpu_tolerance(DType::F64),
    );
    // A 1-D filter on a long tile, and a 2-D kernel wider than any tile.
    let geometries: [Geometry2d; 2] = [
        (
            [1, 2, 4, 80],
            [2, 2, 1, 70],
            [1, 1],
            [(0, 0), (0, 0)],
            [1, 1],
            1,
        ),
        (
            [1, 1, 6, 80],
            [1, 1, 3, 70],
            [1, 1],
            [(1, 1), (0, 0)],
            [1, 1],
            1,
        ),
    ];
    wgpu_matches_on(&wgpu, DType::F64, &geometries, 12);
}

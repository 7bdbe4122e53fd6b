//! `fft_conv2d` and its gradients against burn's own `conv2d` and the gradients burn's autodiff
//! gives for it, on Flex and NdArray, in f64 and f32, over seeded random geometries.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_fftconv::{
    Conv2dGeometry, fft_conv2d, fft_conv2d_bias_backward, fft_conv2d_weight_backward,
    fft_conv2d_x_backward,
};
use fftconv_kernels::sampling::{GeometryLimits, Sampler};

fn options(g: &Conv2dGeometry) -> ConvOptions<2> {
    let [h, w] = g.axes;
    ConvOptions::new_with_padding(
        [h.stride, w.stride],
        [(h.pad_begin, h.pad_end), (w.pad_begin, w.pad_end)],
        [h.dilation, w.dilation],
        g.groups,
    )
}

fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Largest absolute difference relative to the largest magnitude of the reference.
fn relative_error(got: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(got.len(), reference.len());
    // An all-zero reference (no tap reaches any sample) is compared absolutely.
    let scale = match reference.iter().fold(0.0f64, |m, v| m.max(v.abs())) {
        0.0 => 1.0,
        m => m,
    };
    got.iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

struct Case {
    geometry: Conv2dGeometry,
    x: Vec<f64>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    output_grad: Vec<f64>,
}

/// `[y, dx, dw, db]` of one case.
type Results = [Vec<f64>; 4];

/// burn's direct convolution, differentiated by burn's autodiff.
fn reference(case: &Case, device: &Device, dtype: DType) -> Results {
    let g = &case.geometry;
    let ad = device.clone().autodiff();
    let x = tensor(case.x.clone(), g.input_shape(), &ad, dtype).require_grad();
    let w = tensor(case.weight.clone(), g.weight_shape(), &ad, dtype).require_grad();
    let b = tensor(case.bias.clone(), [g.out_channels], &ad, dtype).require_grad();
    let dy = tensor(case.output_grad.clone(), g.output_shape(), &ad, dtype);
    let y = conv2d(x.clone(), w.clone(), Some(b.clone()), options(g));
    let grads = (y.clone() * dy).sum().backward();
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        values(w.grad(&grads).unwrap()),
        values(b.grad(&grads).unwrap()),
    ]
}

/// The public functions on a plain device.
fn spectral(case: &Case, device: &Device, dtype: DType) -> Results {
    let g = &case.geometry;
    let x = tensor(case.x.clone(), g.input_shape(), device, dtype);
    let w = tensor(case.weight.clone(), g.weight_shape(), device, dtype);
    let b = tensor(case.bias.clone(), [g.out_channels], device, dtype);
    let dy = tensor(case.output_grad.clone(), g.output_shape(), device, dtype);
    [
        values(fft_conv2d(x.clone(), w.clone(), Some(b), options(g))),
        values(fft_conv2d_x_backward(
            x.clone(),
            w.clone(),
            dy.clone(),
            options(g),
        )),
        values(fft_conv2d_weight_backward(x, w, dy.clone(), options(g))),
        values(fft_conv2d_bias_backward(dy)),
    ]
}

/// `fft_conv2d` on an autodiff device: its custom backward.
fn spectral_autodiff(case: &Case, device: &Device, dtype: DType) -> Results {
    let g = &case.geometry;
    let ad = device.clone().autodiff();
    let x = tensor(case.x.clone(), g.input_shape(), &ad, dtype).require_grad();
    let w = tensor(case.weight.clone(), g.weight_shape(), &ad, dtype).require_grad();
    let b = tensor(case.bias.clone(), [g.out_channels], &ad, dtype).require_grad();
    let dy = tensor(case.output_grad.clone(), g.output_shape(), &ad, dtype);
    let y = fft_conv2d(x.clone(), w.clone(), Some(b.clone()), options(g));
    let grads = (y.clone() * dy).sum().backward();
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        values(w.grad(&grads).unwrap()),
        values(b.grad(&grads).unwrap()),
    ]
}

/// Runs `cases` random geometries and returns the largest relative error seen per result.
fn check(device: Device, dtype: DType, cases: usize, seed: u64, tolerance: f64) -> [f64; 4] {
    let mut sampler = Sampler::new(seed);
    let limits = GeometryLimits::default();
    let mut worst = [0.0f64; 4];
    for _ in 0..cases {
        let geometry = sampler.geometry(&limits);
        let case = Case {
            x: sampler.values(geometry.input_shape().iter().product()),
            weight: sampler.values(geometry.weight_shape().iter().product()),
            bias: sampler.values(geometry.out_channels),
            output_grad: sampler.values(geometry.output_shape().iter().product()),
            geometry,
        };
        let expected = reference(&case, &device, dtype);
        for (how, got) in [
            ("functions", spectral(&case, &device, dtype)),
            ("autodiff", spectral_autodiff(&case, &device, dtype)),
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
    }
    println!("{device:?} {dtype:?}: largest relative errors (y, dx, dw, db) {worst:?}");
    worst
}

#[test]
fn flex_f64_matches_burn_conv2d() {
    check(Device::flex(), DType::F64, 200, 1, 1e-10);
}

#[test]
fn flex_f32_matches_burn_conv2d() {
    check(Device::flex(), DType::F32, 100, 2, 1e-4);
}

#[test]
#[allow(deprecated)]
fn ndarray_f64_matches_burn_conv2d() {
    check(Device::ndarray(), DType::F64, 200, 3, 1e-10);
}

#[test]
#[allow(deprecated)]
fn ndarray_f32_matches_burn_conv2d() {
    check(Device::ndarray(), DType::F32, 100, 4, 1e-4);
}

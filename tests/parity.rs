//! `fft_conv2d` and its gradients against burn's own `conv2d` and the gradients burn's autodiff
//! gives for it, on Flex and NdArray, in f64 and f32, over seeded random geometries, and on
//! wgpu (f32) with the `wgpu` feature.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_fftconv::{
    Conv2dGeometry, conv_options, fft_conv2d, fft_conv2d_bias_backward, fft_conv2d_weight_backward,
    fft_conv2d_x_backward,
};
use fftconv_kernels::sampling::{GeometryLimits, Sampler};

mod common;
use common::{relative_error, values};

fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
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

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

/// `conv` on an autodiff device, differentiated by autodiff: burn's direct convolution with
/// burn's gradients, or `fft_conv2d` with its custom backward.
fn autodiff_results(case: &Case, device: &Device, dtype: DType, conv: Conv) -> Results {
    let g = &case.geometry;
    let ad = device.clone().autodiff();
    let x = tensor(case.x.clone(), g.input_shape(), &ad, dtype).require_grad();
    let w = tensor(case.weight.clone(), g.weight_shape(), &ad, dtype).require_grad();
    let b = tensor(case.bias.clone(), [g.out_channels], &ad, dtype).require_grad();
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
    let b = tensor(case.bias.clone(), [g.out_channels], device, dtype);
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
        let expected = autodiff_results(&case, &device, dtype, conv2d);
        for (how, got) in [
            ("functions", spectral(&case, &device, dtype)),
            (
                "autodiff",
                autodiff_results(&case, &device, dtype, fft_conv2d),
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
    }
    println!("{device:?} {dtype:?}: largest relative errors (y, dx, dw, db) {worst:?}");
    worst
}

/// Few cases: on a software Vulkan driver most of the time goes to compiling each shape's
/// kernels.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_f32_matches_burn_conv2d() {
    use burn::tensor::DeviceKind;
    check(
        Device::wgpu(DeviceKind::DefaultDevice),
        DType::F32,
        12,
        7,
        1e-4,
    );
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

//! `FftConv2d` in f64: the twin-CNN comparison and finite-difference gradient checks.
//! Devices in this test binary default to f64.

mod common;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::tanh;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use burn_fftconv::{ConvAlgorithm, FftConv2d, FftConv2dConfig};
use common::{assert_central_differences, assert_twins_train_alike, values};
use fftconv_testing::Sampler;

fn f64_device(mut device: Device) -> Device {
    // Settings are per process and fixed by the first tensor; every test here wants f64.
    let _ = device.configure(FloatDType::F64);
    assert_eq!(device.settings().float_dtype, FloatDType::F64);
    device
}

#[test]
fn cnn_trains_like_conv2d_on_flex_f64() {
    assert_twins_train_alike(f64_device(Device::flex()), 1e-10);
}

#[test]
#[allow(deprecated)]
fn cnn_trains_like_conv2d_on_ndarray_f64() {
    assert_twins_train_alike(f64_device(Device::ndarray()), 1e-10);
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Checks the layer's autodiff gradients for `x`, weight and bias against central
/// differences of the nonlinear loss `sum(tanh(layer(x)) * r)`.
fn check_finite_differences(config: FftConv2dConfig, input: [usize; 4]) {
    let device = f64_device(Device::flex());
    let ad = device.clone().autodiff();
    let template = config.with_algorithm(ConvAlgorithm::Fft).init(&device);
    let mut sampler = Sampler::new(17);
    let x = sampler.values(input.iter().product());
    let weight = values(template.weight.val());
    let bias = values(template.bias.as_ref().unwrap().val());
    let weight_shape = template.weight.dims();
    let output = template.forward(tensor(&x, input, &device)).dims();
    let r = sampler.values(output.iter().product());

    let layer_on = |device: &Device, weight: &[f64], bias: &[f64], tracked: bool| {
        let w = tensor(weight, weight_shape, device);
        let b = tensor(bias, [bias.len()], device);
        let (w, b) = if tracked {
            (w.require_grad(), b.require_grad())
        } else {
            (w, b)
        };
        FftConv2d {
            weight: Param::from_tensor(w),
            bias: Some(Param::from_tensor(b)),
            ..template.clone()
        }
    };
    let loss = |x: &[f64], weight: &[f64], bias: &[f64]| -> f64 {
        let layer = layer_on(&device, weight, bias, false);
        let y = layer.forward(tensor(x, input, &device));
        values((tanh(y) * tensor(&r, output, &device)).sum())[0]
    };

    let layer = layer_on(&ad, &weight, &bias, true);
    let x_ad = tensor(&x, input, &ad).require_grad();
    let y = layer.forward(x_ad.clone());
    let grads = (tanh(y) * tensor(&r, output, &ad)).sum().backward();
    let analytic = [
        values(x_ad.grad(&grads).unwrap()),
        values(layer.weight.val().grad(&grads).unwrap()),
        values(layer.bias.as_ref().unwrap().val().grad(&grads).unwrap()),
    ];

    let point = [x, weight, bias];
    let eval = |p: &[Vec<f64>]| loss(&p[0], &p[1], &p[2]);
    assert_central_differences("layer", &point, &analytic, eval, &mut sampler, 12, 1e-5);
}

#[test]
fn finite_differences_plain() {
    check_finite_differences(FftConv2dConfig::new([3, 4], [3, 3]), [2, 3, 7, 6]);
}

#[test]
fn finite_differences_stride_and_same_padding() {
    check_finite_differences(
        FftConv2dConfig::new([2, 3], [4, 3])
            .with_stride([2, 3])
            .with_padding(PaddingConfig2d::Same),
        [2, 2, 9, 10],
    );
}

#[test]
fn finite_differences_dilation_and_asymmetric_padding() {
    check_finite_differences(
        FftConv2dConfig::new([2, 2], [3, 2])
            .with_dilation([2, 3])
            .with_padding(PaddingConfig2d::Explicit(2, 0, 1, 3)),
        [1, 2, 8, 7],
    );
}

#[test]
fn finite_differences_groups_and_depthwise() {
    check_finite_differences(
        FftConv2dConfig::new([4, 6], [3, 3]).with_groups(2),
        [2, 4, 6, 6],
    );
    check_finite_differences(
        FftConv2dConfig::new([3, 3], [5, 1])
            .with_groups(3)
            .with_padding(PaddingConfig2d::Explicit(2, 0, 2, 0)),
        [2, 3, 6, 5],
    );
}

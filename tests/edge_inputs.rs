//! Inputs burn's `conv2d` accepts beyond the usual: an empty batch, half precision, a
//! geometry whose transforms exceed the spectral budget, values near `f32::MAX`. The FFT path
//! gives what burn gives.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_fftconv::{
    ConvAlgorithm, FftConv2d, fft_conv2d, fft_conv2d_weight_backward, fft_conv2d_x_backward,
};
use fftconv_testing::Sampler;

mod common;
use common::{relative_error, values};

fn options() -> ConvOptions<2> {
    ConvOptions::new_with_padding([2, 1], [(1, 0), (1, 1)], [1, 2], 1)
}

fn random<const D: usize>(
    sampler: &mut Sampler,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    let len = shape.iter().product();
    Tensor::from_data(TensorData::new(sampler.values(len), shape), (device, dtype))
}

/// burn returns `[0, F, H', W']` for an empty batch, and zero gradients for the weight and
/// bias; so does `fft_conv2d`, through the functions and through autodiff.
#[test]
fn an_empty_batch_gives_burns_shapes_and_zero_gradients() {
    let device = Device::flex().autodiff();
    let mut sampler = Sampler::new(1);
    let x = Tensor::<4>::zeros([0, 3, 9, 8], &device).require_grad();
    let w = random(&mut sampler, [4, 3, 3, 2], &device, DType::F32).require_grad();
    let b = random(&mut sampler, [4], &device, DType::F32).require_grad();
    let expected = conv2d(x.clone(), w.clone(), Some(b.clone()), options());
    let y = fft_conv2d(x.clone(), w.clone(), Some(b.clone()), options());
    assert_eq!(y.dims(), expected.dims());
    assert_eq!(y.dims(), [0, 4, 4, 8]);
    let grads = y.sum().backward();
    assert_eq!(
        values(w.grad(&grads).expect("weight gradient")),
        vec![0.0; 72]
    );
    assert_eq!(values(b.grad(&grads).expect("bias gradient")), vec![0.0; 4]);
    assert_eq!(x.grad(&grads).expect("x gradient").dims(), [0, 3, 9, 8]);

    let dy = Tensor::<4>::zeros([0, 4, 4, 8], &device);
    let dx = fft_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), options());
    assert_eq!(dx.dims(), [0, 3, 9, 8]);
    let dw = fft_conv2d_weight_backward(x, w, dy, options());
    assert_eq!(values(dw), vec![0.0; 72]);
}

/// f16 and bf16 are computed in f32 and returned in the input's dtype, against burn's own
/// half-precision convolution and its gradients at a half-precision tolerance.
#[test]
fn half_precision_matches_burn_in_half_precision() {
    let device = Device::flex();
    for (dtype, tolerance) in [(DType::F16, 5e-3), (DType::BF16, 3e-2)] {
        let mut sampler = Sampler::new(2);
        let x = random(&mut sampler, [2, 3, 9, 8], &device, dtype);
        let w = random(&mut sampler, [4, 3, 3, 2], &device, dtype);
        let b = random(&mut sampler, [4], &device, dtype);
        let dy = random(&mut sampler, [2, 4, 4, 8], &device, dtype);
        let y = fft_conv2d(x.clone(), w.clone(), Some(b.clone()), options());
        assert_eq!(y.dtype(), dtype);
        let expected = conv2d(x.clone(), w.clone(), Some(b), options());
        let error = relative_error(&values(y), &values(expected));
        assert!(error <= tolerance, "{dtype:?} y: relative error {error:e}");

        let xa = x.clone().autodiff().require_grad();
        let wa = w.clone().autodiff().require_grad();
        let grads = (conv2d(xa.clone(), wa.clone(), None, options()) * dy.clone().autodiff())
            .sum()
            .backward();
        let dx = fft_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), options());
        let dw = fft_conv2d_weight_backward(x, w, dy, options());
        assert_eq!((dx.dtype(), dw.dtype()), (dtype, dtype));
        for (name, got, expected) in [
            ("dx", dx, xa.grad(&grads).unwrap()),
            ("dw", dw, wa.grad(&grads).unwrap()),
        ] {
            let error = relative_error(&values(got), &values(expected));
            assert!(
                error <= tolerance,
                "{dtype:?} {name}: relative error {error:e}"
            );
        }
    }
}

/// `FftConv2d` with `Auto` and with `Fft` takes half-precision input and trains: its gradient
/// through autodiff matches burn's `Conv2d`.
#[test]
fn the_layer_takes_half_precision_under_autodiff() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let mut direct = Conv2dConfig::new([3, 4], [3, 3]).init(&device);
    direct.weight = Param::from_tensor(direct.weight.val().cast(DType::F16).detach());
    direct.bias = direct
        .bias
        .map(|bias| Param::from_tensor(bias.val().cast(DType::F16).detach()));
    let mut sampler = Sampler::new(3);
    let x = random(&mut sampler, [2, 3, 10, 10], &device, DType::F16);
    let expected_grads = direct.forward(x.clone()).sum().backward();
    let expected = values(direct.weight.val().grad(&expected_grads).unwrap());
    for algorithm in [ConvAlgorithm::Auto, ConvAlgorithm::Fft] {
        let layer = FftConv2d::from(direct.clone()).with_algorithm(algorithm);
        let y = layer.forward(x.clone());
        assert_eq!(y.dtype(), DType::F16);
        let grads = y.sum().backward();
        let got = values(layer.weight.val().grad(&grads).unwrap());
        let error = relative_error(&got, &expected);
        assert!(
            error <= 5e-3,
            "{algorithm:?}: weight gradient relative error {error:e}"
        );
    }
}

/// One output from two taps dilated over 2^27 columns: beyond the spectral budget, so
/// `fft_conv2d` and its gradients are burn's direct ones (before the budget: 82 s and
/// gigabytes for a transform of 1.3e8 points).
#[test]
fn a_geometry_over_the_spectral_budget_is_computed_directly() {
    let device = Device::flex().autodiff();
    let options = ConvOptions::new_with_padding([1, 1], [(0, 0), (1 << 27, 0)], [1, 1 << 27], 1);
    let x = Tensor::<4>::from_data([[[[3.0f32]]]], &device).require_grad();
    let w = Tensor::<4>::from_data([[[[1.0f32, 2.0]]]], &device).require_grad();
    let y = fft_conv2d(x.clone(), w.clone(), None, options.clone());
    assert_eq!(values(y.clone()), vec![6.0]);
    let grads = (y * 5.0).sum().backward();
    assert_eq!(values(x.grad(&grads).unwrap()), vec![10.0]);
    assert_eq!(values(w.grad(&grads).unwrap()), vec![0.0, 15.0]);
    let dy = Tensor::<4>::from_data([[[[5.0f32]]]], &device);
    let dx = fft_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), options.clone());
    assert_eq!(values(dx), vec![10.0]);
    let dw = fft_conv2d_weight_backward(x, w, dy, options);
    assert_eq!(values(dw), vec![0.0, 15.0]);
}

/// An f32 input of 1e36 under a 3x3 kernel of ones: burn's direct conv gives 9e36; the FFT
/// path once returned infinity (its unnormalized transform summed a tile into one bin).
/// On the CubeCL path (lavapipe in CI) too.
#[test]
fn an_input_near_the_top_of_the_f32_range_stays_finite() {
    #[allow(unused_mut)]
    let mut devices = vec![Device::flex()];
    #[cfg(feature = "wgpu")]
    devices.extend(common::wgpu_or_skip(
        "an_input_near_the_top_of_the_f32_range_stays_finite on wgpu",
    ));
    for device in devices {
        let x = Tensor::<4>::full([1, 1, 28, 28], 1e36, &device);
        let w = Tensor::<4>::ones([2, 1, 3, 3], &device);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let y = values(fft_conv2d(x.clone(), w.clone(), None, options.clone()));
        assert!(
            y.iter().all(|v| v.is_finite()),
            "{device:?}: non-finite outputs"
        );
        let expected = values(conv2d(x, w, None, options));
        let error = relative_error(&y, &expected);
        assert!(error < 1e-5, "{device:?}: relative error {error:e}");
    }
}

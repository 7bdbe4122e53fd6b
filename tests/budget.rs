//! The spectral budget is configurable: under a small one, `fft_conv2d`, `fft_conv3d` and
//! their gradients run burn's direct convolution (no transform; in 3-D with the asymmetric
//! padding burn's `conv3d` refuses; on wgpu too) and `Auto` layers choose direct. The only test of this
//! binary, since the budget is process-wide.

use burn::nn::conv::Conv2dConfig;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    ConvAlgorithm, FftConv2d, SpectralBudget, TransformCount, fft_conv2d, fft_conv2d_x_backward,
    fft_conv3d, fft_conv3d_weight_backward, fft_conv3d_x_backward, prefers_fft,
};

mod common;
use common::{relative_error, values};

#[test]
fn over_a_small_budget_convolutions_run_directly() {
    let device = Device::flex();
    device.seed(3);
    let x = Tensor::<4>::random([2, 16, 32, 32], Distribution::Default, &device);
    let w = Tensor::<4>::random([16, 16, 7, 7], Distribution::Default, &device);
    let dy = Tensor::<4>::random([2, 16, 32, 32], Distribution::Default, &device);
    let (x_host, w_host) = (x.to_data(), w.to_data());
    let options = ConvOptions::new([1, 1], [3, 3], [1, 1], 1);
    let geometry = burn_fftconv::ConvGeometry::new(
        &x.dims(),
        &w.dims(),
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
    .unwrap();
    let expected = values(conv2d(x.clone(), w.clone(), None, options.clone()));
    let layer = FftConv2d::from(
        Conv2dConfig::new([16, 16], [7, 7])
            .with_padding(burn::nn::PaddingConfig2d::Explicit(3, 3, 3, 3))
            .init(&device),
    )
    .with_algorithm(ConvAlgorithm::Auto);

    // A 3-D layer padded unevenly: its spectral results, to compare with the direct ones.
    let x3 = Tensor::<5>::random([2, 3, 6, 7, 5], Distribution::Default, &device);
    let w3 = Tensor::<5>::random([4, 3, 3, 4, 3], Distribution::Default, &device);
    let dy3 = Tensor::<5>::random([2, 4, 6, 4, 5], Distribution::Default, &device);
    let options3 = ConvOptions::new_with_padding([1, 2, 1], [(2, 0), (1, 2), (1, 1)], [1; 3], 1);
    let volume = |x3: &Tensor<5>, w3: &Tensor<5>, dy3: &Tensor<5>| {
        let (x, w, dy, o) = (x3.clone(), w3.clone(), dy3.clone(), options3.clone());
        [
            values(fft_conv3d(x.clone(), w.clone(), None, o.clone())),
            values(fft_conv3d_x_backward(
                x.clone(),
                w.clone(),
                dy.clone(),
                o.clone(),
            )),
            values(fft_conv3d_weight_backward(x, w, dy, o)),
        ]
    };
    let spectral3 = volume(&x3, &w3, &dy3);

    let before = TransformCount::now();
    assert!(prefers_fft(&geometry), "a 7x7 layer goes to the FFT path");
    let y = values(fft_conv2d(x.clone(), w.clone(), None, options.clone()));
    assert!(relative_error(&y, &expected) < 1e-5);
    assert!(TransformCount::since(before).forward > 0);

    // Transforms of at most 48 points: fewer than the 7x7 kernel itself covers.
    SpectralBudget {
        max_transform_points: 48,
        ..SpectralBudget::DEFAULT
    }
    .set();
    let before = TransformCount::now();
    assert!(
        !prefers_fft(&geometry),
        "Auto chooses direct over the budget"
    );
    let y = values(fft_conv2d(x.clone(), w.clone(), None, options.clone()));
    assert!(relative_error(&y, &expected) < 1e-6);
    let dx = fft_conv2d_x_backward(x.clone(), w, dy, options);
    assert_eq!(dx.dims(), x.dims());
    layer.forward(x);
    for (direct, spectral) in volume(&x3, &w3, &dy3).iter().zip(&spectral3) {
        assert!(relative_error(direct, spectral) < 1e-5);
    }
    assert_eq!(
        TransformCount::since(before),
        TransformCount::default(),
        "nothing was transformed"
    );
    // On a CubeCL device too: burn's direct convolution, to the bit.
    #[cfg(feature = "wgpu")]
    if let Some(wgpu) = common::wgpu_or_skip("over_a_small_budget_convolutions_run_directly") {
        let [x, w] = [&x_host, &w_host].map(|t| Tensor::<4>::from_data(t.clone(), &wgpu));
        let options = ConvOptions::new([1, 1], [3, 3], [1, 1], 1);
        let direct = conv2d(x.clone(), w.clone(), None, options.clone()).into_data();
        fft_conv2d(x, w, None, options)
            .into_data()
            .assert_eq(&direct, true);
    }

    // A small spectrum limit refuses too.
    SpectralBudget {
        max_spectrum_values: 1000,
        ..SpectralBudget::DEFAULT
    }
    .set();
    assert!(!prefers_fft(&geometry));
    SpectralBudget::DEFAULT.set();
    assert_eq!(SpectralBudget::current(), SpectralBudget::default());
    assert!(prefers_fft(&geometry));
}

//! `FftConv2d` as a drop-in for `Conv2d`, in f32.

mod common;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Device, Tensor};
use burn_fftconv::{ConvAlgorithm, FftConv2d, FftConv2dConfig};
use common::{assert_twins_train_alike, relative_error, values};

/// On wgpu (lavapipe in CI): the CubeCL implementation under Fusion, with the custom backward.
#[cfg(feature = "wgpu")]
#[test]
fn cnn_trains_like_conv2d_on_wgpu() {
    if let Some(wgpu) = common::wgpu_or_skip("cnn_trains_like_conv2d_on_wgpu") {
        assert_twins_train_alike(wgpu, 1e-4);
    }
}

#[test]
fn cnn_trains_like_conv2d_on_flex() {
    assert_twins_train_alike(Device::flex(), 1e-4);
}

#[test]
#[allow(deprecated)]
fn cnn_trains_like_conv2d_on_ndarray() {
    assert_twins_train_alike(Device::ndarray(), 1e-4);
}

#[test]
fn config_matches_conv2d_config() {
    let device = Device::flex();
    let config = FftConv2dConfig::new([4, 6], [4, 2])
        .with_stride([2, 1])
        .with_groups(2)
        .with_padding(PaddingConfig2d::Same);
    assert_eq!(config.algorithm, ConvAlgorithm::Auto);
    let reference = Conv2dConfig::new([4, 6], [4, 2])
        .with_stride([2, 1])
        .with_groups(2)
        .with_padding(PaddingConfig2d::Same);
    assert_eq!(
        format!("{:?}", config.to_conv2d_config()),
        format!("{reference:?}")
    );
    assert_eq!(
        format!("{:?}", FftConv2dConfig::from(reference.clone())),
        format!("{config:?}")
    );
    // The same seed giving `Conv2d`'s parameters: `tests/seeded_init.rs`.
    let spectral = config.init(&device);
    let direct = reference.init(&device);
    assert_eq!(spectral.padding, direct.padding);
    let x = Tensor::<4>::random([2, 4, 9, 7], burn::tensor::Distribution::Default, &device);
    let y_fft = spectral
        .clone()
        .with_algorithm(ConvAlgorithm::Fft)
        .forward(x.clone());
    let y_direct = spectral.with_algorithm(ConvAlgorithm::Direct).forward(x);
    assert_eq!(y_fft.dims(), y_direct.dims());
    assert!(relative_error(&values(y_fft), &values(y_direct)) < 1e-5);
}

#[test]
fn display_reads_like_conv2d() {
    let device = Device::flex();
    let conv = Conv2dConfig::new([5, 1], [5, 5]).init(&device);
    let expected = format!("{conv}").replace("Conv2d", "FftConv2d");
    let shown = format!("{}", FftConv2d::from(conv));
    assert_eq!(
        shown,
        expected.replace(
            "padding: Valid",
            "padding: Valid, algorithm: Auto, backward_memory: KeepSpectra"
        )
    );
}

#[test]
fn conv2d_weights_load_into_fft_conv2d() {
    let device = Device::flex();
    device.seed(9);
    let conv = Conv2dConfig::new([3, 5], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let spectral = common::reload(
        &conv,
        FftConv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .with_algorithm(ConvAlgorithm::Fft)
            .init(&device),
    );

    let x = Tensor::<4>::random([2, 3, 8, 8], burn::tensor::Distribution::Default, &device);
    let err = relative_error(
        &values(spectral.forward(x.clone())),
        &values(conv.forward(x)),
    );
    assert!(err < 1e-5, "relative error {err:e}");
    assert_eq!(spectral.num_params(), 3 * 5 * 9 + 5);
}

#[test]
fn gradients_are_the_same_under_checkpointing_and_recomputed_spectra() {
    // A tracked tensor of `shape` holding `v % period - period / 2` at flat index `v`.
    let ramp = |shape: [usize; 4], period: usize, device: &Device| {
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|v| (v % period) as f32 - (period / 2) as f32)
            .collect();
        Tensor::<4>::from_data(burn::tensor::TensorData::new(values, shape), device).require_grad()
    };
    let grads_on = |device: Device, memory: burn_fftconv::BackwardMemory| {
        let x = ramp([2, 3, 9, 8], 7, &device);
        let w = ramp([4, 3, 3, 3], 5, &device);
        let y = burn_fftconv::fft_conv2d_with_memory(
            x.clone().exp() * 0.1,
            w.clone(),
            None,
            burn::tensor::ops::ConvOptions::new([2, 1], [1, 1], [1, 1], 1),
            memory,
        );
        let grads = (y.clone() * y).tanh().sum().backward();
        (
            values(x.grad(&grads).unwrap()),
            values(w.grad(&grads).unwrap()),
        )
    };
    use burn_fftconv::BackwardMemory::{KeepSpectra, RecomputeSpectra};
    let plain = grads_on(Device::flex().autodiff(), KeepSpectra);
    assert!(!plain.0.is_empty());
    #[allow(unused_mut)]
    let mut runs = vec![
        (
            Device::flex().autodiff().gradient_checkpointing(),
            KeepSpectra,
            1e-6,
        ),
        (Device::flex().autodiff(), RecomputeSpectra, 1e-6),
        (
            Device::flex().autodiff().gradient_checkpointing(),
            RecomputeSpectra,
            1e-6,
        ),
    ];
    // The same custom backward on wgpu, through Fusion; other f32 kernels, so a looser bound.
    #[cfg(feature = "wgpu")]
    if let Some(wgpu) = common::wgpu_or_skip("the custom backward on wgpu") {
        for memory in [KeepSpectra, RecomputeSpectra] {
            runs.push((wgpu.clone().autodiff(), memory, 1e-4));
        }
    }
    for (device, memory, tolerance) in runs {
        let other = grads_on(device.clone(), memory);
        let errors = [
            relative_error(&other.0, &plain.0),
            relative_error(&other.1, &plain.1),
        ];
        assert!(
            errors[0].max(errors[1]) < tolerance,
            "{device:?} {memory:?}: {errors:?}"
        );
    }
}

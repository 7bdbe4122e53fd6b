//! Which algorithm `Auto` runs, seen from the transforms counted process-wide: the only
//! test of this binary.

use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{FftConv2dConfig, TransformCount};

#[test]
fn auto_runs_the_fft_where_the_model_or_the_backend_favours_it() {
    // `Auto` on 16 -> 16, kernel-3 layers: the FFT on both backends at stride 1 (2.05x faster
    // on Flex); at stride 2, direct on Flex and the FFT on NdArray, whose direct convolution
    // is far slower. Depthwise, the FFT on both: the cost model's pick since its calibration
    // of 2026-11-27 (at 64 channels, 64x64, the two algorithms tie on Flex: 1.00x).
    #[allow(deprecated)]
    for (device, ndarray) in [(Device::flex(), false), (Device::ndarray(), true)] {
        for (groups, stride, expected) in [(1, 1, true), (1, 2, ndarray), (16, 1, true)] {
            let layer = FftConv2dConfig::new([16, 16], [3, 3])
                .with_groups(groups)
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&device);
            let before = TransformCount::now();
            layer.forward(Tensor::random(
                [16, 16, 28, 28],
                Distribution::Default,
                &device,
            ));
            let ran = TransformCount::since(before).forward > 0;
            assert_eq!(
                ran, expected,
                "Auto on {device:?}, {groups} groups, stride {stride}"
            );
        }
    }
}

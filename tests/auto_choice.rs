//! Which algorithm `Auto` runs, seen from the transforms counted process-wide: the only
//! test of this binary.

use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    ConvAlgorithm, ConvGeometry, DirectOp, FftConv2dConfig, Passes, TransformCount, auto_algorithm,
};

#[test]
fn auto_runs_the_fft_where_the_model_or_the_backend_favours_it() {
    // `Auto` on 16 -> 16, kernel-3 layers, 28x28, in a training step (the weight tracked): the
    // FFT at stride 1 (2.05x faster on Flex), direct at stride 2 on Flex, the FFT for the
    // depthwise layer (the model's pick since its calibration of 2026-11-27: at 64 channels,
    // 64x64, the two algorithms tie on Flex, 1.00x). For inference (nothing tracked) the FFT
    // at stride 1 only: burn's depthwise forward pass alone is 5x faster than the FFT's
    // (64 channels, 64x64). NdArray, whose direct convolution is far slower: the FFT always.
    let cases = [(1, 1), (1, 2), (16, 1)];
    #[allow(deprecated)]
    let runs = [
        (Device::flex().autodiff(), [true, false, true]),
        (Device::flex(), [true, false, false]),
        (Device::ndarray().autodiff(), [true; 3]),
        (Device::ndarray(), [true; 3]),
    ];
    for (device, expected) in runs {
        for ((groups, stride), expected) in cases.into_iter().zip(expected) {
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
            // What `auto_algorithm` says `Auto` runs: the weight alone is tracked, where at all.
            let geometry = ConvGeometry::new(
                &[16, 16, 28, 28],
                &[16, 16 / groups, 3, 3],
                [stride; 2],
                [(1, 1); 2],
                [1, 1],
                groups,
            )
            .expect("a valid layer");
            let passes = Passes {
                input_grad: false,
                weight_grad: device.is_autodiff(),
            };
            let said = auto_algorithm(&geometry, passes, DirectOp::Convolution, &device);
            let ran_as = if ran {
                ConvAlgorithm::Fft
            } else {
                ConvAlgorithm::Direct
            };
            assert_eq!(
                said, ran_as,
                "auto_algorithm on {device:?}, {groups} groups"
            );
        }
    }
}

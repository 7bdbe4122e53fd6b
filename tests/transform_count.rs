//! A training step performs exactly the transforms the identities need: the forward pass's
//! spectra are reused by the backward pass and `dy` is transformed once. The counters are
//! process-wide, so this binary holds a single test; it also checks which algorithm `Auto`
//! runs.

use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    BackwardMemory, Conv2dGeometry, FftConv2dConfig, TransformCount, fft_conv2d_with_memory,
};
use fftconv_kernels::{SpectralConv2d, SpectrumKind};

fn step(stride: usize, train_weight: bool, memory: BackwardMemory) -> TransformCount {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Default, &device).require_grad();
    let mut weight = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &device);
    if train_weight {
        weight = weight.require_grad();
    }
    let before = TransformCount::now();
    let y = fft_conv2d_with_memory(
        x.clone(),
        weight.clone(),
        None,
        ConvOptions::new([stride; 2], [1, 1], [1, 1], 1),
        memory,
    );
    let grads = y.sum().backward();
    assert!(x.grad(&grads).is_some());
    assert_eq!(weight.grad(&grads).is_some(), train_weight);
    TransformCount::since(before)
}

#[test]
fn a_training_step_transforms_each_operand_once() {
    // N = 2, C = 3, F = 4. Forward: N*C input maps, F*C weight maps, N*F inverse outputs.
    // Backward: N*F output-gradient maps, N*C inverse dx maps, F*C inverse dw maps.
    assert_eq!(
        step(1, true, BackwardMemory::KeepSpectra),
        TransformCount {
            forward: 6 + 12 + 8,
            inverse: 8 + 6 + 12
        }
    );
    // A frozen weight costs no weight-gradient transforms.
    assert_eq!(
        step(1, false, BackwardMemory::KeepSpectra),
        TransformCount {
            forward: 6 + 12 + 8,
            inverse: 8 + 6
        }
    );
    // Stride 2 with a 3-tap kernel: taps fall on phases {0, 1} per axis, so every input and
    // weight map splits into 4 phase maps of a quarter of the size, forward and inverse.
    assert_eq!(
        step(2, true, BackwardMemory::KeepSpectra),
        TransformCount {
            forward: 24 + 48 + 8,
            inverse: 8 + 24 + 48
        }
    );

    // Recomputing spectra instead of keeping them transforms x and the weight again.
    assert_eq!(
        step(1, true, BackwardMemory::RecomputeSpectra),
        TransformCount {
            forward: 6 + 12 + 8 + 6 + 12,
            inverse: 8 + 6 + 12
        }
    );

    // `Auto` on 16 -> 16, kernel-3 layers: the FFT on both backends at stride 1 (2.05x faster
    // on Flex); at stride 2 and depthwise, direct on Flex and the FFT on NdArray, whose direct
    // convolution is far slower.
    #[allow(deprecated)]
    for (device, ndarray) in [(Device::flex(), false), (Device::ndarray(), true)] {
        for (groups, stride, expected) in [(1, 1, true), (1, 2, ndarray), (16, 1, ndarray)] {
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

    let geometry = Conv2dGeometry::new(
        &[16, 64, 64, 64],
        &[64, 64, 5, 5],
        [1, 1],
        [(2, 2); 2],
        [1, 1],
        1,
    )
    .unwrap();
    let plan = SpectralConv2d::<f32>::new(geometry).unwrap();
    let held =
        (plan.spectrum_len(SpectrumKind::Input) + plan.spectrum_len(SpectrumKind::Weight)) * 8;
    println!(
        "N16 C64 F64 64x64 k5 'same', f32: FFT {:?}, spectra held between forward and backward: {:.1} MiB",
        plan.fft_size(),
        held as f64 / (1 << 20) as f64
    );
}

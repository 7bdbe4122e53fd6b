//! A training step performs exactly the transforms the identities need: the forward pass's
//! spectra are reused by the backward pass and `dy` is transformed once. The counters are
//! process-wide, so this binary holds a single test (`auto_choice.rs` counts `Auto`'s).

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{BackwardMemory, TransformCount, fft_conv2d_with_memory};

/// One training step on a 6x6 input, small enough for one tile (an 8-point transform).
fn step(stride: usize, train_weight: bool, memory: BackwardMemory) -> TransformCount {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Default, &device).require_grad();
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
}

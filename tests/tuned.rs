//! `ConvAlgorithm::Tuned`, seen from the transforms counted process-wide (the only test of
//! this binary): which algorithm it measured faster is up to the machine, so the test holds
//! it to what it says it measured, not to a pick.

use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, Device, Distribution, Tensor};
use burn_fftconv::{
    ConvAlgorithm, ConvGeometry, DirectOp, FftConv1dConfig, FftConv2d, FftConv2dConfig,
    FftConvTranspose2dConfig, Passes, TransformCount, tuned_algorithm,
};
use fftconv_testing::relative_error;

mod common;

/// A layer of one group at stride and dilation 1, `pad` before and after along both axes.
fn layer(x: &[usize], weight: &[usize], pad: usize) -> ConvGeometry {
    ConvGeometry::new(x, weight, [1, 1], [(pad, pad); 2], [1, 1], 1).expect("a valid layer")
}

/// What `Tuned` picked for f32 `passes` of `geometry` against `op` on `device`.
fn picked(
    geometry: &ConvGeometry,
    passes: Passes,
    op: DirectOp,
    device: &Device,
) -> Option<ConvAlgorithm> {
    tuned_algorithm(geometry, passes, op, device, DType::F32)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    let values = tensor.into_data().try_to_vec::<f32>().expect("f32 values");
    values.into_iter().map(f64::from).collect()
}

/// Transforms the FFT runs in one call of `call`.
fn transforms_of(call: impl FnOnce()) -> u64 {
    let before = TransformCount::now();
    call();
    let count = TransformCount::since(before);
    count.forward + count.inverse
}

/// A training step of `layer` on `x`: its output and the two gradients.
fn step(layer: &FftConv2d, x: &Tensor<4>) -> [Vec<f64>; 3] {
    let x = x.clone().require_grad();
    let y = layer.forward(x.clone());
    let grads = (y.clone() * y.clone()).sum().backward();
    let dx = x.grad(&grads).expect("input gradient");
    let dw = layer.weight.val().grad(&grads).expect("weight gradient");
    [values(y), values(dx), values(dw)]
}

#[test]
fn tuned_runs_what_it_measured_and_measures_each_shape_once() {
    // 8 -> 8 channels by 5x5 on 20x20: the two algorithms within a few times of each other.
    for (device, passes) in [
        (Device::flex(), Passes::FORWARD),
        (Device::flex().autodiff(), Passes::TRAINING_STEP),
    ] {
        let tuned = FftConv2dConfig::new([8, 8], [5, 5])
            .with_padding(PaddingConfig2d::Same)
            .with_algorithm(ConvAlgorithm::Tuned)
            .init(&device);
        let [fft, direct] =
            [ConvAlgorithm::Fft, ConvAlgorithm::Direct].map(|a| tuned.clone().with_algorithm(a));
        let x = Tensor::<4>::random([2, 8, 20, 20], Distribution::Default, &device);
        let geometry = layer(&[2, 8, 20, 20], &[8, 8, 5, 5], 2);
        let pick = || picked(&geometry, passes, DirectOp::Convolution, &device);
        assert_eq!(pick(), None, "measured before its first call ({passes:?})");

        let run = |layer: &FftConv2d| {
            if passes == Passes::FORWARD {
                [values(layer.forward(x.clone())), Vec::new(), Vec::new()]
            } else {
                step(layer, &x)
            }
        };
        // The first call times both algorithms (the FFT at least once, more unless it ran 8x
        // slower than direct).
        let fft_call = transforms_of(|| drop(run(&fft)));
        let first = transforms_of(|| drop(run(&tuned)));
        assert!(
            first >= fft_call,
            "the first call timed the FFT ({first} transforms)"
        );
        let chosen = pick().expect("measured on the first call");
        assert!(matches!(chosen, ConvAlgorithm::Fft | ConvAlgorithm::Direct));

        // Later calls run the chosen algorithm alone, with its results.
        let mut result = Vec::new();
        let later = transforms_of(|| result = run(&tuned).to_vec());
        let expected = if chosen == ConvAlgorithm::Fft {
            fft_call
        } else {
            0
        };
        assert_eq!(later, expected, "{chosen:?} chosen ({passes:?})");
        let reference = run(if chosen == ConvAlgorithm::Fft {
            &fft
        } else {
            &direct
        });
        for (got, want) in result.iter().zip(&reference) {
            assert!(relative_error(got, want) < 1e-6, "{chosen:?} ({passes:?})");
        }
        assert_eq!(pick(), Some(chosen), "one measurement per shape");
    }

    // Other shapes and the 1-D and transposed layers are measured apart, each on its first
    // call; a shape past the spectral budget is not (a 1x1 kernel on a 1-D input is within it).
    let device = Device::flex();
    let conv1d = FftConv1dConfig::new(4, 4, 9)
        .with_algorithm(ConvAlgorithm::Tuned)
        .init(&device);
    let input = Tensor::<3>::random([1, 4, 300], Distribution::Default, &device);
    let geometry_1d = layer(&[1, 4, 1, 300], &[4, 4, 1, 9], 0);
    let pick_1d = || {
        picked(
            &geometry_1d,
            Passes::FORWARD,
            DirectOp::Convolution,
            &device,
        )
    };
    assert_eq!(pick_1d(), None);
    let y = conv1d.forward(input.clone());
    assert!(pick_1d().is_some());
    let y_fft = conv1d
        .clone()
        .with_algorithm(ConvAlgorithm::Fft)
        .forward(input);
    assert!(relative_error(&values(y), &values(y_fft)) < 1e-5);

    let transposed = FftConvTranspose2dConfig::new([4, 6], [3, 3])
        .with_algorithm(ConvAlgorithm::Tuned)
        .init(&device);
    let x = Tensor::<4>::random([2, 4, 10, 10], Distribution::Default, &device);
    let y = transposed.forward(x.clone());
    assert_eq!(y.dims(), [2, 6, 12, 12]);
    // The convolution whose input gradient it computes: 6 -> 4 channels on 12x12.
    let convolution = layer(&[2, 6, 12, 12], &[4, 6, 3, 3], 0);
    assert!(picked(&convolution, Passes::FORWARD, DirectOp::Transposed, &device).is_some());
    let y_direct = transposed.with_algorithm(ConvAlgorithm::Direct).forward(x);
    assert!(relative_error(&values(y), &values(y_direct)) < 1e-5);

    // On a CubeCL device the timing waits for the device (lavapipe where no GPU is present).
    #[cfg(feature = "wgpu")]
    if let Some(wgpu) =
        common::wgpu_or_skip("tuned_runs_what_it_measured_and_measures_each_shape_once (wgpu)")
    {
        let tuned = FftConv2dConfig::new([4, 4], [5, 5])
            .with_padding(PaddingConfig2d::Same)
            .with_algorithm(ConvAlgorithm::Tuned)
            .init(&wgpu);
        let x = Tensor::<4>::random([1, 4, 16, 16], Distribution::Default, &wgpu);
        let y = tuned.forward(x.clone());
        let geometry = layer(&[1, 4, 16, 16], &[4, 4, 5, 5], 2);
        let pick = picked(&geometry, Passes::FORWARD, DirectOp::Convolution, &wgpu);
        assert!(pick.is_some(), "measured on wgpu");
        let y_direct = tuned.with_algorithm(ConvAlgorithm::Direct).forward(x);
        assert!(relative_error(&values(y), &values(y_direct)) < 1e-4);
    }
}

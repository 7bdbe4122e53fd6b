//! FFT convolution against burn's direct convolution, on the same device in the same run.
//!
//! Groups are named `{backend}/{pass}/{geometry}` with `fft` and `direct` inside each, so the
//! speedup of a pass is the ratio of the two. Passes: `forward`, `input_grad`, `weight_grad`,
//! `train_step` (forward and backward through autodiff, the weight and input tracked) and
//! `transposed_train_step` (the same for the transposed convolution from the geometry's output
//! shape back to its input shape); `flex/forward/n1_...`, forward passes of one image through
//! four small layers (inference); `flex/conv1d_train_step/...`, causal 1-D filters of 64
//! to 1024 taps; and `flex/conv3d_train_step/...`, 3-D layers of 16 -> 16 channels on 32^3
//! volumes, kernels 3, 5 and 7.
//!
//! The full grid (kernel 3..15 x image 28..128 x channels 16 and 64, batch 16, plus stride 2
//! and depthwise cases, and the deep layers of a ResNet, 128 to 512 channels on 16x16 to 7x7
//! maps) runs long; select with criterion's filter, for example
//! `cargo bench --bench conv -- 'flex/train_step/n16_c64_f64_64x64'`.
//! `python3 benches/report.py` turns the results into `benches/REPORT.md` and a plot.
//! With `--features wgpu` the grid also runs on the default wgpu device (`wgpu/...` groups;
//! each timed iteration reads its result back and then synchronizes the device: on burn
//! 0.22.1's wgpu a read alone returned before the device work finished, timings at hundreds of
//! TFLOP/s on an H100).

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::module::{conv_transpose2d, conv1d, conv2d, conv2d_weight_backward, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    direct_conv2d_x_backward, fft_conv_transpose2d, fft_conv1d, fft_conv2d,
    fft_conv2d_weight_backward, fft_conv2d_x_backward, fft_conv3d,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// One benchmarked convolution: batch, channels in and out, square image and kernel, stride,
/// groups; padding keeps the output size at stride 1 ("same").
#[derive(Clone, Copy)]
struct Case {
    batch: usize,
    channels: [usize; 2],
    image: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl Case {
    fn name(&self) -> String {
        let mut name = format!(
            "n{}_c{}_f{}_{}x{}_k{}",
            self.batch, self.channels[0], self.channels[1], self.image, self.image, self.kernel
        );
        if self.stride > 1 {
            name += &format!("_s{}", self.stride);
        }
        if self.groups > 1 {
            name += &format!("_g{}", self.groups);
        }
        name
    }

    fn options(&self) -> ConvOptions<2> {
        let pad = self.kernel / 2;
        ConvOptions::new_with_padding(
            [self.stride; 2],
            [(pad, self.kernel - 1 - pad); 2],
            [1, 1],
            self.groups,
        )
    }

    /// The transposed convolution that maps the output shape back to the input shape (odd
    /// kernels: symmetric padding).
    fn transposed_options(&self) -> ConvTransposeOptions<2> {
        let pad = self.kernel / 2;
        let out = (self.image - 1) / self.stride + 1;
        let padding_out = self.image - ((out - 1) * self.stride + self.kernel - 2 * pad);
        ConvTransposeOptions::new(
            [self.stride; 2],
            [pad; 2],
            [padding_out; 2],
            [1, 1],
            self.groups,
        )
    }

    fn tensors(&self, device: &Device) -> [Tensor<4>; 3] {
        let [c, f] = self.channels;
        let x = Tensor::random(
            [self.batch, c, self.image, self.image],
            Distribution::Default,
            device,
        );
        let w = Tensor::random(
            [f, c / self.groups, self.kernel, self.kernel],
            Distribution::Default,
            device,
        );
        let out = (self.image - 1) / self.stride + 1;
        let dy = Tensor::random([self.batch, f, out, out], Distribution::Default, device);
        [x, w, dy]
    }
}

fn grid() -> Vec<Case> {
    let mut cases = Vec::new();
    for channels in [[16, 16], [64, 64]] {
        for image in [28, 64, 128] {
            for kernel in [3, 5, 7, 9, 11, 15] {
                cases.push(Case {
                    batch: 16,
                    channels,
                    image,
                    kernel,
                    stride: 1,
                    groups: 1,
                });
            }
        }
    }
    for kernel in [3, 5, 7] {
        cases.push(Case {
            batch: 16,
            channels: [64, 64],
            image: 64,
            kernel,
            stride: 2,
            groups: 1,
        });
        cases.push(Case {
            batch: 16,
            channels: [64, 64],
            image: 64,
            kernel,
            stride: 1,
            groups: 64,
        });
    }
    // The deep layers of a ResNet: many channels, small maps, kernel 3.
    for (channels, image) in [(128, 16), (256, 14), (256, 8), (512, 7)] {
        cases.push(Case {
            batch: 16,
            channels: [channels; 2],
            image,
            kernel: 3,
            stride: 1,
            groups: 1,
        });
    }
    cases
}

type Pass = fn(&Case, &[Tensor<4>; 3], bool) -> Tensor<4>;

fn forward(case: &Case, [x, w, _]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    let f = if fft { fft_conv2d } else { conv2d };
    f(x.clone(), w.clone(), None, case.options())
}

fn input_grad(case: &Case, [x, w, dy]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    if fft {
        fft_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), case.options())
    } else {
        direct_conv2d_x_backward(x.clone(), w.clone(), dy.clone(), case.options())
    }
}

fn weight_grad(case: &Case, [x, w, dy]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    let f = if fft {
        fft_conv2d_weight_backward
    } else {
        conv2d_weight_backward
    };
    f(x.clone(), w.clone(), dy.clone(), case.options())
}

/// Forward and backward through autodiff of `op` on copies of `input` and `w` (both tracked),
/// the loss being `sum(op(input, w) * upstream)`; returns the input gradient, after reading the
/// loss and the weight gradient (every result read back, so no lazy backend leaves work undone).
fn autodiff_step<const D: usize>(
    [input, w, upstream]: [&Tensor<D>; 3],
    op: impl Fn(Tensor<D>, Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let input = input.clone().autodiff().require_grad();
    let w = w.clone().autodiff().require_grad();
    let loss = (op(input.clone(), w.clone()) * upstream.clone().autodiff()).sum();
    let mut grads = loss.backward();
    black_box(loss.into_data());
    // Removed from the container, as an optimizer takes them: a gradient still held there is
    // copied when read, a 16 MiB copy on one thread that PyTorch's step does not make.
    black_box(w.grad_remove(&mut grads).expect("w is tracked").into_data());
    input.grad_remove(&mut grads).expect("the input is tracked")
}

/// The convolution's training step.
fn train_step(case: &Case, [x, w, dy]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    let conv = if fft { fft_conv2d } else { conv2d };
    autodiff_step([x, w, dy], |x, w| conv(x, w, None, case.options()))
}

/// The training step of the transposed convolution adjoint to the case's: its input is shaped
/// like `dy`, its output like `x`, and it shares the weight.
fn transposed_train_step(case: &Case, [x, w, dy]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    let conv = if fft {
        fft_conv_transpose2d
    } else {
        conv_transpose2d
    };
    autodiff_step([dy, w, x], |input, w| {
        conv(input, w, None, case.transposed_options())
    })
}

/// The group `name`: `run(inputs, true)` (FFT) against `run(inputs, false)` (direct), each
/// result read back and the device synchronized after every iteration. `inputs()` makes the
/// operands, untimed, only for a benchmark the filter selects: making those of the whole
/// grid up front took seconds of every run, on a lent GPU machine too.
fn compare<S, const D: usize>(
    c: &mut Criterion,
    name: String,
    device: &Device,
    inputs: impl Fn() -> S,
    run: impl Fn(&S, bool) -> Tensor<D>,
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(2));
    for (algorithm, fft) in [("fft", true), ("direct", false)] {
        group.bench_function(BenchmarkId::from_parameter(algorithm), |b| {
            let inputs = inputs();
            device.sync().expect("the device synchronizes");
            b.iter(|| {
                let result = run(&inputs, fft).into_data();
                device.sync().expect("the device synchronizes");
                black_box(result)
            })
        });
    }
    group.finish();
}

/// Forward passes of one image on Flex (inference) through small layers, where a call's fixed
/// cost (plans, buffers, waking rayon's threads) weighs against little work.
fn batch_one_benches(c: &mut Criterion) {
    let device = Device::flex();
    let layers = [
        ([1, 1], 8, 3),
        ([3, 32], 32, 3),
        ([16, 16], 32, 5),
        ([64, 64], 32, 3),
    ];
    for (channels, image, kernel) in layers {
        let case = Case {
            batch: 1,
            channels,
            image,
            kernel,
            stride: 1,
            groups: 1,
        };
        let name = format!("flex/forward/{}", case.name());
        compare(
            c,
            name,
            &device,
            || case.tensors(&device),
            |tensors, fft| forward(&case, tensors, fft),
        );
    }
}

/// Causal 1-D training steps on Flex, 16 -> 16 channels, batch 8, 4096 samples: long
/// filters where burn's direct step still takes seconds, not minutes
/// (`examples/long_conv1d.rs` times the longer ones).
fn conv1d_benches(c: &mut Criterion) {
    let device = Device::flex();
    let random = |shape: [usize; 3]| Tensor::<3>::random(shape, Distribution::Default, &device);
    for kernel in [64, 256, 1024] {
        let causal = ConvOptions::new_with_padding([1], [(kernel - 1, 0)], [1], 1);
        let name = format!("flex/conv1d_train_step/n8_c16_f16_l4096_k{kernel}_causal");
        let inputs = || [[8, 16, 4096], [16, 16, kernel], [8, 16, 4096]].map(random);
        compare(c, name, &device, inputs, |[x, w, dy], fft| {
            let conv = if fft { fft_conv1d } else { conv1d };
            autodiff_step([x, w, dy], |x, w| conv(x, w, None, causal.clone()))
        });
    }
}

/// 3-D training steps on Flex, 16 -> 16 channels, batch 2, a 32^3 volume, "same" padding:
/// where the direct cost grows with the kernel's volume.
fn conv3d_benches(c: &mut Criterion) {
    let device = Device::flex();
    let random = |shape: [usize; 5]| Tensor::<5>::random(shape, Distribution::Default, &device);
    for kernel in [3, 5, 7] {
        let same = ConvOptions::new([1; 3], [kernel / 2; 3], [1; 3], 1);
        let name = format!("flex/conv3d_train_step/n2_c16_f16_32x32x32_k{kernel}");
        let volume = [2, 16, 32, 32, 32];
        let inputs = || [volume, [16, 16, kernel, kernel, kernel], volume].map(random);
        compare(c, name, &device, inputs, |[x, w, dy], fft| {
            let conv = if fft { fft_conv3d } else { conv3d };
            autodiff_step([x, w, dy], |x, w| conv(x, w, None, same.clone()))
        });
    }
}

#[allow(deprecated)]
fn benches(c: &mut Criterion) {
    let passes: [(&str, Pass); 5] = [
        ("forward", forward),
        ("input_grad", input_grad),
        ("weight_grad", weight_grad),
        ("train_step", train_step),
        ("transposed_train_step", transposed_train_step),
    ];
    let mut devices = vec![("flex", Device::flex()), ("ndarray", Device::ndarray())];
    #[cfg(feature = "wgpu")]
    devices.push((
        "wgpu",
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    ));
    for (backend, device) in devices {
        for case in grid() {
            for (pass, run) in passes {
                let name = format!("{backend}/{pass}/{}", case.name());
                let inputs = || case.tensors(&device);
                compare(c, name, &device, inputs, |tensors, fft| {
                    run(&case, tensors, fft)
                });
            }
        }
    }
    batch_one_benches(c);
    conv1d_benches(c);
    conv3d_benches(c);
}

criterion_group!(conv, benches);
criterion_main!(conv);

//! FFT convolution against burn's direct convolution, on the same device in the same run.
//!
//! Groups are named `{backend}/{pass}/{geometry}` with `fft` and `direct` inside each, so the
//! speedup of a pass is the ratio of the two. Passes: `forward`, `input_grad`, `weight_grad`
//! and `train_step` (forward and backward through autodiff, the weight and input tracked).
//!
//! The full grid (kernel 3..15 x image 28..128 x channels 16 and 64, batch 16, plus stride 2
//! and depthwise cases) runs long; select with criterion's filter, for example
//! `cargo bench --bench conv -- 'flex/train_step/n16_c64_f64_64x64'`.
//! `python3 benches/report.py` turns the results into `benches/REPORT.md` and a plot.
//! With `--features wgpu` the grid also runs on the default wgpu device (`wgpu/...` groups;
//! each timed iteration reads its result back and then synchronizes the device: on burn
//! 0.22.1's wgpu a read alone returned before the device work finished, timings at hundreds of
//! TFLOP/s on an H100).

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::module::{conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{
    direct_conv2d_x_backward, fft_conv2d, fft_conv2d_weight_backward, fft_conv2d_x_backward,
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
    for kernel in [3, 7] {
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

/// Forward and backward on autodiff copies of the tensors; returns the input gradient, after
/// reading the loss and the weight gradient (a lazy backend, wgpu's Fusion, would otherwise
/// be free to leave their work undone when only the input gradient is read).
fn train_step(case: &Case, [x, w, dy]: &[Tensor<4>; 3], fft: bool) -> Tensor<4> {
    let x = x.clone().autodiff().require_grad();
    let w = w.clone().autodiff().require_grad();
    let dy = dy.clone().autodiff();
    let y = forward(case, &[x.clone(), w.clone(), dy.clone()], fft);
    let loss = (y * dy).sum();
    let grads = loss.backward();
    black_box(loss.into_data());
    black_box(w.grad(&grads).expect("w is tracked").into_data());
    x.grad(&grads).expect("x is tracked")
}

#[allow(deprecated)]
fn benches(c: &mut Criterion) {
    let passes: [(&str, Pass); 4] = [
        ("forward", forward),
        ("input_grad", input_grad),
        ("weight_grad", weight_grad),
        ("train_step", train_step),
    ];
    let mut devices = vec![("flex", Device::flex()), ("ndarray", Device::ndarray())];
    #[cfg(feature = "wgpu")]
    devices.push((
        "wgpu",
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    ));
    for (backend, device) in devices {
        for case in grid() {
            let tensors = case.tensors(&device);
            for (pass, run) in passes {
                let mut group = c.benchmark_group(format!("{backend}/{pass}/{}", case.name()));
                group.sample_size(10);
                group.warm_up_time(Duration::from_millis(300));
                group.measurement_time(Duration::from_secs(2));
                for (algorithm, fft) in [("fft", true), ("direct", false)] {
                    group.bench_function(BenchmarkId::from_parameter(algorithm), |b| {
                        b.iter(|| {
                            let result = run(&case, &tensors, fft).into_data();
                            device.sync().expect("the device synchronizes");
                            black_box(result)
                        })
                    });
                }
                group.finish();
            }
        }
    }
}

criterion_group!(conv, benches);
criterion_main!(conv);

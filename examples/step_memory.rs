//! Peak memory of one training step (forward and backward) of a convolution, FFT or direct,
//! at batch 16, 64 -> 64 channels, 64x64, "same" padding, f32, on Flex. Run each variant in
//! its own process, since the peak is per process (Linux: `VmHWM` of `/proc/self/status`).
//!
//! ```sh
//! for conv in direct fft fft-recompute; do
//!     cargo run --release --example step_memory -- $conv 7
//! done
//! ```

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{BackwardMemory, fft_conv2d_with_memory};

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let conv = args.next().unwrap_or_else(|| "fft".into());
    let kernel: usize = args.next().and_then(|k| k.parse().ok()).unwrap_or(7);
    let device = Device::flex().autodiff();
    let pad = (kernel / 2, kernel - 1 - kernel / 2);
    let options = ConvOptions::new_with_padding([1, 1], [pad, pad], [1, 1], 1);
    let x = Tensor::<4>::random([16, 64, 64, 64], Distribution::Default, &device).require_grad();
    let w = Tensor::<4>::random([64, 64, kernel, kernel], Distribution::Default, &device)
        .require_grad();
    let dy = Tensor::<4>::random([16, 64, 64, 64], Distribution::Default, &device);
    let before = status_kib("VmRSS:");
    let y = match conv.as_str() {
        "direct" => conv2d(x.clone(), w.clone(), None, options),
        "fft" => fft_conv2d_with_memory(
            x.clone(),
            w.clone(),
            None,
            options,
            BackwardMemory::KeepSpectra,
        ),
        "fft-recompute" => fft_conv2d_with_memory(
            x.clone(),
            w.clone(),
            None,
            options,
            BackwardMemory::RecomputeSpectra,
        ),
        other => panic!("unknown conv {other}: use direct, fft or fft-recompute"),
    };
    let grads = (y * dy).sum().backward();
    let dx = x.grad(&grads).expect("x is tracked");
    let dw = w.grad(&grads).expect("w is tracked");
    let peak = status_kib("VmHWM:");
    println!(
        "{conv} k{kernel}: peak {:.1} MiB above the {:.1} MiB held before the step (dx {:?}, dw {:?})",
        peak.saturating_sub(before) as f64 / 1024.0,
        before as f64 / 1024.0,
        dx.dims(),
        dw.dims()
    );
}

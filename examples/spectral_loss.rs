//! Gradient descent through `rfft2`: reshape a noise image until its power spectrum matches
//! that of a target image. A runnable companion of the gradient rules in the `fft2` docs.
//!
//! ```sh
//! cargo run --release --example spectral_loss
//! ```

use burn::tensor::{Device, Distribution, Tensor};
use burn_fftconv::{FftNorm, rfft2};

fn power(x: Tensor<3>) -> Tensor<3> {
    let (re, im) = rfft2(x, None, FftNorm::Ortho);
    re.clone() * re + im.clone() * im
}

fn main() {
    let device = Device::flex();
    device.seed(0);
    // Target: vertical stripes of period 8 plus a little noise.
    let columns = Tensor::<1, burn::tensor::Int>::arange(0..32, &device).float();
    let stripes = (columns * (2.0 * std::f64::consts::PI / 8.0))
        .sin()
        .reshape([1, 1, 32]);
    let target = stripes.expand([1, 32, 32])
        + Tensor::random([1, 32, 32], Distribution::Normal(0.0, 0.1), &device);
    let target_power = power(target);

    let mut x = Tensor::<3>::random([1, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let learning_rate = 0.02;
    for step in 0..=300 {
        let xa = x.clone().autodiff().require_grad();
        let loss = (power(xa.clone()) - target_power.clone().autodiff())
            .powi_scalar(2)
            .mean();
        let grads = loss.backward();
        if step % 50 == 0 {
            println!(
                "step {step:>3}: spectral loss {:.6}",
                loss.into_scalar::<f64>()
            );
        }
        x = x - xa.grad(&grads).expect("x is tracked") * learning_rate;
    }
}

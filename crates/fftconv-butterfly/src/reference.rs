//! The exact real DFT, the yardstick of a [`ButterflyFft`].

use std::f64::consts::TAU;

use burn::tensor::{Device, Tensor, TensorData};

use crate::{ButterflyFft, ComplexTensor};

/// The real DFT as a `[n, n / 2 + 1]` complex matrix, entry `[j, k] = exp(-2πi jk / n)`, so
/// that `x.matmul(F)` is the real FFT of the rows of `x`. Angles are reduced modulo `n` in
/// integers before the sine and cosine, so every entry is correct to the last bit or so.
pub fn rdft_matrix(n: usize, device: &Device) -> ComplexTensor<2> {
    let bins = n / 2 + 1;
    let (re, im): (Vec<f64>, Vec<f64>) = (0..n)
        .flat_map(|j| (0..bins).map(move |k| (j * k) % n))
        .map(|phase| {
            let (sin, cos) = (TAU * phase as f64 / n as f64).sin_cos();
            (cos, -sin)
        })
        .unzip();
    let tensor = |values| Tensor::from_data(TensorData::new(values, [n, bins]), device);
    ComplexTensor::new(tensor(re), tensor(im))
}

/// The identity matrix `[n, n]`: a batch whose transform is the transform's matrix.
pub fn basis(n: usize, device: &Device) -> Tensor<2> {
    let values = (0..n * n)
        .map(|i| f64::from(u8::from(i % (n + 1) == 0)))
        .collect();
    Tensor::from_data(TensorData::new(values, [n, n]), device)
}

/// Relative operator error `||F_θ - F|| / ||F||` (Frobenius) of the `n`-point real FFT
/// that `model` computes, `n` a power of two up to its length.
pub fn operator_error(model: &ButterflyFft, n: usize, device: &Device) -> f64 {
    let exact = rdft_matrix(n, device);
    let learned = model.forward(basis(n, device));
    let error = (learned - exact.clone())
        .squared_norm()
        .into_scalar::<f64>();
    (error / exact.squared_norm().into_scalar::<f64>()).sqrt()
}

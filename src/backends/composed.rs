//! The device path: FFT convolution composed from burn tensor operations, burn-signal's
//! transforms and batched complex matmuls, for devices without a native kernel in this crate
//! (wgpu and the other CubeCL runtimes, with or without Fusion). Everything stays on the
//! device. Under autodiff, burn differentiates the composition: the backward of its
//! transforms and complex products is the input- and weight-gradient identities, evaluated
//! with the spectra autodiff kept from the forward pass.
//!
//! Transforms cover the whole padded image at power-of-two sizes (burn-signal's sizes), so a
//! circular correlation equals the linear one on every output the convolution keeps. Stride
//! and dilation insert or drop samples around the stride-1 correlation; groups are a batch
//! dimension of the matmuls.

use burn::signal::{cfft, irfft, rfft};
use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, s};
use fftconv_kernels::Conv2dGeometry;

use crate::ops::Identity;

/// A complex tensor as its real and imaginary parts.
struct Complex {
    re: Tensor<4>,
    im: Tensor<4>,
}

impl Complex {
    fn map(self, f: impl Fn(Tensor<4>) -> Tensor<4>) -> Self {
        Self {
            re: f(self.re),
            im: f(self.im),
        }
    }

    /// `a b` per batch entry, with `a` (`b`) conjugated when `conj_a` (`conj_b`).
    fn matmul(a: &Self, conj_a: bool, b: &Self, conj_b: bool) -> Self {
        let sign = |conj: bool| if conj { -1.0 } else { 1.0 };
        let (sa, sb) = (sign(conj_a), sign(conj_b));
        let mm = |x: &Tensor<4>, y: &Tensor<4>| x.clone().matmul(y.clone());
        Self {
            re: mm(&a.re, &b.re) - mm(&a.im, &b.im) * (sa * sb),
            im: mm(&a.re, &b.im) * sb + mm(&a.im, &b.re) * sa,
        }
    }
}

/// Transform size per axis: the padded input rounded up to a power of two.
fn transform_size(geometry: &Conv2dGeometry) -> [usize; 2] {
    geometry
        .axes
        .map(|a| (a.input + a.pad_begin + a.pad_end).next_power_of_two())
}

/// The 2-D real FFT of the last two dimensions, zero-padded to `size`:
/// `[a, b, size[0], size[1] / 2 + 1]`.
fn rfft2(t: Tensor<4>, size: [usize; 2]) -> Complex {
    let (re, im) = rfft(t, 3, Some(size[1]));
    let (re, im) = cfft(re, im, 2, Some(size[0]));
    Complex { re, im }
}

/// The inverse of [`rfft2`], cropped to `rows x cols`.
fn irfft2(z: Complex, size: [usize; 2], rows: usize, cols: usize) -> Tensor<4> {
    // ifft(z) = conj(fft(conj(z))) / n along the rows.
    let scale = 1.0 / size[0] as f64;
    let (re, im) = cfft(z.re, z.im.neg(), 2, None);
    irfft(re * scale, im.neg() * scale, 3, Some(size[1])).slice(s![.., .., 0..rows, 0..cols])
}

/// Puts `factor - 1` zeros after every sample of the last two dimensions, keeping
/// `factor * (len - 1) + 1` samples: the dilated kernel, or an output gradient on the
/// stride-1 grid.
fn spread(t: Tensor<4>, factor: [usize; 2]) -> Tensor<4> {
    if factor == [1, 1] {
        return t;
    }
    let [a, b, h, w] = t.dims();
    t.reshape([a, b, h, 1, w, 1])
        .pad(
            [(0, 0), (0, factor[0] - 1), (0, 0), (0, factor[1] - 1)],
            PadMode::Constant(0.0),
        )
        .reshape([a, b, h * factor[0], w * factor[1]])
        .slice(s![
            ..,
            ..,
            0..factor[0] * (h - 1) + 1,
            0..factor[1] * (w - 1) + 1
        ])
}

/// Keeps every `step`-th sample of the first `len` ones of the last two dimensions.
fn gather(t: Tensor<4>, len: [usize; 2], step: [usize; 2]) -> Tensor<4> {
    let [last_h, last_w] = [0, 1].map(|i| step[i] * (len[i] - 1) + 1);
    t.slice(s![
        ..,
        ..,
        0..last_h;step[0] as isize,
        0..last_w;step[1] as isize
    ])
}

/// `[a, groups * per_group, bins]` spectra as matrices `[groups, bins, rows, per_group]`
/// where the rows are the `a` entries (images): for inputs and output gradients.
fn batch_rows(z: Complex, groups: usize) -> Complex {
    z.map(|t| {
        let [a, channels, p, q] = t.dims();
        t.reshape([a, groups, channels / groups, p * q])
            .permute([1, 3, 0, 2])
    })
}

/// The inverse of [`batch_rows`]: `[a, channels, p, q]` back from `[groups, bins, a, per_group]`.
fn unbatch_rows(z: Complex, p: usize, q: usize) -> Complex {
    z.map(|t| {
        let [groups, _, a, per_group] = t.dims();
        t.permute([2, 0, 3, 1])
            .reshape([a, groups * per_group, p, q])
    })
}

/// Weight spectra `[out, in_per_group, p, q]` as matrices `[groups, bins, out_per_group,
/// in_per_group]`.
fn batch_weight(z: Complex, groups: usize) -> Complex {
    z.map(|t| {
        let [out, per_group, p, q] = t.dims();
        t.reshape([groups, out / groups, per_group, p * q])
            .permute([0, 3, 1, 2])
    })
}

/// The inverse of [`batch_weight`].
fn unbatch_weight(z: Complex, p: usize, q: usize) -> Complex {
    z.map(|t| {
        let [groups, _, out_per_group, per_group] = t.dims();
        t.permute([0, 2, 3, 1])
            .reshape([groups * out_per_group, per_group, p, q])
    })
}

fn input_spectrum(x: Tensor<4>, geometry: &Conv2dGeometry) -> Complex {
    let [h, w] = geometry.axes;
    let padded = x.pad(
        (w.pad_begin, w.pad_end, h.pad_begin, h.pad_end),
        PadMode::Constant(0.0),
    );
    batch_rows(rfft2(padded, transform_size(geometry)), geometry.groups)
}

fn weight_spectrum(weight: Tensor<4>, geometry: &Conv2dGeometry) -> Complex {
    let dilated = spread(weight, geometry.axes.map(|a| a.dilation));
    batch_weight(rfft2(dilated, transform_size(geometry)), geometry.groups)
}

fn output_grad_spectrum(output_grad: Tensor<4>, geometry: &Conv2dGeometry) -> Complex {
    let on_unit_grid = spread(output_grad, geometry.axes.map(|a| a.stride));
    batch_rows(
        rfft2(on_unit_grid, transform_size(geometry)),
        geometry.groups,
    )
}

/// `x * weight` (cross-correlation, no bias): `[batch, out_channels, out_h, out_w]`.
pub(crate) fn conv2d(x: Tensor<4>, weight: Tensor<4>, geometry: &Conv2dGeometry) -> Tensor<4> {
    let [p, q] = transform_size(geometry);
    let x_hat = input_spectrum(x, geometry);
    let w_hat = weight_spectrum(weight, geometry);
    let y_hat = unbatch_rows(
        Complex::matmul(&x_hat, false, &w_hat.map(transpose), true),
        p,
        q / 2 + 1,
    );
    let [h, w] = geometry.axes;
    let unit_stride = [h, w].map(|a| a.input + a.pad_begin + a.pad_end - a.dilated_kernel() + 1);
    let y = irfft2(y_hat, [p, q], unit_stride[0], unit_stride[1]);
    gather(y, [h.output(), w.output()], [h.stride, w.stride])
}

/// The gradient of [`conv2d`] by `identity`, from `output_grad` and `operand`: with respect
/// to `x` from the weight ([`Identity::InputGrad`]), or with respect to the weight from `x`
/// ([`Identity::WeightGrad`]).
pub(crate) fn gradient(
    operand: Tensor<4>,
    output_grad: Tensor<4>,
    identity: Identity,
    geometry: &Conv2dGeometry,
) -> Tensor<4> {
    let [p, q] = transform_size(geometry);
    let dy_hat = output_grad_spectrum(output_grad, geometry);
    let [h, w] = geometry.axes;
    if identity == Identity::InputGrad {
        let w_hat = weight_spectrum(operand, geometry);
        let dx_hat = unbatch_rows(Complex::matmul(&dy_hat, false, &w_hat, false), p, q / 2 + 1);
        let [rows, cols] = [h, w].map(|a| a.input + a.pad_begin + a.pad_end);
        irfft2(dx_hat, [p, q], rows, cols).slice(s![
            ..,
            ..,
            h.pad_begin..h.pad_begin + h.input,
            w.pad_begin..w.pad_begin + w.input
        ])
    } else {
        let x_hat = input_spectrum(operand, geometry);
        let dy_hat = dy_hat.map(transpose);
        let dw_hat = unbatch_weight(Complex::matmul(&dy_hat, true, &x_hat, false), p, q / 2 + 1);
        let dilated = irfft2(dw_hat, [p, q], h.dilated_kernel(), w.dilated_kernel());
        gather(dilated, [h.kernel, w.kernel], [h.dilation, w.dilation])
    }
}

/// Swaps the two matrix dimensions of batched matrices.
fn transpose(t: Tensor<4>) -> Tensor<4> {
    t.swap_dims(2, 3)
}

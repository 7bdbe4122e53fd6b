//! Both extensions composed from a backend's own tensor operations and burn-signal's
//! transforms: how they run on backends without kernels of this crate, the CubeCL runtimes
//! (`cube.rs`). Everything stays on the device, and the `Autodiff` implementations give these
//! backends the same custom backward as the CPU ones.
//!
//! Convolution transforms cover the whole padded image (or volume: any rank) at power-of-two
//! sizes of at least 2 (burn-signal's sizes), so a circular correlation equals the linear one on every output the
//! convolution keeps. Stride and dilation insert or drop samples around the stride-1
//! correlation. The channel contraction is a batched complex matmul (four real ones) per bin,
//! with groups as a batch dimension. As on the CPU, the input and the output gradient are
//! scaled by `1 / points` before their transforms, so no bin exceeds the largest value of
//! the image and an f32 input near `f32::MAX` stays finite where direct convolution does. Spectra have the layout of
//! [`spectrum_shape`](crate::layout::spectrum_shape).
//!
//! The 2-D DFTs of [`crate::fft2()`] run burn-signal's FFTs along axes whose size is a power
//! of two, and Bluestein's algorithm (a chirp convolution through power-of-two FFTs) along
//! the others: `O(n log n)` work at any size.

use burn::backend::{Backend, TensorMetadata, tensor::FloatTensor};
use burn::signal::SignalOps;
use burn::tensor::ops::PadMode;
use burn::tensor::{Shape, Slice, TensorData};
use fftconv_kernels::{AxisGeometry, ConvGeometry, SpectrumKind};
use num_complex::Complex64;
use rustfft::FftPlanner;

use crate::layout::{half_bins, transform_size};
use crate::ops::ConvPass;

type Float<B> = FloatTensor<B>;

/// A complex tensor as its real and imaginary parts.
struct Complex<B: Backend> {
    re: Float<B>,
    im: Float<B>,
}

impl<B: Backend> Complex<B> {
    fn map(self, f: impl Fn(Float<B>) -> Float<B>) -> Self {
        Self {
            re: f(self.re),
            im: f(self.im),
        }
    }

    fn conj(self) -> Self {
        Self {
            re: self.re,
            im: B::float_neg(self.im),
        }
    }

    fn scale(self, factor: f64) -> Self {
        self.map(|t| B::float_mul_scalar(t, factor.into()))
    }

    /// The complex product of `a` and `b` built from the real bilinear product `mul`.
    fn product(a: &Self, b: &Self, mul: impl Fn(&Float<B>, &Float<B>) -> Float<B>) -> Self {
        Self {
            re: B::float_sub(mul(&a.re, &b.re), mul(&a.im, &b.im)),
            im: B::float_add(mul(&a.re, &b.im), mul(&a.im, &b.re)),
        }
    }

    /// Batched complex matrix product.
    fn matmul(a: &Self, b: &Self) -> Self {
        Self::product(a, b, |x, y| B::float_matmul(x.clone(), y.clone()))
    }

    /// One tensor, real part then imaginary part along a new first dimension.
    fn stack(self) -> Float<B> {
        let stacked = |t: Float<B>| {
            let mut shape = t.shape().to_vec();
            shape.insert(0, 1);
            B::float_reshape(t, Shape::from(shape))
        };
        B::float_cat(vec![stacked(self.re), stacked(self.im)], 0)
    }

    /// The inverse of [`Complex::stack`].
    fn unstack(stacked: Float<B>) -> Self {
        let shape = stacked.shape().to_vec();
        let part = |index: usize| {
            let part = take::<B>(stacked.clone(), 0, index, 1, 1);
            B::float_reshape(part, Shape::from(shape[1..].to_vec()))
        };
        Self {
            re: part(0),
            im: part(1),
        }
    }
}

/// The dimensions of `t` after the first two: its spatial (or bin) sizes.
fn spatial<B: Backend>(t: &Float<B>) -> Vec<usize> {
    t.shape()[2..].to_vec()
}

/// `[first, second]` followed by `rest`, as a shape.
fn shape_of(leading: [usize; 2], rest: &[usize]) -> Shape {
    Shape::from(
        leading
            .into_iter()
            .chain(rest.iter().copied())
            .collect::<Vec<_>>(),
    )
}

/// `len` samples of dimension `dim`, `step` apart from `start`; other dimensions whole.
///
/// Strided samples are taken as the first column of the `[len, step]` matrix that the run of
/// `len * step` samples from `start` forms (zero-padded at the end where it overruns), not by a
/// stepped slice: burn-cubecl 0.22.1's stepped-slice kernel returned garbage on some of the
/// inverse transforms' outputs (see `tests/parity.rs`).
fn take<B: Backend>(t: Float<B>, dim: usize, start: usize, len: usize, step: usize) -> Float<B> {
    let shape = t.shape().to_vec();
    let step = if len == 1 { 1 } else { step };
    let span = len * step;
    let overrun = (start + span).saturating_sub(shape[dim]);
    let t = if overrun > 0 {
        let mut pads = vec![(0, 0); shape.len()];
        pads[dim] = (0, overrun);
        B::float_pad(t, &pads, PadMode::Constant(0.0))
    } else {
        t
    };
    let run = contiguous_run::<B>(t, dim, start, span);
    if step == 1 {
        return run;
    }
    let mut matrix = shape.clone();
    matrix[dim] = len;
    matrix.insert(dim + 1, step);
    let first_column =
        contiguous_run::<B>(B::float_reshape(run, Shape::from(matrix)), dim + 1, 0, 1);
    let mut taken = shape;
    taken[dim] = len;
    B::float_reshape(first_column, Shape::from(taken))
}

/// Samples `start..start + len` of dimension `dim`; other dimensions whole.
fn contiguous_run<B: Backend>(t: Float<B>, dim: usize, start: usize, len: usize) -> Float<B> {
    let slices: Vec<Slice> = t
        .shape()
        .iter()
        .enumerate()
        .map(|(d, &n)| {
            if d == dim {
                Slice::from(start..start + len)
            } else {
                Slice::from(0..n)
            }
        })
        .collect();
    B::float_slice(t, &slices)
}

/// [`take`] on every spatial dimension (those after the first two).
fn window<B: Backend>(t: Float<B>, start: &[usize], len: &[usize], step: &[usize]) -> Float<B> {
    (0..start.len()).fold(t, |t, axis| {
        take::<B>(t, 2 + axis, start[axis], len[axis], step[axis])
    })
}

/// All `n` bins along `dim` from the `n / 2 + 1` that a real FFT returns: bin `n - k` is the
/// conjugate of bin `k`.
fn full_spectrum<B: Backend>((re, im): (Float<B>, Float<B>), dim: usize, n: usize) -> Complex<B> {
    let half = n / 2 + 1;
    if n <= half {
        return Complex { re, im };
    }
    let mirror = |t: &Float<B>| B::float_flip(take::<B>(t.clone(), dim, 1, n - half, 1), &[dim]);
    let (mirror_re, mirror_im) = (mirror(&re), B::float_neg(mirror(&im)));
    Complex {
        re: B::float_cat(vec![re, mirror_re], dim),
        im: B::float_cat(vec![im, mirror_im], dim),
    }
}

/// The `n`-point FFT of complex `z` along `dim` (zero-padded): burn-signal has real FFTs
/// only, so `FFT(re + i im) = FFT(re) + i FFT(im)`, each from a real FFT.
fn cfft<B: Backend + SignalOps>(z: Complex<B>, dim: usize, n: usize) -> Complex<B> {
    let full = |t| full_spectrum::<B>(B::rfft(t, dim, Some(n)), dim, n);
    let (x, y) = (full(z.re), full(z.im));
    Complex {
        re: B::float_sub(x.re, y.im),
        im: B::float_add(x.im, y.re),
    }
}

/// The real FFT of the spatial dimensions (those after the first two), zero-padded to
/// `size`: `[a, b, size..]` with the last size halved (`n / 2 + 1`).
fn rfft_spatial<B: Backend + SignalOps>(t: Float<B>, size: &[usize]) -> Complex<B> {
    let last = size.len() - 1;
    let (re, im) = B::rfft(t, 2 + last, Some(size[last]));
    (0..last).fold(Complex { re, im }, |z, axis| {
        cfft::<B>(z, 2 + axis, size[axis])
    })
}

/// The inverse of [`rfft_spatial`]: `[a, b, size..]`.
fn irfft_spatial<B: Backend + SignalOps>(z: Complex<B>, size: &[usize]) -> Float<B> {
    let last = size.len() - 1;
    // ifft(z) = conj(fft(conj(z))) / n along each complex axis.
    let z = (0..last).fold(z, |z, axis| {
        cfft::<B>(z.conj(), 2 + axis, size[axis])
            .conj()
            .scale(1.0 / size[axis] as f64)
    });
    B::irfft(z.re, z.im, 2 + last, Some(size[last]))
}

/// Puts `factor - 1` zeros after every sample of each spatial dimension, keeping
/// `factor * (len - 1) + 1` samples: the dilated kernel, or an output gradient on the
/// stride-1 grid.
fn spread<B: Backend>(t: Float<B>, factor: &[usize]) -> Float<B> {
    if factor.iter().all(|&f| f == 1) {
        return t;
    }
    let shape = t.shape();
    let sizes = spatial::<B>(&t);
    // `[a, b, n0, 1, n1, 1, ..]`, each unit dimension padded to `factor`.
    let interleaved: Vec<usize> = sizes.iter().flat_map(|&n| [n, 1]).collect();
    let t = B::float_reshape(t, shape_of([shape[0], shape[1]], &interleaved));
    let gaps: Vec<(usize, usize)> = [(0, 0); 2]
        .into_iter()
        .chain(factor.iter().flat_map(|&f| [(0, 0), (0, f - 1)]))
        .collect();
    let t = B::float_pad(t, &gaps, PadMode::Constant(0.0));
    let spread: Vec<usize> = sizes.iter().zip(factor).map(|(n, f)| n * f).collect();
    let t = B::float_reshape(t, shape_of([shape[0], shape[1]], &spread));
    let kept: Vec<usize> = sizes
        .iter()
        .zip(factor)
        .map(|(n, f)| f * (n - 1) + 1)
        .collect();
    let ones = vec![1; sizes.len()];
    window::<B>(t, &vec![0; sizes.len()], &kept, &ones)
}

/// `[a, groups * per_group, bins..]` spectra as matrices `[groups, bins, a, per_group]`:
/// for inputs and output gradients, whose matrix rows are the images.
fn batch_rows<B: Backend>(z: Complex<B>, groups: usize) -> Complex<B> {
    z.map(|t| {
        let shape = t.shape();
        let bins: usize = shape[2..].iter().product();
        let t = B::float_reshape(t, Shape::from([shape[0], groups, shape[1] / groups, bins]));
        B::float_permute(t, &[1, 3, 0, 2])
    })
}

/// The inverse of [`batch_rows`] for spectra of `bins` bins per axis.
fn unbatch_rows<B: Backend>(z: Complex<B>, bins: &[usize]) -> Complex<B> {
    z.map(|t| {
        let shape = t.shape();
        let (groups, a, per_group) = (shape[0], shape[2], shape[3]);
        let t = B::float_permute(t, &[2, 0, 3, 1]);
        B::float_reshape(t, shape_of([a, groups * per_group], bins))
    })
}

/// Weight spectra `[out, in_per_group, bins..]` as matrices `[groups, bins, out_per_group,
/// in_per_group]`.
fn batch_weight<B: Backend>(z: Complex<B>, groups: usize) -> Complex<B> {
    z.map(|t| {
        let shape = t.shape();
        let bins: usize = shape[2..].iter().product();
        let t = B::float_reshape(t, Shape::from([groups, shape[0] / groups, shape[1], bins]));
        B::float_permute(t, &[0, 3, 1, 2])
    })
}

/// The inverse of [`batch_weight`] for spectra of `bins` bins per axis.
fn unbatch_weight<B: Backend>(z: Complex<B>, bins: &[usize]) -> Complex<B> {
    z.map(|t| {
        let shape = t.shape();
        let (groups, out_per_group, per_group) = (shape[0], shape[2], shape[3]);
        let t = B::float_permute(t, &[0, 2, 3, 1]);
        B::float_reshape(t, shape_of([groups * out_per_group, per_group], bins))
    })
}

/// Swaps the two matrix dimensions of batched matrices.
fn transpose<B: Backend>(t: Float<B>) -> Float<B> {
    B::float_swap_dims(t, 2, 3)
}

/// `size` of each spatial axis of `geometry`.
fn per_axis(geometry: &ConvGeometry, size: fn(&AxisGeometry) -> usize) -> Vec<usize> {
    geometry.axes().iter().map(size).collect()
}

/// The spectrum of `tensor`, the `kind` operand of `geometry`, as `[2, groups, bins, rows,
/// columns]` ([`crate::layout::spectrum_shape`]).
pub(crate) fn spectrum<B: Backend + SignalOps>(
    tensor: Float<B>,
    kind: SpectrumKind,
    geometry: &ConvGeometry,
) -> Float<B> {
    let size = transform_size(geometry);
    let data_scale = 1.0 / size.iter().product::<usize>() as f64;
    let groups = geometry.groups();
    let spectrum = match kind {
        SpectrumKind::Input => {
            let pads: Vec<(usize, usize)> = [(0, 0); 2]
                .into_iter()
                .chain(geometry.axes().iter().map(|a| (a.pad_begin(), a.pad_end())))
                .collect();
            let padded = B::float_pad(tensor, &pads, PadMode::Constant(0.0));
            batch_rows(
                rfft_spatial::<B>(scaled::<B>(padded, data_scale), &size),
                groups,
            )
        }
        SpectrumKind::Weight => {
            let dilated = spread::<B>(tensor, &per_axis(geometry, AxisGeometry::dilation));
            batch_weight(rfft_spatial::<B>(dilated, &size), groups)
        }
        SpectrumKind::OutputGrad => {
            let on_unit_grid = spread::<B>(tensor, &per_axis(geometry, AxisGeometry::stride));
            batch_rows(
                rfft_spatial::<B>(scaled::<B>(on_unit_grid, data_scale), &size),
                groups,
            )
        }
    };
    spectrum.stack()
}

/// The per-bin channel contraction of `pass` on the spectra `lhs` and `rhs` (in the order of
/// [`ConvPass::operands`]): `[groups, bins, rows, columns]` matrices of the result's
/// spectrum, images by channels for `y` and `dx`, output by input channels for `dw`.
fn contract<B: Backend>(lhs: Float<B>, rhs: Float<B>, pass: ConvPass) -> Complex<B> {
    let (a, b) = (Complex::<B>::unstack(lhs), Complex::<B>::unstack(rhs));
    match pass {
        // y = x ⋆ w: Y = X conj(W)^T per bin.
        ConvPass::Forward => Complex::matmul(&a, &b.conj().map(transpose::<B>)),
        ConvPass::InputGrad => Complex::matmul(&a, &b),
        ConvPass::WeightGrad => Complex::matmul(&a.conj().map(transpose::<B>), &b),
    }
}

/// Evaluates `pass` on the spectra `lhs` and `rhs` (in the order of
/// [`ConvPass::operands`]) and returns the result in the spatial domain.
pub(crate) fn product<B: Backend + SignalOps>(
    lhs: Float<B>,
    rhs: Float<B>,
    pass: ConvPass,
    geometry: &ConvGeometry,
) -> Float<B> {
    let z = contract::<B>(lhs, rhs, pass);
    let size = transform_size(geometry);
    let bins = half_bins(&size);
    let points = size.iter().product::<usize>() as f64;
    let axis = |size| per_axis(geometry, size);
    let origin = vec![0; size.len()];
    // The data spectra carry `1 / points` each ([`spectrum`]); the inverse transform divides
    // by `points` once more.
    match pass {
        ConvPass::Forward => {
            let y = irfft_spatial::<B>(unbatch_rows(z, &bins), &size);
            let y = window::<B>(
                y,
                &origin,
                &axis(AxisGeometry::output),
                &axis(AxisGeometry::stride),
            );
            scaled::<B>(y, points)
        }
        ConvPass::InputGrad => {
            let dx_padded = irfft_spatial::<B>(unbatch_rows(z, &bins), &size);
            let ones = vec![1; size.len()];
            let start = axis(AxisGeometry::pad_begin);
            let dx = window::<B>(dx_padded, &start, &axis(AxisGeometry::input), &ones);
            scaled::<B>(dx, points)
        }
        ConvPass::WeightGrad => {
            let dw_dilated = irfft_spatial::<B>(unbatch_weight(z, &bins), &size);
            let len = axis(AxisGeometry::kernel);
            let dw = window::<B>(dw_dilated, &origin, &len, &axis(AxisGeometry::dilation));
            scaled::<B>(dw, points * points)
        }
    }
}

/// `t` times `factor`: here powers of two, exact in binary floating point.
fn scaled<B: Backend>(t: Float<B>, factor: f64) -> Float<B> {
    B::float_mul_scalar(t, factor.into())
}

/// `values` along dimension `dim` of a rank-`rank` tensor whose other dimensions are 1 (it
/// broadcasts along them); on the device and dtype of `like`.
fn along_dim<B: Backend>(
    values: &[Complex64],
    dim: usize,
    rank: usize,
    like: &Float<B>,
) -> Complex<B> {
    let mut shape = vec![1; rank];
    shape[dim] = values.len();
    let tensor = |part: fn(&Complex64) -> f64| {
        let data = TensorData::new(values.iter().map(part).collect(), shape.clone())
            .convert_dtype(like.dtype());
        B::float_from_data(data, &like.device())
    };
    Complex {
        re: tensor(|v| v.re),
        im: tensor(|v| v.im),
    }
}

/// The elementwise complex product of `a` and `b` (broadcasting).
fn times<B: Backend>(a: &Complex<B>, b: &Complex<B>) -> Complex<B> {
    Complex::product(a, b, |x, y| B::float_mul(x.clone(), y.clone()))
}

/// Bluestein's chirp `exp(sign πi m² / n)` for `m < n`, its angle reduced modulo `2π` in
/// integers.
fn chirp(n: usize, sign: f64) -> Vec<Complex64> {
    let period = 2 * n as u128;
    (0..n)
        .map(|m| {
            let turns = (m as u128 * m as u128 % period) as f64 / n as f64;
            Complex64::from_polar(1.0, sign * std::f64::consts::PI * turns)
        })
        .collect()
}

/// The `n`-point DFT along `dim` of `z` (at most `n` values there, zero-padded to `n`): its
/// first `bins` bins, `Σ_j z_j exp(∓2πi jk / n)` (`+` when `inverse`).
///
/// Powers of two take burn-signal's FFT. Other sizes take Bluestein's algorithm, so every
/// size costs `O(n log n)`: `jk = (j² + k² - (k - j)²) / 2` makes the DFT a chirp times the
/// circular convolution of the chirped input with the conjugate chirp, which power-of-two
/// FFTs of at least `2n - 1` points compute. The conjugate chirp's spectrum (with the
/// inverse FFT's `1 / m`) is computed on the host in f64.
fn dft_along<B: Backend + SignalOps>(
    z: Complex<B>,
    dim: usize,
    n: usize,
    bins: usize,
    inverse: bool,
) -> Complex<B> {
    let first_bins = |z: Complex<B>| {
        if z.re.shape()[dim] == bins {
            z
        } else {
            z.map(|t| contiguous_run::<B>(t, dim, 0, bins))
        }
    };
    if n == 1 {
        return z;
    }
    if n.is_power_of_two() {
        // The inverse DFT is the conjugate of the forward DFT of the conjugate.
        let flip = |z: Complex<B>| if inverse { z.conj() } else { z };
        return first_bins(flip(cfft::<B>(flip(z), dim, n)));
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let (rank, len) = (z.re.shape().num_dims(), z.re.shape()[dim]);
    let m = (2 * n - 1).next_power_of_two();
    let c = chirp(n, sign);
    let mut kernel = vec![Complex64::new(0.0, 0.0); m];
    for (j, value) in c.iter().enumerate() {
        kernel[j] = value.conj() / m as f64;
        kernel[(m - j) % m] = kernel[j];
    }
    FftPlanner::new().plan_fft_forward(m).process(&mut kernel);
    let chirped = times(&z, &along_dim::<B>(&c[..len], dim, rank, &z.re));
    let spectrum = cfft::<B>(chirped, dim, m);
    let product = times(&spectrum, &along_dim::<B>(&kernel, dim, rank, &spectrum.re));
    let convolved = first_bins(cfft::<B>(product.conj(), dim, m).conj());
    times(
        &convolved,
        &along_dim::<B>(&c[..bins], dim, rank, &convolved.re),
    )
}

fn last2<B: Backend>(t: &Float<B>) -> [usize; 2] {
    let shape = t.shape();
    let rank = shape.num_dims();
    [shape[rank - 2], shape[rank - 1]]
}

/// Unnormalized complex 2-D DFT of the last two dimensions; `exp(+2πi ..)` when `inverse`.
pub(crate) fn dft2<B: Backend + SignalOps>(
    re: Float<B>,
    im: Float<B>,
    inverse: bool,
) -> (Float<B>, Float<B>) {
    let [h, w] = last2::<B>(&re);
    let rank = re.shape().num_dims();
    let columns = dft_along::<B>(Complex { re, im }, rank - 1, w, w, inverse);
    let z = dft_along::<B>(columns, rank - 2, h, h, inverse);
    (z.re, z.im)
}

/// Unnormalized real 2-D DFT: the half spectrum `[.., h, w / 2 + 1]`.
pub(crate) fn rdft2<B: Backend + SignalOps>(x: Float<B>) -> (Float<B>, Float<B>) {
    let [h, w] = last2::<B>(&x);
    let rank = x.shape().num_dims();
    let half = if w >= 2 && w.is_power_of_two() {
        let (re, im) = B::rfft(x, rank - 1, Some(w));
        Complex { re, im }
    } else {
        let zeros = B::float_zeros(x.shape(), &x.device(), x.dtype().into());
        dft_along::<B>(Complex { re: x, im: zeros }, rank - 1, w, w / 2 + 1, false)
    };
    let z = dft_along::<B>(half, rank - 2, h, h, false);
    (z.re, z.im)
}

/// Unnormalized inverse real 2-D DFT of a half spectrum `[.., h, width / 2 + 1]` to `width`
/// columns. Interior columns count twice (they stand for two conjugate bins); the imaginary
/// parts of DC and Nyquist columns (after the transforms along the height) drop out, as in
/// numpy.
pub(crate) fn irdft2<B: Backend + SignalOps>(re: Float<B>, im: Float<B>, width: usize) -> Float<B> {
    let [h, half] = last2::<B>(&re);
    let rank = re.shape().num_dims();
    let rows = dft_along::<B>(Complex { re, im }, rank - 2, h, h, true);
    let interior = |k: usize| k != 0 && 2 * k != width;
    let column_weights = |weight: fn(bool) -> f64| {
        let values: Vec<f64> = (0..half).map(|k| weight(interior(k))).collect();
        let mut shape = vec![1; rank];
        shape[rank - 1] = half;
        let data = TensorData::new(values, shape).convert_dtype(rows.re.dtype());
        B::float_from_data(data, &rows.re.device())
    };
    if width >= 2 && width.is_power_of_two() {
        // burn-signal's inverse need not drop the imaginary parts at DC and Nyquist.
        let im = B::float_mul(rows.im, column_weights(|i| if i { 1.0 } else { 0.0 }));
        // It divides by `width`.
        return scaled::<B>(B::irfft(rows.re, im, rank - 1, Some(width)), width as f64);
    }
    // The real part of the inverse DFT of the half spectrum, interior columns doubled.
    let weights = column_weights(|i| if i { 2.0 } else { 1.0 });
    let weighted = rows.map(|t| B::float_mul(t, weights.clone()));
    dft_along::<B>(weighted, rank - 1, width, width, true).re
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    //! The composed operations on Flex primitives (f64), against burn's direct convolution
    //! and its gradients, and against this crate's FFT kernels; their shapes against the
    //! shapes Fusion is told in advance.

    use burn::backend::Flex;
    use burn::backend::TensorMetadata;
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::ops::ModuleOps;
    use burn::backend::tensor::FloatTensor;
    use burn::tensor::{Shape, TensorData};
    use fftconv_kernels::{ConvGeometry, SpectrumKind};
    use fftconv_testing::{GeometryLimits, Sampler, relative_error};

    use crate::functional::conv_options;
    use crate::ops::{ConvPass, Fft2Backend};

    type Float = FloatTensor<Flex>;

    fn tensor(sampler: &mut Sampler, shape: impl Into<Shape>) -> Float {
        let shape = shape.into();
        let values = sampler.values(shape.num_elements());
        let device = Default::default();
        Flex::float_from_data(TensorData::new(values, shape), &device)
    }

    fn host(t: Float) -> Vec<f64> {
        let data = burn::tensor::read_sync(Flex::float_into_data(t)).unwrap();
        data.iter::<f64>().collect()
    }

    /// Checks the relative error, and returns it.
    fn assert_close(got: Float, expected: Float, tolerance: f64, what: &str) -> f64 {
        assert_eq!(got.shape(), expected.shape(), "{what}");
        let error = relative_error(&host(got), &host(expected));
        assert!(error <= tolerance, "{what}: relative error {error:e}");
        error
    }

    /// The spectrum of `tensor`, checked against the shape Fusion is given.
    fn spectrum(tensor: Float, kind: SpectrumKind, g: &ConvGeometry) -> Float {
        let spectrum = super::spectrum::<Flex>(tensor, kind, g);
        assert_eq!(
            spectrum.shape(),
            crate::layout::DeviceTiling::whole(g).spectrum_shape(&kind, g),
            "{kind:?}"
        );
        spectrum
    }

    fn product(lhs: Float, rhs: Float, pass: ConvPass, g: &ConvGeometry) -> Float {
        let result = super::product::<Flex>(lhs, rhs, pass, g);
        assert_eq!(
            result.shape(),
            Shape::from(pass.result_shape(g)),
            "{pass:?}"
        );
        result
    }

    /// burn-flex 0.22.1's FFT keeps f32 twiddle tables in f64 too, so the composition is
    /// accurate to about 1e-7 here (the native path reaches 1e-15).
    #[test]
    fn convolution_and_gradients_match_burn_on_random_geometries() {
        let mut sampler = Sampler::new(5);
        let limits = GeometryLimits::default();
        let mut worst = 0.0f64;
        for _ in 0..200 {
            let g = sampler.geometry(&limits);
            let x = tensor(&mut sampler, g.input_shape());
            let weight = tensor(&mut sampler, g.weight_shape());
            let dy = tensor(&mut sampler, g.output_shape());
            let x_hat = spectrum(x.clone(), SpectrumKind::Input, &g);
            let w_hat = spectrum(weight.clone(), SpectrumKind::Weight, &g);
            let dy_hat = spectrum(dy.clone(), SpectrumKind::OutputGrad, &g);
            let what = |name: &str| format!("{name} for {g:?}");
            let y_error = assert_close(
                product(x_hat.clone(), w_hat.clone(), ConvPass::Forward, &g),
                Flex::conv2d(x.clone(), weight.clone(), None, conv_options(&g)),
                1e-6,
                &what("y"),
            );
            let dx_error = assert_close(
                product(dy_hat.clone(), w_hat, ConvPass::InputGrad, &g),
                Flex::conv2d_x_backward(x.clone(), weight.clone(), dy.clone(), conv_options(&g)),
                1e-6,
                &what("dx"),
            );
            let dw_error = assert_close(
                product(dy_hat, x_hat, ConvPass::WeightGrad, &g),
                Flex::conv2d_weight_backward(x, weight, dy, conv_options(&g)),
                1e-6,
                &what("dw"),
            );
            worst = worst.max(y_error).max(dx_error).max(dw_error);
        }
        println!("largest relative error (y, dx, dw): {worst:e}");
    }

    /// To 1e-6 at every size: burn-signal's FFTs (also inside Bluestein's algorithm) have
    /// f32 twiddles, even in f64 on Flex (as in the test above).
    #[test]
    fn device_dfts_match_the_fft_kernels() {
        let mut sampler = Sampler::new(3);
        for shape in [
            [2, 5, 6],
            [1, 4, 7],
            [1, 3, 2],
            [2, 1, 1],
            [2, 4, 8],
            [1, 2, 2],
            [1, 3, 100],
            [1, 17, 45],
            [1, 31, 1],
        ] {
            let tolerance = 1e-6;
            let (re, im) = (tensor(&mut sampler, shape), tensor(&mut sampler, shape));
            for inverse in [false, true] {
                let (a_re, a_im) = super::dft2::<Flex>(re.clone(), im.clone(), inverse);
                let (b_re, b_im) = Flex::dft2(re.clone(), im.clone(), inverse);
                assert_close(a_re, b_re, tolerance, &format!("dft2 re {shape:?}"));
                assert_close(a_im, b_im, tolerance, &format!("dft2 im {shape:?}"));
            }
            let (a_re, a_im) = super::rdft2::<Flex>(re.clone());
            assert_eq!(
                a_re.shape(),
                crate::layout::half_spectrum_shape(&re.shape())
            );
            let (b_re, b_im) = Flex::rdft2(re.clone());
            let width = shape[2];
            let a = super::irdft2::<Flex>(a_re.clone(), a_im.clone(), width);
            assert_eq!(a.shape(), crate::layout::real_shape(&a_re.shape(), width));
            let b = Flex::irdft2(b_re.clone(), b_im.clone(), width);
            assert_close(a_re, b_re, tolerance, &format!("rdft2 re {shape:?}"));
            assert_close(a_im, b_im, tolerance, &format!("rdft2 im {shape:?}"));
            assert_close(a, b, tolerance, &format!("irdft2 {shape:?}"));
            // Any half spectrum, imaginary parts at DC and Nyquist included.
            let half = [shape[0], shape[1], width / 2 + 1];
            let (re, im) = (tensor(&mut sampler, half), tensor(&mut sampler, half));
            let a = super::irdft2::<Flex>(re.clone(), im.clone(), width);
            let b = Flex::irdft2(re, im, width);
            assert_close(
                a,
                b,
                tolerance,
                &format!("irdft2 of any half spectrum {shape:?}"),
            );
        }
    }
}

//! The spectral primitives on host memory, shared by the CPU backends.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{DType, Element, TensorData};
use fftconv_kernels::{Complex, ConvGeometry, Scalar, SpectralConv, SpectrumKind};

use crate::ops::ConvPass;

/// A backend whose float tensors live in host memory.
pub(crate) trait HostBackend: Backend {
    /// Calls `f` with the values of `tensor`, which has dtype `T`: borrowed where the backend
    /// allows, copied otherwise.
    fn with_values<T: Scalar + Element, R>(
        tensor: &FloatTensor<Self>,
        f: impl FnOnce(&[T]) -> R,
    ) -> R;

    /// The buffer of `tensor`, which has dtype `T`, when no other tensor shares it and the
    /// backend can give it up without a copy.
    fn into_buffer<T: Scalar + Element>(_tensor: FloatTensor<Self>) -> Option<Vec<T>> {
        None
    }
}

/// [`HostBackend::with_values`] through `TensorData`, for backends that cannot lend their
/// buffers.
pub(crate) fn with_copied_values<B: Backend, T: Scalar + Element, R>(
    tensor: &FloatTensor<B>,
    f: impl FnOnce(&[T]) -> R,
) -> R {
    let data = burn::tensor::read_sync(B::float_into_data(tensor.clone()))
        .unwrap_or_else(|e| panic!("burn-fftconv: reading a tensor failed: {e:?}"));
    f(data
        .as_slice::<T>()
        .unwrap_or_else(|e| panic!("burn-fftconv: unreadable tensor data: {e:?}")))
}

/// Runs `op` at the precision of `dtype`; the kernels exist for f32 and f64.
macro_rules! with_precision {
    ($dtype:expr, $op:ident :: < $backend:ty > ( $($arg:expr),* )) => {
        match $dtype {
            DType::F32 => $op::<$backend, f32>($($arg),*),
            DType::F64 => $op::<$backend, f64>($($arg),*),
            other => panic!(
                "burn-fftconv: supports f32 and f64 tensors, got dtype {other:?}; cast with \
                 `tensor.cast(DType::F32)` first"
            ),
        }
    };
}

/// The kernels' plan for `geometry`; the public functions fall back to direct convolution
/// before a geometry over the spectral budget reaches here.
fn plan<T: Scalar>(geometry: ConvGeometry) -> SpectralConv<T> {
    SpectralConv::new(geometry).unwrap_or_else(|error| panic!("burn-fftconv: {error}"))
}

fn spectrum_typed<B: HostBackend, T: Scalar + Element>(
    tensor: FloatTensor<B>,
    kind: SpectrumKind,
    geometry: ConvGeometry,
) -> FloatTensor<B> {
    let plan = plan::<T>(geometry);
    let spectrum = B::with_values::<T, _>(&tensor, |values| match kind {
        SpectrumKind::Input => plan.input_spectrum(values),
        SpectrumKind::Weight => plan.weight_spectrum(values),
        SpectrumKind::OutputGrad => plan.output_grad_spectrum(values),
    });
    let [rows, cols] = plan.spectrum_matrix(kind);
    let data = TensorData::new(
        complex_to_interleaved(spectrum),
        [plan.bins(), rows, cols, 2],
    );
    B::float_from_data(data, &tensor.device())
}

fn product_typed<B: HostBackend, T: Scalar + Element>(
    lhs: FloatTensor<B>,
    rhs: FloatTensor<B>,
    pass: ConvPass,
    geometry: ConvGeometry,
) -> FloatTensor<B> {
    let plan = plan::<T>(geometry);
    let [lhs_kind, rhs_kind] = pass.operands();
    let values = B::with_values::<T, _>(&lhs, |lhs| {
        B::with_values::<T, _>(&rhs, |rhs| {
            let lhs: &[Complex<T>] = bytemuck::cast_slice(lhs);
            let rhs: &[Complex<T>] = bytemuck::cast_slice(rhs);
            assert_eq!(
                lhs.len(),
                plan.spectrum_len(lhs_kind),
                "{lhs_kind:?} spectrum length"
            );
            assert_eq!(
                rhs.len(),
                plan.spectrum_len(rhs_kind),
                "{rhs_kind:?} spectrum length"
            );
            match pass {
                ConvPass::Forward => plan.forward(lhs, rhs),
                ConvPass::InputGrad => plan.input_grad(lhs, rhs),
                ConvPass::WeightGrad => plan.weight_grad(lhs, rhs),
            }
        })
    });
    let shape = pass.result_shape(&geometry);
    let result = B::float_from_data(TensorData::new(values, shape), &lhs.device());
    recycle::<B, T>(lhs);
    recycle::<B, T>(rhs);
    result
}

/// Hands a spectrum that no one else holds back to the kernels, whose next spectrum or
/// product then reuses its mapped pages; a shared one is left to its other holders.
fn recycle<B: HostBackend, T: Scalar + Element>(spectrum: FloatTensor<B>) {
    let buffer = B::into_buffer::<T>(spectrum)
        .and_then(|values| bytemuck::allocation::try_cast_vec::<T, Complex<T>>(values).ok());
    if let Some(buffer) = buffer {
        #[cfg(test)]
        tests::HANDED_BACK.with(|count| count.set(count.get() + 1));
        fftconv_kernels::recycle(buffer);
    }
}

/// The maps of a tensor whose last two dimensions are `height x width`.
fn maps<B: Backend>(tensor: &FloatTensor<B>) -> (burn::tensor::Shape, [usize; 2]) {
    let shape = tensor.shape();
    let rank = shape.num_dims();
    assert!(
        rank >= 2,
        "2-D FFTs need at least two dimensions, got shape {shape:?}"
    );
    let size = [shape[rank - 2], shape[rank - 1]];
    (shape, size)
}

fn complex_values<B: HostBackend, T: Scalar + Element>(
    re: &FloatTensor<B>,
    im: &FloatTensor<B>,
) -> Vec<Complex<T>> {
    B::with_values::<T, _>(re, |re| {
        B::with_values::<T, _>(im, |im| {
            re.iter()
                .zip(im)
                .map(|(&r, &i)| Complex::new(r, i))
                .collect()
        })
    })
}

fn complex_tensors<B: Backend, T: Scalar + Element>(
    values: Vec<Complex<T>>,
    shape: burn::tensor::Shape,
    like: &FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let device = like.device();
    let part = |f: fn(&Complex<T>) -> T| {
        let data = TensorData::new(values.iter().map(f).collect::<Vec<T>>(), shape.clone());
        B::float_from_data(data, &device)
    };
    (part(|c| c.re), part(|c| c.im))
}

fn dft2_typed<B: HostBackend, T: Scalar + Element>(
    re: FloatTensor<B>,
    im: FloatTensor<B>,
    inverse: bool,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let (shape, [height, width]) = maps::<B>(&re);
    let mut values = complex_values::<B, T>(&re, &im);
    fftconv_kernels::FftPlan::<T>::cached([1, height, width])
        .complex_in_place(&mut values, inverse);
    complex_tensors::<B, T>(values, shape, &re)
}

fn rdft2_typed<B: HostBackend, T: Scalar + Element>(
    x: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let (mut shape, [height, width]) = maps::<B>(&x);
    let values = B::with_values::<T, _>(&x, |x| {
        fftconv_kernels::FftPlan::<T>::cached([1, height, width]).real_forward(x)
    });
    let rank = shape.num_dims();
    shape[rank - 1] = width / 2 + 1;
    complex_tensors::<B, T>(values, shape, &x)
}

fn irdft2_typed<B: HostBackend, T: Scalar + Element>(
    re: FloatTensor<B>,
    im: FloatTensor<B>,
    width: usize,
) -> FloatTensor<B> {
    let (mut shape, [height, half]) = maps::<B>(&re);
    assert_eq!(
        half,
        width / 2 + 1,
        "irdft2: {half} bins cannot hold a width of {width}"
    );
    let values = complex_values::<B, T>(&re, &im);
    let real = fftconv_kernels::FftPlan::<T>::cached([1, height, width]).real_inverse(&values);
    let rank = shape.num_dims();
    shape[rank - 1] = width;
    B::float_from_data(TensorData::new(real, shape), &re.device())
}

/// [`crate::Fft2Backend::dft2`] on a host backend.
pub(crate) fn dft2<B: HostBackend>(
    re: FloatTensor<B>,
    im: FloatTensor<B>,
    inverse: bool,
) -> (FloatTensor<B>, FloatTensor<B>) {
    with_precision!(re.dtype(), dft2_typed::<B>(re, im, inverse))
}

/// [`crate::Fft2Backend::rdft2`] on a host backend.
pub(crate) fn rdft2<B: HostBackend>(x: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
    with_precision!(x.dtype(), rdft2_typed::<B>(x))
}

/// [`crate::Fft2Backend::irdft2`] on a host backend.
pub(crate) fn irdft2<B: HostBackend>(
    re: FloatTensor<B>,
    im: FloatTensor<B>,
    width: usize,
) -> FloatTensor<B> {
    with_precision!(re.dtype(), irdft2_typed::<B>(re, im, width))
}

/// Reinterprets complex values as interleaved `(re, im)` pairs without copying.
fn complex_to_interleaved<T: Scalar>(spectrum: Vec<Complex<T>>) -> Vec<T> {
    bytemuck::allocation::try_cast_vec(spectrum)
        .unwrap_or_else(|(_, spectrum)| bytemuck::cast_slice(&spectrum).to_vec())
}

/// [`crate::FftConvBackend::fft_conv_spectrum`] on a host backend.
pub(crate) fn spectrum<B: HostBackend>(
    tensor: FloatTensor<B>,
    kind: SpectrumKind,
    geometry: ConvGeometry,
) -> FloatTensor<B> {
    with_precision!(tensor.dtype(), spectrum_typed::<B>(tensor, kind, geometry))
}

/// [`crate::FftConvBackend::fft_conv_product`] on a host backend.
pub(crate) fn product<B: HostBackend>(
    lhs: FloatTensor<B>,
    rhs: FloatTensor<B>,
    pass: ConvPass,
    geometry: ConvGeometry,
) -> FloatTensor<B> {
    assert_eq!(
        lhs.dtype(),
        rhs.dtype(),
        "burn-fftconv: operands of different dtypes"
    );
    with_precision!(lhs.dtype(), product_typed::<B>(lhs, rhs, pass, geometry))
}

/// Implements [`crate::FftConvBackend`] and [`crate::Fft2Backend`] for a CPU backend through
/// the host kernels.
macro_rules! impl_host_fft_conv {
    ($backend:ty) => {
        impl $crate::ops::FftConvBackend for $backend {
            fn fft_conv_spectrum(
                tensor: burn::backend::tensor::FloatTensor<Self>,
                kind: fftconv_kernels::SpectrumKind,
                geometry: fftconv_kernels::ConvGeometry,
            ) -> burn::backend::tensor::FloatTensor<Self> {
                $crate::backends::host::spectrum::<Self>(tensor, kind, geometry)
            }

            fn fft_conv_product(
                lhs: burn::backend::tensor::FloatTensor<Self>,
                rhs: burn::backend::tensor::FloatTensor<Self>,
                pass: $crate::ops::ConvPass,
                geometry: fftconv_kernels::ConvGeometry,
            ) -> burn::backend::tensor::FloatTensor<Self> {
                $crate::backends::host::product::<Self>(lhs, rhs, pass, geometry)
            }
        }

        impl $crate::ops::Fft2Backend for $backend {
            fn dft2(
                re: burn::backend::tensor::FloatTensor<Self>,
                im: burn::backend::tensor::FloatTensor<Self>,
                inverse: bool,
            ) -> (
                burn::backend::tensor::FloatTensor<Self>,
                burn::backend::tensor::FloatTensor<Self>,
            ) {
                $crate::backends::host::dft2::<Self>(re, im, inverse)
            }

            fn rdft2(
                x: burn::backend::tensor::FloatTensor<Self>,
            ) -> (
                burn::backend::tensor::FloatTensor<Self>,
                burn::backend::tensor::FloatTensor<Self>,
            ) {
                $crate::backends::host::rdft2::<Self>(x)
            }

            fn irdft2(
                re: burn::backend::tensor::FloatTensor<Self>,
                im: burn::backend::tensor::FloatTensor<Self>,
                width: usize,
            ) -> burn::backend::tensor::FloatTensor<Self> {
                $crate::backends::host::irdft2::<Self>(re, im, width)
            }
        }
    };
}
pub(crate) use impl_host_fft_conv;

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use crate::fft_conv2d;

    thread_local! {
        /// Spectra this thread handed back to the kernels' pool.
        pub(crate) static HANDED_BACK: Cell<usize> = const { Cell::new(0) };
    }

    /// A training step hands back the three spectra its backward products use last: the
    /// weight's (after `dx`), the input's and the upstream gradient's (after `dw`). The forward
    /// product's operands stay saved for the backward pass.
    #[test]
    #[allow(deprecated)]
    fn a_training_step_hands_back_the_spectra_its_backward_uses_last() {
        for device in [Device::flex(), Device::ndarray()] {
            let device = device.autodiff();
            let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Default, &device);
            let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &device);
            let (x, w) = (x.require_grad(), w.require_grad());
            let y = fft_conv2d(
                x.clone(),
                w.clone(),
                None,
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            );
            let before = HANDED_BACK.get();
            let grads = y.sum().backward();
            assert_eq!(HANDED_BACK.get() - before, 3, "{device:?}");
            assert!(x.grad(&grads).is_some() && w.grad(&grads).is_some());
        }
    }
}

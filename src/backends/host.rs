//! The spectral primitives on host memory, shared by the CPU backends.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{DType, TensorData};
use fftconv_kernels::{Complex, Conv2dGeometry, Scalar, SpectralConv2d, SpectrumKind};

use crate::ops::Identity;

/// The tensor's values. On the CPU backends the read completes at once.
fn read<B: Backend>(tensor: FloatTensor<B>) -> TensorData {
    burn::tensor::read_sync(B::float_into_data(tensor))
        .unwrap_or_else(|e| panic!("fft_conv2d: reading a tensor failed: {e:?}"))
}

/// Runs `op` at the precision of `data`; the kernels exist for f32 and f64.
macro_rules! with_precision {
    ($data:expr, $op:ident ( $($arg:expr),* )) => {
        match $data.dtype() {
            DType::F32 => $op::<f32>($($arg),*),
            DType::F64 => $op::<f64>($($arg),*),
            other => panic!(
                "fft_conv2d: supports f32 and f64 tensors, got dtype {other:?}; cast with \
                 `tensor.cast(DType::F32)` first"
            ),
        }
    };
}

fn values<T: Scalar + burn::tensor::Element>(data: &TensorData) -> &[T] {
    data.as_slice::<T>()
        .unwrap_or_else(|e| panic!("fft_conv2d: unreadable tensor data: {e:?}"))
}

fn spectrum_data<T: Scalar + burn::tensor::Element>(
    data: TensorData,
    kind: SpectrumKind,
    geometry: Conv2dGeometry,
) -> TensorData {
    let plan = SpectralConv2d::<T>::new(geometry);
    let values = values::<T>(&data);
    let spectrum = match kind {
        SpectrumKind::Input => plan.input_spectrum(values),
        SpectrumKind::Weight => plan.weight_spectrum(values),
        SpectrumKind::OutputGrad => plan.output_grad_spectrum(values),
    };
    let [rows, cols] = plan.spectrum_matrix(kind);
    TensorData::new(
        complex_to_interleaved(spectrum),
        [plan.bins(), rows, cols, 2],
    )
}

fn product_data<T: Scalar + burn::tensor::Element>(
    lhs: TensorData,
    rhs: TensorData,
    identity: Identity,
    geometry: Conv2dGeometry,
) -> TensorData {
    let plan = SpectralConv2d::<T>::new(geometry);
    let lhs: &[Complex<T>] = bytemuck::cast_slice(values::<T>(&lhs));
    let rhs: &[Complex<T>] = bytemuck::cast_slice(values::<T>(&rhs));
    let [lhs_kind, rhs_kind] = identity.operands();
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
    let (values, shape) = match identity {
        Identity::Forward => (plan.forward(lhs, rhs), geometry.output_shape()),
        Identity::InputGrad => (plan.input_grad(lhs, rhs), geometry.input_shape()),
        Identity::WeightGrad => (plan.weight_grad(lhs, rhs), geometry.weight_shape()),
    };
    TensorData::new(values, shape)
}

/// Reinterprets complex values as interleaved `(re, im)` pairs without copying.
fn complex_to_interleaved<T: Scalar>(spectrum: Vec<Complex<T>>) -> Vec<T> {
    bytemuck::allocation::try_cast_vec(spectrum)
        .unwrap_or_else(|(_, spectrum)| bytemuck::cast_slice(&spectrum).to_vec())
}

/// [`crate::FftConvBackend::fft_conv2d_spectrum`] on a host backend.
pub(crate) fn spectrum<B: Backend>(
    tensor: FloatTensor<B>,
    kind: SpectrumKind,
    geometry: Conv2dGeometry,
) -> FloatTensor<B> {
    let device = tensor.device();
    let data = read::<B>(tensor);
    B::float_from_data(
        with_precision!(data, spectrum_data(data, kind, geometry)),
        &device,
    )
}

/// [`crate::FftConvBackend::fft_conv2d_product`] on a host backend.
pub(crate) fn product<B: Backend>(
    lhs: FloatTensor<B>,
    rhs: FloatTensor<B>,
    identity: Identity,
    geometry: Conv2dGeometry,
) -> FloatTensor<B> {
    let device = lhs.device();
    let lhs = read::<B>(lhs);
    let rhs = read::<B>(rhs);
    assert_eq!(
        lhs.dtype(),
        rhs.dtype(),
        "fft_conv2d: operands of different dtypes"
    );
    B::float_from_data(
        with_precision!(lhs, product_data(lhs, rhs, identity, geometry)),
        &device,
    )
}

/// Implements [`crate::FftConvBackend`] for a CPU backend through the host kernels.
macro_rules! impl_host_fft_conv {
    ($backend:ty) => {
        impl $crate::ops::FftConvBackend for $backend {
            fn fft_conv2d_spectrum(
                tensor: burn::backend::tensor::FloatTensor<Self>,
                kind: fftconv_kernels::SpectrumKind,
                geometry: fftconv_kernels::Conv2dGeometry,
            ) -> burn::backend::tensor::FloatTensor<Self> {
                $crate::backends::host::spectrum::<Self>(tensor, kind, geometry)
            }

            fn fft_conv2d_product(
                lhs: burn::backend::tensor::FloatTensor<Self>,
                rhs: burn::backend::tensor::FloatTensor<Self>,
                identity: $crate::ops::Identity,
                geometry: fftconv_kernels::Conv2dGeometry,
            ) -> burn::backend::tensor::FloatTensor<Self> {
                $crate::backends::host::product::<Self>(lhs, rhs, identity, geometry)
            }
        }
    };
}
pub(crate) use impl_host_fft_conv;

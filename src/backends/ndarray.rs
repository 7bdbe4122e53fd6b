//! NdArray, deprecated in burn 0.22 but still used: the host kernels read its arrays in place
//! when they are contiguous. (Reading them through `into_data` copied them element by element
//! through a dynamic-rank iterator whenever the array was shared, which autodiff's saved
//! tensors always are: half of a training step.)
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Element;
use fftconv_kernels::Scalar;

use super::host::{HostBackend, impl_host_fft_conv, with_copied_values};

impl HostBackend for NdArray {
    fn with_values<T: Scalar + Element, R>(
        tensor: &FloatTensor<Self>,
        f: impl FnOnce(&[T]) -> R,
    ) -> R {
        let in_place = match tensor {
            NdArrayTensor::F32(storage) => cast_values(storage.view().to_slice()),
            NdArrayTensor::F64(storage) => cast_values(storage.view().to_slice()),
            _ => None,
        };
        match in_place {
            Some(values) => f(values),
            None => with_copied_values::<Self, T, R>(tensor, f),
        }
    }
}

/// `values` as `T`, when there are values (a contiguous array) and they are `T`s.
fn cast_values<E: Element + bytemuck::Pod, T: Scalar + Element>(
    values: Option<&[E]>,
) -> Option<&[T]> {
    values
        .filter(|_| E::dtype() == T::dtype())
        .and_then(|values| bytemuck::try_cast_slice(values).ok())
}

impl_host_fft_conv!(NdArray);

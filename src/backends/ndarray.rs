//! NdArray, deprecated in burn 0.22 but still used: the host kernels read its arrays in place
//! when they are contiguous (reading them through `into_data` copied them element by element
//! through a dynamic-rank iterator whenever the array was shared, which autodiff's saved
//! tensors always are: half of a training step), and take back the buffers of spectra no
//! other tensor holds.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::ndarray::{NdArrayTensor, SharedArray};
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

    fn into_buffer<T: Scalar + Element>(tensor: FloatTensor<Self>) -> Option<Vec<T>> {
        // A borrowed array (a zero-copy load) would be copied out.
        if tensor.is_borrowed() {
            return None;
        }
        match tensor {
            NdArrayTensor::F32(storage) => unique_buffer(storage.into_owned()),
            NdArrayTensor::F64(storage) => unique_buffer(storage.into_owned()),
            _ => None,
        }
    }
}

/// The allocation of `array`, when no other array shares it and it holds `T`s: its elements
/// in storage order, whatever its strides (a spectrum buffer is scratch to the pool).
fn unique_buffer<E: Element + bytemuck::Pod, T: Scalar + Element>(
    array: SharedArray<E>,
) -> Option<Vec<T>> {
    if E::dtype() != T::dtype() {
        return None;
    }
    let (values, _) = array
        .try_into_owned_nocopy()
        .ok()?
        .into_raw_vec_and_offset();
    bytemuck::allocation::try_cast_vec(values).ok()
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

#[cfg(test)]
mod tests {
    use burn::backend::ops::FloatTensorOps;
    use burn::tensor::TensorData;

    use super::*;

    fn tensor(values: Vec<f32>) -> FloatTensor<NdArray> {
        let len = values.len();
        NdArray::float_from_data(TensorData::new(values, [len]), &Default::default())
    }

    #[test]
    fn an_array_no_one_else_holds_gives_up_its_buffer_in_place() {
        let unique = tensor(vec![1.0f32; 64]);
        let address = NdArray::with_values::<f32, _>(&unique, |values| values.as_ptr());
        let buffer = NdArray::into_buffer::<f32>(unique).expect("a unique f32 array");
        assert_eq!(buffer.as_ptr(), address, "no copy");
        assert_eq!(buffer, vec![1.0; 64]);

        let shared = tensor(vec![1.0; 64]);
        let holder = shared.clone();
        assert!(NdArray::into_buffer::<f32>(shared).is_none(), "shared");
        assert!(
            NdArray::into_buffer::<f64>(holder).is_none(),
            "another dtype"
        );
    }
}

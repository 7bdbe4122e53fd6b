//! Flex, burn's CPU backend: the host kernels read its contiguous buffers in place.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Element;
use fftconv_kernels::Scalar;

use super::host::{HostBackend, impl_host_fft_conv, with_copied_values};

impl HostBackend for Flex {
    fn with_values<T: Scalar + Element, R>(
        tensor: &FloatTensor<Self>,
        f: impl FnOnce(&[T]) -> R,
    ) -> R {
        match tensor.as_slice::<T>() {
            Some(values) => f(values),
            None => with_copied_values::<Self, T, R>(tensor, f),
        }
    }

    fn into_buffer<T: Scalar + Element>(tensor: FloatTensor<Self>) -> Option<Vec<T>> {
        if tensor.dtype() != T::dtype() {
            return None;
        }
        let data = tensor.data_arc();
        drop(tensor);
        std::sync::Arc::try_unwrap(data).ok()?.try_into_vec().ok()
    }
}

impl_host_fft_conv!(Flex);

#[cfg(test)]
mod tests {
    use burn::backend::Backend;
    use burn::tensor::TensorData;

    use super::*;

    fn tensor<B: Backend>(values: Vec<f32>) -> FloatTensor<B> {
        let len = values.len();
        B::float_from_data(TensorData::new(values, [len]), &Default::default())
    }

    #[test]
    fn a_tensor_no_one_else_holds_gives_up_its_buffer_in_place() {
        let values = vec![1.0f32; 64];
        let address = values.as_ptr();
        let unique = tensor::<Flex>(values);
        let buffer = Flex::into_buffer::<f32>(unique).expect("a unique f32 tensor");
        assert_eq!(buffer.as_ptr(), address, "no copy");

        let shared = tensor::<Flex>(vec![1.0; 64]);
        let holder = shared.clone();
        assert!(Flex::into_buffer::<f32>(shared).is_none(), "shared");
        assert!(Flex::into_buffer::<f64>(holder).is_none(), "another dtype");
    }
}

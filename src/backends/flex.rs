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
}

impl_host_fft_conv!(Flex);

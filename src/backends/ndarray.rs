//! NdArray, deprecated in burn 0.22 but still used: the host kernels on a copy of its arrays.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Element;
use fftconv_kernels::Scalar;

use super::host::{HostBackend, impl_host_fft_conv, with_copied_values};

impl HostBackend for NdArray {
    fn with_values<T: Scalar + Element, R>(
        tensor: &FloatTensor<Self>,
        f: impl FnOnce(&[T]) -> R,
    ) -> R {
        with_copied_values::<Self, T, R>(tensor, f)
    }
}

impl_host_fft_conv!(NdArray);

//! NdArray, deprecated in burn 0.22 but still used: the host kernels on its arrays.
#![allow(deprecated)]

super::host::impl_host_fft_conv!(burn::backend::NdArray);

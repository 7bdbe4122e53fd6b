//! Flex, burn's CPU backend: the host kernels on its contiguous buffers.

super::host::impl_host_fft_conv!(burn::backend::Flex);

//! Bad arguments are refused with a message naming the argument and its value.

use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor};
use burn_fftconv::{device_named, fft_conv2d, fft_conv2d_weight_backward, fft_conv2d_x_backward};

fn zeros<const D: usize>(shape: [usize; D]) -> Tensor<D> {
    Tensor::zeros(shape, &Device::flex())
}

fn options(stride: [usize; 2], dilation: [usize; 2], groups: usize) -> ConvOptions<2> {
    ConvOptions {
        stride,
        padding: [(0, 0); 2],
        dilation,
        groups,
    }
}

#[test]
#[should_panic(
    expected = "channel mismatch: `x` has 4 channels and `groups` = 1, so `weight` must have 4 input channels per group, but `weight.dims()[1]` = 3"
)]
fn channel_mismatch() {
    fft_conv2d(
        zeros([1, 4, 8, 8]),
        zeros([2, 3, 3, 3]),
        None,
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[should_panic(expected = "`groups` = 3 does not divide the 4 input channels")]
fn groups_do_not_divide_input_channels() {
    fft_conv2d(
        zeros([1, 4, 8, 8]),
        zeros([3, 1, 3, 3]),
        None,
        options([1, 1], [1, 1], 3),
    );
}

#[test]
#[should_panic(expected = "`groups` = 2 does not divide the 3 output channels")]
fn groups_do_not_divide_output_channels() {
    fft_conv2d(
        zeros([1, 4, 8, 8]),
        zeros([3, 2, 3, 3]),
        None,
        options([1, 1], [1, 1], 2),
    );
}

#[test]
#[should_panic(expected = "`stride` must be non-zero, got [1, 0]")]
fn zero_stride() {
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        None,
        options([1, 0], [1, 1], 1),
    );
}

#[test]
#[should_panic(expected = "`dilation` must be non-zero, got [0, 1]")]
fn zero_dilation() {
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        None,
        options([1, 1], [0, 1], 1),
    );
}

#[test]
#[should_panic(expected = "`groups` must be non-zero, got [0]")]
fn zero_groups() {
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        None,
        options([1, 1], [1, 1], 0),
    );
}

#[test]
#[should_panic(
    expected = "the dilated kernel (9) is larger than the padded input (8) along the width"
)]
fn dilated_kernel_larger_than_padded_input() {
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        None,
        options([1, 1], [1, 4], 1),
    );
}

#[test]
#[should_panic(expected = "`bias` must have one entry per output channel (2), got length 3")]
fn bias_of_the_wrong_length() {
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        Some(zeros([3])),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[should_panic(expected = "`x` has dtype F64 but `weight` has dtype F32")]
fn mixed_dtypes() {
    let x = Tensor::<4>::zeros([1, 2, 8, 8], (&Device::flex(), DType::F64));
    fft_conv2d(x, zeros([2, 2, 3, 3]), None, options([1, 1], [1, 1], 1));
}

#[test]
#[should_panic(
    expected = "`output_grad` has shape [1, 2, 5, 5] but the convolution's output has shape [1, 2, 6, 6]"
)]
fn output_grad_of_the_wrong_shape() {
    fft_conv2d_x_backward(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        zeros([1, 2, 5, 5]),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[allow(deprecated)]
#[should_panic(expected = "`x` is on Device<NdArray(Cpu)> but `weight` is on Device<Flex(Cpu)>")]
fn operands_on_different_devices() {
    let x = Tensor::<4>::zeros([1, 2, 8, 8], &Device::ndarray());
    fft_conv2d_weight_backward(
        x,
        zeros([2, 2, 3, 3]),
        zeros([1, 2, 6, 6]),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[should_panic(expected = "fft_conv2d: `x` has dtype F32 but `bias` has dtype F64")]
fn bias_of_another_dtype() {
    let bias = Tensor::<1>::zeros([2], (&Device::flex(), DType::F64));
    fft_conv2d(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        Some(bias),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[allow(deprecated)]
#[should_panic(
    expected = "fft_conv2d_weight_backward: `x` is on Device<Flex(Cpu)> but `output_grad` is on Device<NdArray(Cpu)>"
)]
fn output_grad_on_another_device() {
    fft_conv2d_weight_backward(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        Tensor::<4>::zeros([1, 2, 6, 6], &Device::ndarray()),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[should_panic(
    expected = "fft_conv2d_x_backward: `x` has dtype F32 but `output_grad` has dtype F64"
)]
fn output_grad_of_another_dtype() {
    fft_conv2d_x_backward(
        zeros([1, 2, 8, 8]),
        zeros([2, 2, 3, 3]),
        Tensor::<4>::zeros([1, 2, 6, 6], (&Device::flex(), DType::F64)),
        options([1, 1], [1, 1], 1),
    );
}

#[test]
#[should_panic(
    expected = "rfft2: cannot transform an empty map: the transform size is [0, 4] (the last two dimensions, or `s`)"
)]
fn rfft2_of_an_empty_map() {
    burn_fftconv::rfft2(zeros([2, 0, 4]), None, burn_fftconv::FftNorm::Backward);
}

#[test]
#[should_panic(expected = "ifft2: cannot transform an empty map: the transform size is [3, 0]")]
fn ifft2_of_an_empty_map() {
    burn_fftconv::ifft2(
        zeros([3, 0]),
        zeros([3, 0]),
        None,
        burn_fftconv::FftNorm::Ortho,
    );
}

#[test]
#[should_panic(expected = "irfft2: cannot transform an empty map: the transform size is [0, 6]")]
fn irfft2_of_an_empty_spectrum() {
    burn_fftconv::irfft2(
        zeros([0, 4]),
        zeros([0, 4]),
        None,
        burn_fftconv::FftNorm::Backward,
    );
}

/// Command-line device names: the supported ones open, another is refused by value.
#[test]
fn device_names() {
    assert_eq!(device_named("flex"), Ok(Device::flex()));
    let error = device_named("tpu").unwrap_err();
    assert!(error.contains("got tpu"), "{error}");
    let error = device_named("wgpu:first").unwrap_err();
    assert!(error.contains("wgpu:first"), "{error}");
}

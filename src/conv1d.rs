//! 1-D convolution in the frequency domain, for long and causal filters: a 2-D convolution of
//! maps one row high, whose overlap-save tiling (chosen by the cost model) splits a long
//! sequence into blocks, so a long filter over a long sequence needs no giant transform.

use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use crate::functional::convolve;
use crate::ops::BackwardMemory;

const FUNCTION: &str = "fft_conv1d";

/// The options of a 2-D convolution of maps one row high that computes the 1-D convolution
/// `options` describe: stride, padding and dilation 1, 0 and 1 along the rows.
pub fn conv1d_as_conv2d(options: ConvOptions<1>) -> ConvOptions<2> {
    let ConvOptions {
        stride: [stride],
        padding: [padding],
        dilation: [dilation],
        groups,
    } = options;
    ConvOptions::new_with_padding([1, stride], [(0, 0), padding], [1, dilation], groups)
}

/// Refuses, in 1-D terms, what the 2-D checks would report with the extra row's values.
fn check_1d(x: &Tensor<3>, weight: &Tensor<3>, options: &ConvOptions<1>) {
    let refuse = |message: String| -> ! { panic!("{FUNCTION}: {message}") };
    for (name, value) in [("stride", options.stride), ("dilation", options.dilation)] {
        if value.contains(&0) {
            refuse(format!("`{name}` must be non-zero, got {value:?}"));
        }
    }
    for (name, shape) in [("x", x.dims()), ("weight", weight.dims())] {
        if shape[1..].contains(&0) {
            refuse(format!("`{name}` has an empty dimension: shape {shape:?}"));
        }
    }
    let [(left, right)] = options.padding;
    let [dilation] = options.dilation;
    let kernel = weight.dims()[2];
    let dilated = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|n| n.checked_add(1));
    let padded = [x.dims()[2], left, right]
        .into_iter()
        .try_fold(0usize, usize::checked_add);
    match (dilated, padded) {
        (Some(dilated), Some(padded)) if dilated > padded => refuse(format!(
            "the dilated kernel ({dilated}) is larger than the padded input ({padded})"
        )),
        (None, _) | (_, None) => refuse(format!(
            "the sizes of kernel {kernel}, dilation {dilation} and padding {:?} do not fit in \
             usize",
            options.padding
        )),
        _ => {}
    }
}

/// 1-D convolution (cross-correlation, NCL) computed in the frequency domain: the same
/// arguments, result and panics on bad input as [`burn::tensor::module::conv1d`].
///
/// `x` is `[batch, channels, length]`, `weight` is `[out_channels, channels / groups, kernel]`,
/// `bias` is `[out_channels]`. Causal convolution is the padding `(kernel - 1, 0)`
/// (`dilation * (kernel - 1)` with dilation). On an autodiff device the gradients are computed
/// in the frequency domain too, reusing this call's spectra.
///
/// ```
/// use burn::tensor::module::conv1d;
/// use burn::tensor::ops::ConvOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::fft_conv1d;
///
/// let device = Device::flex();
/// let x = Tensor::<3>::random([2, 4, 300], Distribution::Default, &device);
/// let w = Tensor::<3>::random([6, 4, 64], Distribution::Default, &device);
/// // Causal: each output sees the current sample and the 63 before it.
/// let causal = ConvOptions::new_with_padding([1], [(63, 0)], [1], 1);
/// let y = fft_conv1d(x.clone(), w.clone(), None, causal.clone());
/// let direct = conv1d(x, w, None, causal);
/// assert_eq!(y.dims(), [2, 6, 300]);
/// assert!((y - direct).abs().max().into_scalar::<f32>() < 1e-3);
/// ```
pub fn fft_conv1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<1>>,
) -> Tensor<3> {
    fft_conv1d_with_memory(x, weight, bias, options, BackwardMemory::KeepSpectra)
}

/// [`fft_conv1d`], choosing what its backward pass keeps (see [`BackwardMemory`]).
pub fn fft_conv1d_with_memory(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: impl Into<ConvOptions<1>>,
    memory: BackwardMemory,
) -> Tensor<3> {
    let options = options.into();
    check_1d(&x, &weight, &options);
    let options = conv1d_as_conv2d(options);
    let operands = [x.unsqueeze_dim(2), weight.unsqueeze_dim(2)];
    convolve(FUNCTION, operands, bias, options, memory).squeeze_dim(2)
}

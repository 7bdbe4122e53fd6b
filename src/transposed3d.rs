//! `FftConvTranspose3d`: a drop-in replacement for `burn::nn::conv::ConvTranspose3d` that
//! computes the transposed 3-D convolution in the frequency domain.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::conv::{ConvTranspose3d, ConvTranspose3dConfig};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvTransposeOptions;

use crate::module::{ConvAlgorithm, config_conversions, impl_fft_layer};
use crate::ops::BackwardMemory;
use crate::transposed::{CALLER_3D, layer_transpose};

/// Configuration of an [`FftConvTranspose3d`]: the fields, defaults and initializer of
/// [`ConvTranspose3dConfig`], plus the [`ConvAlgorithm`].
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_fftconv::FftConvTranspose3dConfig;
///
/// let device = Device::flex();
/// // A volumetric decoder step: twice the size, 8 -> 4 channels.
/// let up = FftConvTranspose3dConfig::new([8, 4], [4, 4, 4])
///     .with_stride([2, 2, 2])
///     .with_padding([1, 1, 1])
///     .init(&device);
/// let y = up.forward(Tensor::<5>::ones([1, 8, 6, 6, 6], &device));
/// assert_eq!(y.dims(), [1, 4, 12, 12, 12]);
/// ```
#[derive(Config, Debug)]
pub struct FftConvTranspose3dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Kernel depth, height and width.
    pub kernel_size: [usize; 3],
    /// Stride of the convolution.
    #[config(default = "[1, 1, 1]")]
    pub stride: [usize; 3],
    /// Spacing between kernel elements.
    #[config(default = "[1, 1, 1]")]
    pub dilation: [usize; 3],
    /// Controls the connections between input and output channels.
    #[config(default = "1")]
    pub groups: usize,
    /// Padding, cropped from each side of the output.
    #[config(default = "[0, 0, 0]")]
    pub padding: [usize; 3],
    /// Samples added at the end of each output axis.
    #[config(default = "[0, 0, 0]")]
    pub padding_out: [usize; 3],
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `ConvTranspose3dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

config_conversions!(FftConvTranspose3dConfig <-> ConvTranspose3dConfig, to_conv_transpose3d_config, new(channels, kernel_size), with(stride, dilation, groups, padding, padding_out, bias, initializer), init FftConvTranspose3d);

/// A transposed 3-D convolution layer computed in the frequency domain: same parameters,
/// record layout and forward semantics as [`ConvTranspose3d`], so that weights saved from one
/// load into the other.
#[derive(Module, Debug)]
pub struct FftConvTranspose3d {
    /// Tensor of shape `[channels_in, channels_out / groups, kernel_depth, kernel_height,
    /// kernel_width]`.
    pub weight: Param<Tensor<5>>,
    /// Tensor of shape `[channels_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Stride of the convolution.
    pub stride: [usize; 3],
    /// Size of the kernel.
    pub kernel_size: [usize; 3],
    /// Spacing between kernel elements.
    pub dilation: [usize; 3],
    /// Controls the connections between input and output channels.
    pub groups: usize,
    /// Padding, cropped from each side of the output.
    pub padding: [usize; 3],
    /// Samples added at the end of each output axis.
    pub padding_out: [usize; 3],
    /// Input and output channels.
    pub channels: [usize; 2],
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConvTranspose3d from ConvTranspose3d { weight, bias, stride, kernel_size, dilation, groups, padding, padding_out, channels });

impl FftConvTranspose3d {
    /// The transposed convolution's options.
    pub fn options(&self) -> ConvTransposeOptions<3> {
        ConvTransposeOptions::new(
            self.stride,
            self.padding,
            self.padding_out,
            self.dilation,
            self.groups,
        )
    }

    /// Applies the layer to `input` (`[batch, channels_in, depth, height, width]`).
    pub fn forward(&self, input: Tensor<5>) -> Tensor<5> {
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let modes = (self.algorithm, self.backward_memory);
        let operands = [input, self.weight.val()];
        layer_transpose(CALLER_3D, modes, operands, bias, self.options())
    }
}

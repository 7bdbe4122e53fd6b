//! `FftConv3d`: a drop-in replacement for `burn::nn::conv::Conv3d` that convolves in the
//! frequency domain, where the direct cost grows with the kernel's volume.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Initializer, PaddingConfig3d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use crate::module::{
    ConvAlgorithm, config_conversions, impl_fft_layer, layer_convolve, same_padding,
};
use crate::ops::BackwardMemory;

/// Configuration of an [`FftConv3d`]: the fields, defaults and initializer of
/// [`Conv3dConfig`], plus the [`ConvAlgorithm`].
///
/// ```
/// use burn::nn::PaddingConfig3d;
/// use burn::tensor::{Device, Tensor};
/// use burn_fftconv::{ConvAlgorithm, FftConv3dConfig};
///
/// let device = Device::flex();
/// let conv = FftConv3dConfig::new([2, 4], [5, 5, 5])
///     .with_padding(PaddingConfig3d::Same)
///     .with_algorithm(ConvAlgorithm::Fft)
///     .init(&device);
/// let y = conv.forward(Tensor::<5>::ones([1, 2, 12, 12, 12], &device));
/// assert_eq!(y.dims(), [1, 4, 12, 12, 12]);
/// ```
#[derive(Config, Debug)]
pub struct FftConv3dConfig {
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
    /// The padding configuration; `Same` with even kernels too (asymmetric padding, which
    /// `Conv3d` refuses).
    #[config(default = "PaddingConfig3d::Valid")]
    pub padding: PaddingConfig3d,
    /// If bias should be added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// The initializer of the parameters (the one `Conv3dConfig` uses by default).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/f64::sqrt(3.0),fan_out_only:false}")]
    pub initializer: Initializer,
    /// How the convolution is computed.
    #[config(default = "ConvAlgorithm::Auto")]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass.
    #[config(default = "BackwardMemory::KeepSpectra")]
    pub backward_memory: BackwardMemory,
}

impl FftConv3dConfig {
    /// Initializes a new [`FftConv3d`] exactly as [`Conv3dConfig::init`] would, parameters
    /// included (for `Same` padding with an even kernel, which `Conv3dConfig::init` refuses,
    /// as it would with `Valid` padding).
    pub fn init(&self, device: &Device) -> FftConv3d {
        let mut config = self.to_conv3d_config();
        if self.padding == PaddingConfig3d::Same {
            config.padding = PaddingConfig3d::Valid;
        }
        FftConv3d {
            padding: self.padding.clone(),
            algorithm: self.algorithm,
            backward_memory: self.backward_memory,
            ..FftConv3d::from(config.init(device))
        }
    }
}

config_conversions!(FftConv3dConfig <-> Conv3dConfig, to_conv3d_config, new(channels, kernel_size), with(stride, dilation, groups, padding, bias, initializer));

/// A 3-D convolution layer computed in the frequency domain: same parameters, record layout,
/// forward semantics and display as [`Conv3d`], so that weights saved from one load into the
/// other.
///
/// ```
/// use burn::nn::conv::Conv3dConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_fftconv::FftConv3d;
///
/// let device = Device::flex();
/// let direct = Conv3dConfig::new([2, 3], [3, 5, 5]).init(&device);
/// let x = Tensor::<5>::random([2, 2, 8, 10, 10], Distribution::Default, &device);
/// let expected = direct.forward(x.clone());
/// // The same weights, computed with FFTs.
/// let fft = FftConv3d::from(direct);
/// assert!((fft.forward(x) - expected).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct FftConv3d {
    /// Tensor of shape `[channels_out, channels_in / groups, kernel_depth, kernel_height,
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
    /// The padding configuration.
    #[module(skip)]
    pub padding: PaddingConfig3d,
    /// How the convolution is computed; not part of the record.
    #[module(skip)]
    pub algorithm: ConvAlgorithm,
    /// What the FFT path keeps for the backward pass; not part of the record.
    #[module(skip)]
    pub backward_memory: BackwardMemory,
}

impl_fft_layer!(FftConv3d from Conv3d { weight, bias, stride, kernel_size, dilation, groups, padding });

impl FftConv3d {
    /// The convolution options for an input of `[depth, height, width]`.
    pub fn options(&self, input: [usize; 3]) -> ConvOptions<3> {
        let padding = match self.padding {
            PaddingConfig3d::Valid => [(0, 0); 3],
            PaddingConfig3d::Same => {
                [0, 1, 2].map(|i| same_padding(self.kernel_size[i], self.stride[i], input[i]))
            }
            PaddingConfig3d::Explicit(depth, height, width) => {
                [(depth, depth), (height, height), (width, width)]
            }
        };
        ConvOptions::new_with_padding(self.stride, padding, self.dilation, self.groups)
    }

    /// Applies the layer to `input` (`[batch, channels_in, depth, height, width]`).
    pub fn forward(&self, input: Tensor<5>) -> Tensor<5> {
        let [_, _, depth, height, width] = input.dims();
        let options = self.options([depth, height, width]);
        let bias = self.bias.as_ref().map(|bias| bias.val());
        let modes = (self.algorithm, self.backward_memory);
        layer_convolve(
            "fft_conv3d",
            modes,
            [input, self.weight.val()],
            bias,
            options,
        )
    }
}

//! From the same seed, `FftConv2d`, `FftConv1d`, `FftConv3d` and `FftConvTranspose1d`, `2d`
//! and `3d` get the parameters burn's `Conv2d`, `Conv1d`, `Conv3d` and `ConvTranspose1d`,
//! `2d` and `3d` get:
//! their initializer, drawn in their order. The only test of this binary, as it sets the
//! process-wide RNG.

use burn::module::Param;
use burn::nn::conv::{
    Conv1dConfig, Conv2dConfig, Conv3dConfig, ConvTranspose1dConfig, ConvTranspose2dConfig,
    ConvTranspose3dConfig,
};
use burn::nn::{PaddingConfig1d, PaddingConfig2d, PaddingConfig3d};
use burn::tensor::{Device, Tensor};
use burn_fftconv::{
    FftConv1dConfig, FftConv2dConfig, FftConv3dConfig, FftConvTranspose1dConfig,
    FftConvTranspose2dConfig, FftConvTranspose3dConfig,
};

mod common;
use common::values;

/// The weight and bias values of a layer, read at once: parameters are drawn lazily, on first
/// read, so each layer is read right after its seed.
fn parameters<const D: usize>(
    weight: &Param<Tensor<D>>,
    bias: &Option<Param<Tensor<1>>>,
) -> [Vec<f64>; 2] {
    [
        values(weight.val()),
        values(bias.as_ref().expect("a bias").val()),
    ]
}

#[test]
fn seeded_layers_have_burns_parameters() {
    let device = Device::flex();
    // The parameters of the layer `$config` makes, drawn from `seed`.
    macro_rules! seeded {
        ($seed:expr, $config:expr) => {{
            device.seed($seed);
            let layer = $config.init(&device);
            parameters(&layer.weight, &layer.bias)
        }};
    }
    let conv2d = Conv2dConfig::new([4, 6], [4, 2])
        .with_stride([2, 1])
        .with_groups(2)
        .with_padding(PaddingConfig2d::Same);
    assert_eq!(
        seeded!(11, FftConv2dConfig::from(conv2d.clone())),
        seeded!(11, conv2d)
    );
    let conv1d = Conv1dConfig::new(4, 6, 9)
        .with_groups(2)
        .with_padding(PaddingConfig1d::Explicit(8, 0));
    assert_eq!(
        seeded!(3, FftConv1dConfig::from(conv1d.clone())),
        seeded!(3, conv1d)
    );
    let conv3d = Conv3dConfig::new([4, 6], [3, 5, 3])
        .with_groups(2)
        .with_padding(PaddingConfig3d::Same);
    assert_eq!(
        seeded!(6, FftConv3dConfig::from(conv3d.clone())),
        seeded!(6, conv3d)
    );
    // `Same` with an even kernel, which `Conv3dConfig::init` refuses: drawn as `Valid`.
    let even = FftConv3dConfig::new([2, 3], [2, 4, 3]).with_padding(PaddingConfig3d::Same);
    assert_eq!(
        seeded!(7, even),
        seeded!(
            7,
            even.to_conv3d_config().with_padding(PaddingConfig3d::Valid)
        )
    );
    let transposed1d = ConvTranspose1dConfig::new([4, 6], 16).with_stride(8);
    assert_eq!(
        seeded!(4, FftConvTranspose1dConfig::from(transposed1d.clone())),
        seeded!(4, transposed1d)
    );
    let transposed3d = ConvTranspose3dConfig::new([4, 6], [3, 2, 4]).with_groups(2);
    assert_eq!(
        seeded!(8, FftConvTranspose3dConfig::from(transposed3d.clone())),
        seeded!(8, transposed3d)
    );
    let transposed2d = ConvTranspose2dConfig::new([4, 6], [3, 4]).with_groups(2);
    assert_eq!(
        seeded!(5, FftConvTranspose2dConfig::from(transposed2d.clone())),
        seeded!(5, transposed2d)
    );
}

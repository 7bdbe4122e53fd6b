//! Helpers shared by the MNIST crate's tests.

use burn_fftconv::FftConv2d;
use fftconv_mnist::train::Net;

/// The second convolution's weights, the bulk of the network's parameters, to compare two
/// networks exactly.
pub fn conv_weights(net: &Net<FftConv2d>) -> Vec<f32> {
    net.conv2.weight.val().into_data().iter::<f32>().collect()
}

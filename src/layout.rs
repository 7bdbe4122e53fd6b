//! Shapes that the extension contract fixes before an operation runs (burn's Fusion records
//! the output shape of every custom operation when it is queued).
//!
//! The DFT shapes are the contract's own. A convolution spectrum's layout belongs to the
//! backend that makes it: host backends keep `[bins, rows, columns, 2]` (their kernels'
//! plan), and only the CubeCL backends, whose operations Fusion queues, need their layout
//! here: `[2, groups, bins, rows, columns]`, real part then imaginary part, over transforms
//! of the whole padded image.

use burn::tensor::Shape;
use fftconv_kernels::{ConvGeometry, SpectrumKind};

/// Transform size per axis of the CubeCL spectra: the padded input rounded up to a power of
/// two (burn-signal's sizes), and at least 2 (its device FFT needs a DC and a Nyquist bin).
pub(crate) fn transform_size(geometry: &ConvGeometry) -> Vec<usize> {
    geometry
        .axes()
        .iter()
        .map(|a| a.padded_input().next_power_of_two().max(2))
        .collect()
}

/// Bins of a real transform of `size`: the last axis keeps `n / 2 + 1` of its `n`.
pub(crate) fn half_bins(size: &[usize]) -> Vec<usize> {
    let mut bins = size.to_vec();
    if let Some(last) = bins.last_mut() {
        *last = *last / 2 + 1;
    }
    bins
}

/// The shape of a CubeCL spectrum of `kind`: `[2, groups, bins, rows, columns]`, with
/// per-bin matrices of images by channels for `x` and `dy`, and output by input channels for
/// the weight.
pub(crate) fn spectrum_shape(kind: &SpectrumKind, geometry: &ConvGeometry) -> Shape {
    let bins: usize = half_bins(&transform_size(geometry)).iter().product();
    let groups = geometry.groups();
    let per_group = |channels: usize| channels / groups;
    let (rows, columns) = match kind {
        SpectrumKind::Input => (geometry.batch(), per_group(geometry.in_channels())),
        SpectrumKind::Weight => (
            per_group(geometry.out_channels()),
            per_group(geometry.in_channels()),
        ),
        SpectrumKind::OutputGrad => (geometry.batch(), per_group(geometry.out_channels())),
    };
    Shape::from([2, groups, bins, rows, columns])
}

/// The shape of a real DFT's half spectrum of maps of shape `x`: `[.., h, w / 2 + 1]`.
pub(crate) fn half_spectrum_shape(x: &Shape) -> Shape {
    real_shape(x, x[x.num_dims() - 1] / 2 + 1)
}

/// `shape` with its last dimension set to `width`: the real maps an inverse real DFT makes
/// of half spectra.
pub(crate) fn real_shape(shape: &Shape, width: usize) -> Shape {
    let mut shape = shape.clone();
    let rank = shape.num_dims();
    shape[rank - 1] = width;
    shape
}

//! The backend extension: the two primitive spectral operations every backend implements.
// NdArray is deprecated in burn 0.22 but still supported; the generated dispatch names it.
#![allow(deprecated)]

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use fftconv_kernels::{Conv2dGeometry, SpectrumKind};

/// Which of the three identities a spectral product evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `y` from the spectra of `x` and `weight`.
    Forward,
    /// `dx` from the spectra of `dy` and `weight`.
    InputGrad,
    /// `dweight` from the spectra of `dy` and `x`.
    WeightGrad,
}

impl Identity {
    /// The spectra the identity multiplies, left then right.
    pub fn operands(self) -> [SpectrumKind; 2] {
        match self {
            Self::Forward => [SpectrumKind::Input, SpectrumKind::Weight],
            Self::InputGrad => [SpectrumKind::OutputGrad, SpectrumKind::Weight],
            Self::WeightGrad => [SpectrumKind::OutputGrad, SpectrumKind::Input],
        }
    }
}

/// What `fft_conv2d` keeps between its forward and backward passes under autodiff.
#[derive(burn::config::Config, Debug, Copy, PartialEq, Eq, Hash)]
pub enum BackwardMemory {
    /// The spectra of the input and weight: no transform is repeated, at the cost of holding
    /// spectra, which are larger than the tensors (the tile overlap and the kernel padding).
    KeepSpectra,
    /// The input and weight tensors (which autodiff often holds anyway), transformed again in
    /// the backward pass.
    RecomputeSpectra,
}

/// FFT convolution primitives. A spectrum is a float tensor `[bins, rows, columns, 2]` (real
/// and imaginary parts) whose per-bin matrix shape is fixed by its [`SpectrumKind`]; keeping
/// spectra as tensors lets the autodiff backward reuse the forward pass's spectra on any
/// backend.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Fusion: cfg(feature = "wgpu"),
    Autodiff,
)]
pub trait FftConvBackend: Backend {
    /// The spectrum of `tensor`, which is the `kind` operand (`x`, `weight` or `dy`) of
    /// `geometry`.
    #[fusion(
        dtype = tensor,
        shape = crate::backends::composed::spectrum_shape(kind, geometry)
    )]
    fn fft_conv2d_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self>;

    /// Evaluates `identity` on the spectra `lhs` and `rhs` (in the order of
    /// [`Identity::operands`]) and returns the result in the spatial domain.
    #[fusion(
        dtype = lhs,
        shape = crate::backends::composed::product_shape(identity, geometry)
    )]
    fn fft_conv2d_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        identity: Identity,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self>;

    /// `x * weight` (cross-correlation, no bias) through the forward identity. The memory
    /// policy only matters under autodiff, where it says what the backward pass reuses.
    #[fusion(default)]
    fn fft_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: Conv2dGeometry,
        _memory: BackwardMemory,
    ) -> FloatTensor<Self> {
        let x_spectrum = Self::fft_conv2d_spectrum(x, SpectrumKind::Input, geometry);
        let weight_spectrum = Self::fft_conv2d_spectrum(weight, SpectrumKind::Weight, geometry);
        Self::fft_conv2d_product(x_spectrum, weight_spectrum, Identity::Forward, geometry)
    }
}

/// Unnormalized 2-D DFTs over the last two dimensions, the primitives of [`crate::fft2()`],
/// [`crate::ifft2`], [`crate::rfft2`] and [`crate::irfft2`]. Complex values travel as
/// (real, imaginary) tensor pairs.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Fusion: cfg(feature = "wgpu"),
    Autodiff,
)]
pub trait Fft2Backend: Backend {
    /// Complex DFT, `e^{-2 pi i ...}`, or `e^{+2 pi i ...}` when `inverse`; no scaling.
    #[fusion(meta = |re, im, _| (re.clone(), im.clone()))]
    fn dft2(
        re: FloatTensor<Self>,
        im: FloatTensor<Self>,
        inverse: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Real DFT: the half spectrum `[.., height, width / 2 + 1]`; no scaling.
    #[fusion(meta = |x| {
        let half = burn::backend::fusion::custom::TensorSpec::new(
            crate::backends::composed::half_spectrum_shape(&x.shape),
            x.dtype,
        );
        (half.clone(), half)
    })]
    fn rdft2(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Inverse real DFT of a half spectrum to real maps of `width` columns; no scaling.
    #[fusion(dtype = re, shape = crate::backends::composed::real_shape(re, *width))]
    fn irdft2(re: FloatTensor<Self>, im: FloatTensor<Self>, width: usize) -> FloatTensor<Self>;
}

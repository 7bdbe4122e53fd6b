//! The backend extension: the two primitive spectral operations every backend implements.
// NdArray is deprecated in burn 0.22 but still supported; the generated dispatch names it.
#![allow(deprecated)]

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use fftconv_kernels::{Conv2dGeometry, SpectrumKind};

/// The pass of a convolution layer that a spectral product computes: the forward pass or one
/// of the two gradients, each one of the three FFT identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvPass {
    /// `y` from the spectra of `x` and `weight`.
    Forward,
    /// `dx` from the spectra of `dy` and `weight`.
    InputGrad,
    /// `dweight` from the spectra of `dy` and `x`.
    WeightGrad,
}

impl ConvPass {
    /// The spectra the pass multiplies, left then right.
    pub fn operands(self) -> [SpectrumKind; 2] {
        match self {
            Self::Forward => [SpectrumKind::Input, SpectrumKind::Weight],
            Self::InputGrad => [SpectrumKind::OutputGrad, SpectrumKind::Weight],
            Self::WeightGrad => [SpectrumKind::OutputGrad, SpectrumKind::Input],
        }
    }

    /// The shape of the pass's result: the output, the input or the weight.
    pub fn result_shape(self, geometry: &Conv2dGeometry) -> [usize; 4] {
        match self {
            Self::Forward => geometry.output_shape(),
            Self::InputGrad => geometry.input_shape(),
            Self::WeightGrad => geometry.weight_shape(),
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

/// FFT convolution primitives. A spectrum is a float tensor in the layout of the backend
/// that made it (host backends `[bins, rows, columns, 2]`, the CubeCL ones
/// `[2, groups, bins, rows, columns]`: see `layout.rs`); only that backend reads it. Keeping
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
        shape = crate::layout::spectrum_shape(kind, geometry)
    )]
    fn fft_conv2d_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self>;

    /// Evaluates `pass` on the spectra `lhs` and `rhs` (in the order of
    /// [`ConvPass::operands`]) and returns the result in the spatial domain.
    #[fusion(
        dtype = lhs,
        shape = burn::tensor::Shape::from(pass.result_shape(geometry))
    )]
    fn fft_conv2d_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self>;

    /// `x * weight` (cross-correlation, no bias) through the forward pass. The memory
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
        Self::fft_conv2d_product(x_spectrum, weight_spectrum, ConvPass::Forward, geometry)
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
            crate::layout::half_spectrum_shape(&x.shape),
            x.dtype,
        );
        (half.clone(), half)
    })]
    fn rdft2(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Inverse real DFT of a half spectrum to real maps of `width` columns; no scaling.
    #[fusion(dtype = re, shape = crate::layout::real_shape(re, *width))]
    fn irdft2(re: FloatTensor<Self>, im: FloatTensor<Self>, width: usize) -> FloatTensor<Self>;
}

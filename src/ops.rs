//! The backend extension: the two primitive spectral operations every backend implements.
// NdArray is deprecated in burn 0.22 but still supported; the generated dispatch names it.
#![allow(deprecated)]

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use fftconv_kernels::{ConvGeometry, SpectrumKind};

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

    /// The operand the pass's result has the shape and role of: `dy`'s (the output) for the
    /// forward pass, `x`'s for the input gradient, the weight's for the weight gradient.
    pub fn result_kind(self) -> SpectrumKind {
        match self {
            Self::Forward => SpectrumKind::OutputGrad,
            Self::InputGrad => SpectrumKind::Input,
            Self::WeightGrad => SpectrumKind::Weight,
        }
    }

    /// The pass whose result has the role of `kind`. The three passes are the gradients of one
    /// trilinear form `<conv(x, w), dy>`, so the gradient of a pass with respect to one operand
    /// is the pass computing that operand, from the other operand and the upstream gradient.
    pub fn computing(kind: SpectrumKind) -> Self {
        match kind {
            SpectrumKind::OutputGrad => Self::Forward,
            SpectrumKind::Input => Self::InputGrad,
            SpectrumKind::Weight => Self::WeightGrad,
        }
    }

    /// The shape of the pass's result: the output, the input or the weight.
    pub fn result_shape(self, geometry: &ConvGeometry) -> Vec<usize> {
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
    fn fft_conv_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// Evaluates `pass` on the spectra `lhs` and `rhs` (in the order of
    /// [`ConvPass::operands`]) and returns the result in the spatial domain.
    #[fusion(
        dtype = lhs,
        shape = burn::tensor::Shape::from(pass.result_shape(geometry))
    )]
    fn fft_conv_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// `pass` on the tensors `lhs` and `rhs` (the operands of [`ConvPass::operands`], in
    /// that order): the forward convolution `x * weight` (cross-correlation, no bias), or one
    /// of its gradients (the input gradient is the transposed convolution). Differentiable on
    /// autodiff backends, each gradient being another pass; the memory policy says what the
    /// backward pass keeps there.
    #[fusion(default)]
    fn fft_conv_pass(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: ConvGeometry,
        _memory: BackwardMemory,
    ) -> FloatTensor<Self> {
        let [lhs_kind, rhs_kind] = pass.operands();
        let lhs = Self::fft_conv_spectrum(lhs, lhs_kind, geometry);
        let rhs = Self::fft_conv_spectrum(rhs, rhs_kind, geometry);
        Self::fft_conv_product(lhs, rhs, pass, geometry)
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

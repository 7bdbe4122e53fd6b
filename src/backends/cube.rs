//! The CubeCL runtimes (wgpu): convolutions through this crate's tile kernels (`tiles.rs`)
//! and the backend's batched matmul; kernels larger than a tile and the 2-D DFTs composed
//! from the backend's tensor operations and burn-signal's FFT kernels (`composed.rs`). The
//! extension macro generates the lazy `Fusion` implementation on top of this one, from the
//! output shapes in `ops.rs`.

use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use fftconv_kernels::{ConvGeometry, SpectrumKind};

use super::{composed, tiles};
use crate::layout::DeviceTiling;
use crate::ops::{ConvPass, Fft2Backend, FftConvBackend};

impl FftConvBackend for CubeBackend {
    fn fft_conv_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        match DeviceTiling::of(&geometry) {
            DeviceTiling::Tiles(axes) => tiles::spectrum(tensor, kind, &geometry, &axes),
            DeviceTiling::Whole(_) => composed::spectrum::<Self>(tensor, kind, &geometry),
        }
    }

    fn fft_conv_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        match DeviceTiling::of(&geometry) {
            DeviceTiling::Tiles(axes) => {
                tiles::inverse(tiles::contract(lhs, rhs, pass), pass, &geometry, &axes)
            }
            DeviceTiling::Whole(_) => composed::product::<Self>(lhs, rhs, pass, &geometry),
        }
    }
}

impl Fft2Backend for CubeBackend {
    fn dft2(
        re: FloatTensor<Self>,
        im: FloatTensor<Self>,
        inverse: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::dft2::<Self>(re, im, inverse)
    }

    fn rdft2(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::rdft2::<Self>(x)
    }

    fn irdft2(re: FloatTensor<Self>, im: FloatTensor<Self>, width: usize) -> FloatTensor<Self> {
        composed::irdft2::<Self>(re, im, width)
    }
}

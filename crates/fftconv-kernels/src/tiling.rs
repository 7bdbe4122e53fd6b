//! The sizes of a tiled spectral plan: tiles, transform size, bins and the per-bin matrix of
//! each spectrum, shared by the plan ([`crate::SpectralConv`]) and the cost model.

use crate::SpectrumKind;
use crate::budget::{SPECTRUM_KINDS, SpectralBudget};
use crate::fft::fast_len;
use crate::geometry::{ConvGeometry, GeometryError};

/// A geometry split into output tiles, with the transform each tile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileLayout {
    /// Outputs per tile along each of the three axes, in `1..=output`.
    pub tile: [usize; 3],
    /// Tiles along each axis.
    pub tiles: [usize; 3],
    /// Polyphase-image samples one tile reads along each axis: the tile plus the phase kernel.
    pub span: [usize; 3],
    /// Transform size: the span rounded up to a fast length (even along the last axis, the
    /// real one).
    pub fft: [usize; 3],
    /// Polyphase components along each axis.
    pub phases: [usize; 3],
}

impl TileLayout {
    /// The layout for tiles of `tile` (clamped to `1..=output`), refused when its transform
    /// exceeds `budget`: checked on the span before any fast length is searched for.
    pub fn new(
        geometry: &ConvGeometry,
        tile: [usize; 3],
        budget: &SpectralBudget,
    ) -> Result<Self, GeometryError> {
        let axes = geometry.axes3();
        let tile = [0, 1, 2].map(|i| tile[i].clamp(1, axes[i].output()));
        // `tile <= output` and `output + phase_kernel - 1 <= padded input`: no overflow.
        let span = [0, 1, 2].map(|i| tile[i] + axes[i].phase_kernel() - 1);
        let points = |sizes: [usize; 3]| sizes.iter().map(|&n| n as u128).product::<u128>();
        budget.check_transform(points(span))?;
        let fft = [0, 1, 2].map(|i| fast_len(span[i], i == 2));
        budget.check_transform(points(fft))?;
        Ok(Self {
            tile,
            tiles: [0, 1, 2].map(|i| axes[i].output().div_ceil(tile[i])),
            span,
            fft,
            phases: axes.map(|a| a.phase_count()),
        })
    }

    /// Tiles in all.
    pub fn tile_count(&self) -> usize {
        self.tiles.iter().product()
    }

    /// Polyphase components in all.
    pub fn phase_count(&self) -> usize {
        self.phases.iter().product()
    }

    /// Points of one transform.
    pub fn points(&self) -> usize {
        self.fft.iter().product()
    }

    /// Frequency bins of one real transform: the last axis keeps `n / 2 + 1` of its `n`.
    pub fn bins(&self) -> usize {
        self.points() / self.fft[2] * (self.fft[2] / 2 + 1)
    }

    /// `[bins, rows, columns]` of a spectrum of `kind`, exact in `u128`. Rows of input and
    /// output-gradient spectra are (sample, tile) pairs.
    fn spectrum_dims(&self, geometry: &ConvGeometry, kind: SpectrumKind) -> [u128; 3] {
        let group_in = (geometry.in_channels() / geometry.groups()) as u128;
        let images = geometry.batch() as u128 * self.tile_count() as u128;
        let phases = self.phase_count() as u128;
        let [rows, cols] = match kind {
            SpectrumKind::Input => [images, geometry.in_channels() as u128 * phases],
            SpectrumKind::Weight => [geometry.out_channels() as u128, group_in * phases],
            SpectrumKind::OutputGrad => [images, geometry.out_channels() as u128],
        };
        [self.bins() as u128, rows, cols]
    }

    /// `[rows, columns]` of one bin's matrix for a spectrum of `kind`, for a layout that
    /// passed [`TileLayout::check_spectra`].
    pub fn spectrum_matrix(&self, geometry: &ConvGeometry, kind: SpectrumKind) -> [usize; 2] {
        let [_, rows, cols] = self.spectrum_dims(geometry, kind);
        [rows, cols].map(|n| usize::try_from(n).expect("bounded by the spectral budget"))
    }

    /// Refuses spectra larger than `budget`.
    pub fn check_spectra(
        &self,
        geometry: &ConvGeometry,
        budget: &SpectralBudget,
    ) -> Result<(), GeometryError> {
        for kind in SPECTRUM_KINDS {
            let [bins, rows, cols] = self.spectrum_dims(geometry, kind);
            budget.check_spectrum(bins.saturating_mul(rows).saturating_mul(cols))?;
        }
        Ok(())
    }
}

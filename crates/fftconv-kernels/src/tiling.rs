//! The sizes of a tiled spectral plan: tiles, transform size, bins and the per-bin matrix of
//! each spectrum, shared by the plan ([`crate::SpectralConv2d`]) and the cost model.

use crate::SpectrumKind;
use crate::budget::{SPECTRUM_KINDS, SpectralBudget};
use crate::fft2d::fast_len;
use crate::geometry::{Conv2dGeometry, GeometryError};

/// A geometry split into output tiles, with the transform each tile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileLayout {
    /// Output rows and columns per tile, in `1..=output`.
    pub tile: [usize; 2],
    /// Tiles along each axis.
    pub tiles: [usize; 2],
    /// Polyphase-image rows and columns one tile reads: the tile plus the phase kernel.
    pub span: [usize; 2],
    /// Transform size: the span rounded up to a fast length (even widths).
    pub fft: [usize; 2],
    /// Polyphase components along each axis.
    pub phases: [usize; 2],
}

impl TileLayout {
    /// The layout for tiles of `tile` (clamped to `1..=output`), refused when its transform
    /// exceeds `budget`: checked on the span before any fast length is searched for.
    pub fn new(
        geometry: &Conv2dGeometry,
        tile: [usize; 2],
        budget: &SpectralBudget,
    ) -> Result<Self, GeometryError> {
        let axes = geometry.axes();
        let tile = [0, 1].map(|i| tile[i].clamp(1, axes[i].output()));
        // `tile <= output` and `output + phase_kernel - 1 <= padded input`: no overflow.
        let span = [0, 1].map(|i| tile[i] + axes[i].phase_kernel() - 1);
        budget.check_transform(span[0] as u128 * span[1] as u128)?;
        let fft = [fast_len(span[0], false), fast_len(span[1], true)];
        budget.check_transform(fft[0] as u128 * fft[1] as u128)?;
        Ok(Self {
            tile,
            tiles: [0, 1].map(|i| axes[i].output().div_ceil(tile[i])),
            span,
            fft,
            phases: axes.map(|a| a.phase_count()),
        })
    }

    /// Tiles in all.
    pub fn tile_count(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }

    /// Polyphase components in all.
    pub fn phase_count(&self) -> usize {
        self.phases[0] * self.phases[1]
    }

    /// Frequency bins of one real transform: `height * (width / 2 + 1)`.
    pub fn bins(&self) -> usize {
        self.fft[0] * (self.fft[1] / 2 + 1)
    }

    /// `[bins, rows, columns]` of a spectrum of `kind`, exact in `u128`. Rows of input and
    /// output-gradient spectra are (sample, tile) pairs.
    fn spectrum_dims(&self, geometry: &Conv2dGeometry, kind: SpectrumKind) -> [u128; 3] {
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
    pub fn spectrum_matrix(&self, geometry: &Conv2dGeometry, kind: SpectrumKind) -> [usize; 2] {
        let [_, rows, cols] = self.spectrum_dims(geometry, kind);
        [rows, cols].map(|n| usize::try_from(n).expect("bounded by the spectral budget"))
    }

    /// Refuses spectra larger than `budget`.
    pub fn check_spectra(
        &self,
        geometry: &Conv2dGeometry,
        budget: &SpectralBudget,
    ) -> Result<(), GeometryError> {
        for kind in SPECTRUM_KINDS {
            let [bins, rows, cols] = self.spectrum_dims(geometry, kind);
            budget.check_spectrum(bins.saturating_mul(rows).saturating_mul(cols))?;
        }
        Ok(())
    }
}

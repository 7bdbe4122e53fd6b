//! A limit on the spectral work of one convolution. A geometry whose FFT path needs a giant
//! transform (a huge dilation or padding around a tiny input, say: one output value, yet a
//! transform of 10^8 points) is refused before anything is planned or allocated, and callers
//! fall back to direct convolution.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::SpectrumKind;
use crate::geometry::{ConvGeometry, GeometryError};
use crate::tiling::TileLayout;

static MAX_TRANSFORM_POINTS: AtomicUsize =
    AtomicUsize::new(SpectralBudget::DEFAULT.max_transform_points);
static MAX_SPECTRUM_VALUES: AtomicUsize =
    AtomicUsize::new(SpectralBudget::DEFAULT.max_spectrum_values);

/// The largest transform and spectrum the FFT path builds, process-wide.
///
/// Tiling keeps transforms the size of an output tile plus the kernel, so only a kernel whose
/// dilated extent alone passes the transform limit, or spectra beyond the memory limit, are
/// refused. [`check_budget`] tells whether a geometry fits; `burn-fftconv` then computes it
/// directly, and `Auto` layers choose direct convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectralBudget {
    /// Points of one transform (the product of its sizes).
    pub max_transform_points: usize,
    /// Complex values of one spectrum (of the input, the weight or the output gradient).
    pub max_spectrum_values: usize,
}

impl SpectralBudget {
    /// `2^24` transform points (a 4096 x 4096 or 256^3 transform) and `2^28` spectrum values (2 GiB of
    /// f32 spectrum, 4 GiB of f64).
    pub const DEFAULT: Self = Self {
        max_transform_points: 1 << 24,
        max_spectrum_values: 1 << 28,
    };

    /// The budget in force.
    pub fn current() -> Self {
        Self {
            max_transform_points: MAX_TRANSFORM_POINTS.load(Ordering::Relaxed),
            max_spectrum_values: MAX_SPECTRUM_VALUES.load(Ordering::Relaxed),
        }
    }

    /// Puts this budget in force for every later convolution of the process.
    pub fn set(self) {
        MAX_TRANSFORM_POINTS.store(self.max_transform_points, Ordering::Relaxed);
        MAX_SPECTRUM_VALUES.store(self.max_spectrum_values, Ordering::Relaxed);
    }

    /// Refuses a transform of `points` points.
    pub(crate) fn check_transform(&self, points: u128) -> Result<(), GeometryError> {
        within("transform", points, self.max_transform_points)
    }

    /// Refuses a spectrum of `values` complex values.
    pub(crate) fn check_spectrum(&self, values: u128) -> Result<(), GeometryError> {
        within("spectrum", values, self.max_spectrum_values)
    }
}

impl Default for SpectralBudget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn within(quantity: &'static str, size: u128, limit: usize) -> Result<(), GeometryError> {
    if size > limit as u128 {
        return Err(GeometryError::OverBudget {
            quantity,
            size,
            limit,
        });
    }
    Ok(())
}

/// Whether the FFT path of `geometry`, with the tiles the cost model picks, stays within the
/// current [`SpectralBudget`]; the error names the size that does not.
pub fn check_budget(geometry: &ConvGeometry) -> Result<(), GeometryError> {
    let budget = SpectralBudget::current();
    let tile = crate::cost::choose_tile(geometry)?;
    TileLayout::new(geometry, tile, &budget)?.check_spectra(geometry, &budget)
}

/// The spectra of every kind, for budget checks.
pub(crate) const SPECTRUM_KINDS: [SpectrumKind; 3] = [
    SpectrumKind::Input,
    SpectrumKind::Weight,
    SpectrumKind::OutputGrad,
];

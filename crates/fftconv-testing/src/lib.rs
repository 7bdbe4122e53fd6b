//! Test support shared by the workspace's tests and benches: seeded random geometries and
//! data ([`Sampler`]), the convolution by its definition ([`mod@reference`]), and one error
//! measure ([`relative_error`]). A dev-dependency only; nothing at run time uses it.

#![warn(missing_docs)]

pub mod reference;
mod sampling;

pub use sampling::{GeometryLimits, Sampler};

/// The largest absolute difference relative to the largest magnitude of `reference` (an
/// all-zero reference is compared absolutely): the error measure of every accuracy check.
/// NaN where either holds one.
pub fn relative_error(got: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(got.len(), reference.len(), "lengths differ");
    let scale = match reference.iter().fold(0.0f64, |m, v| m.max(v.abs())) {
        0.0 => 1.0,
        m => m,
    };
    // NaN propagates (`f64::max` would drop it), so a NaN result fails every tolerance.
    got.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, |m, d| if d.is_nan() { d } else { m.max(d) })
        / scale
}

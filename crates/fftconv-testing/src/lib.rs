//! Test support shared by the workspace's tests and benches: seeded random geometries and
//! data ([`Sampler`]), the convolution by its definition ([`mod@reference`]), and one error
//! measure ([`relative_error`]). A dev-dependency only; nothing at run time uses it.

#![warn(missing_docs)]

pub mod reference;
mod sampling;

pub use sampling::{GeometryLimits, Sampler};

/// The largest absolute difference relative to the largest magnitude of `reference` (an
/// all-zero reference is compared absolutely): the error measure of every accuracy check.
pub fn relative_error(got: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(got.len(), reference.len(), "lengths differ");
    let scale = match reference.iter().fold(0.0f64, |m, v| m.max(v.abs())) {
        0.0 => 1.0,
        m => m,
    };
    got.iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

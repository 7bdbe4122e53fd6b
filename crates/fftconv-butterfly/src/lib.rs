//! A learnable radix-2 butterfly real FFT for burn ([`ButterflyFft`]), the exact real DFT it
//! is measured against ([`mod@reference`]), and the training recipes of `examples/learn_fft.rs`
//! ([`learn`]).

#![warn(missing_docs)]

pub mod butterfly;
pub mod complex;

pub use butterfly::{
    ButterflyFft, ButterflyFftConfig, ButterflyInit, FreeTwiddles, Parameterization, PhaseTwiddles,
    Twiddles,
};
pub use complex::ComplexTensor;
pub mod learn;
pub mod reference;

//! The learnable radix-2 decimation-in-time real FFT.

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::complex::ComplexTensor;

/// How the twiddles of the levels after the first are parameterized.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Parameterization {
    /// Free complex twiddles (real and imaginary part each a parameter).
    Free,
    /// Unit-modulus twiddles `exp(iθ)`, the phase `θ` the parameter.
    UnitModulus,
}

/// The starting point of the parameters.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum ButterflyInit {
    /// The true FFT: `M = [[1, 1], [1, -1]]` and the roots of unity.
    Exact,
    /// `M` all ones and every twiddle 1 (phase 0).
    Ones,
    /// `M` with standard complex normal entries; free twiddles standard complex normal,
    /// unit-modulus twiddles with phases uniform in `[-π, π)`. Seeded.
    Random {
        /// Seed of the draw.
        seed: u64,
    },
}

/// Configuration of a [`ButterflyFft`].
#[derive(Config, Debug)]
pub struct ButterflyFftConfig {
    /// Transform length `N`, a power of two, at least 2.
    pub len: usize,
    /// Twiddle parameterization.
    #[config(default = "Parameterization::Free")]
    pub parameterization: Parameterization,
    /// Initial parameters.
    #[config(default = "ButterflyInit::Exact")]
    pub init: ButterflyInit,
}

/// The twiddles of one level after the first: `h` of them for blocks of `2h` outputs.
#[derive(Module, Debug)]
pub enum Twiddles {
    /// Free complex twiddles.
    Free(FreeTwiddles),
    /// Unit-modulus twiddles `exp(iθ)`.
    UnitModulus(PhaseTwiddles),
}

/// Free complex twiddles of one level.
#[derive(Module, Debug)]
pub struct FreeTwiddles {
    /// Real parts, `[h]`.
    pub re: Param<Tensor<1>>,
    /// Imaginary parts, `[h]`.
    pub im: Param<Tensor<1>>,
}

/// Unit-modulus twiddles of one level.
#[derive(Module, Debug)]
pub struct PhaseTwiddles {
    /// Phases `θ`, `[h]`.
    pub theta: Param<Tensor<1>>,
}

impl Twiddles {
    /// The complex twiddle values, `[h]`.
    pub fn values(&self) -> ComplexTensor<1> {
        match self {
            Twiddles::Free(t) => ComplexTensor::new(t.re.val(), t.im.val()),
            Twiddles::UnitModulus(t) => {
                ComplexTensor::new(t.theta.val().cos(), t.theta.val().sin())
            }
        }
    }

    /// Number of twiddles.
    pub fn len(&self) -> usize {
        match self {
            Twiddles::Free(t) => t.re.dims()[0],
            Twiddles::UnitModulus(t) => t.theta.dims()[0],
        }
    }

    /// Whether the level has no twiddles (never, for a built transform).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A radix-2 decimation-in-time FFT of real input with learnable factors.
///
/// The input is read in bit-reversed order. Level 1 applies the 2x2 complex matrix `M` to
/// each pair of inputs; level `s` (2 ≤ s ≤ log2 N) joins pairs of `h = 2^(s-1)`-point
/// spectra `E` and `O` into `2h`-point ones, `E[k] ± t_k O[k]`, with one twiddle `t_k` per
/// `k < h` shared by all blocks of the level, as in the FFT. For N = 512 that is 9 levels,
/// 8 of them with twiddles: 2 + 4 + … + 256 = 510 twiddles and the 4 entries of `M` (a
/// twiddle on the first level would only rescale a column of `M`). With [`ButterflyInit::Exact`]
/// it is the FFT. The output is the real FFT (bins `0..=n/2`).
///
/// Because the twiddles are shared the way the FFT shares them, the first `s` levels compute
/// the `2^s`-point transform of any input of that length: [`ButterflyFft::forward`] accepts
/// every power-of-two length up to `N`.
///
/// ```
/// use burn::tensor::{Device, Tensor, TensorData};
/// use fftconv_butterfly::{ButterflyFftConfig, ButterflyInit};
///
/// let device = Device::flex();
/// let fft = ButterflyFftConfig::new(8).with_init(ButterflyInit::Exact).init(&device);
/// // The impulse at 0 has a flat spectrum; 8 inputs give 5 bins.
/// let impulse = Tensor::<2>::from_data(TensorData::from([[1.0f32, 0., 0., 0., 0., 0., 0., 0.]]), &device);
/// let spectrum = fft.forward(impulse);
/// assert_eq!(spectrum.dims(), [1, 5]);
/// spectrum.re.into_data().assert_approx_eq::<f32>(&TensorData::from([[1.0f32; 5]]), Default::default());
/// spectrum.im.into_data().assert_approx_eq::<f32>(&TensorData::from([[0.0f32; 5]]), Default::default());
/// ```
#[derive(Module, Debug)]
pub struct ButterflyFft {
    /// Real parts of `M`, `[2, 2]`.
    pub first_re: Param<Tensor<2>>,
    /// Imaginary parts of `M`, `[2, 2]`.
    pub first_im: Param<Tensor<2>>,
    /// The twiddles of levels 2, 3, …, log2 N.
    pub twiddles: Vec<Twiddles>,
}

/// `ln_2(len)` if `len` is a power of two of at least 2.
fn levels_of(len: usize) -> Option<usize> {
    (len >= 2 && len.is_power_of_two()).then(|| len.trailing_zeros() as usize)
}

fn tensor<const D: usize>(values: Vec<f64>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn param<const D: usize>(values: Vec<f64>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(tensor(values, shape, device))
}

/// `exp(-iπk/h)` for `k < h`: the twiddles of the level that builds `2h`-point spectra.
pub fn exact_twiddles(h: usize) -> (Vec<f64>, Vec<f64>) {
    (0..h)
        .map(|k| {
            let (sin, cos) = (PI * k as f64 / h as f64).sin_cos();
            (cos, -sin)
        })
        .unzip()
}

/// Bit-reversal permutation of `0..len` for a power-of-two `len`.
pub fn bit_reversal(len: usize) -> Vec<usize> {
    let bits = len.trailing_zeros();
    (0..len)
        .map(|i| {
            if bits == 0 {
                0
            } else {
                i.reverse_bits() >> (usize::BITS - bits)
            }
        })
        .collect()
}

impl ButterflyFftConfig {
    /// Builds the transform. Panics, naming the value, unless `len` is a power of two ≥ 2.
    pub fn init(&self, device: &Device) -> ButterflyFft {
        let levels = levels_of(self.len).unwrap_or_else(|| {
            panic!(
                "ButterflyFftConfig::init: `len` must be a power of two of at least 2, got {}",
                self.len
            )
        });
        let mut rng = match self.init {
            ButterflyInit::Random { seed } => Some(StdRng::seed_from_u64(seed)),
            _ => None,
        };
        let (first_re, first_im) = match (self.init, rng.as_mut()) {
            (ButterflyInit::Exact, _) => (vec![1.0, 1.0, 1.0, -1.0], vec![0.0; 4]),
            (_, Some(rng)) => complex_normal(rng, 4),
            (_, None) => (vec![1.0; 4], vec![0.0; 4]),
        };
        let twiddles = (1..levels)
            .map(|level| {
                let h = 1 << level;
                let (re, im) = match (self.init, rng.as_mut()) {
                    (ButterflyInit::Exact, _) => exact_twiddles(h),
                    (_, Some(rng)) if self.parameterization == Parameterization::Free => {
                        complex_normal(rng, h)
                    }
                    (_, Some(rng)) => {
                        let theta = (0..h).map(|_| rng.random_range(-PI..PI));
                        theta.map(|t| (t.cos(), t.sin())).unzip()
                    }
                    (_, None) => (vec![1.0; h], vec![0.0; h]),
                };
                match self.parameterization {
                    Parameterization::Free => Twiddles::Free(FreeTwiddles {
                        re: param(re, [h], device),
                        im: param(im, [h], device),
                    }),
                    Parameterization::UnitModulus => Twiddles::UnitModulus(PhaseTwiddles {
                        theta: param(
                            re.iter().zip(&im).map(|(re, im)| im.atan2(*re)).collect(),
                            [h],
                            device,
                        ),
                    }),
                }
            })
            .collect();
        ButterflyFft {
            first_re: param(first_re, [2, 2], device),
            first_im: param(first_im, [2, 2], device),
            twiddles,
        }
    }
}

/// `len` complex values with independent N(0, 1/2) real and imaginary parts.
fn complex_normal(rng: &mut StdRng, len: usize) -> (Vec<f64>, Vec<f64>) {
    (0..len)
        .map(|_| {
            let [a, b]: [f64; 2] = [rng.sample(StandardNormal), rng.sample(StandardNormal)];
            (a * 0.5f64.sqrt(), b * 0.5f64.sqrt())
        })
        .unzip()
}

impl ButterflyFft {
    /// The transform length `N`.
    pub fn len(&self) -> usize {
        2 << self.twiddles.len()
    }

    /// Never true: a transform has length at least 2.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The real FFT of each row of `x` (`[batch, n]`, `n` a power of two up to `N`):
    /// `[batch, n / 2 + 1]` complex bins, from the first `log2 n` levels.
    pub fn forward(&self, x: Tensor<2>) -> ComplexTensor<2> {
        let [_, n] = x.dims();
        self.spectrum(x).map(|part| part.narrow(1, 0, n / 2 + 1))
    }

    /// All `n` bins of the transform of each row of `x`, as [`ButterflyFft::forward`].
    pub fn spectrum(&self, x: Tensor<2>) -> ComplexTensor<2> {
        let [batch, n] = x.dims();
        let levels = levels_of(n)
            .filter(|&levels| levels <= self.twiddles.len() + 1)
            .unwrap_or_else(|| {
                panic!(
                    "ButterflyFft::forward: the input length (last dimension of `x`) must be a \
                     power of two from 2 to {}, got {n}",
                    self.len()
                )
            });
        let device = x.device();
        let order: Vec<i64> = bit_reversal(n).into_iter().map(|i| i as i64).collect();
        let x = x.select(
            1,
            Tensor::<1, Int>::from_data(TensorData::new(order, [n]), &device),
        );
        let pairs = x.reshape([batch, n / 2, 2]);
        let (a, b) = (pairs.clone().narrow(2, 0, 1), pairs.narrow(2, 1, 1));
        let column = |j: usize| {
            ComplexTensor::new(self.first_re.val(), self.first_im.val())
                .map(|m| m.narrow(1, j, 1).reshape([1, 1, 2]))
        };
        let (m0, m1) = (column(0), column(1));
        let mut state =
            ComplexTensor::new(a.clone() * m0.re + b.clone() * m1.re, a * m0.im + b * m1.im);
        for twiddles in &self.twiddles[..levels - 1] {
            let h = twiddles.len();
            let blocks = state.dims()[1] / 2;
            let halves = state.map(|part| part.reshape([batch, blocks, 2, h]));
            let even = halves.clone().map(|part| part.narrow(2, 0, 1));
            let odd = halves.map(|part| part.narrow(2, 1, 1));
            let rotated = odd * twiddles.values().map(|t| t.reshape([1, 1, 1, h]));
            let joined =
                ComplexTensor::cat(vec![even.clone() + rotated.clone(), even - rotated], 2);
            state = joined.map(|part| part.reshape([batch, blocks, 2 * h]));
        }
        state.map(|part| part.reshape([batch, n]))
    }
}

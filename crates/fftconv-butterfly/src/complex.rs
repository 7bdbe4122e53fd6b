//! Complex tensors as pairs of real tensors, so that every backend (and autodiff) runs them.

use std::ops::{Add, Mul, Sub};

use burn::tensor::Tensor;

/// A complex tensor stored as its real and imaginary parts of one shape.
#[derive(Debug, Clone)]
pub struct ComplexTensor<const D: usize> {
    /// Real parts.
    pub re: Tensor<D>,
    /// Imaginary parts.
    pub im: Tensor<D>,
}

impl<const D: usize> ComplexTensor<D> {
    /// Pairs `re` and `im`, which must have the same shape.
    pub fn new(re: Tensor<D>, im: Tensor<D>) -> Self {
        assert_eq!(
            re.dims(),
            im.dims(),
            "ComplexTensor::new: real parts {:?} and imaginary parts {:?} differ in shape",
            re.dims(),
            im.dims()
        );
        Self { re, im }
    }

    /// The shape of both parts.
    pub fn dims(&self) -> [usize; D] {
        self.re.dims()
    }

    /// Applies the same shape operation to both parts.
    pub fn map<const D2: usize>(self, f: impl Fn(Tensor<D>) -> Tensor<D2>) -> ComplexTensor<D2> {
        ComplexTensor {
            re: f(self.re),
            im: f(self.im),
        }
    }

    /// Concatenates along `dim`.
    pub fn cat(parts: Vec<Self>, dim: usize) -> Self {
        let (re, im) = parts.into_iter().map(|c| (c.re, c.im)).unzip();
        Self {
            re: Tensor::cat(re, dim),
            im: Tensor::cat(im, dim),
        }
    }

    /// Sum of `|z|^2` over all entries.
    pub fn squared_norm(self) -> Tensor<1> {
        self.re.square().sum() + self.im.square().sum()
    }
}

impl<const D: usize> Add for ComplexTensor<D> {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            re: self.re + other.re,
            im: self.im + other.im,
        }
    }
}

impl<const D: usize> Sub for ComplexTensor<D> {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        Self {
            re: self.re - other.re,
            im: self.im - other.im,
        }
    }
}

/// The complex product, broadcasting like burn's real product.
impl<const D: usize> Mul for ComplexTensor<D> {
    type Output = Self;

    fn mul(self, other: Self) -> Self {
        Self {
            re: self.re.clone() * other.re.clone() - self.im.clone() * other.im.clone(),
            im: self.re * other.im + self.im * other.re,
        }
    }
}

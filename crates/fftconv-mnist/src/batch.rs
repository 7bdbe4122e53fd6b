//! Digits as burn's data pipeline sees them: a [`Dataset`] of single digits and the
//! [`Batcher`] that stacks them into normalized tensors for the data loaders.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::dataset::Mnist;

/// MNIST's pixel mean and standard deviation (on the 0-1 scale), which every batch is
/// normalized by so that the inputs have zero mean and unit variance.
const PIXEL_MEAN: f32 = 0.1307;
const PIXEL_DEVIATION: f32 = 0.3081;

/// One digit: its `rows * cols` pixels (0-255, row-major) and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Digit {
    /// Pixel intensities, row-major.
    pub pixels: Vec<u8>,
    /// The digit shown, 0-9.
    pub label: u8,
}

impl Dataset<Digit> for Mnist {
    /// # Panics
    ///
    /// If `index >= len()`, as burn's `Dataset` contract says.
    fn get(&self, index: usize) -> Result<Digit, DatasetError> {
        let pixels_per_image = self.rows * self.cols;
        let start = index * pixels_per_image;
        Ok(Digit {
            pixels: self.pixels[start..start + pixels_per_image].to_vec(),
            label: self.labels[index],
        })
    }

    fn len(&self) -> usize {
        Mnist::len(self)
    }
}

/// A batch of digits: images `[batch, 1, rows, cols]`, normalized, and their labels `[batch]`.
#[derive(Debug, Clone)]
pub struct DigitBatch {
    /// Normalized pixels.
    pub images: Tensor<4>,
    /// Labels as class indices.
    pub targets: Tensor<1, Int>,
}

/// Stacks [`Digit`]s of one size into a [`DigitBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitBatcher {
    rows: usize,
    cols: usize,
}

impl DigitBatcher {
    /// A batcher for digits of `rows x cols` pixels.
    pub fn new(rows: usize, cols: usize) -> Self {
        Self { rows, cols }
    }

    /// A batcher for the digits of `data`.
    pub fn for_data(data: &Mnist) -> Self {
        Self::new(data.rows, data.cols)
    }
}

impl Batcher<Digit, DigitBatch> for DigitBatcher {
    /// # Panics
    ///
    /// If a digit does not have `rows * cols` pixels: the data sets this crate reads check
    /// their sizes when loaded, so that is a bug in the caller's data set.
    fn batch(&self, items: Vec<Digit>, device: &Device) -> DigitBatch {
        let pixels_per_image = self.rows * self.cols;
        let mut pixels = Vec::with_capacity(items.len() * pixels_per_image);
        for digit in &items {
            assert_eq!(
                digit.pixels.len(),
                pixels_per_image,
                "DigitBatcher: a digit of {} pixels in a batch of {}x{} images",
                digit.pixels.len(),
                self.rows,
                self.cols
            );
            pixels.extend(
                digit
                    .pixels
                    .iter()
                    .map(|&p| (f32::from(p) / 255.0 - PIXEL_MEAN) / PIXEL_DEVIATION),
            );
        }
        let labels: Vec<i64> = items.iter().map(|d| i64::from(d.label)).collect();
        DigitBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [items.len(), 1, self.rows, self.cols]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(labels, [items.len()]), device),
        }
    }
}

//! MNIST digits in memory: the bundled 10,000-digit subset or the full IDX files.

use std::path::{Path, PathBuf};

use crate::idx::{IMAGES_MAGIC, IdxError, LABELS_MAGIC, read_idx};

/// Height and width of an MNIST digit.
pub const SIDE: usize = 28;

/// Digits and their labels.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// `len * rows * cols` pixels, 0-255, row-major per image.
    pub pixels: Vec<u8>,
    /// One label 0-9 per image.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl Mnist {
    /// Reads an images file and a labels file and checks that they agree and that the images
    /// are 28x28.
    pub fn load(images: &Path, labels: &Path) -> Result<Self, IdxError> {
        let image_array = read_idx(images, IMAGES_MAGIC)?;
        let label_array = read_idx(labels, LABELS_MAGIC)?;
        let [count, rows, cols] = image_array.dims[..] else {
            unreachable!("the magic number fixes three dimensions")
        };
        if [rows, cols] != [SIDE, SIDE] {
            return Err(IdxError::Content {
                path: images.to_path_buf(),
                message: format!(
                    "images of {rows}x{cols} pixels; MNIST digits are {SIDE}x{SIDE}, the size \
                     the network is built for"
                ),
            });
        }
        if label_array.dims[0] != count {
            return Err(IdxError::Content {
                path: labels.to_path_buf(),
                message: format!(
                    "{} labels for the {count} images of {}",
                    label_array.dims[0],
                    images.display()
                ),
            });
        }
        if let Some(index) = label_array.data.iter().position(|&l| l > 9) {
            return Err(IdxError::Content {
                path: labels.to_path_buf(),
                message: format!(
                    "label {} at index {index} is not a digit",
                    label_array.data[index]
                ),
            });
        }
        Ok(Self {
            pixels: image_array.data,
            labels: label_array.data,
            rows,
            cols,
        })
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` digits (all of them if fewer).
    pub fn take(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.pixels.truncate(n * self.rows * self.cols);
        self
    }

    /// Splits into the first `at` digits and the rest.
    pub fn split(mut self, at: usize) -> (Self, Self) {
        let at = at.min(self.len());
        let rest = Self {
            pixels: self.pixels.split_off(at * self.rows * self.cols),
            labels: self.labels.split_off(at),
            rows: self.rows,
            cols: self.cols,
        };
        (self, rest)
    }
}

/// Digits of the bundled subset used for training; the rest are held out.
pub const BUNDLED_TRAIN: usize = 8_000;

/// The bundled 10,000-digit subset, split into 8,000 training and 2,000 held-out digits.
pub fn bundled(dir: &Path) -> Result<(Mnist, Mnist), IdxError> {
    let all = Mnist::load(
        &dir.join("images-idx3-ubyte.gz"),
        &dir.join("labels-idx1-ubyte.gz"),
    )?;
    Ok(all.split(BUNDLED_TRAIN))
}

/// `dir/name`, or `dir/name.gz` when only that exists.
fn find(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(name);
    let gzipped = dir.join(format!("{name}.gz"));
    if !plain.exists() && gzipped.exists() {
        gzipped
    } else {
        plain
    }
}

/// The full MNIST training and test sets from their standard IDX file names, gzipped or not.
pub fn full(dir: &Path) -> Result<(Mnist, Mnist), IdxError> {
    let train = Mnist::load(
        &find(dir, "train-images-idx3-ubyte"),
        &find(dir, "train-labels-idx1-ubyte"),
    )?;
    let test = Mnist::load(
        &find(dir, "t10k-images-idx3-ubyte"),
        &find(dir, "t10k-labels-idx1-ubyte"),
    )?;
    Ok((train, test))
}

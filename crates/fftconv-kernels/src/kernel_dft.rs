//! The weight's spectrum and the weight gradient's taps as matrix products, for layers of
//! many small kernels.
//!
//! A kernel's spectrum is a linear map of its taps (`2 bins x taps` reals), and the weight
//! gradient's taps are a linear map of their product spectrum (`taps x 2 bins`). Where a layer
//! has many kernels of few taps (a 512 x 512 layer of 3x3 kernels has 262,144), one real GEMM
//! per block of kernels does the work of their FFTs at the machine's FMA rate (Flex, 16 x 512
//! x 7 x 7 by 3x3, `stages` bench: the weight's spectrum 52 -> 17 ms, the weight gradient
//! 45 -> 19 ms).
//!
//! Both maps are read off the FFT plan (impulses through its forward transform, unit spectra
//! through its inverse), so they have its bin order, scale and Hermitian conventions exactly.

use num_complex::Complex;
use rayon::prelude::*;

use crate::cost::CostModel;
use crate::fft::{FftPlan, Scalar, count_transforms};
use crate::matmul::{Operand, matmul};
use crate::memory::{self, DisjointWrites};
use crate::parallel::SplitIfWorth;

/// Real values one block of kernels works on at most (its staged spectra, all polyphase
/// components; the product values its taps are read from): 128 KiB in f32, within a core's
/// L2.
const BLOCK_VALUES: usize = 32 * 1024;

/// Kernels of a block: as many as [`BLOCK_VALUES`] allows for `2 * bins * phases` reals each,
/// at least one.
fn block_kernels(bins: usize, phases: usize) -> usize {
    (BLOCK_VALUES / (2 * bins * phases).max(1)).max(1)
}

/// The offsets in a transform image of one polyphase component's taps.
fn place_offsets(component: &[(usize, usize)]) -> Vec<usize> {
    component.iter().map(|&(_, place)| place).collect()
}

/// The linear maps of one geometry's kernels: for each polyphase component, its taps as
/// `(tap, place)` (the tap's index in a kernel, its offset in a transform image); `corner`,
/// the extent of leading axes they occupy.
pub(crate) struct KernelDft<'a, T: Scalar> {
    plan: &'a FftPlan<T>,
    tap_places: &'a [Vec<(usize, usize)>],
    taps: usize,
    corner: [usize; 2],
}

impl<'a, T: Scalar> KernelDft<'a, T> {
    /// The maps of kernels of `taps` taps, placed by `tap_places` inside `corner`, in
    /// transforms of `plan`.
    pub(crate) fn new(
        plan: &'a FftPlan<T>,
        tap_places: &'a [Vec<(usize, usize)>],
        taps: usize,
        corner: [usize; 2],
    ) -> Self {
        Self {
            plan,
            tap_places,
            taps,
            corner,
        }
    }

    /// Whether the products beat the transforms for `kernels` kernels: the flops of the two
    /// real GEMMs against those of the transforms of every kernel and component, which skip
    /// the rows and lines outside the corner (weighted by the cost model's
    /// `transform_flop_weight`), each side with the cost of reading the maps off the plan
    /// counted once. Measured (`stages` bench, Flex, 64 -> 64 channels, 64x64): the products
    /// take the 3x3 kernels' spectra from 1.6 to 1.0 ms, where the 7x7 ones' (24 x 72
    /// transforms, 888 bins) took 6.3 ms by transforms and 9.2 by products, as this count
    /// says.
    pub(crate) fn pays(&self, kernels: usize) -> bool {
        let weight = CostModel::current().transform_flop_weight;
        let fft = |n: usize| {
            if n > 1 {
                2.5 * n as f64 * (n as f64).log2()
            } else {
                0.0
            }
        };
        let [d0, d1, d2] = self.plan.shape();
        let [f0, f1] = [self.corner[0].min(d0), self.corner[1].min(d1)];
        let half = (d2 / 2 + 1) as f64;
        // Real rows of the corner, then axis 1 inside the corner's span of axis 0, then axis 0.
        let pruned = weight
            * ((f0 * f1) as f64 * fft(d2) / 2.0
                + f0 as f64 * half * fft(d1)
                + half * d1 as f64 * fft(d0));
        let full = weight
            * ((d0 * d1) as f64 * fft(d2) / 2.0
                + half * (d0 as f64 * fft(d1) + d1 as f64 * fft(d0)));
        let bins = self.plan.bins() as f64;
        let products = 2.0 * 2.0 * bins * self.taps as f64;
        let setup = self.taps as f64 * pruned + 2.0 * bins * full;
        let (kernels, phases) = (kernels as f64, self.tap_places.len() as f64);
        kernels * products + setup < kernels * phases * pruned
    }

    /// The spectra of `weight`'s kernels (`taps` values each) as [`FftPlan::forward`] returns
    /// them with scale 1 for images `kernel * phases + phase`: bin-major, `[bins][kernels *
    /// phases]`.
    pub(crate) fn spectra(&self, weight: &[T]) -> Vec<Complex<T>> {
        let (bins, phases) = (self.plan.bins(), self.tap_places.len());
        let kernels = weight.len() / self.taps;
        let count = kernels * phases;
        // Per component, `[2 bins][taps of the component]`: real parts, then imaginary parts.
        let maps: Vec<Vec<T>> = self
            .tap_places
            .iter()
            .map(|component| {
                let spectra = self
                    .plan
                    .impulse_spectra(&place_offsets(component), self.corner);
                let n = component.len();
                let mut map = vec![T::default(); 2 * bins * n];
                for (j, spectrum) in spectra.chunks_exact(bins).enumerate() {
                    for (bin, value) in spectrum.iter().enumerate() {
                        map[bin * n + j] = value.re;
                        map[(bins + bin) * n + j] = value.im;
                    }
                }
                map
            })
            .collect();
        let mut bin_major = memory::pooled_capacity(count * bins);
        let out = DisjointWrites::new(bin_major.spare_capacity_mut());
        let block = block_kernels(bins, phases);
        let block_work = block * self.taps * bins;
        (0..kernels.div_ceil(block))
            .into_par_iter()
            .split_if_worth(block_work)
            .for_each_init(
                || (Vec::new(), vec![T::default(); 2 * bins * block * phases]),
                |(gathered, staged), b| {
                    let first = b * block;
                    let width = block.min(kernels - first);
                    for ((places, map), staged) in self
                        .tap_places
                        .iter()
                        .zip(&maps)
                        .zip(staged.chunks_exact_mut(2 * bins * block))
                    {
                        let n = places.len();
                        // The taps of the component, `[width][n]`: the kernels themselves where
                        // it has every tap in order.
                        let taps = if places.iter().map(|&(tap, _)| tap).eq(0..self.taps) {
                            &weight[first * n..][..width * n]
                        } else {
                            gathered.clear();
                            gathered.extend((first..first + width).flat_map(|kernel| {
                                let kernel = &weight[kernel * self.taps..][..self.taps];
                                places.iter().map(move |&(tap, _)| kernel[tap])
                            }));
                            &gathered[..]
                        };
                        // `[2 bins][width]` = map `[2 bins][n]` x taps^T `[n][width]`.
                        matmul(
                            [2 * bins, width, n],
                            (&mut staged[..2 * bins * width], [width, 1]),
                            Operand::new(map, [n, 1]),
                            Operand::new(taps, [1, n]),
                            false,
                        );
                    }
                    for bin in 0..bins {
                        // SAFETY: block `b` alone writes the images of its kernels, in every bin.
                        let run = unsafe { out.run(bin * count + first * phases, width * phases) };
                        for (phase, staged) in staged.chunks_exact(2 * bins * block).enumerate() {
                            let re = &staged[bin * width..][..width];
                            let im = &staged[(bins + bin) * width..][..width];
                            let images = run[phase..].iter_mut().step_by(phases);
                            for ((value, &re), &im) in images.zip(re).zip(im) {
                                value.write(Complex::new(re, im));
                            }
                        }
                    }
                },
            );
        // SAFETY: the blocks cover the kernels `0..kernels`, and each wrote all its images in
        // every bin: all `count * bins` values are initialized.
        unsafe { bin_major.set_len(count * bins) };
        count_transforms(count, 0);
        bin_major
    }

    /// The taps of the kernels whose product spectra are `product` (bin-major, `[bins][kernels
    /// * phases]`, image `kernel * phases + phase`), times `scale`, into `out` (`taps` values
    /// per kernel): what [`FftPlan::inverse`] and a read of each tap's place give.
    pub(crate) fn taps(&self, product: &[Complex<T>], scale: T, out: &mut [T]) {
        let (bins, phases) = (self.plan.bins(), self.tap_places.len());
        let kernels = out.len() / self.taps;
        let count = kernels * phases;
        assert_eq!(product.len(), bins * count, "product spectra length");
        // Per component, `[2 bins][taps of the component]`, times `scale`.
        let maps: Vec<Vec<T>> = self
            .tap_places
            .iter()
            .map(|component| {
                // `scale` applied once to the map rather than to every tap it gives.
                let mut map = self
                    .plan
                    .unit_responses(&place_offsets(component), self.corner);
                map.iter_mut().for_each(|value| *value = *value * scale);
                map
            })
            .collect();
        // The real and imaginary parts of every product value, interleaved.
        let reals: &[T] = bytemuck::cast_slice(product);
        let block = block_kernels(bins, phases);
        out.par_chunks_mut(block * self.taps)
            .enumerate()
            .split_if_worth(block * self.taps * bins)
            .for_each_init(Vec::new, |taps, (b, out)| {
                let width = out.len() / self.taps;
                for (phase, (places, map)) in self.tap_places.iter().zip(&maps).enumerate() {
                    let n = places.len();
                    taps.resize(width * n, T::default());
                    // `[width][n]` = re `[width][bins]` x map re `[bins][n]` + the same of
                    // the imaginary parts, read where the product holds them.
                    let start = 2 * (b * block * phases + phase);
                    for part in [0, 1] {
                        matmul(
                            [width, n, bins],
                            (taps, [n, 1]),
                            Operand::new(&reals[start + part..], [2 * phases, 2 * count]),
                            Operand::new(&map[part * bins * n..], [n, 1]),
                            part == 1,
                        );
                    }
                    for (kernel, values) in
                        out.chunks_exact_mut(self.taps).zip(taps.chunks_exact(n))
                    {
                        for (&(tap, _), &value) in places.iter().zip(values) {
                            kernel[tap] = value;
                        }
                    }
                }
            });
        count_transforms(0, count);
    }
}

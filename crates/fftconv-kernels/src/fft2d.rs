//! Batched real 2-D FFTs of zero-padded images, laid out bin-major so that the channel
//! contraction of each frequency bin is a dense matrix product.
//!
//! A transform of size `height x width` runs a real FFT along each row (`realfft`), then a
//! complex FFT along each of the `width / 2 + 1` columns (`rustfft`). The spectrum of one image
//! is stored column-major, bin `k = column * height + row`; a batch of `count` images is stored
//! bin-major, `[bins][count]`. Plans are built once per size and shared by all threads, from
//! one rustfft/realfft planner per scalar type, so sizes that share 1-D lengths share their
//! 1-D plans and twiddle tables.

use std::any::Any;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use num_complex::Complex;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use crate::memory;

/// The floating-point types the kernels run in: `f32` and `f64`.
pub trait Scalar: realfft::FftNum + Default + bytemuck::Pod + sealed::Sealed {}

impl Scalar for f32 {}
impl Scalar for f64 {}

mod sealed {
    /// Keeps [`super::Scalar`] to the types that have a plan cache.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Plans kept per scalar type by the process-wide caches: far more sizes than a network's
/// layers use, while one-off sizes (an odd input, a hostile geometry) cannot pile up plans
/// for the life of the process.
const PLAN_CACHE_CAPACITY: usize = 64;

/// The process-wide plan cache of `T`.
fn plan_cache<T: Scalar>() -> &'static PlanCache<T> {
    static F32: OnceLock<PlanCache<f32>> = OnceLock::new();
    static F64: OnceLock<PlanCache<f64>> = OnceLock::new();
    let cache: &'static dyn Any = if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        F32.get_or_init(|| PlanCache::new(PLAN_CACHE_CAPACITY))
    } else {
        F64.get_or_init(|| PlanCache::new(PLAN_CACHE_CAPACITY))
    };
    cache
        .downcast_ref()
        .expect("`Scalar` is sealed to f32 and f64")
}

/// The 1-D planners of one scalar type: they keep every 1-D plan they made, so a new 2-D size
/// reuses the row or column plans of earlier sizes.
struct Planners<T: Scalar> {
    real: RealFftPlanner<T>,
    complex: FftPlanner<T>,
}

/// Shared 2-D FFT plans by `(height, width)`, at most `capacity` of them: the least recently
/// used is dropped first (callers holding it keep it alive). Plans are built outside the
/// cache's lock, so a slow plan does not hold up threads that need cached sizes.
struct PlanCache<T: Scalar> {
    capacity: usize,
    state: Mutex<CacheState<T>>,
    planners: Mutex<Planners<T>>,
}

/// A cached plan and the time it was last used.
type Entry<T> = (Arc<Fft2d<T>>, u64);

/// The cached plans by `(height, width)`, on a clock that ticks once per lookup.
struct CacheState<T: Scalar> {
    plans: HashMap<(usize, usize), Entry<T>>,
    clock: u64,
}

impl<T: Scalar> PlanCache<T> {
    /// An empty cache of at most `capacity` plans (at least one).
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(CacheState {
                plans: HashMap::new(),
                clock: 0,
            }),
            planners: Mutex::new(Planners {
                real: RealFftPlanner::new(),
                complex: FftPlanner::new(),
            }),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().plans.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<T>> {
        unpoisoned(&self.state)
    }

    /// Runs `plan` with the planners.
    fn with_planners<R>(&self, plan: impl FnOnce(&mut Planners<T>) -> R) -> R {
        plan(&mut unpoisoned(&self.planners))
    }

    /// The plans for `height x width`, planned on a miss.
    fn get(&self, height: usize, width: usize) -> Arc<Fft2d<T>> {
        let key = (height, width);
        {
            let mut state = self.lock();
            state.clock += 1;
            let now = state.clock;
            if let Some((plan, used)) = state.plans.get_mut(&key) {
                *used = now;
                return plan.clone();
            }
        }
        let planned = Arc::new(self.with_planners(|planners| Fft2d::plan(height, width, planners)));
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        // Another thread may have planned the same size meanwhile: keep one.
        let plan = state
            .plans
            .entry(key)
            .or_insert_with(|| (planned, now))
            .0
            .clone();
        if state.plans.len() > self.capacity {
            let oldest = state
                .plans
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                state.plans.remove(&oldest);
            }
        }
        plan
    }
}

/// The guarded value, also after a panic elsewhere: every write under these locks is one
/// insert, remove or planner call, which leaves the value consistent.
fn unpoisoned<V>(lock: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static FORWARD_TRANSFORMS: AtomicU64 = AtomicU64::new(0);
static INVERSE_TRANSFORMS: AtomicU64 = AtomicU64::new(0);

/// Number of single-image 2-D transforms the convolution kernels ran in this process, for
/// tests and diagnostics (for example, to check that a training step reuses its spectra).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransformCount {
    /// Forward (real to complex) 2-D transforms.
    pub forward: u64,
    /// Inverse (complex to real) 2-D transforms.
    pub inverse: u64,
}

impl TransformCount {
    /// Reads the process-wide counters.
    pub fn now() -> Self {
        Self {
            forward: FORWARD_TRANSFORMS.load(Ordering::Relaxed),
            inverse: INVERSE_TRANSFORMS.load(Ordering::Relaxed),
        }
    }

    /// Transforms run since `earlier`.
    pub fn since(earlier: Self) -> Self {
        let now = Self::now();
        Self {
            forward: now.forward - earlier.forward,
            inverse: now.inverse - earlier.inverse,
        }
    }
}

/// The smallest `n >= target` of the form `2^a 3^b 5^c 7^d`, even when `even` is set (real FFTs
/// of even length run a half-length complex FFT, so they are about twice as fast). Found by
/// walking the products `3^b 5^c 7^d`, not by testing every integer, so a huge target costs a
/// few thousand steps. Panics if no such `n` fits in `usize`.
pub fn fast_len(target: usize, even: bool) -> usize {
    if target <= 1 {
        return 1;
    }
    // The smallest `odd * 2^a >= target`, with `a >= 1` when `even`.
    let doubled_past = |odd: usize| {
        let mut n = if even { odd.checked_mul(2) } else { Some(odd) };
        while let Some(value) = n.filter(|&v| v < target) {
            n = value.checked_mul(2);
        }
        n
    };
    // Powers of `factor` times `base`, up to the first one past `target`.
    let powers = |base: usize, factor: usize| {
        std::iter::successors(Some(base), move |&p| {
            (p < target).then(|| p.checked_mul(factor)).flatten()
        })
    };
    powers(1, 3)
        .flat_map(|p3| powers(p3, 5))
        .flat_map(|p5| powers(p5, 7))
        .filter_map(doubled_past)
        .min()
        .unwrap_or_else(|| panic!("no FFT length of at least {target} fits in usize"))
}

/// Plans for the 2-D real FFT of one size.
pub struct Fft2d<T: Scalar> {
    height: usize,
    width: usize,
    row_forward: Arc<dyn RealToComplex<T>>,
    row_inverse: Arc<dyn ComplexToReal<T>>,
    column_forward: Arc<dyn Fft<T>>,
    column_inverse: Arc<dyn Fft<T>>,
    /// Complex row transforms, forward and inverse, for [`Fft2d::complex_in_place`] only:
    /// planned on its first use.
    row_complex: OnceLock<[Arc<dyn Fft<T>>; 2]>,
}

/// Per-thread buffers for one image.
struct Workspace<T> {
    real: Vec<T>,
    rows: Vec<Complex<T>>,
    spectrum: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: Scalar> Fft2d<T> {
    /// The shared plans for `height x width` transforms, from the process-wide cache.
    pub fn cached(height: usize, width: usize) -> Arc<Self> {
        plan_cache::<T>().get(height, width)
    }

    /// Plans for `height x width` transforms from `planners`.
    fn plan(height: usize, width: usize, planners: &mut Planners<T>) -> Self {
        Self {
            height,
            width,
            row_forward: planners.real.plan_fft_forward(width),
            row_inverse: planners.real.plan_fft_inverse(width),
            column_forward: planners.complex.plan_fft_forward(height),
            column_inverse: planners.complex.plan_fft_inverse(height),
            row_complex: OnceLock::new(),
        }
    }

    /// The complex row transforms, `[forward, inverse]`.
    fn row_complex(&self) -> &[Arc<dyn Fft<T>>; 2] {
        self.row_complex.get_or_init(|| {
            plan_cache::<T>().with_planners(|planners| {
                [
                    planners.complex.plan_fft_forward(self.width),
                    planners.complex.plan_fft_inverse(self.width),
                ]
            })
        })
    }

    /// Transform height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Transform width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Frequency bins per image: `height * (width / 2 + 1)`.
    pub fn bins(&self) -> usize {
        self.height * self.half_width()
    }

    fn half_width(&self) -> usize {
        self.width / 2 + 1
    }

    fn workspace(&self) -> Workspace<T> {
        let row_complex = self.row_complex.get().into_iter().flatten();
        let scratch = [
            self.row_forward.get_scratch_len(),
            self.row_inverse.get_scratch_len(),
            self.column_forward.get_inplace_scratch_len(),
            self.column_inverse.get_inplace_scratch_len(),
        ]
        .into_iter()
        .chain(row_complex.map(|plan| plan.get_inplace_scratch_len()))
        .max()
        .unwrap_or(0);
        Workspace {
            real: vec![T::default(); self.height * self.width],
            rows: vec![Complex::default(); self.bins()],
            spectrum: vec![Complex::default(); self.bins()],
            scratch: vec![Complex::default(); scratch],
        }
    }

    /// Transforms `count` images and returns their spectra bin-major, `[bins][count]`.
    /// `fill(i, image)` writes image `i` into a zeroed row-major `height x width` buffer, in
    /// its first `filled_rows` rows only: the row transforms of the zero rows are skipped.
    /// Images are multiplied by `scale` before they are transformed.
    pub fn forward(
        &self,
        count: usize,
        filled_rows: usize,
        scale: T,
        fill: impl Fn(usize, &mut [T]) + Sync,
    ) -> Vec<Complex<T>> {
        let bins = self.bins();
        let half = self.half_width();
        let mut bin_major = memory::with_capacity(count * bins);
        let out = DisjointWrites::new(bin_major.spare_capacity_mut());
        // Blocks of images, so that each bin's row of the output is written in runs of
        // `IMAGE_BLOCK` values rather than one value at a time.
        (0..count.div_ceil(IMAGE_BLOCK))
            .into_par_iter()
            .for_each_init(
                || {
                    let block = vec![Complex::default(); IMAGE_BLOCK * bins];
                    (self.workspace(), block)
                },
                |(ws, block), b| {
                    let first = b * IMAGE_BLOCK;
                    let images = IMAGE_BLOCK.min(count - first);
                    for (j, spectrum) in block.chunks_exact_mut(bins).take(images).enumerate() {
                        ws.real.fill(T::default());
                        fill(first + j, &mut ws.real);
                        if scale != T::one() {
                            let filled = &mut ws.real[..filled_rows * self.width];
                            filled.iter_mut().for_each(|v| *v = *v * scale);
                        }
                        for (real_row, complex_row) in ws
                            .real
                            .chunks_exact_mut(self.width)
                            .zip(ws.rows.chunks_exact_mut(half))
                            .take(filled_rows)
                        {
                            self.row_forward
                                .process_with_scratch(real_row, complex_row, &mut ws.scratch)
                                .expect("buffer sizes come from the plan");
                        }
                        transpose_into(&ws.rows, spectrum, self.height, half);
                        self.column_forward
                            .process_with_scratch(spectrum, &mut ws.scratch);
                    }
                    for k in 0..bins {
                        // SAFETY: block `b` alone writes the images `first..first + images` of
                        // every bin.
                        let run = unsafe { out.run(k * count + first, images) };
                        for (value, &spectrum) in
                            run.iter_mut().zip(block[k..].iter().step_by(bins))
                        {
                            value.write(spectrum);
                        }
                    }
                },
            );
        // SAFETY: the blocks cover the images `0..count`, and each wrote all their bins: every
        // one of the `count * bins` values is initialized.
        unsafe { bin_major.set_len(count * bins) };
        FORWARD_TRANSFORMS.fetch_add(count as u64, Ordering::Relaxed);
        bin_major
    }

    /// Inverse-transforms `count` bin-major spectra (`[bins][count]`, as [`Fft2d::forward`]
    /// returns) into `out`, which is split into chunks of `chunk_len` values, each fed by
    /// `images_per_chunk` images: the `j`-th image of chunk `c` is image `image_index(c, j)`.
    /// `emit(j, image, chunk)` receives it row-major `height x width`, multiplied by `scale`
    /// (`1 / (height * width)` makes this the inverse of [`Fft2d::forward`]).
    #[allow(clippy::too_many_arguments)]
    pub fn inverse(
        &self,
        spectra: &[Complex<T>],
        count: usize,
        used_rows: usize,
        scale: T,
        out: &mut [T],
        chunk_len: usize,
        images_per_chunk: usize,
        image_index: impl Fn(usize, usize) -> usize + Sync,
        emit: impl Fn(usize, &[T], &mut [T]) + Sync,
    ) {
        let bins = self.bins();
        let half = self.half_width();
        assert_eq!(spectra.len(), bins * count, "spectra length");
        assert_eq!(
            out.len() / chunk_len * images_per_chunk,
            count,
            "output chunks must cover the images"
        );
        // Blocks of chunks: neighbouring chunks read neighbouring images, so each block reads
        // every bin's row of `spectra` in runs rather than one value at a time.
        out.par_chunks_mut(chunk_len * IMAGE_BLOCK)
            .enumerate()
            .for_each_init(
                || (self.workspace(), Vec::new(), Vec::new()),
                |(ws, images, block), (b, chunks)| {
                    let first_chunk = b * IMAGE_BLOCK;
                    let image_index = &image_index;
                    images.clear();
                    images.extend((0..chunks.len() / chunk_len).flat_map(|c| {
                        (0..images_per_chunk).map(move |j| image_index(first_chunk + c, j))
                    }));
                    block.resize(images.len() * bins, Complex::default());
                    for k in 0..bins {
                        let row = &spectra[k * count..(k + 1) * count];
                        let slots = block[k..].iter_mut().step_by(bins);
                        for (value, &image) in slots.zip(images.iter()) {
                            *value = row[image];
                        }
                    }
                    for (slot, spectrum) in block.chunks_exact_mut(bins).enumerate() {
                        let (chunk, j) = (slot / images_per_chunk, slot % images_per_chunk);
                        self.column_inverse
                            .process_with_scratch(spectrum, &mut ws.scratch);
                        transpose_into(spectrum, &mut ws.rows, half, self.height);
                        let used = used_rows * self.width;
                        self.rows_to_real(
                            &mut ws.rows[..used_rows * half],
                            &mut ws.real[..used],
                            &mut ws.scratch,
                        );
                        if scale != T::one() {
                            ws.real[..used].iter_mut().for_each(|v| *v = *v * scale);
                        }
                        emit(j, &ws.real, &mut chunks[chunk * chunk_len..][..chunk_len]);
                    }
                },
            );
        INVERSE_TRANSFORMS.fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// Standard-layout transforms of batches of row-major `height x width` maps, unnormalized,
/// for the differentiable FFT operations.
impl<T: Scalar> Fft2d<T> {
    /// Complex DFT of each map in place (`e^{-i...}`, or `e^{+i...}` when `inverse`).
    pub fn complex_in_place(&self, maps: &mut [Complex<T>], inverse: bool) {
        let [row_forward, row_inverse] = self.row_complex();
        let (rows, columns) = if inverse {
            (row_inverse, &self.column_inverse)
        } else {
            (row_forward, &self.column_forward)
        };
        maps.par_chunks_mut(self.height * self.width).for_each_init(
            || {
                (
                    self.workspace(),
                    vec![Complex::default(); self.height * self.width],
                )
            },
            |(ws, transposed), map| {
                rows.process_with_scratch(map, &mut ws.scratch);
                transpose_into(map, transposed, self.height, self.width);
                columns.process_with_scratch(transposed, &mut ws.scratch);
                transpose_into(transposed, map, self.width, self.height);
            },
        );
    }

    /// Real DFT of each map: `[count][height][width / 2 + 1]` half spectra.
    pub fn real_forward(&self, maps: &[T]) -> Vec<Complex<T>> {
        let half = self.half_width();
        let mut out = memory::filled(maps.len() / self.width * half);
        out.par_chunks_mut(self.bins())
            .zip(maps.par_chunks(self.height * self.width))
            .for_each_init(
                || self.workspace(),
                |ws, (spectrum, map)| {
                    ws.real.copy_from_slice(map);
                    for (real_row, complex_row) in ws
                        .real
                        .chunks_exact_mut(self.width)
                        .zip(spectrum.chunks_exact_mut(half))
                    {
                        self.row_forward
                            .process_with_scratch(real_row, complex_row, &mut ws.scratch)
                            .expect("buffer sizes come from the plan");
                    }
                    transpose_into(spectrum, &mut ws.spectrum, self.height, half);
                    self.column_forward
                        .process_with_scratch(&mut ws.spectrum, &mut ws.scratch);
                    transpose_into(&ws.spectrum, spectrum, half, self.height);
                },
            );
        out
    }

    /// Inverse of [`Fft2d::real_forward`] without the `1 / (height * width)`: real maps from
    /// half spectra. After the column transforms, the imaginary parts of the first column and
    /// (for even widths) the last are ignored, as the inverse real DFT defines them.
    pub fn real_inverse(&self, spectra: &[Complex<T>]) -> Vec<T> {
        let half = self.half_width();
        let mut out = memory::filled(spectra.len() / half * self.width);
        out.par_chunks_mut(self.height * self.width)
            .zip(spectra.par_chunks(self.bins()))
            .for_each_init(
                || self.workspace(),
                |ws, (map, spectrum)| {
                    transpose_into(spectrum, &mut ws.spectrum, self.height, half);
                    self.column_inverse
                        .process_with_scratch(&mut ws.spectrum, &mut ws.scratch);
                    transpose_into(&ws.spectrum, &mut ws.rows, half, self.height);
                    self.rows_to_real(&mut ws.rows, map, &mut ws.scratch);
                },
            );
        out
    }

    /// Inverse real DFTs of the rows of `rows` (`height x (width / 2 + 1)`) into `map`.
    fn rows_to_real(&self, rows: &mut [Complex<T>], map: &mut [T], scratch: &mut [Complex<T>]) {
        let half = self.half_width();
        for (complex_row, real_row) in rows
            .chunks_exact_mut(half)
            .zip(map.chunks_exact_mut(self.width))
        {
            // A real signal's DC and Nyquist bins are real; rounding leaves an imaginary
            // residue that the inverse real FFT rejects.
            complex_row[0].im = T::default();
            if self.width.is_multiple_of(2) {
                complex_row[half - 1].im = T::default();
            }
            self.row_inverse
                .process_with_scratch(complex_row, real_row, scratch)
                .expect("imaginary parts of DC and Nyquist were cleared");
        }
    }
}

/// Writes the transpose of the row-major `rows x cols` matrix `src` into `dst`.
fn transpose_into<V: Copy>(src: &[V], dst: &mut [V], rows: usize, cols: usize) {
    for (r, row) in src.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            dst[c * rows + r] = v;
        }
    }
}

/// Images per task of [`Fft2d::forward`].
const IMAGE_BLOCK: usize = 16;

/// An output buffer that parallel tasks fill at disjoint indices.
struct DisjointWrites<V> {
    start: *mut MaybeUninit<V>,
    len: usize,
}

// SAFETY: tasks only write, each to indices no other task writes (the callers' contract).
unsafe impl<V: Send> Send for DisjointWrites<V> {}
unsafe impl<V: Send> Sync for DisjointWrites<V> {}

impl<V> DisjointWrites<V> {
    fn new(buffer: &mut [MaybeUninit<V>]) -> Self {
        Self {
            start: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// The `len` values from `start` on, to write.
    ///
    /// # Safety
    /// No other thread may access them while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn run(&self, start: usize, len: usize) -> &mut [MaybeUninit<V>] {
        assert!(
            start + len <= self.len,
            "values {start}..{} out of {}",
            start + len,
            self.len
        );
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.start.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least recently used plan goes first; a plan in use stays valid after eviction.
    #[test]
    fn the_plan_cache_is_bounded_and_keeps_the_recently_used() {
        let cache = PlanCache::<f64>::new(3);
        let first = cache.get(4, 4);
        for size in [5, 6] {
            cache.get(size, size);
        }
        assert!(
            Arc::ptr_eq(&first, &cache.get(4, 4)),
            "a hit returns the same plan"
        );
        cache.get(7, 7);
        assert_eq!(cache.len(), 3);
        let state = cache.lock();
        assert!(state.plans.contains_key(&(4, 4)), "recently used, kept");
        assert!(
            !state.plans.contains_key(&(5, 5)),
            "least recently used, dropped"
        );
        drop(state);
        for size in 8..40 {
            cache.get(size, size + 1);
            assert!(cache.len() <= 3);
        }
        let mut values = vec![1.0f64; 16];
        values[0] = 0.0;
        let spectrum = first.real_forward(&values);
        assert_eq!(
            spectrum.len(),
            4 * 3,
            "an evicted plan still works for its holder"
        );
    }

    #[test]
    fn fast_lengths_are_smooth_and_minimal() {
        assert_eq!(fast_len(1, false), 1);
        assert_eq!(fast_len(11, false), 12);
        assert_eq!(fast_len(13, false), 14);
        assert_eq!(fast_len(64, false), 64);
        assert_eq!(fast_len(66, false), 70);
        assert_eq!(fast_len(121, false), 125);
        assert_eq!(fast_len(121, true), 126);
        assert_eq!(fast_len(9, true), 10);
        assert_eq!(fast_len(1, true), 1);
        assert_eq!(fast_len(3, true), 4);
    }

    #[test]
    fn forward_then_inverse_is_identity() {
        for (h, w) in [(1, 1), (1, 6), (5, 1), (6, 8), (7, 9)] {
            let fft = Fft2d::<f64>::cached(h, w);
            // More than one block of images, the last one partial.
            let count = 2 * IMAGE_BLOCK + 5;
            let value = |i: usize, p: usize| ((i * 31 + p * 7) % 13) as f64 - 6.0;
            let spectra = fft.forward(count, h, 1.0, |i, img| {
                img.iter_mut()
                    .enumerate()
                    .for_each(|(p, v)| *v = value(i, p))
            });
            let mut out = vec![0.0; count * h * w];
            fft.inverse(
                &spectra,
                count,
                h,
                1.0 / (h * w) as f64,
                &mut out,
                h * w,
                1,
                |c, _| c,
                |_, img, chunk| chunk.copy_from_slice(img),
            );
            for (idx, v) in out.iter().enumerate() {
                let expected = value(idx / (h * w), idx % (h * w));
                assert!((v - expected).abs() < 1e-12, "{h}x{w}: {v} vs {expected}");
            }
        }
    }
}

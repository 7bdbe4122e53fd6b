//! Batched real FFTs of zero-padded images of up to three dimensions, laid out bin-major so
//! that the channel contraction of each frequency bin is a dense matrix product.
//!
//! A transform of shape `[d0, d1, d2]` runs a real FFT along each row (the last axis, two rows
//! per complex FFT, in `real_rows.rs`), then complex FFTs along the leading axes longer
//! than one, all with `rustfft`: each
//! stage moves the axis just transformed to the front (a transpose) so that the next one is
//! contiguous. Axes of length one are skipped, so a 2-D image is a `[1, h, w]` transform at
//! no extra cost. The spectrum of one image is kept in the order the stages leave it, and a
//! batch of `count` images is stored bin-major, `[bins][count]`. Plans are built once per
//! shape and shared by all threads, from one rustfft planner per scalar type, so
//! shapes that share 1-D lengths share their 1-D plans and twiddle tables.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use num_complex::Complex;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};

use crate::memory::{self, DisjointWrites};
use crate::parallel::{self, SplitIfWorth};
use crate::real_rows::RealRows;

/// The floating-point types the kernels run in: `f32` and `f64`.
pub trait Scalar: rustfft::FftNum + Default + bytemuck::Pod + sealed::Sealed {}

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

/// Shared FFT plans by shape, at most `capacity` of them: the least recently
/// used is dropped first (callers holding it keep it alive). Plans are built outside the
/// cache's lock, so a slow plan does not hold up threads that need cached sizes.
struct PlanCache<T: Scalar> {
    capacity: usize,
    state: Mutex<CacheState<T>>,
    /// The 1-D planner: it keeps every 1-D plan it made, so a new shape reuses the 1-D plans
    /// of earlier shapes.
    planner: Mutex<FftPlanner<T>>,
}

/// A cached plan and the time it was last used.
type Entry<T> = (Arc<FftPlan<T>>, u64);

/// The cached plans by shape, on a clock that ticks once per lookup.
struct CacheState<T: Scalar> {
    plans: HashMap<[usize; 3], Entry<T>>,
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
            planner: Mutex::new(FftPlanner::new()),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().plans.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<T>> {
        unpoisoned(&self.state)
    }

    /// Runs `plan` with the planner.
    fn with_planner<R>(&self, plan: impl FnOnce(&mut FftPlanner<T>) -> R) -> R {
        plan(&mut unpoisoned(&self.planner))
    }

    /// The plans for `shape`, planned on a miss.
    fn get(&self, shape: [usize; 3]) -> Arc<FftPlan<T>> {
        let key = shape;
        {
            let mut state = self.lock();
            state.clock += 1;
            let now = state.clock;
            if let Some((plan, used)) = state.plans.get_mut(&key) {
                *used = now;
                return plan.clone();
            }
        }
        let planned = Arc::new(self.with_planner(|planner| FftPlan::plan(shape, planner)));
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

/// Counts `forward` spectra and `inverse` images that the kernels' matrix products computed in
/// place of transforms.
pub(crate) fn count_transforms(forward: usize, inverse: usize) {
    FORWARD_TRANSFORMS.fetch_add(forward as u64, Ordering::Relaxed);
    INVERSE_TRANSFORMS.fetch_add(inverse as u64, Ordering::Relaxed);
}

/// Number of single-image transforms the convolution kernels ran in this process, for tests
/// and diagnostics (for example, to check that a training step reuses its spectra). A kernel
/// spectrum or weight-gradient image computed by matrix products instead counts as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransformCount {
    /// Forward (real to complex) transforms.
    pub forward: u64,
    /// Inverse (complex to real) transforms.
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

/// Lengths of the form `2^a 3^b` that rustfft 6.4 runs markedly slower than their
/// neighbours on x86_64 (AVX): 18 points took 52 ns against 15 ns for 24, 6 points 8 ns
/// against 4 ns for 8 (batched complex FFTs on this project's 2-core AMD EPYC).
const SLOW_LENGTHS: [usize; 2] = [6, 18];

/// The smallest `n >= target` of the form `2^a 3^b`, other than 6 and 18, even when `even`
/// is set (for rows: the odd lengths 9, 27 and 81 ran 1.4x-2.3x slower per point than
/// their even neighbours).
/// Lengths with factors 5 or 7 are left out: rustfft ran them 2-4x slower per point than
/// their `2^a 3^b` neighbours (70 points 232 ns against 51 ns for 72, 100 points 297 ns
/// against 138 ns for 108). Found by walking the powers of 3, not by testing every integer,
/// so a huge target costs a few hundred steps. Panics if no such `n` fits in `usize`.
pub fn fast_len(target: usize, even: bool) -> usize {
    if target <= 1 {
        return 1;
    }
    // The smallest `odd * 2^a >= target`, with `a >= 1` when `even`, that is not slow.
    let doubled_past = |odd: usize| {
        let mut n = if even { odd.checked_mul(2) } else { Some(odd) };
        while let Some(value) = n.filter(|&v| v < target || SLOW_LENGTHS.contains(&v)) {
            n = value.checked_mul(2);
        }
        n
    };
    std::iter::successors(Some(1usize), |&p| {
        (p < target).then(|| p.checked_mul(3)).flatten()
    })
    .filter_map(doubled_past)
    .min()
    .unwrap_or_else(|| panic!("no FFT length of at least {target} fits in usize"))
}

/// Plans for the real FFT of one shape `[d0, d1, d2]`.
pub struct FftPlan<T: Scalar> {
    shape: [usize; 3],
    /// The leading axes (0, 1) longer than one, outermost first: the complex stages.
    complex_axes: Vec<usize>,
    /// Real transforms of the rows (the last axis).
    rows: RealRows<T>,
    /// `[forward, inverse]` complex plans of the leading axes 0 and 1.
    leading: [[Arc<dyn Fft<T>>; 2]; 2],
}

/// Per-thread buffers for one image.
struct Workspace<T> {
    real: Vec<T>,
    rows: Vec<Complex<T>>,
    spectrum: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: Scalar> FftPlan<T> {
    /// The shared plans for transforms of `shape`, from the process-wide cache.
    pub fn cached(shape: [usize; 3]) -> Arc<Self> {
        plan_cache::<T>().get(shape)
    }

    /// Plans for transforms of `shape` from `planner`.
    fn plan(shape: [usize; 3], planner: &mut FftPlanner<T>) -> Self {
        let mut complex = |n: usize| [planner.plan_fft_forward(n), planner.plan_fft_inverse(n)];
        let leading = [complex(shape[0]), complex(shape[1])];
        Self {
            shape,
            complex_axes: (0..2).filter(|&axis| shape[axis] > 1).collect(),
            rows: RealRows::new(shape[2], planner),
            leading,
        }
    }

    /// The transform's shape.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Points per image.
    pub fn points(&self) -> usize {
        self.shape.iter().product()
    }

    /// Frequency bins per image: `d0 * d1 * (d2 / 2 + 1)`.
    pub fn bins(&self) -> usize {
        self.shape[0] * self.shape[1] * self.half_width()
    }

    /// The work of one of the plan's transforms, for [`SplitIfWorth`].
    fn transform_work(&self) -> usize {
        parallel::transform_work(self.points())
    }

    fn half_width(&self) -> usize {
        self.shape[2] / 2 + 1
    }

    /// The complex FFT along leading `axis`, forward or inverse.
    fn along(&self, axis: usize, inverse: bool) -> &Arc<dyn Fft<T>> {
        &self.leading[axis][usize::from(inverse)]
    }

    fn workspace(&self) -> Workspace<T> {
        let scratch = std::iter::once(self.rows.scratch_len())
            .chain(
                self.leading
                    .iter()
                    .flatten()
                    .map(|plan| plan.get_inplace_scratch_len()),
            )
            .max()
            .unwrap_or(0);
        Workspace {
            real: vec![T::default(); self.points()],
            rows: vec![Complex::default(); self.bins().max(self.points())],
            spectrum: vec![Complex::default(); self.bins().max(self.points())],
            scratch: vec![Complex::default(); scratch],
        }
    }

    /// The rows `i0 * d1 + i1` with `i0 < extent[0]` and `i1 < extent[1]`, the rows of an
    /// image's corner that may differ from zero: their number, and the `j`-th of them.
    fn corner(&self, extent: [usize; 2]) -> (usize, impl Fn(usize) -> usize + use<T>) {
        let [e0, e1] = [0, 1].map(|i| extent[i].min(self.shape[i]));
        let d1 = self.shape[1];
        (e0 * e1, move |j| j / e1 * d1 + j % e1)
    }

    /// The spectrum of the image in `ws.real` (row-major, zero outside its `filled` corner of
    /// leading axes) into `out`, in the order the stages leave it. `ws.rows` must be zero
    /// outside that corner's rows, which holds when every image of a workspace has the same
    /// `filled`: the transforms of the other rows are skipped, and so are the complex
    /// transforms of axis 1 whose axis-0 index lies past the corner.
    fn forward_image(
        &self,
        ws: &mut Workspace<T>,
        real: &[T],
        filled: [usize; 2],
        scale: T,
        out: &mut [Complex<T>],
    ) {
        let [d0, d1, _] = self.shape;
        let half = self.half_width();
        let rows = if self.complex_axes.is_empty() {
            &mut *out
        } else {
            &mut ws.rows[..self.bins()]
        };
        let (count, row) = self.corner(filled);
        self.rows.forward(
            real,
            rows,
            count,
            row,
            scale,
            &mut ws.spectrum,
            &mut ws.scratch,
        );
        match self.complex_axes[..] {
            [] => {}
            [axis] => {
                rotate_forward(&ws.rows[..self.bins()], out, half);
                self.along(axis, false)
                    .process_with_scratch(out, &mut ws.scratch);
            }
            _ => {
                let staged = &mut ws.spectrum[..self.bins()];
                rotate_forward(&ws.rows[..self.bins()], staged, half);
                // `[half][d0][d1]`: lines past the corner along axis 0 are zero.
                for block in staged.chunks_exact_mut(d0 * d1) {
                    let lines = &mut block[..filled[0].min(d0) * d1];
                    self.along(1, false)
                        .process_with_scratch(lines, &mut ws.scratch);
                }
                rotate_forward(staged, out, d1);
                self.along(0, false)
                    .process_with_scratch(out, &mut ws.scratch);
            }
        }
    }

    /// The inverse of [`FftPlan::forward_image`] without the `1 / points`, multiplied by
    /// `scale`: the image into `ws.real`, right in its `used` corner of leading axes only (the
    /// transforms that feed nothing else are skipped). `spectrum` is overwritten.
    fn inverse_image(
        &self,
        ws: &mut Workspace<T>,
        spectrum: &mut [Complex<T>],
        used: [usize; 2],
        scale: T,
    ) {
        let [d0, d1, _] = self.shape;
        let half = self.half_width();
        let rows = match self.complex_axes[..] {
            [] => spectrum,
            [axis] => {
                self.along(axis, true)
                    .process_with_scratch(spectrum, &mut ws.scratch);
                let rows = &mut ws.rows[..self.bins()];
                rotate_back(spectrum, rows, half);
                rows
            }
            _ => {
                self.along(0, true)
                    .process_with_scratch(spectrum, &mut ws.scratch);
                let staged = &mut ws.spectrum[..self.bins()];
                rotate_back(spectrum, staged, d1);
                for block in staged.chunks_exact_mut(d0 * d1) {
                    let lines = &mut block[..used[0].min(d0) * d1];
                    self.along(1, true)
                        .process_with_scratch(lines, &mut ws.scratch);
                }
                let rows = &mut ws.rows[..self.bins()];
                rotate_back(staged, rows, half);
                rows
            }
        };
        let (count, row) = self.corner(used);
        self.rows.inverse(
            rows,
            &mut ws.real,
            count,
            row,
            scale,
            &mut ws.spectrum,
            &mut ws.scratch,
        );
    }

    /// The spectra of unit impulses at `places` (offsets in an image of the plan's shape,
    /// inside its `filled` corner of leading axes), one row of [`FftPlan::bins`] per place, in
    /// the order and scale of [`FftPlan::forward`]'s spectra: the columns of the linear map from
    /// a kernel's taps to its spectrum.
    pub(crate) fn impulse_spectra(&self, places: &[usize], filled: [usize; 2]) -> Vec<Complex<T>> {
        let bins = self.bins();
        let mut ws = self.workspace();
        let mut image = vec![T::default(); self.points()];
        let mut spectra = vec![Complex::default(); places.len() * bins];
        for (&place, spectrum) in places.iter().zip(spectra.chunks_exact_mut(bins)) {
            image[place] = T::one();
            self.forward_image(&mut ws, &image, filled, T::one(), spectrum);
            image[place] = T::default();
        }
        spectra
    }

    /// The values at `places` (inside the `used` corner) of the inverse transforms, as
    /// [`FftPlan::inverse`] runs them with scale 1, of each unit spectrum: `2 * bins` rows of
    /// `places.len()`, the real unit in each bin, then the imaginary one. Row `u` holds the
    /// coefficients of the `u`-th real input of a spectrum in those values.
    pub(crate) fn unit_responses(&self, places: &[usize], used: [usize; 2]) -> Vec<T> {
        let bins = self.bins();
        let mut ws = self.workspace();
        let mut spectrum = vec![Complex::default(); bins];
        let mut responses = Vec::with_capacity(2 * bins * places.len());
        for unit in [
            Complex::new(T::one(), T::zero()),
            Complex::new(T::zero(), T::one()),
        ] {
            for bin in 0..bins {
                spectrum.fill(Complex::default());
                spectrum[bin] = unit;
                self.inverse_image(&mut ws, &mut spectrum, used, T::one());
                responses.extend(places.iter().map(|&place| ws.real[place]));
            }
        }
        responses
    }

    /// Transforms `count` images and returns their spectra bin-major, `[bins][count]`.
    /// `fill(i, image)` writes image `i` into a zeroed row-major buffer of the plan's shape,
    /// inside its corner of `filled` indices along the two leading axes only: the transforms
    /// of the zero rows and lines are skipped. Images are multiplied by `scale` before they
    /// are transformed.
    ///
    /// The images form a matrix of `columns` columns, as in one bin's matrix of a spectrum
    /// (rows of tiles, columns of channels). They are filled column by column inside blocks
    /// of neighbouring rows: neighbouring tiles of one channel read neighbouring input, so the
    /// gathers stream through memory. Filled row by row, every gather jumped to another
    /// channel, and gathering took about half the time of an input spectrum.
    pub fn forward(
        &self,
        count: usize,
        columns: usize,
        filled: [usize; 2],
        scale: T,
        fill: impl Fn(usize, &mut [T]) + Sync,
    ) -> Vec<Complex<T>> {
        let (bins, points) = (self.bins(), self.points());
        let mut bin_major = memory::pooled_capacity(count * bins);
        let out = DisjointWrites::new(bin_major.spare_capacity_mut());
        let columns = columns.max(1);
        assert_eq!(count % columns, 0, "{count} images in {columns} columns");
        let rows = count / columns;
        // Blocks of `block_columns` neighbouring columns, so that each bin's row of the output
        // is written in runs of that many values rather than one value at a time, and of as
        // many rows as keep the block's spectra within `BLOCK_VALUES`.
        let block_columns = IMAGE_BLOCK.min(columns);
        let column_blocks = columns.div_ceil(block_columns);
        let block_rows = (BLOCK_VALUES / (block_columns * bins)).clamp(1, rows.max(1));
        let block_work = block_rows * block_columns * self.transform_work();
        (0..rows.div_ceil(block_rows) * column_blocks)
            .into_par_iter()
            .split_if_worth(block_work)
            .for_each_init(
                || {
                    let block = vec![Complex::default(); block_rows * block_columns * bins];
                    let staged = vec![T::default(); block_rows * block_columns * points];
                    (self.workspace(), block, staged)
                },
                |(ws, block, staged), b| {
                    let (row, column) = (
                        b / column_blocks * block_rows,
                        b % column_blocks * block_columns,
                    );
                    let (height, width) = (
                        block_rows.min(rows - row),
                        block_columns.min(columns - column),
                    );
                    for c in 0..width {
                        for r in 0..height {
                            let slot = r * width + c;
                            let image = &mut staged[slot * points..][..points];
                            image.fill(T::default());
                            fill((row + r) * columns + column + c, image);
                        }
                    }
                    for slot in 0..height * width {
                        self.forward_image(
                            ws,
                            &staged[slot * points..][..points],
                            filled,
                            scale,
                            &mut block[slot * bins..][..bins],
                        );
                    }
                    for k in 0..bins {
                        for r in 0..height {
                            // SAFETY: block `b` alone writes the images of its rows and
                            // columns, in every bin.
                            let run =
                                unsafe { out.run(k * count + (row + r) * columns + column, width) };
                            let slots = block[r * width * bins + k..].iter().step_by(bins);
                            for (value, &spectrum) in run.iter_mut().zip(slots) {
                                value.write(spectrum);
                            }
                        }
                    }
                },
            );
        // SAFETY: the blocks cover the images `0..count`, and each wrote all their bins: every
        // one of the `count * bins` values is initialized.
        unsafe { bin_major.set_len(count * bins) };
        count_transforms(count, 0);
        bin_major
    }

    /// Inverse-transforms `count` bin-major spectra (`[bins][count]`, as [`FftPlan::forward`]
    /// returns) into `out`, which is split into chunks of `chunk_len` values, each fed by
    /// `images_per_chunk` images: the `j`-th image of chunk `c` is image `image_index(c, j)`.
    /// `emit(j, image, chunk)` receives it row-major, multiplied by `scale`
    /// (`1 / points` makes this the inverse of [`FftPlan::forward`]), right only in its corner
    /// of `used` indices along the two leading axes.
    #[allow(clippy::too_many_arguments)]
    pub fn inverse(
        &self,
        spectra: &[Complex<T>],
        count: usize,
        used: [usize; 2],
        scale: T,
        out: &mut [T],
        chunk_len: usize,
        images_per_chunk: usize,
        image_index: impl Fn(usize, usize) -> usize + Sync,
        emit: impl Fn(usize, &[T], &mut [T]) + Sync,
    ) {
        let bins = self.bins();
        assert_eq!(spectra.len(), bins * count, "spectra length");
        assert_eq!(
            out.len() / chunk_len * images_per_chunk,
            count,
            "output chunks must cover the images"
        );
        // Blocks of chunks: neighbouring chunks read neighbouring images, so each block reads
        // every bin's row of `spectra` in runs rather than one value at a time.
        let block_work = IMAGE_BLOCK * images_per_chunk * self.transform_work();
        out.par_chunks_mut(chunk_len * IMAGE_BLOCK)
            .enumerate()
            .split_if_worth(block_work)
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
                        self.inverse_image(ws, spectrum, used, scale);
                        emit(j, &ws.real, &mut chunks[chunk * chunk_len..][..chunk_len]);
                    }
                },
            );
        count_transforms(0, count);
    }
}

/// Standard-layout transforms of batches of row-major maps of the plan's shape, unnormalized,
/// for the differentiable FFT operations.
impl<T: Scalar> FftPlan<T> {
    /// The complex stages of a map in standard layout whose last axis holds `last` values
    /// (a map's width, or a half spectrum's `width / 2 + 1`), leaving it in standard layout:
    /// each leading axis in turn is rotated to the end and transformed, and a last rotation
    /// restores the order. `spare` is a buffer of the map's length.
    fn leading_axes_standard(
        &self,
        map: &mut [Complex<T>],
        spare: &mut [Complex<T>],
        last: usize,
        inverse: bool,
        scratch: &mut [Complex<T>],
    ) {
        if self.complex_axes.is_empty() {
            return;
        }
        let spare = &mut spare[..map.len()];
        let (mut current, mut other) = (map, spare);
        let mut last = last;
        for &axis in self.complex_axes.iter().rev() {
            rotate_forward(current, other, last);
            std::mem::swap(&mut current, &mut other);
            self.along(axis, inverse)
                .process_with_scratch(current, scratch);
            last = self.shape[axis];
        }
        rotate_forward(current, other, last);
        // An odd number of rotations leaves the result in the spare buffer.
        if self.complex_axes.len().is_multiple_of(2) {
            current.copy_from_slice(other);
        }
    }

    /// Complex DFT of each map in place (`e^{-i...}`, or `e^{+i...}` when `inverse`).
    pub fn complex_in_place(&self, maps: &mut [Complex<T>], inverse: bool) {
        let rows = self.rows.complex(inverse);
        maps.par_chunks_mut(self.points())
            .split_if_worth(self.transform_work())
            .for_each_init(
                || self.workspace(),
                |ws, map| {
                    rows.process_with_scratch(map, &mut ws.scratch);
                    self.leading_axes_standard(
                        map,
                        &mut ws.spectrum,
                        self.shape[2],
                        inverse,
                        &mut ws.scratch,
                    );
                },
            );
    }

    /// Real DFT of each map: `[count][d0][d1][d2 / 2 + 1]` half spectra.
    pub fn real_forward(&self, maps: &[T]) -> Vec<Complex<T>> {
        let half = self.half_width();
        let mut out = memory::filled(maps.len() / self.shape[2] * half);
        out.par_chunks_mut(self.bins())
            .zip(maps.par_chunks(self.points()))
            .split_if_worth(self.transform_work())
            .for_each_init(
                || self.workspace(),
                |ws, (spectrum, map)| {
                    self.rows.forward(
                        map,
                        spectrum,
                        map.len() / self.shape[2],
                        |j| j,
                        T::one(),
                        &mut ws.spectrum,
                        &mut ws.scratch,
                    );
                    self.leading_axes_standard(
                        spectrum,
                        &mut ws.spectrum,
                        half,
                        false,
                        &mut ws.scratch,
                    );
                },
            );
        out
    }

    /// Inverse of [`FftPlan::real_forward`] without the `1 / points`: real maps from half
    /// spectra. After the complex stages, the imaginary parts of the first bin and (for even
    /// widths) the last of each row are ignored, as the inverse real DFT defines them.
    pub fn real_inverse(&self, spectra: &[Complex<T>]) -> Vec<T> {
        let half = self.half_width();
        let mut out = memory::filled(spectra.len() / half * self.shape[2]);
        out.par_chunks_mut(self.points())
            .zip(spectra.par_chunks(self.bins()))
            .split_if_worth(self.transform_work())
            .for_each_init(
                || self.workspace(),
                |ws, (map, spectrum)| {
                    let rows = &mut ws.rows[..self.bins()];
                    rows.copy_from_slice(spectrum);
                    self.leading_axes_standard(rows, &mut ws.spectrum, half, true, &mut ws.scratch);
                    self.rows.inverse(
                        rows,
                        map,
                        map.len() / self.shape[2],
                        |j| j,
                        T::one(),
                        &mut ws.spectrum,
                        &mut ws.scratch,
                    );
                },
            );
        out
    }
}

/// Moves the last axis (of `last` values) of the row-major `src` to the front, into `dst`.
fn rotate_forward<V: Copy>(src: &[V], dst: &mut [V], last: usize) {
    transpose_into(src, dst, src.len() / last, last);
}

/// Moves the first axis (of `first` values) of the row-major `src` to the end, into `dst`:
/// the inverse of [`rotate_forward`].
fn rotate_back<V: Copy>(src: &[V], dst: &mut [V], first: usize) {
    transpose_into(src, dst, first, src.len() / first);
}

/// Writes the transpose of the row-major `rows x cols` matrix `src` into `dst`.
fn transpose_into<V: Copy>(src: &[V], dst: &mut [V], rows: usize, cols: usize) {
    for (r, row) in src.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            dst[c * rows + r] = v;
        }
    }
}

/// Images (columns) per task of [`FftPlan::forward`], chunks per task of
/// [`FftPlan::inverse`].
const IMAGE_BLOCK: usize = 16;

/// Spectrum values per task of [`FftPlan::forward`] at most, unless one row of
/// [`IMAGE_BLOCK`] images is larger: 128 KiB in f32, so a block stays in a core's L2 cache.
const BLOCK_VALUES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// The least recently used plan goes first; a plan in use stays valid after eviction.
    #[test]
    fn the_plan_cache_is_bounded_and_keeps_the_recently_used() {
        let cache = PlanCache::<f64>::new(3);
        let square = |n: usize| [1, n, n];
        let first = cache.get(square(4));
        for size in [5, 6] {
            cache.get(square(size));
        }
        assert!(
            Arc::ptr_eq(&first, &cache.get(square(4))),
            "a hit returns the same plan"
        );
        cache.get(square(7));
        assert_eq!(cache.len(), 3);
        let state = cache.lock();
        assert!(state.plans.contains_key(&square(4)), "recently used, kept");
        assert!(
            !state.plans.contains_key(&square(5)),
            "least recently used, dropped"
        );
        drop(state);
        for size in 8..40 {
            cache.get([2, size, size + 1]);
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

    /// Shapes with unit axes in every position, 1-D to 3-D.
    const SHAPES: [[usize; 3]; 10] = [
        [1, 1, 1],
        [1, 1, 6],
        [1, 5, 1],
        [1, 6, 8],
        [1, 7, 9],
        [3, 4, 6],
        [5, 1, 7],
        [2, 3, 1],
        [4, 5, 5],
        [6, 2, 4],
    ];

    fn value(i: usize, p: usize) -> f64 {
        ((i * 31 + p * 7) % 13) as f64 - 6.0
    }

    /// The DFT of a real map by its definition, standard layout, half spectrum.
    fn naive_real_dft(shape: [usize; 3], map: &[f64]) -> Vec<Complex<f64>> {
        let [d0, d1, d2] = shape;
        let half = d2 / 2 + 1;
        let mut out = vec![Complex::default(); d0 * d1 * half];
        for k0 in 0..d0 {
            for k1 in 0..d1 {
                for k2 in 0..half {
                    let mut sum = Complex::default();
                    for (p, &v) in map.iter().enumerate() {
                        let (i0, i1, i2) = (p / (d1 * d2), p / d2 % d1, p % d2);
                        let turns = (k0 * i0) as f64 / d0 as f64
                            + (k1 * i1) as f64 / d1 as f64
                            + (k2 * i2) as f64 / d2 as f64;
                        sum += Complex::from_polar(v, -2.0 * std::f64::consts::PI * turns);
                    }
                    out[(k0 * d1 + k1) * half + k2] = sum;
                }
            }
        }
        out
    }

    #[test]
    fn standard_layout_transforms_are_the_dft_and_invert() {
        for shape in SHAPES {
            let plan = FftPlan::<f64>::cached(shape);
            let points = plan.points();
            let maps: Vec<f64> = (0..2 * points).map(|p| value(p / points, p)).collect();
            let spectra = plan.real_forward(&maps);
            for (map, spectrum) in maps.chunks(points).zip(spectra.chunks(plan.bins())) {
                for (got, want) in spectrum.iter().zip(naive_real_dft(shape, map)) {
                    assert!((got - want).norm() < 1e-9, "{shape:?}: {got} vs {want}");
                }
            }
            let back = plan.real_inverse(&spectra);
            for (got, want) in back.iter().zip(&maps) {
                assert!((got / points as f64 - want).abs() < 1e-12, "{shape:?}");
            }
            let mut complex: Vec<Complex<f64>> =
                maps.iter().map(|&v| Complex::new(v, -v / 2.0)).collect();
            plan.complex_in_place(&mut complex, false);
            plan.complex_in_place(&mut complex, true);
            for (got, &want) in complex.iter().zip(&maps) {
                let got = got / points as f64;
                assert!(
                    (got - Complex::new(want, -want / 2.0)).norm() < 1e-12,
                    "{shape:?}"
                );
            }
        }
    }

    /// The batched transforms invert each other, and pruning the rows and lines outside the
    /// filled and used corners changes nothing inside them.
    #[test]
    fn forward_then_inverse_is_identity_inside_the_corners() {
        for shape in SHAPES {
            let fft = FftPlan::<f64>::cached(shape);
            let [d0, d1, d2] = shape;
            let corner = [d0.div_ceil(2), d1.div_ceil(2)];
            let inside = |p: usize| p / (d1 * d2) < corner[0] && p / d2 % d1 < corner[1];
            // More than one block of images, the last one partial, in rows and in columns.
            let columns = IMAGE_BLOCK + 5;
            let count = 40 * columns;
            let spectra = fft.forward(count, columns, corner, 1.0, |i, img| {
                img.iter_mut()
                    .enumerate()
                    .filter(|(p, _)| inside(*p))
                    .for_each(|(p, v)| *v = value(i, p))
            });
            let points = fft.points();
            let mut out = vec![0.0; count * points];
            fft.inverse(
                &spectra,
                count,
                corner,
                1.0 / points as f64,
                &mut out,
                points,
                1,
                |c, _| c,
                |_, img, chunk| chunk.copy_from_slice(img),
            );
            for (idx, v) in out.iter().enumerate() {
                let p = idx % points;
                if inside(p) {
                    let expected = value(idx / points, p);
                    assert!((v - expected).abs() < 1e-12, "{shape:?}: {v} vs {expected}");
                }
            }
        }
    }

    #[test]
    fn fast_lengths_are_smooth_and_minimal() {
        assert_eq!(fast_len(1, false), 1);
        assert_eq!(fast_len(11, false), 12);
        assert_eq!(fast_len(13, false), 16);
        assert_eq!(fast_len(64, false), 64);
        assert_eq!(fast_len(66, false), 72);
        assert_eq!(fast_len(121, false), 128);
        assert_eq!(fast_len(25, false), 27);
        assert_eq!(fast_len(25, true), 32);
        assert_eq!(fast_len(9, true), 12);
        assert_eq!(fast_len(1, true), 1);
        assert_eq!(fast_len(3, true), 4);
        // The slow lengths are skipped.
        assert_eq!(fast_len(17, true), 24);
        assert_eq!(fast_len(5, false), 8);
    }
}

//! Large buffers backed by transparent huge pages where Linux offers them on request
//! (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise`, a common default). A
//! spectrum is tens of MiB written once; faulting it in 4 KiB pages costs about as much as
//! transforming it (measured: 40 ms of a 190 ms training step at k7), 2 MiB pages a 512th of
//! the faults. The buffers stay ordinary `Vec`s, freed by the global allocator.
//!
//! Buffers that live only inside one call (the per-bin products before their inverse
//! transforms), and spectra their holder hands back ([`recycle`]), go to a small pool
//! instead, for the next spectrum or product: freed, glibc hands a buffer that large back to
//! the OS, and the next call faults and zeroes it in again. Reusing products and spectra made
//! the Flex training step 1.12x-1.25x faster (batch 16, 64 channels, 64x64, kernels 3-15, two
//! cores); the pool keeps at most [`POOL_BUFFERS`] buffers and [`POOL_BYTES`] bytes.

use std::any::Any;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use num_complex::Complex;
use rayon::iter::ParallelExtend;

use crate::fft::Scalar;
use crate::parallel::{self, SplitIfWorth};

/// An empty `Vec` with room for `len` values, whose untouched pages the OS may back with
/// huge pages.
pub(crate) fn with_capacity<V>(len: usize) -> Vec<V> {
    let mut buffer = Vec::with_capacity(len);
    advise_huge_pages(buffer.spare_capacity_mut());
    buffer
}

/// `len` default values, in a buffer from [`with_capacity`], written by all of rayon's
/// threads: each first touch of a page is a fault, and one thread filling tens of MiB for
/// sixteen was a serial part of every pass. A small buffer is filled on the caller's thread.
pub(crate) fn filled<V: Clone + Default + Send>(len: usize) -> Vec<V> {
    let mut buffer = with_capacity(len);
    let values = rayon::iter::repeat_n(V::default(), len);
    let value_work = parallel::first_touch_work(size_of::<V>());
    buffer.par_extend(values.split_if_worth(value_work));
    buffer
}

#[cfg(target_os = "linux")]
fn advise_huge_pages<V>(buffer: &mut [MaybeUninit<V>]) {
    const HUGE_PAGE: usize = 2 << 20;
    let start = buffer.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(buffer);
    let (first, last) = (
        start.next_multiple_of(HUGE_PAGE),
        end / HUGE_PAGE * HUGE_PAGE,
    );
    if last > first {
        // SAFETY: the range lies inside `buffer`, which is ours and not yet initialized;
        // MADV_HUGEPAGE changes how its pages are backed, not its contents or its mapping.
        // The advice is best effort: an error leaves ordinary pages, so it is ignored.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<V>(_: &mut [MaybeUninit<V>]) {}

/// What glibc's malloc may keep free at the top of its heaps once [`keep_freed_memory_mapped`]
/// ran, rather than give it back to the OS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEPT_FREE_BYTES: libc::c_int = 512 << 20;

/// Blocks from this size up are mapped and unmapped on their own once
/// [`keep_freed_memory_mapped`] ran: glibc's own ceiling for the threshold it adjusts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_BYTES: libc::c_int = 32 << 20;

/// Makes glibc's malloc keep the memory a training loop frees mapped for the next step.
/// Returns whether it did: `false` off glibc, and where `GLIBC_TUNABLES` sets either threshold
/// (`glibc.malloc.mmap_threshold`, `glibc.malloc.trim_threshold`: the user's settings win;
/// other tunables are no reason to step aside).
///
/// By default glibc hands the top of a heap back to the OS once more than a threshold lies
/// free there, and that threshold follows the largest block it has unmapped so far: a
/// history no program controls. A model whose steps free tens of MiB (activations,
/// gradients, spectra) may then give them back and fault them in again at every step; the
/// MNIST example spent 43 of its 62 s in the kernel so, and 22 of 63 s with burn's direct
/// convolution. This fixes the thresholds instead (keep up to 512 MiB free, map blocks of
/// 32 MiB and more on their own), for a process's lifetime: call it at the start of `main`.
pub fn keep_freed_memory_mapped() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        if sets_malloc_thresholds(&tunables.to_string_lossy()) {
            return false;
        }
        // SAFETY: mallopt changes two of malloc's parameters under its own locks; it
        // neither frees nor moves memory.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_FREE_BYTES) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Whether a `GLIBC_TUNABLES` value (`name=value` entries separated by colons) sets one of
/// the two thresholds [`keep_freed_memory_mapped`] sets.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn sets_malloc_thresholds(tunables: &str) -> bool {
    tunables.split(':').any(|entry| {
        let name = entry.split_once('=').map_or(entry, |(name, _)| name);
        matches!(
            name.trim(),
            "glibc.malloc.mmap_threshold" | "glibc.malloc.trim_threshold"
        )
    })
}

/// Buffers the pool keeps at most: the three spectra and three products of a training step,
/// and two more.
const POOL_BUFFERS: usize = 8;

/// Bytes the pool keeps at most; a larger buffer is freed as before.
const POOL_BYTES: usize = 1 << 30;

/// Freed buffers of any element type, oldest first, within [`POOL_BUFFERS`] and
/// [`POOL_BYTES`].
struct BufferPool {
    entries: Vec<Pooled>,
}

/// A freed buffer and its size in bytes.
struct Pooled {
    bytes: usize,
    buffer: Box<dyn Any + Send>,
}

impl BufferPool {
    const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The smallest buffer of `V` with room for `len` values, and no more than a quarter
    /// more: a larger one would hold memory idle (a spectrum keeps its buffer as it is) that a
    /// larger request may need.
    fn take<V: 'static>(&mut self, len: usize) -> Option<Vec<V>> {
        let (_, i) = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| {
                let capacity = entry.buffer.downcast_ref::<Vec<V>>()?.capacity();
                (capacity >= len && capacity - len <= len / 4).then_some((capacity, i))
            })
            .min()?;
        let buffer = self.entries.remove(i).buffer.downcast::<Vec<V>>();
        Some(*buffer.expect("the entry held a Vec<V>"))
    }

    /// Keeps `buffer`, and frees the oldest buffers beyond the limits.
    fn put<V: Send + 'static>(&mut self, buffer: Vec<V>) {
        let bytes = buffer.capacity() * std::mem::size_of::<V>();
        if bytes == 0 || bytes > POOL_BYTES {
            return;
        }
        self.entries.push(Pooled {
            bytes,
            buffer: Box::new(buffer),
        });
        while self.entries.len() > POOL_BUFFERS
            || self.entries.iter().map(|e| e.bytes).sum::<usize>() > POOL_BYTES
        {
            self.entries.remove(0);
        }
    }
}

static POOL: Mutex<BufferPool> = Mutex::new(BufferPool::new());

fn pool() -> std::sync::MutexGuard<'static, BufferPool> {
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty `Vec` with room for `len` values: a pooled buffer when one fits, else a new one
/// from [`with_capacity`].
pub(crate) fn pooled_capacity<V: Send + 'static>(len: usize) -> Vec<V> {
    let pooled = pool().take(len);
    match pooled {
        Some(mut buffer) => {
            buffer.clear();
            buffer
        }
        None => with_capacity(len),
    }
}

/// Hands a spectrum that its holder no longer needs back for later spectra and products of
/// the same precision, whose pages are then mapped already. The pool keeps a few such buffers
/// (at most 1 GiB) and frees the oldest beyond that.
pub fn recycle<T: Scalar>(spectrum: Vec<Complex<T>>) {
    pool().put(spectrum);
}

/// Frees the buffers the pool keeps (at most 1 GiB), for a process done with convolutions or
/// about to need the memory elsewhere; later calls fill the pool again.
pub fn release_pooled_buffers() {
    pool().entries.clear();
}

/// `len` values whose contents are unspecified (a freed buffer's, or defaults), for a caller
/// that overwrites all of them; the buffer goes back to the pool when dropped.
pub(crate) fn reused<V: Clone + Default + Send + 'static>(len: usize) -> Reused<V> {
    let pooled = pool().take(len);
    let values = match pooled {
        Some(mut buffer) => {
            buffer.resize(len, V::default());
            buffer
        }
        None => filled(len),
    };
    Reused { values }
}

/// A buffer from [`reused`], returned to the pool when dropped.
pub(crate) struct Reused<V: Send + 'static> {
    values: Vec<V>,
}

impl<V: Send + 'static> Drop for Reused<V> {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.values);
        pool().put(buffer);
    }
}

impl<V: Send + 'static> Deref for Reused<V> {
    type Target = [V];

    fn deref(&self) -> &[V] {
        &self.values
    }
}

impl<V: Send + 'static> DerefMut for Reused<V> {
    fn deref_mut(&mut self) -> &mut [V] {
        &mut self.values
    }
}

/// An output buffer that parallel tasks fill at disjoint indices.
pub(crate) struct DisjointWrites<V> {
    start: *mut MaybeUninit<V>,
    len: usize,
}

// SAFETY: tasks only write, each to indices no other task writes (the callers' contract).
unsafe impl<V: Send> Send for DisjointWrites<V> {}
unsafe impl<V: Send> Sync for DisjointWrites<V> {}

impl<V> DisjointWrites<V> {
    pub(crate) fn new(buffer: &mut [MaybeUninit<V>]) -> Self {
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
    pub(crate) unsafe fn run(&self, start: usize, len: usize) -> &mut [MaybeUninit<V>] {
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len),
            "values {start}..{start}+{len} out of {}",
            self.len
        );
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.start.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_two_thresholds_in_the_tunables_make_way_for_the_user() {
        assert!(!sets_malloc_thresholds(""));
        assert!(!sets_malloc_thresholds(
            "glibc.cpu.hwcaps=-AVX512F:glibc.malloc.arena_max=2"
        ));
        assert!(sets_malloc_thresholds(
            "glibc.malloc.trim_threshold=1048576"
        ));
        assert!(sets_malloc_thresholds(
            "glibc.pthread.rseq=0:glibc.malloc.mmap_threshold=33554432"
        ));
        assert!(!sets_malloc_thresholds("glibc.malloc.mmap_threshold_max=1"));
    }

    use super::*;

    #[test]
    fn a_freed_buffer_serves_the_next_request_that_fits() {
        let mut pool = BufferPool::new();
        let buffer = vec![1.0f32; 1000];
        let address = buffer.as_ptr();
        pool.put(buffer);
        assert!(pool.take::<f64>(1000).is_none(), "another element type");
        assert!(pool.take::<f32>(1001).is_none(), "too small");
        assert!(
            pool.take::<f32>(799).is_none(),
            "more than a quarter larger than the request"
        );
        assert_eq!(pool.take::<f32>(800).map(|b| b.as_ptr()), Some(address));
        assert!(pool.take::<f32>(800).is_none(), "taken");
    }

    #[test]
    fn the_smallest_fitting_buffer_is_taken() {
        let mut pool = BufferPool::new();
        for len in [300, 100, 200] {
            pool.put(vec![0u8; len]);
        }
        assert_eq!(pool.take::<u8>(90).map(|b| b.capacity()), Some(100));
        assert_eq!(pool.take::<u8>(90).map(|b| b.capacity()), None);
        assert_eq!(pool.take::<u8>(170).map(|b| b.capacity()), Some(200));
    }

    #[test]
    fn the_oldest_buffers_go_beyond_the_limits() {
        let mut pool = BufferPool::new();
        for doubling in 0..=POOL_BUFFERS {
            pool.put(Vec::<u8>::with_capacity(1000 << doubling));
        }
        assert!(pool.take::<u8>(1000).is_none(), "the oldest is freed");
        assert!(pool.take::<u8>(2000).is_some());
        // Reserved, never touched: no memory is used for it.
        pool.put(Vec::<u8>::with_capacity(POOL_BYTES + 1));
        assert_eq!(pool.entries.len(), POOL_BUFFERS - 1, "too large to keep");
        pool.put(Vec::<u8>::with_capacity(POOL_BYTES - 1));
        assert_eq!(pool.entries.len(), 1, "the others freed for its bytes");
        pool.put(Vec::<u8>::new());
        assert_eq!(pool.entries.len(), 1, "no allocation to keep");
    }

    #[test]
    fn reused_buffers_have_the_requested_length() {
        for len in [7, 3, 7, 12] {
            assert_eq!(reused::<u16>(len).len(), len);
        }
    }
}

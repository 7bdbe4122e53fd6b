//! Large buffers backed by transparent huge pages where Linux offers them on request
//! (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise`, a common default). A
//! spectrum is tens of MiB written once; faulting it in 4 KiB pages costs about as much as
//! transforming it (measured: 40 ms of a 190 ms training step at k7), 2 MiB pages a 512th of
//! the faults. The buffers stay ordinary `Vec`s, freed by the global allocator.

use std::mem::MaybeUninit;

use rayon::iter::ParallelExtend;

/// An empty `Vec` with room for `len` values, whose untouched pages the OS may back with
/// huge pages.
pub(crate) fn with_capacity<V>(len: usize) -> Vec<V> {
    let mut buffer = Vec::with_capacity(len);
    advise_huge_pages(buffer.spare_capacity_mut());
    buffer
}

/// `len` default values, in a buffer from [`with_capacity`], written by all of rayon's
/// threads: each first touch of a page is a fault, and one thread filling tens of MiB for
/// sixteen was a serial part of every pass.
pub(crate) fn filled<V: Clone + Default + Send>(len: usize) -> Vec<V> {
    let mut buffer = with_capacity(len);
    buffer.par_extend(rayon::iter::repeat_n(V::default(), len));
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

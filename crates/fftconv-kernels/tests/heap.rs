//! `keep_freed_memory_mapped`: a freed block serves the next allocation without page faults.
//! Its own test binary, as it changes the process's allocator settings.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use fftconv_kernels::keep_freed_memory_mapped;

/// Page faults of the calling thread that mapped a page without reading a disk.
fn minor_faults() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes the struct it is given, which lives on this frame.
    let status = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    assert_eq!(status, 0, "getrusage(RUSAGE_THREAD)");
    // SAFETY: written by the successful call above.
    unsafe { usage.assume_init() }.ru_minflt
}

#[test]
fn freed_blocks_stay_mapped_for_the_next_allocation() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let thresholds = [
        "glibc.malloc.mmap_threshold=",
        "glibc.malloc.trim_threshold=",
    ];
    if tunables
        .split(':')
        .any(|entry| thresholds.iter().any(|t| entry.starts_with(t)))
    {
        assert!(!keep_freed_memory_mapped(), "the user's thresholds win");
        return;
    }
    assert!(keep_freed_memory_mapped());
    // Below the 32 MiB from which blocks get mappings of their own; written in full.
    const BYTES: usize = 24 << 20;
    let write_block = || drop(std::hint::black_box(vec![1u8; BYTES]));
    write_block();
    let before = minor_faults();
    for _ in 0..3 {
        write_block();
    }
    let faults = minor_faults() - before;
    let pages = (BYTES / 4096) as i64;
    assert!(
        faults < pages / 8,
        "{faults} page faults writing freed blocks of {pages} pages again: the memory went back to the OS"
    );
}

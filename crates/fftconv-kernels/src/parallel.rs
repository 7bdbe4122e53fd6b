//! Which loops the kernels split among rayon's threads.
//!
//! Work is counted in units of about 0.15 ns on one core of the workplace's Xeon: a point of a
//! transform times the bits of its length, one complex multiply-add of a product, or half a
//! byte written for the first time.

use rayon::iter::{IndexedParallelIterator, MinLen};

/// The work (some 40 µs) below which a loop is not worth handing to rayon's threads: waking a
/// sleeping worker, and the hand-overs that follow, cost some 5-20 µs a loop.
const MIN_PARALLEL_WORK: usize = 1 << 18;

/// A parallel loop run whole on the caller's thread, waking no other, when all its items'
/// work is less than [`MIN_PARALLEL_WORK`]; else split as rayon splits it.
pub(crate) trait SplitIfWorth: IndexedParallelIterator {
    /// The loop, of items of `item_work` each, as [`SplitIfWorth`] runs it.
    fn split_if_worth(self, item_work: usize) -> MinLen<Self> {
        let items = self.len();
        self.with_min_len(items_per_task(items, item_work))
    }
}

impl<I: IndexedParallelIterator> SplitIfWorth for I {}

/// The fewest items a task takes (rayon's `with_min_len`): all of them for a small loop.
fn items_per_task(items: usize, item_work: usize) -> usize {
    if items.saturating_mul(item_work) < MIN_PARALLEL_WORK {
        items.max(1)
    } else {
        1
    }
}

/// The work of writing `bytes` for the first time: about 0.3 ns a byte, most of it the fault
/// and zeroing of each new page.
pub(crate) fn first_touch_work(bytes: usize) -> usize {
    2 * bytes
}

/// The work of one transform of `points` points.
pub(crate) fn transform_work(points: usize) -> usize {
    points * (usize::BITS - points.leading_zeros()) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn small_loops_stay_whole_and_large_ones_split_freely() {
        assert_eq!(items_per_task(10, 1), 10);
        assert_eq!(items_per_task(0, 1), 1);
        assert_eq!(items_per_task(2, MIN_PARALLEL_WORK / 2 - 1), 2);
        assert_eq!(items_per_task(2, MIN_PARALLEL_WORK / 2), 1);
        assert_eq!(items_per_task(usize::MAX, 2), 1);
        assert_eq!(transform_work(1024), 1024 * 11);
        assert_eq!(transform_work(1), 1);
    }

    #[test]
    fn a_small_loop_runs_on_the_callers_thread() {
        let caller = std::thread::current().id();
        let threads: Vec<_> = (0..64)
            .into_par_iter()
            .split_if_worth(1)
            .map(|_| std::thread::current().id())
            .collect();
        assert!(threads.iter().all(|&id| id == caller));
    }
}

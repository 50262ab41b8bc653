//! Per-core shards of hot counters: a thread writes its own shard, so threads on different
//! cores do not write the same cache lines; readers add the shards up.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

/// Shards per counter set: the cores this process may use, as a power of two, at most 8.
pub(crate) fn count() -> usize {
    static SHARDS: OnceLock<usize> = OnceLock::new();
    *SHARDS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.next_power_of_two().min(8)
    })
}

/// This thread's shard, below [`count`] (threads are numbered in the order they first ask).
#[inline]
pub(crate) fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed);
    }
    SHARD.try_with(|s| *s).unwrap_or(0) & (count() - 1)
}

//! The table an `atexit` hook reads, so that a normal exit (`std::process::exit` from a
//! second Ctrl-C included) never leaves a target stopped or a stressor running, even when
//! the [`Pause`](crate::Pause) or [`Stressor`](crate::Stressor) that owns them never drops.
//!
//! Slots are plain atomics in fixed arrays: registering allocates nothing and the hook
//! takes no lock for them (it only `try_lock`s the list of io files, which is not
//! essential: a worker left without its parent removes its own file).

use crate::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};

const SLOTS: usize = 1024;

static PAUSED: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static WORKERS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static IO_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// Process groups to continue (`SIGCONT`).
    Paused,
    /// Stressor workers to kill (`SIGKILL`).
    Workers,
}

impl Table {
    fn slots(self) -> &'static [AtomicI32; SLOTS] {
        match self {
            Table::Paused => &PAUSED,
            Table::Workers => &WORKERS,
        }
    }
}

/// A taken slot; give it back with [`release`].
#[derive(Debug)]
pub(crate) struct Slot {
    table: Table,
    index: usize,
}

/// Puts `value` (a pgid or pid, > 0) into a free slot of `table`.
pub(crate) fn register(table: Table, value: i32) -> Result<Slot, Error> {
    HOOK.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe {
            libc::atexit(at_exit);
        }
    });
    for (index, slot) in table.slots().iter().enumerate() {
        if slot
            .compare_exchange(0, value, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Ok(Slot { table, index });
        }
    }
    Err(Error::Stressor(format!(
        "more than {SLOTS} {} at once",
        match table {
            Table::Paused => "paused process groups",
            Table::Workers => "stressor workers",
        }
    )))
}

/// Frees a slot.
pub(crate) fn release(slot: Slot) {
    slot.table.slots()[slot.index].store(0, Ordering::SeqCst);
}

/// Remembers an io stressor's file, for the hook to remove.
pub(crate) fn add_file(path: PathBuf) {
    if let Ok(mut files) = IO_FILES.lock() {
        files.push(path);
    }
}

/// Forgets an io stressor's file (removed by its owner).
pub(crate) fn forget_file(path: &std::path::Path) {
    if let Ok(mut files) = IO_FILES.lock() {
        files.retain(|p| p != path);
    }
}

extern "C" fn at_exit() {
    for slot in &PAUSED {
        let pgid = slot.swap(0, Ordering::SeqCst);
        if pgid > 1 {
            // SAFETY: killpg(2) with a group we stopped.
            unsafe {
                libc::killpg(pgid, libc::SIGCONT);
            }
        }
    }
    for slot in &WORKERS {
        let pid = slot.swap(0, Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) on our own unreaped child (its pid cannot have been reused).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    // `try_lock`: a thread that held the lock when exit() was called cannot release it.
    if let Ok(files) = IO_FILES.try_lock() {
        for path in files.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_and_given_back() {
        let a = register(Table::Paused, i32::MAX - 1).unwrap();
        let b = register(Table::Paused, i32::MAX - 2).unwrap();
        assert_ne!(a.index, b.index);
        assert_eq!(PAUSED[a.index].load(Ordering::SeqCst), i32::MAX - 1);
        let index = a.index;
        release(a);
        assert_eq!(PAUSED[index].load(Ordering::SeqCst), 0);
        release(b);
    }
}

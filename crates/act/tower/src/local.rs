//! Per-thread references to shared state.
//!
//! A call's future must own a reference to the state it records into, since it is
//! `'static`. Cloning one `Arc` from every thread makes its reference count the most
//! contended word of a call path (about 35 ns more per call with two threads on the bench
//! machine). Instead each thread keeps its own `Arc<Local<T>>` for the few states it used
//! last, and a call clones that: the count it touches belongs to its thread. The price: a
//! thread keeps up to [`SLOTS`] states of each type (breakers, metrics stores) alive until it
//! uses others or exits.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

/// A thread's reference to one shared state.
#[derive(Debug)]
pub(crate) struct Local<T> {
    pub(crate) shared: Arc<T>,
}

/// States of one type a thread keeps a reference to; a thread using more than this many in
/// turn allocates a `Local` when it misses.
pub(crate) const SLOTS: usize = 4;

/// A thread's cache for one type of state, declared by its user:
/// `thread_local! { static LOCALS: Cache<Shared> = const { RefCell::new([None, None, None, None]) }; }`
/// (one cache per type keeps the lookup a pointer comparison, with no downcast).
pub(crate) type Cache<T> = RefCell<[Option<Arc<Local<T>>>; SLOTS]>;

/// This thread's reference to `shared`, from `cache`.
#[inline]
pub(crate) fn local<T>(cache: &'static LocalKey<Cache<T>>, shared: &Arc<T>) -> Arc<Local<T>> {
    let found = cache.try_with(|slots| {
        let mut slots = slots.borrow_mut();
        if let Some(hit) = slots
            .iter()
            .flatten()
            .find(|l| Arc::ptr_eq(&l.shared, shared))
        {
            return hit.clone();
        }
        let fresh = Arc::new(Local {
            shared: shared.clone(),
        });
        slots.rotate_right(1);
        slots[0] = Some(fresh.clone());
        fresh
    });
    // Only while the thread is being torn down is its storage gone.
    found.unwrap_or_else(|_| {
        Arc::new(Local {
            shared: shared.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static STRINGS: Cache<String> = const { RefCell::new([None, None, None, None]) };
    }

    #[test]
    fn a_thread_reuses_its_reference_and_keeps_only_a_few() {
        let states: Vec<Arc<String>> = (0..=SLOTS).map(|i| Arc::new(i.to_string())).collect();
        let first = local(&STRINGS, &states[0]);
        assert!(Arc::ptr_eq(&first, &local(&STRINGS, &states[0])));
        std::thread::scope(|s| {
            s.spawn(|| {
                let theirs = local(&STRINGS, &states[0]);
                assert!(!Arc::ptr_eq(&first, &theirs), "another thread has its own");
            });
        });
        for state in &states[1..] {
            local(&STRINGS, state);
        }
        // The first state was evicted: a new reference, and the old one is its only holder.
        assert!(!Arc::ptr_eq(&first, &local(&STRINGS, &states[0])));
        assert_eq!(Arc::strong_count(&first), 1);
    }
}

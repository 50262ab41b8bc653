//! Per-thread references to a breaker's shared state.
//!
//! Each call's permit must own a reference to the shared state, since its future is
//! `'static`. Cloning the one `Arc` from every thread makes its reference count the most
//! contended word of the call path (about 35 ns more per call with two threads on the bench
//! machine). Instead each thread keeps its own `Arc<Local>` for the few breakers it used last,
//! and a permit clones that: the count it touches belongs to its thread. The price: a thread
//! keeps up to [`SLOTS`] breakers alive until it uses others or exits.

use super::shared::Shared;
use std::cell::RefCell;
use std::sync::Arc;

/// A thread's reference to one breaker.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
}

/// Breakers a thread keeps a reference to; a service calling more than this many breakers
/// in turn on one thread allocates a `Local` when it misses.
const SLOTS: usize = 4;

thread_local! {
    static LOCALS: RefCell<[Option<Arc<Local>>; SLOTS]> = const { RefCell::new([None, None, None, None]) };
}

/// This thread's reference to `shared`.
#[inline]
pub(crate) fn local(shared: &Arc<Shared>) -> Arc<Local> {
    let found = LOCALS.try_with(|slots| {
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
    use crate::breaker::BreakerConfig;
    use crate::Clock;

    #[test]
    fn a_thread_reuses_its_reference_and_keeps_only_a_few() {
        let handles: Vec<_> = (0..SLOTS + 1)
            .map(|_| {
                BreakerConfig::default()
                    .build_with_clock(Clock::manual())
                    .unwrap()
            })
            .collect();
        let first = local(&handles[0].shared);
        assert!(Arc::ptr_eq(&first, &local(&handles[0].shared)));
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    !Arc::ptr_eq(&first, &local(&handles[0].shared)),
                    "another thread has its own"
                )
            });
        });
        for handle in &handles[1..] {
            local(&handle.shared);
        }
        // The first breaker was evicted: a new reference, and the old one is its only holder.
        assert!(!Arc::ptr_eq(&first, &local(&handles[0].shared)));
        assert_eq!(Arc::strong_count(&first), 1);
    }
}

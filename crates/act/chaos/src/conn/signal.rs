//! How a proxy tells its live connections that the toxics changed, without a shared lock
//! on the data path.
//!
//! A tokio `watch` receiver would do, but polling a waiting `changed()` takes the channel's
//! mutex, and every connection of a proxy shares that channel: on the plain relay, every
//! wake of every connection would contend on one lock. Here a connection checks a version
//! number (one atomic load) and keeps its waker in a slot of its own, stored once; the
//! proxy, on the rare change, bumps the version and wakes every slot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;

/// One connection's waker.
#[derive(Default)]
pub(crate) struct Slot {
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.waker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A proxy's change signal.
#[derive(Default)]
pub(crate) struct Signals {
    version: AtomicU64,
    slots: Mutex<Vec<Weak<Slot>>>,
}

impl Signals {
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A slot for a new connection (one lock per connection, not per wake).
    pub(crate) fn subscribe(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Prune closed connections whenever the list doubles: amortised O(1) per connection.
        if slots.len() >= 64 && slots.len().is_power_of_two() {
            slots.retain(|s| s.strong_count() > 0);
        }
        slots.push(Arc::downgrade(&slot));
        slot
    }

    /// After the new chain is published: every connection looks again.
    pub(crate) fn notify(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        let wakers: Vec<Waker> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.retain(|s| s.strong_count() > 0);
            slots
                .iter()
                .filter_map(Weak::upgrade)
                .filter_map(|s| s.lock().take())
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// A connection's view: has the version moved since `seen`? Registers the task's waker
/// first (only when it differs from the one stored), so a change between the check and
/// the next wait still wakes the task.
pub(crate) struct Watch {
    signals: Arc<Signals>,
    slot: Arc<Slot>,
    registered: Option<Waker>,
}

impl Watch {
    pub(crate) fn new(signals: Arc<Signals>) -> Self {
        let slot = signals.subscribe();
        Watch {
            signals,
            slot,
            registered: None,
        }
    }

    pub(crate) fn version(&self) -> u64 {
        self.signals.version()
    }

    pub(crate) fn changed_since(&mut self, seen: u64, waker: &Waker) -> bool {
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *self.slot.lock() = Some(waker.clone());
            self.registered = Some(waker.clone());
        }
        let changed = self.signals.version() != seen;
        if changed {
            // The proxy may have taken the stored waker; store it again next time.
            self.registered = None;
        }
        changed
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.slot.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_change_wakes_each_registered_connection_once() {
        let signals = Arc::new(Signals::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut a = Watch::new(signals.clone());
        let mut b = Watch::new(signals.clone());
        let seen = a.version();
        assert!(!a.changed_since(seen, &waker));
        assert!(!b.changed_since(seen, &waker));
        signals.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(a.changed_since(seen, &waker));
        assert!(!a.changed_since(signals.version(), &waker));
        drop(b);
        signals.notify();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            3,
            "a dropped watch is not woken"
        );
    }

    #[test]
    fn closed_connections_are_pruned() {
        let signals = Signals::default();
        for _ in 0..1000 {
            drop(signals.subscribe());
        }
        assert!(signals.slots.lock().unwrap().len() < 600);
    }
}

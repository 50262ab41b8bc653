//! Sleeps precise to well under a millisecond, for the toxic path's release times.
//!
//! tokio's timer rounds every deadline up to its 1 ms tick and the reactor's wait adds up
//! to another: a 50 ms latency toxic measured +1.5 ms at the median. A chaos tool whose
//! latency is the experiment should not add its own. One thread keeps a heap of deadlines
//! and sleeps on a condition variable until the earliest (the kernel's high-resolution
//! timers wake it within tens of microseconds), then wakes the tasks that are due.
//! A dropped sleep clears its waker, so cancelled deadlines wake nobody.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

struct Slot {
    at: Instant,
    waker: Mutex<Option<Waker>>,
}

/// Heap entry: earliest deadline first.
struct Due(Arc<Slot>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0.at == other.0.at
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.at.cmp(&self.0.at)
    }
}

struct Timer {
    heap: Mutex<BinaryHeap<Due>>,
    changed: Condvar,
}

/// The timer, started on first use; `None` if its thread could not start.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        // Lives as long as the process, like the thread that serves it.
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("ballast-chaos-timer".into())
            .spawn(move || run(timer))
        {
            Ok(_) => Some(timer),
            Err(e) => {
                tracing::warn!(error = %e, "no precise timer thread: using tokio's timer");
                None
            }
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their data inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(timer: &'static Timer) {
    let mut due = Vec::new();
    let mut heap = lock(&timer.heap);
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|top| top.0.at <= now) {
            if let Some(Due(slot)) = heap.pop() {
                due.push(slot);
            }
        }
        if !due.is_empty() {
            drop(heap);
            for slot in due.drain(..) {
                if let Some(waker) = lock(&slot.waker).take() {
                    waker.wake();
                }
            }
            heap = lock(&timer.heap);
            continue;
        }
        heap = match heap.peek().map(|top| top.0.at) {
            None => timer
                .changed
                .wait(heap)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(at) => {
                timer
                    .changed
                    .wait_timeout(heap, at.saturating_duration_since(now))
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
        };
    }
}

/// Completes at `at`, within tens of microseconds.
pub(crate) fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        at,
        slot: None,
        fallback: None,
    }
}

pub(crate) struct Sleep {
    at: Instant,
    slot: Option<Arc<Slot>>,
    fallback: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if let Some(fallback) = self.fallback.as_mut() {
            return fallback.as_mut().poll(cx);
        }
        match &self.slot {
            Some(slot) => {
                let mut waker = lock(&slot.waker);
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
            }
            None => {
                let Some(timer) = timer() else {
                    let mut fallback = Box::pin(tokio::time::sleep_until(self.at.into()));
                    let poll = fallback.as_mut().poll(cx);
                    self.fallback = Some(fallback);
                    return poll;
                };
                let slot = Arc::new(Slot {
                    at: self.at,
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                let mut heap = lock(&timer.heap);
                let earliest = heap.peek().is_none_or(|top| self.at < top.0.at);
                heap.push(Due(slot.clone()));
                drop(heap);
                if earliest {
                    timer.changed.notify_one();
                }
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            lock(&slot.waker).take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sleeps_end_on_time_to_a_fraction_of_a_millisecond() {
        let mut late = Vec::new();
        for _ in 0..20 {
            let at = Instant::now() + Duration::from_millis(3);
            sleep_until(at).await;
            late.push(Instant::now() - at);
        }
        late.sort();
        assert!(
            late[10] < Duration::from_micros(500),
            "median lateness {:?}",
            late[10]
        );
    }

    #[tokio::test]
    async fn a_dropped_sleep_wakes_nobody_and_others_still_fire() {
        let far = sleep_until(Instant::now() + Duration::from_millis(5));
        let mut far = Box::pin(far);
        // Register it, then drop it before it is due.
        assert!(futures_poll_once(far.as_mut()).is_pending());
        drop(far);
        sleep_until(Instant::now() + Duration::from_millis(10)).await;
    }

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn futures_poll_once(f: Pin<&mut Sleep>) -> Poll<()> {
        let waker = Waker::from(Arc::new(Noop));
        f.poll(&mut Context::from_waker(&waker))
    }
}

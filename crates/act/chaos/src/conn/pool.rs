//! Relay threads: each runs a single-threaded runtime of its own, and every connection
//! lives its whole life on one of them (thread-per-core, as haproxy and nginx do).
//!
//! Why: on tokio's work-stealing runtime a wake can move a connection's task to the other
//! worker, and the two workers hand tasks and wake-ups to each other; measured with wrk
//! through the proxy, pinning each connection to one thread served more requests per
//! second with the same CPU (see docs/PERFORMANCE.md).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Handle;

pub(crate) struct RelayPool {
    threads: Vec<RelayThread>,
}

struct RelayThread {
    handle: Handle,
    /// Connections running on it now: a new one goes to the least busy thread, so
    /// long-lived connections opened in bursts do not pile up on one core.
    connections: Arc<AtomicUsize>,
}

/// Counts a connection on its thread for as long as the task lives (also when aborted).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RelayPool {
    /// The process's pool: one relay thread per CPU (at most 16), started on first use.
    pub(crate) fn global() -> &'static RelayPool {
        static POOL: OnceLock<RelayPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(16);
            RelayPool::start(threads)
        })
    }

    fn start(threads: usize) -> RelayPool {
        let mut started = Vec::with_capacity(threads);
        for index in 0..threads {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name(format!("ballast-relay-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            tracing::error!(error = %e, "relay thread cannot start its runtime");
                            return;
                        }
                    };
                    let _ = tx.send(runtime.handle().clone());
                    runtime.block_on(std::future::pending::<()>());
                });
            if spawned.is_ok() {
                if let Ok(handle) = rx.recv() {
                    started.push(RelayThread {
                        handle,
                        connections: Arc::default(),
                    });
                }
            }
        }
        RelayPool { threads: started }
    }

    /// Runs `task` on the relay thread with the fewest connections, or on the caller's
    /// runtime when no relay thread could start.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(thread) = self
            .threads
            .iter()
            .min_by_key(|t| t.connections.load(Ordering::Relaxed))
        else {
            tokio::spawn(task);
            return;
        };
        thread.connections.fetch_add(1, Ordering::Relaxed);
        let running = Running(thread.connections.clone());
        thread.handle.spawn(async move {
            let _running = running;
            task.await
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_connections_go_to_the_least_busy_thread() {
        let pool = RelayPool::start(2);
        assert_eq!(pool.threads.len(), 2);
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let (done_tx, done) = std::sync::mpsc::channel();
        // Three long connections: two land on one thread, one on the other.
        for _ in 0..3 {
            let held = held.clone();
            pool.spawn(async move {
                let _ = tokio::task::spawn_blocking(move || {
                    let _ = held.lock().map(|rx| rx.recv());
                })
                .await;
            });
        }
        let counts: Vec<usize> = pool
            .threads
            .iter()
            .map(|t| t.connections.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 3);
        assert!(counts.iter().all(|&c| c >= 1), "{counts:?}");
        for _ in 0..3 {
            hold.send(()).unwrap();
        }
        // A short one ends and its count goes back down.
        pool.spawn(async move {
            let _ = done_tx.send(());
        });
        done.recv().unwrap();
        for _ in 0..200 {
            let total: usize = pool
                .threads
                .iter()
                .map(|t| t.connections.load(Ordering::Relaxed))
                .sum();
            if total == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("finished connections are still counted");
    }
}

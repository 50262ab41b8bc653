//! Runtime probe (seed ch.1 runtime anchors): tokio and process gauges sampled periodically,
//! and a trend test that raises `task_leak_suspected` on sustained growth of alive tasks.
//!
//! [`RuntimeProbeConfig`] → [`build`](RuntimeProbeConfig::build) → [`RuntimeProbe`];
//! [`RuntimeProbe::spawn`] samples the current runtime every `interval` until the probe is
//! dropped.
//!
//! Only tokio's *stable* runtime metrics are read, so no `--cfg tokio_unstable` build is
//! needed: workers, alive tasks and the global (injection) queue depth. Per-worker local
//! queues, poll counts, steal counts and scheduling histograms need `tokio_unstable` and are
//! not read. Resident memory and open file descriptors come from `/proc/self` (Linux; absent
//! elsewhere).

mod probe;
mod trend;

pub use probe::{RuntimeProbe, RuntimeProbeConfig, RuntimeSample, TrendVerdict};
pub use trend::{theil_sen_slope, trend, Trend};

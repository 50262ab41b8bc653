//! The sampler and its verdicts.

use super::trend::{median, trend, Trend};
use crate::Error;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// The runtime probe (contract key `runtime_probe:`, or code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeProbeConfig {
    /// Time between samples. Default: 1 s.
    #[serde(default = "default_interval", with = "crate::duration_text")]
    pub interval: Duration,
    /// Samples the trend test looks back over. Default: 300 (5 min at 1 s).
    #[serde(default = "default_history")]
    pub history: u32,
    /// Samples needed before judging. Default: 60.
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// Mann–Kendall p-value below which growth counts as real. Default: 0.001.
    #[serde(default = "default_significance")]
    pub significance: f64,
    /// Growth over the history, relative to its median, that matters. Default: 0.2 (20 %).
    #[serde(default = "default_min_growth")]
    pub min_growth: f64,
    /// ... and in absolute terms (tasks, fds; MiB for memory). Default: 10.
    #[serde(default = "default_min_absolute_growth")]
    pub min_absolute_growth: f64,
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_history() -> u32 {
    300
}
fn default_min_samples() -> u32 {
    60
}
fn default_significance() -> f64 {
    0.001
}
fn default_min_growth() -> f64 {
    0.2
}
fn default_min_absolute_growth() -> f64 {
    10.0
}

impl Default for RuntimeProbeConfig {
    fn default() -> Self {
        RuntimeProbeConfig {
            interval: default_interval(),
            history: default_history(),
            min_samples: default_min_samples(),
            significance: default_significance(),
            min_growth: default_min_growth(),
            min_absolute_growth: default_min_absolute_growth(),
        }
    }
}

impl RuntimeProbeConfig {
    /// Checks the settings; the probe samples nothing until [`RuntimeProbe::spawn`] or
    /// [`RuntimeProbe::record`].
    pub fn build(&self) -> Result<RuntimeProbe, Error> {
        let invalid =
            |field: &'static str, message: String| Err(Error::InvalidConfig { field, message });
        if self.interval < Duration::from_millis(10) {
            return invalid(
                "interval",
                format!("expected at least 10ms, got {:?}", self.interval),
            );
        }
        // The test is O(n²) in the history; 2,000 samples is 2 million pairs per sample.
        if !(3..=2000).contains(&self.history) {
            return invalid(
                "history",
                format!("expected 3..=2000 samples, got {}", self.history),
            );
        }
        if self.min_samples < 3 || self.min_samples > self.history {
            return invalid(
                "min_samples",
                format!(
                    "expected 3..=history ({}), got {}",
                    self.history, self.min_samples
                ),
            );
        }
        if !(self.significance > 0.0 && self.significance < 0.5) {
            return invalid(
                "significance",
                format!("expected a p-value in (0, 0.5), got {}", self.significance),
            );
        }
        if !(self.min_growth.is_finite()
            && self.min_growth >= 0.0
            && self.min_absolute_growth.is_finite()
            && self.min_absolute_growth >= 0.0)
        {
            return invalid(
                "min_growth",
                "expected numbers ≥ 0 for min_growth and min_absolute_growth".into(),
            );
        }
        let (leak, _) = watch::channel(false);
        Ok(RuntimeProbe {
            inner: Arc::new(Inner {
                config: self.clone(),
                state: Mutex::new(State::default()),
                leak,
            }),
        })
    }
}

/// One sample of the runtime and the process.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RuntimeSample {
    /// tokio worker threads.
    pub workers: usize,
    /// Tasks alive (spawned, not yet finished).
    pub alive_tasks: usize,
    /// Tasks waiting in the global (injection) queue.
    pub global_queue_depth: usize,
    /// Resident memory, bytes (`/proc/self/status` VmRSS).
    pub rss_bytes: Option<u64>,
    /// Open file descriptors (`/proc/self/fd`).
    pub open_fds: Option<u64>,
}

impl RuntimeSample {
    /// Samples `runtime` and this process now.
    pub fn take(runtime: &tokio::runtime::Handle) -> RuntimeSample {
        let metrics = runtime.metrics();
        RuntimeSample {
            workers: metrics.num_workers(),
            alive_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
            rss_bytes: rss_bytes(),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as u64),
        }
    }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The trend of one series and whether it looks like a leak.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendVerdict {
    /// Slope and significance.
    pub trend: Trend,
    /// Growth over the history (slope × span).
    pub growth: f64,
    /// Significant, positive, and large enough (relative and absolute) to matter.
    pub suspected: bool,
}

#[derive(Default)]
struct State {
    samples: VecDeque<RuntimeSample>,
    tasks: Option<TrendVerdict>,
    rss: Option<TrendVerdict>,
    fds: Option<TrendVerdict>,
}

struct Inner {
    config: RuntimeProbeConfig,
    state: Mutex<State>,
    leak: watch::Sender<bool>,
}

/// A running probe; clones share it.
#[derive(Clone)]
pub struct RuntimeProbe {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeProbe")
            .field("task_leak_suspected", &self.task_leak_suspected())
            .finish_non_exhaustive()
    }
}

impl RuntimeProbe {
    /// Samples the current tokio runtime every `interval` until every clone of the probe is
    /// dropped. Call from inside the runtime.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let interval = self.inner.config.interval;
        let runtime = tokio::runtime::Handle::current();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // Ends with the probe: the loop holds only a weak reference.
                let Some(inner) = weak.upgrade() else { return };
                RuntimeProbe { inner }.record(RuntimeSample::take(&runtime));
            }
        })
    }

    /// Adds a sample and re-runs the trend tests (what `spawn` does every interval).
    pub fn record(&self, sample: RuntimeSample) {
        let config = &self.inner.config;
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.samples.push_back(sample);
        while state.samples.len() > config.history as usize {
            state.samples.pop_front();
        }
        if state.samples.len() < config.min_samples as usize {
            return;
        }
        let series = |pick: &dyn Fn(&RuntimeSample) -> Option<f64>| -> Option<Vec<f64>> {
            state.samples.iter().map(pick).collect()
        };
        let tasks = series(&|s| Some(s.alive_tasks as f64)).map(|ys| verdict(config, &ys));
        let rss = series(&|s| s.rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0)))
            .map(|ys| verdict(config, &ys));
        let fds = series(&|s| s.open_fds.map(|n| n as f64)).map(|ys| verdict(config, &ys));
        let suspected = tasks.is_some_and(|v| v.suspected);
        let was = state.tasks.is_some_and(|v| v.suspected);
        (state.tasks, state.rss, state.fds) = (tasks, rss, fds);
        drop(state);
        if suspected != was {
            if suspected {
                let v = tasks.expect("suspected implies a verdict");
                tracing::warn!(
                    slope_per_sample = v.trend.slope,
                    p_value = v.trend.p_value,
                    growth = v.growth,
                    "task_leak_suspected"
                );
            } else {
                tracing::info!("task leak no longer suspected");
            }
            self.inner.leak.send_replace(suspected);
        }
    }

    /// Whether alive tasks grow significantly (the `task_leak_suspected` signal).
    pub fn task_leak_suspected(&self) -> bool {
        *self.inner.leak.borrow()
    }

    /// The signal as a stream: changes to `true` when a leak is suspected, back to `false`
    /// when the growth stops.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.leak.subscribe()
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<RuntimeSample> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .samples
            .back()
            .copied()
    }

    /// Verdicts for alive tasks, resident memory (MiB) and open fds (`None` before
    /// `min_samples`, or when the series is unavailable).
    pub fn verdicts(&self) -> [Option<TrendVerdict>; 3] {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        [state.tasks, state.rss, state.fds]
    }

    /// Adds the `ballast_runtime_*` gauges.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(ProbeCollector(self.clone())));
    }
}

fn verdict(config: &RuntimeProbeConfig, ys: &[f64]) -> TrendVerdict {
    let trend = trend(ys);
    let growth = trend.slope * (ys.len() - 1) as f64;
    let level = median(&mut ys.to_vec()).abs();
    let suspected = trend.p_value < config.significance
        && trend.slope > 0.0
        && growth >= config.min_absolute_growth
        && growth >= config.min_growth * level;
    TrendVerdict {
        trend,
        growth,
        suspected,
    }
}

#[derive(Debug)]
struct ProbeCollector(RuntimeProbe);

impl Collector for ProbeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let probe = &self.0;
        let Some(sample) = probe.latest() else {
            return Ok(());
        };
        let [tasks, rss, fds] = probe.verdicts();
        let mut gauges: Vec<(&str, &str, f64)> = vec![
            (
                "ballast_runtime_workers",
                "tokio worker threads",
                sample.workers as f64,
            ),
            (
                "ballast_runtime_alive_tasks",
                "tokio tasks alive",
                sample.alive_tasks as f64,
            ),
            (
                "ballast_runtime_global_queue_depth",
                "tokio tasks waiting in the global queue",
                sample.global_queue_depth as f64,
            ),
            (
                "ballast_runtime_task_leak_suspected",
                "1 while alive tasks grow significantly (Mann-Kendall)",
                f64::from(u8::from(probe.task_leak_suspected())),
            ),
        ];
        if let Some(rss) = sample.rss_bytes {
            gauges.push((
                "ballast_runtime_resident_memory_bytes",
                "Resident memory of the process",
                rss as f64,
            ));
        }
        if let Some(fds) = sample.open_fds {
            gauges.push((
                "ballast_runtime_open_fds",
                "Open file descriptors of the process",
                fds as f64,
            ));
        }
        for (name, verdict, help) in [
            (
                "ballast_runtime_alive_tasks_slope",
                tasks,
                "Theil-Sen slope of alive tasks per sample",
            ),
            (
                "ballast_runtime_resident_memory_mib_slope",
                rss,
                "Theil-Sen slope of resident memory, MiB per sample",
            ),
            (
                "ballast_runtime_open_fds_slope",
                fds,
                "Theil-Sen slope of open fds per sample",
            ),
        ] {
            if let Some(v) = verdict {
                gauges.push((name, help, v.trend.slope));
            }
        }
        for (name, help, value) in gauges {
            encoder
                .encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(tasks: usize) -> RuntimeSample {
        RuntimeSample {
            workers: 2,
            alive_tasks: tasks,
            ..Default::default()
        }
    }

    #[test]
    fn a_sustained_climb_raises_the_signal_and_a_plateau_clears_it() {
        let config = RuntimeProbeConfig {
            history: 60,
            min_samples: 30,
            ..Default::default()
        };
        let probe = config.build().unwrap();
        let mut signal = probe.subscribe();
        let mut rng = 7u64;
        let mut noise = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 11) as usize
        };
        // Steady around 200 with noise: nothing.
        for _ in 0..60 {
            probe.record(sample(195 + noise()));
        }
        assert!(!probe.task_leak_suspected(), "{:?}", probe.verdicts()[0]);
        // Leaking one task per sample on top of the noise.
        for i in 0..60 {
            probe.record(sample(195 + i + noise()));
        }
        assert!(probe.task_leak_suspected(), "{:?}", probe.verdicts()[0]);
        assert!(signal.has_changed().unwrap());
        assert!(*signal.borrow_and_update());
        // The leak stops; once the history is flat again the signal clears.
        for _ in 0..60 {
            probe.record(sample(255 + noise()));
        }
        assert!(!probe.task_leak_suspected(), "{:?}", probe.verdicts()[0]);
    }

    #[test]
    fn tiny_growth_on_a_small_service_is_not_a_leak() {
        let probe = RuntimeProbeConfig {
            history: 60,
            min_samples: 30,
            ..Default::default()
        }
        .build()
        .unwrap();
        // 3 → 8 tasks: significant, but below the 10-task floor.
        for i in 0..60 {
            probe.record(sample(3 + i / 12));
        }
        let v = probe.verdicts()[0].unwrap();
        assert!(v.trend.p_value < 0.001 && !v.suspected, "{v:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn samples_the_runtime_and_the_process() {
        let s = RuntimeSample::take(&tokio::runtime::Handle::current());
        assert_eq!(s.workers, 2);
        assert!(s.rss_bytes.unwrap() > 1024 * 1024);
        assert!(s.open_fds.unwrap() >= 3);
        let probe = RuntimeProbeConfig {
            interval: Duration::from_millis(10),
            min_samples: 3,
            ..Default::default()
        }
        .build()
        .unwrap();
        let task = probe.spawn();
        while probe.latest().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut registry = Registry::default();
        probe.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("ballast_runtime_workers 2"), "{text}");
        drop((probe, registry));
        // The sampling loop ends with the probe.
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}

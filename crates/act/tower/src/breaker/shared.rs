//! The breaker itself: admission, recording, judgement and transitions, shared by every
//! clone of the service, the handle and the replay tool. Times are passed in (nanoseconds
//! on the breaker's clock) so the replay drives exactly this code with simulated time.

use super::config::{BreakerConfig, Mode, Thresholds};
use super::event::{Event, Transition};
use super::learn::{Learner, TripThresholds};
use super::state::{State, Word};
use super::window::{Counts, Outcome, Recorded, Window};
use crate::clock::nanos;
use crate::{Clock, Error};
use learning::Learning;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

// Learning from completed buckets, snapshots and rollbacks: the breaker's slow path.
#[path = "learning.rs"]
mod learning;

/// What admission decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Let through and not measured (disabled mode).
    Pass,
    /// Let through and measured; a probe names its half-open episode.
    Call { probe: Option<u64> },
    /// Refused.
    Reject,
}

/// Totals since the breaker was built, for metrics (call outcomes are counted by the window).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub rejected: AtomicU64,
    pub shadow_rejected: AtomicU64,
    pub probes: AtomicU64,
    pub opened: AtomicU64,
    pub rollbacks: AtomicU64,
}

/// Keeps a value on its own cache line, away from counters other cores write.
#[repr(align(64))]
pub(crate) struct Padded<T>(pub T);

pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) clock: Clock,
    pub(crate) call_timeout: Option<Duration>,
    word: Padded<AtomicU64>,
    mode: AtomicU8,
    /// The mode the breaker was built with, which "automatic" returns to.
    pub(crate) configured_mode: Mode,
    failure_rate_bits: AtomicU64,
    slow_rate_bits: AtomicU64,
    slow_ns: AtomicU64,
    window_from: AtomicU64,
    transitions: AtomicU64,
    minimum_calls: u64,
    open_for_ms: u64,
    probes: u8,
    window: Window,
    bucket_ns: u64,
    learning: Option<Mutex<Learning>>,
    events: broadcast::Sender<Event>,
    pub(crate) totals: Padded<Totals>,
}

const EVENT_CAPACITY: usize = 256;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(config: &BreakerConfig, clock: Clock) -> Result<Shared, Error> {
        let bucket_ns = (nanos(config.window) / u64::from(config.buckets)).max(1);
        let (learning, thresholds) = match &config.thresholds {
            Thresholds::Static(s) => (
                None,
                TripThresholds {
                    failure_rate: s.failure_rate,
                    slow_call_rate: s.slow_call_rate,
                    slow_call_duration: s.slow_call_duration,
                },
            ),
            Thresholds::Learned(l) => {
                let learner = Learner::new(l.clone())?;
                let thresholds = learner.thresholds();
                (
                    Some(Mutex::new(Learning {
                        learner,
                        transitions_seen: 0,
                        last_learned: None,
                    })),
                    thresholds,
                )
            }
        };
        let now_ms = clock.now_nanos() / 1_000_000;
        let shared = Shared {
            name: config.name.clone(),
            call_timeout: config.call_timeout,
            word: Padded(AtomicU64::new(Word::new(State::Closed, now_ms).pack())),
            mode: AtomicU8::new(mode_bits(config.mode)),
            configured_mode: config.mode,
            failure_rate_bits: AtomicU64::new(0),
            slow_rate_bits: AtomicU64::new(0),
            slow_ns: AtomicU64::new(0),
            window_from: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            minimum_calls: u64::from(config.minimum_calls),
            open_for_ms: (nanos(config.open_for) / 1_000_000).max(1),
            probes: config.half_open_probes as u8,
            window: Window::new(bucket_ns, config.buckets as usize, learning.is_some()),
            bucket_ns,
            learning,
            events: broadcast::channel(EVENT_CAPACITY).0,
            totals: Padded(Totals::default()),
            clock,
        };
        shared.publish(thresholds);
        Ok(shared)
    }

    // === admission ===

    /// `now` is read only when the state needs the time (not while closed, the common case:
    /// reading the clock is the dearest step of the call path).
    #[inline]
    pub(crate) fn admit(&self, now: impl Fn() -> u64) -> Admission {
        let mode = self.mode();
        match mode {
            Mode::Disabled => return Admission::Pass,
            Mode::ForcedOpen => return Admission::Reject,
            Mode::Enforce | Mode::MetricsOnly => {}
        }
        // Bounded: each retry follows another caller's successful swap.
        for _ in 0..64 {
            let bits = self.word.0.load(Acquire);
            let word = Word::unpack(bits);
            match word.state {
                State::Closed => return Admission::Call { probe: None },
                State::Open => {
                    let now_ns = now();
                    let now_ms = now_ns / 1_000_000;
                    if now_ms < word.since_ms + self.open_for_ms {
                        break;
                    }
                    // Open → HalfOpen: time is up, let probes through.
                    self.transition(bits, Word::new(State::HalfOpen, now_ms), now_ns);
                }
                State::HalfOpen if word.probes_admitted >= self.probes => break,
                State::HalfOpen => {
                    let next = Word {
                        probes_admitted: word.probes_admitted + 1,
                        ..word
                    };
                    if self
                        .word
                        .0
                        .compare_exchange(bits, next.pack(), AcqRel, Acquire)
                        .is_ok()
                    {
                        self.totals.0.probes.fetch_add(1, Relaxed);
                        return Admission::Call {
                            probe: Some(word.since_ms),
                        };
                    }
                }
            }
        }
        if mode == Mode::MetricsOnly {
            self.totals.0.shadow_rejected.fetch_add(1, Relaxed);
            return Admission::Call { probe: None };
        }
        Admission::Reject
    }

    /// Counts a refused call (when it is refused, not when admission is asked: a service
    /// may ask again before calling).
    pub(crate) fn count_refusal(&self) {
        self.totals.0.rejected.fetch_add(1, Relaxed);
    }

    /// Gives back a probe slot whose call never completed (its future was dropped).
    pub(crate) fn release_probe(&self, episode: u64) {
        for _ in 0..64 {
            let bits = self.word.0.load(Acquire);
            let word = Word::unpack(bits);
            if word.state != State::HalfOpen
                || word.since_ms != episode
                || word.probes_admitted == 0
            {
                return;
            }
            let next = Word {
                probes_admitted: word.probes_admitted - 1,
                ..word
            };
            if self
                .word
                .0
                .compare_exchange(bits, next.pack(), AcqRel, Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    // === recording ===

    /// Records a completed call and acts on it.
    #[inline]
    pub(crate) fn complete(
        &self,
        probe: Option<u64>,
        outcome: Outcome,
        latency_ns: u64,
        now_ns: u64,
    ) {
        let slow = outcome != Outcome::Timeout && latency_ns >= self.slow_ns.load(Relaxed);
        let recorded = self.window.record(now_ns, outcome, slow, latency_ns);
        let bad = outcome != Outcome::Success || slow;
        match probe {
            Some(episode) => self.probe_done(episode, bad, now_ns),
            None if bad => self.judge(now_ns),
            None => {}
        }
        if recorded == Recorded::NewBucket {
            self.on_new_bucket(now_ns);
        }
    }

    fn judge(&self, now_ns: u64) {
        let bits = self.word.0.load(Acquire);
        if Word::unpack(bits).state != State::Closed {
            return;
        }
        let counts = self.window.sum(now_ns, self.window_from.load(Acquire));
        if counts.calls() < self.minimum_calls {
            return;
        }
        let t = self.thresholds();
        if counts.failure_rate() >= t.failure_rate || counts.slow_rate() >= t.slow_call_rate {
            self.transition(bits, Word::new(State::Open, now_ns / 1_000_000), now_ns);
        }
    }

    fn probe_done(&self, episode: u64, bad: bool, now_ns: u64) {
        for _ in 0..64 {
            let bits = self.word.0.load(Acquire);
            let word = Word::unpack(bits);
            if word.state != State::HalfOpen || word.since_ms != episode {
                return; // the episode ended before this probe did
            }
            let next = if bad {
                Word::new(State::Open, now_ns / 1_000_000)
            } else if word.probe_successes + 1 >= self.probes {
                Word::new(State::Closed, now_ns / 1_000_000)
            } else {
                let next = Word {
                    probe_successes: word.probe_successes + 1,
                    ..word
                };
                if self
                    .word
                    .0
                    .compare_exchange(bits, next.pack(), AcqRel, Acquire)
                    .is_ok()
                {
                    return;
                }
                continue;
            };
            if self.transition(bits, next, now_ns) {
                return;
            }
        }
    }

    // === transitions ===

    /// Swaps `from` for `to`; the caller that wins reports the change. `false` if another
    /// caller changed the word first.
    fn transition(&self, from: u64, to: Word, now_ns: u64) -> bool {
        if to.state == State::Closed {
            // A closed breaker judges only what happened after it closed. Moved before the
            // swap, so no caller sees the breaker closed with the outage still in its window
            // (which only a closed breaker reads, so raising it early is harmless).
            self.window_from
                .store(self.window.index(now_ns) + 1, Release);
        }
        if self
            .word
            .0
            .compare_exchange(from, to.pack(), AcqRel, Acquire)
            .is_err()
        {
            return false;
        }
        let previous = Word::unpack(from).state;
        self.transitions.fetch_add(1, AcqRel);
        let window = self.window.sum(now_ns, self.window_from.load(Acquire));
        let transition = Transition {
            at: Duration::from_nanos(now_ns),
            from: previous,
            to: to.state,
            window,
            thresholds: self.thresholds(),
        };
        tracing::info!(
            breaker = %self.name, from = %previous, to = %to.state,
            calls = window.calls(), failure_rate = window.failure_rate(), slow_rate = window.slow_rate(),
            "circuit breaker state changed"
        );
        let _ = self.events.send(Event::StateChanged(transition));
        if to.state == State::Open {
            self.totals.0.opened.fetch_add(1, Relaxed);
        }
        // Flapping is closing and tripping again; reopening after a failed probe is a
        // dependency still down, which the breaker is handling as it should.
        if to.state == State::Open && previous == State::Closed {
            if let Some(learning) = &self.learning {
                let step = learning
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .learner
                    .on_trip(now_ns);
                self.after_step(step, now_ns);
            }
        }
        true
    }

    // === for the handle ===

    pub(crate) fn thresholds(&self) -> TripThresholds {
        TripThresholds {
            failure_rate: f64::from_bits(self.failure_rate_bits.load(Acquire)),
            slow_call_rate: f64::from_bits(self.slow_rate_bits.load(Acquire)),
            slow_call_duration: Duration::from_nanos(self.slow_ns.load(Acquire)),
        }
    }

    #[cfg(test)]
    pub(crate) fn word_bits(&self) -> u64 {
        self.word.0.load(Acquire)
    }

    pub(crate) fn state(&self) -> State {
        Word::unpack(self.word.0.load(Acquire)).state
    }

    pub(crate) fn lifetime_counts(&self) -> Counts {
        self.window.lifetime()
    }

    pub(crate) fn window_counts(&self, now_ns: u64) -> Counts {
        self.window.sum(now_ns, self.window_from.load(Acquire))
    }

    pub(crate) fn mode(&self) -> Mode {
        match self.mode.load(Relaxed) {
            0 => Mode::Enforce,
            1 => Mode::MetricsOnly,
            2 => Mode::Disabled,
            _ => Mode::ForcedOpen,
        }
    }

    pub(crate) fn set_mode(&self, mode: Mode, now_ns: u64) {
        self.mode.store(mode_bits(mode), Relaxed);
        tracing::info!(breaker = %self.name, ?mode, "circuit breaker mode changed");
        let _ = self.events.send(Event::ModeChanged {
            at: Duration::from_nanos(now_ns),
            mode,
        });
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

fn mode_bits(mode: Mode) -> u8 {
    match mode {
        Mode::Enforce => 0,
        Mode::MetricsOnly => 1,
        Mode::Disabled => 2,
        Mode::ForcedOpen => 3,
    }
}

//! The breaker through its tower service and its handle, on a manual clock.

use super::shared::Admission;
use super::*;
use crate::Clock;
use proptest::prelude::*;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt};

type Response = http::Response<()>;

fn config(text: &str) -> BreakerConfig {
    serde_json::from_str(text).unwrap()
}

fn small() -> BreakerConfig {
    config(
        r#"{"window": "1s", "buckets": 4, "minimum_calls": 4, "open_for": "1s", "half_open_probes": 2,
            "thresholds": {"static": {"failure_rate": 0.5}}}"#,
    )
}

/// A service answering with the status it is asked for.
fn status_service(
) -> impl Service<u16, Response = Response, Error = std::io::Error, Future: Send> + Clone {
    tower::service_fn(|status: u16| async move {
        Ok(http::Response::builder().status(status).body(()).unwrap())
    })
}

async fn trip(handle: &BreakerHandle, clock: &Clock) {
    let service = handle.http_layer().layer(status_service());
    for _ in 0..4 {
        clock.advance(Duration::from_millis(10));
        let _ = service.clone().oneshot(500).await;
    }
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test]
async fn open_refuses_and_half_open_probes_close_it() {
    let clock = Clock::manual();
    let handle = small().build_with_clock(clock.clone()).unwrap();
    let mut events = handle.subscribe();
    trip(&handle, &clock).await;
    let service = handle.http_layer().layer(status_service());
    let refused = service.clone().oneshot(200).await.unwrap_err();
    assert!(refused.downcast_ref::<BreakerOpen>().is_some(), "{refused}");
    clock.advance(Duration::from_millis(1001));
    for _ in 0..2 {
        assert_eq!(service.clone().oneshot(200).await.unwrap().status(), 200);
    }
    assert_eq!(handle.state(), State::Closed);
    let mut seen = Vec::new();
    while let Ok(Event::StateChanged(t)) = events.try_recv() {
        seen.push((t.from, t.to));
    }
    assert_eq!(
        seen,
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
    // 4xx is the caller's fault: it never trips an HTTP breaker.
    for _ in 0..20 {
        clock.advance(Duration::from_millis(10));
        service.clone().oneshot(404).await.unwrap();
    }
    assert_eq!(handle.state(), State::Closed);
}

#[tokio::test]
async fn response_future_drop_releases_the_probe_slot() {
    let clock = Clock::manual();
    let handle = small().build_with_clock(clock.clone()).unwrap();
    trip(&handle, &clock).await;
    clock.advance(Duration::from_millis(1001));
    let pending = handle.http_layer().layer(tower::service_fn(|_: u16| {
        std::future::pending::<Result<Response, std::io::Error>>()
    }));
    // Two probes reserved and called, never completing: every slot is taken.
    let (mut a, mut b) = (pending.clone(), pending.clone());
    let fa = a.ready().await.unwrap().call(1);
    let fb = b.ready().await.unwrap().call(1);
    assert_eq!(handle.state(), State::HalfOpen);
    let mut c = pending.clone();
    let refused = c.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(refused.downcast_ref::<BreakerOpen>().is_some());
    // Dropping a future gives its slot back; so does dropping a service that reserved one.
    drop(fa);
    let mut d = pending.clone();
    d.ready().await.unwrap();
    drop(d);
    drop(fb);
    let service = handle.http_layer().layer(status_service());
    for _ in 0..2 {
        assert_eq!(service.clone().oneshot(200).await.unwrap().status(), 200);
    }
    assert_eq!(handle.state(), State::Closed);
}

#[tokio::test]
async fn modes_force_open_pass_through_or_only_measure() {
    let clock = Clock::manual();
    let handle = small().build_with_clock(clock.clone()).unwrap();
    let service = handle.http_layer().layer(status_service());
    handle.set_mode(Mode::ForcedOpen);
    assert!(service.clone().oneshot(200).await.is_err());
    handle.set_mode(Mode::Disabled);
    for _ in 0..10 {
        assert_eq!(service.clone().oneshot(500).await.unwrap().status(), 500);
    }
    assert_eq!(handle.state(), State::Closed, "disabled measures nothing");
    assert_eq!(handle.stats().failure, 0);
    handle.set_mode(Mode::MetricsOnly);
    for _ in 0..10 {
        clock.advance(Duration::from_millis(10));
        assert_eq!(
            service.clone().oneshot(500).await.unwrap().status(),
            500,
            "metrics-only refuses nothing"
        );
    }
    assert_eq!(handle.state(), State::Open, "but it judges");
    assert!(handle.stats().shadow_rejected > 0, "{:?}", handle.stats());
    assert_eq!(
        handle.stats().rejected,
        1,
        "only the forced-open call was refused"
    );
}

#[tokio::test]
async fn call_timeout_fails_the_call_as_a_timeout() {
    let mut config = small();
    config.call_timeout = Some(Duration::from_millis(5));
    let handle = config.build_with_clock(Clock::manual()).unwrap();
    let service = handle.http_layer().layer(tower::service_fn(|_: u16| {
        std::future::pending::<Result<Response, std::io::Error>>()
    }));
    let err = service.oneshot(1).await.unwrap_err();
    assert!(err.downcast_ref::<CallTimeout>().is_some(), "{err}");
    assert_eq!(handle.stats().timeout, 1);
}

#[test]
fn manual_rollback_restores_a_snapshot_and_is_announced() {
    let clock = Clock::manual();
    let config = config(
        r#"{"window": "5s", "buckets": 10, "thresholds": {"learned": {"warmup_buckets": 5, "snapshot_every": "10s"}}}"#,
    );
    let handle = config.build_with_clock(clock.clone()).unwrap();
    let shared = &handle.shared;
    let mut events = handle.subscribe();
    // 60 s of healthy calls at 20 ms with 2 % failures.
    for i in 0..3000u64 {
        let now = i * 20_000_000;
        clock.set(Duration::from_nanos(now));
        let outcome = if i % 50 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        if let Admission::Call { probe } = shared.admit(|| now) {
            shared.complete(probe, outcome, 20_000_000, now);
        }
    }
    let snapshots = handle.snapshots();
    assert!(snapshots.len() >= 5, "{snapshots:?}");
    let first = snapshots[0].clone();
    let restored = handle.rollback_to(first.version).unwrap();
    assert_eq!(restored, first);
    let (rate, _) = handle.baseline().unwrap();
    assert!((rate - first.failure_baseline).abs() < 1e-12);
    let announced = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, Event::RolledBack { reason: RollbackReason::Manual, ref to, .. } if to.version == first.version));
    assert!(announced);
    assert!(handle.rollback_to(999).is_err());
    let static_breaker = small().build().unwrap();
    assert!(matches!(
        static_breaker.rollback_to(1),
        Err(crate::Error::NotLearning { .. })
    ));
}

#[tokio::test]
async fn a_refusal_is_not_kept_across_polls() {
    let clock = Clock::manual();
    let handle = small().build_with_clock(clock.clone()).unwrap();
    trip(&handle, &clock).await;
    let mut service = handle.http_layer().layer(status_service());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    // The breaker recovers while this service sits polled-ready with a refusal...
    clock.advance(Duration::from_millis(1001));
    let probe = handle.http_layer().layer(status_service());
    for _ in 0..2 {
        probe.clone().oneshot(200).await.unwrap();
    }
    assert_eq!(handle.state(), State::Closed);
    // ...and polling again brings a fresh admission.
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    assert_eq!(service.call(200).await.unwrap().status(), 200);
    assert_eq!(
        handle.stats().rejected,
        0,
        "nothing was refused: no call was made while open"
    );
}

#[test]
fn poll_ready_reserves_once() {
    let handle = small().build_with_clock(Clock::manual()).unwrap();
    let mut service = handle.http_layer().layer(status_service());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
}

#[derive(Debug, Clone)]
enum Step {
    Advance(u64),
    Start(bool),
    FinishOldest,
    DropNewest,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..400).prop_map(Step::Advance),
        any::<bool>().prop_map(Step::Start),
        Just(Step::FinishOldest),
        Just(Step::DropNewest),
    ]
}

proptest! {
    /// Whatever the calls, outcomes, completions, drops and time steps: while open (before
    /// `open_for` ends) no call is admitted, and in half-open never more probes are
    /// outstanding than `half_open_probes`.
    #[test]
    fn no_call_is_admitted_in_open_beyond_the_probes(steps in proptest::collection::vec(step(), 1..400)) {
        let clock = Clock::manual();
        let handle = small().build_with_clock(clock.clone()).unwrap();
        let shared = &handle.shared;
        // (probe episode, fails)
        let mut in_flight: Vec<(Option<u64>, bool)> = Vec::new();
        let mut opened_at: Option<u64> = None;
        let mut events = handle.subscribe();
        for step in steps {
            let now = clock.now_nanos();
            match step {
                Step::Advance(ms) => { clock.advance(Duration::from_millis(ms)); }
                Step::Start(fails) => {
                    let state = handle.state();
                    match shared.admit(|| now) {
                        Admission::Call { probe } => {
                            if let Some(at) = opened_at {
                                prop_assert!(state != State::Open || now >= at + 1_000_000_000,
                                    "admitted while open ({} ms after opening)", (now - at) / 1_000_000);
                            }
                            prop_assert_eq!(probe.is_some(), handle.state() == State::HalfOpen);
                            in_flight.push((probe, fails));
                        }
                        Admission::Reject => prop_assert!(handle.state() != State::Closed),
                        Admission::Pass => prop_assert!(false, "enforce mode never passes unmeasured"),
                    }
                }
                Step::FinishOldest => if !in_flight.is_empty() {
                    let (probe, fails) = in_flight.remove(0);
                    let outcome = if fails { Outcome::Failure } else { Outcome::Success };
                    shared.complete(probe, outcome, 1_000_000, now);
                }
                Step::DropNewest => if let Some((Some(episode), _)) = in_flight.pop() {
                    shared.release_probe(episode);
                }
            }
            while let Ok(event) = events.try_recv() {
                if let Event::StateChanged(t) = event {
                    if t.to == State::Open { opened_at = Some(t.at.as_nanos() as u64); }
                }
            }
            if handle.state() == State::HalfOpen {
                let episode = super::state::Word::unpack(shared.word_bits()).since_ms;
                let outstanding = in_flight.iter().filter(|(p, _)| *p == Some(episode)).count();
                prop_assert!(outstanding <= 2, "{} probes outstanding", outstanding);
            }
        }
    }
}

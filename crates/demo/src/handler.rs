//! What the demo service does with each request.

use crate::server::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the simulated dependency takes to time out before the cache answers.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_millis(20);

/// Ends a connection without a response: hyper drops the connection when the service fails.
#[derive(Debug)]
pub(crate) struct Reset;
impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset on purpose")
    }
}
impl std::error::Error for Reset {}

pub(crate) async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Reset> {
    if req.uri().path() == "/metrics" {
        return Ok(metrics(&shared));
    }
    let n = shared.served.fetch_add(1, Ordering::Relaxed) + 1;
    let config = &shared.config;
    let now = Instant::now();
    let load_before = count_second(&shared, now);
    if let Some(stall) = config.stall {
        let wait_until = {
            let mut end = shared.stall_end.lock().unwrap_or_else(|p| p.into_inner());
            if end.is_none() && now >= shared.start + stall.at {
                *end = Some(now + stall.length);
            }
            end.filter(|end| *end > now)
        };
        if let Some(until) = wait_until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
    let mut delay = config.latency;
    if let Some(slow) = config.slow_above {
        if load_before as f64 > slow.rps {
            delay += slow.extra;
        }
    }
    let fallback = config
        .dependency_timeout_at
        .is_some_and(|at| now >= shared.start + at);
    if fallback {
        // The dependency does not answer; after the timeout the local cache does.
        delay += DEPENDENCY_TIMEOUT;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if config.reset_every.is_some_and(|k| n % k == 0) {
        return Err(Reset);
    }
    let status = if config.fail_every.is_some_and(|k| n % k == 0) {
        shared.answered_503.fetch_add(1, Ordering::Relaxed);
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        shared.answered_ok.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    };
    if fallback && status == StatusCode::OK {
        shared.fallbacks.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = Response::new(Full::new(shared.body.clone()));
    *response.status_mut() = status;
    Ok(response)
}

/// Counts the request in its second; returns the count of the previous full second.
fn count_second(shared: &Shared, now: Instant) -> u64 {
    let second = now.saturating_duration_since(shared.start).as_secs();
    let mut window = shared.per_second.lock().unwrap_or_else(|p| p.into_inner());
    if window.0 != second {
        let previous = if window.0 + 1 == second { window.1 } else { 0 };
        *window = (second, 0, previous);
    }
    window.1 += 1;
    window.2
}

fn metrics(shared: &Shared) -> Response<Full<Bytes>> {
    let text = format!(
        "# HELP demo_requests_total Requests answered, by status.\n# TYPE demo_requests_total counter\n\
         demo_requests_total{{status=\"200\"}} {}\ndemo_requests_total{{status=\"503\"}} {}\n\
         # HELP demo_fallback_total Requests answered from the local cache because the dependency timed out.\n\
         # TYPE demo_fallback_total counter\ndemo_fallback_total {}\n",
        shared.answered_ok.load(Ordering::Relaxed),
        shared.answered_503.load(Ordering::Relaxed),
        shared.fallbacks.load(Ordering::Relaxed),
    );
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

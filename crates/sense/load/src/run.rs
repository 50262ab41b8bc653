//! A built load test and its run: workers, the collector, progress and stop.

use crate::client::{connect, tls_config, ErrorKind, Http1Conn, Http2Conn, Response};
use crate::config::{LoadConfig, Model, Stop};
use crate::mix::Mix;
use crate::recorder::{Recorder, SecondSlice, Times, Totals};
use crate::report::{Report, RunFacts};
use crate::schedule::Dispatcher;
use crate::Error;
use ballast_spec::template::Rng;
use ballast_spec::Target;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinSet;

/// HTTP/2 streams kept in flight per connection by the open model.
const H2_STREAMS_PER_CONNECTION: u32 = 100;
/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A snapshot of a run in progress, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Time since the run started.
    pub elapsed: Duration,
    /// The planned length, when the run is time-bound.
    pub planned: Option<Duration>,
    /// The planned number of requests, when the run is count-bound.
    pub planned_requests: Option<u64>,
    /// Requests finished so far (reported once per second per worker, so slightly behind).
    pub requests: u64,
    /// Requests that ended in an error so far.
    pub errors: u64,
    /// Requests in the last complete second.
    pub last_second_requests: u64,
    /// Of those, failed ones (errors and unexpected statuses).
    pub last_second_failures: u64,
    /// 99th percentile latency of the last complete second.
    pub last_second_p99: Duration,
}

/// A checked load test, ready to [`run`](LoadTest::run).
#[derive(Debug)]
pub struct LoadTest {
    config: LoadConfig,
    target: Target,
    mix: Arc<Mix>,
    connections: u32,
}

impl std::fmt::Debug for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mix")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// What every worker shares.
struct Context {
    start: Instant,
    addr: SocketAddr,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    mix: Arc<Mix>,
    timeout: Duration,
    open: bool,
    dispatcher: Dispatcher,
    stopping: AtomicBool,
}

impl LoadTest {
    pub(crate) fn new(config: LoadConfig, target: Target, mix: Mix, connections: u32) -> Self {
        LoadTest {
            config,
            target,
            mix: Arc::new(mix),
            connections,
        }
    }

    /// Connections this run opens.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// The configuration this test was built from.
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    /// Resolves the target and opens one TCP connection to it, so that a wrong address
    /// is reported before any load is generated.
    pub async fn preflight(&self) -> Result<SocketAddr, Error> {
        let unreachable = |addr: String, reason: String| Error::Unreachable {
            url: self.target.url.clone(),
            addr,
            reason,
        };
        let host_port = format!("{}:{}", self.target.host, self.target.port);
        let addr = tokio::net::lookup_host((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| unreachable(host_port.clone(), format!("cannot resolve host ({e})")))?
            .next()
            .ok_or_else(|| unreachable(host_port.clone(), "the host has no address".into()))?;
        match tokio::time::timeout(self.config.timeout, tokio::net::TcpStream::connect(addr)).await
        {
            Ok(Ok(_)) => Ok(addr),
            Ok(Err(e)) => Err(unreachable(addr.to_string(), e.to_string())),
            Err(_) => Err(unreachable(
                addr.to_string(),
                format!(
                    "no answer within --timeout {}",
                    ballast_core::format_duration(self.config.timeout)
                ),
            )),
        }
    }

    /// Runs the test until its end, or until `stop` completes (Ctrl-C): requests then in
    /// flight finish (bounded by the timeout) and the report covers what was sent.
    pub async fn run(
        &self,
        stop: impl Future<Output = ()>,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Report, Error> {
        let addr = self.preflight().await?;
        let tls = if self.target.tls {
            let name = rustls::pki_types::ServerName::try_from(self.target.host.clone()).map_err(
                |_| Error::InvalidUrl {
                    input: self.target.url.clone(),
                    reason: "host is not a valid TLS server name".into(),
                },
            )?;
            Some((tls_config(self.config.insecure, self.config.http2), name))
        } else {
            None
        };

        let shard = self.config.shard;
        let (shard_index, shard_count) = shard.map_or((0, 1), |s| (s.index - 1, s.count));
        let share = |n: u64| {
            n / u64::from(shard_count)
                + u64::from(u64::from(shard_index) < n % u64::from(shard_count))
        };
        let requests_limit = match self.config.stop {
            Stop::Requests(n) => Some(share(n)),
            Stop::After(_) => None,
        };
        let started_wall = SystemTime::now();
        let start = Instant::now() + Duration::from_millis(5);
        let (dispatcher, planned, workers) = match self.config.model {
            Model::Open { rate } => {
                let rate = rate.scaled(1.0 / f64::from(shard_count));
                let length = match self.config.stop {
                    Stop::After(d) => d,
                    Stop::Requests(n) => {
                        let per_second = rate.at_fraction(0.0).per_second();
                        Duration::from_secs_f64(share(n) as f64 / per_second + 1.0)
                    }
                };
                let phase = match rate {
                    ballast_core::RateSpec::Constant(r) if shard_count > 1 => {
                        Duration::from_secs_f64(
                            f64::from(shard_index) / (f64::from(shard_count) * r.per_second()),
                        )
                    }
                    _ => Duration::ZERO,
                };
                let dispatcher = Dispatcher::Open {
                    spec: rate,
                    length,
                    phase,
                    limit: requests_limit,
                    next: AtomicU64::new(0),
                };
                let workers = if self.config.http2 {
                    (self.connections * H2_STREAMS_PER_CONNECTION).min(20_000)
                } else {
                    self.connections
                };
                let planned = matches!(self.config.stop, Stop::After(_)).then_some(length);
                (dispatcher, planned, workers)
            }
            Model::Closed { concurrency } => {
                let deadline = match self.config.stop {
                    Stop::After(d) => Some(start + d),
                    Stop::Requests(_) => None,
                };
                let dispatcher = Dispatcher::Closed {
                    deadline,
                    limit: requests_limit,
                    numbered: self.mix.needs_sequence,
                    next: AtomicU64::new(0),
                };
                let planned = match self.config.stop {
                    Stop::After(d) => Some(d),
                    Stop::Requests(_) => None,
                };
                (dispatcher, planned, concurrency)
            }
        };
        let ctx = Arc::new(Context {
            start,
            addr,
            tls,
            mix: self.mix.clone(),
            timeout: self.config.timeout,
            open: matches!(self.config.model, Model::Open { .. }),
            dispatcher,
            stopping: AtomicBool::new(false),
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let (slice_tx, mut slice_rx) = mpsc::unbounded_channel::<SecondSlice>();
        let mut set = JoinSet::new();
        let named = if self.mix.named {
            self.mix.entries.len()
        } else {
            0
        };
        let seed = started_wall
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        if self.config.http2 {
            let slots: Arc<Vec<Mutex<Option<Http2Conn>>>> =
                Arc::new((0..self.connections).map(|_| Mutex::new(None)).collect());
            for w in 0..workers {
                let recorder = Recorder::new(start, slice_tx.clone(), named);
                let slot = (w % self.connections) as usize;
                let rng = Rng::new(seed ^ u64::from(w).wrapping_mul(0x9e37_79b9));
                set.spawn(h2_worker(
                    ctx.clone(),
                    slots.clone(),
                    slot,
                    recorder,
                    rng,
                    stop_rx.clone(),
                ));
            }
        } else {
            for w in 0..workers {
                let recorder = Recorder::new(start, slice_tx.clone(), named);
                let rng = Rng::new(seed ^ u64::from(w).wrapping_mul(0x9e37_79b9));
                set.spawn(h1_worker(ctx.clone(), recorder, rng, stop_rx.clone()));
            }
        }
        drop(slice_tx);

        let mut seconds: BTreeMap<u64, SecondSlice> = BTreeMap::new();
        let mut totals = Totals::default();
        let (mut requests_seen, mut errors_seen) = (0u64, 0u64);
        let mut interrupted = false;
        let mut ticker = tokio::time::interval(PROGRESS_EVERY);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                Some(slice) = slice_rx.recv() => {
                    requests_seen += slice.requests;
                    errors_seen += slice.errors;
                    merge_slice(&mut seconds, slice);
                }
                joined = set.join_next() => match joined {
                    Some(Ok(worker_totals)) => totals.add(&worker_totals),
                    Some(Err(e)) => tracing::error!("a load worker failed: {e}"),
                    None => break,
                },
                _ = &mut stop, if !interrupted => {
                    interrupted = true;
                    ctx.stopping.store(true, Ordering::Relaxed);
                    let _ = stop_tx.send(true);
                }
                _ = ticker.tick() => {
                    let elapsed = start.elapsed();
                    let last = elapsed.as_secs().checked_sub(1).and_then(|t| seconds.get(&t));
                    on_progress(&Progress {
                        elapsed,
                        planned,
                        planned_requests: requests_limit,
                        requests: requests_seen,
                        errors: errors_seen,
                        last_second_requests: last.map_or(0, |s| s.requests),
                        last_second_failures: last.map_or(0, |s| s.failures),
                        last_second_p99: last.map_or(Duration::ZERO, |s| s.latency.quantile(0.99)),
                    });
                }
            }
        }
        while let Some(slice) = slice_rx.recv().await {
            merge_slice(&mut seconds, slice);
        }
        let finished = Instant::now();
        let sending_window = match (planned, interrupted) {
            (Some(length), false) if ctx.open => length,
            _ => finished.saturating_duration_since(start),
        };
        let sent = totals.latency.len() + totals.errors.iter().sum::<u64>();
        let dropped = ctx
            .dispatcher
            .due_by(if interrupted {
                finished.saturating_duration_since(start)
            } else {
                sending_window
            })
            .map_or(0, |due| due.saturating_sub(sent));
        Ok(Report::build(RunFacts {
            config: &self.config,
            connections: self.connections,
            started: started_wall,
            duration: sending_window,
            interrupted,
            totals,
            dropped,
            request_names: if self.mix.named {
                self.mix.entries.iter().map(|e| e.name.clone()).collect()
            } else {
                Vec::new()
            },
            seconds: seconds.into_values().collect(),
        }))
    }
}

fn merge_slice(seconds: &mut BTreeMap<u64, SecondSlice>, slice: SecondSlice) {
    match seconds.get_mut(&slice.t) {
        Some(existing) => {
            existing.requests += slice.requests;
            existing.errors += slice.errors;
            existing.failures += slice.failures;
            existing.status_5xx += slice.status_5xx;
            existing.latency.add(&slice.latency);
        }
        None => {
            seconds.insert(slice.t, slice);
        }
    }
}

/// Waits until `due`, unless the run is stopped first. Returns false when stopped.
async fn wait_until(ctx: &Context, due: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if ctx.open && due > Instant::now() {
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => return false,
        }
    }
    !ctx.stopping.load(Ordering::Relaxed)
}

async fn h1_worker(
    ctx: Arc<Context>,
    mut recorder: Recorder,
    mut rng: Rng,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    let mut conn: Option<Http1Conn> = None;
    while let Some((seq, due)) = ctx.dispatcher.next(ctx.start) {
        recorder.next_due(due);
        if !wait_until(&ctx, due, &mut stop).await {
            break;
        }
        let (entry, request) = ctx.mix.pick(seq, &mut rng);
        let sent = Instant::now();
        let exchange = h1_exchange(&ctx, &mut conn, &mut recorder, &request);
        let outcome = tokio::time::timeout(ctx.timeout, exchange).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(response)) => {
                let expected = ctx.mix.entries[entry].expect.accepts(response.status);
                recorder.response(Times { due, sent, done }, response, entry, expected)
            }
            Ok(Err(kind)) => recorder.error(due, sent, kind, entry),
            Err(_) => {
                // The exchange stopped midway: the connection's state is unknown.
                conn = None;
                recorder.error(due, sent, ErrorKind::Timeout, entry);
            }
        }
    }
    recorder.finish()
}

async fn h1_exchange(
    ctx: &Context,
    conn: &mut Option<Http1Conn>,
    recorder: &mut Recorder,
    request: &crate::request::PreparedRequest,
) -> Result<Response, ErrorKind> {
    let c = match conn {
        Some(c) => c,
        None => {
            let stream = connect(ctx.addr, ctx.tls.as_ref()).await?;
            recorder.connected();
            conn.insert(Http1Conn::new(stream))
        }
    };
    // A failed exchange is never retried, not even on a keep-alive connection the server
    // closed as we wrote: the server may have acted on the request, and retries would
    // hide a service that drops connections.
    match c.send(request).await {
        Ok((response, keep_alive)) => {
            if !keep_alive {
                *conn = None;
            }
            Ok(response)
        }
        Err(kind) => {
            *conn = None;
            Err(kind)
        }
    }
}

async fn h2_worker(
    ctx: Arc<Context>,
    slots: Arc<Vec<Mutex<Option<Http2Conn>>>>,
    slot: usize,
    mut recorder: Recorder,
    mut rng: Rng,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    while let Some((seq, due)) = ctx.dispatcher.next(ctx.start) {
        recorder.next_due(due);
        if !wait_until(&ctx, due, &mut stop).await {
            break;
        }
        let (entry, request) = ctx.mix.pick(seq, &mut rng);
        let sent = Instant::now();
        let exchange = async {
            let mut conn = {
                let mut guard = slots[slot].lock().await;
                match guard.as_ref().filter(|c| c.is_open()) {
                    Some(c) => c.clone(),
                    None => {
                        let stream = connect(ctx.addr, ctx.tls.as_ref()).await?;
                        if ctx.tls.is_some() && !stream.negotiated_h2() {
                            return Err(ErrorKind::Protocol);
                        }
                        let c = Http2Conn::handshake(stream).await?;
                        recorder.connected();
                        guard.insert(c).clone()
                    }
                }
            };
            conn.send(&request).await
        };
        let outcome = tokio::time::timeout(ctx.timeout, exchange).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(response)) => {
                let expected = ctx.mix.entries[entry].expect.accepts(response.status);
                recorder.response(Times { due, sent, done }, response, entry, expected)
            }
            Ok(Err(kind)) => recorder.error(due, sent, kind, entry),
            Err(_) => recorder.error(due, sent, ErrorKind::Timeout, entry),
        }
    }
    recorder.finish()
}

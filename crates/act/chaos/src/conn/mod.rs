//! One proxied connection: connect upstream, then relay until both sides are done, moving
//! between the plain relay ([`fast`]) and the toxic path (here, with [`link`]) whenever the
//! proxy's toxics change, without dropping the connection.

mod fast;
pub(crate) mod link;
pub(crate) mod pool;
pub(crate) mod signal;

use crate::http::{HttpTracker, ToClient};
use crate::metrics::ProxyMetrics;
use crate::toxic::set::Chain;
use crate::toxic::Stream;
use bytes::BytesMut;
use link::{End, Flush, Link};
use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long a connection to the upstream may take before the client is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read size on the toxic path.
const READ_SIZE: usize = 64 * 1024;

/// What a connection needs from its proxy.
pub(crate) struct ConnContext {
    pub upstream: String,
    pub metrics: Arc<ProxyMetrics>,
    pub signals: Arc<signal::Signals>,
}

/// Counts the connection as active for as long as it lives.
struct ActiveGuard<'a>(&'a ProxyMetrics);

impl<'a> ActiveGuard<'a> {
    fn new(metrics: &'a ProxyMetrics) -> Self {
        ProxyMetrics::add(&metrics.connections_total, 1);
        ProxyMetrics::add(&metrics.connections_active, 1);
        ActiveGuard(metrics)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0
            .connections_active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves one accepted client until the connection ends or the proxy's epoch changes.
pub(crate) async fn serve(
    client: TcpStream,
    mut chain: watch::Receiver<Arc<Chain>>,
    context: Arc<ConnContext>,
) {
    let metrics = &context.metrics;
    let _active = ActiveGuard::new(metrics);
    let watch = signal::Watch::new(context.signals.clone());
    let epoch = chain.borrow_and_update().epoch;
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, connect(&context.upstream));
    let upstream = tokio::select! {
        result = connect => result,
        () = epoch_changed(&mut chain, epoch) => return,
    };
    let upstream = match upstream {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            ProxyMetrics::add(&metrics.upstream_connect_errors, 1);
            tracing::debug!(upstream = %context.upstream, error = %e, "upstream connect failed");
            return;
        }
        Err(_) => {
            ProxyMetrics::add(&metrics.upstream_connect_errors, 1);
            tracing::debug!(upstream = %context.upstream, "upstream connect timed out");
            return;
        }
    };
    // Small writes (requests, answers) must not wait for Nagle's algorithm: the proxy
    // should add microseconds, not tens of milliseconds.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let track_http = chain.borrow().track_http;
    let mut conn = Conn {
        client,
        upstream,
        up: Link::new(),
        down: Link::new(),
        http: track_http.then(HttpTracker::new),
        metrics,
        watch,
        seen: 0,
        read_buf: BytesMut::new(),
        answers: Vec::new(),
        forwards: Vec::new(),
    };
    let end = conn.run(&mut chain, epoch).await;
    if end == End::Reset {
        // SO_LINGER 0: close sends RST instead of FIN, and never blocks.
        let _ = conn.client.set_zero_linger();
        let _ = conn.upstream.set_zero_linger();
    }
}

async fn connect(upstream: &str) -> io::Result<TcpStream> {
    // An IP literal skips the resolver (and its blocking thread).
    match upstream.parse::<std::net::SocketAddr>() {
        Ok(addr) => TcpStream::connect(addr).await,
        Err(_) => TcpStream::connect(upstream).await,
    }
}

async fn epoch_changed(chain: &mut watch::Receiver<Arc<Chain>>, epoch: u64) {
    loop {
        if chain.changed().await.is_err() || chain.borrow_and_update().epoch != epoch {
            return;
        }
    }
}

/// How an I/O error ends the connection: a reset is passed on as a reset.
pub(crate) fn end_for(error: &io::Error) -> End {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => End::Reset,
        _ => End::Close,
    }
}

struct Conn<'a> {
    client: TcpStream,
    upstream: TcpStream,
    up: Link,
    down: Link,
    http: Option<HttpTracker>,
    metrics: &'a ProxyMetrics,
    watch: signal::Watch,
    /// The change version the current chain snapshot was taken at.
    seen: u64,
    read_buf: BytesMut,
    answers: Vec<ToClient>,
    forwards: Vec<(Instant, bytes::Bytes)>,
}

enum Exit {
    /// The chain changed (or the plain relay can take over): look again.
    Again,
    Done(End),
}

impl Conn<'_> {
    async fn run(&mut self, chain: &mut watch::Receiver<Arc<Chain>>, epoch: u64) -> End {
        // The version is read before the snapshot: a change in between is seen as a change.
        self.seen = self.watch.version();
        let mut current = chain.borrow_and_update().clone();
        let mut fresh = true;
        loop {
            if fresh {
                if current.epoch != epoch {
                    return End::Close;
                }
                let now = Instant::now();
                let up = self.up.apply(current.tcp(Stream::Upstream), now);
                let down = self.down.apply(current.tcp(Stream::Downstream), now);
                if let Some(end) = up.or(down) {
                    return end;
                }
            }
            let exit = if self.http.is_none() && self.up.is_plain() && self.down.is_plain() {
                self.relay().await
            } else {
                self.toxic_step(chain, &current).await
            };
            match exit {
                Exit::Done(end) => return end,
                Exit::Again => {
                    // `changed()` may have marked the new value seen: compare snapshots.
                    self.seen = self.watch.version();
                    let latest = chain.borrow_and_update().clone();
                    fresh = !Arc::ptr_eq(&latest, &current);
                    current = latest;
                }
            }
        }
    }

    /// The plain relay, until the connection ends or the toxics change.
    async fn relay(&mut self) -> Exit {
        let Conn {
            client,
            upstream,
            up,
            down,
            metrics,
            watch,
            seen,
            ..
        } = self;
        poll_fn(|cx| {
            if watch.changed_since(*seen, cx.waker()) {
                return std::task::Poll::Ready(Exit::Again);
            }
            fast::poll_relay(cx, client, upstream, up, down, metrics).map(Exit::Done)
        })
        .await
    }

    /// One round of the toxic path: write what is due, then wait for the next event.
    async fn toxic_step(
        &mut self,
        chain: &mut watch::Receiver<Arc<Chain>>,
        current: &Chain,
    ) -> Exit {
        let now = Instant::now();
        for (link, dst) in [
            (&mut self.up, &self.upstream),
            (&mut self.down, &self.client),
        ] {
            match link.flush(now, dst) {
                Ok(Flush::Idle) => {}
                Ok(Flush::End(end)) => return Exit::Done(end),
                Err(e) => return Exit::Done(end_for(&e)),
            }
        }
        if let Some(end) = self.up.expired(now).or(self.down.expired(now)) {
            return Exit::Done(end);
        }
        if self.up.finished() && self.down.finished() {
            return Exit::Done(End::Close);
        }
        if self.http.is_none() && self.up.is_plain() && self.down.is_plain() {
            return Exit::Again;
        }
        let wake = [self.up.next_wake(), self.down.next_wake()]
            .into_iter()
            .flatten()
            .min();
        let sleep = async move {
            match wake {
                Some(at) => crate::timer::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            changed = chain.changed() => match changed {
                Ok(()) => Exit::Again,
                Err(_) => Exit::Done(End::Close),
            },
            ready = self.client.readable(), if self.up.can_read() => match ready {
                Ok(()) => self.read(Stream::Upstream, current),
                Err(e) => Exit::Done(end_for(&e)),
            },
            ready = self.upstream.readable(), if self.down.can_read() => match ready {
                Ok(()) => self.read(Stream::Downstream, current),
                Err(e) => Exit::Done(end_for(&e)),
            },
            _ = self.upstream.writable(), if self.up.blocked => Exit::Again,
            _ = self.client.writable(), if self.down.blocked => Exit::Again,
            () = sleep => Exit::Again,
        }
    }

    /// Reads what is there on one side and schedules it through the toxics.
    fn read(&mut self, stream: Stream, chain: &Chain) -> Exit {
        let (src, counter) = match stream {
            Stream::Upstream => (&self.client, &self.metrics.bytes_upstream),
            Stream::Downstream => (&self.upstream, &self.metrics.bytes_downstream),
        };
        self.read_buf.reserve(READ_SIZE);
        let n = match src.try_read_buf(&mut self.read_buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Exit::Again,
            Err(e) => return Exit::Done(end_for(&e)),
        };
        let now = Instant::now();
        if n == 0 {
            match stream {
                Stream::Upstream => self.up.push_eof(now),
                Stream::Downstream => self.down.push_eof(now),
            }
            return Exit::Again;
        }
        ProxyMetrics::add(counter, n as u64);
        let data = self.read_buf.split().freeze();
        match (stream, self.http.as_mut()) {
            (Stream::Upstream, Some(http)) => {
                http.client_bytes(now, data, &chain.http, self.metrics, &mut self.forwards);
                for (due, bytes) in self.forwards.drain(..) {
                    self.up.push_data(now, due, bytes);
                }
                http.answers_due(&mut self.answers);
            }
            (Stream::Upstream, None) => self.up.push_data(now, now, data),
            (Stream::Downstream, Some(http)) => {
                http.upstream_bytes(data, self.metrics, &mut self.answers)
            }
            (Stream::Downstream, None) => self.down.push_data(now, now, data),
        }
        for piece in self.answers.drain(..) {
            match piece {
                ToClient::Relay(bytes) => self.down.push_data(now, now, bytes),
                ToClient::Answer { bytes, due, close } => {
                    self.down.push_answer(now, due, bytes, close)
                }
            }
        }
        Exit::Again
    }
}

//! The running server: a UDP loop and a TCP accept loop on one address, a task per query.

use crate::config::DnsConfig;
use crate::error::Error;
use crate::fault::{DnsFault, FaultSet};
use crate::handler::{Handler, Stop, Transport};
use crate::stats::DnsStats;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// TCP connections served at once; one more is closed at once and counted as shed.
pub const MAX_TCP_CONNECTIONS: usize = 128;
/// Queries of one TCP connection worked on at once (RFC 7766 pipelining); the connection
/// is not read further until one is done.
const PIPELINE: usize = 16;
/// A DNS header's size: a shorter TCP message closes its connection.
const HEADER_LEN: usize = 12;
/// A TCP connection with no whole message for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// An answer the client does not take in this long closes its TCP connection.
const TCP_WRITE: Duration = Duration::from_secs(5);
/// Port 0 binds UDP first and then TCP on UDP's port; a port TCP already has is retried.
const BIND_ATTEMPTS: usize = 16;
/// How long `shutdown` waits for queries and connections to notice the stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
/// A failing `recv`/`accept` (out of file descriptors, say) is retried after this.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A running DNS server; stops on [`shutdown`](Self::shutdown) or drop.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    handler: Arc<Handler>,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    connections: Arc<Semaphore>,
}

impl DnsServer {
    pub(crate) async fn start(
        config: &DnsConfig,
        records: BTreeMap<String, Vec<IpAddr>>,
    ) -> Result<DnsServer, Error> {
        let (udp, tcp) = bind(config.listen).await?;
        let addr = udp.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            transport: "udp",
            source,
        })?;
        let handler = Arc::new(Handler::new(config, records));
        let (stop, stopped) = watch::channel(false);
        let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
        let connections = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        let loops = vec![
            tokio::spawn(serve_udp(
                Arc::new(udp),
                Arc::clone(&handler),
                Arc::clone(&in_flight),
                Stop(stopped.clone()),
            )),
            tokio::spawn(serve_tcp(
                tcp,
                Arc::clone(&handler),
                Arc::clone(&in_flight),
                Arc::clone(&connections),
                Stop(stopped),
            )),
        ];
        tracing::debug!(%addr, "DNS server listening (UDP and TCP)");
        Ok(DnsServer {
            addr,
            handler,
            stop,
            loops,
            in_flight,
            max_in_flight: config.max_in_flight,
            connections,
        })
    }

    /// The address UDP and TCP are served on (the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults; queries already being worked on keep the ones they started
    /// with. Refuses the whole list, changing nothing, when one fault is invalid.
    pub fn set_faults(&self, faults: Vec<DnsFault>) -> Result<(), Error> {
        let set = Arc::new(FaultSet::compile(faults)?);
        *self
            .handler
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        *self
            .handler
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(FaultSet::default());
    }

    /// The counters so far.
    pub fn stats(&self) -> DnsStats {
        self.handler.counters.snapshot()
    }

    /// Stops serving: closes both sockets, ends delayed and forwarded queries unanswered,
    /// and waits (at most 5 s) until every query and connection task has ended.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.loops.drain(..) {
            let _ = task.await;
        }
        let all_queries = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let finished = tokio::time::timeout(SHUTDOWN_WAIT, async {
            let _ = self.in_flight.acquire_many(all_queries).await;
            let _ = self
                .connections
                .acquire_many(MAX_TCP_CONNECTIONS as u32)
                .await;
        })
        .await;
        if finished.is_err() {
            tracing::warn!(addr = %self.addr, "DNS server: tasks still running 5s after shutdown");
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Every loop and task watches this; they end on their own.
        let _ = self.stop.send(true);
    }
}

async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let udp_error = |source| Error::Bind {
        addr: listen,
        transport: "udp",
        source,
    };
    let tcp_error = |source| Error::Bind {
        addr: listen,
        transport: "tcp",
        source,
    };
    if listen.port() != 0 {
        let udp = UdpSocket::bind(listen).await.map_err(udp_error)?;
        let tcp = TcpListener::bind(listen).await.map_err(tcp_error)?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(listen).await.map_err(udp_error)?;
        let chosen = udp.local_addr().map_err(udp_error)?;
        match TcpListener::bind(chosen).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(tcp_error(last.expect("at least one attempt")))
}

async fn serve_udp(
    socket: Arc<UdpSocket>,
    handler: Arc<Handler>,
    in_flight: Arc<Semaphore>,
    mut stop: Stop,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, peer) = tokio::select! {
            _ = stop.wait() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) => {
                    // Linux reports an earlier answer's ICMP "port unreachable" here.
                    tracing::debug!("DNS UDP receive: {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            handler.counters.shed.inc();
            continue;
        };
        let request = buf[..len].to_vec();
        let (socket, handler, mut stop) = (Arc::clone(&socket), Arc::clone(&handler), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(answer) = handler.handle(&request, Transport::Udp, &mut stop).await {
                if let Err(e) = socket.send_to(&answer, peer).await {
                    tracing::debug!(%peer, "DNS UDP send: {e}");
                }
            }
        });
    }
}

async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<Handler>,
    in_flight: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    mut stop: Stop,
) {
    loop {
        let stream = tokio::select! {
            _ = stop.wait() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("DNS TCP accept: {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            handler.counters.shed.inc();
            continue; // dropping the stream closes it
        };
        let (handler, in_flight, stop) =
            (Arc::clone(&handler), Arc::clone(&in_flight), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            connection(stream, handler, in_flight, stop).await;
        });
    }
}

/// Length-prefixed queries in, answers out in the order they are ready.
async fn connection(
    stream: TcpStream,
    handler: Arc<Handler>,
    in_flight: Arc<Semaphore>,
    mut stop: Stop,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (answers, mut ready) = mpsc::channel::<Vec<u8>>(PIPELINE);
    let write = tokio::spawn(async move {
        while let Some(answer) = ready.recv().await {
            let mut frame = Vec::with_capacity(answer.len() + 2);
            frame.extend_from_slice(&(answer.len() as u16).to_be_bytes());
            frame.extend_from_slice(&answer);
            match tokio::time::timeout(TCP_WRITE, writer.write_all(&frame)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    });
    let pipeline = Arc::new(Semaphore::new(PIPELINE));
    loop {
        let slot = tokio::select! {
            _ = stop.wait() => break,
            slot = Arc::clone(&pipeline).acquire_owned() => slot.expect("never closed"),
        };
        let read = async {
            let len = usize::from(reader.read_u16().await?);
            if len < HEADER_LEN {
                // Not a DNS message, and nothing to answer it with.
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            let mut request = vec![0u8; len];
            reader.read_exact(&mut request).await?;
            Ok::<_, std::io::Error>(request)
        };
        let request = tokio::select! {
            _ = stop.wait() => break,
            read = tokio::time::timeout(TCP_IDLE, read) => match read {
                Ok(Ok(request)) => request,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    handler.counters.malformed.inc();
                    break;
                }
                // Closed, broken, or idle too long.
                _ => break,
            },
        };
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            handler.counters.shed.inc();
            continue;
        };
        let (handler, answers, mut stop) = (Arc::clone(&handler), answers.clone(), stop.clone());
        tokio::spawn(async move {
            let _held = (permit, slot);
            if let Some(answer) = handler.handle(&request, Transport::Tcp, &mut stop).await {
                let _ = answers.send(answer).await;
            }
        });
    }
    // The writer ends once every query task has sent its answer (or given up).
    drop(answers);
    let _ = write.await;
}

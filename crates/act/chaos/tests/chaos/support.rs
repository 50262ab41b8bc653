//! Servers and measuring tools the chaos tests share. Everything binds 127.0.0.1.

use ballast_chaos::{ChaosConfig, ChaosServer, ProxyConfig, Toxic};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A chaos server with a seeded dice (runs repeat exactly) and an API on a free port.
pub async fn chaos(proxies: Vec<ProxyConfig>) -> ChaosServer {
    ChaosConfig {
        api: Some("127.0.0.1:0".parse().unwrap()),
        seed: Some(20261125),
        proxies,
        ..Default::default()
    }
    .build()
    .await
    .expect("chaos server starts")
}

/// A server with one proxy named `name` in front of `upstream`; returns its address too.
pub async fn proxy_to(name: &str, upstream: &str) -> (ChaosServer, SocketAddr) {
    let server = chaos(vec![ProxyConfig::new(name, "127.0.0.1:0", upstream)]).await;
    let addr = server.proxy_addr(name).await.unwrap();
    (server, addr)
}

pub fn toxic(body: serde_json::Value) -> Toxic {
    Toxic::from_json(&body, true).expect("valid toxic")
}

/// Median of durations.
pub fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// === byte patterns ===

/// The 8 bytes at word `index` of the stream for `seed` (SplitMix64).
fn word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes `[offset, offset + out.len())` of the stream for `seed`; `offset` a multiple of 8
/// and `out.len()` too.
pub fn pattern(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&word(seed, offset / 8 + i as u64).to_le_bytes());
    }
}

/// Checks a received stream against the pattern and sums it, whatever the read sizes.
pub struct Verifier {
    seed: u64,
    words: u64,
    carry: Vec<u8>,
    pub mismatched_words: u64,
    pub checksum: u64,
}

impl Verifier {
    pub fn new(seed: u64) -> Self {
        Verifier {
            seed,
            words: 0,
            carry: Vec::with_capacity(8),
            mismatched_words: 0,
            checksum: 0,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.words * 8 + self.carry.len() as u64
    }

    fn take(&mut self, w: u64) {
        if w != word(self.seed, self.words) {
            self.mismatched_words += 1;
        }
        // Position-dependent sum: a reordering changes it, not only a changed byte.
        self.checksum = self.checksum.rotate_left(5) ^ w.wrapping_mul(self.words | 1);
        self.words += 1;
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !self.carry.is_empty() && !data.is_empty() {
            self.carry.push(data[0]);
            data = &data[1..];
            if self.carry.len() == 8 {
                let w = u64::from_le_bytes(self.carry[..].try_into().unwrap());
                self.carry.clear();
                self.take(w);
            }
        }
        let mut chunks = data.chunks_exact(8);
        for chunk in &mut chunks {
            self.take(u64::from_le_bytes(chunk.try_into().unwrap()));
        }
        self.carry.extend_from_slice(chunks.remainder());
    }

    /// The checksum the sender computes for `len` bytes of the pattern.
    pub fn expected_checksum(seed: u64, len: u64) -> u64 {
        let mut v = Verifier::new(seed);
        for i in 0..len / 8 {
            v.take(word(seed, i));
        }
        v.checksum
    }
}

// === the bulk server ===
//
// Each connection starts with 17 bytes: an op, a length and a seed (little endian).
//   b'S': the server sends `len` pattern bytes and closes its side.
//   b'B': both ways at once: the server sends `len` bytes of pattern(seed ^ 1) while it
//         receives `len` bytes of pattern(seed); then it sends a 16-byte trailer
//         (mismatched words, checksum of what it received) and closes its side.
//   b'E': echo until EOF.

pub async fn bulk_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = bulk_connection(socket).await;
            });
        }
    });
    (addr, task)
}

async fn send_pattern(
    w: &mut (impl AsyncWriteExt + Unpin),
    seed: u64,
    len: u64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < len {
        let n = (len - sent).min(buf.len() as u64) as usize;
        pattern(seed, sent, &mut buf[..n]);
        w.write_all(&buf[..n]).await?;
        sent += n as u64;
    }
    Ok(())
}

async fn bulk_connection(mut socket: TcpStream) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut head = [0u8; 17];
    socket.read_exact(&mut head).await?;
    let len = u64::from_le_bytes(head[1..9].try_into().unwrap());
    let seed = u64::from_le_bytes(head[9..17].try_into().unwrap());
    match head[0] {
        b'S' => {
            send_pattern(&mut socket, seed, len).await?;
            socket.shutdown().await?;
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest).await;
        }
        b'B' => {
            let (mut r, mut w) = socket.into_split();
            let receive = tokio::spawn(async move {
                let mut v = Verifier::new(seed);
                let mut buf = vec![0u8; 64 * 1024];
                while v.bytes() < len {
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    v.feed(&buf[..n]);
                }
                Ok::<_, std::io::Error>(v)
            });
            send_pattern(&mut w, seed ^ 1, len).await?;
            let v = receive.await.map_err(std::io::Error::other)??;
            let mismatched = v.mismatched_words + (len - v.bytes().min(len)) / 8;
            w.write_all(&mismatched.to_le_bytes()).await?;
            w.write_all(&v.checksum.to_le_bytes()).await?;
            w.shutdown().await?;
        }
        _ => {
            let (mut r, mut w) = socket.split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await?;
        }
    }
    Ok(())
}

pub async fn bulk_request(stream: &mut TcpStream, op: u8, len: u64, seed: u64) {
    let mut head = [0u8; 17];
    head[0] = op;
    head[1..9].copy_from_slice(&len.to_le_bytes());
    head[9..17].copy_from_slice(&seed.to_le_bytes());
    stream.write_all(&head).await.unwrap();
}

/// What `B` measured in both directions.
#[derive(Debug)]
pub struct Exchange {
    pub upstream_mismatched: u64,
    pub upstream_checksum: u64,
    pub downstream_mismatched: u64,
    pub downstream_bytes: u64,
    pub downstream_checksum: u64,
    pub elapsed: Duration,
}

/// Sends `len` bytes up and receives `len` bytes down at the same time over one
/// connection to `addr`, both checked against the pattern.
pub async fn exchange(addr: SocketAddr, len: u64, seed: u64) -> Exchange {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    bulk_request(&mut stream, b'B', len, seed).await;
    let (mut r, mut w) = stream.into_split();
    let sender = tokio::spawn(async move {
        send_pattern(&mut w, seed, len).await.unwrap();
        w
    });
    let mut v = Verifier::new(seed ^ 1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut trailer = Vec::new();
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        let wanted = (len - v.bytes()) as usize;
        if wanted >= n {
            v.feed(data);
        } else {
            v.feed(&data[..wanted]);
            trailer.extend_from_slice(&data[wanted..]);
        }
    }
    let _w = sender.await.unwrap();
    assert_eq!(trailer.len(), 16, "the trailer follows the data");
    Exchange {
        upstream_mismatched: u64::from_le_bytes(trailer[..8].try_into().unwrap()),
        upstream_checksum: u64::from_le_bytes(trailer[8..].try_into().unwrap()),
        downstream_mismatched: v.mismatched_words,
        downstream_bytes: v.bytes(),
        downstream_checksum: v.checksum,
        elapsed: started.elapsed(),
    }
}

/// Opens a connection to the bulk server's echo and checks one round trip.
pub async fn echo_round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Duration> {
    let started = Instant::now();
    stream.write_all(message).await?;
    let mut answer = vec![0u8; message.len()];
    stream.read_exact(&mut answer).await?;
    assert_eq!(answer, message);
    Ok(started.elapsed())
}

pub async fn echo_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    bulk_request(&mut stream, b'E', 0, 0).await;
    stream
}

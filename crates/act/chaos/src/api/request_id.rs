//! `X-Toxiproxy-Request-Id`: Toxiproxy tags every API response with a fresh
//! [xid](https://github.com/rs/xid) (zerolog's `hlog.RequestIDHandler`), and clients and
//! log pipelines that correlate on it expect one, so ours are xids too: 12 bytes (seconds
//! since the epoch, 3 bytes of host, 2 of process id, a 3-byte counter) as 20 characters of
//! lowercase base32hex. They sort by time, and the counter keeps them apart within a second.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const HEADER: &str = "x-toxiproxy-request-id";

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Hands out request ids for one API server.
pub(crate) struct RequestIds {
    host: [u8; 3],
    pid: u16,
    counter: AtomicU32,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        // xid hashes the host name; a random value serves the same purpose (telling
        // processes apart) without reading anything, and two servers in one process get
        // different ones.
        let random = RandomState::new().build_hasher().finish();
        let bytes = random.to_be_bytes();
        RequestIds {
            host: [bytes[0], bytes[1], bytes[2]],
            pid: std::process::id() as u16,
            // xid starts its counter at a random value too, so restarts within one second
            // do not repeat ids.
            counter: AtomicU32::new(u32::from_be_bytes([0, bytes[3], bytes[4], bytes[5]])),
        }
    }

    pub(crate) fn next(&self) -> String {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        self.make(seconds, self.counter.fetch_add(1, Ordering::Relaxed))
    }

    fn make(&self, seconds: u32, count: u32) -> String {
        let mut raw = [0u8; 12];
        raw[0..4].copy_from_slice(&seconds.to_be_bytes());
        raw[4..7].copy_from_slice(&self.host);
        raw[7..9].copy_from_slice(&self.pid.to_be_bytes());
        raw[9..12].copy_from_slice(&count.to_be_bytes()[1..]);
        encode(&raw)
    }
}

/// Base32hex without padding: 96 bits make 19 full characters and one of 1 bit.
fn encode(raw: &[u8; 12]) -> String {
    let mut out = String::with_capacity(20);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in raw {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_xids() {
        // xid's own test vector (TestIDString).
        let raw: [u8; 12] = [
            0x4d, 0x88, 0xe1, 0x5b, 0x60, 0xf4, 0x86, 0xe4, 0x28, 0x41, 0x2d, 0xc9,
        ];
        assert_eq!(encode(&raw), "9m4e2mr0ui3e8a215n4g");
        let ids = RequestIds {
            host: [1, 2, 3],
            pid: 0x0405,
            counter: AtomicU32::new(0),
        };
        let a = ids.make(0x5f00_0000, 0x00ff_ffff);
        // The counter keeps 3 bytes: it wraps, as xid's does.
        let b = ids.make(0x5f00_0000, 0x0100_0000);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");

        let live = RequestIds::new();
        let mut seen: Vec<String> = (0..1000).map(|_| live.next()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
    }
}

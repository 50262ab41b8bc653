//! One direction of a proxied connection while toxics act on it.
//!
//! Toxiproxy runs a goroutine per toxic and passes chunks through channels. Here every
//! toxic is a step that, when a chunk is read, decides *when* (and whether, and in how
//! many pieces) it leaves: latency adds to the release time, bandwidth paces it, slicer
//! cuts it, limit_data truncates it and schedules the close. The link keeps the results
//! in one queue ordered by release time and writes each piece when it is due. Reading
//! goes on while pieces wait, so latency delays a stream without slowing it, as in
//! Toxiproxy.

use crate::toxic::set::ActiveToxic;
use crate::toxic::ToxicKind;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Bytes a link holds before it stops reading (and TCP pushes back on the sender).
pub(crate) const MAX_QUEUED: usize = 4 * 1024 * 1024;

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Both directions finished, or a toxic closed the connection: close normally.
    Close,
    /// Reset both sides (reset_peer, or one side reset).
    Reset,
}

/// A scheduled piece of output.
#[derive(Debug)]
pub(crate) enum Item {
    Data {
        due: Instant,
        bytes: Bytes,
    },
    /// Half-close: shut down the destination's write side.
    Fin {
        due: Instant,
    },
    /// End the whole connection.
    Close {
        due: Instant,
        end: End,
    },
}

impl Item {
    fn due(&self) -> Instant {
        match self {
            Item::Data { due, .. } | Item::Fin { due } | Item::Close { due, .. } => *due,
        }
    }
    fn set_due(&mut self, at: Instant) {
        match self {
            Item::Data { due, .. } | Item::Fin { due } | Item::Close { due, .. } => *due = at,
        }
    }
}

/// One toxic as this link applies it.
#[derive(Debug, Clone)]
struct LinkToxic {
    active: Arc<ActiveToxic>,
    /// Rolled against `toxicity` once per link (and again when the toxic is updated).
    applies: bool,
    /// Release time of the last piece this toxic let out (keeps pieces in order).
    last_out: Option<Instant>,
    /// limit_data: bytes let through so far.
    sent: u64,
}

/// What writing the due pieces led to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Nothing more is due now (or the destination is full: `blocked` is set).
    Idle,
    /// A Close came due.
    End(End),
}

/// One direction: reads from one socket, writes to the other.
#[derive(Debug)]
pub(crate) struct Link {
    queue: VecDeque<Item>,
    queued_bytes: usize,
    /// The source is done (EOF read, or reading stopped for good).
    pub eof: bool,
    /// The destination's write side is shut down.
    pub shut: bool,
    /// The last write would block: wait for the destination to be writable.
    pub blocked: bool,
    /// A Close is queued: read no more.
    closing: bool,
    toxics: Vec<LinkToxic>,
    last_due: Option<Instant>,
    /// `timeout` toxic: data is dropped; the connection closes at the deadline (if any).
    timeout: Option<Option<Instant>>,
    /// `reset_peer` toxic: `Some(wait)` while armed on the next data.
    reset_wait: Option<Duration>,
    reset_at: Option<Instant>,
}

impl Link {
    pub(crate) fn new() -> Self {
        Link {
            queue: VecDeque::new(),
            queued_bytes: 0,
            eof: false,
            shut: false,
            blocked: false,
            closing: false,
            toxics: Vec::new(),
            last_due: None,
            timeout: None,
            reset_wait: None,
            reset_at: None,
        }
    }

    /// No toxic state and nothing queued: the plain relay can take over.
    pub(crate) fn is_plain(&self) -> bool {
        self.toxics.is_empty()
            && self.queue.is_empty()
            && self.timeout.is_none()
            && self.reset_at.is_none()
            && !self.closing
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Both ends of this direction are done.
    pub(crate) fn finished(&self) -> bool {
        self.eof && self.shut && self.queue.is_empty()
    }

    pub(crate) fn can_read(&self) -> bool {
        !self.eof && !self.closing && self.reset_at.is_none() && self.queued_bytes < MAX_QUEUED
    }

    /// Takes the toxics of a new chain snapshot. Returns an end when a change itself
    /// ends the connection (a removed `timeout` closes it, as in Toxiproxy: the data it
    /// dropped leaves the stream unusable).
    pub(crate) fn apply(&mut self, toxics: &[Arc<ActiveToxic>], now: Instant) -> Option<End> {
        let mut next = Vec::with_capacity(toxics.len());
        for active in toxics {
            let previous = self.toxics.iter().find(|t| t.active.id == active.id);
            next.push(match previous {
                Some(old) if Arc::ptr_eq(&old.active, active) => old.clone(),
                Some(old) => LinkToxic {
                    active: active.clone(),
                    applies: active.dice.chance(active.toxic.toxicity),
                    ..old.clone()
                },
                None => LinkToxic {
                    active: active.clone(),
                    applies: active.dice.chance(active.toxic.toxicity),
                    last_out: None,
                    sent: 0,
                },
            });
        }
        let mut flush = false;
        let mut end = None;
        for old in self.toxics.iter().filter(|t| t.applies) {
            if next
                .iter()
                .any(|t| t.active.id == old.active.id && t.applies)
            {
                continue;
            }
            match old.active.toxic.kind {
                // Toxiproxy hands on what a removed toxic held at once.
                ToxicKind::Latency(_)
                | ToxicKind::Bandwidth(_)
                | ToxicKind::Slicer(_)
                | ToxicKind::SlowClose(_) => flush = true,
                ToxicKind::Timeout(_) => end = Some(End::Close),
                _ => {}
            }
        }
        self.toxics = next;
        if flush {
            for item in self.queue.iter_mut() {
                if item.due() > now {
                    item.set_due(now);
                }
            }
            self.last_due = self.last_due.map(|d| d.min(now));
            for t in &mut self.toxics {
                t.last_out = t.last_out.map(|d| d.min(now));
            }
        }
        let timeout = self.applying(|k| match k {
            ToxicKind::Timeout(t) => Some(t.timeout),
            _ => None,
        });
        self.timeout = match (timeout, self.timeout) {
            (None, _) => None,
            (Some(_), Some(running)) => Some(running),
            (Some(after), None) => Some((!after.is_zero()).then(|| now + after)),
        };
        self.reset_wait = self.applying(|k| match k {
            ToxicKind::ResetPeer(r) => Some(r.timeout),
            _ => None,
        });
        if self.reset_wait.is_none() {
            self.reset_at = None;
        }
        end
    }

    fn applying<T>(&self, pick: impl Fn(&ToxicKind) -> Option<T>) -> Option<T> {
        self.toxics
            .iter()
            .filter(|t| t.applies)
            .find_map(|t| pick(&t.active.toxic.kind))
    }

    /// Data read from the source at `now`, no earlier than `not_before` (HTTP delays).
    pub(crate) fn push_data(&mut self, now: Instant, not_before: Instant, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.timeout.is_some() {
            // Toxiproxy's timeout drops the data and starts its clock again.
            self.timeout = Some(self.timeout_after().map(|wait| now + wait));
            return;
        }
        if let Some(wait) = self.reset_wait {
            self.reset_at.get_or_insert(now + wait);
            return;
        }
        let mut pieces = vec![Item::Data {
            due: not_before.max(now),
            bytes,
        }];
        self.run_toxics(&mut pieces);
        self.enqueue(pieces);
    }

    /// The source sent EOF.
    pub(crate) fn push_eof(&mut self, now: Instant) {
        self.eof = true;
        if self.timeout.is_some() {
            self.enqueue(vec![Item::Close {
                due: now,
                end: End::Close,
            }]);
            return;
        }
        if let Some(wait) = self.reset_wait {
            self.reset_at.get_or_insert(now + wait);
            return;
        }
        let mut pieces = vec![Item::Fin { due: now }];
        self.run_toxics(&mut pieces);
        self.enqueue(pieces);
    }

    /// Bytes the proxy itself sends (HTTP answers), and optionally a close after them.
    pub(crate) fn push_answer(&mut self, now: Instant, due: Instant, bytes: Bytes, close: bool) {
        let mut pieces = vec![Item::Data {
            due: due.max(now),
            bytes,
        }];
        if close {
            pieces.push(Item::Close {
                due: now,
                end: End::Close,
            });
        }
        self.run_toxics(&mut pieces);
        self.enqueue(pieces);
    }

    /// Bytes a plain relay could not write yet; they go out first, as they are.
    pub(crate) fn push_unwritten(&mut self, now: Instant, bytes: Bytes) {
        self.enqueue(vec![Item::Data { due: now, bytes }]);
    }

    fn timeout_after(&self) -> Option<Duration> {
        self.applying(|k| match k {
            ToxicKind::Timeout(t) if !t.timeout.is_zero() => Some(t.timeout),
            _ => None,
        })
    }

    fn run_toxics(&mut self, pieces: &mut Vec<Item>) {
        for toxic in self.toxics.iter_mut().filter(|t| t.applies) {
            let kind = toxic.active.toxic.kind.clone();
            let mut out = Vec::with_capacity(pieces.len());
            for piece in pieces.drain(..) {
                step(toxic, &kind, piece, &mut out);
            }
            *pieces = out;
        }
    }

    fn enqueue(&mut self, pieces: Vec<Item>) {
        for mut item in pieces {
            if self.closing {
                return;
            }
            // Never let a piece overtake the one before it.
            let due = self
                .last_due
                .map_or(item.due(), |last| item.due().max(last));
            item.set_due(due);
            self.last_due = Some(due);
            match &item {
                Item::Data { bytes, .. } => self.queued_bytes += bytes.len(),
                Item::Close { .. } => self.closing = true,
                Item::Fin { .. } => {}
            }
            self.queue.push_back(item);
        }
    }

    /// Writes what is due by `now` to `dst`, without waiting.
    pub(crate) fn flush(&mut self, now: Instant, dst: &TcpStream) -> io::Result<Flush> {
        self.blocked = false;
        while let Some(item) = self.queue.front_mut() {
            if item.due() > now {
                break;
            }
            match item {
                Item::Data { bytes, .. } => match dst.try_write(bytes) {
                    Ok(n) => {
                        self.queued_bytes -= n;
                        if n == bytes.len() {
                            self.queue.pop_front();
                        } else {
                            let _ = bytes.split_to(n);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.blocked = true;
                        break;
                    }
                    Err(e) => return Err(e),
                },
                Item::Fin { .. } => {
                    self.queue.pop_front();
                    if !self.shut {
                        self.shut = true;
                        shutdown_write(dst);
                    }
                }
                Item::Close { end, .. } => return Ok(Flush::End(*end)),
            }
        }
        Ok(Flush::Idle)
    }

    /// The next time this link has something to do by itself.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let head = if self.blocked {
            None
        } else {
            self.queue.front().map(Item::due)
        };
        [head, self.timeout.flatten(), self.reset_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A deadline that has passed ends the connection.
    pub(crate) fn expired(&self, now: Instant) -> Option<End> {
        if self.reset_at.is_some_and(|at| at <= now) {
            return Some(End::Reset);
        }
        if self.timeout.flatten().is_some_and(|at| at <= now) {
            return Some(End::Close);
        }
        None
    }
}

/// Half-closes: the peer reads EOF but can still send.
pub(crate) fn shutdown_write(stream: &TcpStream) {
    // ENOTCONN here only means the peer is gone already; the close that follows handles it.
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
}

/// One toxic's effect on one piece.
fn step(toxic: &mut LinkToxic, kind: &ToxicKind, piece: Item, out: &mut Vec<Item>) {
    let after_last = |due: Instant, last: Option<Instant>| last.map_or(due, |l| due.max(l));
    match (kind, piece) {
        (ToxicKind::Latency(a), Item::Data { due, bytes }) => {
            let delay = toxic.active.dice.jitter(a.latency, a.jitter);
            let due = after_last(due + delay, toxic.last_out);
            toxic.last_out = Some(due);
            out.push(Item::Data { due, bytes });
        }
        (ToxicKind::Bandwidth(a), Item::Data { due, mut bytes }) if a.rate > 0 => {
            // Toxiproxy's unit: rate KB/s, so rate bytes per millisecond. Large chunks go
            // out in 100 ms slices so the flow stays smooth.
            let slice = a.rate.saturating_mul(100).min(1 << 30) as usize;
            let mut start = after_last(due, toxic.last_out);
            while !bytes.is_empty() {
                let piece = bytes.split_to(slice.min(bytes.len()));
                start += Duration::from_micros(piece.len() as u64 * 1000 / a.rate);
                out.push(Item::Data {
                    due: start,
                    bytes: piece,
                });
            }
            toxic.last_out = Some(start);
        }
        (ToxicKind::Slicer(a), Item::Data { due, bytes }) => {
            let mut at = after_last(due, toxic.last_out);
            let mut offset = 0;
            for size in slices(bytes.len(), a.average_size, a.size_variation, toxic) {
                out.push(Item::Data {
                    due: at,
                    bytes: bytes.slice(offset..offset + size),
                });
                offset += size;
                at += a.delay;
            }
            toxic.last_out = Some(at);
        }
        (ToxicKind::LimitData(a), Item::Data { due, mut bytes }) => {
            let left = a.bytes.saturating_sub(toxic.sent);
            if (bytes.len() as u64) >= left {
                bytes.truncate(left as usize);
            }
            toxic.sent += bytes.len() as u64;
            if !bytes.is_empty() {
                out.push(Item::Data { due, bytes });
            }
            if toxic.sent >= a.bytes {
                out.push(Item::Close {
                    due,
                    end: End::Close,
                });
            }
        }
        (ToxicKind::SlowClose(a), Item::Fin { due }) => out.push(Item::Fin { due: due + a.delay }),
        (
            ToxicKind::SlowClose(a),
            Item::Close {
                due,
                end: End::Close,
            },
        ) => out.push(Item::Close {
            due: due + a.delay,
            end: End::Close,
        }),
        // Toxiproxy's noop exists to exercise the toxic path: the connection leaves the
        // plain relay for it, and the bytes come out as they went in.
        (ToxicKind::Noop(_), piece) => out.push(piece),
        // Closes wait for the data before them; everything else passes unchanged.
        (
            ToxicKind::Latency(_) | ToxicKind::Bandwidth(_) | ToxicKind::Slicer(_),
            Item::Fin { due },
        ) => out.push(Item::Fin {
            due: after_last(due, toxic.last_out),
        }),
        (_, piece) => out.push(piece),
    }
}

/// Slicer piece sizes summing to `len`: halves recursively until a piece is within
/// `variation` of `average`, moving each cut by up to `variation` (Toxiproxy's scheme).
fn slices(len: usize, average: u64, variation: u64, toxic: &LinkToxic) -> Vec<usize> {
    let average = average.max(1) as usize;
    let variation = variation as usize;
    let mut sizes = Vec::with_capacity(len / average + 1);
    // Explicit stack (right half pushed first) instead of recursion.
    let mut stack = vec![len];
    while let Some(size) = stack.pop() {
        if size <= average + variation || size < 2 {
            if size > 0 {
                sizes.push(size);
            }
            continue;
        }
        let mut left = size / 2;
        if variation > 0 {
            let shift = toxic.active.dice.below(2 * variation as u64) as usize;
            left = (left + shift).saturating_sub(variation).clamp(1, size - 1);
        }
        stack.push(size - left);
        stack.push(left);
    }
    sizes
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;

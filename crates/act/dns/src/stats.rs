//! What the server did, counted by kind.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since the server started.
///
/// Every decoded query is counted in `queries` and then in exactly one of `answered`,
/// `forwarded`, `nxdomain`, `servfail`, `refused`, `wrong_address` and `dropped` (once it
/// is done: a delayed query is counted in `delayed` at once and in its outcome after the
/// delay). `nxdomain` to `dropped` count faults only: a name that neither the records
/// nor an upstream holds is answered NXDOMAIN and counted in `answered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DnsStats {
    /// Queries decoded (UDP and TCP).
    pub queries: u64,
    /// Answered here without a fault (from the records, or NXDOMAIN/NODATA).
    pub answered: u64,
    /// NXDOMAIN faults.
    pub nxdomain: u64,
    /// SERVFAIL faults.
    pub servfail: u64,
    /// REFUSED faults.
    pub refused: u64,
    /// Wrong-address faults.
    pub wrong_address: u64,
    /// Delay faults (the query is then answered as without the fault).
    pub delayed: u64,
    /// Timeout faults: no answer was sent.
    pub dropped: u64,
    /// Sent to the upstream (the answer relayed, or SERVFAIL when it failed).
    pub forwarded: u64,
    /// Forwarded queries the upstream did not answer in time or answered with garbage.
    pub upstream_errors: u64,
    /// Messages that were not one standard query (undecodable, no or several questions,
    /// another opcode, a response): answered FORMERR or NOTIMP when the header was
    /// readable. Not in `queries`.
    pub malformed: u64,
    /// Queries and TCP connections dropped unread because the server was at its cap
    /// (`max_in_flight`, or 128 TCP connections). Not in `queries`.
    pub shed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queries: Counter,
    pub(crate) answered: Counter,
    pub(crate) nxdomain: Counter,
    pub(crate) servfail: Counter,
    pub(crate) refused: Counter,
    pub(crate) wrong_address: Counter,
    pub(crate) delayed: Counter,
    pub(crate) dropped: Counter,
    pub(crate) forwarded: Counter,
    pub(crate) upstream_errors: Counter,
    pub(crate) malformed: Counter,
    pub(crate) shed: Counter,
}

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> DnsStats {
        DnsStats {
            queries: self.queries.get(),
            answered: self.answered.get(),
            nxdomain: self.nxdomain.get(),
            servfail: self.servfail.get(),
            refused: self.refused.get(),
            wrong_address: self.wrong_address.get(),
            delayed: self.delayed.get(),
            dropped: self.dropped.get(),
            forwarded: self.forwarded.get(),
            upstream_errors: self.upstream_errors.get(),
            malformed: self.malformed.get(),
            shed: self.shed.get(),
        }
    }
}

//! The breaker's state in one atomic word, so admission and transitions are single
//! compare-and-swaps: `[since_ms: 46][probe_successes: 8][probes_admitted: 8][state: 2]`.
//!
//! `since_ms` (milliseconds on the breaker's clock when the state was entered) also names a
//! half-open episode, so a probe finishing after its episode ended changes nothing.

use serde::Serialize;

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Calls pass and are judged.
    Closed,
    /// Calls are rejected until `open_for` has passed.
    Open,
    /// A bounded number of probe calls pass; the rest are rejected.
    HalfOpen,
}

impl State {
    /// Lower-case name, as in metrics and the replay timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unpacked word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub state: State,
    pub probes_admitted: u8,
    pub probe_successes: u8,
    pub since_ms: u64,
}

const SINCE_MASK: u64 = (1 << 46) - 1;

impl Word {
    pub(crate) fn new(state: State, since_ms: u64) -> Word {
        Word {
            state,
            probes_admitted: 0,
            probe_successes: 0,
            since_ms: since_ms & SINCE_MASK,
        }
    }

    pub(crate) fn pack(self) -> u64 {
        let state = match self.state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        };
        state
            | (u64::from(self.probes_admitted) << 2)
            | (u64::from(self.probe_successes) << 10)
            | ((self.since_ms & SINCE_MASK) << 18)
    }

    pub(crate) fn unpack(bits: u64) -> Word {
        Word {
            state: match bits & 3 {
                0 => State::Closed,
                1 => State::Open,
                _ => State::HalfOpen,
            },
            probes_admitted: ((bits >> 2) & 0xff) as u8,
            probe_successes: ((bits >> 10) & 0xff) as u8,
            since_ms: bits >> 18,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn words_round_trip(state in 0u8..3, admitted: u8, successes: u8, since in 0u64..(1 << 46)) {
            let state = [State::Closed, State::Open, State::HalfOpen][state as usize];
            let word = Word { state, probes_admitted: admitted, probe_successes: successes, since_ms: since };
            prop_assert_eq!(Word::unpack(word.pack()), word);
        }
    }
}

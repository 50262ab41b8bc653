//! Faults by name pattern, and the per-query coin that decides whether one applies.

use crate::config::normalize_name;
use crate::error::Error;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest [`DnsAction::Delay`].
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// One fault: what happens to a share of the queries for names matching a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsFault {
    /// `*` (every name), `*.shop.test` (every name ending in `.shop.test`, at any depth,
    /// not `shop.test` itself) or an exact name. Case-insensitive, trailing dot optional.
    pub pattern: String,
    /// What is done.
    pub action: DnsAction,
    /// Chance, per matching query, that it is done: 0 to 1.
    pub share: f64,
}

impl DnsFault {
    /// A fault on every matching query (share 1).
    pub fn new(pattern: impl Into<String>, action: DnsAction) -> Self {
        DnsFault {
            pattern: pattern.into(),
            action,
            share: 1.0,
        }
    }

    /// The same fault on a share (0 to 1) of the matching queries.
    pub fn share(mut self, share: f64) -> Self {
        self.share = share;
        self
    }
}

/// What a fault does to a query.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsAction {
    /// Answer NXDOMAIN: the name does not exist.
    NxDomain,
    /// Answer SERVFAIL: the server failed.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Answer with these addresses instead (A queries get the IPv4 ones, AAAA the IPv6
    /// ones; at least one address).
    Address(Vec<IpAddr>),
    /// Wait this long (at most [`MAX_DELAY`]), then answer as without the fault.
    Delay(Duration),
    /// Never answer.
    Timeout,
}

impl DnsAction {
    /// Lower-case name, as in a contract (`servfail`, `delay`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            DnsAction::NxDomain => "nxdomain",
            DnsAction::ServFail => "servfail",
            DnsAction::Refused => "refused",
            DnsAction::Address(_) => "address",
            DnsAction::Delay(_) => "delay",
            DnsAction::Timeout => "timeout",
        }
    }
}

/// A parsed name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `*`
    Any,
    /// `*.shop.test`, kept as `.shop.test`.
    Suffix(String),
    /// `db.shop.test`
    Exact(String),
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        if text == "*" || text == "*." {
            return Ok(Pattern::Any);
        }
        if let Some(rest) = text.strip_prefix("*.") {
            let suffix = normalize_name(rest).map_err(|e| format!("after \"*.\": {e}"))?;
            return Ok(Pattern::Suffix(format!(".{suffix}")));
        }
        if text.contains('*') {
            return Err(format!(
                "{text:?}: '*' may only stand alone or as the whole first label \
                 (\"*\", \"*.shop.test\")"
            ));
        }
        normalize_name(text).map(Pattern::Exact)
    }

    /// `name` as [`normalize_name`] makes it.
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Suffix(suffix) => name.len() > suffix.len() && name.ends_with(suffix.as_str()),
            Pattern::Exact(exact) => name == exact,
        }
    }
}

/// Faults checked, in order.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    faults: Vec<(Pattern, DnsAction, f64)>,
}

impl FaultSet {
    pub(crate) fn compile(faults: Vec<DnsFault>) -> Result<FaultSet, Error> {
        let mut out = Vec::with_capacity(faults.len());
        for (index, fault) in faults.into_iter().enumerate() {
            let refuse = |message: String| Error::InvalidFault {
                index,
                pattern: fault.pattern.clone(),
                message,
            };
            let pattern = Pattern::parse(&fault.pattern).map_err(refuse)?;
            if !(0.0..=1.0).contains(&fault.share) {
                return Err(refuse(format!(
                    "share {} is out of range: expected 0 to 1",
                    fault.share
                )));
            }
            match &fault.action {
                DnsAction::Delay(delay) if *delay > MAX_DELAY => {
                    return Err(refuse(format!(
                        "delay {} is over the limit of 60s",
                        ballast_core::format_duration(*delay)
                    )));
                }
                DnsAction::Address(addresses) if addresses.is_empty() => {
                    return Err(refuse(
                        "a wrong-address answer needs at least one address".to_string(),
                    ));
                }
                _ => {}
            }
            out.push((pattern, fault.action, fault.share));
        }
        Ok(FaultSet { faults: out })
    }

    /// The first matching fault whose coin comes up; each matching fault draws once.
    pub(crate) fn pick(&self, name: &str, dice: &Dice) -> Option<&DnsAction> {
        self.faults
            .iter()
            .filter(|(pattern, _, _)| pattern.matches(name))
            .find(|(_, _, share)| dice.chance(*share))
            .map(|(_, action, _)| action)
    }
}

/// Uniform numbers from a counter: draw *n* is SplitMix64 of the seed and *n*, so with a
/// fixed seed the k-th coin is always the same, whichever task draws it, and no lock
/// sits on the query path.
#[derive(Debug)]
pub(crate) struct Dice {
    seed: u64,
    next: AtomicU64,
}

impl Dice {
    pub(crate) fn new(seed: u64) -> Dice {
        Dice {
            seed,
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`: always at 1, never at 0 (no draw is spent on either).
    pub(crate) fn chance(&self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        if p <= 0.0 {
            return false;
        }
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn patterns() {
        assert_eq!(Pattern::parse("*").unwrap(), Pattern::Any);
        assert_eq!(
            Pattern::parse("*.Shop.Test.").unwrap(),
            Pattern::Suffix(".shop.test".into())
        );
        assert_eq!(
            Pattern::parse("DB.shop.test").unwrap(),
            Pattern::Exact("db.shop.test".into())
        );
        assert_eq!(Pattern::parse("*.").unwrap(), Pattern::Any);
        for bad in ["", "db*.test", "*.*.test", "**", "a.*", "*x.test", "*.a..b"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
        let suffix = Pattern::parse("*.shop.test").unwrap();
        assert!(suffix.matches("db.shop.test"));
        assert!(suffix.matches("a.b.shop.test"));
        assert!(!suffix.matches("shop.test"));
        assert!(!suffix.matches("dbshop.test"));
        assert!(!suffix.matches("db.shop.test.evil"));
    }

    #[test]
    fn faults_are_checked() {
        let cases = [
            (
                DnsFault::new("*", DnsAction::ServFail).share(1.5),
                "share 1.5",
            ),
            (
                DnsFault::new("*", DnsAction::ServFail).share(f64::NAN),
                "share NaN",
            ),
            (
                DnsFault::new("*", DnsAction::Delay(Duration::from_secs(61))),
                "over the limit",
            ),
            (
                DnsFault::new("*", DnsAction::Address(vec![])),
                "at least one",
            ),
            (DnsFault::new("db*", DnsAction::Refused), "'*' may only"),
        ];
        for (fault, expected) in cases {
            let err = FaultSet::compile(vec![DnsFault::new("ok.test", DnsAction::Timeout), fault])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("faults[1]"), "{err}");
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn first_matching_fault_whose_coin_comes_up_applies() {
        let set = FaultSet::compile(vec![
            DnsFault::new("db.shop.test", DnsAction::Refused).share(0.0),
            DnsFault::new("*.shop.test", DnsAction::NxDomain),
            DnsFault::new("*", DnsAction::ServFail),
        ])
        .unwrap();
        let dice = Dice::new(1);
        assert_eq!(set.pick("db.shop.test", &dice), Some(&DnsAction::NxDomain));
        assert_eq!(set.pick("other.test", &dice), Some(&DnsAction::ServFail));
        assert_eq!(FaultSet::default().pick("x", &dice), None);
    }

    #[test]
    fn coins_follow_the_share_and_the_seed() {
        let dice = Dice::new(42);
        let hits = (0..100_000).filter(|_| dice.chance(0.3)).count();
        assert!((29_000..31_000).contains(&hits), "{hits}");
        let draws = |seed| {
            let dice = Dice::new(seed);
            (0..64).map(|_| dice.chance(0.5)).collect::<Vec<bool>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        assert!(draws(7).contains(&true) && draws(7).contains(&false));
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_][a-zA-Z0-9_-]{0,10}"
    }

    proptest! {
        #[test]
        fn a_name_matches_itself_any_case_and_its_suffixes(
            labels in proptest::collection::vec(label(), 1..5),
            dot in any::<bool>(),
        ) {
            let name = labels.join(".");
            let folded = normalize_name(&name).unwrap();
            let written = if dot { format!("{}.", name.to_ascii_uppercase()) } else { name.clone() };
            prop_assert!(Pattern::parse(&written).unwrap().matches(&folded));
            prop_assert!(Pattern::parse("*").unwrap().matches(&folded));
            for cut in 1..labels.len() {
                let suffix = format!("*.{}", labels[cut..].join("."));
                prop_assert!(Pattern::parse(&suffix).unwrap().matches(&folded), "{suffix}");
            }
            let own = format!("*.{name}");
            prop_assert!(!Pattern::parse(&own).unwrap().matches(&folded));
        }

        #[test]
        fn pattern_parsing_never_panics(text in "\\PC{0,40}") {
            let _ = Pattern::parse(&text);
        }
    }
}

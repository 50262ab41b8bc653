//! Profiles a phase captures (`phases[].profile`) and the clauses that read them
//! (`profile.cpu.share("encoding/json") <= 20%`, `profile.heap.inuse <= 1.5 *
//! baseline.profile.heap.inuse`): as written ([`ProfileSpec`]) and as checked
//! ([`ProfilePlan`]); `ballast verify` captures them.

use crate::expr::Dim;
use crate::load::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Profiles to capture at the end of a phase, from Go's `/debug/pprof/*` (or a
/// `ballast-tower` service's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Which: `cpu`, `heap`, `allocs`, `goroutine`, `block`, `mutex`. Default: cpu and heap.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// The CPU profile's length, ending at the phase's end; the other kinds are read at its
    /// start and end. Default: 30, or the phase's length when shorter.
    #[serde(default)]
    pub seconds: Option<u64>,
    /// Where `/debug/pprof/` is served. Default: `target.base_url`.
    #[serde(default)]
    pub url: Option<String>,
    /// Bearer token for the endpoints (a `ballast-tower` service requires one), e.g.
    /// `${PPROF_TOKEN}`. Default: none.
    #[serde(default)]
    pub token: Option<String>,
}

/// A kind of profile (the model's, shared with the capture that fetches it).
pub use ballast_core::profile::Kind as ProfileKind;

/// What a kind's total measures in the clause language: CPU time and waits in ms, memory
/// in bytes, goroutines counted.
pub fn total_dim(kind: ProfileKind) -> Dim {
    match kind {
        ProfileKind::Cpu | ProfileKind::Block | ProfileKind::Mutex => Dim::Millis,
        ProfileKind::Heap | ProfileKind::Allocs => Dim::Bytes,
        ProfileKind::Goroutine => Dim::Number,
    }
}

/// What a profile fact reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileStat {
    /// The kind's whole value over the window (`profile.cpu.total`; `heap.inuse` and
    /// `goroutine.count` are the same for those kinds).
    Total,
    /// The share of the total in stacks with a frame of this function or package
    /// (`profile.cpu.share("encoding/json")`).
    Share(String),
}

/// The profiles of one phase, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilePlan {
    /// Kinds, without repeats, in [`ProfileKind::ALL`]'s order.
    pub kinds: Vec<ProfileKind>,
    /// The CPU window, ending at the phase's end.
    pub window: Duration,
    /// The base URL of `/debug/pprof/`.
    pub url: String,
    /// Bearer token for it.
    pub token: Option<String>,
}

/// The longest window: Go refuses CPU profiles longer than its server's write timeout,
/// and a longer one only delays the verdict.
const MAX_SECONDS: u64 = 600;

pub(crate) fn check_profile(
    c: &mut Checker<'_>,
    path: &str,
    spec: &ProfileSpec,
    phase_length: Option<Duration>,
    base_url: &str,
) -> Option<ProfilePlan> {
    let path = format!("{path}.profile");
    let mut ok = true;
    if phase_length.is_some_and(|l| l < Duration::from_secs(1)) {
        c.error(
            &path,
            "a phase that captures profiles lasts at least 1s (the window is whole seconds)",
        );
        ok = false;
    }
    if spec.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        c.error(
            &format!("{path}.token"),
            "expected a token, or no token: key",
        );
        ok = false;
    }
    let mut kinds = Vec::new();
    match &spec.kinds {
        None => kinds.extend([ProfileKind::Cpu, ProfileKind::Heap]),
        Some(list) if list.is_empty() => {
            c.error(
                &format!("{path}.kinds"),
                "expected at least one of cpu, heap, allocs, goroutine, block, mutex",
            );
            ok = false;
        }
        Some(list) => {
            for (i, name) in list.iter().enumerate() {
                match name.parse::<ProfileKind>() {
                    Ok(k) if kinds.contains(&k) => {
                        c.error(
                            &format!("{path}.kinds[{i}]"),
                            format!("{name} is listed twice"),
                        );
                        ok = false;
                    }
                    Ok(k) => kinds.push(k),
                    Err(e) => {
                        c.error(&format!("{path}.kinds[{i}]"), e);
                        ok = false;
                    }
                }
            }
        }
    }
    kinds.sort();
    let window = match spec.seconds {
        Some(0) => {
            c.error(&format!("{path}.seconds"), "expected 1 or more seconds");
            ok = false;
            Duration::ZERO
        }
        Some(s) if s > MAX_SECONDS => {
            c.error(
                &format!("{path}.seconds"),
                format!("expected at most {MAX_SECONDS} seconds"),
            );
            ok = false;
            Duration::ZERO
        }
        Some(s) => {
            let window = Duration::from_secs(s);
            if phase_length.is_some_and(|l| window > l) {
                c.error(
                    &format!("{path}.seconds"),
                    format!(
                        "expected at most the phase's length ({}s): the window ends with the phase",
                        phase_length.unwrap_or_default().as_secs()
                    ),
                );
                ok = false;
            }
            window
        }
        // Whole seconds: Go's endpoint takes `seconds` as an integer.
        None => Duration::from_secs(phase_length.map(|l| l.as_secs().clamp(1, 30)).unwrap_or(30)),
    };
    let url = spec.url.clone().unwrap_or_else(|| base_url.to_string());
    if let Err(e) = ballast_spec::Target::parse(&url) {
        c.error(
            &format!("{path}.url"),
            format!("expected the http:// or https:// URL of the server of /debug/pprof/; {e}"),
        );
        ok = false;
    }
    ok.then_some(ProfilePlan {
        kinds,
        window,
        url,
        token: spec.token.clone(),
    })
}

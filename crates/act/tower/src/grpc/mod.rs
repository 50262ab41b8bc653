//! gRPC for the breaker and the metrics: which calls failed, read from `grpc-status`.
//!
//! A gRPC call answers HTTP 200 whatever happened; its outcome is the `grpc-status` field,
//! sent either in the response headers (a *trailers-only* response: tonic answers this way
//! for an error returned by a unary handler) or in the HTTP/2 trailers after the messages
//! (every OK call, and errors of streaming calls or of servers that send the status after
//! data). [`GrpcClassifier`] reads the headers and, when the status is not there, the
//! trailers: the layers built with it ([`BreakerHandle::grpc_layer`](crate::breaker::BreakerHandle::grpc_layer),
//! [`HttpMetrics::grpc_layer`](crate::metrics::HttpMetrics::grpc_layer)) wrap the response
//! body and judge the call when its trailers arrive, or when it ends, fails or is dropped.
//!
//! How a call is judged:
//!
//! | the call ended with | code recorded | failure? |
//! |---|---|---|
//! | HTTP 200 and a `grpc-status` (headers or trailers) | that code (a number above 16: `UNKNOWN`, as the gRPC spec says) | if in `failure_codes` |
//! | an HTTP status other than 200 | its `grpc-status`, else the code the [gRPC HTTP mapping] gives it (503 → `UNAVAILABLE`, 404 → `UNIMPLEMENTED`, …) | always: a gRPC server answers 200, so something in between (a proxy, a wrong address) answered instead |
//! | the body ending without `grpc-status`, or with one that is not a number | `error` | always (a protocol error) |
//! | the service returning an error, or the body failing | `error` | always (a transport error) |
//! | the body dropped before its end | `CANCELLED` (what gRPC reports for an abandoned call) | if `CANCELLED` is in `failure_codes` (not by default) |
//!
//! [gRPC HTTP mapping]: https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md

pub(crate) mod body;

use crate::breaker::Outcome;
use crate::Error;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The gRPC status codes by number, as the spec names them.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

const CANCELLED: u8 = 1;
const UNKNOWN: u8 = 2;
const DEADLINE_EXCEEDED: u8 = 4;
const PERMISSION_DENIED: u8 = 7;
const UNIMPLEMENTED: u8 = 12;
const INTERNAL: u8 = 13;
const UNAVAILABLE: u8 = 14;
const UNAUTHENTICATED: u8 = 16;

/// The label of calls that ended with no gRPC status (an error, a protocol error).
pub(crate) const ERROR_LABEL: &str = "error";
/// Index of [`ERROR_LABEL`] after the 17 codes.
pub(crate) const ERROR: u8 = 17;
/// Codes and the `error` label: what a call's recorded code can be.
pub(crate) const LABELS: usize = 18;

/// The label of a recorded code (`0..LABELS`).
pub(crate) fn label(code: u8) -> &'static str {
    CODE_NAMES
        .get(usize::from(code))
        .copied()
        .unwrap_or(ERROR_LABEL)
}

const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// A set of gRPC status codes: the ones a [`GrpcClassifier`] counts as failures.
///
/// Written in config as a list of names and/or numbers, `["UNAVAILABLE", 13]` (names in any
/// case); an unknown name, a number above 16, `OK` (0) or a code listed twice is rejected.
/// Written back as names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrpcCodes(u32);

impl GrpcCodes {
    /// No code: only transport and protocol errors and non-200 answers fail.
    pub const NONE: GrpcCodes = GrpcCodes(0);

    /// The default failure codes, the ones that say the server is unwell rather than the
    /// request wrong: `UNKNOWN` (2), `DEADLINE_EXCEEDED` (4), `RESOURCE_EXHAUSTED` (8),
    /// `UNIMPLEMENTED` (12), `INTERNAL` (13), `UNAVAILABLE` (14), `DATA_LOSS` (15).
    /// `docs/tower.md` says why each is in or out.
    pub const DEFAULT_FAILURES: GrpcCodes =
        GrpcCodes(1 << 2 | 1 << 4 | 1 << 8 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 15);

    /// The set of `codes` (each 1..=16, none twice).
    pub fn new(codes: impl IntoIterator<Item = u32>) -> Result<GrpcCodes, Error> {
        let mut set = GrpcCodes::NONE;
        for code in codes {
            set = set.with(code).map_err(|message| Error::InvalidConfig {
                field: "failure_codes",
                message,
            })?;
        }
        Ok(set)
    }

    /// The set of the codes named (`"UNAVAILABLE"`, any case; numbers as text too).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<GrpcCodes, Error> {
        let mut set = GrpcCodes::NONE;
        for name in names {
            set = parse_name(name)
                .and_then(|code| set.with(code))
                .map_err(|message| Error::InvalidConfig {
                    field: "failure_codes",
                    message,
                })?;
        }
        Ok(set)
    }

    fn with(self, code: u32) -> Result<GrpcCodes, String> {
        match code {
            0 => Err(
                "OK (0) cannot be a failure code: it is the status of a call that succeeded".into(),
            ),
            1..=16 if self.0 & (1 << code) != 0 => Err(format!(
                "{} ({code}) is listed twice",
                CODE_NAMES[code as usize]
            )),
            1..=16 => Ok(GrpcCodes(self.0 | 1 << code)),
            _ => Err(format!(
                "there is no gRPC status code {code}: expected 1..=16 or a name ({})",
                CODE_NAMES[1..].join(", ")
            )),
        }
    }

    /// Whether `code` is in the set.
    #[inline]
    pub fn contains(&self, code: u32) -> bool {
        code < 32 && self.0 & (1 << code) != 0
    }

    /// The codes in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (1..=16).filter(|&c| self.contains(c))
    }
}

impl Default for GrpcCodes {
    fn default() -> Self {
        GrpcCodes::DEFAULT_FAILURES
    }
}

impl std::fmt::Debug for GrpcCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|c| CODE_NAMES[c as usize]))
            .finish()
    }
}

fn parse_name(text: &str) -> Result<u32, String> {
    if let Ok(number) = text.trim().parse::<u32>() {
        return Ok(number);
    }
    CODE_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text.trim()))
        .map(|code| code as u32)
        .ok_or_else(|| {
            format!(
                "unknown gRPC status code {text:?}: expected one of {} or a number 1..=16",
                CODE_NAMES[1..].join(", ")
            )
        })
}

impl Serialize for GrpcCodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.count_ones() as usize))?;
        for code in self.iter() {
            seq.serialize_element(CODE_NAMES[code as usize])?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for GrpcCodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Codes;
        impl<'de> Visitor<'de> for Codes {
            type Value = GrpcCodes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of gRPC status codes, by name (\"UNAVAILABLE\") or number (14)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GrpcCodes, A::Error> {
                let mut set = GrpcCodes::NONE;
                while let Some(Code(code)) = seq.next_element()? {
                    set = set.with(code).map_err(de::Error::custom)?;
                }
                Ok(set)
            }
        }
        deserializer.deserialize_seq(Codes)
    }
}

/// One list item: a name or a number.
struct Code(u32);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct One;
        impl Visitor<'_> for One {
            type Value = Code;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a gRPC status code name (\"UNAVAILABLE\") or number (14)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Code, E> {
                parse_name(text).map(Code).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Code, E> {
                Ok(Code(u32::try_from(n).unwrap_or(u32::MAX)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Code, E> {
                Ok(Code(u32::try_from(n).unwrap_or(u32::MAX)))
            }
        }
        deserializer.deserialize_any(One)
    }
}

/// Judges gRPC calls from their `grpc-status` (see the [module](self) for every case).
///
/// `Copy` and four bytes: judging reads one header and tests one bit, with no allocation.
/// As config (`{"failure_codes": ["UNAVAILABLE", "INTERNAL"]}`), `failure_codes` defaults to
/// [`GrpcCodes::DEFAULT_FAILURES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcClassifier {
    /// Codes that count as failures. Default: [`GrpcCodes::DEFAULT_FAILURES`].
    #[serde(default)]
    pub failure_codes: GrpcCodes,
}

/// How one gRPC call was judged: the code recorded (`0..=16`, or [`ERROR`]) and whether it
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) code: u8,
    pub(crate) failed: bool,
}

impl Verdict {
    const ERROR: Verdict = Verdict {
        code: ERROR,
        failed: true,
    };

    /// The breaker's `call_timeout` ran out before the response head.
    pub(crate) const TIMEOUT: Verdict = Verdict {
        code: DEADLINE_EXCEEDED,
        failed: true,
    };

    /// The breaker's outcome: a failing `DEADLINE_EXCEEDED` is a timeout.
    pub(crate) fn outcome(self) -> Outcome {
        match (self.failed, self.code) {
            (false, _) => Outcome::Success,
            (true, DEADLINE_EXCEEDED) => Outcome::Timeout,
            (true, _) => Outcome::Failure,
        }
    }
}

/// `grpc-status` as a code: `None` if absent, `Some(Err(()))` if not a number.
#[inline]
fn status_in(headers: &http::HeaderMap) -> Option<Result<u8, ()>> {
    // A walk beats a lookup here: a gRPC head or trailers map holds a handful of fields
    // (`grpc-status`, `grpc-message`, a content type), and comparing a name's length
    // rejects the others at once, where a lookup hashes the name every time.
    let value = headers
        .iter()
        .find_map(|(name, value)| (name == GRPC_STATUS).then_some(value))?
        .as_bytes();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Some(Err(()));
    }
    let number = value.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    // Codes past the known ones are UNKNOWN (the spec; tonic and grpc-go read them so).
    Some(Ok(u8::try_from(number)
        .ok()
        .filter(|&c| c <= 16)
        .unwrap_or(UNKNOWN)))
}

/// The code the gRPC HTTP mapping gives a non-200 answer without `grpc-status`.
fn mapped(status: http::StatusCode) -> u8 {
    match status.as_u16() {
        400 => INTERNAL,
        401 => UNAUTHENTICATED,
        403 => PERMISSION_DENIED,
        404 => UNIMPLEMENTED,
        429 | 502 | 503 | 504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

impl GrpcClassifier {
    /// A classifier failing `failure_codes` (and every transport or protocol error).
    pub fn new(failure_codes: GrpcCodes) -> GrpcClassifier {
        GrpcClassifier { failure_codes }
    }

    fn verdict(&self, code: u8) -> Verdict {
        Verdict {
            code,
            failed: self.failure_codes.contains(u32::from(code)),
        }
    }

    /// The verdict of a response head, or `None` if it is for the trailers to say.
    #[inline]
    pub(crate) fn head(
        &self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) -> Option<Verdict> {
        let found = status_in(headers);
        if status != http::StatusCode::OK {
            let code = match found {
                Some(Ok(code)) => code,
                _ => mapped(status),
            };
            return Some(Verdict { code, failed: true });
        }
        match found? {
            Ok(code) => Some(self.verdict(code)),
            Err(()) => Some(Verdict::ERROR),
        }
    }

    /// The verdict of the trailers.
    #[inline]
    pub(crate) fn trailers(&self, trailers: &http::HeaderMap) -> Verdict {
        match status_in(trailers) {
            Some(Ok(code)) => self.verdict(code),
            _ => Verdict::ERROR,
        }
    }

    /// A body that ended without trailers, a failed body or a service error.
    pub(crate) fn error(&self) -> Verdict {
        Verdict::ERROR
    }

    /// A body dropped before its end: the caller abandoned the call.
    pub(crate) fn abandoned(&self) -> Verdict {
        self.verdict(CANCELLED)
    }

    /// Whether the codes a call ended with counts as a failure (`code` as in `grpc-status`;
    /// anything above 16 is `UNKNOWN`).
    pub fn is_failure(&self, code: u32) -> bool {
        self.failure_codes
            .contains(if code > 16 { u32::from(UNKNOWN) } else { code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(status: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", status.parse().unwrap());
        h
    }

    #[test]
    fn default_failures_are_the_server_side_faults() {
        let names: Vec<&str> = GrpcCodes::default()
            .iter()
            .map(|c| CODE_NAMES[c as usize])
            .collect();
        assert_eq!(
            names,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "RESOURCE_EXHAUSTED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        let c = GrpcClassifier::default();
        for client_error in [1, 3, 5, 6, 7, 9, 10, 11, 16] {
            assert!(
                !c.is_failure(client_error),
                "{}",
                CODE_NAMES[client_error as usize]
            );
        }
        assert!(c.is_failure(99), "unknown codes are UNKNOWN");
    }

    #[test]
    fn codes_parse_by_name_or_number_and_bad_ones_are_named() {
        let c: GrpcClassifier =
            serde_json::from_str(r#"{"failure_codes": ["unavailable", 13, "NOT_FOUND"]}"#).unwrap();
        assert_eq!(c.failure_codes, GrpcCodes::new([5, 13, 14]).unwrap());
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"failure_codes":["NOT_FOUND","INTERNAL","UNAVAILABLE"]}"#
        );
        let c: GrpcClassifier = serde_json::from_str("{}").unwrap();
        assert_eq!(c.failure_codes, GrpcCodes::DEFAULT_FAILURES);
        let none: GrpcClassifier = serde_json::from_str(r#"{"failure_codes": []}"#).unwrap();
        assert_eq!(none.failure_codes, GrpcCodes::NONE);
        for (text, expected) in [
            (
                r#"["UNAVAILBLE"]"#,
                "unknown gRPC status code \"UNAVAILBLE\": expected one of CANCELLED, UNKNOWN",
            ),
            ("[17]", "there is no gRPC status code 17"),
            ("[-1]", "there is no gRPC status code 4294967295"),
            (r#"["OK"]"#, "OK (0) cannot be a failure code"),
            (r#"[14, "UNAVAILABLE"]"#, "UNAVAILABLE (14) is listed twice"),
            (r#""UNAVAILABLE""#, "expected a list of gRPC status codes"),
        ] {
            let err = serde_json::from_str::<GrpcCodes>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = serde_json::from_str::<GrpcClassifier>(r#"{"failure_code": []}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = GrpcCodes::from_names(["INTERNAL", "nope"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failure_codes: unknown gRPC status code \"nope\""),
            "{err}"
        );
        assert_eq!(
            GrpcCodes::from_names(["internal", "14"]).unwrap(),
            GrpcCodes::new([13, 14]).unwrap()
        );
    }

    #[test]
    fn heads_and_trailers_are_judged() {
        let c = GrpcClassifier::default();
        let ok = http::StatusCode::OK;
        let none = http::HeaderMap::new();
        assert_eq!(c.head(ok, &none), None, "for the trailers to say");
        assert_eq!(
            c.head(ok, &headers("14")),
            Some(Verdict {
                code: 14,
                failed: true
            })
        );
        assert_eq!(
            c.head(ok, &headers("5")),
            Some(Verdict {
                code: 5,
                failed: false
            })
        );
        assert_eq!(
            c.head(ok, &headers("0")),
            Some(Verdict {
                code: 0,
                failed: false
            })
        );
        assert_eq!(
            c.head(ok, &headers("40")),
            Some(Verdict {
                code: 2,
                failed: true
            })
        );
        assert_eq!(c.head(ok, &headers("x")), Some(Verdict::ERROR));
        assert_eq!(c.head(ok, &headers("")), Some(Verdict::ERROR));
        // Not 200: always a failure, with the code a gRPC client would report.
        let cases = [
            (503, 14),
            (404, 12),
            (401, 16),
            (403, 7),
            (400, 13),
            (500, 2),
            (429, 14),
        ];
        for (status, code) in cases {
            let status = http::StatusCode::from_u16(status).unwrap();
            assert_eq!(
                c.head(status, &none),
                Some(Verdict { code, failed: true }),
                "{status}"
            );
        }
        let teapot = http::StatusCode::IM_A_TEAPOT;
        assert_eq!(
            c.head(teapot, &headers("5")),
            Some(Verdict {
                code: 5,
                failed: true
            })
        );
        assert_eq!(
            c.trailers(&headers("0")),
            Verdict {
                code: 0,
                failed: false
            }
        );
        assert_eq!(
            c.trailers(&headers("13")),
            Verdict {
                code: 13,
                failed: true
            }
        );
        assert_eq!(
            c.trailers(&none),
            Verdict::ERROR,
            "no status at the end: protocol error"
        );
        let mut busy = http::HeaderMap::new();
        busy.insert("content-type", "application/grpc".parse().unwrap());
        busy.insert("grpc-message", "down".parse().unwrap());
        busy.append("x-trace", "a".parse().unwrap());
        busy.append("x-trace", "b".parse().unwrap());
        busy.insert("grpc-status", "14".parse().unwrap());
        busy.insert("grpc-status-details-bin", "AAAA".parse().unwrap());
        let unavailable = Verdict {
            code: 14,
            failed: true,
        };
        assert_eq!(c.trailers(&busy), unavailable, "found among other fields");
        assert_eq!(
            c.abandoned(),
            Verdict {
                code: 1,
                failed: false
            }
        );
        let strict = GrpcClassifier::new(GrpcCodes::new([1]).unwrap());
        assert!(strict.abandoned().failed);
        assert_eq!(
            Verdict {
                code: 4,
                failed: true
            }
            .outcome(),
            Outcome::Timeout
        );
        assert_eq!(
            Verdict {
                code: 4,
                failed: false
            }
            .outcome(),
            Outcome::Success
        );
        assert_eq!(label(ERROR), "error");
        assert_eq!(label(14), "UNAVAILABLE");
    }
}

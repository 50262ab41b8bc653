//! The attributes of each toxic type, with Toxiproxy's names and units on the wire
//! (milliseconds, KB/s, microseconds for `slicer.delay`) and `Duration` inside.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest time any attribute may hold: a day is far past any useful fault, and the bound
/// keeps `Instant + duration` from overflowing.
pub const MAX_TIME: Duration = Duration::from_secs(86_400);

/// Integer milliseconds on the wire, as Toxiproxy's attributes are.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Integer microseconds on the wire (`slicer.delay`).
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_micros(u64::deserialize(d)?))
    }
}

/// `latency`: every chunk waits `latency` ± `jitter` (pipelined: a stream is delayed,
/// not slowed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Added delay (ms on the wire).
    #[serde(with = "millis")]
    pub latency: Duration,
    /// Up to this much more or less, uniformly (ms on the wire).
    #[serde(with = "millis")]
    pub jitter: Duration,
}

/// `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes); 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bandwidth {
    /// KB per second.
    pub rate: u64,
}

/// `slow_close`: the close (FIN) is passed on `delay` late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowClose {
    /// How late (ms on the wire).
    #[serde(with = "millis")]
    pub delay: Duration,
}

/// `timeout`: data stops (is dropped); the connection closes `timeout` after the last
/// data seen, or never when `timeout` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeout {
    /// ms on the wire; 0 holds the connection open.
    #[serde(with = "millis")]
    pub timeout: Duration,
}

/// `reset_peer`: on the next data, wait `timeout` and reset both sides (TCP RST).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetPeer {
    /// ms on the wire; 0 resets at once.
    #[serde(with = "millis")]
    pub timeout: Duration,
}

/// `slicer`: chunks are cut into pieces of about `average_size` ± `size_variation`
/// bytes, `delay` apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slicer {
    /// Average piece size in bytes (at least 1).
    pub average_size: u64,
    /// Variation in bytes (below `average_size`).
    pub size_variation: u64,
    /// Pause between pieces (µs on the wire, as in Toxiproxy).
    #[serde(with = "micros")]
    pub delay: Duration,
}

impl Default for Slicer {
    fn default() -> Self {
        // Toxiproxy's zero average would recurse forever; 1 byte is the smallest real slice.
        Slicer {
            average_size: 1,
            size_variation: 0,
            delay: Duration::ZERO,
        }
    }
}

/// `limit_data`: the connection closes once `bytes` have passed in this direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitData {
    /// Bytes let through before the close.
    pub bytes: u64,
}

/// Which HTTP/1.1 requests an HTTP toxic hits. Every given field must match; none given
/// matches every request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestMatch {
    /// Request method, exactly (`GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path starts with this (`/api/`); the query string is part of the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Headers that must be present with these values (names in any case).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `http_delay` (ballast): matched requests are held `delay` ± `jitter` before they reach
/// the upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpDelay {
    /// ms on the wire.
    #[serde(with = "millis")]
    pub delay: Duration,
    /// ms on the wire.
    #[serde(with = "millis")]
    pub jitter: Duration,
    /// Request method to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path prefix to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Headers to match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `http_abort` (ballast): matched requests are answered `status` by the proxy and never
/// reach the upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpAbort {
    /// Status code to answer (100..=599, not 101). Default: 503.
    pub status: u16,
    /// Response body. Default: the status's reason phrase and a newline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Request method to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path prefix to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Headers to match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpAbort {
    fn default() -> Self {
        HttpAbort {
            status: 503,
            body: None,
            method: None,
            path_prefix: None,
            headers: BTreeMap::new(),
        }
    }
}

/// `noop`: passes everything through unchanged. Toxiproxy has it for tests of the
/// toxic machinery itself; it has no attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Noop {}

/// A toxic's type with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum ToxicKind {
    /// `noop`.
    Noop(Noop),
    /// `latency`.
    Latency(Latency),
    /// `bandwidth`.
    Bandwidth(Bandwidth),
    /// `slow_close`.
    SlowClose(SlowClose),
    /// `timeout`.
    Timeout(Timeout),
    /// `reset_peer`.
    ResetPeer(ResetPeer),
    /// `slicer`.
    Slicer(Slicer),
    /// `limit_data`.
    LimitData(LimitData),
    /// `http_delay` (ballast).
    HttpDelay(HttpDelay),
    /// `http_abort` (ballast).
    HttpAbort(HttpAbort),
}

impl ToxicKind {
    /// The wire name of the type (`"latency"`, `"http_abort"`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Noop(_) => "noop",
            ToxicKind::Latency(_) => "latency",
            ToxicKind::Bandwidth(_) => "bandwidth",
            ToxicKind::SlowClose(_) => "slow_close",
            ToxicKind::Timeout(_) => "timeout",
            ToxicKind::ResetPeer(_) => "reset_peer",
            ToxicKind::Slicer(_) => "slicer",
            ToxicKind::LimitData(_) => "limit_data",
            ToxicKind::HttpDelay(_) => "http_delay",
            ToxicKind::HttpAbort(_) => "http_abort",
        }
    }

    /// HTTP toxics act on whole requests of HTTP/1.1 connections, not on TCP chunks.
    pub fn is_http(&self) -> bool {
        matches!(self, ToxicKind::HttpDelay(_) | ToxicKind::HttpAbort(_))
    }

    /// Reads `attributes` (absent or `null`: every attribute at its default) for a type.
    pub(crate) fn from_parts(
        type_name: &str,
        attributes: Option<&serde_json::Value>,
    ) -> Result<ToxicKind, Error> {
        fn read<T: serde::de::DeserializeOwned + Default>(
            attributes: Option<&serde_json::Value>,
        ) -> Result<T, Error> {
            match attributes {
                None | Some(serde_json::Value::Null) => Ok(T::default()),
                Some(value) => T::deserialize(value)
                    .map_err(|e| Error::BadRequestBody(format!("attributes: {e}"))),
            }
        }
        let kind = match type_name {
            "noop" => ToxicKind::Noop(read(attributes)?),
            "latency" => ToxicKind::Latency(read(attributes)?),
            "bandwidth" => ToxicKind::Bandwidth(read(attributes)?),
            "slow_close" => ToxicKind::SlowClose(read(attributes)?),
            "timeout" => ToxicKind::Timeout(read(attributes)?),
            "reset_peer" => ToxicKind::ResetPeer(read(attributes)?),
            "slicer" => ToxicKind::Slicer(read(attributes)?),
            "limit_data" => ToxicKind::LimitData(read(attributes)?),
            "http_delay" => ToxicKind::HttpDelay(read(attributes)?),
            "http_abort" => ToxicKind::HttpAbort(read(attributes)?),
            other => {
                return Err(Error::InvalidToxicType {
                    got: other.to_string(),
                })
            }
        };
        kind.validate()?;
        Ok(kind)
    }

    /// The attributes as Toxiproxy shows them.
    pub fn attributes(&self) -> serde_json::Value {
        let value = match self {
            ToxicKind::Noop(a) => serde_json::to_value(a),
            ToxicKind::Latency(a) => serde_json::to_value(a),
            ToxicKind::Bandwidth(a) => serde_json::to_value(a),
            ToxicKind::SlowClose(a) => serde_json::to_value(a),
            ToxicKind::Timeout(a) => serde_json::to_value(a),
            ToxicKind::ResetPeer(a) => serde_json::to_value(a),
            ToxicKind::Slicer(a) => serde_json::to_value(a),
            ToxicKind::LimitData(a) => serde_json::to_value(a),
            ToxicKind::HttpDelay(a) => serde_json::to_value(a),
            ToxicKind::HttpAbort(a) => serde_json::to_value(a),
        };
        // Plain structs of numbers, strings and string maps always encode.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// These attributes with the keys of `patch` replaced, as a Toxiproxy update does
    /// (keys not given keep their values).
    pub(crate) fn merged(&self, patch: &serde_json::Value) -> Result<ToxicKind, Error> {
        let patch = match patch {
            serde_json::Value::Null => return Ok(self.clone()),
            serde_json::Value::Object(map) => map,
            other => {
                return Err(Error::BadRequestBody(format!(
                    "attributes: expected an object, got {}",
                    json_kind(other)
                )))
            }
        };
        let mut current = match self.attributes() {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        for (key, value) in patch {
            current.insert(key.clone(), value.clone());
        }
        ToxicKind::from_parts(self.type_name(), Some(&serde_json::Value::Object(current)))
    }

    fn validate(&self) -> Result<(), Error> {
        let time = |field: &str, d: Duration| {
            if d > MAX_TIME {
                Err(Error::BadRequestBody(format!(
                    "attributes.{field}: at most one day ({} ms), got {} ms",
                    MAX_TIME.as_millis(),
                    d.as_millis()
                )))
            } else {
                Ok(())
            }
        };
        match self {
            ToxicKind::Latency(a) => {
                time("latency", a.latency)?;
                time("jitter", a.jitter)
            }
            ToxicKind::SlowClose(a) => time("delay", a.delay),
            ToxicKind::Timeout(a) => time("timeout", a.timeout),
            ToxicKind::ResetPeer(a) => time("timeout", a.timeout),
            ToxicKind::Noop(_) | ToxicKind::Bandwidth(_) | ToxicKind::LimitData(_) => Ok(()),
            ToxicKind::Slicer(a) => {
                time("delay", a.delay)?;
                if a.average_size == 0 {
                    return Err(Error::BadRequestBody(
                        "attributes.average_size: expected 1 or more bytes".into(),
                    ));
                }
                if a.size_variation >= a.average_size {
                    return Err(Error::BadRequestBody(format!(
                        "attributes.size_variation: expected less than average_size ({}), got {}",
                        a.average_size, a.size_variation
                    )));
                }
                Ok(())
            }
            ToxicKind::HttpDelay(a) => {
                time("delay", a.delay)?;
                time("jitter", a.jitter)
            }
            ToxicKind::HttpAbort(a) => {
                if !(100..=599).contains(&a.status) || a.status == 101 {
                    return Err(Error::BadRequestBody(format!(
                        "attributes.status: expected an HTTP status 100..=599 other than 101, got {}",
                        a.status
                    )));
                }
                Ok(())
            }
        }
    }

    /// The request filter of an HTTP toxic.
    pub fn request_match(&self) -> Option<RequestMatch> {
        let (method, path_prefix, headers) = match self {
            ToxicKind::HttpDelay(a) => (&a.method, &a.path_prefix, &a.headers),
            ToxicKind::HttpAbort(a) => (&a.method, &a.path_prefix, &a.headers),
            _ => return None,
        };
        Some(RequestMatch {
            method: method.clone(),
            path_prefix: path_prefix.clone(),
            headers: headers.clone(),
        })
    }
}

/// "a string", "a number"... for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_use_toxiproxy_units() {
        let kind = ToxicKind::from_parts("latency", Some(&json!({"latency": 100}))).unwrap();
        assert_eq!(
            kind,
            ToxicKind::Latency(Latency {
                latency: Duration::from_millis(100),
                jitter: Duration::ZERO
            })
        );
        assert_eq!(kind.attributes(), json!({"latency": 100, "jitter": 0}));
        let slicer = ToxicKind::from_parts(
            "slicer",
            Some(&json!({"average_size": 10, "size_variation": 2, "delay": 500})),
        )
        .unwrap();
        assert_eq!(slicer.attributes()["delay"], json!(500));
    }

    #[test]
    fn unknown_attributes_and_bad_values_are_rejected() {
        let err = ToxicKind::from_parts("latency", Some(&json!({"latancy": 1}))).unwrap_err();
        assert!(err.to_string().contains("unknown field `latancy`"), "{err}");
        let err = ToxicKind::from_parts("latency", Some(&json!({"latency": -1}))).unwrap_err();
        assert!(matches!(err, Error::BadRequestBody(_)), "{err}");
        let err = ToxicKind::from_parts("latency", Some(&json!({"latency": "1"}))).unwrap_err();
        assert!(matches!(err, Error::BadRequestBody(_)), "{err}");
        let err = ToxicKind::from_parts("slicer", Some(&json!({"average_size": 0}))).unwrap_err();
        assert!(err.to_string().contains("average_size"), "{err}");
        let err =
            ToxicKind::from_parts("latency", Some(&json!({"latency": u64::MAX}))).unwrap_err();
        assert!(err.to_string().contains("one day"), "{err}");
        let err = ToxicKind::from_parts("http_abort", Some(&json!({"status": 42}))).unwrap_err();
        assert!(err.to_string().contains("status"), "{err}");
        assert!(matches!(
            ToxicKind::from_parts("lag", None),
            Err(Error::InvalidToxicType { .. })
        ));
    }

    #[test]
    fn update_replaces_only_the_given_attributes() {
        let kind =
            ToxicKind::from_parts("latency", Some(&json!({"latency": 100, "jitter": 5}))).unwrap();
        let merged = kind.merged(&json!({"jitter": 9})).unwrap();
        assert_eq!(merged.attributes(), json!({"latency": 100, "jitter": 9}));
        assert_eq!(kind.merged(&json!(null)).unwrap(), kind);
        assert!(kind.merged(&json!([1])).is_err());
    }

    #[test]
    fn http_toxics_default_to_503_and_match_everything() {
        let kind = ToxicKind::from_parts("http_abort", None).unwrap();
        assert!(kind.is_http());
        assert_eq!(kind.attributes(), json!({"status": 503}));
        assert_eq!(kind.request_match(), Some(RequestMatch::default()));
    }
}

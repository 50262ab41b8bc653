//! Toxics: what they are ([`Toxic`], [`ToxicKind`]) and how they read and print as
//! Toxiproxy's JSON. The chaos proxy runs them; contracts name them; both read them here,
//! so a contract and the proxy's API accept exactly the same toxics.

mod kinds;

pub use kinds::{json_kind, MAX_TIME};
pub use kinds::{
    Bandwidth, HttpAbort, HttpDelay, Latency, LimitData, Noop, RequestMatch, ResetPeer, Slicer,
    SlowClose, Timeout, ToxicKind,
};

use crate::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

/// Which way through the proxy a toxic acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client → upstream (requests).
    Upstream,
    /// Upstream → client (responses). Toxiproxy's default.
    Downstream,
}

impl Stream {
    /// `"upstream"` or `"downstream"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }

    /// Parses as Toxiproxy does: either word, in any case.
    pub fn parse(text: &str) -> Result<Stream, Error> {
        if text.eq_ignore_ascii_case("upstream") {
            Ok(Stream::Upstream)
        } else if text.eq_ignore_ascii_case("downstream") {
            Ok(Stream::Downstream)
        } else {
            Err(Error::InvalidStream {
                got: text.to_string(),
            })
        }
    }
}

/// One toxic as the API shows it: `{"name", "type", "stream", "toxicity", "attributes"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Unique within its proxy. Default: `<type>_<stream>`.
    pub name: String,
    /// Direction. Default: downstream (upstream for HTTP toxics, which act on requests).
    pub stream: Stream,
    /// Probability in `[0, 1]` that the toxic applies: per connection (per request for
    /// HTTP toxics). Default: 1.
    pub toxicity: f64,
    /// Type and attributes.
    pub kind: ToxicKind,
}

const TOXIC_FIELDS: [&str; 5] = ["name", "type", "stream", "toxicity", "attributes"];

impl Toxic {
    /// A toxic of this kind with the defaults Toxiproxy gives: toxicity 1, the kind's
    /// default stream, and the name `<type>_<stream>`.
    pub fn new(kind: ToxicKind) -> Toxic {
        let stream = if kind.is_http() {
            Stream::Upstream
        } else {
            Stream::Downstream
        };
        Toxic {
            name: format!("{}_{}", kind.type_name(), stream.as_str()),
            stream,
            toxicity: 1.0,
            kind,
        }
    }

    /// Reads a toxic from its JSON. `strict` (configuration files) also rejects fields
    /// the API would ignore, so a typo there fails instead of silently doing nothing.
    pub fn from_json(value: &Value, strict: bool) -> Result<Toxic, Error> {
        let Value::Object(map) = value else {
            return Err(Error::BadRequestBody(format!(
                "expected a toxic object, got {}",
                json_kind(value)
            )));
        };
        if strict {
            if let Some(key) = map.keys().find(|k| !TOXIC_FIELDS.contains(&k.as_str())) {
                return Err(Error::BadRequestBody(format!(
                    "unknown field `{key}`, expected one of {}",
                    TOXIC_FIELDS.join(", ")
                )));
            }
        }
        let text = |field: &str| -> Result<Option<&str>, Error> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(Error::BadRequestBody(format!(
                    "{field}: expected a string, got {}",
                    json_kind(other)
                ))),
            }
        };
        let type_name = text("type")?.unwrap_or("");
        let explicit_stream = text("stream")?.filter(|s| !s.is_empty());
        let name = text("name")?.filter(|s| !s.is_empty()).map(str::to_string);
        let toxicity = match map.get("toxicity") {
            None | Some(Value::Null) => 1.0,
            Some(v) => parse_toxicity(v)?,
        };
        let stream = explicit_stream.map(Stream::parse).transpose()?;
        let kind = ToxicKind::from_parts(type_name, map.get("attributes"))?;
        let stream = match (kind.is_http(), stream) {
            (true, Some(Stream::Downstream)) => {
                return Err(Error::invalid(
                    "stream",
                    "http toxics act on requests: expected upstream (or no stream)",
                ))
            }
            (true, _) => Stream::Upstream,
            (false, stream) => stream.unwrap_or(Stream::Downstream),
        };
        let name = name.unwrap_or_else(|| format!("{}_{}", kind.type_name(), stream.as_str()));
        check_name("toxic name", &name)?;
        Ok(Toxic {
            name,
            stream,
            toxicity,
            kind,
        })
    }

    /// The toxic as Toxiproxy's API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream.as_str(),
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        })
    }

    /// This toxic after an API update: `attributes` keys replace those given,
    /// `toxicity` replaces the old one if given; name, type and stream stay (as in
    /// Toxiproxy).
    pub fn updated(&self, patch: &Value) -> Result<Toxic, Error> {
        let Value::Object(map) = patch else {
            return Err(Error::BadRequestBody(format!(
                "expected a toxic object, got {}",
                json_kind(patch)
            )));
        };
        let mut next = self.clone();
        if let Some(attributes) = map.get("attributes") {
            next.kind = self.kind.merged(attributes)?;
        }
        match map.get("toxicity") {
            None | Some(Value::Null) => {}
            Some(v) => next.toxicity = parse_toxicity(v)?,
        }
        Ok(next)
    }
}

fn parse_toxicity(value: &Value) -> Result<f64, Error> {
    match value.as_f64() {
        Some(t) if (0.0..=1.0).contains(&t) => Ok(t),
        Some(t) => Err(Error::BadRequestBody(format!(
            "toxicity: expected a probability from 0 to 1, got {t}"
        ))),
        None => Err(Error::BadRequestBody(format!(
            "toxicity: expected a number, got {}",
            json_kind(value)
        ))),
    }
}

/// Names go into URL paths and metric labels: keep them printable and free of `/`.
pub fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| !c.is_control() && c != '/' && c != '"' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequestBody(format!(
            "{what} {name:?}: expected 1 to 200 printable characters without '/', '\"' or '\\'"
        )))
    }
}

impl Serialize for Toxic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Toxic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Toxic, D::Error> {
        let value = Value::deserialize(d)?;
        Toxic::from_json(&value, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_are_toxiproxys() {
        let toxic = Toxic::from_json(&json!({"type": "latency"}), false).unwrap();
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.stream, Stream::Downstream);
        assert_eq!(toxic.toxicity, 1.0);
        let toxic = Toxic::from_json(
            &json!({"type": "latency", "stream": "UPSTREAM", "name": "", "attributes": null}),
            false,
        )
        .unwrap();
        assert_eq!(toxic.name, "latency_upstream");
        let http = Toxic::from_json(&json!({"type": "http_abort"}), false).unwrap();
        assert_eq!(
            (http.stream, http.name.as_str()),
            (Stream::Upstream, "http_abort_upstream")
        );
    }

    #[test]
    fn json_round_trips() {
        let toxic = Toxic::from_json(
            &json!({"name": "slow", "type": "latency", "stream": "upstream", "toxicity": 0.5,
                    "attributes": {"latency": 20, "jitter": 3}}),
            true,
        )
        .unwrap();
        assert_eq!(Toxic::from_json(&toxic.to_json(), true).unwrap(), toxic);
        assert_eq!(
            toxic.kind,
            ToxicKind::Latency(Latency {
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(3)
            })
        );
    }

    #[test]
    fn errors_name_what_was_wrong() {
        let cases = [
            (json!({"type": "latency", "stream": "sideways"}), "sideways"),
            (json!({"type": "nope"}), "nope"),
            (json!({}), "toxic type"),
            (json!({"type": 3}), "type: expected a string"),
            (json!({"type": "latency", "toxicity": 2}), "toxicity"),
            (json!({"type": "latency", "toxicity": "x"}), "toxicity"),
            (json!({"type": "latency", "name": "a/b"}), "toxic name"),
            (
                json!({"type": "http_delay", "stream": "downstream"}),
                "stream",
            ),
            (json!([1]), "expected a toxic object"),
        ];
        for (body, needle) in cases {
            let err = Toxic::from_json(&body, false).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn strict_mode_rejects_unknown_fields_the_api_ignores() {
        let body = json!({"type": "latency", "toxicty": 0.5});
        assert!(Toxic::from_json(&body, false).is_ok());
        let err = Toxic::from_json(&body, true).unwrap_err();
        assert!(err.to_string().contains("toxicty"), "{err}");
    }

    #[test]
    fn update_keeps_identity() {
        let toxic = Toxic::from_json(
            &json!({"type": "bandwidth", "attributes": {"rate": 10}}),
            false,
        )
        .unwrap();
        let next = toxic
            .updated(&json!({"toxicity": 0.25, "name": "ignored", "attributes": {"rate": 99}}))
            .unwrap();
        assert_eq!(next.name, toxic.name);
        assert_eq!(next.toxicity, 0.25);
        assert_eq!(next.kind, ToxicKind::Bandwidth(Bandwidth { rate: 99 }));
        assert!(toxic.updated(&json!("x")).is_err());
    }
}

//! Durations written as text (`"250ms"`, `"5m"`), as in contracts, and written back
//! exactly (ballast-core's display form rounds).

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime_like(*d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// Reads text; a bare number gets a hint instead of serde's "expected a string".
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration with a unit, such as \"5s\" or \"250ms\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
        ballast_core::parse_duration(text).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration with a unit, such as \"{v}s\" or \"{v}ms\", got {v}"
        )))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration with a unit, such as \"5s\", got {v}"
        )))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration with a unit, such as \"{v}s\", got {v}"
        )))
    }
}

/// Exact text for a duration: whole milliseconds when possible, else nanoseconds.
pub(crate) fn humantime_like(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&humantime_like(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct Item(Duration);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
                super::deserialize(d).map(Item)
            }
        }
        Ok(Option::<Item>::deserialize(d)?.map(|i| i.0))
    }
}

/// Lists of durations as text (`["10ms", "20ms"]`).
pub mod vec {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for d in list {
            seq.serialize_element(&humantime_like(*d))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        struct Item(Duration);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
                super::deserialize(d).map(Item)
            }
        }
        Ok(Vec::<Item>::deserialize(d)?
            .into_iter()
            .map(|i| i.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[derive(Debug, serde::Deserialize)]
    struct Fields {
        #[serde(with = "super")]
        one: Duration,
        #[serde(default, with = "super::option")]
        maybe: Option<Duration>,
        #[serde(default, with = "super::vec")]
        many: Vec<Duration>,
    }

    #[test]
    fn durations_read_as_text_and_bare_numbers_get_a_hint() {
        let f: Fields =
            serde_json::from_str(r#"{"one": "1.5s", "maybe": "250ms", "many": ["10ms", "1m"]}"#)
                .unwrap();
        assert_eq!(f.one, Duration::from_millis(1500));
        assert_eq!(f.maybe, Some(Duration::from_millis(250)));
        assert_eq!(f.many, [Duration::from_millis(10), Duration::from_secs(60)]);
        let f: Fields = serde_json::from_str(r#"{"one": "0", "maybe": null}"#).unwrap();
        assert_eq!((f.one, f.maybe), (Duration::ZERO, None));
        let err = serde_json::from_str::<Fields>(r#"{"one": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"expected a duration with a unit, such as "5s" or "5ms", got 5"#),
            "{err}"
        );
        let err = serde_json::from_str::<Fields>(r#"{"one": "5", "many": ["x"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing unit"), "{err}");
    }
}

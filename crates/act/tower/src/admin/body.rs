//! Reading and checking the admin requests' bodies. Checked by hand rather than through a
//! serde struct: `{"max": null}` (back to automatic) must differ from `{}` (a mistake), and
//! every refusal names the field and what it expected.

use bytes::Buf;
use serde_json::{Map, Value};

/// Bodies above this are refused (413): the largest valid one is a few dozen bytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `Some(n)`: at most `n` in flight; `None`: automatic.
    Limit(Option<u32>),
    /// Answer from the fallback cache (or not).
    Fallback(bool),
    /// Force `name` open (`true`) or give it back (`false`).
    Breaker { name: String, open: bool },
}

/// Why a body was refused: 413 or 400, and the reason.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    TooLarge,
    Unreadable(String),
}

/// The whole body, at most [`MAX_BODY`] bytes.
pub(crate) async fn read<B>(body: B) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyError::Unreadable(format!("body: {e}")))?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if bytes.len() + data.remaining() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            bytes.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
    }
    Ok(bytes)
}

fn object<'a>(
    bytes: &[u8],
    example: &str,
    value: &'a mut Value,
) -> Result<&'a Map<String, Value>, String> {
    *value = serde_json::from_slice(bytes)
        .map_err(|e| format!("body: expected JSON like {example}: {e}"))?;
    value
        .as_object()
        .ok_or_else(|| format!("body: expected a JSON object like {example}, got {value}"))
}

/// Refuses fields other than `allowed`, naming the first unknown one.
fn only(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => {
            let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
            Err(format!(
                "unknown field `{unknown}`, expected {}",
                expected.join(" and ")
            ))
        }
        None => Ok(()),
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    expected: &str,
) -> Result<&'a Value, String> {
    map.get(field)
        .ok_or_else(|| format!("{field}: missing; expected {expected}"))
}

/// `POST …/limit`: `{"max": N}` (N ≥ 1) or `{"max": null}`.
pub(crate) fn limit(bytes: &[u8]) -> Result<Command, String> {
    const EXPECTED: &str = "a whole number ≥ 1 or null";
    let mut value = Value::Null;
    let map = object(bytes, r#"{"max": 10} or {"max": null}"#, &mut value)?;
    only(map, &["max"])?;
    match required(map, "max", EXPECTED)? {
        Value::Null => Ok(Command::Limit(None)),
        v => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Command::Limit(Some(n))),
            _ => Err(format!(
                "max: expected {EXPECTED} (at most {}), got {v}",
                u32::MAX
            )),
        },
    }
}

/// `POST …/fallback`: `{"force": true|false}`.
pub(crate) fn fallback(bytes: &[u8]) -> Result<Command, String> {
    let mut value = Value::Null;
    let map = object(bytes, r#"{"force": true}"#, &mut value)?;
    only(map, &["force"])?;
    match required(map, "force", "true or false")? {
        Value::Bool(b) => Ok(Command::Fallback(*b)),
        v => Err(format!("force: expected true or false, got {v}")),
    }
}

/// `POST …/breaker`: `{"name": "…", "state": "open"|"auto"}`.
pub(crate) fn breaker(bytes: &[u8]) -> Result<Command, String> {
    let mut value = Value::Null;
    let map = object(
        bytes,
        r#"{"name": "inventory", "state": "open"}"#,
        &mut value,
    )?;
    only(map, &["name", "state"])?;
    let name = match required(map, "name", "a breaker's name")? {
        Value::String(s) => s.clone(),
        v => {
            return Err(format!(
                "name: expected a breaker's name (a string), got {v}"
            ))
        }
    };
    let open = match required(map, "state", r#""open" or "auto""#)? {
        Value::String(s) if s == "open" => true,
        Value::String(s) if s == "auto" => false,
        v => return Err(format!(r#"state: expected "open" or "auto", got {v}"#)),
    };
    Ok(Command::Breaker { name, open })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bodies() {
        assert_eq!(limit(br#"{"max": 7}"#), Ok(Command::Limit(Some(7))));
        assert_eq!(limit(br#"{"max": null}"#), Ok(Command::Limit(None)));
        for (body, starts) in [
            (&br#"{}"#[..], "max: missing; expected a whole number"),
            (br#"{"max": 0}"#, "max: expected a whole number ≥ 1 or null"),
            (br#"{"max": -3}"#, "max: expected"),
            (br#"{"max": 2.5}"#, "max: expected"),
            (br#"{"max": "10"}"#, "max: expected"),
            (br#"{"max": 99999999999}"#, "max: expected"),
            (
                br#"{"max": 3, "min": 1}"#,
                "unknown field `min`, expected `max`",
            ),
            (br#"[3]"#, "body: expected a JSON object"),
            (br#"{"max": "#, "body: expected JSON like"),
        ] {
            let err = limit(body).unwrap_err();
            assert!(
                err.starts_with(starts),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn fallback_bodies() {
        assert_eq!(fallback(br#"{"force": true}"#), Ok(Command::Fallback(true)));
        assert_eq!(
            fallback(br#"{"force": false}"#),
            Ok(Command::Fallback(false))
        );
        assert!(fallback(br#"{"force": "yes"}"#)
            .unwrap_err()
            .starts_with("force: expected true or false, got \"yes\""));
        assert!(fallback(br#"{"forced": true}"#)
            .unwrap_err()
            .starts_with("unknown field `forced`"));
        assert!(fallback(br#"{}"#)
            .unwrap_err()
            .starts_with("force: missing"));
    }

    #[test]
    fn breaker_bodies() {
        assert_eq!(
            breaker(br#"{"name": "inventory", "state": "open"}"#),
            Ok(Command::Breaker {
                name: "inventory".into(),
                open: true
            })
        );
        assert_eq!(
            breaker(br#"{"name": "inventory", "state": "auto"}"#),
            Ok(Command::Breaker {
                name: "inventory".into(),
                open: false
            })
        );
        let err = breaker(br#"{"name": "inventory", "state": "closed"}"#).unwrap_err();
        assert!(
            err.starts_with(r#"state: expected "open" or "auto", got "closed""#),
            "{err}"
        );
        let err = breaker(br#"{"state": "open"}"#).unwrap_err();
        assert!(err.starts_with("name: missing"), "{err}");
        let err = breaker(br#"{"name": 3, "state": "open"}"#).unwrap_err();
        assert!(err.starts_with("name: expected"), "{err}");
        let err = breaker(br#"{"name": "a", "state": "open", "for": "5m"}"#).unwrap_err();
        assert!(
            err.starts_with("unknown field `for`, expected `name` and `state`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn large_bodies_are_refused() {
        let big = "x".repeat(MAX_BODY + 1);
        assert_eq!(read(big).await, Err(BodyError::TooLarge));
        assert_eq!(read("{}".to_string()).await, Ok(b"{}".to_vec()));
    }
}

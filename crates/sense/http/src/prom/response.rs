//! Reading the query API's JSON answers. Errors say what the server said (its
//! `errorType` and `error`) or what was malformed.

use ballast_core::series::{Point, Series};
use serde_json::Value;

/// Reads a `query_range` answer: one [`Series`] per result, named `metric{labels}`.
/// Non-finite samples (`NaN`, `±Inf`, Prometheus' stale markers) are dropped.
pub fn parse_range_response(body: &str) -> Result<Vec<Series>, String> {
    let json = parse_json(body)?;
    let data = success_data(&json)?;
    let kind = data.get("resultType").and_then(Value::as_str);
    if kind != Some("matrix") {
        return Err(format!(
            "expected a range result (matrix), got {}",
            kind.unwrap_or("no resultType")
        ));
    }
    let results = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or("a matrix without \"result\"")?;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        let name = series_name(r.get("metric"));
        let values = r
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{name}: no \"values\""))?;
        let mut points = Vec::with_capacity(values.len());
        for v in values {
            let (t, value) = sample(v).map_err(|m| format!("{name}: {m}"))?;
            if value.is_finite() {
                if let Some(last) = points.last().map(|p: &Point| p.t) {
                    if t < last {
                        return Err(format!("{name}: samples out of time order at {t}"));
                    }
                }
                points.push(Point { t, v: value });
            }
        }
        out.push(Series { name, points });
    }
    Ok(out)
}

/// Reads a `query` answer: `(series name, value)` per result (a scalar is named
/// `scalar`). Non-finite values are dropped.
pub fn parse_instant_response(body: &str) -> Result<Vec<(String, f64)>, String> {
    let json = parse_json(body)?;
    let data = success_data(&json)?;
    let result = data.get("result").ok_or("no \"result\"")?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {
            let results = result.as_array().ok_or("a vector that is not a list")?;
            let mut out = Vec::with_capacity(results.len());
            for r in results {
                let name = series_name(r.get("metric"));
                let (_, v) = sample(
                    r.get("value")
                        .ok_or_else(|| format!("{name}: no \"value\""))?,
                )
                .map_err(|m| format!("{name}: {m}"))?;
                if v.is_finite() {
                    out.push((name, v));
                }
            }
            Ok(out)
        }
        Some("scalar") => {
            let (_, v) = sample(result)?;
            Ok(if v.is_finite() {
                vec![("scalar".into(), v)]
            } else {
                vec![]
            })
        }
        other => Err(format!(
            "expected an instant result (vector or scalar), got {}",
            other.unwrap_or("no resultType")
        )),
    }
}

fn parse_json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| {
        let start: String = body.chars().take(120).collect();
        format!("the answer is not JSON ({e}): {start:?}")
    })
}

fn success_data(v: &Value) -> Result<&Value, String> {
    match v.get("status").and_then(Value::as_str) {
        Some("success") => v
            .get("data")
            .ok_or_else(|| "a success without \"data\"".into()),
        Some("error") => Err(format!(
            "{}: {}",
            v.get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("error"),
            v.get("error")
                .and_then(Value::as_str)
                .unwrap_or("no message")
        )),
        _ => Err("the answer has no \"status\"".into()),
    }
}

/// `[1700000000.123, "42"]` → (time, value).
fn sample(v: &Value) -> Result<(f64, f64), String> {
    let pair = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("expected [time, \"value\"]")?;
    let t = pair[0].as_f64().ok_or("the time is not a number")?;
    let text = pair[1].as_str().ok_or("the value is not a string")?;
    let value = match text {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().map_err(|_| format!("not a number: {s:?}"))?,
    };
    Ok((t, value))
}

/// `go_goroutines{instance="a:1",job="x"}`: the name first, labels sorted (as JSON objects
/// come), quotes escaped.
fn series_name(metric: Option<&Value>) -> String {
    let Some(labels) = metric.and_then(Value::as_object) else {
        return "{}".into();
    };
    let name = labels.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_default()
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_matrix_and_drops_stale_samples() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"go_goroutines","job":"leaky","instance":"127.0.0.1:1"},
             "values":[[1700000000,"10"],[1700000015,"NaN"],[1700000030,"12"]]}]}}"#;
        let s = parse_range_response(body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].name,
            "go_goroutines{instance=\"127.0.0.1:1\",job=\"leaky\"}"
        );
        assert_eq!(s[0].points.len(), 2);
        assert_eq!(s[0].points[1].v, 12.0);
    }

    #[test]
    fn says_what_the_server_said() {
        let err = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}"#;
        assert_eq!(
            parse_range_response(err).unwrap_err(),
            "bad_data: 1:5: parse error: unexpected \"}\""
        );
        assert!(parse_range_response("<html>")
            .unwrap_err()
            .contains("not JSON"));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_range_response(vector).unwrap_err().contains("matrix"));
        let bad = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#;
        assert_eq!(
            parse_range_response(bad).unwrap_err(),
            "{}: not a number: \"x\""
        );
    }

    #[test]
    fn reads_vectors_and_scalars() {
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2.5"]}]}}"#;
        assert_eq!(
            parse_instant_response(v).unwrap(),
            vec![("{a=\"b\"}".into(), 2.5)]
        );
        let s = r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"1700000000.5"]}}"#;
        assert_eq!(parse_instant_response(s).unwrap()[0].1, 1_700_000_000.5);
    }
}

//! PromQL text for SLIs: durations as Prometheus writes them, and error-ratio queries
//! for any window.

use crate::model::Sli;
use std::time::Duration;

/// A duration in Prometheus' notation with the largest exact unit: `5m`, `1h`, `30d`, `10s`.
pub fn window(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Whether `query` is a plain selector (`name` or `name{…}`), which gets `sum(rate(…))`.
fn is_selector(query: &str) -> bool {
    let q = query.trim();
    let name_end = q.find('{').unwrap_or(q.len());
    let name = &q[..name_end];
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && (name_end == q.len() || q.ends_with('}'))
}

const PLACEHOLDERS: [&str; 3] = ["{{.window}}", "{{ .window }}", "$window"];

/// Checks that a query can be put over any window; the error says what is expected.
pub fn check_query(query: &str) -> Result<(), String> {
    if query.trim().is_empty() {
        return Err("expected a PromQL query".into());
    }
    if is_selector(query) || PLACEHOLDERS.iter().any(|p| query.contains(p)) {
        return Ok(());
    }
    Err(format!(
        "expected a selector such as http_requests_total{{code=~\"5..\"}} or a query with the range written as {{{{.window}}}}, e.g. sum(rate(http_requests_total[{{{{.window}}}}])); got {query:?}"
    ))
}

/// `query` over `w`: placeholders replaced, or a selector wrapped in `sum(rate(…[w]))`.
pub fn over(query: &str, w: Duration) -> String {
    let range = window(w);
    if is_selector(query) {
        return format!("sum(rate({}[{range}]))", query.trim());
    }
    let mut out = query.trim().to_string();
    for p in PLACEHOLDERS {
        out = out.replace(p, &range);
    }
    ends_its_comment(out)
}

/// A query with a `#` comment gets a line break after it, so the comment cannot swallow what
/// is written after the query on the same line (a closing parenthesis, `<= bool 0.3`).
fn ends_its_comment(query: String) -> String {
    match query.lines().last() {
        Some(last) if last.contains('#') => query + "\n",
        _ => query,
    }
}

/// Inserts `le="…"` into a histogram selector: `h{a="b"}` → `h_bucket{a="b",le="0.3"}`.
fn bucket(histogram: &str, le: Option<f64>) -> String {
    let h = histogram.trim();
    let (name, matchers) = match h.find('{') {
        Some(i) => (&h[..i], h[i + 1..].trim_end_matches('}').trim()),
        None => (h, ""),
    };
    let mut all: Vec<String> = if matchers.is_empty() {
        vec![]
    } else {
        vec![matchers.to_string()]
    };
    let suffix = match le {
        Some(le) => {
            all.push(format!("le=\"{le}\""));
            "_bucket"
        }
        None => "_count",
    };
    format!("{name}{suffix}{{{}}}", all.join(","))
}

/// The SLI's error ratio over `w` (0..1), as PromQL.
pub fn error_ratio(sli: &Sli, w: Duration) -> Option<String> {
    Some(match sli {
        Sli::Events { errors, total } => format!("({})\n/\n({})", over(errors, w), over(total, w)),
        Sli::Good { good, total } => format!("1 - (({})\n/\n({}))", over(good, w), over(total, w)),
        Sli::Raw { error_ratio } => over(error_ratio, w),
        Sli::Latency {
            histogram,
            threshold_seconds,
        } => {
            let range = window(w);
            format!(
                "1 - (sum(rate({}[{range}]))\n/\nsum(rate({}[{range}])))",
                bucket(histogram, Some(*threshold_seconds)),
                bucket(histogram, None)
            )
        }
        Sli::Threshold { query, op, value } => {
            let symbol = match op.as_str() {
                "lt" => "<",
                "lte" => "<=",
                "gt" => ">",
                _ => ">=",
            };
            // Ten samples per window, at least one a second.
            let step = window((w / 10).max(Duration::from_secs(1)));
            format!(
                "1 - avg_over_time((({}) {symbol} bool {value})[{}:{step}])",
                ends_its_comment(query.trim().to_string()),
                window(w)
            )
        }
        Sli::VerifyAvailability { .. } | Sli::VerifyLatency { .. } => return None,
    })
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_like_prometheus() {
        assert_eq!(window(Duration::from_secs(300)), "5m");
        assert_eq!(window(Duration::from_secs(3600 * 24 * 30)), "30d");
        assert_eq!(window(Duration::from_secs(90)), "90s");
        assert_eq!(window(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn queries_over_windows() {
        assert_eq!(
            over(
                "http_requests_total{code=~\"5..\"}",
                Duration::from_secs(300)
            ),
            "sum(rate(http_requests_total{code=~\"5..\"}[5m]))"
        );
        assert_eq!(
            over("sum(rate(x[{{.window}}]))", Duration::from_secs(3600)),
            "sum(rate(x[1h]))"
        );
        assert!(check_query("sum(rate(x[5m]))")
            .unwrap_err()
            .contains("{{.window}}"));
        let latency = Sli::Latency {
            histogram: "http_request_duration_seconds{job=\"shop\"}".into(),
            threshold_seconds: 0.3,
        };
        let q = error_ratio(&latency, Duration::from_secs(300)).unwrap();
        assert!(
            q.contains("http_request_duration_seconds_bucket{job=\"shop\",le=\"0.3\"}[5m]"),
            "{q}"
        );
        assert!(
            q.contains("http_request_duration_seconds_count{job=\"shop\"}[5m]"),
            "{q}"
        );
        assert_eq!(url_encode("a b{c}"), "a%20b%7Bc%7D");
        // A comment ends its line, so it cannot comment out what follows the query.
        let commented = over("max(x) # from the dashboard", Duration::from_secs(60));
        let expr = format!("({commented}) <= bool 0.3");
        assert!(promql_parser::parser::parse(&expr).is_ok(), "{expr}");
        let threshold = Sli::Threshold {
            query: "p99_seconds".into(),
            op: "lte".into(),
            value: 0.3,
        };
        assert_eq!(
            error_ratio(&threshold, Duration::from_secs(3600)).unwrap(),
            "1 - avg_over_time(((p99_seconds) <= bool 0.3)[1h:6m])"
        );
    }
}

//! The promtool side: the comparison queries, the test files, running `promtool test rules`
//! and reading back what it printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The label naming the compared record or alert in a mismatch row.
pub const NAME_LABEL: &str = "eqcheck_name";
/// The label saying which side a mismatch row comes from.
pub const SIDE_LABEL: &str = "eqcheck_side";
/// The label of an alert edge row (`start` / `end`).
pub const EDGE_LABEL: &str = "eqcheck_edge";

fn tag(e: &str, label: &str, value: &str) -> String {
    format!("label_replace({e}, \"{label}\", \"{value}\", \"\", \"\")")
}

/// Every series of THEIRS' records, its record name copied into `eqcheck_name`.
pub const THEIRS_RECORDS: &str = "eqcheck:theirs";
/// Every series of OURS' records, named as THEIRS' in `eqcheck_name`.
pub const OURS_RECORDS: &str = "eqcheck:ours";

/// The rules gathering each file's records (`names`; OURS' carry `prefix`) under one name
/// each, the record name kept in a label so that records only ever match the same record.
pub fn gather(names: &[String], prefix: &str) -> [(String, String); 2] {
    let alt = names.join("|");
    [
        (
            THEIRS_RECORDS.to_string(),
            format!("label_replace({{__name__=~\"{alt}\"}}, \"{NAME_LABEL}\", \"$1\", \"__name__\", \"(.+)\")"),
        ),
        (
            OURS_RECORDS.to_string(),
            format!(
                "label_replace({{__name__=~\"{prefix}({alt})\"}}, \"{NAME_LABEL}\", \"$1\", \"__name__\", \"{prefix}(.+)\")"
            ),
        ),
    ]
}

/// Rows for every gathered series of one file that the other does not match, label set for
/// label set (`__name__` aside), with a value within `1e-9 * max(1, |t| + |o|)` (9 decimal
/// places, or 9 significant digits above 1: `1 - x` near 0 inherits the rounding of `x`),
/// NaN matching only NaN, ±Inf only itself.
pub fn record_check() -> String {
    let (t, o) = (THEIRS_RECORDS, OURS_RECORDS);
    let differ = format!(
        "(abs({t} - {o}) > 1e-9 * clamp_min(clamp_max(abs({t}) + abs({o}), 1e300), 1)) \
         or (({t} != {t}) and ({o} == {o})) or (({o} != {o}) and ({t} == {t}))"
    );
    [
        tag(&format!("{t} and ({differ})"), SIDE_LABEL, "theirs"),
        tag(&format!("{o} and ({differ})"), SIDE_LABEL, "ours"),
        tag(&format!("{t} unless {o}"), SIDE_LABEL, "theirs_only"),
        tag(&format!("{o} unless {t}"), SIDE_LABEL, "ours_only"),
    ]
    .join("\nor\n")
}

/// Rows for every `ALERTS` series (pending or firing) of one file and not the other, label
/// set for label set, OURS' alert names (`prefix` + name) read back as THEIRS'.
pub fn alert_check(prefix: &str) -> String {
    let t = format!("ALERTS{{alertname!~\"{prefix}.*\"}}");
    let o = format!(
        "label_replace(ALERTS{{alertname=~\"{prefix}.+\"}}, \"alertname\", \"$1\", \"alertname\", \"{prefix}(.+)\")"
    );
    [
        tag(&format!("{t} unless {o}"), SIDE_LABEL, "theirs_only"),
        tag(&format!("{o} unless {t}"), SIDE_LABEL, "ours_only"),
    ]
    .join("\nor\n")
}

/// Rows for every firing alert that started or ended at this evaluation (`step` apart).
pub fn edges(step: &str) -> String {
    let a = "ALERTS{alertstate=\"firing\"}";
    format!(
        "{} or {}",
        tag(
            &format!("{a} unless {a} offset {step}"),
            EDGE_LABEL,
            "start"
        ),
        tag(
            &format!("({a} offset {step}) unless {a}"),
            EDGE_LABEL,
            "end"
        )
    )
}

/// A YAML double-quoted scalar (JSON's string syntax is one).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The record holding every mismatch row at every step.
pub const ROWS: &str = "eqcheck:rows";
/// The record holding every alert edge at every step.
pub const EDGES: &str = "eqcheck:edges";
/// The checker's group, evaluated after both files' groups at every step.
pub const GROUP: &str = "eqcheck";

/// The checker's rule file: the comparisons and the alert edges, recorded at every step.
pub fn checker_rules(record_names: &[String], prefix: &str, step_min: u64) -> serde_json::Value {
    let mut rules = Vec::new();
    if !record_names.is_empty() {
        for (record, expr) in gather(record_names, prefix) {
            rules.push(serde_json::json!({ "record": record, "expr": expr }));
        }
        rules.push(serde_json::json!({ "record": ROWS, "expr": record_check() }));
    }
    rules.push(serde_json::json!({ "record": ROWS, "expr": alert_check(prefix) }));
    rules.push(serde_json::json!({ "record": EDGES, "expr": edges(&format!("{step_min}m")) }));
    serde_json::json!({ "groups": [ { "name": GROUP, "rules": rules } ] })
}

/// The inputs of one promtool test file.
pub struct TestFile<'a> {
    pub rule_files: &'a [String],
    pub group_order: &'a [String],
    pub eval_interval_min: u64,
    pub input_interval_min: u64,
    pub series: &'a [(String, String)],
    /// The steps at which everything is compared (every evaluation).
    pub steps: &'a [u64],
    /// With the alert edge probes (whose rows are data, not failures).
    pub probes: bool,
}

impl TestFile<'_> {
    pub fn render(&self, comment: &str) -> String {
        let mut s = String::new();
        for line in comment.lines() {
            let _ = writeln!(s, "# {line}");
        }
        let _ = writeln!(s, "rule_files:");
        for f in self.rule_files {
            let _ = writeln!(s, "  - {}", q(f));
        }
        let _ = writeln!(s, "evaluation_interval: {}m", self.eval_interval_min);
        let _ = writeln!(s, "group_eval_order:");
        for g in self.group_order {
            let _ = writeln!(s, "  - {}", q(g));
        }
        let _ = writeln!(s, "tests:");
        let _ = writeln!(s, "  - interval: {}m", self.input_interval_min);
        let _ = writeln!(s, "    input_series:");
        for (series, values) in self.series {
            let _ = writeln!(s, "      - series: {}", q(series));
            let _ = writeln!(s, "        values: {}", q(values));
        }
        let _ = writeln!(s, "    promql_expr_test:");
        for t in self.steps {
            let _ = writeln!(s, "      - expr: {ROWS}");
            let _ = writeln!(s, "        eval_time: {t}m");
            let _ = writeln!(s, "        exp_samples: []");
            if self.probes {
                let _ = writeln!(s, "      - expr: {EDGES}");
                let _ = writeln!(s, "        eval_time: {t}m");
                let _ = writeln!(s, "        exp_samples: []");
            }
        }
        s
    }
}

/// One sample promtool printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One failed test (a query that returned rows).
#[derive(Debug, Clone)]
pub struct Failure {
    pub expr_is_probe: bool,
    pub time_min: u64,
    pub got: Vec<Sample>,
}

/// What a run gave.
#[derive(Debug, Default)]
pub struct Outcome {
    pub failures: Vec<Failure>,
    /// Errors (a query or a rule that could not be evaluated, a file promtool refused).
    pub errors: Vec<String>,
}

/// Runs `promtool test rules FILE` in `dir`.
pub fn run(promtool: &Path, dir: &Path, file: &str) -> Result<Outcome, String> {
    let out = Command::new(promtool)
        .arg("test")
        .arg("rules")
        .arg(file)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", promtool.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcome = parse_output(&stderr);
    if !out.status.success() && outcome.failures.is_empty() && outcome.errors.is_empty() {
        let text = format!("{stdout}{stderr}");
        let first = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Unit Testing") && *l != "FAILED:")
            .collect::<Vec<_>>()
            .join(" ");
        return Err(format!("promtool test rules failed: {first}"));
    }
    Ok(outcome)
}

/// Reads promtool's failure listing.
pub fn parse_output(stderr: &str) -> Outcome {
    let mut o = Outcome::default();
    let mut pending: Option<(bool, u64)> = None;
    for line in stderr.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("expr: ") {
            let Some((expr, after)) = go_string(rest) else {
                o.errors.push(format!("unreadable promtool line: {l}"));
                continue;
            };
            let Some(after) = after.strip_prefix(", time: ") else {
                o.errors.push(format!("unreadable promtool line: {l}"));
                continue;
            };
            let (time, tail) = after.split_once(',').unwrap_or((after, ""));
            let Some(t) = parse_duration_min(time.trim()) else {
                o.errors
                    .push(format!("unreadable time in promtool line: {l}"));
                continue;
            };
            if let Some(err) = tail.trim().strip_prefix("err: ") {
                o.errors.push(format!("query at {}m failed: {err}", t));
                pending = None;
                continue;
            }
            pending = Some((expr.contains(EDGES), t));
        } else if let Some(rest) = l.strip_prefix("got: ") {
            if let Some((probe, t)) = pending.take() {
                match parse_samples(rest) {
                    Some(got) => o.failures.push(Failure {
                        expr_is_probe: probe,
                        time_min: t,
                        got,
                    }),
                    None => o.errors.push(format!("unreadable samples: {rest}")),
                }
            }
        } else if !(l.starts_with("exp: ")
            || l == "FAILED:"
            || l.is_empty()
            || l.starts_with("Unit Testing"))
        {
            // `rule: NAME, time: T, err: …` (a rule that could not be evaluated), or
            // anything else promtool had to say: not a comparison result.
            o.errors.push(l.to_string());
        }
    }
    o
}

/// A Go-quoted string at the start of `s`: (its value, the rest).
fn go_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String =
                            (0..n).filter_map(|_| chars.next().map(|c| c.1)).collect();
                        let v = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// `{a="b", c="d"} 1.5E+00, {…} NaN` → samples.
pub fn parse_samples(s: &str) -> Option<Vec<Sample>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('{')?;
        let mut labels = BTreeMap::new();
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=')?;
            let name = rest[..eq].trim().to_string();
            let (value, r) = go_string(&rest[eq + 1..])?;
            labels.insert(name, value);
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
        rest = rest.trim_start();
        let end = rest.find(", {").unwrap_or(rest.len());
        let v = rest[..end].trim();
        let value = match v {
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().ok()?,
        };
        out.push(Sample { labels, value });
        rest = rest[end..].strip_prefix(", ").unwrap_or(&rest[end..]);
    }
    Some(out)
}

/// Prometheus' duration notation (`1d2h3m`, `40m`, `1m0s`, `0s`) in whole minutes.
pub fn parse_duration_min(s: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    if s.is_empty() {
        return None;
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = String::from(c);
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let ms = match unit.as_str() {
            "y" => 365 * 86_400_000,
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1000,
            "ms" => 1,
            _ => return None,
        };
        total_ms += n * ms;
    }
    if !num.is_empty() {
        return None;
    }
    Some(total_ms / 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_promtool_failures() {
        let text = r#"  FAILED:
    expr: "label_replace(a:b, \"eqcheck_side\", \"v1\", \"\", \"\")", time: 1d2h40m,
        exp: nil
        got: {__name__="a:b", eqcheck_side="v1", job="a, b}"} 2E+00, {job="b"} NaN
    expr: "foo(", time: 1m, err: 1:5: parse error: unclosed left parenthesis
"#;
        let o = parse_output(text);
        assert_eq!(o.failures.len(), 1);
        let f = &o.failures[0];
        assert_eq!(f.time_min, 1600);
        assert_eq!(f.got.len(), 2);
        assert_eq!(f.got[0].labels["job"], "a, b}");
        assert_eq!(f.got[0].value, 2.0);
        assert!(f.got[1].value.is_nan());
        assert_eq!(o.errors.len(), 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_min("0s"), Some(0));
        assert_eq!(parse_duration_min("1m0s"), Some(1));
        assert_eq!(parse_duration_min("4d"), Some(5760));
        assert_eq!(parse_duration_min("2d18h40m"), Some(4000));
    }
}

//! What Prometheus (and `promtool check rules`) would refuse, found before anything is
//! written: expressions a real PromQL parser rejects, names and labels Prometheus does not
//! allow, a group name used twice (Prometheus: "groupname is repeated in the same file").

use super::{RuleGroup, RuleKind};
use crate::Error;
use std::collections::BTreeMap;

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, and not `__`-prefixed (reserved).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// A recorded series name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus expands `{{ … }}` in alert labels and annotations as Go templates; an
/// unbalanced one fails to load.
fn balanced_template(text: &str) -> bool {
    let mut depth = 0i32;
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            if depth > 0 {
                return false;
            }
            depth += 1;
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}").filter(|_| depth > 0) {
            depth -= 1;
            rest = after;
        } else {
            rest = &tail[1..];
        }
    }
    depth == 0
}

/// Every problem of `groups`, one line each, naming the SLO, group and rule; `Ok` when
/// Prometheus would load them.
pub fn check(groups: &[RuleGroup]) -> Result<(), Error> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for g in groups {
        if let Some(first) = seen.insert(&g.name, &g.origin) {
            problems.push(format!(
                "{}: rule group {:?} is also made by the SLO at {first}: two SLOs with the same \
                 service and name (give one another name or service)",
                g.origin, g.name
            ));
        }
        if g.name.trim().is_empty() {
            problems.push(format!("{}: a rule group needs a name", g.origin));
        }
        for r in &g.rules {
            let what = match &r.kind {
                RuleKind::Record(name) => {
                    if !valid_metric_name(name) {
                        problems.push(format!(
                            "{}: recording rule name {name:?} in group {:?} is not a valid \
                             metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                            g.origin, g.name
                        ));
                    }
                    format!("recording rule {name}")
                }
                RuleKind::Alert(name) => {
                    if name.trim().is_empty() {
                        problems.push(format!(
                            "{}: an alert in group {:?} has no name (give alerting.name)",
                            g.origin, g.name
                        ));
                    }
                    format!("alert {name:?}")
                }
            };
            let parsed = match g.metricsql {
                true => Ok(()),
                false => promql_parser::parser::parse(&r.expr).map(|_| ()),
            };
            if let Err(e) = parsed {
                problems.push(format!(
                    "{}: the expression of {what} in group {:?} is not valid PromQL ({}): {}",
                    g.origin,
                    g.name,
                    e.trim(),
                    r.expr.replace('\n', " ")
                ));
            }
            for (kind, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
                for (k, v) in map {
                    if !valid_label_name(k) {
                        problems.push(format!(
                            "{}: {kind} name {k:?} of {what} is not a valid Prometheus label \
                             name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                            g.origin
                        ));
                    }
                    if matches!(r.kind, RuleKind::Alert(_)) && !balanced_template(v) {
                        problems.push(format!(
                            "{}: {kind} {k} of {what} has an unbalanced {{{{ … }}}} template, \
                             which Prometheus cannot expand: {v:?}",
                            g.origin
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Rules(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_templates() {
        assert!(valid_label_name("sloth_id"));
        assert!(!valid_label_name("1a"));
        assert!(!valid_label_name("a-b"));
        assert!(!valid_label_name("__name__"));
        assert!(valid_metric_name("slo:sli_error:ratio_rate5m"));
        assert!(!valid_metric_name("slo-x"));
        assert!(balanced_template("{{$labels.a}} is {{ $value }}"));
        assert!(!balanced_template("{{$labels.a"));
        assert!(!balanced_template("{{ {{ }}"));
        assert!(balanced_template("a } b { c"));
    }
}

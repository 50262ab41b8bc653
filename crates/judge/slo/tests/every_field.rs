//! Nothing is dropped silently: for every spec in `tests/golden/` and `tests/fields/` (every
//! input format ballast reads), every field — each key at every depth, each list element —
//! is changed in turn, and the change must either change what ballast makes of the spec
//! (the SLO model or the generated rules) or be refused with an error. A field that could
//! be changed with no effect would be a field ballast ignores.
//!
//! The only exceptions are display text, which the formats define for people and ballast
//! accepts as text (`displayName`, a `Service`'s description): listed below with the reason,
//! so a new exception is a visible decision.

use ballast_slo::{load_str, rules};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Keys whose values are display text only: read, checked to be text, shown nowhere.
const DISPLAY_ONLY: &[&str] = &["displayName"];

/// Paths (`kind` of the document, path within it) that are read but rightly change nothing
/// in these specs, each with why.
const NO_EFFECT_HERE: &[(&str, &str, &str)] = &[
    (
        "Service",
        ".spec.description",
        "an OpenSLO Service's description is display text",
    ),
    (
        "SLI",
        ".spec.description",
        "an OpenSLO SLI's description is display text (an SLO's is kept in the model)",
    ),
    (
        "SLO",
        ".counter",
        "OpenSLO's counter decides how a bare selector is wrapped; these queries give \
         their own {{.window}} range",
    ),
    (
        "",
        ".priority",
        "a Sloth plugin's priority orders its chain; a change that keeps the order (as +1 \
         does here) rightly changes nothing",
    ),
    (
        "SLO",
        ".indicator.metadata.name",
        "the name of an inline indicator is display text: nothing refers to it",
    ),
];

/// Sloth plugins that log and change no rule, by design: removing one from a chain changes
/// nothing.
const NO_EFFECT_PLUGINS: &[&str] = &["sloth.dev/core/debug/v1"];

/// Whether `path` of a document of `kind` is one of the exceptions above.
fn exempt(kind: &str, path: &str) -> bool {
    NO_EFFECT_HERE
        .iter()
        .any(|(k, p, _)| *k == kind && (path.ends_with(p) || path.starts_with(p)))
}

fn specs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    for dir in ["golden", "fields"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let name = p.to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !name.ends_with(".rules.yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The documents of a spec as JSON values (JSON is YAML, so they can be written back).
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    ballast_contract::yaml::parse_documents(&text)
        .unwrap()
        .iter()
        .map(|n| n.to_json())
        .collect()
}

fn text_of(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// What ballast makes of a spec: the model and the rules, or `None` when refused.
fn outcome(docs: &[Value], base_dir: &Path) -> Option<String> {
    let slos = load_str(&text_of(docs), "spec.yaml", base_dir).ok()?;
    // Origins carry line numbers, which any edit of the text may move.
    let model: Vec<String> = slos
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.origin.clear();
            format!("{s:?}")
        })
        .collect();
    let measurable: Vec<_> = slos
        .iter()
        .filter(|s| ballast_slo::promql::error_ratio(&s.sli, s.window).is_some())
        .cloned()
        .collect();
    let rules = match rules::build(&measurable, &rules::RuleOptions::default()) {
        Ok(mut groups) => {
            rules::check(&groups).ok()?;
            for g in &mut groups {
                g.origin.clear();
            }
            format!("{groups:?}")
        }
        Err(_) => return None,
    };
    Some(format!("{model:?}\n{rules}"))
}

/// Every path to a value in `v`: object keys and list indexes.
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(Step::Key(k.clone()));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Step::Index(i));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'v>(v: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// A different value of the same kind: text gets `suffix`, numbers move, booleans flip,
/// lists lose their last element, mappings gain a key no format defines.
fn changed(v: &Value, suffix: &str) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s}{suffix}")),
        Value::Number(n) => match n.as_i64() {
            Some(i) => serde_json::json!(i + 1),
            None => serde_json::json!(n.as_f64().unwrap_or(0.0) / 2.0),
        },
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => Value::String(suffix.to_string()),
        Value::Array(items) => {
            let mut items = items.clone();
            if items.pop().is_none() {
                items.push(Value::String(suffix.into()));
            }
            Value::Array(items)
        }
        Value::Object(m) => {
            let mut m = m.clone();
            m.insert(format!("unknown{suffix}"), Value::Null);
            Value::Object(m)
        }
    }
}

fn display(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!(".{k}"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// The fields of `spec` whose change (with `suffix` for text) changes nothing.
fn ignored_fields(spec: &Path, suffix: &str) -> Vec<String> {
    let docs = documents(spec);
    let base_dir = spec.parent().unwrap();
    let base = outcome(&docs, base_dir)
        .unwrap_or_else(|| panic!("{} must load and make rules", spec.display()));
    let mut ignored = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let mut all = Vec::new();
        paths(doc, &mut Vec::new(), &mut all);
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        // A contract is read by `slo` for its `slos:`; the rest is for `verify`.
        let contract = doc.get("phases").is_some();
        for path in all {
            if matches!(path.last(), Some(Step::Key(k)) if DISPLAY_ONLY.contains(&k.as_str()))
                || exempt(kind, &display(&path))
                || (contract && !matches!(path.first(), Some(Step::Key(k)) if k == "slos"))
            {
                continue;
            }
            // Changing the value, and removing the key or element.
            let mut edited = docs.clone();
            let slot = at(&mut edited[d], &path);
            *slot = changed(slot, suffix);
            let mut removed = docs.clone();
            let (last, parent) = path.split_last().unwrap();
            match (at(&mut removed[d], parent), last) {
                (Value::Object(m), Step::Key(k)) => {
                    m.remove(k);
                }
                (Value::Array(items), Step::Index(i)) => {
                    items.remove(*i);
                }
                _ => unreachable!(),
            }
            // Dropping the last element of a plugin chain that is a no-effect plugin.
            if let Value::Array(items) = at(&mut docs.clone()[d], &path) {
                let id = items
                    .last()
                    .and_then(|i| i.get("id"))
                    .and_then(Value::as_str);
                if id.is_some_and(|id| NO_EFFECT_PLUGINS.contains(&id)) {
                    continue;
                }
            }
            // "99.9" and "99.90" are one number: the same value written another way.
            let original = at(&mut docs.clone()[d], &path).clone();
            let same_number = match (&original, at(&mut edited[d], &path)) {
                (Value::String(a), Value::String(b)) => a
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|a| b.trim().parse::<f64>() == Ok(a)),
                _ => false,
            };
            if same_number {
                continue;
            }
            let value_ignored = outcome(&edited, base_dir).as_ref() == Some(&base);
            // Removing a key that holds its default changes nothing, rightly; a key whose
            // value can change without effect is ignored whatever it holds.
            if value_ignored {
                let removal_ignored = outcome(&removed, base_dir).as_ref() == Some(&base);
                ignored.push(format!(
                    "{} document {}: {} (changed to {}{})",
                    spec.display(),
                    d + 1,
                    display(&path),
                    changed(at(&mut docs.clone()[d], &path), suffix),
                    if removal_ignored {
                        "; removing it changes nothing either"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    ignored
}

#[test]
fn every_field_of_every_spec_changes_the_output_or_is_refused() {
    let specs = specs();
    assert!(specs.len() >= 6, "{specs:?}");
    let ignored: Vec<String> = specs.iter().flat_map(|s| ignored_fields(s, "x")).collect();
    assert!(
        ignored.is_empty(),
        "fields ballast ignores:\n  {}",
        ignored.join("\n  ")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// The same with other text appended (digits, letters, punctuation, an inner space),
    /// which lenient parsing could swallow. Surrounding whitespace is left out: `30d ` and
    /// `30d` are one duration, rightly read alike.
    #[test]
    fn no_text_change_is_swallowed(suffix in "[0-9a-z_.:-]( ?[0-9a-z_.:-])?") {
        let ignored: Vec<String> = specs()
            .iter()
            .flat_map(|s| ignored_fields(s, &suffix))
            .collect();
        prop_assert!(ignored.is_empty(), "fields ballast ignores:\n  {}", ignored.join("\n  "));
    }
}

//! The positioned reader every SLO format is read through: errors at file, line, column
//! and field, and the small typed accessors.

use super::*;

pub(super) struct Reader<'a> {
    pub(super) file: &'a str,
    pub(super) root: &'a Node,
    pub(super) problems: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(file: &'a str, root: &'a Node) -> Self {
        Reader {
            file,
            root,
            problems: Vec::new(),
        }
    }

    /// An error at the key `key` of the mapping at `parent` (for a field that should not
    /// be there), or at the nearest node when the key cannot be found.
    pub(super) fn error_key(&mut self, parent: &str, key: &str, message: impl Into<String>) {
        let p = self
            .root
            .locate_key(parent, key)
            .unwrap_or_else(|| self.root.locate(parent));
        self.problems.push(Diagnostic {
            file: self.file.into(),
            line: p.line,
            column: p.column,
            path: join(parent, key),
            message: message.into(),
        });
    }

    /// Every key of the mapping `v` (at `path`) that is not in `known` is an error.
    pub(super) fn known_keys(&mut self, v: &Value, path: &str, known: &[&str]) {
        if let Some(map) = v.as_object() {
            for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
                self.error_key(
                    path,
                    key,
                    format!("unknown field; expected one of {}", known.join(", ")),
                );
            }
        }
    }

    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        let p = self.root.locate(path);
        self.problems.push(Diagnostic {
            file: self.file.into(),
            line: p.line,
            column: p.column,
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn text(&mut self, v: &Value, path: &str, field: &str) -> Option<String> {
        match v.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.error(&join(path, field), "expected text");
                None
            }
            None => {
                self.error(path, format!("missing key `{field}`"));
                None
            }
        }
    }

    pub(super) fn query(&mut self, v: &Value, path: &str, field: &str) -> Option<String> {
        let q = self.text(v, path, field)?;
        match check_query(&q) {
            Ok(()) => Some(q),
            Err(e) => {
                self.error(&join(path, field), e);
                None
            }
        }
    }

    pub(super) fn map(&mut self, v: &Value, path: &str, field: &str) -> BTreeMap<String, String> {
        match v.get(field) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, value) in m {
                    match value {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Value::Number(_) | Value::Bool(_) => {
                            out.insert(k.clone(), value.to_string());
                        }
                        _ => self.error_key(
                            &join(path, field),
                            k,
                            "expected one value (text, a number or true/false)",
                        ),
                    }
                }
                out
            }
            Some(_) => {
                self.error(&join(path, field), "expected a mapping of names to values");
                BTreeMap::new()
            }
        }
    }
}

/// The mapping at `v[field]`, or an error at `path`.
pub(super) fn mapping<'v>(
    r: &mut Reader<'_>,
    v: &'v Value,
    path: &str,
    field: &str,
) -> Option<&'v Value> {
    match v.get(field) {
        Some(m @ Value::Object(_)) => Some(m),
        Some(_) => {
            r.error(&join(path, field), "expected a mapping");
            None
        }
        None => {
            r.error(path, format!("missing key `{field}`"));
            None
        }
    }
}

/// An optional text field: its text, nothing when absent, an error when not text.
pub(super) fn optional_text(
    r: &mut Reader<'_>,
    v: &Value,
    path: &str,
    field: &str,
) -> Option<String> {
    match v.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            r.error(&join(path, field), format!("expected text, got {other}"));
            None
        }
    }
}

/// `metadata` keys the API server writes about the object itself; they say nothing about
/// the SLO and are accepted, so that `kubectl get -o yaml` output reads (Sloth's and
/// Pyrra's resources alike).
pub(super) const KUBERNETES_BOOKKEEPING: [&str; 11] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
    "generateName",
];

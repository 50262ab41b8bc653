//! Prometheus rule files: read (plain `groups:` files, or Kubernetes `PrometheusRule` objects
//! with `spec.groups`, one or several YAML documents) into a small model, and written back
//! as JSON (which YAML readers, promtool's among them, read as YAML).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ballast_contract::yaml::{self, Node, NodeKind, Position};
use serde_json::{json, Map, Value};

/// A rule file's groups, in file order.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its groups.
    pub groups: Vec<Group>,
}

/// One rule group.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub interval: Option<String>,
    pub limit: Option<String>,
    pub rules: Vec<Rule>,
}

/// What a rule writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A recording rule and the series name it records.
    Record(String),
    /// An alerting rule and its alert name.
    Alert(String),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: Kind,
    pub expr: String,
    pub for_: Option<String>,
    pub keep_firing_for: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub position: Position,
}

impl Rule {
    /// The record or alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Record(n) | Kind::Alert(n) => n,
        }
    }

    pub fn is_alert(&self) -> bool {
        matches!(self.kind, Kind::Alert(_))
    }
}

/// A problem with an input file, already worded for the user (`FILE:LINE:COL: what`).
#[derive(Debug, Clone)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn at(path: &Path, position: Position, message: impl std::fmt::Display) -> BadInput {
    BadInput(format!(
        "{}:{}:{}: {message}",
        path.display(),
        position.line,
        position.column
    ))
}

fn scalar<'a>(path: &Path, node: &'a Node, what: &str) -> Result<&'a str, BadInput> {
    match &node.kind {
        NodeKind::Scalar(text, _) => Ok(text),
        _ => Err(at(
            path,
            node.position,
            format!("{what} must be a text value"),
        )),
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Scalar(t, false) if t == "~" || t.is_empty() || t == "null")
}

fn string_map(path: &Path, node: &Node, what: &str) -> Result<BTreeMap<String, String>, BadInput> {
    let mut out = BTreeMap::new();
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, kpos, v) in entries {
                if is_null(v) {
                    return Err(at(path, *kpos, format!("{what} {k:?} has no value")));
                }
                let text = scalar(path, v, &format!("{what} {k:?}"))?;
                out.insert(k.clone(), text.to_string());
            }
            Ok(out)
        }
        _ if is_null(node) => Ok(out),
        _ => Err(at(path, node.position, format!("{what} must be a mapping"))),
    }
}

/// Reads a rule file.
pub fn read(path: &Path) -> Result<RuleFile, BadInput> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    parse(path, &text)
}

/// Parses rule-file text (`path` is only used in messages).
pub fn parse(path: &Path, text: &str) -> Result<RuleFile, BadInput> {
    let docs = yaml::parse_documents(text)
        .map_err(|e| at(path, e.position, format!("not YAML: {}", e.message)))?;
    let mut groups = Vec::new();
    let mut saw_document = false;
    for doc in &docs {
        if is_null(doc) {
            continue;
        }
        let NodeKind::Map(entries) = &doc.kind else {
            return Err(at(
                path,
                doc.position,
                "a rule file is a mapping with `groups:` (or a PrometheusRule with `spec.groups`)",
            ));
        };
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, p, v)| (*p, v))
        };
        let groups_node = if let Some((_, g)) = get("groups") {
            if let Some((k, p, _)) = entries.iter().find(|(k, _, _)| k != "groups") {
                return Err(at(
                    path,
                    *p,
                    format!("unknown top-level field {k:?} (a rule file has only `groups`)"),
                ));
            }
            g
        } else if let Some((spos, spec)) = get("spec") {
            let NodeKind::Map(spec_entries) = &spec.kind else {
                return Err(at(path, spos, "`spec` must be a mapping"));
            };
            if let Some((_, kind)) = get("kind") {
                let k = scalar(path, kind, "kind")?;
                if k != "PrometheusRule" {
                    return Err(at(
                        path,
                        kind.position,
                        format!("kind {k:?} is not a rule file (expected PrometheusRule)"),
                    ));
                }
            }
            match spec_entries.iter().find(|(k, _, _)| k == "groups") {
                Some((_, _, g)) => g,
                None => return Err(at(path, spos, "`spec` has no `groups`")),
            }
        } else {
            return Err(at(
                path,
                doc.position,
                "no `groups:` (nor a PrometheusRule's `spec.groups`) in this document",
            ));
        };
        saw_document = true;
        let NodeKind::Seq(items) = &groups_node.kind else {
            if is_null(groups_node) {
                continue;
            }
            return Err(at(path, groups_node.position, "`groups` must be a list"));
        };
        for item in items {
            groups.push(read_group(path, item)?);
        }
    }
    if !saw_document {
        return Err(BadInput(format!(
            "{}: no rule groups (empty file?)",
            path.display()
        )));
    }
    // Group names must be unique in one file for Prometheus; several PrometheusRule
    // documents may repeat one, so those are told apart by their document.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for g in &mut groups {
        let n = seen.entry(g.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            g.name = format!("{}~{}", g.name, n);
        }
    }
    Ok(RuleFile {
        path: path.to_path_buf(),
        groups,
    })
}

fn read_group(path: &Path, node: &Node) -> Result<Group, BadInput> {
    let NodeKind::Map(entries) = &node.kind else {
        return Err(at(path, node.position, "a group must be a mapping"));
    };
    let mut name = None;
    let mut interval = None;
    let mut limit = None;
    let mut rules = Vec::new();
    for (k, kpos, v) in entries {
        match k.as_str() {
            "name" => name = Some(scalar(path, v, "group name")?.to_string()),
            "interval" => interval = Some(scalar(path, v, "interval")?.to_string()),
            "limit" => limit = Some(scalar(path, v, "limit")?.to_string()),
            "rules" => match &v.kind {
                NodeKind::Seq(items) => {
                    for r in items {
                        rules.push(read_rule(path, r)?);
                    }
                }
                _ if is_null(v) => {}
                _ => return Err(at(path, v.position, "`rules` must be a list")),
            },
            other => {
                return Err(at(
                    path,
                    *kpos,
                    format!("unknown group field {other:?} (name, interval, limit, rules)"),
                ))
            }
        }
    }
    let name = name.ok_or_else(|| at(path, node.position, "a group has no `name`"))?;
    Ok(Group {
        name,
        interval,
        limit,
        rules,
    })
}

fn read_rule(path: &Path, node: &Node) -> Result<Rule, BadInput> {
    let NodeKind::Map(entries) = &node.kind else {
        return Err(at(path, node.position, "a rule must be a mapping"));
    };
    let mut record = None;
    let mut alert = None;
    let mut expr = None;
    let mut for_ = None;
    let mut keep_firing_for = None;
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for (k, kpos, v) in entries {
        match k.as_str() {
            "record" => record = Some(scalar(path, v, "record")?.to_string()),
            "alert" => alert = Some(scalar(path, v, "alert")?.to_string()),
            "expr" => expr = Some(scalar(path, v, "expr")?.to_string()),
            "for" => for_ = Some(scalar(path, v, "for")?.to_string()),
            "keep_firing_for" => keep_firing_for = Some(scalar(path, v, "keep_firing_for")?.to_string()),
            "labels" => labels = string_map(path, v, "label")?,
            "annotations" => annotations = string_map(path, v, "annotation")?,
            other => {
                return Err(at(
                    path,
                    *kpos,
                    format!(
                        "unknown rule field {other:?} (record, alert, expr, for, keep_firing_for, labels, annotations)"
                    ),
                ))
            }
        }
    }
    let kind = match (record, alert) {
        (Some(r), None) => Kind::Record(r),
        (None, Some(a)) => Kind::Alert(a),
        (Some(_), Some(_)) => {
            return Err(at(
                path,
                node.position,
                "a rule has both `record` and `alert`",
            ))
        }
        (None, None) => {
            return Err(at(
                path,
                node.position,
                "a rule has neither `record` nor `alert`",
            ))
        }
    };
    let expr = expr.ok_or_else(|| at(path, node.position, "a rule has no `expr`"))?;
    if expr.trim().is_empty() {
        return Err(at(path, node.position, "a rule's `expr` is empty"));
    }
    if matches!(kind, Kind::Record(_)) && (for_.is_some() || !annotations.is_empty()) {
        return Err(at(
            path,
            node.position,
            "a recording rule has `for` or `annotations`",
        ));
    }
    Ok(Rule {
        kind,
        expr,
        for_,
        keep_firing_for,
        labels,
        annotations,
        position: node.position,
    })
}

/// The file as a Prometheus rule file (JSON, which is YAML).
pub fn to_json(file: &RuleFile) -> Value {
    let groups: Vec<Value> = file
        .groups
        .iter()
        .map(|g| {
            let mut gm = Map::new();
            gm.insert("name".into(), json!(g.name));
            if let Some(i) = &g.interval {
                gm.insert("interval".into(), json!(i));
            }
            if let Some(l) = &g.limit {
                let v = l
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(l));
                gm.insert("limit".into(), v);
            }
            let rules: Vec<Value> = g
                .rules
                .iter()
                .map(|r| {
                    let mut m = Map::new();
                    match &r.kind {
                        Kind::Record(n) => m.insert("record".into(), json!(n)),
                        Kind::Alert(n) => m.insert("alert".into(), json!(n)),
                    };
                    m.insert("expr".into(), json!(r.expr));
                    if let Some(f) = &r.for_ {
                        m.insert("for".into(), json!(f));
                    }
                    if let Some(f) = &r.keep_firing_for {
                        m.insert("keep_firing_for".into(), json!(f));
                    }
                    if !r.labels.is_empty() {
                        m.insert("labels".into(), json!(r.labels));
                    }
                    if !r.annotations.is_empty() {
                        m.insert("annotations".into(), json!(r.annotations));
                    }
                    Value::Object(m)
                })
                .collect();
            gm.insert("rules".into(), Value::Array(rules));
            Value::Object(gm)
        })
        .collect();
    json!({ "groups": groups })
}

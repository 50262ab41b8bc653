//! The attribution rules as data: the built-in set (`builtin.yaml`, embedded) and user
//! files in the same format, read with positions so that every problem names its file,
//! line, column and field.

use crate::attribute::Dimension;
use crate::Error;
use ballast_contract::yaml::{self, Node, NodeKind, Position};
use ballast_contract::Diagnostic;
use serde::Serialize;

/// The text of the built-in rules (the format user rule files follow).
pub const BUILTIN_RULES: &str = include_str!("builtin.yaml");

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RuleKind {
    /// The top path of the dimension after folding runtime frames. Always reported.
    HotPath,
    /// The samples with any frame matching one of the patterns (by
    /// [`crate::frame_matches`]).
    Frames {
        /// The frame patterns.
        frames: Vec<String>,
    },
    /// Samples more than `depth` frames deep below a frame matching `under`.
    Depth {
        /// The frame pattern the depth counts from.
        under: String,
        /// The depth past which a sample counts.
        depth: usize,
    },
    /// Goroutines on one stack, and their growth from start to end.
    Pile,
    /// Goroutines of the dump whose state starts with one of `states` (`IO wait`).
    States {
        /// The states, as the dump prints them.
        states: Vec<String>,
    },
}

/// Conditions that must all hold for a severity; an absent one is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Threshold {
    /// Least share (0..=1) of the dimension's total.
    pub share: Option<f64>,
    /// Least rate per second of the window (cores, bytes/s, goroutines blocked).
    pub rate: Option<f64>,
    /// Least goroutine count at the end.
    pub count: Option<i64>,
    /// Least goroutine growth from start to end.
    pub growth: Option<i64>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Its unique name.
    pub name: String,
    /// The dimension it judges.
    pub dimension: Dimension,
    /// What it looks at.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// The finding's title, with `{culprit}`, `{share}`, `{rate}`, `{count}`, `{growth}`.
    pub title: String,
    /// The likely cause and what to look at.
    pub why: String,
    /// When the finding is a warning.
    pub warning: Option<Threshold>,
    /// When it is critical.
    pub critical: Option<Threshold>,
    /// Where the rule was read (`builtin.yaml:12:5`).
    pub origin: String,
}

/// The rules [`crate::attribute`] applies, and the frames it ignores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSet {
    /// Frame patterns whose samples are left out of every dimension (the profiler's own).
    pub ignore: Vec<String>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::builtin()
    }
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet {
            ignore: Vec::new(),
            rules: Vec::new(),
        };
        // The embedded file is ours and tested; should it ever not parse, the test
        // `the_builtin_rules_parse` says why, and users still get an empty set, not a panic.
        let _ = set.extend_str(BUILTIN_RULES, "builtin.yaml");
        set
    }

    /// Reads a rule file's text (`file` names it in messages) and adds its rules: one with
    /// the name of an existing rule replaces it, others are appended; its `ignore`
    /// patterns are added. On error nothing is changed.
    pub fn extend_str(&mut self, text: &str, file: &str) -> Result<(), Error> {
        let root =
            yaml::parse(text).map_err(|e| Error::Rules(vec![Diagnostic::syntax(file, &e)]))?;
        let mut r = Reader {
            file,
            problems: Vec::new(),
        };
        let (ignore, rules) = r.file(&root);
        let mut names: Vec<(&str, &Position)> = Vec::new();
        for (rule, pos, i) in &rules {
            if let Some((_, first)) = names.iter().find(|(n, _)| *n == rule.name) {
                r.at(
                    pos,
                    &format!("rules[{i}].name"),
                    format!(
                        "a second rule named {:?} (the first is at line {}); names must be unique in a file",
                        rule.name, first.line
                    ),
                );
            }
            names.push((rule.name.as_str(), pos));
        }
        if !r.problems.is_empty() {
            return Err(Error::Rules(r.problems));
        }
        for pattern in ignore {
            if !self.ignore.contains(&pattern) {
                self.ignore.push(pattern);
            }
        }
        for (rule, _, _) in rules {
            match self.rules.iter_mut().find(|x| x.name == rule.name) {
                Some(existing) => *existing = rule,
                None => self.rules.push(rule),
            }
        }
        Ok(())
    }
}

struct Reader<'a> {
    file: &'a str,
    problems: Vec<Diagnostic>,
}

fn entries(node: &Node) -> Option<&[(String, Position, Node)]> {
    match &node.kind {
        NodeKind::Map(e) => Some(e),
        _ => None,
    }
}

fn scalar(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(s, _) => Some(s),
        _ => None,
    }
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "dimension",
    "kind",
    "title",
    "why",
    "frames",
    "under",
    "depth",
    "states",
    "warning",
    "critical",
];

impl Reader<'_> {
    fn at(&mut self, pos: &Position, path: &str, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: self.file.into(),
            line: pos.line,
            column: pos.column,
            path: path.into(),
            message: message.into(),
        });
    }

    fn file(&mut self, root: &Node) -> (Vec<String>, Vec<(Rule, Position, usize)>) {
        let mut ignore = Vec::new();
        let mut rules = Vec::new();
        let Some(top) = entries(root) else {
            if !root.to_json().is_null() {
                self.at(
                    &root.position,
                    "",
                    "expected a mapping with `ignore:` and `rules:`",
                );
            }
            return (ignore, rules);
        };
        for (key, key_pos, value) in top {
            match key.as_str() {
                "ignore" => ignore = self.patterns(value, "ignore"),
                "rules" => match &value.kind {
                    NodeKind::Seq(items) => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(rule) = self.rule(item, &format!("rules[{i}]")) {
                                rules.push((rule, item.position, i));
                            }
                        }
                    }
                    _ if value.to_json().is_null() => {}
                    _ => self.at(&value.position, "rules", "expected a list of rules"),
                },
                _ => self.at(key_pos, key, "unknown field; expected one of ignore, rules"),
            }
        }
        (ignore, rules)
    }

    fn patterns(&mut self, node: &Node, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        match &node.kind {
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    match scalar(item) {
                        Some(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
                        _ => self.at(
                            &item.position,
                            &format!("{path}[{i}]"),
                            "expected a frame pattern such as runtime.mcall or encoding/json",
                        ),
                    }
                }
            }
            _ => self.at(&node.position, path, "expected a list of frame patterns"),
        }
        out
    }

    fn text(
        &mut self,
        map: &[(String, Position, Node)],
        parent: (&Position, &str),
        field: &str,
    ) -> Option<String> {
        match map.iter().find(|(k, _, _)| k == field) {
            Some((_, _, v)) => match scalar(v) {
                Some(s) if !s.trim().is_empty() => Some(s.to_string()),
                _ => {
                    self.at(
                        &v.position,
                        &format!("{}.{field}", parent.1),
                        "expected text",
                    );
                    None
                }
            },
            None => {
                self.at(parent.0, parent.1, format!("missing field `{field}`"));
                None
            }
        }
    }

    fn rule(&mut self, node: &Node, path: &str) -> Option<Rule> {
        let Some(map) = entries(node) else {
            self.at(
                &node.position,
                path,
                "expected a rule (a mapping with name, dimension, kind)",
            );
            return None;
        };
        let before = self.problems.len();
        for (key, pos, _) in map {
            if !RULE_FIELDS.contains(&key.as_str()) {
                self.at(
                    pos,
                    &format!("{path}.{key}"),
                    format!("unknown field; expected one of {}", RULE_FIELDS.join(", ")),
                );
            }
        }
        let get = |field: &str| map.iter().find(|(k, _, _)| k == field).map(|(_, _, v)| v);
        let parent = (&node.position, path);
        let name = self.text(map, parent, "name");
        if let (Some(name), Some(v)) = (&name, get("name")) {
            if !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                self.at(
                    &v.position,
                    &format!("{path}.name"),
                    format!("expected a kebab-case name like cpu-hot-path, got {name:?}"),
                );
            }
        }
        let dimension = self.text(map, parent, "dimension").and_then(|d| {
            let parsed = Dimension::parse(&d);
            if parsed.is_none() {
                let pos = get("dimension")
                    .map(|v| v.position)
                    .unwrap_or(node.position);
                self.at(
                    &pos,
                    &format!("{path}.dimension"),
                    format!("expected one of cpu, heap, goroutines, block, got {d:?}"),
                );
            }
            parsed
        });
        let kind_name = self.text(map, parent, "kind");
        let kind = match kind_name.as_deref() {
            None => None,
            Some("hot-path") => Some(RuleKind::HotPath),
            Some("pile") => Some(RuleKind::Pile),
            Some("states") => match get("states") {
                Some(v) => {
                    let states = self.patterns(v, &format!("{path}.states"));
                    Some(RuleKind::States { states })
                }
                None => {
                    self.at(
                        &node.position,
                        path,
                        "missing field `states` (a states rule needs the goroutine states, like IO wait)",
                    );
                    None
                }
            },
            Some("frames") => match get("frames") {
                Some(v) => {
                    let frames = self.patterns(v, &format!("{path}.frames"));
                    if frames.is_empty() && matches!(v.kind, NodeKind::Seq(_)) {
                        self.at(
                            &v.position,
                            &format!("{path}.frames"),
                            "expected at least one frame pattern",
                        );
                    }
                    Some(RuleKind::Frames { frames })
                }
                None => {
                    self.at(
                        &node.position,
                        path,
                        "missing field `frames` (a frames rule needs its frame patterns)",
                    );
                    None
                }
            },
            Some("depth") => {
                let under = self.text(map, parent, "under");
                let depth = match get("depth") {
                    Some(v) => match scalar(v).and_then(|s| s.parse::<usize>().ok()) {
                        Some(d) if d > 0 => Some(d),
                        _ => {
                            self.at(
                                &v.position,
                                &format!("{path}.depth"),
                                "expected a whole number of frames above 0, like 20",
                            );
                            None
                        }
                    },
                    None => {
                        self.at(
                            &node.position,
                            path,
                            "missing field `depth` (a depth rule needs how many frames)",
                        );
                        None
                    }
                };
                match (under, depth) {
                    (Some(under), Some(depth)) => Some(RuleKind::Depth { under, depth }),
                    _ => None,
                }
            }
            Some(other) => {
                let pos = get("kind").map(|v| v.position).unwrap_or(node.position);
                self.at(
                    &pos,
                    &format!("{path}.kind"),
                    format!("expected one of hot-path, frames, depth, pile, states, got {other:?}"),
                );
                None
            }
        };
        // Fields that belong to another kind are refused where they stand, not ignored.
        for (field, owner) in [
            ("frames", "frames"),
            ("under", "depth"),
            ("depth", "depth"),
            ("states", "states"),
        ] {
            if let (Some(k), Some((_, pos, _))) = (
                kind_name.as_deref(),
                map.iter().find(|(key, _, _)| key == field),
            ) {
                if k != owner && ["hot-path", "frames", "depth", "pile", "states"].contains(&k) {
                    self.at(
                        pos,
                        &format!("{path}.{field}"),
                        format!("`{field}` belongs to a {owner} rule, not a {k} rule"),
                    );
                }
            }
        }
        if let (Some(RuleKind::Pile), Some(d)) = (&kind, dimension) {
            if d != Dimension::Goroutines {
                let pos = get("kind").map(|v| v.position).unwrap_or(node.position);
                self.at(
                    &pos,
                    &format!("{path}.kind"),
                    "a pile rule judges goroutines: use dimension: goroutines",
                );
            }
        }
        let allowed: &[&str] = match &kind {
            Some(RuleKind::Pile) => &["count", "growth", "share"],
            Some(RuleKind::States { .. }) => &["count", "share"],
            Some(RuleKind::HotPath) if dimension == Some(Dimension::Goroutines) => {
                &["count", "share"]
            }
            _ => &["share", "rate"],
        };
        let warning =
            get("warning").and_then(|v| self.threshold(v, &format!("{path}.warning"), allowed));
        let critical =
            get("critical").and_then(|v| self.threshold(v, &format!("{path}.critical"), allowed));
        let title = match get("title") {
            Some(_) => self.text(map, parent, "title"),
            None => name.clone(),
        };
        let why = match get("why") {
            Some(_) => self.text(map, parent, "why"),
            None => Some(String::new()),
        };
        if self.problems.len() != before {
            return None;
        }
        Some(Rule {
            name: name?,
            dimension: dimension?,
            kind: kind?,
            title: title?,
            why: why?,
            warning,
            critical,
            origin: format!(
                "{}:{}:{}",
                self.file, node.position.line, node.position.column
            ),
        })
    }

    fn threshold(&mut self, node: &Node, path: &str, allowed: &[&str]) -> Option<Threshold> {
        if node.to_json().is_null() {
            return None;
        }
        let Some(map) = entries(node) else {
            self.at(
                &node.position,
                path,
                format!("expected a mapping of {}", allowed.join(", ")),
            );
            return None;
        };
        let mut t = Threshold::default();
        for (key, pos, value) in map {
            let field = format!("{path}.{key}");
            if !allowed.contains(&key.as_str()) {
                self.at(
                    pos,
                    &field,
                    format!("unknown field here; expected one of {}", allowed.join(", ")),
                );
                continue;
            }
            let number = scalar(value)
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|n| n.is_finite());
            match (key.as_str(), number) {
                ("share", Some(n)) if (0.0..=1.0).contains(&n) => t.share = Some(n),
                ("share", _) => self.at(
                    &value.position,
                    &field,
                    "expected a share from 0 to 1, like 0.25",
                ),
                ("rate", Some(n)) if n >= 0.0 => t.rate = Some(n),
                ("rate", _) => self.at(
                    &value.position,
                    &field,
                    "expected a rate of 0 or more, like 0.5",
                ),
                ("count" | "growth", Some(n)) if n >= 0.0 && n.fract() == 0.0 => {
                    if key == "count" {
                        t.count = Some(n as i64)
                    } else {
                        t.growth = Some(n as i64)
                    }
                }
                _ => self.at(
                    &value.position,
                    &field,
                    "expected a whole number of goroutines, like 100",
                ),
            }
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        let mut set = RuleSet::builtin();
        match set.extend_str(text, "more.yaml") {
            Err(e) => e.to_string(),
            Ok(()) => String::new(),
        }
    }

    #[test]
    fn the_builtin_rules_parse() {
        let mut set = RuleSet {
            ignore: vec![],
            rules: vec![],
        };
        set.extend_str(BUILTIN_RULES, "builtin.yaml").unwrap();
        assert!(set.rules.len() >= 8);
        assert_eq!(set, RuleSet::builtin());
        assert!(set.rules[0].origin.starts_with("builtin.yaml:"));
    }

    #[test]
    fn a_user_rule_replaces_the_builtin_of_its_name_and_adds_others() {
        let mut set = RuleSet::builtin();
        let n = set.rules.len();
        set.extend_str(
            "ignore: [main.profiler]\nrules:\n  - name: cpu-hot-path\n    dimension: cpu\n    kind: hot-path\n    critical: { share: 0.9 }\n  - name: json\n    dimension: cpu\n    kind: frames\n    frames: [encoding/json]\n    warning: { share: 0.1 }\n",
            "more.yaml",
        )
        .unwrap();
        assert_eq!(set.rules.len(), n + 1);
        let hot = set.rules.iter().find(|r| r.name == "cpu-hot-path").unwrap();
        assert_eq!(hot.critical.unwrap().share, Some(0.9));
        assert_eq!(hot.warning, None);
        assert_eq!(hot.origin, "more.yaml:3:5");
        assert!(set.ignore.contains(&"main.profiler".to_string()));
    }

    #[test]
    fn errors_name_file_line_column_and_field() {
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: disk\n    kind: hot-path\n"),
            "more.yaml:3:16: rules[0].dimension: expected one of cpu, heap, goroutines, block, got \"disk\""
        );
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: cpu\n    kind: hot-path\n    warning: { share: 2 }\n"),
            "more.yaml:5:23: rules[0].warning.share: expected a share from 0 to 1, like 0.25"
        );
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: cpu\n    kind: frames\n    treshold: 1\n    frames: [a]\n"),
            format!("more.yaml:5:5: rules[0].treshold: unknown field; expected one of {}", RULE_FIELDS.join(", "))
        );
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: cpu\n    kind: frames\n"),
            "more.yaml:2:5: rules[0]: missing field `frames` (a frames rule needs its frame patterns)"
        );
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: cpu\n    kind: pile\n"),
            "more.yaml:4:11: rules[0].kind: a pile rule judges goroutines: use dimension: goroutines"
        );
        assert_eq!(
            errors("rules:\n  - name: x\n    dimension: cpu\n    kind: hot-path\n    warning: { count: 3 }\n"),
            "more.yaml:5:16: rules[0].warning.count: unknown field here; expected one of share, rate"
        );
        assert!(
            errors("rules: [\n").starts_with("more.yaml:2:1: not valid YAML"),
            "{}",
            errors("rules: [\n")
        );
        assert_eq!(
            errors("colour: red\n"),
            "more.yaml:1:1: colour: unknown field; expected one of ignore, rules"
        );
        let dup = errors("rules:\n  - {name: a, dimension: cpu, kind: hot-path}\n  - {name: a, dimension: cpu, kind: hot-path}\n");
        assert!(
            dup.starts_with(
                "more.yaml:3:6: rules[1].name: a second rule named \"a\" (the first is at line 2)"
            ),
            "{dup}"
        );
    }

    #[test]
    fn a_failed_file_changes_nothing() {
        let mut set = RuleSet::builtin();
        let before = set.clone();
        assert!(set
            .extend_str("ignore: [x]\nrules: 3\n", "more.yaml")
            .is_err());
        assert_eq!(set, before);
    }
}

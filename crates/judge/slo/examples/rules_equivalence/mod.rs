//! The equivalence check (see `rules_equivalence.rs` and docs/slo.md).

pub mod expr;
pub mod promtool;
pub mod regexgen;
pub mod rules;
pub mod synth;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rules::{BadInput, Kind, RuleFile};
use synth::{fmt_labels, fmt_min, Scenario};

/// What OURS' records, alerts and groups are renamed to, so that both files load together.
pub const PREFIX: &str = "ours__";

const USAGE: &str =
    "usage: rules_equivalence OURS.yml THEIRS.yml [--scenario healthy|blip|outage|slow-burn|all] \
[--keep DIR] [--eval-interval 5m] [--duration 4d] [--promtool PATH] [--strict] [--jobs N] [--ignore-label NAME]...";

/// What a run printed and its exit code.
pub struct Report {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub ours: PathBuf,
    pub theirs: PathBuf,
    pub scenarios: Vec<Scenario>,
    pub keep: Option<PathBuf>,
    pub eval_interval_min: u64,
    pub duration_min: u64,
    pub promtool: PathBuf,
    pub strict: bool,
    /// promtool runs at a time.
    pub jobs: usize,
    /// Static rule labels dropped from both files before comparing.
    pub ignore_labels: Vec<String>,
}

fn parse_minutes(s: &str) -> Option<u64> {
    let m = promtool::parse_duration_min(s)?;
    (m > 0 && promtool::parse_duration_min(s).map(|x| x * 60_000) == parse_ms(s)).then_some(m)
}

fn parse_ms(s: &str) -> Option<u64> {
    // whole minutes only: "90s" is refused by comparing with the minute count
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'w' => 7 * 86_400_000,
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1000,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut positional = Vec::new();
    let mut scenarios = Scenario::ALL.to_vec();
    let mut keep = None;
    let mut eval = 5;
    let mut duration = 4 * 1440;
    let mut promtool = PathBuf::from("promtool");
    let mut strict = false;
    let mut jobs = 1;
    let mut ignore_labels = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value; {USAGE}"))
        };
        match a.as_str() {
            "--scenario" => {
                let v = value("--scenario")?;
                scenarios = Scenario::parse(&v).ok_or_else(|| {
                    format!("unknown scenario {v:?} (healthy, blip, outage, slow-burn, ramp, all)")
                })?;
            }
            "--keep" => keep = Some(PathBuf::from(value("--keep")?)),
            "--eval-interval" => {
                let v = value("--eval-interval")?;
                eval = parse_minutes(&v).ok_or_else(|| {
                    format!("--eval-interval {v:?}: whole minutes, e.g. 1m or 5m")
                })?;
            }
            "--duration" => {
                let v = value("--duration")?;
                duration =
                    parse_minutes(&v).ok_or_else(|| format!("--duration {v:?}: e.g. 4d or 36h"))?;
            }
            "--promtool" => promtool = PathBuf::from(value("--promtool")?),
            "--strict" => strict = true,
            "--ignore-label" => ignore_labels.push(value("--ignore-label")?),
            "--jobs" => {
                let v = value("--jobs")?;
                jobs = v.parse().ok().filter(|j| *j >= 1).ok_or_else(|| {
                    format!("--jobs {v:?}: a number of promtool runs at a time, 1 or more")
                })?;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s}; {USAGE}"))
            }
            _ => positional.push(PathBuf::from(a)),
        }
    }
    if positional.len() != 2 {
        return Err(format!("expected two rule files; {USAGE}"));
    }
    if duration < 60 || duration < eval * 4 {
        return Err("--duration must be at least an hour and four evaluation intervals".into());
    }
    let theirs = positional.pop().unwrap();
    let ours = positional.pop().unwrap();
    Ok(Options {
        ours,
        theirs,
        scenarios,
        keep,
        eval_interval_min: eval,
        duration_min: duration,
        promtool,
        strict,
        jobs,
        ignore_labels,
    })
}

/// Runs the comparison for a command line.
pub fn run(args: &[String]) -> Report {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            return Report {
                code: 2,
                stdout: String::new(),
                stderr: format!("rules_equivalence: {e}\n"),
            }
        }
    };
    let mut out = String::new();
    match compare(&opts, &mut out) {
        Ok(equal) => Report {
            code: if equal { 0 } else { 1 },
            stdout: out,
            stderr: String::new(),
        },
        Err(BadInput(e)) => Report {
            code: 2,
            stdout: out,
            stderr: format!("rules_equivalence: {e}\n"),
        },
    }
}

/// One side, parsed.
struct Side {
    label: &'static str,
    file: RuleFile,
    /// Parsed expression per (group, rule).
    reads: Vec<Vec<expr::Reads>>,
}

fn records(f: &RuleFile) -> BTreeSet<String> {
    f.groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| match &r.kind {
            Kind::Record(n) => Some(n.clone()),
            Kind::Alert(_) => None,
        })
        .collect()
}

fn alerts(f: &RuleFile) -> BTreeSet<String> {
    f.groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| match &r.kind {
            Kind::Alert(n) => Some(n.clone()),
            Kind::Record(_) => None,
        })
        .collect()
}

fn load(label: &'static str, path: &Path) -> Result<Side, BadInput> {
    let file = rules::read(path)?;
    let mut reads = Vec::new();
    for g in &file.groups {
        let mut gr = Vec::new();
        for r in &g.rules {
            let where_ = |msg: String| {
                BadInput(format!(
                    "{}:{}:{}: {} {:?} in group {:?}: {msg}",
                    path.display(),
                    r.position.line,
                    r.position.column,
                    if r.is_alert() { "alert" } else { "record" },
                    r.name(),
                    g.name
                ))
            };
            let ast = expr::parse(&r.expr)
                .map_err(|e| where_(format!("expression does not parse: {e}")))?;
            let rd = expr::reads(&ast, &r.expr).map_err(where_)?;
            if let Some(s) = rd
                .selectors
                .iter()
                .find(|s| s.name == "ALERTS" || s.name == "ALERTS_FOR_STATE")
            {
                return Err(where_(format!(
                    "reads {}, which this tool uses to compare alerts",
                    s.name
                )));
            }
            if r.name().starts_with(PREFIX) {
                return Err(where_(format!(
                    "names starting with {PREFIX} are reserved by this tool"
                )));
            }
            if let Some(l) = r.labels.keys().find(|l| l.starts_with("eqcheck_")) {
                return Err(where_(format!(
                    "label {l}: labels starting with eqcheck_ are reserved by this tool"
                )));
            }
            gr.push(rd);
        }
        reads.push(gr);
    }
    Ok(Side { label, file, reads })
}

/// Groups in an order where a group comes after the groups whose records it reads (file
/// order otherwise, and for cycles), so every rule reads its inputs of the same step.
fn group_order(side: &Side, renamed: &dyn Fn(&str) -> String) -> Vec<String> {
    let n = side.file.groups.len();
    let produced: Vec<BTreeSet<&str>> = side
        .file
        .groups
        .iter()
        .map(|g| {
            g.rules
                .iter()
                .filter(|r| !r.is_alert())
                .map(|r| r.name())
                .collect()
        })
        .collect();
    let deps: Vec<BTreeSet<usize>> = (0..n)
        .map(|i| {
            let reads: BTreeSet<&str> = side.reads[i]
                .iter()
                .flat_map(|r| r.selectors.iter().map(|s| s.name.as_str()))
                .collect();
            (0..n)
                .filter(|&j| j != i && produced[j].iter().any(|p| reads.contains(p)))
                .collect()
        })
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::new();
    while order.len() < n {
        let next = (0..n)
            .find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]))
            .or_else(|| (0..n).find(|&i| !done[i]))
            .unwrap();
        done[next] = true;
        order.push(renamed(&side.file.groups[next].name));
    }
    order
}

/// The error budget (1 − objective) of every SLO whose rules read `family`, as told by the
/// files' `slo:error_budget:ratio` / `slo:objective:ratio` rules with constant values.
struct Budgets {
    /// (budget, labels of the rule that states it)
    stated: Vec<(f64, BTreeMap<String, String>)>,
    /// For every input metric, the labels of the rules reading it.
    readers: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl Budgets {
    fn new(sides: &[&Side]) -> Budgets {
        let mut stated = Vec::new();
        let mut readers: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for side in sides {
            for (gi, g) in side.file.groups.iter().enumerate() {
                for (ri, r) in g.rules.iter().enumerate() {
                    if let Ok(ast) = expr::parse(&r.expr) {
                        if let Some(c) = expr::const_value(&ast) {
                            match r.name() {
                                "slo:error_budget:ratio" if c > 0.0 && c < 1.0 => {
                                    stated.push((c, r.labels.clone()))
                                }
                                "slo:objective:ratio" if c > 0.0 && c < 1.0 => {
                                    stated.push((1.0 - c, r.labels.clone()))
                                }
                                _ => {}
                            }
                        }
                    }
                    for s in &side.reads[gi][ri].selectors {
                        let base = ["_bucket", "_count", "_sum"]
                            .iter()
                            .find_map(|x| s.name.strip_suffix(x))
                            .unwrap_or(&s.name);
                        for name in [s.name.as_str(), base] {
                            readers
                                .entry(name.to_string())
                                .or_default()
                                .push(r.labels.clone());
                        }
                    }
                }
            }
        }
        Budgets { stated, readers }
    }

    fn for_family(&self, family: &str) -> f64 {
        let fits = |budget_labels: &BTreeMap<String, String>, reader: &BTreeMap<String, String>| {
            let shared: Vec<&String> = budget_labels
                .keys()
                .filter(|k| reader.contains_key(*k))
                .collect();
            !shared.is_empty() && shared.iter().all(|k| budget_labels[*k] == reader[*k])
        };
        let mine: Vec<f64> = self
            .readers
            .get(family)
            .into_iter()
            .flatten()
            .flat_map(|reader| {
                self.stated
                    .iter()
                    .filter(move |(_, l)| fits(l, reader))
                    .map(|(b, _)| *b)
            })
            .collect();
        let pool = if mine.is_empty() {
            self.stated.iter().map(|(b, _)| *b).collect()
        } else {
            mine
        };
        pool.into_iter()
            .fold(None, |m: Option<f64>, b| Some(m.map_or(b, |m| m.min(b))))
            .unwrap_or(0.001)
    }
}

/// A rule's identity across files: its kind, name and static labels.
fn rule_key(r: &rules::Rule) -> String {
    format!(
        "{} {}{}",
        if r.is_alert() { "alert" } else { "record" },
        r.name(),
        fmt_labels(&r.labels)
    )
}

/// Differences read off the files without evaluating them.
fn static_comparison(ours: &Side, theirs: &Side) -> (Vec<String>, Vec<String>) {
    let mut diffs = Vec::new();
    let mut notes = Vec::new();
    let (ro, rt) = (records(&ours.file), records(&theirs.file));
    let (ao, at) = (alerts(&ours.file), alerts(&theirs.file));
    for n in rt.difference(&ro) {
        diffs.push(format!("record {n} is only in THEIRS"));
    }
    for n in ro.difference(&rt) {
        diffs.push(format!("record {n} is only in OURS"));
    }
    for n in at.difference(&ao) {
        diffs.push(format!("alert {n} is only in THEIRS"));
    }
    for n in ao.difference(&at) {
        diffs.push(format!("alert {n} is only in OURS"));
    }
    type Info<'a> = (&'a rules::Group, &'a rules::Rule);
    fn by_key(side: &Side) -> BTreeMap<String, Vec<Info<'_>>> {
        let mut m: BTreeMap<String, Vec<Info<'_>>> = BTreeMap::new();
        for g in &side.file.groups {
            for r in &g.rules {
                m.entry(rule_key(r)).or_default().push((g, r));
            }
        }
        m
    }
    let (ko, kt) = (by_key(ours), by_key(theirs));
    for (k, t) in &kt {
        let Some(o) = ko.get(k) else { continue };
        if o.len() != t.len() {
            diffs.push(format!(
                "{k}: {} rule(s) in THEIRS, {} in OURS",
                t.len(),
                o.len()
            ));
            continue;
        }
        for ((tg, tr), (og, or)) in t.iter().zip(o.iter()) {
            if tg.interval != og.interval {
                diffs.push(format!(
                    "{k}: evaluated every {} in THEIRS, every {} in OURS (group interval)",
                    tg.interval.as_deref().unwrap_or("global interval"),
                    og.interval.as_deref().unwrap_or("global interval")
                ));
            }
            if tg.limit != og.limit {
                diffs.push(format!(
                    "{k}: group limit {} in THEIRS, {} in OURS",
                    tg.limit.as_deref().unwrap_or("none"),
                    og.limit.as_deref().unwrap_or("none")
                ));
            }
            if tr.for_ != or.for_ || tr.keep_firing_for != or.keep_firing_for {
                diffs.push(format!(
                    "{k}: for {} / keep_firing_for {} in THEIRS, {} / {} in OURS",
                    tr.for_.as_deref().unwrap_or("-"),
                    tr.keep_firing_for.as_deref().unwrap_or("-"),
                    or.for_.as_deref().unwrap_or("-"),
                    or.keep_firing_for.as_deref().unwrap_or("-")
                ));
            }
            if tr.annotations != or.annotations {
                let keys: BTreeSet<&String> =
                    tr.annotations.keys().chain(or.annotations.keys()).collect();
                let differing: Vec<String> = keys
                    .into_iter()
                    .filter(|a| tr.annotations.get(*a) != or.annotations.get(*a))
                    .map(|a| {
                        format!(
                            "{a}: THEIRS {:?}, OURS {:?}",
                            tr.annotations
                                .get(a)
                                .map(String::as_str)
                                .unwrap_or("(none)"),
                            or.annotations
                                .get(a)
                                .map(String::as_str)
                                .unwrap_or("(none)")
                        )
                    })
                    .collect();
                notes.push(format!(
                    "{k}: annotations differ ({})",
                    differing.join("; ")
                ));
            }
        }
    }
    let gt: Vec<&str> = theirs.file.groups.iter().map(|g| g.name.as_str()).collect();
    let go: Vec<&str> = ours.file.groups.iter().map(|g| g.name.as_str()).collect();
    if gt != go {
        notes.push(format!(
            "group names differ: THEIRS [{}], OURS [{}]",
            gt.join(", "),
            go.join(", ")
        ));
    }
    let order = |s: &Side| -> Vec<String> {
        s.file
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(rule_key))
            .collect()
    };
    if order(theirs) != order(ours) && kt.keys().eq(ko.keys()) {
        notes.push("the rules are in a different order".into());
    }
    (diffs, notes)
}

/// The comparison's outcome for one scenario.
struct ScenarioResult {
    differing_steps: BTreeSet<u64>,
    lines: Vec<String>,
}

fn strip_internal(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| !k.starts_with("eqcheck_") && k.as_str() != "__name__")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A mismatch's subject, labels and kind.
type MismatchKey = (String, String, String);
/// Its first step, how many steps it lasted, and what it was at the first.
type Mismatch = (u64, usize, String);

/// Two values, with as many digits as it takes to tell them apart (at least 6).
fn fmt_pair(a: Option<f64>, b: Option<f64>) -> (String, String) {
    let f = |v: Option<f64>, p: usize| match v {
        None => "-".to_string(),
        Some(v) if !v.is_finite() => fmt_value(v),
        Some(v) => {
            let s = format!("{v:.p$e}");
            let r: f64 = s.parse().unwrap_or(v);
            if r == v {
                fmt_value(v)
            } else {
                format!("{r}")
            }
        }
    };
    for p in 5..17 {
        let (x, y) = (f(a, p), f(b, p));
        if x != y {
            return (x, y);
        }
    }
    (f(a, 17), f(b, 17))
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Alert firing intervals per (alert name, label set), from the edge rows.
type Intervals = BTreeMap<(String, String), Vec<(u64, Option<u64>)>>;

fn intervals(failures: &[promtool::Failure], ours: bool, step: u64) -> Intervals {
    let mut edges: BTreeMap<(String, String), Vec<(u64, bool)>> = BTreeMap::new();
    for f in failures.iter().filter(|f| f.expr_is_probe) {
        for s in &f.got {
            let Some(name) = s.labels.get("alertname") else {
                continue;
            };
            let (is_ours, name) = match name.strip_prefix(PREFIX) {
                Some(n) => (true, n.to_string()),
                None => (false, name.clone()),
            };
            if is_ours != ours {
                continue;
            }
            let mut l = strip_internal(&s.labels);
            l.remove("alertname");
            l.remove("alertstate");
            let start = s.labels.get(promtool::EDGE_LABEL).map(String::as_str) == Some("start");
            edges
                .entry((name, fmt_labels(&l)))
                .or_default()
                .push((f.time_min, start));
        }
    }
    let mut out = Intervals::new();
    for (k, mut es) in edges {
        es.sort();
        let mut v: Vec<(u64, Option<u64>)> = Vec::new();
        for (t, start) in es {
            if start {
                v.push((t, None));
            } else if let Some(last) = v.last_mut() {
                if last.1.is_none() {
                    last.1 = Some(t - step);
                }
            }
        }
        out.insert(k, v);
    }
    out
}

fn fmt_intervals(v: &[(u64, Option<u64>)]) -> String {
    if v.is_empty() {
        return "never fires".into();
    }
    let parts: Vec<String> = v
        .iter()
        .map(|(a, b)| match b {
            Some(b) if b == a => format!("at {}", fmt_min(*a)),
            Some(b) => format!("{}–{}", fmt_min(*a), fmt_min(*b)),
            None => format!("{}–end", fmt_min(*a)),
        })
        .collect();
    if parts.len() > 4 {
        return format!(
            "fires {}, … ({} times in all)",
            parts[..4].join(", "),
            parts.len()
        );
    }
    format!("fires {}", parts.join(", "))
}

/// The labels that tell apart an alert's rules (e.g. severity), for display.
fn alert_display(name: &str, labels: &str, varying: &BTreeMap<String, BTreeSet<String>>) -> String {
    let Some(keys) = varying.get(name) else {
        return name.to_string();
    };
    // labels is "{a="b", c="d"}": keep the varying ones
    let inner = labels.trim_start_matches('{').trim_end_matches('}');
    let parts: Vec<&str> = inner
        .split(", ")
        .filter(|p| keys.iter().any(|k| p.starts_with(&format!("{k}="))))
        .collect();
    if parts.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", parts.join(", "))
    }
}

fn analyse(
    outcome: &promtool::Outcome,
    step: u64,
    alert_names: &BTreeSet<String>,
    varying: &BTreeMap<String, BTreeSet<String>>,
) -> ScenarioResult {
    let mut lines = Vec::new();
    // Alert intervals, both files.
    let (it, io) = (
        intervals(&outcome.failures, false, step),
        intervals(&outcome.failures, true, step),
    );
    let keys: BTreeSet<&(String, String)> = it.keys().chain(io.keys()).collect();
    let fired: BTreeSet<&String> = keys.iter().map(|(n, _)| n).collect();
    for (name, labels) in &keys {
        let t = it
            .get(&(name.clone(), labels.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let o = io
            .get(&(name.clone(), labels.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let who = alert_display(name, labels, varying);
        if t == o {
            lines.push(format!("  alert {who}: {} in both", fmt_intervals(t)));
        } else {
            lines.push(format!(
                "  alert {who}: THEIRS {}; OURS {}",
                fmt_intervals(t),
                fmt_intervals(o)
            ));
        }
    }
    for name in alert_names.iter().filter(|n| !fired.contains(n)) {
        lines.push(format!("  alert {name}: never fires in either"));
    }
    // Mismatches.
    let mut differing_steps = BTreeSet::new();
    // (subject, labels, kind) -> (first step, steps, what at the first step)
    let mut seen: BTreeMap<MismatchKey, Mismatch> = BTreeMap::new();
    let mut note = |key: MismatchKey, t: u64, what: String| {
        let e = seen.entry(key).or_insert((t, 0, what));
        e.1 += 1;
    };
    for f in outcome.failures.iter().filter(|f| !f.expr_is_probe) {
        differing_steps.insert(f.time_min);
        let mut values: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
        // (subject, is THEIRS, labels, value)
        let mut only: Vec<(String, bool, BTreeMap<String, String>, f64)> = Vec::new();
        for s in &f.got {
            let side = s
                .labels
                .get(promtool::SIDE_LABEL)
                .map(String::as_str)
                .unwrap_or("");
            let mut l = strip_internal(&s.labels);
            let subject = match s.labels.get(promtool::NAME_LABEL) {
                Some(n) => format!("record {n}"),
                None => match l.remove("alertname") {
                    Some(a) => format!("alert {a}"),
                    None => "series".to_string(),
                },
            };
            match side {
                "theirs" => values.entry((subject, fmt_labels(&l))).or_default().0 = Some(s.value),
                "ours" => values.entry((subject, fmt_labels(&l))).or_default().1 = Some(s.value),
                "theirs_only" => only.push((subject, true, l, s.value)),
                "ours_only" => only.push((subject, false, l, s.value)),
                _ => {}
            }
        }
        // A series of one file and one of the other that differ in a label or two: one
        // mismatch, worded as such.
        let mut used = vec![false; only.len()];
        for i in 0..only.len() {
            if used[i] || !only[i].1 {
                continue;
            }
            for j in 0..only.len() {
                if used[j] || only[j].1 || only[j].0 != only[i].0 {
                    continue;
                }
                let (a, b) = (&only[i].2, &only[j].2);
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                let differing: Vec<&String> = keys
                    .into_iter()
                    .filter(|k| a.get(*k) != b.get(*k))
                    .collect();
                if differing.is_empty() || differing.len() > 2 {
                    continue;
                }
                used[i] = true;
                used[j] = true;
                let keep = only[i].0.strip_prefix("alert ").map(|n| varying.get(n));
                let common: BTreeMap<String, String> = a
                    .iter()
                    .filter(|(k, _)| !differing.contains(k))
                    .filter(|(k, _)| match keep {
                        Some(v) => v.is_some_and(|v| v.contains(*k)),
                        None => true,
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let show = |m: &BTreeMap<String, String>| {
                    differing
                        .iter()
                        .map(|k| match m.get(*k) {
                            Some(v) => format!("{k}={}", synth::quote(v)),
                            None => format!("no {k}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let what = format!("labels differ: THEIRS {}, OURS {}", show(a), show(b));
                note(
                    (only[i].0.clone(), fmt_labels(&common), "labels".into()),
                    f.time_min,
                    what,
                );
                break;
            }
        }
        for (i, (subject, theirs, l, v)) in only.iter().enumerate() {
            if used[i] {
                continue;
            }
            let who = if *theirs { "THEIRS" } else { "OURS" };
            let mut l = l.clone();
            if let Some(name) = subject.strip_prefix("alert ") {
                let keep = varying.get(name);
                l.retain(|k, _| k == "alertstate" || keep.is_some_and(|v| v.contains(k)));
            }
            let l = &l;
            let what = if subject.starts_with("alert ") {
                format!(
                    "{} in {who} only",
                    l.get("alertstate").map(String::as_str).unwrap_or("active")
                )
            } else {
                format!(
                    "only {who} has this series (value {})",
                    fmt_pair(Some(*v), None).0
                )
            };
            note(
                (subject.clone(), fmt_labels(l), who.into()),
                f.time_min,
                what,
            );
        }
        for ((subject, labels), (t, o)) in values {
            let (ts, os) = fmt_pair(t, o);
            note(
                (subject, labels, "value".into()),
                f.time_min,
                format!("THEIRS {ts}, OURS {os}"),
            );
        }
    }
    if !seen.is_empty() {
        let mut first: Vec<(&MismatchKey, &Mismatch)> = seen.iter().collect();
        first.sort_by_key(|(k, v)| (v.0, (*k).clone()));
        lines.push(format!("  {} mismatch(es); the first:", seen.len()));
        for ((subject, labels, _), (t, n, what)) in first.iter().take(8) {
            lines.push(format!(
                "    at {:>9}  {subject}{labels}: {what} (at {n} step{})",
                fmt_min(*t),
                if *n == 1 { "" } else { "s" }
            ));
        }
    }
    ScenarioResult {
        differing_steps,
        lines,
    }
}

fn which_file<'a>(msg: &str, ours: &'a Path, theirs: &'a Path) -> &'a Path {
    if msg.contains(PREFIX) {
        ours
    } else {
        theirs
    }
}

fn check_rules_file(
    promtool: &Path,
    dir: &Path,
    file: &str,
    original: &Path,
) -> Result<(), BadInput> {
    let out = std::process::Command::new(promtool)
        .args(["check", "rules", file])
        .current_dir(dir)
        .output()
        .map_err(|e| BadInput(format!("cannot run {}: {e}", promtool.display())))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let msg: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Checking") && !l.contains("FAILED"))
        .collect();
    Err(BadInput(format!(
        "{}: promtool check rules refuses it: {}",
        original.display(),
        match msg.len() {
            0 => "(no reason given)".to_string(),
            1 => msg[0].replace(&format!("{file}: "), ""),
            n => format!(
                "{} (and {} more)",
                msg[0].replace(&format!("{file}: "), ""),
                n - 1
            ),
        }
    )))
}

fn work_dir(opts: &Options) -> Result<(PathBuf, bool), BadInput> {
    if let Some(k) = &opts.keep {
        std::fs::create_dir_all(k)
            .map_err(|e| BadInput(format!("{}: cannot create: {e}", k.display())))?;
        return Ok((k.clone(), false));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("rules-equivalence-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d)
        .map_err(|e| BadInput(format!("{}: cannot create: {e}", d.display())))?;
    Ok((d, true))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), BadInput> {
    std::fs::write(dir.join(name), text)
        .map_err(|e| BadInput(format!("{}: cannot write: {e}", dir.join(name).display())))
}

/// Compares; `Ok(true)` when equivalent.
pub fn compare(opts: &Options, out: &mut String) -> Result<bool, BadInput> {
    let mut theirs = load("THEIRS", &opts.theirs)?;
    let mut ours = load("OURS", &opts.ours)?;
    for side in [&mut theirs, &mut ours] {
        for g in &mut side.file.groups {
            for r in &mut g.rules {
                r.labels.retain(|k, _| !opts.ignore_labels.contains(k));
            }
        }
    }
    let recorded: BTreeSet<String> = records(&ours.file)
        .union(&records(&theirs.file))
        .cloned()
        .collect();

    // OURS, renamed.
    let mut methods: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut renamed = ours.file.clone();
    for g in &mut renamed.groups {
        g.name = format!("{PREFIX}{}", g.name);
        for r in &mut g.rules {
            let (text, how) = expr::rename(&r.expr, &recorded, PREFIX).map_err(|e| {
                BadInput(format!(
                    "{}:{}:{}: {}: {e}",
                    opts.ours.display(),
                    r.position.line,
                    r.position.column,
                    r.name()
                ))
            })?;
            *methods
                .entry(match how {
                    expr::Method::Unchanged => "unchanged",
                    expr::Method::Printer => "printer",
                    expr::Method::Textual => "textual",
                })
                .or_default() += 1;
            r.expr = text;
            r.kind = match &r.kind {
                Kind::Record(n) => Kind::Record(format!("{PREFIX}{n}")),
                Kind::Alert(n) => Kind::Alert(format!("{PREFIX}{n}")),
            };
        }
    }

    // Inputs.
    let sides = [&theirs, &ours];
    let mut selectors = Vec::new();
    let mut thresholds = Vec::new();
    for s in sides {
        for g in &s.reads {
            for r in g {
                selectors.extend(
                    r.selectors
                        .iter()
                        .filter(|x| !recorded.contains(&x.name))
                        .cloned(),
                );
                thresholds.extend(r.thresholds.iter().cloned());
            }
        }
    }
    let budgets = Budgets::new(&sides);
    let families =
        synth::plan(&selectors, &thresholds, &|f| budgets.for_family(f)).map_err(|e| {
            BadInput(format!(
                "{} / {}: {e}",
                opts.ours.display(),
                opts.theirs.display()
            ))
        })?;

    let (dir, temporary) = work_dir(opts)?;
    let result = (|| {
        let theirs_json = "theirs.rules.json";
        let ours_json = "ours.rules.json";
        write(
            &dir,
            theirs_json,
            &serde_json::to_string_pretty(&rules::to_json(&theirs.file)).unwrap(),
        )?;
        write(
            &dir,
            ours_json,
            &serde_json::to_string_pretty(&rules::to_json(&renamed)).unwrap(),
        )?;
        check_rules_file(&opts.promtool, &dir, theirs_json, &opts.theirs)?;
        check_rules_file(&opts.promtool, &dir, ours_json, &opts.ours)?;

        let describe = |s: &Side| {
            format!(
                "{:<6} {}: {} group(s), {} recording rule(s), {} alert rule(s)",
                s.label,
                s.file.path.display(),
                s.file.groups.len(),
                s.file
                    .groups
                    .iter()
                    .flat_map(|g| &g.rules)
                    .filter(|r| !r.is_alert())
                    .count(),
                s.file
                    .groups
                    .iter()
                    .flat_map(|g| &g.rules)
                    .filter(|r| r.is_alert())
                    .count()
            )
        };
        let _ = writeln!(out, "{}", describe(&ours));
        let _ = writeln!(out, "{}", describe(&theirs));
        let _ = writeln!(
            out,
            "OURS renamed with prefix {PREFIX}: {} expression(s) through promql-parser's printer, {} textually, {} unchanged",
            methods.get("printer").unwrap_or(&0),
            methods.get("textual").unwrap_or(&0),
            methods.get("unchanged").unwrap_or(&0)
        );
        if !opts.ignore_labels.is_empty() {
            let _ = writeln!(
                out,
                "ignored: static label(s) {} dropped from both files' rules",
                opts.ignore_labels.join(", ")
            );
        }
        if families.is_empty() {
            let _ = writeln!(out, "inputs: none (the rules read no series)");
        }
        let mut unmatched = BTreeSet::new();
        for sel in &selectors {
            if synth::matched_series(&families, sel).unwrap_or(1) == 0 {
                let ms: Vec<String> = sel.matchers.iter().map(|m| m.to_string()).collect();
                unmatched.insert(format!("{}{{{}}}", sel.name, ms.join(", ")));
            }
        }
        for f in &families {
            let _ = writeln!(out, "input  {} [budget {}]", f.describe(), f.budget);
        }

        for u in &unmatched {
            let _ = writeln!(
                out,
                "note: {u} matches none of the series made for it (contradictory matchers?)"
            );
        }
        let (diffs, notes) = static_comparison(&ours, &theirs);
        if diffs.is_empty() {
            let _ = writeln!(
                out,
                "static: same record and alert names, group intervals and limits, `for`{}",
                if notes.is_empty() {
                    ", annotations, group names and rule order"
                } else {
                    ""
                }
            );
        }
        for d in &diffs {
            let _ = writeln!(out, "static difference: {d}");
        }
        for n in &notes {
            let _ = writeln!(
                out,
                "note: {n}{}",
                if opts.strict {
                    " (counted: --strict)"
                } else {
                    ""
                }
            );
        }

        let record_names: Vec<String> = recorded.iter().cloned().collect();
        let alert_names: BTreeSet<String> = alerts(&ours.file)
            .union(&alerts(&theirs.file))
            .cloned()
            .collect();

        let mut varying: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in [&ours.file, &theirs.file] {
            let mut by_name: BTreeMap<&str, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
            for r in s
                .groups
                .iter()
                .flat_map(|g| &g.rules)
                .filter(|r| r.is_alert())
            {
                by_name.entry(r.name()).or_default().push(&r.labels);
            }
            for (n, ls) in by_name {
                let keys: BTreeSet<&String> = ls.iter().flat_map(|l| l.keys()).collect();
                for k in keys {
                    let vals: BTreeSet<Option<&String>> = ls.iter().map(|l| l.get(k)).collect();
                    if vals.len() > 1 {
                        varying.entry(n.to_string()).or_default().insert(k.clone());
                    }
                }
            }
        }

        let mut order = group_order(&theirs, &|n| n.to_string());
        ours.file = renamed.clone();
        let ours_renamed_side = &ours;
        order.extend(group_order(ours_renamed_side, &|n| n.to_string()));

        let step = opts.eval_interval_min;
        let steps: Vec<u64> = (0..=opts.duration_min).step_by(step as usize).collect();
        let _ = writeln!(
            out,
            "evaluation every {}m over {}, inputs every 1m; {} record name(s) and {} alert name(s) compared at all {} steps of each scenario",
            step,
            fmt_min(opts.duration_min),
            record_names.len(),
            alert_names.len(),
            steps.len()
        );
        let checker_json = "eqcheck.rules.json";
        write(
            &dir,
            checker_json,
            &serde_json::to_string_pretty(&promtool::checker_rules(&record_names, PREFIX, step))
                .unwrap(),
        )?;
        check_rules_file(&opts.promtool, &dir, checker_json, Path::new(checker_json))?;
        order.push(promtool::GROUP.to_string());
        let rule_files = vec![
            theirs_json.to_string(),
            ours_json.to_string(),
            checker_json.to_string(),
        ];
        let mut verdicts = Vec::new();
        let mut all_equal = diffs.is_empty() && (notes.is_empty() || !opts.strict);
        let mut runs = Vec::new();
        for sc in &opts.scenarios {
            let series = synth::series(&families, *sc, opts.duration_min, 1);
            let mk = |probes| promtool::TestFile {
                rule_files: &rule_files,
                group_order: &order,
                eval_interval_min: step,
                input_interval_min: 1,
                series: &series,
                steps: &steps,
                probes,
            };
            let comment = format!(
                "rules_equivalence: OURS {} vs THEIRS {}, scenario {} ({}).\n\
                 Every test must return no samples: a sample is a series of one file that the other lacks or has with another value.",
                opts.ours.display(),
                opts.theirs.display(),
                sc.name(),
                sc.describe(opts.duration_min)
            );
            let run_name = format!("{}.run.yml", sc.name());
            if !temporary {
                write(
                    &dir,
                    &format!("{}.test.yml", sc.name()),
                    &mk(false).render(&comment),
                )?;
            }
            write(
                &dir,
                &run_name,
                &mk(true).render(&format!(
                    "{comment}\nWith alert edge probes: their rows (label {}) list when alerts start and stop firing.",
                    promtool::EDGE_LABEL
                )),
            )?;
            runs.push((*sc, run_name));
        }
        // promtool, `--jobs` at a time.
        let mut outcomes: Vec<(Result<promtool::Outcome, String>, f64)> = Vec::new();
        for chunk in runs.chunks(opts.jobs.max(1)) {
            let done: Vec<(Result<promtool::Outcome, String>, f64)> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(_, run_name)| {
                        let dir = &dir;
                        scope.spawn(move || {
                            let started = std::time::Instant::now();
                            let r = promtool::run(&opts.promtool, dir, run_name);
                            (r, started.elapsed().as_secs_f64())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| (Err("promtool runner panicked".into()), 0.0))
                    })
                    .collect()
            });
            outcomes.extend(done);
        }
        for ((sc, _), (outcome, secs)) in runs.iter().zip(outcomes) {
            let outcome = outcome.map_err(BadInput)?;
            if let Some(e) = outcome.errors.first() {
                let file = which_file(e, &opts.ours, &opts.theirs);
                let e = e.replace(PREFIX, "");
                return Err(BadInput(format!(
                    "{}: promtool could not evaluate it (scenario {}): {e}",
                    file.display(),
                    sc.name()
                )));
            }
            let r = analyse(&outcome, step, &alert_names, &varying);
            let equal = r.differing_steps.is_empty();
            all_equal &= equal;
            let _ = writeln!(
                out,
                "scenario {} ({}): {} [{secs:.1}s]",
                sc.name(),
                sc.describe(opts.duration_min),
                if equal {
                    format!("EQUAL at all {} steps", steps.len())
                } else {
                    format!(
                        "DIFFERENT at {} of {} steps",
                        r.differing_steps.len(),
                        steps.len()
                    )
                },
            );
            for l in &r.lines {
                let _ = writeln!(out, "{l}");
            }
            verdicts.push(format!(
                "{}={}",
                sc.name(),
                if equal { "equal" } else { "different" }
            ));
        }
        let _ = writeln!(
            out,
            "verdict: {} {}{}",
            if all_equal { "EQUIVALENT" } else { "DIFFERENT" },
            verdicts.join(" "),
            if diffs.is_empty() {
                String::new()
            } else {
                format!(" static=different({})", diffs.len())
            }
        );
        if !temporary {
            let _ = writeln!(
                out,
                "kept in {}: *.test.yml assert equality (promtool test rules passes iff equal), *.run.yml add the alert edge probes",
                dir.display()
            );
        }
        Ok(all_equal)
    })();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

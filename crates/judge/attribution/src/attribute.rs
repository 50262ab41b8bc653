//! Applying a [`RuleSet`] to one capture: each dimension's top paths, and findings that
//! name a cause with their evidence.

use crate::fold::{fold_names, frame_matches, is_runtime_frame, FoldOptions, RuntimeFrames};
use crate::rules::{Rule, RuleKind, RuleSet, Threshold};
use ballast_core::profile::{GoroutineDump, Profile, ValueType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    /// CPU time (the cpu profile).
    Cpu,
    /// Allocation and the heap (heap and allocs profiles; GC cost shows in cpu).
    Heap,
    /// Goroutines (the goroutine profile and the debug=2 dump).
    Goroutines,
    /// Waiting: the block and mutex profiles.
    Block,
}

impl Dimension {
    /// Its name in rule files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Cpu => "cpu",
            Dimension::Heap => "heap",
            Dimension::Goroutines => "goroutines",
            Dimension::Block => "block",
        }
    }

    /// The dimension of a rule file's name.
    pub fn parse(text: &str) -> Option<Dimension> {
        [
            Dimension::Cpu,
            Dimension::Heap,
            Dimension::Goroutines,
            Dimension::Block,
        ]
        .into_iter()
        .find(|d| d.as_str() == text)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely a problem.
    Warning,
    /// A cause of instability.
    Critical,
}

/// The profiles of one capture that attribution reads; any may be missing.
///
/// Go's heap, allocs, block and mutex profiles count from the start of the process, so
/// with both a start and an end profile the window's own values are their difference and
/// the window's length is the difference of their timestamps; with only one, shares are
/// still known but rates are not (and a threshold on a rate does not hold).
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureView<'a> {
    /// The CPU profile of the window.
    pub cpu: Option<&'a Profile>,
    /// The heap profile at the start.
    pub heap_start: Option<&'a Profile>,
    /// The heap profile at the end.
    pub heap_end: Option<&'a Profile>,
    /// The allocs profile (used when the heap pair is not there).
    pub allocs: Option<&'a Profile>,
    /// The goroutine profile at the start.
    pub goroutine_start: Option<&'a Profile>,
    /// The goroutine profile at the end.
    pub goroutine_end: Option<&'a Profile>,
    /// The goroutine dump (debug=2) at the end: states and creators.
    pub goroutine_dump: Option<&'a GoroutineDump>,
    /// The block profile at the end.
    pub block: Option<&'a Profile>,
    /// The mutex profile at the end.
    pub mutex: Option<&'a Profile>,
    /// The block profile at the start (for the window's own delay and its rate).
    pub block_start: Option<&'a Profile>,
    /// The mutex profile at the start.
    pub mutex_start: Option<&'a Profile>,
}

/// One path of a dimension and its share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathShare {
    /// The stack, root first, runtime frames folded.
    pub stack: Vec<String>,
    /// Its value.
    pub value: i64,
    /// Its share of the dimension's total.
    pub share: f64,
}

/// One profile's view of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionReport {
    /// The dimension.
    pub dimension: Dimension,
    /// The profile it was read from (`cpu`, `heap`, `allocs`, `block`, `mutex`,
    /// `goroutine`, `goroutine dump`).
    pub source: String,
    /// What the values measure.
    pub sample_type: ValueType,
    /// The total (of the window when a start profile was subtracted).
    pub total: i64,
    /// The window's length in seconds, when known.
    pub window_seconds: Option<f64>,
    /// The five biggest paths.
    pub top_paths: Vec<PathShare>,
}

/// What a finding rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The share (0..=1) of the dimension's total.
    pub share: f64,
    /// The path, root first, runtime frames folded.
    pub stack: Vec<String>,
    /// The value behind the share.
    pub value: i64,
    /// The dimension's total.
    pub total: i64,
    /// The unit of `value` and `total` (the sample type's: `nanoseconds`, `bytes`,
    /// `count`, `goroutines`).
    pub unit: String,
    /// How many samples (goroutines, for goroutines) make up the value.
    pub samples: i64,
    /// Per second of the window, when known: cores, bytes/s, goroutines blocked.
    pub rate: Option<f64>,
    /// In words: the source, the window, the goroutines' states and creators.
    pub detail: String,
}

/// One conclusion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Its dimension.
    pub dimension: Dimension,
    /// The rule that made it.
    pub rule: String,
    /// How much it matters.
    pub severity: Severity,
    /// What it says.
    pub title: String,
    /// The function it names: the innermost frame of the path outside the runtime and the
    /// standard library (else the innermost frame).
    pub culprit: String,
    /// The rule's explanation.
    pub why: String,
    /// What it rests on.
    pub evidence: Evidence,
}

/// What a capture says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribution {
    /// Each dimension's top paths, per profile read.
    pub dimensions: Vec<DimensionReport>,
    /// Findings, the most severe first, then the largest share.
    pub findings: Vec<Finding>,
}

impl Attribution {
    /// The first (most severe, then largest) finding of a dimension.
    pub fn top_finding(&self, dimension: Dimension) -> Option<&Finding> {
        self.findings.iter().find(|f| f.dimension == dimension)
    }
}

/// Stacks root first (as profiles have them, runtime frames kept), value, sample count.
type Stacks = Vec<(Vec<String>, i64, i64)>;

struct Source {
    dimension: Dimension,
    name: String,
    sample_type: ValueType,
    raw: Stacks,
    /// The goroutine profile at the start, folded (pile rules only).
    start: Option<BTreeMap<Vec<String>, i64>>,
    total: i64,
    window: Option<f64>,
}

fn stacks(profile: &Profile, index: usize, ignore: &[String]) -> Stacks {
    let mut merged: BTreeMap<Vec<String>, (i64, i64)> = BTreeMap::new();
    for sample in &profile.samples {
        let value = sample.values.get(index).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        let mut names: Vec<String> = profile
            .frames(sample)
            .map(|f| profile.functions[f].name.clone())
            .collect();
        if names.is_empty()
            || names
                .iter()
                .any(|n| ignore.iter().any(|p| frame_matches(n, p)))
        {
            continue;
        }
        names.reverse();
        let slot = merged.entry(names).or_default();
        slot.0 = slot.0.saturating_add(value);
        slot.1 += 1;
    }
    merged.into_iter().map(|(k, (v, n))| (k, v, n)).collect()
}

/// `end - start` per stack, for profiles that count from the process's start.
fn delta(end: Stacks, start: &Stacks) -> Stacks {
    let before: BTreeMap<&Vec<String>, (i64, i64)> =
        start.iter().map(|(k, v, n)| (k, (*v, *n))).collect();
    end.into_iter()
        .filter_map(|(k, v, n)| {
            let (bv, bn) = before.get(&k).copied().unwrap_or((0, 0));
            let v = v.saturating_sub(bv);
            (v > 0).then_some((k, v, (n - bn).max(1)))
        })
        .collect()
}

fn window(start: &Profile, end: &Profile) -> Option<f64> {
    let d = end.time_nanos.checked_sub(start.time_nanos)?;
    (start.time_nanos > 0 && d > 0).then(|| d as f64 / 1e9)
}

fn index_of(p: &Profile, kinds: &[&str]) -> usize {
    kinds
        .iter()
        .find_map(|k| p.sample_index(k))
        .unwrap_or_else(|| p.default_sample_index())
}

fn sample_type(p: &Profile, i: usize) -> ValueType {
    p.sample_types.get(i).cloned().unwrap_or_default()
}

/// A cumulative profile's source: the window's delta when a start profile of the same
/// type is there, else the profile as it is.
fn cumulative(
    dimension: Dimension,
    name: &str,
    end: &Profile,
    start: Option<&Profile>,
    kinds: &[&str],
    ignore: &[String],
) -> Source {
    let i = index_of(end, kinds);
    let mut raw = stacks(end, i, ignore);
    let mut window_s = None;
    let mut name = name.to_string();
    if let Some(start) = start {
        let j = index_of(start, kinds);
        if sample_type(start, j) == sample_type(end, i) {
            raw = delta(raw, &stacks(start, j, ignore));
            window_s = window(start, end);
            name.push_str(" (end - start)");
        }
    }
    source(dimension, name, sample_type(end, i), raw, window_s)
}

fn source(
    dimension: Dimension,
    name: String,
    st: ValueType,
    raw: Stacks,
    window: Option<f64>,
) -> Source {
    let total = raw.iter().fold(0i64, |s, r| s.saturating_add(r.1));
    Source {
        dimension,
        name,
        sample_type: st,
        raw,
        start: None,
        total,
        window,
    }
}

fn folded(raw: &Stacks) -> BTreeMap<Vec<String>, (i64, i64)> {
    let fold = FoldOptions {
        runtime_frames: RuntimeFrames::Fold,
    };
    let mut out: BTreeMap<Vec<String>, (i64, i64)> = BTreeMap::new();
    for (stack, v, n) in raw {
        let names = fold_names(stack.iter().map(String::as_str).collect(), &fold);
        let slot = out
            .entry(names.into_iter().map(str::to_string).collect())
            .or_default();
        slot.0 = slot.0.saturating_add(*v);
        slot.1 += n;
    }
    out
}

fn ranked(map: BTreeMap<Vec<String>, (i64, i64)>) -> Vec<(Vec<String>, i64, i64)> {
    let mut v: Vec<_> = map.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn sources(view: &CaptureView<'_>, ignore: &[String]) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(cpu) = view.cpu {
        let i = index_of(cpu, &["cpu"]);
        let w = (cpu.duration_nanos > 0).then(|| cpu.duration_nanos as f64 / 1e9);
        out.push(source(
            Dimension::Cpu,
            "cpu".into(),
            sample_type(cpu, i),
            stacks(cpu, i, ignore),
            w,
        ));
    }
    // Allocation in the window: heap end - start (both carry alloc_space), else allocs.
    let alloc = ["alloc_space"];
    match (view.heap_start, view.heap_end, view.allocs) {
        (Some(start), Some(end), _) => out.push(cumulative(
            Dimension::Heap,
            "heap",
            end,
            Some(start),
            &alloc,
            ignore,
        )),
        (_, _, Some(allocs)) => out.push(cumulative(
            Dimension::Heap,
            "allocs",
            allocs,
            None,
            &alloc,
            ignore,
        )),
        (_, Some(end), None) => out.push(cumulative(
            Dimension::Heap,
            "heap",
            end,
            None,
            &alloc,
            ignore,
        )),
        _ => {}
    }
    let goroutines = match (view.goroutine_end, view.goroutine_dump) {
        (Some(end), _) => {
            let i = end.default_sample_index();
            Some(source(
                Dimension::Goroutines,
                "goroutine".into(),
                sample_type(end, i),
                stacks(end, i, ignore),
                None,
            ))
        }
        (None, Some(dump)) => {
            let mut merged: BTreeMap<Vec<String>, i64> = BTreeMap::new();
            for g in &dump.goroutines {
                let names: Vec<String> =
                    g.frames.iter().rev().map(|f| f.function.clone()).collect();
                if names.is_empty()
                    || names
                        .iter()
                        .any(|n| ignore.iter().any(|p| frame_matches(n, p)))
                {
                    continue;
                }
                *merged.entry(names).or_default() += 1;
            }
            let raw = merged.into_iter().map(|(k, v)| (k, v, v)).collect();
            Some(source(
                Dimension::Goroutines,
                "goroutine dump".into(),
                ValueType::new("goroutine", "count"),
                raw,
                None,
            ))
        }
        _ => None,
    };
    if let Some(mut g) = goroutines {
        if let Some(start) = view.goroutine_start {
            let i = start.default_sample_index();
            g.start = Some(
                folded(&stacks(start, i, ignore))
                    .into_iter()
                    .map(|(k, (v, _))| (k, v))
                    .collect(),
            );
            g.window = window(start, view.goroutine_end.unwrap_or(start));
        }
        out.push(g);
    }
    let delay = ["delay"];
    if let Some(block) = view.block {
        out.push(cumulative(
            Dimension::Block,
            "block",
            block,
            view.block_start,
            &delay,
            ignore,
        ));
    }
    if let Some(mutex) = view.mutex {
        out.push(cumulative(
            Dimension::Block,
            "mutex",
            mutex,
            view.mutex_start,
            &delay,
            ignore,
        ));
    }
    out
}

/// Whether a function belongs to a standard library (Go's: a package path whose first
/// element has no dot, other than `main`; Rust's std, core, alloc), so a finding names the
/// caller that used it instead.
fn is_library(name: &str) -> bool {
    let name = name.trim_start_matches('<');
    if let Some((krate, _)) = name.split_once("::") {
        return matches!(krate, "std" | "core" | "alloc");
    }
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let Some(dot) = name[slash..].find('.') else {
        return false;
    };
    let package = &name[..slash + dot];
    package != "main" && !package.split('/').next().unwrap_or("").contains('.')
}

fn culprit(stack: &[String]) -> String {
    stack
        .iter()
        .rev()
        .find(|n| !is_runtime_frame(n) && !is_library(n))
        .or_else(|| stack.iter().rev().find(|n| !is_runtime_frame(n)))
        .or(stack.last())
        .cloned()
        .unwrap_or_default()
}

#[derive(Default, Clone, Copy)]
struct Metrics {
    share: f64,
    rate: Option<f64>,
    count: Option<i64>,
    growth: Option<i64>,
}

fn holds(t: &Threshold, m: &Metrics) -> bool {
    t.share.is_none_or(|x| m.share >= x)
        && t.rate.is_none_or(|x| m.rate.is_some_and(|r| r >= x))
        && t.count.is_none_or(|x| m.count.is_some_and(|c| c >= x))
        && t.growth.is_none_or(|x| m.growth.is_some_and(|g| g >= x))
}

fn severity(rule: &Rule, m: &Metrics) -> Option<Severity> {
    if rule.critical.as_ref().is_some_and(|t| holds(t, m)) {
        return Some(Severity::Critical);
    }
    if rule.warning.as_ref().is_some_and(|t| holds(t, m)) {
        return Some(Severity::Warning);
    }
    let reported_anyway = matches!(rule.kind, RuleKind::HotPath)
        || (rule.warning.is_none() && rule.critical.is_none() && m.share > 0.0);
    reported_anyway.then_some(Severity::Info)
}

fn rate_of(src: &Source, value: i64) -> Option<f64> {
    let w = src.window.filter(|w| *w > 0.0)?;
    let v = value as f64;
    Some(if src.sample_type.unit == "nanoseconds" {
        v / 1e9 / w
    } else {
        v / w
    })
}

fn format_rate(src: &Source, rate: Option<f64>) -> String {
    match rate {
        None => "rate unknown".into(),
        Some(r) if src.sample_type.unit == "bytes" => human_bytes(r),
        Some(r) => format!("{r:.2}"),
    }
}

/// A value with its unit: pprof's form for time and bytes, else the number and the unit.
fn shown(v: i64, unit: &str) -> String {
    match unit {
        "nanoseconds" | "bytes" | "count" => crate::format_value(v, unit),
        _ => format!("{v} {unit}"),
    }
}

pub(crate) fn human_bytes(v: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = v;
    let mut u = 0;
    while v.abs() >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

struct Candidate {
    stack: Vec<String>,
    culprit: String,
    value: i64,
    samples: i64,
    metrics: Metrics,
    detail: Vec<String>,
}

fn candidate(rule: &Rule, src: &Source, view: &CaptureView<'_>) -> Option<Candidate> {
    let share = |v: i64| {
        if src.total > 0 {
            v as f64 / src.total as f64
        } else {
            0.0
        }
    };
    let is_goroutines = src.dimension == Dimension::Goroutines;
    let make = |stack: Vec<String>, culprit_name: String, value: i64, samples: i64| Candidate {
        culprit: culprit_name,
        metrics: Metrics {
            share: share(value),
            rate: rate_of(src, value),
            count: is_goroutines.then_some(value),
            growth: None,
        },
        stack,
        value,
        samples,
        detail: Vec::new(),
    };
    match &rule.kind {
        RuleKind::HotPath => {
            // The top path that is not all runtime: the scheduler's own stacks say nothing
            // about the program (the frames rules judge them).
            let (stack, v, n) = ranked(folded(&src.raw))
                .into_iter()
                .find(|(s, v, _)| *v > 0 && s.iter().any(|n| !is_runtime_frame(n)))?;
            let c = culprit(&stack);
            Some(make(stack, c, v, n))
        }
        RuleKind::Frames { frames } => {
            let matched: Stacks = src
                .raw
                .iter()
                .filter(|(s, _, _)| s.iter().any(|n| frames.iter().any(|p| frame_matches(n, p))))
                .cloned()
                .collect();
            let value = matched.iter().fold(0i64, |s, r| s.saturating_add(r.1));
            if value <= 0 {
                return None;
            }
            let samples = matched.iter().fold(0i64, |s, r| s.saturating_add(r.2));
            // Name the matching frame that carries most of the value.
            let mut by_frame: BTreeMap<&str, i64> = BTreeMap::new();
            for (s, v, _) in &matched {
                if let Some(f) = s
                    .iter()
                    .find(|n| frames.iter().any(|p| frame_matches(n, p)))
                {
                    let slot = by_frame.entry(f).or_default();
                    *slot = slot.saturating_add(*v);
                }
            }
            let top_frame = by_frame
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(f, _)| f.to_string())
                .unwrap_or_default();
            let (stack, _, _) = ranked(folded(&matched)).into_iter().next()?;
            Some(make(stack, top_frame, value, samples))
        }
        RuleKind::Depth { under, depth } => {
            let matched: Stacks = src
                .raw
                .iter()
                .filter(|(s, _, _)| {
                    s.iter()
                        .position(|n| frame_matches(n, under))
                        .is_some_and(|i| s.len() - i - 1 > *depth)
                })
                .cloned()
                .collect();
            let value = matched.iter().fold(0i64, |s, r| s.saturating_add(r.1));
            if value <= 0 {
                return None;
            }
            let samples = matched.iter().fold(0i64, |s, r| s.saturating_add(r.2));
            let (stack, _, _) = ranked(folded(&matched)).into_iter().next()?;
            let c = culprit(&stack);
            Some(make(stack, c, value, samples))
        }
        RuleKind::States { .. } => None,
        RuleKind::Pile => {
            if !is_goroutines {
                return None;
            }
            let end = ranked(folded(&src.raw));
            let start = src.start.as_ref();
            let growth_of = |s: &Vec<String>, v: i64| {
                start.map(|m| v.saturating_sub(m.get(s).copied().unwrap_or(0)))
            };
            // The pile that is biggest and grew most together (goroutines at the end plus
            // those added): a leak outranks a stable pile of its size, and a big stable
            // pile outranks a stack that gained one goroutine.
            let weight =
                |s: &Vec<String>, v: i64| v.saturating_add(growth_of(s, v).unwrap_or(0).max(0));
            let best = end
                .iter()
                .filter(|(s, _, _)| s.iter().any(|n| !is_runtime_frame(n)))
                .max_by(|a, b| {
                    weight(&a.0, a.1)
                        .cmp(&weight(&b.0, b.1))
                        .then_with(|| a.1.cmp(&b.1))
                        .then_with(|| b.0.cmp(&a.0))
                })?;
            let (stack, v, n) = best.clone();
            let c = culprit(&stack);
            let mut cand = make(stack, c, v, n);
            cand.metrics.growth = growth_of(&cand.stack, v);
            if let Some(dump) = view.goroutine_dump {
                cand.detail.extend(dump_detail(dump, &cand.stack));
            }
            Some(cand)
        }
    }
}

/// The states and creators of the dump's goroutines on one folded stack.
fn dump_detail(dump: &GoroutineDump, stack: &[String]) -> Option<String> {
    let fold = FoldOptions {
        runtime_frames: RuntimeFrames::Fold,
    };
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    let mut creators: BTreeMap<&str, usize> = BTreeMap::new();
    let mut longest = None;
    for g in &dump.goroutines {
        let names: Vec<&str> = g.frames.iter().rev().map(|f| f.function.as_str()).collect();
        if fold_names(names, &fold) != stack {
            continue;
        }
        *states.entry(g.state.as_str()).or_default() += 1;
        if let Some(c) = &g.created_by {
            *creators.entry(c.function.as_str()).or_default() += 1;
        }
        longest = longest.max(g.waiting);
    }
    if states.is_empty() {
        return None;
    }
    let list = |m: &BTreeMap<&str, usize>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        v.iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!("in the dump: {}", list(&states));
    if !creators.is_empty() {
        text.push_str(&format!("; created by {}", list(&creators)));
    }
    if let Some(w) = longest {
        text.push_str(&format!(
            "; the longest has waited {} min",
            w.as_secs() / 60
        ));
    }
    Some(text)
}

/// A states rule over the end dump: the goroutines in those states, grouped by stack.
fn states_finding(
    rule: &Rule,
    states: &[String],
    dump: &GoroutineDump,
    ignore: &[String],
) -> Option<Finding> {
    let fold = FoldOptions {
        runtime_frames: RuntimeFrames::Fold,
    };
    let mut total = 0i64;
    let mut by_stack: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for g in &dump.goroutines {
        let names: Vec<&str> = g.frames.iter().rev().map(|f| f.function.as_str()).collect();
        if names
            .iter()
            .any(|n| ignore.iter().any(|p| frame_matches(n, p)))
        {
            continue;
        }
        total += 1;
        if states.iter().any(|s| g.state.starts_with(s.as_str())) {
            let stack = fold_names(names, &fold)
                .into_iter()
                .map(str::to_string)
                .collect();
            *by_stack.entry(stack).or_default() += 1;
        }
    }
    let value: i64 = by_stack.values().sum();
    if value == 0 {
        return None;
    }
    let (stack, most) = by_stack
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
    let c = Candidate {
        culprit: culprit(&stack),
        metrics: Metrics {
            share: value as f64 / total as f64,
            rate: None,
            count: Some(value),
            growth: None,
        },
        stack,
        value,
        samples: value,
        detail: Vec::new(),
    };
    let severity = severity(rule, &c.metrics)?;
    let src = source(
        rule.dimension,
        "goroutine dump".into(),
        ValueType::new("goroutine", "count"),
        Vec::new(),
        None,
    );
    Some(Finding {
        dimension: rule.dimension,
        rule: rule.name.clone(),
        severity,
        title: fill(&rule.title, &c, &src),
        culprit: c.culprit.clone(),
        why: rule.why.clone(),
        evidence: Evidence {
            share: c.metrics.share,
            detail: format!(
                "goroutine dump, {value} of {total} goroutines in {}; {most} on this stack",
                states.join(" or ")
            ),
            stack: c.stack,
            value,
            total,
            unit: "goroutines".into(),
            samples: value,
            rate: None,
        },
    })
}

fn fill(template: &str, c: &Candidate, src: &Source) -> String {
    template
        .replace("{culprit}", &c.culprit)
        .replace("{share}", &format!("{:.1}%", c.metrics.share * 100.0))
        .replace("{rate}", &format_rate(src, c.metrics.rate))
        .replace("{count}", &c.value.to_string())
        .replace(
            "{growth}",
            &c.metrics
                .growth
                .map_or_else(|| "unknown".into(), |g| format!("{g:+}")),
        )
}

/// Applies `rules` to the profiles of `view`: the top paths of each dimension per profile,
/// and findings sorted by severity, then share.
pub fn attribute(view: &CaptureView<'_>, rules: &RuleSet) -> Attribution {
    let sources = sources(view, &rules.ignore);
    let mut dimensions = Vec::new();
    let mut findings = Vec::new();
    for src in &sources {
        let top_paths = ranked(folded(&src.raw))
            .into_iter()
            .take(5)
            .map(|(stack, value, _)| PathShare {
                share: if src.total > 0 {
                    value as f64 / src.total as f64
                } else {
                    0.0
                },
                stack,
                value,
            })
            .collect();
        dimensions.push(DimensionReport {
            dimension: src.dimension,
            source: src.name.clone(),
            sample_type: src.sample_type.clone(),
            total: src.total,
            window_seconds: src.window,
            top_paths,
        });
        for rule in rules.rules.iter().filter(|r| r.dimension == src.dimension) {
            let Some(mut c) = candidate(rule, src, view) else {
                continue;
            };
            let Some(severity) = severity(rule, &c.metrics) else {
                continue;
            };
            let unit = src.sample_type.unit.as_str();
            let mut detail = vec![format!(
                "{} profile, {} of {} total",
                src.name,
                shown(c.value, unit),
                shown(src.total, unit)
            )];
            if let Some(w) = src.window {
                detail.push(format!("window {w:.1} s"));
            }
            detail.append(&mut c.detail);
            findings.push(Finding {
                dimension: src.dimension,
                rule: rule.name.clone(),
                severity,
                title: fill(&rule.title, &c, src),
                culprit: c.culprit.clone(),
                why: rule.why.clone(),
                evidence: Evidence {
                    share: c.metrics.share,
                    stack: c.stack,
                    value: c.value,
                    total: src.total,
                    unit: src.sample_type.unit.clone(),
                    samples: c.samples,
                    rate: c.metrics.rate,
                    detail: detail.join("; "),
                },
            });
        }
    }
    if let Some(dump) = view.goroutine_dump {
        for rule in &rules.rules {
            if let RuleKind::States { states } = &rule.kind {
                findings.extend(states_finding(rule, states, dump, &rules.ignore));
            }
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.evidence.share.total_cmp(&a.evidence.share))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    Attribution {
        dimensions,
        findings,
    }
}

#[cfg(test)]
mod tests;

//! Synthetic input series: for every metric the rules read (and neither file records), series
//! whose labels satisfy the selectors' matchers, shaped over time by a scenario.
//!
//! The heuristic, per *family* (a metric, or a histogram's `_bucket`/`_count`/`_sum`):
//! * a label that every selector of the family constrains the same way gets one value that
//!   satisfies all those matchers;
//! * a label constrained differently by different selectors (`code=~"5.."` on one, nothing on
//!   another) gets the values its patterns name (one per regex alternative, the literal of
//!   `=`/`!=`) — these are *error-like* — plus one *neutral* value matching none of them;
//! * a series is error-like when any of its labels has an error-like value. Error events
//!   go to error-like series, the rest to neutral ones, so an error selector reads a subset of
//!   what the total selector reads and their ratio is the scenario's error share;
//! * a family with no such label is a counter of all events, or of the errors or the good
//!   events alone when its name says so (`error`, `fail`, `bad`, `5xx` / `success`, `good`);
//! * a histogram gets buckets at every `le` the selectors name, one below and one above, and
//!   `+Inf`; error events are slower than the largest threshold, and as many again fall
//!   between consecutive thresholds; `_count` and `_sum` agree with the buckets;
//! * a gauge (a metric never under `rate`/`increase`) gets two series per label set, valued
//!   "good" or "bad" relative to the numbers it is compared with (`x < 0.75`: bad 0.625 or
//!   below, good above the largest threshold), the share of bad samples being the error share.

use std::collections::{BTreeMap, BTreeSet};

use super::expr::{Matcher, Op, Selector, Threshold, Usage};
use super::regexgen;

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy,
    Blip,
    Outage,
    SlowBurn,
    Ramp,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Healthy,
        Scenario::Blip,
        Scenario::Outage,
        Scenario::SlowBurn,
        Scenario::Ramp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::Blip => "blip",
            Scenario::Outage => "outage",
            Scenario::SlowBurn => "slow-burn",
            Scenario::Ramp => "ramp",
        }
    }

    pub fn parse(s: &str) -> Option<Vec<Scenario>> {
        if s == "all" {
            return Some(Self::ALL.to_vec());
        }
        Self::ALL.iter().find(|c| c.name() == s).map(|c| vec![*c])
    }

    /// In words, for `duration` minutes.
    pub fn describe(self, duration: u64) -> String {
        let (a, b) = self.event(duration);
        match self {
            Scenario::Healthy => "0.01 % errors (±50 %, 7 h period), traffic ±30 % daily".into(),
            Scenario::Blip => format!("healthy, 20 % errors from {} to {}", fmt_min(a), fmt_min(b)),
            Scenario::Outage => format!(
                "healthy, 100 % errors from {} to {}",
                fmt_min(a),
                fmt_min(b)
            ),
            Scenario::SlowBurn => format!(
                "healthy, 2x the error budget from {} to {}",
                fmt_min(a),
                fmt_min(b)
            ),
            Scenario::Ramp => format!(
                "healthy, errors rising steadily to 20x the error budget at {} and back down by {}, \
                 then to 25x in 2h30m from {}",
                fmt_min(duration / 2),
                fmt_min(b),
                fmt_min(self.burst(duration))
            ),
        }
    }

    /// The minutes [start, end) of the scenario's event.
    pub fn event(self, duration: u64) -> (u64, u64) {
        let at = duration * 3 / 4;
        match self {
            Scenario::Healthy => (0, 0),
            Scenario::Blip => (at, at + 10),
            Scenario::Outage => (at, at + 60),
            Scenario::SlowBurn | Scenario::Ramp => (duration / 4, at),
        }
    }

    /// The share of events that are errors in minute `t`, for an SLO with `budget`.
    pub fn error_share(self, t: u64, duration: u64, budget: f64) -> f64 {
        let healthy = 1e-4 * (1.0 + 0.5 * (2.0 * std::f64::consts::PI * t as f64 / 420.0).sin());
        let (a, b) = self.event(duration);
        if t >= a && t < b {
            match self {
                Scenario::Healthy => healthy,
                Scenario::Blip => 0.2,
                Scenario::Outage => 1.0,
                Scenario::SlowBurn => (2.0 * budget).min(1.0),
                Scenario::Ramp => {
                    // a triangle: 0 at a, 20x the budget half way, 0 again at b
                    let x = (t - a) as f64 / (b - a) as f64;
                    let tri = 1.0 - (2.0 * x - 1.0).abs();
                    (healthy + 20.0 * budget * tri).min(1.0)
                }
            }
        } else if self == Scenario::Ramp
            && t >= self.burst(duration)
            && t < self.burst(duration) + 150
        {
            // a fast ramp: 25x the budget after 2h30m, then back to healthy at once
            let x = (t - self.burst(duration)) as f64 / 150.0;
            (healthy + 25.0 * budget * x).min(1.0)
        } else {
            healthy
        }
    }

    /// When the ramp scenario's fast ramp starts.
    fn burst(self, duration: u64) -> u64 {
        duration * 7 / 8
    }
}

/// Events per minute at minute `t`.
fn traffic(t: u64) -> f64 {
    100_000.0 * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * t as f64 / 1440.0).sin())
}

/// `3d04h05m` style.
pub fn fmt_min(m: u64) -> String {
    let (d, h, mi) = (m / 1440, (m % 1440) / 60, m % 60);
    match (d, h, mi) {
        (0, 0, mi) => format!("{mi}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, mi) => format!("{h}h{mi:02}m"),
        (d, 0, 0) => format!("{d}d"),
        (d, h, mi) => format!("{d}d{h:02}h{mi:02}m"),
    }
}

/// What a counter family without error-like labels counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    All,
    Errors,
    Good,
}

#[derive(Debug, Clone)]
pub enum Shape {
    Counter(Counts),
    /// Bounds as (value, spelling), ascending, `+Inf` last; thresholds named by selectors.
    Histogram {
        bounds: Vec<(f64, String)>,
        thresholds: Vec<f64>,
        bucket: bool,
        count: bool,
        sum: bool,
    },
    Gauge {
        good: f64,
        bad: f64,
        mids: Vec<f64>,
    },
}

/// One family of input series.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub shape: Shape,
    /// Labels every series has.
    pub fixed: BTreeMap<String, String>,
    /// Label sets (beyond `fixed`) and whether each is error-like.
    pub regions: Vec<(BTreeMap<String, String>, bool)>,
    pub replicas: usize,
    pub budget: f64,
}

impl Family {
    pub fn series_count(&self) -> usize {
        let per_region = match &self.shape {
            Shape::Histogram {
                bounds,
                bucket,
                count,
                sum,
                ..
            } => (if *bucket { bounds.len() } else { 0 }) + usize::from(*count) + usize::from(*sum),
            _ => 1,
        };
        self.regions.len() * self.replicas * per_region
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let kind = match &self.shape {
            Shape::Counter(Counts::All) => "counter".to_string(),
            Shape::Counter(Counts::Errors) => "counter of errors".to_string(),
            Shape::Counter(Counts::Good) => "counter of good events".to_string(),
            Shape::Histogram { bounds, .. } => format!(
                "histogram, le {}",
                bounds
                    .iter()
                    .map(|b| b.1.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Shape::Gauge { good, bad, .. } => format!("gauge, good {good}, bad {bad}"),
        };
        let regions: Vec<String> = self
            .regions
            .iter()
            .map(|(l, bad)| {
                format!(
                    "{}{}",
                    fmt_labels(l),
                    if *bad { " (error-like)" } else { "" }
                )
            })
            .collect();
        format!(
            "{}{} ({kind}, {} series): {}",
            self.name,
            fmt_labels(&self.fixed),
            self.series_count(),
            if regions.len() == 1 && regions[0] == "{}" {
                "one label set".to_string()
            } else {
                regions.join(", ")
            }
        )
    }
}

pub fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

pub fn fmt_labels(l: &BTreeMap<String, String>) -> String {
    if l.is_empty() {
        return "{}".into();
    }
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn satisfies(m: &Matcher, value: &str) -> Result<bool, String> {
    Ok(match m.op {
        Op::Eq => value == m.value,
        Op::Ne => value != m.value,
        Op::Re => regexgen::matches(&m.value, value)?,
        Op::Nre => !regexgen::matches(&m.value, value)?,
    })
}

/// Values a label's matchers name: literals, and values matching the regexes.
fn pattern_values(ms: &[&Matcher]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for m in ms {
        let vals = match m.op {
            Op::Eq | Op::Ne => vec![m.value.clone()],
            Op::Re | Op::Nre => regexgen::matching(&m.value, 3)?,
        };
        for v in vals {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

fn neutral_for(ms: &[&Matcher]) -> Result<String, String> {
    let patterns: Vec<String> = ms
        .iter()
        .filter(|m| matches!(m.op, Op::Re | Op::Nre))
        .map(|m| m.value.clone())
        .collect();
    let literals: Vec<String> = ms
        .iter()
        .filter(|m| matches!(m.op, Op::Eq | Op::Ne))
        .map(|m| m.value.clone())
        .collect();
    let code_like = ms
        .first()
        .is_some_and(|m| m.label.contains("code") || m.label.contains("status"));
    regexgen::neutral(&patterns, &literals, code_like)
}

fn family_base(name: &str, bucket_bases: &BTreeSet<String>) -> (String, Option<&'static str>) {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if bucket_bases.contains(base) {
                return (base.to_string(), Some(suffix));
            }
        }
    }
    (name.to_string(), None)
}

fn fmt_bound(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// Plans the families for `selectors` (inputs only) compared with `thresholds`;
/// `budget(family)` is the error budget of the SLOs reading it.
pub fn plan(
    selectors: &[Selector],
    thresholds: &[Threshold],
    budget: &dyn Fn(&str) -> f64,
) -> Result<Vec<Family>, String> {
    let bucket_bases: BTreeSet<String> = selectors
        .iter()
        .filter_map(|s| s.name.strip_suffix("_bucket").map(str::to_string))
        .collect();
    let mut groups: BTreeMap<String, Vec<(&Selector, Option<&'static str>)>> = BTreeMap::new();
    for s in selectors {
        let (base, suffix) = family_base(&s.name, &bucket_bases);
        groups.entry(base).or_default().push((s, suffix));
    }
    let mut families = Vec::new();
    for (base, sels) in groups {
        let histogram = bucket_bases.contains(&base);
        // Matchers per selector, without `le` on buckets.
        let per_selector: Vec<Vec<&Matcher>> = sels
            .iter()
            .map(|(s, suffix)| {
                s.matchers
                    .iter()
                    .filter(|m| !(histogram && *suffix == Some("_bucket") && m.label == "le"))
                    .collect()
            })
            .collect();
        let labels: BTreeSet<&str> = per_selector
            .iter()
            .flatten()
            .map(|m| m.label.as_str())
            .collect();
        let mut fixed = BTreeMap::new();
        let mut dims: Vec<(String, Vec<(String, bool)>)> = Vec::new();
        for label in labels {
            let sets: Vec<BTreeSet<&Matcher>> = per_selector
                .iter()
                .map(|ms| ms.iter().copied().filter(|m| m.label == label).collect())
                .collect();
            let all: Vec<&Matcher> = {
                let u: BTreeSet<&Matcher> = sets.iter().flatten().copied().collect();
                u.into_iter().collect()
            };
            let universal = sets.iter().all(|s| *s == sets[0]);
            if universal {
                let mut candidates = pattern_values(&all)?;
                candidates.push(neutral_for(&all)?);
                let mut chosen = None;
                for c in candidates {
                    let mut ok = true;
                    for m in &all {
                        ok &= satisfies(m, &c)?;
                    }
                    if ok {
                        chosen = Some(c);
                        break;
                    }
                }
                let value = chosen.ok_or_else(|| {
                    format!(
                        "{base}: found no value of label {label} that satisfies {}",
                        all.iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                if !value.is_empty() {
                    fixed.insert(label.to_string(), value);
                }
            } else {
                let mut values: Vec<(String, bool)> = pattern_values(&all)?
                    .into_iter()
                    .take(4)
                    .map(|v| (v, true))
                    .collect();
                values.push((neutral_for(&all)?, false));
                dims.push((label.to_string(), values));
            }
        }
        let mut regions: Vec<(BTreeMap<String, String>, bool)> = vec![(BTreeMap::new(), false)];
        for (label, values) in &dims {
            let mut next = Vec::new();
            for (r, bad) in &regions {
                for (v, vbad) in values {
                    let mut r = r.clone();
                    if !v.is_empty() {
                        r.insert(label.clone(), v.clone());
                    }
                    next.push((r, *bad || *vbad));
                }
            }
            regions = next;
            if regions.len() > 32 {
                return Err(format!(
                    "{base}: the selectors' matchers ask for more than 32 label combinations"
                ));
            }
        }
        let members: BTreeSet<Option<&str>> = sels.iter().map(|(_, s)| *s).collect();
        let counter = sels.iter().any(|(s, _)| s.usage == Usage::Counter);
        let shape = if histogram {
            let mut named: Vec<(f64, String)> = Vec::new();
            for (s, suffix) in &sels {
                if *suffix != Some("_bucket") {
                    continue;
                }
                for m in s.matchers.iter().filter(|m| m.label == "le") {
                    let spellings = match m.op {
                        Op::Eq | Op::Ne => vec![m.value.clone()],
                        Op::Re | Op::Nre => regexgen::matching(&m.value, 3)?,
                    };
                    for sp in spellings {
                        let v: f64 = if sp == "+Inf" || sp == "Inf" {
                            f64::INFINITY
                        } else {
                            sp.parse()
                                .map_err(|_| format!("{base}_bucket: le {sp:?} is not a number"))?
                        };
                        if !named.iter().any(|(x, _)| *x == v) {
                            named.push((v, sp));
                        }
                    }
                }
            }
            let mut thresholds: Vec<f64> = named
                .iter()
                .map(|(v, _)| *v)
                .filter(|v| v.is_finite())
                .collect();
            thresholds.sort_by(f64::total_cmp);
            let mut bounds = named.clone();
            let (lo, hi) = match (thresholds.first(), thresholds.last()) {
                (Some(lo), Some(hi)) => (*lo, *hi),
                _ => {
                    for v in [0.1, 0.25, 0.5, 1.0, 2.5] {
                        bounds.push((v, fmt_bound(v)));
                    }
                    thresholds.push(0.5);
                    (0.1, 2.5)
                }
            };
            for v in [
                if lo > 0.0 { lo / 2.0 } else { lo - 1.0 },
                if hi > 0.0 { hi * 4.0 } else { hi + 1.0 },
                f64::INFINITY,
            ] {
                if !bounds.iter().any(|(x, _)| *x == v) {
                    bounds.push((v, fmt_bound(v)));
                }
            }
            bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
            Shape::Histogram {
                bounds,
                thresholds,
                bucket: members.contains(&Some("_bucket")),
                count: members.contains(&Some("_count")),
                sum: members.contains(&Some("_sum")),
            }
        } else if counter {
            let lower = base.to_ascii_lowercase();
            let counts = if regions.iter().any(|(_, bad)| *bad) {
                Counts::All
            } else if ["error", "fail", "bad", "5xx"]
                .iter()
                .any(|w| lower.contains(w))
            {
                Counts::Errors
            } else if ["success", "good", "2xx"].iter().any(|w| lower.contains(w)) {
                Counts::Good
            } else {
                Counts::All
            };
            Shape::Counter(counts)
        } else {
            let mine: Vec<&Threshold> = thresholds.iter().filter(|t| t.name == base).collect();
            let mut vals: Vec<f64> = mine
                .iter()
                .map(|t| t.value)
                .filter(|v| v.is_finite())
                .collect();
            vals.sort_by(f64::total_cmp);
            vals.dedup();
            let below = mine.iter().filter(|t| t.op == "<" || t.op == "<=").count();
            let above = mine.iter().filter(|t| t.op == ">" || t.op == ">=").count();
            match (vals.first(), vals.last()) {
                (Some(&lo), Some(&hi)) => {
                    let span = (hi - lo).max(hi.abs() * 0.2).max(0.1);
                    let mids: Vec<f64> = vals.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
                    let (mut bad, mut good) = if below >= above {
                        (lo - span / 2.0, hi + span / 2.0)
                    } else {
                        (hi + span / 2.0, lo - span / 2.0)
                    };
                    if vals.iter().all(|v| (0.0..=1.0).contains(v)) {
                        bad = bad.clamp(0.0, 1.0);
                        good = good.clamp(0.0, 1.0);
                    }
                    if mine.iter().all(|t| t.op == "==" || t.op == "!=") {
                        bad = lo;
                        good = lo + 1.0;
                    }
                    Shape::Gauge { good, bad, mids }
                }
                _ => Shape::Gauge {
                    good: 1.0,
                    bad: 0.0,
                    mids: Vec::new(),
                },
            }
        };
        let replicas = if matches!(shape, Shape::Gauge { .. }) {
            2
        } else {
            1
        };
        families.push(Family {
            budget: budget(&base),
            name: base,
            shape,
            fixed,
            regions,
            replicas,
        });
    }
    Ok(families)
}

/// How many series a selector reads from the families.
pub fn matched_series(families: &[Family], sel: &Selector) -> Result<usize, String> {
    let bucket_bases: BTreeSet<String> = families
        .iter()
        .filter(|f| matches!(f.shape, Shape::Histogram { .. }))
        .map(|f| f.name.clone())
        .collect();
    let (base, suffix) = family_base(&sel.name, &bucket_bases);
    let Some(f) = families.iter().find(|f| f.name == base) else {
        return Ok(0);
    };
    let mut n = 0;
    for (labels, _) in &f.regions {
        let mut all = f.fixed.clone();
        all.extend(labels.clone());
        let mut ok = true;
        for m in sel
            .matchers
            .iter()
            .filter(|m| m.label != "le" || suffix != Some("_bucket"))
        {
            ok &= satisfies(m, all.get(&m.label).map_or("", String::as_str))?;
        }
        if ok {
            n += f.replicas;
        }
    }
    if suffix == Some("_bucket") {
        if let Shape::Histogram { bounds, .. } = &f.shape {
            let mut b = 0;
            for (_, sp) in bounds {
                let mut ok = true;
                for m in sel.matchers.iter().filter(|m| m.label == "le") {
                    ok &= satisfies(m, sp)?;
                }
                b += usize::from(ok);
            }
            n *= b;
        }
    }
    Ok(n)
}

/// Cumulative whole events up to and including each minute: all of them, the errors, and
/// (for histograms with `gaps` spaces between thresholds) those in each gap. Every count
/// grows by whole events, errors and gap events never outgrow the minute's events, so every
/// counter derived from them is monotonic.
struct Totals {
    all: Vec<f64>,
    errors: Vec<f64>,
    mid: Vec<f64>,
}

fn totals(scenario: Scenario, duration: u64, budget: f64, gaps: usize) -> Totals {
    let n = duration as usize + 1;
    let (mut all, mut errors, mut mid) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut a, mut e, mut m) = (0.0f64, 0.0f64, 0.0f64);
    let (mut e_real, mut m_real) = (0.0f64, 0.0f64);
    for t in 0..=duration {
        if t > 0 {
            let r = traffic(t).round();
            let share = scenario.error_share(t, duration, budget);
            let before = e_real.floor();
            e_real += r * share;
            let err = (e_real.floor() - before).min(r);
            let mut gap = 0.0;
            if gaps > 0 {
                let before = m_real.floor();
                m_real += r * share.min((1.0 - share) / (gaps as f64 + 1.0));
                gap = (m_real.floor() - before).min(((r - err) / gaps as f64).floor());
            }
            a += r;
            e += err;
            m += gap;
        }
        all.push(a);
        errors.push(e);
        mid.push(m);
    }
    Totals { all, errors, mid }
}

fn values_line(vals: impl Iterator<Item = f64>) -> String {
    let mut s = String::new();
    for v in vals {
        if !s.is_empty() {
            s.push(' ');
        }
        if v.fract() == 0.0 && v.abs() < 1e15 {
            s.push_str(&format!("{}", v as i64));
        } else {
            s.push_str(&format!("{v}"));
        }
    }
    s
}

/// promtool `input_series` (series, values) for one scenario, sampled every `step` minutes.
pub fn series(
    families: &[Family],
    scenario: Scenario,
    duration: u64,
    step: u64,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let times: Vec<u64> = (0..=duration).step_by(step as usize).collect();
    for f in families {
        let gaps = match &f.shape {
            Shape::Histogram { thresholds, .. } => thresholds.len().saturating_sub(1),
            _ => 0,
        };
        let tot = totals(scenario, duration, f.budget, gaps);
        let selector = |name: &str, extra: &BTreeMap<String, String>| {
            let mut l = f.fixed.clone();
            l.extend(extra.clone());
            let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
            format!("{name}{{{}}}", parts.join(","))
        };
        let n_bad = f.regions.iter().filter(|(_, b)| *b).count();
        let n_good = f.regions.len() - n_bad;
        match &f.shape {
            Shape::Counter(counts) => {
                for (labels, bad) in &f.regions {
                    let vals = times.iter().map(|&t| {
                        let (all, err) = (tot.all[t as usize], tot.errors[t as usize]);
                        let v = if n_bad > 0 {
                            if *bad {
                                err / n_bad as f64
                            } else {
                                (all - err) / n_good as f64
                            }
                        } else {
                            let share = match counts {
                                Counts::All => all,
                                Counts::Errors => err,
                                Counts::Good => all - err,
                            };
                            share / f.regions.len() as f64
                        };
                        v.round()
                    });
                    out.push((selector(&f.name, labels), values_line(vals)));
                }
            }
            Shape::Histogram {
                bounds,
                thresholds,
                bucket,
                count,
                sum,
            } => {
                let lo = thresholds.first().copied().unwrap_or(0.5);
                let hi = thresholds.last().copied().unwrap_or(0.5);
                let fast = if lo > 0.0 { lo / 4.0 } else { lo - 2.0 };
                let slow = if hi > 0.0 { hi * 2.0 } else { hi + 0.5 };
                let mids: Vec<f64> = thresholds.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
                let k = f.regions.len() as f64;
                // Per region: fast, slow (errors) and per-gap events; the total is their sum.
                let at = |t: u64| {
                    let t = t as usize;
                    let err = (tot.errors[t] / k).round();
                    let mid = (tot.mid[t] / k).round();
                    let fast_n =
                        ((tot.all[t] - tot.errors[t] - tot.mid[t] * mids.len() as f64) / k).round();
                    (fast_n, err, mid)
                };
                for (labels, _) in &f.regions {
                    if *bucket {
                        for (bv, sp) in bounds {
                            let vals = times.iter().map(|&t| {
                                let (fast_n, err, mid) = at(t);
                                let mut c = 0.0;
                                if fast <= *bv {
                                    c += fast_n;
                                }
                                for m in &mids {
                                    if *m <= *bv {
                                        c += mid;
                                    }
                                }
                                if slow <= *bv {
                                    c += err;
                                }
                                c
                            });
                            let mut l = labels.clone();
                            l.insert("le".into(), sp.clone());
                            out.push((
                                selector(&format!("{}_bucket", f.name), &l),
                                values_line(vals),
                            ));
                        }
                    }
                    if *count {
                        let vals = times.iter().map(|&t| {
                            let (fast_n, err, mid) = at(t);
                            fast_n + err + mid * mids.len() as f64
                        });
                        out.push((
                            selector(&format!("{}_count", f.name), labels),
                            values_line(vals),
                        ));
                    }
                    if *sum {
                        let vals = times.iter().map(|&t| {
                            let (fast_n, err, mid) = at(t);
                            fast_n * fast + mids.iter().map(|m| m * mid).sum::<f64>() + err * slow
                        });
                        out.push((
                            selector(&format!("{}_sum", f.name), labels),
                            values_line(vals),
                        ));
                    }
                }
            }
            Shape::Gauge { good, bad, mids } => {
                let n = f.regions.len() * f.replicas;
                // Bad samples per minute: the error share of all series, carried over so
                // that small shares still give a bad sample now and then.
                let mut grid = vec![vec![*good; times.len()]; n];
                let (mut carry, mut mid_carry, mut next) = (0.0f64, 0.0f64, 0usize);
                for (ti, &t) in times.iter().enumerate() {
                    let e = scenario.error_share(t.max(1), duration, f.budget);
                    carry += e * n as f64;
                    let mut k = carry.floor() as usize;
                    carry -= k as f64;
                    k = k.min(n);
                    for j in 0..k {
                        grid[(next + j) % n][ti] = *bad;
                    }
                    if !mids.is_empty() {
                        mid_carry += e * n as f64;
                        if mid_carry >= 1.0 && k < n {
                            mid_carry -= 1.0;
                            grid[(next + k) % n][ti] = mids[ti % mids.len()];
                        }
                    }
                    next = (next + k.max(1)) % n;
                }
                let mut i = 0;
                for (labels, _) in &f.regions {
                    for r in 0..f.replicas {
                        let mut l = labels.clone();
                        l.insert(replica_label(f), format!("eq-{}", r + 1));
                        out.push((selector(&f.name, &l), values_line(grid[i].iter().copied())));
                        i += 1;
                    }
                }
            }
        }
    }
    out
}

/// The label that tells a gauge's replicas apart.
fn replica_label(f: &Family) -> String {
    let used =
        |l: &str| f.fixed.contains_key(l) || f.regions.iter().any(|(r, _)| r.contains_key(l));
    ["instance", "eqcheck_instance"]
        .into_iter()
        .find(|l| !used(l))
        .unwrap_or("eqcheck_instance")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(name: &str, ms: &[(&str, Op, &str)]) -> Selector {
        Selector {
            name: name.into(),
            matchers: ms
                .iter()
                .map(|(l, op, v)| Matcher {
                    label: l.to_string(),
                    op: *op,
                    value: v.to_string(),
                })
                .collect(),
            usage: Usage::Counter,
        }
    }

    #[test]
    fn errors_are_a_subset_of_the_total() {
        let sels = vec![
            sel(
                "req",
                &[("job", Op::Eq, "a"), ("code", Op::Re, "(5..|429)")],
            ),
            sel("req", &[("job", Op::Eq, "a")]),
            sel(
                "req",
                &[("job", Op::Eq, "a"), ("code", Op::Nre, "(5..|429)")],
            ),
        ];
        let fams = plan(&sels, &[], &|_| 0.001).unwrap();
        assert_eq!(fams.len(), 1);
        let f = &fams[0];
        assert_eq!(f.fixed.get("job").unwrap(), "a");
        assert_eq!(f.regions.len(), 3, "{:?}", f.regions);
        assert_eq!(matched_series(&fams, &sels[0]).unwrap(), 2);
        assert_eq!(matched_series(&fams, &sels[1]).unwrap(), 3);
        assert_eq!(matched_series(&fams, &sels[2]).unwrap(), 1);
        let s = series(&fams, Scenario::Outage, 1440, 1);
        assert_eq!(s.len(), 3);
        // In the outage, the neutral series stops growing.
        let good = s.iter().find(|(n, _)| n.contains("\"200\"")).unwrap();
        let v: Vec<f64> = good.1.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v[1080 + 30], v[1080 + 31]);
    }

    #[test]
    fn histograms_have_consistent_buckets() {
        let sels = vec![
            sel(
                "lat_bucket",
                &[("le", Op::Eq, "0.4"), ("verb", Op::Ne, "WATCH")],
            ),
            sel("lat_count", &[("verb", Op::Ne, "WATCH")]),
        ];
        let fams = plan(&sels, &[], &|_| 0.01).unwrap();
        let s = series(&fams, Scenario::SlowBurn, 1440, 1);
        let get = |n: &str| -> Vec<f64> {
            s.iter()
                .find(|(x, _)| x.contains(n))
                .unwrap()
                .1
                .split(' ')
                .map(|x| x.parse().unwrap())
                .collect()
        };
        let inf = get("le=\"+Inf\"");
        let b04 = get("le=\"0.4\"");
        let count = get("lat_count");
        assert_eq!(inf, count);
        assert!(b04[700] < count[700] && b04[700] > 0.0);
    }
}

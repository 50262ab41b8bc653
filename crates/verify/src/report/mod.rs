//! The verdict and its renderings: JSON (this model), the terminal table, JUnit XML
//! and a self-contained HTML page.

mod html;
mod junit;
mod svg;
mod terminal;

pub use html::render_html;
pub use junit::render_junit;
pub use terminal::render_table;

use ballast_contract::expr::{Evaluation, Expr, FactKind};
use ballast_contract::{ClausePlan, Contract, Severity};
use ballast_http::scrape::Sample;
use ballast_load::Report;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of a verify report's `schema` key.
pub const SCHEMA: &str = "ballast.verify.v1";

/// Everything a verify run measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Version of ballast.
    pub ballast_version: String,
    /// Contract name.
    pub contract: String,
    /// Contract file.
    pub source: String,
    /// Contract description.
    pub description: Option<String>,
    /// Target base URL.
    pub base_url: String,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// Whole run, seconds (spawning included).
    pub duration_s: f64,
    /// Every fail-severity clause held (and the run was not interrupted).
    pub passed: bool,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// Stopped by a phase's `abort_when`, and why.
    #[serde(default)]
    pub aborted: Option<String>,
    /// Every fault put in place, and when.
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// Things the reader should know (faults not applied, scrape failures).
    pub notes: Vec<String>,
    /// Phases that ran.
    pub phases: Vec<PhaseRecord>,
    /// One verdict per clause.
    pub clauses: Vec<ClauseVerdict>,
    /// Scraped metrics the clauses name: name → `[seconds, value]` points (series summed).
    pub metrics: BTreeMap<String, Vec<(f64, f64)>>,
    /// Process resident memory: `[seconds, bytes]` points.
    pub process: Vec<(f64, Option<u64>)>,
    /// Profiles the phases captured, with their flame graphs.
    #[serde(default)]
    pub profiles: Vec<ProfileRecord>,
}

/// One phase's profiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// The phase.
    pub phase: String,
    /// The folder with its files (`manifest.json`, the profiles, the flame graphs).
    pub dir: String,
    /// The kinds captured.
    pub kinds: Vec<String>,
    /// What could not be captured, and why.
    pub errors: Vec<String>,
    /// Flame graphs and, against the first phase that captured the same kind, differential
    /// flame graphs.
    pub graphs: Vec<GraphRecord>,
}

/// A flame graph of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphRecord {
    /// What it shows.
    pub title: String,
    /// The SVG file.
    pub file: String,
    /// The SVG itself, for the HTML report (not in the JSON: the file has it).
    #[serde(skip)]
    pub svg: String,
}

/// A fault put in place: through the chaos proxy, or on the target (its process, its
/// cgroup, the machine beside it, a DNS server it resolves through).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Phase that asked for it.
    pub phase: String,
    /// Where: the proxy (dependency), `the target`, `the target's cgroup`,
    /// `the target's CPUs`, `the machine` or `dns server NAME`.
    pub proxy: String,
    /// What: a toxic type (`timeout`, `latency`…) or `down`; for faults on the target
    /// what was done (`pause`, `kill SIGTERM`, `cpu stress 2×80% (CPUs [0, 1])`,
    /// `limits memory 256MiB`, `env GOGC=50`, `servfail for *.shop.test (5% of queries)`).
    pub toxic: String,
    /// Put in place, seconds since the run started.
    pub applied_s: f64,
    /// Removed (`None` only if removal failed, which is reported).
    pub removed_s: Option<f64>,
}

/// One phase as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Name.
    pub name: String,
    /// Rate asked.
    pub rate: String,
    /// Judged length asked, seconds.
    pub duration_s: f64,
    /// Warm-up asked, seconds.
    pub warmup_s: f64,
    /// When the warm-up started, seconds since the run started.
    pub warmup_start_s: Option<f64>,
    /// When the judged part started.
    pub start_s: f64,
    /// When it ended.
    pub end_s: f64,
    /// Chaos faults the contract lists for the phase.
    pub chaos_requested: usize,
    /// Whether they were applied.
    pub chaos_applied: bool,
    /// The judged part's load report (`ballast.load.v1`).
    pub report: Report,
}

/// What a clause came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Held.
    Pass,
    /// Broken (fail severity): the verdict fails.
    Fail,
    /// Broken (warn severity), or undecidable warn clause.
    Warn,
    /// Could not be decided (no data) for a fail-severity clause: the verdict fails.
    Error,
    /// Not evaluated: a phase it needs did not run (`--only`).
    Skipped,
}

impl Outcome {
    /// Upper-case label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Warn => "WARN",
            Outcome::Error => "ERROR",
            Outcome::Skipped => "SKIP",
        }
    }
}

/// A looked-up value, for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedValue {
    /// The fact (`surge.p95`).
    pub fact: String,
    /// Its value in canonical units (ms, bytes, ratio, count).
    pub value: Option<f64>,
    /// Formatted (`12.30ms`).
    pub display: String,
}

/// One clause's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClauseVerdict {
    /// Name.
    pub name: String,
    /// Its phase.
    pub phase: Option<String>,
    /// The expression.
    pub check: String,
    /// `fail` or `warn`.
    pub severity: Severity,
    /// The outcome.
    pub outcome: Outcome,
    /// Values looked up.
    pub observed: Vec<ObservedValue>,
    /// Why it could not be decided, if so.
    pub problem: Option<String>,
    /// The clause's description.
    pub description: Option<String>,
}

impl ClauseVerdict {
    pub(crate) fn new(clause: &ClausePlan, outcome: Outcome, evaluation: &Evaluation) -> Self {
        ClauseVerdict {
            name: clause.name.clone(),
            phase: clause.phase.clone(),
            check: clause.check.clone(),
            severity: clause.severity,
            outcome,
            observed: evaluation
                .observed
                .iter()
                .enumerate()
                // A fact named twice in a clause is shown once.
                .filter(|(i, o)| {
                    !evaluation.observed[..*i]
                        .iter()
                        .any(|earlier| earlier.fact == o.fact)
                })
                .map(|(_, o)| o)
                .map(|o| ObservedValue {
                    fact: o.fact.clone(),
                    value: o.value,
                    display: o.display(),
                })
                .collect(),
            problem: evaluation.problem.clone(),
            description: clause.description.clone(),
        }
    }

    pub(crate) fn skipped(clause: &ClausePlan, why: String) -> Self {
        ClauseVerdict {
            name: clause.name.clone(),
            phase: clause.phase.clone(),
            check: clause.check.clone(),
            severity: clause.severity,
            outcome: Outcome::Skipped,
            observed: Vec::new(),
            problem: Some(why),
            description: clause.description.clone(),
        }
    }
}

impl VerifyReport {
    /// Counts of (passed, failed, warned, errors, skipped).
    pub fn tally(&self) -> (usize, usize, usize, usize, usize) {
        let count = |o: Outcome| self.clauses.iter().filter(|c| c.outcome == o).count();
        (
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Warn),
            count(Outcome::Error),
            count(Outcome::Skipped),
        )
    }
}

/// The scraped series the clauses name, summed per sample, for charts.
pub(crate) fn metric_series(
    contract: &Contract,
    samples: &[Sample],
) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut names = Vec::new();
    for clause in &contract.clauses {
        collect_metric_names(&clause.expr, &mut names);
    }
    let mut out = BTreeMap::new();
    for name in names {
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|s| {
                let values: Vec<f64> = s
                    .series
                    .iter()
                    .filter(|x| x.name == name)
                    .map(|x| x.value)
                    .collect();
                (!values.is_empty()).then(|| (s.t, values.iter().sum()))
            })
            .collect();
        out.insert(name, points);
    }
    out
}

fn collect_metric_names(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Fact(f) => {
            if let FactKind::Metric { name, .. } = &f.kind {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        Expr::Neg(e) | Expr::Not(e) => collect_metric_names(e, out),
        Expr::Binary(_, a, b) => {
            collect_metric_names(a, out);
            collect_metric_names(b, out);
        }
        _ => {}
    }
}

//! The clause language: `p95 <= 2 * baseline.p95 and process.oom_kills == 0`.
//!
//! An expression is parsed once ([`parse`]), checked against the contract
//! ([`Expr::check`]: names exist, units agree, the result is a yes/no) before any traffic is
//! sent, and evaluated after the run against whatever implements [`Facts`].
//!
//! Values carry a dimension so that `p95 <= 5%` is refused: latencies are milliseconds
//! (a bare number next to a latency means ms, as in k6's `p(95)<200`), `5%` is the ratio
//! 0.05, `512MiB` is bytes.

mod eval;
mod lexer;
mod parser;

pub use eval::{CheckContext, Evaluation, Facts, Observed};
pub use parser::parse;

use std::fmt;

/// A parse or check error at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset in the expression text.
    pub offset: usize,
    /// What went wrong and what was expected.
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        ExprError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

/// What a number measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A plain number (counts, rates); compares with anything.
    Number,
    /// Milliseconds.
    Millis,
    /// Bytes.
    Bytes,
    /// A share, 0..1 (`5%` = 0.05).
    Ratio,
    /// A yes/no.
    Bool,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dim::Number => "a number",
            Dim::Millis => "a duration",
            Dim::Bytes => "a size in bytes",
            Dim::Ratio => "a ratio",
            Dim::Bool => "a yes/no",
        })
    }
}

/// A string literal as the lexer reads it back: only `"` and `\` are escaped.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Words of the language that cannot name a phase in `name.p95` form.
pub const RESERVED: [&str; 12] = [
    "request", "phase", "metric", "process", "profile", "status", "p", "and", "or", "not", "true",
    "false",
];

/// Binary operators, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `or`, `||`
    Or,
    /// `and`, `&&`
    And,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// Which phase and request a fact is about. `None` phase: the clause's own phase (or
/// every phase); `None` request: all requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Phase name.
    pub phase: Option<String>,
    /// Request template name.
    pub request: Option<String>,
}

/// A latency statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyStat {
    /// Quantile 0..1 (p95 = 0.95).
    Quantile(f64),
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// Mean.
    Mean,
}

/// How a scraped target metric is reduced over a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Last value minus first (counters: what happened during the phase).
    Delta,
    /// Delta per second.
    Rate,
    /// Largest value seen.
    Max,
    /// Smallest value seen.
    Min,
    /// Mean of the samples.
    Mean,
    /// Last value seen.
    Last,
}

/// Facts about the process under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessFact {
    /// Peak resident memory, bytes.
    RssMax,
    /// OOM kills (cgroup memory events).
    OomKills,
    /// Restarts (the process exited or changed pid).
    Restarts,
}

/// A status selection: one code or a class (`5xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSel {
    /// Exactly this code.
    Code(u16),
    /// Codes `class*100 ..= class*100+99`.
    Class(u16),
}

/// What a fact looks up.
#[derive(Debug, Clone, PartialEq)]
pub enum FactKind {
    /// A latency statistic (ms).
    Latency(LatencyStat),
    /// Requests per second achieved.
    Rps,
    /// Share of requests that failed (errors or unexpected statuses).
    ErrorRate,
    /// Requests finished.
    Requests,
    /// Requests that failed.
    Errors,
    /// Responses with a status.
    Status(StatusSel),
    /// A scraped target metric, summed over the series matching `labels`.
    Metric {
        /// Metric name.
        name: String,
        /// Label equalities.
        labels: Vec<(String, String)>,
        /// Reduction over the phase.
        aggregate: Aggregate,
    },
    /// A process fact.
    Process(ProcessFact),
    /// A profile the phase captured (`profile.cpu.share("encoding/json")`).
    Profile {
        /// Which profile.
        kind: crate::profile::ProfileKind,
        /// What of it.
        stat: crate::profile::ProfileStat,
    },
}

/// One looked-up value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Phase and request.
    pub scope: Scope,
    /// What.
    pub kind: FactKind,
}

impl Fact {
    /// The dimension of this fact's value.
    pub fn dim(&self) -> Dim {
        match self.kind {
            FactKind::Latency(_) => Dim::Millis,
            FactKind::ErrorRate => Dim::Ratio,
            FactKind::Process(ProcessFact::RssMax) => Dim::Bytes,
            FactKind::Profile {
                stat: crate::profile::ProfileStat::Share(_),
                ..
            } => Dim::Ratio,
            FactKind::Profile { kind, .. } => crate::profile::total_dim(kind),
            _ => Dim::Number,
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(phase) = &self.scope.phase {
            // Plain only when it reads back as a phase: `max.p95` or `p12.p95` would read
            // as a metric followed by a stray dot.
            let plain = phase.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && phase.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !RESERVED.contains(&phase.as_str())
                && matches!(
                    parse(&format!("{phase}.rps")),
                    Ok(Expr::Fact(Fact { scope: Scope { phase: Some(p), .. }, .. })) if p == *phase
                );
            if plain {
                write!(f, "{phase}.")?;
            } else {
                write!(f, "phase({}).", quoted(phase))?;
            }
        }
        if let Some(request) = &self.scope.request {
            write!(f, "request({}).", quoted(request))?;
        }
        match &self.kind {
            FactKind::Latency(LatencyStat::Quantile(q)) => {
                // The usual names where they read back exactly; k6's p(N) otherwise.
                let named = [
                    (0.5, "p50"),
                    (0.75, "p75"),
                    (0.9, "p90"),
                    (0.95, "p95"),
                    (0.99, "p99"),
                    (0.999, "p999"),
                    (0.9999, "p9999"),
                ];
                match named.iter().find(|(v, _)| v == q) {
                    Some((_, name)) => f.write_str(name),
                    // Rounded to a millionth of a percent: q × 100 may land a hair
                    // beside the number that was written (9.000000000000002).
                    None => write!(f, "p({})", (q * 1e8).round() / 1e6),
                }
            }
            FactKind::Latency(LatencyStat::Min) => f.write_str("min"),
            FactKind::Latency(LatencyStat::Max) => f.write_str("max"),
            FactKind::Latency(LatencyStat::Mean) => f.write_str("mean"),
            FactKind::Rps => f.write_str("rps"),
            FactKind::ErrorRate => f.write_str("error_rate"),
            FactKind::Requests => f.write_str("requests"),
            FactKind::Errors => f.write_str("errors"),
            FactKind::Status(StatusSel::Code(c)) => write!(f, "status[{c}]"),
            FactKind::Status(StatusSel::Class(c)) => write!(f, "status[\"{c}xx\"]"),
            FactKind::Metric {
                name,
                labels,
                aggregate,
            } => {
                write!(f, "metric({}", quoted(name))?;
                for (k, v) in labels {
                    write!(f, ", {k}={}", quoted(v))?;
                }
                write!(f, ").{}", format!("{aggregate:?}").to_lowercase())
            }
            FactKind::Process(p) => write!(
                f,
                "process.{}",
                match p {
                    ProcessFact::RssMax => "rss_max",
                    ProcessFact::OomKills => "oom_kills",
                    ProcessFact::Restarts => "restarts",
                }
            ),
            FactKind::Profile { kind, stat } => {
                use crate::profile::{ProfileKind, ProfileStat};
                write!(f, "profile.{kind}.")?;
                match stat {
                    ProfileStat::Share(pattern) => write!(f, "share({})", quoted(pattern)),
                    ProfileStat::Total if *kind == ProfileKind::Heap => f.write_str("inuse"),
                    ProfileStat::Total if *kind == ProfileKind::Goroutine => f.write_str("count"),
                    ProfileStat::Total => f.write_str("total"),
                }
            }
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number with its dimension (durations in ms, sizes in bytes, `%` as a ratio).
    Number(f64, Dim),
    /// `true` / `false`.
    Bool(bool),
    /// A value looked up after the run.
    Fact(Fact),
    /// `-x`
    Neg(Box<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Binding strength, loosest first, as the parser reads it.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary(BinOp::Or, ..) => 1,
            Expr::Binary(BinOp::And, ..) => 2,
            Expr::Not(_) => 3,
            Expr::Binary(
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne,
                ..,
            ) => 4,
            Expr::Binary(BinOp::Add | BinOp::Sub, ..) => 5,
            Expr::Binary(BinOp::Mul | BinOp::Div, ..) => 6,
            Expr::Neg(_) => 7,
            Expr::Number(..) | Expr::Bool(_) | Expr::Fact(_) => 8,
        }
    }
}

/// Writes `e`, in parentheses when it binds looser than `needed`.
fn operand(f: &mut fmt::Formatter<'_>, e: &Expr, needed: u8) -> fmt::Result {
    if e.precedence() < needed {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// Prints with only the parentheses the parser needs, so a long chain such as
/// `a + b + c + …` does not come back as deeply nested text.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n, Dim::Millis) => write!(f, "{n}ms"),
            Expr::Number(n, Dim::Bytes) => write!(f, "{n}B"),
            Expr::Number(n, Dim::Ratio) => write!(f, "{}%", n * 100.0),
            Expr::Number(n, _) => write!(f, "{n}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Fact(fact) => write!(f, "{fact}"),
            Expr::Neg(e) => {
                f.write_str("-")?;
                operand(f, e, 7)
            }
            Expr::Not(e) => {
                f.write_str("not ")?;
                operand(f, e, 3)
            }
            Expr::Binary(op, a, b) => {
                let own = self.precedence();
                // Comparisons do not chain, so neither side may be a comparison; the
                // others associate to the left, so only the right side needs `own + 1`.
                let (left, right) = if own == 4 {
                    (own + 1, own + 1)
                } else {
                    (own, own + 1)
                };
                operand(f, a, left)?;
                write!(f, " {} ", op.symbol())?;
                operand(f, b, right)
            }
        }
    }
}

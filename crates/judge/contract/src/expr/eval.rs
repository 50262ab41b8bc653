//! Checking an expression against a contract, and evaluating it against measurements.

use super::*;

/// What a contract offers to its expressions, for [`Expr::check`].
#[derive(Debug, Clone, Default)]
pub struct CheckContext<'a> {
    /// Phase names.
    pub phases: &'a [String],
    /// Request template names.
    pub requests: &'a [String],
    /// Whether target metrics are scraped (`target.metrics`).
    pub has_metrics: bool,
    /// Whether a process is watched (`target.spawn` or `target.process`).
    pub has_process: bool,
    /// The phases that capture profiles, and which kinds.
    pub profiles: &'a [(String, Vec<crate::profile::ProfileKind>)],
    /// The phase of the clause being checked, if it names one.
    pub clause_phase: Option<&'a str>,
}

/// Where evaluation gets its values.
pub trait Facts {
    /// The value of `fact`, with `phase` as the phase when the fact names none (`None`:
    /// all phases together); `None` when there is no data (e.g. no requests in the phase).
    fn value(&self, fact: &Fact, phase: Option<&str>) -> Option<f64>;
}

/// A value the evaluation looked up, for the verdict table.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The fact as written (`baseline.p95`).
    pub fact: String,
    /// Its value (ms, bytes, ratio or count), `None` without data.
    pub value: Option<f64>,
    /// What the value measures.
    pub dim: Dim,
}

impl Observed {
    /// The value for people: `12.3ms`, `4.2%`, `512.0MiB`, `17`.
    pub fn display(&self) -> String {
        match self.value {
            None => "no data".into(),
            Some(v) => format_value(v, self.dim),
        }
    }
}

/// Formats a value of a dimension for people.
pub fn format_value(v: f64, dim: Dim) -> String {
    match dim {
        Dim::Millis if v >= 1000.0 => format!("{:.2}s", v / 1000.0),
        Dim::Millis => format!("{v:.2}ms"),
        Dim::Ratio => format!("{:.2}%", v * 100.0),
        Dim::Bytes if v >= 1048576.0 => format!("{:.1}MiB", v / 1048576.0),
        Dim::Bytes => format!("{v:.0}B"),
        Dim::Number if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Dim::Number => format!("{v:.2}"),
        Dim::Bool => (v != 0.0).to_string(),
    }
}

/// The outcome of evaluating a clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `Some(true)` holds, `Some(false)` broken, `None` could not be decided (no data).
    pub holds: Option<bool>,
    /// Every fact looked up, in order.
    pub observed: Vec<Observed>,
    /// Why it could not be decided.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Num(f64, Dim),
    Bool(bool),
}

fn merge_dims(op: BinOp, a: Dim, b: Dim) -> Result<Dim, String> {
    use Dim::*;
    let mismatch = || format!("cannot apply {} to {a} and {b}", op.symbol());
    match op {
        BinOp::And | BinOp::Or => match (a, b) {
            (Bool, Bool) => Ok(Bool),
            _ => Err(format!(
                "`{}` joins yes/no values, got {a} and {b}",
                op.symbol()
            )),
        },
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => match (a, b) {
            (Bool, Bool) if matches!(op, BinOp::Eq | BinOp::Ne) => Ok(Bool),
            (Bool, _) | (_, Bool) => Err(mismatch()),
            (x, y) if x == y || x == Number || y == Number => Ok(Bool),
            _ => Err(format!("cannot compare {a} with {b}")),
        },
        BinOp::Add | BinOp::Sub => match (a, b) {
            (Bool, _) | (_, Bool) => Err(mismatch()),
            (x, y) if x == y => Ok(x),
            (Number, y) => Ok(y),
            (x, Number) => Ok(x),
            _ => Err(mismatch()),
        },
        BinOp::Mul => match (a, b) {
            (Number, y) if y != Bool => Ok(y),
            (x, Number) if x != Bool => Ok(x),
            (Ratio, y) if y != Bool => Ok(y),
            (x, Ratio) if x != Bool => Ok(x),
            _ => Err(mismatch()),
        },
        BinOp::Div => match (a, b) {
            (Bool, _) | (_, Bool) => Err(mismatch()),
            (x, y) if x == y => Ok(Number),
            (x, Number) => Ok(x),
            _ => Err(mismatch()),
        },
    }
}

impl Expr {
    /// Checks names against the contract and units against each other; the whole
    /// expression must be a yes/no.
    pub fn check(&self, ctx: &CheckContext<'_>) -> Result<(), ExprError> {
        match self.dim(ctx).map_err(|m| ExprError::new(0, m))? {
            Dim::Bool => Ok(()),
            other => Err(ExprError::new(
                0,
                format!(
                    "a clause must be a yes/no comparison, e.g. `p95 <= 200ms`; this is {other}"
                ),
            )),
        }
    }

    fn dim(&self, ctx: &CheckContext<'_>) -> Result<Dim, String> {
        match self {
            Expr::Number(_, d) => Ok(*d),
            Expr::Bool(_) => Ok(Dim::Bool),
            Expr::Fact(fact) => {
                check_fact(fact, ctx)?;
                Ok(fact.dim())
            }
            Expr::Neg(e) => match e.dim(ctx)? {
                Dim::Bool => Err("cannot negate a yes/no; use `not`".into()),
                d => Ok(d),
            },
            Expr::Not(e) => match e.dim(ctx)? {
                Dim::Bool => Ok(Dim::Bool),
                d => Err(format!("`not` needs a yes/no, got {d}")),
            },
            Expr::Binary(op, a, b) => merge_dims(*op, a.dim(ctx)?, b.dim(ctx)?),
        }
    }

    /// Evaluates against `facts`, with `phase` as the default phase.
    pub fn evaluate(&self, facts: &dyn Facts, phase: Option<&str>) -> Evaluation {
        let mut observed = Vec::new();
        match self.eval(facts, phase, &mut observed) {
            Ok(Value::Bool(b)) => Evaluation {
                holds: Some(b),
                observed,
                problem: None,
            },
            Ok(Value::Num(..)) => Evaluation {
                holds: None,
                observed,
                problem: Some("not a yes/no".into()),
            },
            Err(problem) => Evaluation {
                holds: None,
                observed,
                problem: Some(problem),
            },
        }
    }

    fn eval(
        &self,
        facts: &dyn Facts,
        phase: Option<&str>,
        seen: &mut Vec<Observed>,
    ) -> Result<Value, String> {
        Ok(match self {
            Expr::Number(n, d) => Value::Num(*n, *d),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Fact(fact) => {
                let value = facts.value(fact, phase);
                let mut shown = fact.clone();
                if shown.scope.phase.is_none() {
                    shown.scope.phase = phase.map(str::to_string);
                }
                seen.push(Observed {
                    fact: shown.to_string(),
                    value,
                    dim: fact.dim(),
                });
                Value::Num(
                    value.ok_or_else(|| format!("no data for {shown}"))?,
                    fact.dim(),
                )
            }
            Expr::Neg(e) => match e.eval(facts, phase, seen)? {
                Value::Num(n, d) => Value::Num(-n, d),
                Value::Bool(_) => return Err("cannot negate a yes/no".into()),
            },
            Expr::Not(e) => match e.eval(facts, phase, seen)? {
                Value::Bool(b) => Value::Bool(!b),
                Value::Num(..) => return Err("`not` needs a yes/no".into()),
            },
            Expr::Binary(op, a, b) => {
                // Both sides are always evaluated so the verdict shows every value.
                let (a, b) = (a.eval(facts, phase, seen), b.eval(facts, phase, seen));
                // `and`/`or` decide with one side missing when the other settles it
                // (false and ?, true or ?): a clause broken on known facts is broken.
                match (op, &a, &b) {
                    (BinOp::And, Ok(Value::Bool(false)), Err(_))
                    | (BinOp::And, Err(_), Ok(Value::Bool(false))) => Value::Bool(false),
                    (BinOp::Or, Ok(Value::Bool(true)), Err(_))
                    | (BinOp::Or, Err(_), Ok(Value::Bool(true))) => Value::Bool(true),
                    _ => apply(*op, a?, b?)?,
                }
            }
        })
    }
}

fn apply(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    use Value::*;
    Ok(match (a, b) {
        (Bool(x), Bool(y)) => match op {
            BinOp::And => Bool(x && y),
            BinOp::Or => Bool(x || y),
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            _ => return Err(format!("cannot apply {} to yes/no values", op.symbol())),
        },
        (Num(x, dx), Num(y, dy)) => {
            let dim = merge_dims(op, dx, dy)?;
            match op {
                BinOp::Lt => Bool(x < y),
                BinOp::Le => Bool(x <= y),
                BinOp::Gt => Bool(x > y),
                BinOp::Ge => Bool(x >= y),
                BinOp::Eq => Bool((x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)),
                BinOp::Ne => Bool((x - y).abs() > 1e-9 * x.abs().max(y.abs()).max(1.0)),
                BinOp::Add => Num(x + y, dim),
                BinOp::Sub => Num(x - y, dim),
                BinOp::Mul => Num(x * y, dim),
                BinOp::Div if y == 0.0 => return Err("division by zero".into()),
                BinOp::Div => Num(x / y, dim),
                BinOp::And | BinOp::Or => {
                    return Err(format!("`{}` joins yes/no values", op.symbol()))
                }
            }
        }
        _ => {
            return Err(format!(
                "cannot apply {} to a yes/no and a number",
                op.symbol()
            ))
        }
    })
}

fn check_fact(fact: &Fact, ctx: &CheckContext<'_>) -> Result<(), String> {
    if let Some(phase) = &fact.scope.phase {
        if !ctx.phases.iter().any(|p| p == phase) {
            return Err(format!(
                "unknown phase {phase:?}; the phases are: {}",
                ctx.phases.join(", ")
            ));
        }
    }
    if let Some(request) = &fact.scope.request {
        if !ctx.requests.iter().any(|r| r == request) {
            return Err(format!(
                "unknown request {request:?}; the requests are: {}",
                ctx.requests.join(", ")
            ));
        }
    }
    match &fact.kind {
        FactKind::Metric { .. } if !ctx.has_metrics => {
            Err("metric(…) needs target.metrics (a Prometheus /metrics URL to scrape)".into())
        }
        FactKind::Metric { .. } if fact.scope.request.is_some() => {
            Err("metric(…) is about the target, not one request; drop request(…)".into())
        }
        FactKind::Process(_) if !ctx.has_process => {
            Err("process.* needs target.spawn or target.process (which process to watch)".into())
        }
        FactKind::Profile { kind, .. } => check_profile_fact(fact, *kind, ctx),
        _ => Ok(()),
    }
}

fn check_profile_fact(
    fact: &Fact,
    kind: crate::profile::ProfileKind,
    ctx: &CheckContext<'_>,
) -> Result<(), String> {
    if fact.scope.request.is_some() {
        return Err("profile.* is about the target, not one request; drop request(…)".into());
    }
    let Some(phase) = fact.scope.phase.as_deref().or(ctx.clause_phase) else {
        return Err(format!(
            "profile.{kind}.… is captured per phase: give the clause a phase, or write PHASE.profile.{kind}.…"
        ));
    };
    match ctx.profiles.iter().find(|(p, _)| p == phase) {
        None => Err(format!(
            "phase {phase:?} captures no profiles; add profile: {{kinds: [{kind}]}} to it"
        )),
        Some((_, kinds)) if !kinds.contains(&kind) => Err(format!(
            "phase {phase:?} does not capture a {kind} profile; add {kind} to its profile.kinds"
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use proptest::prelude::*;

    struct Table;
    impl Facts for Table {
        fn value(&self, fact: &Fact, phase: Option<&str>) -> Option<f64> {
            let phase = fact.scope.phase.as_deref().or(phase);
            match (&fact.kind, phase) {
                (FactKind::Latency(LatencyStat::Quantile(q)), Some("baseline")) if *q == 0.95 => {
                    Some(10.0)
                }
                (FactKind::Latency(LatencyStat::Quantile(q)), Some("surge")) if *q == 0.95 => {
                    Some(18.0)
                }
                (FactKind::ErrorRate, _) => Some(0.02),
                (FactKind::Process(ProcessFact::OomKills), _) => Some(0.0),
                (FactKind::Process(ProcessFact::RssMax), _) => Some(300.0 * 1048576.0),
                (FactKind::Metric { .. }, _) => Some(42.0),
                (FactKind::Status(StatusSel::Code(503)), _) => Some(7.0),
                _ => None,
            }
        }
    }

    fn ctx() -> CheckContext<'static> {
        static PHASES: [String; 0] = [];
        CheckContext {
            phases: &PHASES,
            requests: &[],
            has_metrics: true,
            has_process: true,
            ..CheckContext::default()
        }
    }

    fn run(text: &str, phase: &str) -> Evaluation {
        let phases = vec!["baseline".to_string(), "surge".to_string()];
        let requests = vec!["checkout".to_string()];
        let ctx = CheckContext {
            phases: &phases,
            requests: &requests,
            has_metrics: true,
            has_process: true,
            ..CheckContext::default()
        };
        let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        expr.check(&ctx).unwrap_or_else(|e| panic!("{text}: {e}"));
        expr.evaluate(&Table, Some(phase))
    }

    #[test]
    fn the_seed_table_reads_as_written() {
        let e = run(
            "p95 <= 2 * baseline.p95 and process.oom_kills == 0",
            "surge",
        );
        assert_eq!(e.holds, Some(true));
        assert_eq!(e.observed[0].fact, "surge.p95");
        assert_eq!(e.observed[1].fact, "baseline.p95");
        let e = run(
            "metric(\"shop_fallback_total\").delta > 0 and error_rate <= 5%",
            "surge",
        );
        assert_eq!(e.holds, Some(true));
        assert_eq!(run("p95 <= 1.5 * baseline.p95", "surge").holds, Some(false));
    }

    #[test]
    fn k6_habits_and_units() {
        assert_eq!(run("p(95)<20", "surge").holds, Some(true));
        assert_eq!(run("p(95) < 0.02s", "surge").holds, Some(true));
        assert_eq!(run("process.rss_max < 512MiB", "surge").holds, Some(true));
        assert_eq!(
            run("status[503] <= 10 && !(error_rate > 0.05)", "surge").holds,
            Some(true)
        );
        assert_eq!(
            run("phase(\"baseline\").p95 == 10ms", "surge").holds,
            Some(true)
        );
    }

    #[test]
    fn a_known_false_side_decides_an_and() {
        let e = run(
            "request(\"checkout\").p99 < 100ms and error_rate > 50%",
            "surge",
        );
        assert_eq!(e.holds, Some(false));
        let e = run(
            "request(\"checkout\").p99 < 100ms or error_rate < 50%",
            "surge",
        );
        assert_eq!(e.holds, Some(true));
        let e = run(
            "request(\"checkout\").p99 < 100ms and error_rate < 50%",
            "surge",
        );
        assert_eq!(
            e.holds, None,
            "still undecided when the known side does not settle it"
        );
    }

    #[test]
    fn missing_data_is_undecided_not_false() {
        let e = run("request(\"checkout\").p99 < 100ms", "surge");
        assert_eq!(e.holds, None);
        assert!(e
            .problem
            .unwrap()
            .contains("no data for surge.request(\"checkout\").p99"));
    }

    #[test]
    fn precise_errors() {
        let phases = vec!["baseline".to_string()];
        let c = CheckContext {
            phases: &phases,
            requests: &[],
            has_metrics: false,
            has_process: false,
            ..CheckContext::default()
        };
        let check = |text: &str| {
            parse(text)
                .and_then(|e| e.check(&c))
                .unwrap_err()
                .to_string()
        };
        assert!(check("p95 <= 5%").contains("cannot compare a duration with a ratio"));
        assert!(check("basline.p95 < 1")
            .contains("unknown phase \"basline\"; the phases are: baseline"));
        assert!(check("p95").contains("must be a yes/no"));
        assert!(check("metric(\"x\").delta > 0").contains("target.metrics"));
        assert!(check("process.oom_kills == 0").contains("target.spawn"));
        assert!(check("p95 < 200 parsecs").contains("unexpected name \"parsecs\""));
        assert!(check("p95 < 200xs").contains("unknown unit \"xs\""));
        assert!(check("p95 = 1").contains("use =="));
        assert!(check("1 < p95 < 2").contains("do not chain"));
        assert!(check("foo > 1").contains("unknown name \"foo\""));
        assert!(check("status[700] > 1").contains("status code"));
        assert!(check("metric(\"x\").avgg > 1").contains("unknown reduction"));
        assert!(check("(p95 < 1").contains("expected \")\""));
        assert_eq!(parse("p95 < 'x").unwrap_err().offset, 6);
        let _ = ctx();
    }

    #[test]
    fn long_chains_print_flat() {
        let chain = (0..200)
            .map(|i| format!("{i}"))
            .collect::<Vec<_>>()
            .join(" + ");
        let e = parse(&format!("p95 < {chain}")).unwrap();
        assert!(!e.to_string().contains('('), "{e}");
        assert_eq!(parse(&e.to_string()).unwrap(), e);
        let mixed = parse("not (a.p95 < 1 or b.p99 > 2 - (3 - 4)) and -(1 + 2) * 3 == 5").unwrap();
        assert_eq!(
            mixed.to_string(),
            "not (a.p95 < 1 or b.p99 > 2 - (3 - 4)) and -(1 + 2) * 3 == 5"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("avg <= {}1", "-".repeat(5000));
        assert!(parse(&deep)
            .unwrap_err()
            .message
            .contains("nested more than 64"));
        let parens = format!("{}p95 < 1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&parens).is_err());
        assert!(parse(&format!("{}true", "not ".repeat(60))).is_ok());
    }

    #[test]
    fn unusual_quantiles_print_back() {
        // Found by fuzzing: p(9) printed as "p9", which does not parse.
        for text in [
            "1 < (not true) or true",
            "-(not true) == 1",
            "p(9) < 1",
            "p(99.5) < 1",
            "p(1) < 1",
            "p999 < 1",
            "p95 < 1",
            "p(0.0000001) < 1",
            "p(100) < 1",
            "p(33.3) < 1",
        ] {
            let e = parse(text).unwrap();
            assert_eq!(parse(&e.to_string()).unwrap(), e, "{text} → {e}");
        }
    }

    #[test]
    fn strings_with_any_character_print_back() {
        // Found by fuzzing: control characters were printed as Rust escapes (\u{2}).
        let e = parse("metric(\"a\u{2}b\\\"c\").delta > 0").unwrap();
        assert_eq!(parse(&e.to_string()).unwrap(), e);
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "[a-z0-9_ .<>=!()\\[\\]\"%*/+\\-,&|]{0,40}") {
            if let Ok(expr) = parse(&text) {
                let _ = expr.check(&ctx());
                let _ = expr.evaluate(&Table, Some("surge"));
            }
        }

        #[test]
        fn display_round_trips(a in 0u32..10_000, b in 0u32..100, q in prop::sample::select(vec!["p50", "p99", "p999", "max", "mean"])) {
            let text = format!("{q} <= {a}ms + {b}% * baseline.{q} or not (error_rate > {b}%)");
            let parsed = parse(&text).unwrap();
            let again = parse(&parsed.to_string()).unwrap();
            prop_assert_eq!(parsed, again);
        }
    }
}

use super::{Outcome, VerifyReport};
use std::fmt::Write as _;

/// The verdict table printed at the end of `ballast verify`.
pub fn render_table(report: &VerifyReport, color: bool) -> String {
    let paint = |outcome: Outcome| -> String {
        let label = outcome.label();
        if !color {
            return label.to_string();
        }
        let code = match outcome {
            Outcome::Pass => "32",
            Outcome::Fail | Outcome::Error => "31;1",
            Outcome::Warn => "33",
            Outcome::Skipped => "2",
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} — {} phase(s), {:.1}s",
        report.contract,
        report.phases.len(),
        report.duration_s
    );
    let phase_width = report
        .phases
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    for p in &report.phases {
        let r = &p.report;
        let _ = writeln!(
            out,
            "  {:<width$} {:>12}  {:>8} req  {:>9.1} req/s  p50 {:>8.2}ms  p95 {:>8.2}ms  p99 {:>8.2}ms  failed {:.2}%",
            p.name, p.rate, r.requests, r.rps, r.latency_ms.p50, r.latency_ms.p95, r.latency_ms.p99, r.error_rate * 100.0,
            width = phase_width
        );
    }
    let _ = writeln!(out);
    let name_width = report
        .clauses
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 48);
    for c in &report.clauses {
        let observed: Vec<String> = c
            .observed
            .iter()
            .map(|o| format!("{} = {}", o.fact, o.display))
            .collect();
        let _ = writeln!(
            out,
            "  {}  {:<name_width$}  {}",
            paint(c.outcome),
            c.name,
            c.check
        );
        if !observed.is_empty() {
            let _ = writeln!(out, "        {:<name_width$}  {}", "", observed.join(", "));
        }
        if let Some(problem) = &c.problem {
            let _ = writeln!(out, "        {:<name_width$}  {}", "", problem);
        }
    }
    for f in &report.faults {
        let _ = writeln!(
            out,
            "  fault: {} on {} (phase {}) from {:.1}s to {}",
            f.toxic,
            f.proxy,
            f.phase,
            f.applied_s,
            f.removed_s
                .map_or("— NOT REMOVED".into(), |r| format!("{r:.1}s"))
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    if let Some(reason) = &report.aborted {
        let _ = writeln!(out, "\n  ABORTED: {reason}");
    }
    let (pass, fail, warn, error, skipped) = report.tally();
    let verdict = if report.aborted.is_some() {
        "ABORTED"
    } else if report.interrupted {
        "INTERRUPTED"
    } else if report.passed {
        "PASSED"
    } else {
        "FAILED"
    };
    let _ = writeln!(
        out,
        "\n{verdict}: {pass} passed, {fail} failed, {warn} warned, {error} undecided, {skipped} skipped"
    );
    out
}

//! A baseline as people read it, and as a contract `slos:` entry.

use super::{Baseline, Direction, Objective};
use std::fmt::Write as _;
use std::time::Duration;

/// `5m`, `7d`, `1h30m`: Prometheus' notation, exact to the second.
pub(crate) fn compact(d: Duration) -> String {
    let mut secs = d.as_secs_f64().round() as u64;
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

fn percent(share: f64) -> String {
    let p = share * 100.0;
    // 99.5 %, 99.9 %, 99.95 %: as many decimals as the objective has.
    let text = format!("{p:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn op(direction: Direction) -> &'static str {
    match direction {
        Direction::Below => "≤",
        Direction::Above => "≥",
    }
}

impl Baseline {
    /// The time the samples cover: first to last, plus one step.
    fn covered(&self) -> Duration {
        Duration::from_secs_f64((self.span_seconds + self.step_seconds).max(0.0))
    }

    /// One sentence: "value ≤ 0.18 holds 99.5 % of 5m windows over the last 7d".
    pub fn sentence(&self, objective: &Objective, slo_window: Duration) -> String {
        format!(
            "{} {} {} holds {} % of {} windows over the last {}",
            self.series,
            op(self.direction),
            objective.threshold,
            percent(objective.objective),
            compact(slo_window),
            compact(self.covered())
        )
    }

    /// The baseline and proposal as text.
    pub fn to_text(&self, slo_window: Duration) -> String {
        let mut out = String::new();
        let p = &self.proposal;
        let _ = writeln!(out, "proposed: {}", self.sentence(p, slo_window));
        let _ = writeln!(
            out,
            "  evidence: {} of {} windows met it ({} %, {} % of the error budget); worst window {}; \
             window values p50 {} p90 {} p99 {} p99.9 {}",
            p.windows - p.bad_windows,
            p.windows,
            percent(p.achieved),
            percent(p.budget_used),
            short(p.worst),
            short(p.quantiles[0]),
            short(p.quantiles[1]),
            short(p.quantiles[2]),
            short(p.quantiles[3])
        );
        for a in &self.alternatives {
            let _ = writeln!(
                out,
                "  at {} %: threshold {} ({} of {} windows met it)",
                percent(a.objective),
                a.threshold,
                a.windows - a.bad_windows,
                a.windows
            );
        }
        let acf = |a: Option<f64>| a.map_or("n/a (too short)".into(), |a| format!("{a:.2}"));
        let _ = writeln!(
            out,
            "seasonality: {:?} (autocorrelation at 1 day {}, at 1 week {}); {} samples",
            self.seasonality,
            acf(self.daily_autocorrelation),
            acf(self.weekly_autocorrelation),
            self.samples
        );
        let _ = writeln!(
            out,
            "{:<10} {:>12} {:>12} {:>12} {:>8}",
            "slot (UTC)", "expected", "lower", "upper", "samples"
        );
        for s in &self.slots {
            let _ = writeln!(
                out,
                "{:<10} {:>12} {:>12} {:>12} {:>8}",
                s.start,
                short(s.expected),
                short(s.lower),
                short(s.upper),
                s.samples
            );
        }
        out
    }

    /// A contract `slos:` entry measuring the proposal with Prometheus: the share of
    /// `slo_window` evaluations of `query` that meet the threshold.
    pub fn contract_snippet(&self, name: &str, query: &str, slo_window: Duration) -> String {
        let p = &self.proposal;
        let step = compact(slo_window);
        let compare = match self.direction {
            Direction::Below => "<=",
            Direction::Above => ">=",
        };
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let good = format!(
            "sum(sum_over_time((({query}) {compare} bool {})[{{{{.window}}}}:{step}]))",
            p.threshold
        );
        let total = format!("sum(count_over_time(({query})[{{{{.window}}}}:{step}]))");
        let window = compact(self.covered());
        format!(
            "# {}\n# evidence: {} of {} {} windows met it over the data ({} %).\nslos:\n  - name: {name}\n    objective: \"{}%\"\n    window: {window}\n    sli:\n      ratio:\n        good: {}\n        total: {}\n",
            self.sentence(p, slo_window),
            p.windows - p.bad_windows,
            p.windows,
            step,
            percent(p.achieved),
            percent(p.objective),
            quote(&good),
            quote(&total)
        )
    }
}

/// Four significant digits, no exponent for everyday magnitudes.
fn short(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let text = format!("{v:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        format!("{v:.3e}")
    }
}

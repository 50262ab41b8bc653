//! A self-contained HTML report: one file, inline CSS and SVG, no scripts, no network.

use super::svg::{chart, escape, Band, Line};
use super::{Outcome, VerifyReport};
use ballast_core::RateSpec;
use std::fmt::Write as _;

const BAND_FILLS: [&str; 4] = ["#eef3fb", "#fbf3e8", "#eefaf1", "#f6eefa"];
const STYLE: &str = r#"
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2330;margin:0;background:#f5f6f8}
main{max-width:980px;margin:0 auto;padding:24px}
header{background:#fff;border-radius:10px;padding:20px 24px;box-shadow:0 1px 2px #0001;display:flex;justify-content:space-between;align-items:center;gap:16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px}
.meta{color:#5b6475;font-size:13px}
.verdict{font-size:20px;font-weight:700;padding:10px 18px;border-radius:8px;color:#fff;white-space:nowrap}
.passed{background:#1f8f4e}.failed{background:#c93434}.interrupted{background:#8a6d1d}
.card{background:#fff;border-radius:10px;padding:14px 18px;box-shadow:0 1px 2px #0001;margin-bottom:14px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid #e8eaef;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f7;padding:1px 5px;border-radius:4px}
.badge{display:inline-block;min-width:52px;text-align:center;font-weight:700;font-size:12px;padding:3px 8px;border-radius:5px;color:#fff}
.b-pass{background:#1f8f4e}.b-fail{background:#c93434}.b-error{background:#7b1f1f}.b-warn{background:#c98a12}.b-skipped{background:#8b93a3}
.observed{color:#3c4456;font-size:13px}.problem{color:#a12828;font-size:13px}
.notes li{margin:4px 0}
svg.chart{width:100%;height:auto;display:block}
svg .title{font-weight:600;font-size:13px;fill:#1d2330}svg .tick{font-size:11px;fill:#6b7385}
svg .legend{font-size:12px;fill:#3c4456}svg .fault{font-size:11px;fill:#b42318;font-weight:600}
.aborted{background:#fdecec;border-left:4px solid #c93434;padding:10px 14px;border-radius:6px;margin-top:14px}svg .band{font-size:11px;fill:#6b7385}svg .grid{stroke:#e8eaef;stroke-width:1}
footer{color:#8b93a3;font-size:12px;margin-top:24px}
"#;

fn seconds(s: f64) -> String {
    ballast_core::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)))
}

/// Renders the report as one HTML page.
pub fn render_html(report: &VerifyReport) -> String {
    let mut h = String::new();
    let (pass, fail, warn, error, skipped) = report.tally();
    let (verdict, class) = if report.aborted.is_some() {
        ("ABORTED", "failed")
    } else if report.interrupted {
        ("INTERRUPTED", "interrupted")
    } else if report.passed {
        ("PASSED", "passed")
    } else {
        ("FAILED", "failed")
    };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} — ballast verify {verdict}</title><style>{STYLE}</style></head><body><main>",
        escape(&report.contract)
    );
    let _ = write!(
        h,
        "<header><div><h1>{}</h1><div class=\"meta\">{} · target <code>{}</code> · {} phase(s) · {:.1}s · ballast {}</div>{}</div>\
         <div class=\"verdict {class}\">{verdict}</div></header>",
        escape(&report.contract),
        escape(&report.source),
        escape(&report.base_url),
        report.phases.len(),
        report.duration_s,
        escape(&report.ballast_version),
        report.description.as_ref().map(|d| format!("<p>{}</p>", escape(d))).unwrap_or_default()
    );

    if let Some(reason) = &report.aborted {
        let _ = write!(
            h,
            "<div class=\"aborted\"><b>Aborted.</b> {}</div>",
            escape(reason)
        );
    }
    let _ = write!(
        h,
        "<h2>Clauses — {pass} passed, {fail} failed, {warn} warned, {error} undecided, {skipped} skipped</h2><div class=\"card\"><table>\
         <tr><th>Result</th><th>Clause</th><th>Check and observed values</th></tr>"
    );
    for c in &report.clauses {
        let badge = match c.outcome {
            Outcome::Pass => "b-pass",
            Outcome::Fail => "b-fail",
            Outcome::Error => "b-error",
            Outcome::Warn => "b-warn",
            Outcome::Skipped => "b-skipped",
        };
        let observed: Vec<String> = c
            .observed
            .iter()
            .map(|o| {
                format!(
                    "<code>{}</code> = <b>{}</b>",
                    escape(&o.fact),
                    escape(&o.display)
                )
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td><span class=\"badge {badge}\">{}</span></td><td><b>{}</b>{}{}</td><td><code>{}</code><div class=\"observed\">{}</div>{}</td></tr>",
            c.outcome.label(),
            escape(&c.name),
            c.phase.as_ref().map(|p| format!("<div class=\"meta\">phase {}</div>", escape(p))).unwrap_or_default(),
            c.description.as_ref().map(|d| format!("<div class=\"meta\">{}</div>", escape(d))).unwrap_or_default(),
            escape(&c.check),
            observed.join(" · "),
            c.problem.as_ref().map(|p| format!("<div class=\"problem\">{}</div>", escape(p))).unwrap_or_default()
        );
    }
    h.push_str("</table></div>");

    h.push_str(
        "<h2>Phases</h2><div class=\"card\"><table><tr><th>Phase</th><th>Rate asked</th><th class=\"num\">Requests</th>\
         <th class=\"num\">Achieved</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th>\
         <th class=\"num\">max</th><th class=\"num\">Failed</th><th class=\"num\">Late</th></tr>",
    );
    for p in &report.phases {
        let r = &p.report;
        let _ = write!(
            h,
            "<tr><td><b>{}</b>{}</td><td>{} for {}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}/s</td>\
             <td class=\"num\">{:.2}ms</td><td class=\"num\">{:.2}ms</td><td class=\"num\">{:.2}ms</td><td class=\"num\">{:.2}ms</td>\
             <td class=\"num\">{:.2}%</td><td class=\"num\">{}</td></tr>",
            escape(&p.name),
            if p.warmup_s > 0.0 {
                format!("<div class=\"meta\">after {} warm-up</div>", seconds(p.warmup_s))
            } else {
                String::new()
            },
            escape(&p.rate),
            seconds(p.duration_s),
            r.requests,
            r.rps,
            r.latency_ms.p50,
            r.latency_ms.p95,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.error_rate * 100.0,
            r.late
        );
    }
    h.push_str("</table></div>");

    let x_max = report.phases.last().map_or(1.0, |p| p.end_s);
    let mut bands = Vec::new();
    for (i, p) in report.phases.iter().enumerate() {
        let fill = BAND_FILLS[i % BAND_FILLS.len()];
        if let Some(w) = p.warmup_start_s {
            bands.push(Band {
                x0: w,
                x1: p.start_s,
                label: "warm-up".into(),
                fill: "#f4f4f4",
                fault: false,
            });
        }
        bands.push(Band {
            x0: p.start_s,
            x1: p.end_s,
            label: p.name.clone(),
            fill,
            fault: false,
        });
    }
    // Faults of one phase share a window: one band, all their names.
    let mut windows: Vec<(f64, f64, Vec<String>)> = Vec::new();
    for f in &report.faults {
        let (x0, x1) = (f.applied_s, f.removed_s.unwrap_or(x_max));
        let what = format!("{} on {}", f.toxic, f.proxy);
        match windows
            .iter_mut()
            .find(|w| (w.0 - x0).abs() < 0.5 && (w.1 - x1).abs() < 0.5)
        {
            Some(w) => w.2.push(what),
            None => windows.push((x0, x1, vec![what])),
        }
    }
    for (x0, x1, names) in windows {
        bands.push(Band {
            x0,
            x1,
            label: format!("fault: {}", names.join(", ")),
            fill: "#e5484d",
            fault: true,
        });
    }
    // One segment per phase: the gaps between phases (warm-ups) stay gaps.
    let series = |f: &dyn Fn(&ballast_core::TimelinePoint) -> f64| -> Vec<Vec<(f64, f64)>> {
        report
            .phases
            .iter()
            .map(|p| {
                p.report
                    .timeline
                    .iter()
                    .map(|pt| (p.start_s + pt.t as f64 + 0.5, f(pt)))
                    .collect()
            })
            .collect()
    };
    let line =
        |label: &str, color: &'static str, segments: Vec<Vec<(f64, f64)>>, dashed: bool| Line {
            label: label.to_string(),
            color,
            segments,
            dashed,
        };
    h.push_str("<h2>Over time</h2><div class=\"card\">");
    h.push_str(&chart(
        "Latency from due time (coordinated-omission corrected)",
        "ms",
        &[
            line("p50", "#2f6fdb", series(&|p| p.p50), false),
            line("p90", "#e0952a", series(&|p| p.p90), false),
            line("p99", "#c93434", series(&|p| p.p99), false),
        ],
        &bands,
        x_max,
    ));
    let asked: Vec<Vec<(f64, f64)>> = report
        .phases
        .iter()
        .filter_map(|p| {
            let spec = p.rate.parse::<RateSpec>().ok()?;
            Some(vec![
                (p.start_s, spec.at_fraction(0.0).per_second()),
                (p.end_s, spec.at_fraction(1.0).per_second()),
            ])
        })
        .collect();
    h.push_str(&chart(
        "Requests per second: achieved vs asked",
        "/s",
        &[
            line("asked", "#8b93a3", asked, true),
            line("achieved", "#1f8f4e", series(&|p| p.requests as f64), false),
        ],
        &bands,
        x_max,
    ));
    h.push_str(&chart(
        "Failed requests per second (errors and unexpected statuses)",
        "",
        &[
            line("failed", "#c93434", series(&|p| p.failures as f64), false),
            line("5xx", "#e0952a", series(&|p| p.status_5xx as f64), true),
        ],
        &bands,
        x_max,
    ));
    for (name, points) in &report.metrics {
        // Counters are shown as their per-second rate; gauges as they are.
        let (title, shown) = if name.ends_with("_total") {
            let rate: Vec<(f64, f64)> = points
                .windows(2)
                .filter(|w| w[1].0 > w[0].0)
                .map(|w| (w[1].0, (w[1].1 - w[0].1).max(0.0) / (w[1].0 - w[0].0)))
                .collect();
            (
                format!("Target metric {name}, per second (scraped every second)"),
                rate,
            )
        } else {
            (
                format!("Target metric {name} (scraped every second)"),
                points.clone(),
            )
        };
        h.push_str(&chart(
            &title,
            "",
            &[line(name, "#7a3fc1", vec![shown], false)],
            &bands,
            x_max,
        ));
    }
    let rss: Vec<(f64, f64)> = report
        .process
        .iter()
        .filter_map(|(t, b)| b.map(|b| (*t, b as f64 / 1048576.0)))
        .collect();
    if !rss.is_empty() {
        h.push_str(&chart(
            "Process resident memory",
            "MiB",
            &[line("RSS", "#2f6fdb", vec![rss], false)],
            &bands,
            x_max,
        ));
    }
    h.push_str("</div>");
    if !report.profiles.is_empty() {
        h.push_str("<h2>Profiles</h2>");
        for p in &report.profiles {
            let _ = write!(
                h,
                "<div class=\"card\"><h3>{}</h3><p class=\"notes\">{} — {}</p>",
                escape(&p.phase),
                escape(&p.kinds.join(", ")),
                escape(&p.dir)
            );
            for e in &p.errors {
                let _ = write!(h, "<p class=\"notes\">not captured: {}</p>", escape(e));
            }
            for g in &p.graphs {
                let _ = write!(
                    h,
                    "<h4>{}</h4>{}",
                    escape(&g.title),
                    ballast_attribution::svg_frame(&g.title, &g.svg)
                );
            }
            h.push_str("</div>");
        }
    }
    if !report.notes.is_empty() {
        h.push_str("<h2>Notes</h2><div class=\"card\"><ul class=\"notes\">");
        for note in &report.notes {
            let _ = write!(h, "<li>{}</li>", escape(note));
        }
        h.push_str("</ul></div>");
    }
    let _ = write!(
        h,
        "<footer>Latency counts from each request's due time (open model). Phases are shaded; warm-ups are grey and not judged. \
         Generated by ballast {} — raw data in the JSON report.</footer></main></body></html>",
        escape(&report.ballast_version)
    );
    h
}

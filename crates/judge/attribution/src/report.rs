//! One self-contained HTML page: the flame graphs side by side and the findings.

use crate::attribute::{Attribution, Severity};
use crate::flame::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
.flames{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:1rem}\
.flames figure{margin:0;border:1px solid #ddd;border-radius:4px;padding:.5rem}\
.flames figcaption{font-weight:600;margin-bottom:.3rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{border-bottom:1px solid #eee;padding:.35rem .5rem;text-align:left;vertical-align:top}\
.critical{color:#fff;background:#c0392b}.warning{background:#f5c542}.info{background:#e8eef5}\
.sev{padding:.1rem .4rem;border-radius:3px;font-size:.8rem}\
code{font-size:.8rem;word-break:break-all}";

/// A self-contained HTML report (no external assets): the flame graphs (`(title, svg)`,
/// usually cpu, heap, goroutines and block) side by side in a CSS grid, then the findings
/// with their evidence and each dimension's top paths.
///
/// Each SVG is a document of its own in a frame ([`crate::svg_frame`]).
pub fn report_html(attribution: &Attribution, flames: &[(String, String)]) -> String {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ballast profile attribution</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body>\n<h1>Profile attribution</h1>\n");
    let count = |s: Severity| {
        attribution
            .findings
            .iter()
            .filter(|f| f.severity == s)
            .count()
    };
    html.push_str(&format!(
        "<p>{} critical, {} warning, {} info findings.</p>\n",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    ));
    if !flames.is_empty() {
        html.push_str("<div class=\"flames\">\n");
        for (title, svg) in flames {
            html.push_str(&format!(
                "<figure><figcaption>{}</figcaption>{}</figure>\n",
                escape(title),
                crate::flame::svg_frame(title, svg)
            ));
        }
        html.push_str("</div>\n");
    }
    html.push_str("<h2>Findings</h2>\n<table><tr><th>severity</th><th>dimension</th><th>finding</th><th>evidence</th></tr>\n");
    for f in &attribution.findings {
        let sev = match f.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        html.push_str(&format!(
            "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td>{}</td><td><strong>{}</strong><br>{}<br><small>rule {}</small></td><td>{:.1}% ({} of {}); {}<br><code>{}</code></td></tr>\n",
            f.dimension,
            escape(&f.title),
            escape(&f.why),
            escape(&f.rule),
            f.evidence.share * 100.0,
            crate::format_value(f.evidence.value, &f.evidence.unit),
            crate::format_value(f.evidence.total, &f.evidence.unit),
            escape(&f.evidence.detail),
            escape(&f.evidence.stack.join(" → "))
        ));
    }
    html.push_str("</table>\n<h2>Top paths</h2>\n");
    for d in &attribution.dimensions {
        html.push_str(&format!(
            "<h3>{} — {} ({} {})</h3>\n<table><tr><th>share</th><th>value</th><th>path</th></tr>\n",
            d.dimension,
            escape(&d.source),
            escape(&d.sample_type.kind),
            escape(&d.sample_type.unit)
        ));
        if d.top_paths.is_empty() {
            html.push_str("<tr><td colspan=\"3\">nothing in this profile</td></tr>\n");
        }
        for p in &d.top_paths {
            html.push_str(&format!(
                "<tr><td>{:.1}%</td><td>{}</td><td><code>{}</code></td></tr>\n",
                p.share * 100.0,
                crate::format_value(p.value, &d.sample_type.unit),
                escape(&p.stack.join(" → "))
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{attribute, CaptureView};
    use crate::fold::tests::profile;
    use crate::{flame_svg, fold, FlameOptions, FoldOptions, RuleSet};

    #[test]
    fn the_report_holds_every_flame_graph_and_finding_and_nothing_external() {
        let mut p = profile(&[(&["main.spin"], 9_000_000_000), (&["main.<idle>"], 1)]);
        p.duration_nanos = 10_000_000_000;
        let a = attribute(
            &CaptureView {
                cpu: Some(&p),
                ..Default::default()
            },
            &RuleSet::builtin(),
        );
        let svg = flame_svg(
            &fold(&p, 0, &FoldOptions::default()),
            &FlameOptions::default(),
        )
        .unwrap();
        let flames: Vec<(String, String)> = ["cpu", "heap", "goroutines", "block"]
            .iter()
            .map(|t| (t.to_string(), svg.clone()))
            .collect();
        let html = report_html(&a, &flames);
        assert_eq!(html.matches("<iframe").count(), 4);
        assert!(html.contains("main.spin takes"));
        assert!(html.contains("data:image/svg+xml;base64,"));
        assert!(html.contains("1 critical"));
        for external in ["src=\"http", "href=\"http", "<link", "<script src"] {
            assert!(!html.contains(external), "{external}");
        }
    }
}

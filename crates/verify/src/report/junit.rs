use super::{Outcome, VerifyReport};
use std::fmt::Write as _;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test suite per contract, one test case per clause, so CI systems
/// (GitLab, Jenkins, GitHub test reporters) show the verdict natively.
pub fn render_junit(report: &VerifyReport) -> String {
    let (_, fail, _, mut error, skipped) = report.tally();
    let aborted = usize::from(report.aborted.is_some());
    error += aborted;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"ballast verify\" tests=\"{}\" failures=\"{fail}\" errors=\"{error}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        report.clauses.len() + aborted,
        report.duration_s
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fail}\" errors=\"{error}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        escape(&report.contract),
        report.clauses.len() + aborted,
        report.duration_s
    );
    if let Some(reason) = &report.aborted {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}.experiment\" name=\"steady state held\">\n      <error message=\"{}\" type=\"Aborted\"/>\n    </testcase>",
            escape(&report.contract),
            escape(reason)
        );
    }
    for c in &report.clauses {
        let classname = format!(
            "{}.{}",
            report.contract,
            c.phase.as_deref().unwrap_or("all")
        );
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">",
            escape(&classname),
            escape(&c.name)
        );
        let observed: Vec<String> = c
            .observed
            .iter()
            .map(|o| format!("{} = {}", o.fact, o.display))
            .collect();
        let detail = format!("{}\n{}", c.check, observed.join("\n"));
        match c.outcome {
            Outcome::Pass => {}
            Outcome::Fail => {
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"ClauseFailed\">{}</failure>",
                    escape(&format!("{} does not hold", c.check)),
                    escape(&detail)
                );
            }
            Outcome::Error => {
                let _ = writeln!(
                    out,
                    "      <error message=\"{}\" type=\"NoData\">{}</error>",
                    escape(c.problem.as_deref().unwrap_or("could not be decided")),
                    escape(&detail)
                );
            }
            Outcome::Skipped => {
                let _ = writeln!(
                    out,
                    "      <skipped message=\"{}\"/>",
                    escape(c.problem.as_deref().unwrap_or("skipped"))
                );
            }
            Outcome::Warn => {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape(&format!("WARNING: {detail}"))
                );
            }
        }
        let _ = writeln!(out, "    </testcase>");
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}

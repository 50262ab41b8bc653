//! The rules-equivalence tool (`examples/rules_equivalence.rs`), run on fixtures of its own
//! (`tests/fixtures/equivalence/`): a file is equivalent to itself and to a rewrite that means
//! the same; a changed alert factor, a changed label value and a missing rule are each found,
//! where they are; bad input is one line and exit 2. promtool must be installed (Debian
//! package `prometheus`; scripts/test.sh installs it).
//!
//! The tool's code is compiled into this test (an example has no `CARGO_BIN_EXE_…`), and its
//! unit tests run with it.

#[allow(dead_code)]
#[path = "../examples/rules_equivalence/mod.rs"]
mod tool;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/equivalence")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs the tool over a day (short, so the suite stays quick; the fixtures' longest window
/// is 6 h) with the given extra arguments.
fn run(ours: &str, theirs: &str, extra: &[&str]) -> tool::Report {
    let mut args = vec![
        fixture(ours),
        fixture(theirs),
        "--duration".into(),
        "1d".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tool::run(&args)
}

fn show(r: &tool::Report) -> String {
    format!("exit {}\n{}\n{}", r.code, r.stdout, r.stderr)
}

/// The report's mismatch lines (`    at …`).
fn mismatches(r: &tool::Report) -> Vec<&str> {
    r.stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("at "))
        .collect()
}

#[test]
fn a_file_is_equivalent_to_itself_in_every_scenario() {
    let r = run("base.yml", "base.yml", &["--jobs", "2"]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert!(
        r.stdout.contains(
            "verdict: EQUIVALENT healthy=equal blip=equal outage=equal slow-burn=equal ramp=equal"
        ),
        "{}",
        show(&r)
    );
    // The scenarios do make the alert fire, so alerts are compared while firing, too.
    assert!(
        r.stdout.contains("alert ShopHighErrorRate: fires"),
        "{}",
        show(&r)
    );
    assert!(mismatches(&r).is_empty(), "{}", show(&r));
}

#[test]
fn the_same_rules_written_otherwise_are_equivalent() {
    // A PrometheusRule object, quotes, `sum by ()`, 60m for 1h, 1e-3, label order: the
    // meaning is the same. The single-quoted selector is renamed textually.
    let r = run("equivalent-k8s.yml", "base.yml", &["--jobs", "2"]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert!(r.stdout.contains(", 1 textually,"), "{}", show(&r));
}

#[test]
fn a_changed_alert_factor_is_found_at_that_alert() {
    // 14.4 → 13 only shows when the 1 h error ratio passes between 13x and 14.4x the
    // budget while the 6 h one stays low: the ramp's fast part does that.
    let r = run("factor.yml", "base.yml", &["--scenario", "ramp"]);
    assert_eq!(r.code, 1, "{}", show(&r));
    assert!(
        r.stdout.contains("verdict: DIFFERENT ramp=different"),
        "{}",
        show(&r)
    );
    let m = mismatches(&r);
    assert!(!m.is_empty(), "{}", show(&r));
    assert!(
        m.iter().all(|l| l.contains("alert ShopHighErrorRate")),
        "only the alert differs, no recording rule:\n{}",
        show(&r)
    );
    assert!(
        m.iter().any(|l| l.contains("firing in OURS only")),
        "a lower factor pages earlier:\n{}",
        show(&r)
    );
    // The firing intervals of both files are reported, and differ.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("alert ShopHighErrorRate: THEIRS fires")
                && l.contains("; OURS fires")),
        "{}",
        show(&r)
    );
}

#[test]
fn a_changed_label_value_on_a_recording_rule_is_found() {
    let r = run("label.yml", "base.yml", &["--scenario", "healthy"]);
    assert_eq!(r.code, 1, "{}", show(&r));
    let m = mismatches(&r);
    assert!(
        m.iter()
            .any(|l| l.contains("record shop:sli_error:ratio_rate1h{")
                && l.contains("labels differ: THEIRS tier=\"2\", OURS tier=\"3\"")),
        "{}",
        show(&r)
    );
}

#[test]
fn a_changed_window_is_found_in_the_values() {
    // Even healthy traffic varies (errors over 7 h, volume over a day), so a 20 minute
    // window does not give what a 30 minute one gives.
    let r = run("window.yml", "base.yml", &["--scenario", "healthy"]);
    assert_eq!(r.code, 1, "{}", show(&r));
    let m = mismatches(&r);
    assert!(
        m.iter()
            .any(|l| l.contains("record shop:sli_error:ratio_rate30m{")
                && l.contains(": THEIRS ")
                && l.contains(", OURS ")),
        "{}",
        show(&r)
    );
    assert!(
        m.iter()
            .all(|l| !l.contains("ratio_rate5m{") && !l.contains("ratio_rate1h{")),
        "only the 30m ratio differs:\n{}",
        show(&r)
    );
}

#[test]
fn a_missing_rule_is_found() {
    let r = run("missing.yml", "base.yml", &["--scenario", "outage"]);
    assert_eq!(r.code, 1, "{}", show(&r));
    assert!(
        r.stdout
            .contains("static difference: record shop:sli_error:ratio_rate6h is only in THEIRS"),
        "{}",
        show(&r)
    );
    let m = mismatches(&r);
    assert!(
        m.iter()
            .any(|l| l.contains("record shop:sli_error:ratio_rate6h{")
                && l.contains("only THEIRS has this series")),
        "{}",
        show(&r)
    );
    // Without its 6 h ratio, OURS' page stops earlier after the outage.
    assert!(
        m.iter()
            .any(|l| l.contains("alert ShopHighErrorRate") && l.contains("in THEIRS only")),
        "{}",
        show(&r)
    );
}

#[test]
fn bad_input_is_one_line_naming_the_file_and_exit_2() {
    let r = run("bad-expr.yml", "base.yml", &[]);
    assert_eq!(r.code, 2, "{}", show(&r));
    assert_eq!(r.stderr.lines().count(), 1, "{}", show(&r));
    assert!(
        r.stderr.contains("bad-expr.yml:5:9:") && r.stderr.contains("does not parse"),
        "{}",
        show(&r)
    );

    let r = run("no-such-file.yml", "base.yml", &[]);
    assert_eq!(r.code, 2, "{}", show(&r));
    assert!(
        r.stderr.contains("no-such-file.yml: cannot read"),
        "{}",
        show(&r)
    );

    let r = tool::run(&["only-one.yml".to_string()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("usage:"), "{}", r.stderr);
}

/// The kept `*.test.yml` is a plain promtool test: it passes for equivalent files and fails
/// for different ones, without the tool.
#[test]
fn the_kept_test_file_passes_promtool_only_when_equivalent() {
    let promtool = |dir: &PathBuf| {
        Command::new("promtool")
            .args(["test", "rules", "healthy.test.yml"])
            .current_dir(dir)
            .output()
            .expect("promtool runs (Debian package `prometheus`; scripts/test.sh installs it)")
    };
    let same = ballast_testkit::TempDir::new("equivalence-same");
    let r = run(
        "base.yml",
        "base.yml",
        &[
            "--scenario",
            "healthy",
            "--keep",
            same.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", show(&r));
    let out = promtool(&same.path().to_path_buf());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let differ = ballast_testkit::TempDir::new("equivalence-differ");
    let r = run(
        "label.yml",
        "base.yml",
        &[
            "--scenario",
            "healthy",
            "--keep",
            differ.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", show(&r));
    let out = promtool(&differ.path().to_path_buf());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tier=\"3\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

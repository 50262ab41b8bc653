//! Golden files: the rules generated for each spec in tests/golden/ are compared with the
//! committed `*.rules.yaml` (run with UPDATE_GOLDEN=1 to rewrite them after a deliberate
//! change), and every one passes `promtool check rules`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (Debian package `prometheus`; scripts/test.sh installs it)")
}

/// The rule files in `golden`: itself, or for `PrometheusRule` objects (which promtool does
/// not read) each object's `spec` written beside it as a rule file of its own.
fn rule_files(golden: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(golden).unwrap();
    if !text.contains("kind: PrometheusRule") {
        return vec![golden.to_path_buf()];
    }
    let dir = std::env::temp_dir().join(format!("ballast-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let docs = ballast_contract::yaml::parse_documents(&text).unwrap();
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            let object = doc.to_json();
            assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1", "{object}");
            let stem = golden.file_stem().unwrap().to_string_lossy();
            let file = dir.join(format!("{stem}-{i}.json"));
            std::fs::write(&file, object["spec"].to_string()).unwrap();
            file
        })
        .collect()
}

#[test]
fn generated_rules_match_the_golden_files_and_pass_promtool() {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !p.to_string_lossy().ends_with(".rules.yaml")
        })
        .collect();
    specs.sort();
    assert!(specs.len() >= 4);
    for spec in specs {
        let slos =
            ballast_slo::load_file(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        let rules = ballast_slo::rules::generate(&slos).unwrap();
        let golden = spec.with_extension("rules.yaml");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &rules).unwrap();
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", golden.display()));
        assert_eq!(
            rules,
            expected,
            "{} changed; review and run with UPDATE_GOLDEN=1",
            golden.display()
        );
        for file in rule_files(&golden) {
            let out = promtool(&["check", "rules", file.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn promtool_unit_tests_fire_on_a_burn_and_stay_silent_when_healthy() {
    let test_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promtool/shop_burn_test.yaml");
    let out = promtool(&["test", "rules", test_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Inputs the fuzzer found (fuzz/artifacts/contract), kept as regression tests.

use std::path::Path;

fn check(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match ballast_contract::Contract::parse(text, "fuzz.yaml", Path::new("/nonexistent")) {
        Ok(c) => assert!(!c.phases.is_empty()),
        Err(ballast_contract::Error::Invalid(d)) => {
            let lines = text.split(['\n', '\r']).count().max(1) + 1;
            for d in d {
                assert!(d.line >= 1 && d.line <= lines, "{d}");
            }
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        check(&std::fs::read(entry.unwrap().path()).unwrap());
    }
}

/// Clause expressions the fuzzer found (fuzz/artifacts/clause_expr): what parses prints
/// back to text that parses to the same expression and prints the same again.
#[test]
fn expression_findings_print_back() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions-expr");
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(parsed) = ballast_contract::expr::parse(text) {
            let printed = parsed.to_string();
            let again = ballast_contract::expr::parse(&printed)
                .unwrap_or_else(|e| panic!("{printed}: {e}"));
            assert_eq!(again.to_string(), printed, "from {text:?}");
        }
    }
}

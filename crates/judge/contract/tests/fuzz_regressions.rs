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

//! Contract files: whatever the bytes, the loader answers with a contract or diagnostics
//! that point inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match ballast_contract::Contract::parse(text, "fuzz.yaml", std::path::Path::new("/nonexistent")) {
            Ok(contract) => assert!(!contract.phases.is_empty()),
            Err(ballast_contract::Error::Invalid(diagnostics)) => {
                assert!(!diagnostics.is_empty());
                // YAML breaks lines at \r as well as \n.
                let lines = text.split(['\n', '\r']).count().max(1) + 1;
                for d in diagnostics {
                    assert!(d.line >= 1 && d.line <= lines, "{d}");
                }
            }
            Err(other) => panic!("unexpected error kind: {other}"),
        }
    }
});

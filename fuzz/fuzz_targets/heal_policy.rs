//! Heal policy files: the reader never panics, and every error names a line of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ballast_heal_policy::Policies::parse(text, "fuzz.yaml", ".".as_ref()) {
        Ok(p) => assert!(!p.policies.is_empty()),
        Err(ballast_heal_policy::Error::Invalid(problems)) => {
            assert!(!problems.is_empty());
            // YAML breaks lines at \r\n, \n and a lone \r alike.
            let lines = text.replace("\r\n", "\n").replace('\r', "\n").split('\n').count();
            for d in problems {
                assert!(d.line >= 1 && d.line <= lines + 1, "{d}");
            }
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});

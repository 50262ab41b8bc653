//! Go's goroutine?debug=2 text dump: the parser never panics, and an error names a line
//! of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ballast_profile::is_goroutine_text(data);
    match ballast_profile::parse_goroutines(text) {
        Ok(dump) => {
            for g in &dump.goroutines {
                assert!(!g.state.is_empty());
            }
        }
        Err(ballast_profile::Error::Goroutines { line, .. }) => {
            assert!(line >= 1 && line <= text.lines().count() + 1);
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});

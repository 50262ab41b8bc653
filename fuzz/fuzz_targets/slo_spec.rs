//! SLO specs (Sloth, OpenSLO, contracts): load, and when they load, generate rules.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match ballast_slo::load_str(text, "fuzz.yaml", std::path::Path::new("/nonexistent")) {
            Ok(slos) => {
                let _ = ballast_slo::rules::generate(&slos);
            }
            Err(ballast_slo::Error::Invalid(d)) => assert!(!d.is_empty()),
            Err(_) => {}
        }
    }
});

//! SLO specs (Sloth plain and Kubernetes, OpenSLO, Pyrra, contracts) and Sloth alert-window
//! files: load, and when they load, generate rules in both flavours (built, checked by the
//! PromQL parser, written).
#![no_main]
use ballast_slo::rules::{Flavour, RuleOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let windows = match ballast_slo::alert_windows_str(text, "windows.yaml") {
        Ok(w) => w,
        Err(ballast_slo::Error::Invalid(d)) => {
            assert!(!d.is_empty());
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    match ballast_slo::load_str(text, "fuzz.yaml", std::path::Path::new("/nonexistent")) {
        Ok(mut slos) => {
            ballast_slo::apply_periods(
                &mut slos,
                Some(std::time::Duration::from_secs(7 * 86_400)),
                &windows,
            );
            for flavour in [Flavour::Ballast, Flavour::Sloth] {
                let options = RuleOptions {
                    flavour,
                    ..RuleOptions::default()
                };
                let _ = ballast_slo::rules::generate_with(&slos, &options);
            }
        }
        Err(ballast_slo::Error::Invalid(d)) => assert!(!d.is_empty()),
        Err(_) => {}
    }
});

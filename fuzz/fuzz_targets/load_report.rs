//! `ballast report merge` inputs: JSON files from other machines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(report) = ballast_load::Report::from_json(text, "fuzz.json") {
            let _ = report.summary();
            let _ = ballast_load::Report::merge(&[report.clone(), report]);
        }
    }
});

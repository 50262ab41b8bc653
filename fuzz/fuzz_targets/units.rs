//! Rates, durations and histograms as users and files write them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = text.parse::<ballast_core::RateSpec>() {
            let length = std::time::Duration::from_secs(10);
            let _ = spec.offset_of(12_345, length);
            let _ = spec.due_by(length / 2, length);
            assert_eq!(spec.to_string().parse::<ballast_core::RateSpec>().is_ok(), true);
        }
        let _ = ballast_core::parse_duration(text);
        let _ = ballast_core::LatencyHistogram::decode(text);
    }
});

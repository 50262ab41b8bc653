//! Prometheus text exposition from the target's /metrics page.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(series) = ballast_http::scrape::parse_exposition(text) {
            for s in series {
                assert!(!s.name.is_empty());
            }
        }
    }
});

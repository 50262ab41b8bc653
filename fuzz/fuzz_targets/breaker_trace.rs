//! Breaker traces (`ballast breaker replay`): any text parses or fails with a located error,
//! and whatever parses replays through the real breaker without panicking.
#![no_main]
use ballast_tower::breaker::replay::{parse_trace, replay};
use ballast_tower::breaker::BreakerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_trace(text, "fuzz.csv") {
        Ok(calls) => {
            let config = BreakerConfig { minimum_calls: 3, ..Default::default() };
            let report = replay(&config, &calls).expect("a valid config replays");
            assert_eq!(report.admitted + report.rejected, calls.len() as u64);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.csv:"), "{message}");
        }
    }
});

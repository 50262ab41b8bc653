//! Rates, durations, histograms, sizes, shares and signals as users and files write them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = text.parse::<ballast_core::RateSpec>() {
            let length = std::time::Duration::from_secs(10);
            let _ = spec.offset_of(12_345, length);
            let _ = spec.due_by(length / 2, length);
            assert!(spec.to_string().parse::<ballast_core::RateSpec>().is_ok());
        }
        let _ = ballast_core::parse_duration(text);
        let _ = ballast_core::LatencyHistogram::decode(text);
        sizes_shares_signals(text);
    }
});

fn sizes_shares_signals(text: &str) {
    if let Ok(bytes) = ballast_core::parse_bytes(text) {
        assert!(bytes <= 1 << 50, "{text:?} is {bytes} bytes");
        for written in [format!("{bytes}B"), format!(" {bytes} B ")] {
            assert_eq!(
                ballast_core::parse_bytes(&written).ok(),
                Some(bytes),
                "{written:?}"
            );
        }
    }
    if let Ok(share) = ballast_core::parse_percent(text) {
        assert!((0.0..=1.0).contains(&share), "{text:?} is {share}");
        // Written back as a percentage, it reads as (nearly) the same share.
        let percent = share * 100.0;
        if percent <= 100.0 {
            let again = ballast_core::parse_percent(&format!("{percent}%"))
                .unwrap_or_else(|e| panic!("{text:?} as {percent}%: {e}"));
            assert!(
                (again - share).abs() <= 1e-15,
                "{text:?}: {share} then {again}"
            );
        }
    }
    if let Ok(signal) = text.parse::<ballast_core::Signal>() {
        let name = signal.name();
        assert_eq!(
            ballast_core::Signal::from_number(signal.number()),
            Some(signal)
        );
        for written in [
            name.to_string(),
            name[3..].to_ascii_lowercase(),
            signal.number().to_string(),
            signal.to_string(),
        ] {
            assert_eq!(
                written.parse::<ballast_core::Signal>().ok(),
                Some(signal),
                "{written:?}"
            );
        }
    }
}

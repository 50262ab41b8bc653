//! ballast-anomaly's readers of outside input: CSV series, NAB result files, NAB windows
//! and profiles JSON, PromQL API answers, detector configs. The first byte picks the
//! reader; each must give a value or an error, never panic. Whatever parses as a series is
//! also run through every built-in detector, whose scores must stay in [0, 1], and
//! through the trend test and the baseline.
#![no_main]
use ballast_anomaly::input::{csv, nab};
use ballast_anomaly::{prom, DetectorConfig};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn exercise(series: &ballast_anomaly::Series) {
    for name in DetectorConfig::NAMES {
        let mut d = DetectorConfig::named(name).unwrap().build().unwrap();
        for p in &series.points {
            let s = d.score(p.t, p.v);
            assert!((0.0..=1.0).contains(&s), "{name}: {s}");
        }
    }
    let _ = ballast_anomaly::trend::analyse(series, &Default::default(), Some(1e6));
    let _ = ballast_anomaly::baseline::Baseline::compute(series, &Default::default());
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let path = Path::new("fuzz");
    match which % 7 {
        0 => {
            if let Ok(s) = csv::parse_series(text, path) {
                assert!(s.points.windows(2).all(|w| w[0].t <= w[1].t));
                exercise(&s);
            }
        }
        1 => {
            let _ = csv::parse_nab_results(text, path);
        }
        2 => {
            let _ = nab::parse_windows_str(text, path);
        }
        3 => {
            let _ = nab::parse_profiles_str(text, path);
        }
        4 => {
            if let Ok(all) = prom::parse_range_response(text) {
                for s in &all {
                    exercise(s);
                }
            }
        }
        5 => {
            let _ = prom::parse_instant_response(text);
        }
        _ => {
            if let Ok(config) = serde_json::from_str::<DetectorConfig>(text) {
                if config.validate().is_ok() {
                    let mut d = config.build().unwrap();
                    for i in 0..2000 {
                        let s = d.score(i as f64, (i % 17) as f64);
                        assert!((0.0..=1.0).contains(&s));
                    }
                }
            }
        }
    }
});

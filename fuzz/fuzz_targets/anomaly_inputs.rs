//! ballast-anomaly's readers of outside input: CSV series, NAB result files, NAB windows
//! and profiles JSON, detector configs; and the PromQL API answers (ballast-http) it
//! judges. The first byte picks the reader; each must give a value or an error, never
//! panic. A CSV series is read under the row policy the second byte picks (rows out of time order: error, keep, sort, drop;
//! repeated timestamps: error, keep, first, last), which must keep its promises. Whatever
//! parses as a series is also run through every built-in detector, whose scores must stay
//! in [0, 1], and through the trend test and the baseline — in file order too, since NAB
//! mode and `--unordered keep` hand detectors rows as the file has them.
#![no_main]
use ballast_anomaly::input::csv::{Duplicates, RowPolicy, Unordered};
use ballast_anomaly::input::{csv, nab};
use ballast_anomaly::DetectorConfig;
use ballast_http::prom;
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

fn policy(byte: u8) -> RowPolicy {
    let unordered = [
        Unordered::Error,
        Unordered::Keep,
        Unordered::Sort,
        Unordered::Drop,
    ];
    let duplicates = [
        Duplicates::Error,
        Duplicates::Keep,
        Duplicates::First,
        Duplicates::Last,
    ];
    RowPolicy {
        unordered: unordered[usize::from(byte % 4)],
        duplicates: duplicates[usize::from(byte / 4 % 4)],
    }
}

fn series_under_a_policy(byte: u8, text: &str, path: &Path) {
    let policy = policy(byte);
    let Ok((s, report)) = csv::parse_series_with(text, path, policy) else {
        return;
    };
    assert_eq!(report.kept(), s.points.len());
    let ordered = s.points.windows(2).all(|w| w[0].t <= w[1].t);
    let distinct = s.points.windows(2).all(|w| w[0].t < w[1].t);
    if policy.unordered != Unordered::Keep {
        assert!(ordered, "{policy:?}");
        if matches!(policy.duplicates, Duplicates::First | Duplicates::Last) {
            assert!(distinct, "{policy:?}");
        }
    }
    if policy == RowPolicy::default() {
        // The default changes nothing: it reads the file or refuses it.
        assert_eq!(report.kept(), report.rows);
        assert_eq!(csv::parse_series(text, path).ok(), Some(s.clone()));
    }
    exercise(&s);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let path = Path::new("fuzz");
    if which % 7 == 0 {
        let Some((&byte, rest)) = rest.split_first() else {
            return;
        };
        if let Ok(text) = std::str::from_utf8(rest) {
            series_under_a_policy(byte, text, path);
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 7 {
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

//! Tests of `config.rs`.

use super::*;

#[test]
fn empty_config_is_the_default() {
    let config: BreakerConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, BreakerConfig::default());
    config.validate().unwrap();
}

#[test]
fn durations_and_thresholds_parse_from_text() {
    let config: BreakerConfig = serde_json::from_str(
        r#"{"window": "5s", "buckets": 10, "open_for": "2s",
            "thresholds": {"static": {"failure_rate": 0.3, "slow_call_duration": "250ms"}}}"#,
    )
    .unwrap();
    assert_eq!(config.window, Duration::from_secs(5));
    match config.thresholds {
        Thresholds::Static(s) => {
            assert_eq!(s.failure_rate, 0.3);
            assert_eq!(s.slow_call_duration, Duration::from_millis(250));
        }
        other => panic!("expected static thresholds, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_refused() {
    let err = serde_json::from_str::<BreakerConfig>(r#"{"windw": "5s"}"#).unwrap_err();
    assert!(err.to_string().contains("windw"), "{err}");
}

#[test]
fn out_of_range_values_name_their_field() {
    let mut config = BreakerConfig {
        half_open_probes: 300,
        ..Default::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.starts_with("half_open_probes:"), "{err}");
    config.half_open_probes = 5;
    config.thresholds = Thresholds::Learned(LearnedThresholds {
        failure_rate_floor: 0.9,
        ..Default::default()
    });
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.starts_with("thresholds.learned.failure_rate_floor:"),
        "{err}"
    );
}

#[test]
fn round_trips_through_json() {
    let config = BreakerConfig {
        call_timeout: Some(Duration::from_micros(1500)),
        ..Default::default()
    };
    let text = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<BreakerConfig>(&text).unwrap(),
        config
    );
}

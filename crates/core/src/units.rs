//! Durations, sizes and shares as people write them in flags and contracts.

use crate::Error;
use std::time::Duration;

/// Longest duration accepted anywhere (a year): far beyond any run, short of overflow.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Parses a duration such as `250ms`, `1.5s`, `2m`, `1h30m`, `500us` (or `500µs`).
///
/// Units: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`. Parts may be chained (`1m30s`) and
/// carry decimals (`1.5s`). A bare `0` is accepted; any other number needs a unit,
/// because `--timeout 2` is ambiguous.
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    let fail = |hint: &str| Error::Duration {
        input: input.to_string(),
        hint: hint.to_string(),
    };
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(fail(""));
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(fail(""));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| fail(""))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "" => return Err(fail(" (missing unit: add one of ms, s, m, h)")),
            _ => return Err(fail(" (units are ns, us, ms, s, m, h, d)")),
        };
        total += number * scale;
    }
    if !total.is_finite() || total > MAX_SECONDS {
        return Err(fail(" (longer than a year)"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Largest size accepted anywhere (1 PiB): far beyond any machine, short of overflow.
const MAX_BYTES: f64 = (1u64 << 50) as f64;

/// Parses a size such as `256MiB`, `1.5GiB`, `64KiB`, `500MB` or `4096B`, in bytes.
///
/// Units: `B`, `KB`/`MB`/`GB` (powers of 1000), `KiB`/`MiB`/`GiB` (powers of 1024), as
/// in clauses. A bare `0` is accepted; any other number needs a unit.
pub fn parse_bytes(input: &str) -> Result<u64, Error> {
    let fail = |hint: &str| Error::Size {
        input: input.to_string(),
        hint: hint.to_string(),
    };
    let text = input.trim();
    if text == "0" {
        return Ok(0);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| fail(""))?;
    let scale = match unit.trim() {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1_048_576.0,
        "GiB" => 1_073_741_824.0,
        "" => return Err(fail(" (missing unit: add one of B, KiB, MiB, GiB)")),
        _ => return Err(fail(" (units are B, KB, MB, GB, KiB, MiB, GiB)")),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes > MAX_BYTES {
        return Err(fail(" (more than 1 PiB)"));
    }
    Ok(bytes.round() as u64)
}

/// Formats a size for people, in the units [`parse_bytes`] reads: `512B`, `64MiB`,
/// `1.5GiB` (one decimal when not whole).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// Parses a share written as a percentage (`80%`, `0.5%`) into 0..=1.
pub fn parse_percent(input: &str) -> Result<f64, Error> {
    let fail = || Error::Share {
        input: input.to_string(),
    };
    let number = input.trim().strip_suffix('%').ok_or_else(fail)?;
    let value: f64 = number.trim().parse().map_err(|_| fail())?;
    if !(0.0..=100.0).contains(&value) {
        return Err(fail());
    }
    Ok(value / 100.0)
}

/// Formats a duration for people: `850µs`, `12.3ms`, `1.50s`, `2m05s`.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0}µs")
    } else if micros < 10_000.0 {
        format!("{:.2}ms", micros / 1000.0)
    } else if micros < 1_000_000.0 {
        format!("{:.1}ms", micros / 1000.0)
    } else if micros < 60_000_000.0 {
        format!("{:.2}s", micros / 1e6)
    } else if micros < 3_600_000_000.0 {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if micros < 86_400_000_000.0 {
        let minutes = d.as_secs() / 60;
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    } else {
        let hours = d.as_secs() / 3600;
        match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        }
    }
}

/// Serde support for [`Duration`] fields written as text (`"250ms"`, `"1.5s"`).
///
/// Use with `#[serde(with = "ballast_core::duration_text")]`.
pub mod duration_text {
    use super::{format_duration, parse_duration};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes the duration the way [`format_duration`] shows it.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_duration(*d))
    }

    /// Reads a duration with [`parse_duration`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_and_shares() {
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_bytes("0").unwrap(), 0);
        for bad in ["256", "MiB", "1 TiB", "-1MiB", "", "1e99GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(format_bytes(512), "512B");
        assert_eq!(format_bytes(256 << 20), "256MiB");
        assert_eq!(format_bytes(3 << 29), "1.5GiB");
        for b in [1u64, 1023, 1024, 4 << 20, 7 << 30] {
            assert_eq!(parse_bytes(&format_bytes(b)).unwrap(), b);
        }
        assert!(parse_bytes("256")
            .unwrap_err()
            .to_string()
            .contains("missing unit"));
        assert_eq!(parse_percent("80%").unwrap(), 0.8);
        assert_eq!(parse_percent(" 0.5 %").unwrap(), 0.005);
        for bad in ["80", "101%", "-1%", "x%"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("500µs").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration(" 2h ").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_with_hints() {
        let err = parse_duration("2").unwrap_err().to_string();
        assert!(err.contains("missing unit"), "{err}");
        let err = parse_duration("2 parsecs").unwrap_err().to_string();
        assert!(err.contains("units are"), "{err}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1..2s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn formats_by_magnitude() {
        assert_eq!(format_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(format_duration(Duration::from_micros(1234)), "1.23ms");
        assert_eq!(format_duration(Duration::from_millis(123)), "123.0ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.50s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            format_duration(Duration::from_secs(2 * 3600 + 300)),
            "2h05m"
        );
        assert_eq!(format_duration(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 7200)), "1d2h");
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn millis_round_trip(ms in 0u64..10_000_000) {
            let parsed = parse_duration(&format!("{ms}ms")).unwrap();
            prop_assert!((parsed.as_secs_f64() - ms as f64 / 1000.0).abs() < 1e-6);
        }
    }
}

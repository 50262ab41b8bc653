//! Request rates and the open-model schedule they imply.

use crate::Error;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Highest rate accepted: ten million requests per second, beyond any one machine.
const MAX_PER_SECOND: f64 = 1e7;

/// A rate in requests per second (finite, ≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// A rate of `per_second` requests per second; `None` if negative, not finite or
    /// above ten million per second.
    pub fn per_second_checked(per_second: f64) -> Option<Self> {
        (per_second.is_finite() && (0.0..=MAX_PER_SECOND).contains(&per_second))
            .then_some(Self(per_second))
    }

    /// Requests per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shortest form that parses back to the same rate (0.000212/s stays that).
        write!(f, "{}/s", self.0)
    }
}

impl FromStr for Rate {
    type Err = Error;

    /// `500/s`, `30/m`, `10/h`, or a bare number meaning per second.
    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |hint: &str| Error::Rate {
            input: input.to_string(),
            hint: hint.to_string(),
        };
        let text = input.trim();
        let (number, per) = match text.split_once('/') {
            Some((n, unit)) => {
                let seconds = match unit.trim() {
                    "s" | "sec" | "1s" => 1.0,
                    "m" | "min" | "1m" => 60.0,
                    "h" | "1h" => 3600.0,
                    _ => return Err(fail(" (the unit after '/' must be s, m or h)")),
                };
                (n.trim(), seconds)
            }
            None => (text, 1.0),
        };
        let value: f64 = number.parse().map_err(|_| fail(""))?;
        if value.is_sign_negative() {
            return Err(fail(" (a rate cannot be negative)"));
        }
        Rate::per_second_checked(value / per).ok_or_else(|| fail(" (at most 10000000/s)"))
    }
}

/// How the open model's rate evolves over a run: constant, or a linear ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateSpec {
    /// The same rate for the whole run.
    Constant(Rate),
    /// From `from` at the start to `to` at the end, linearly.
    Ramp {
        /// Rate at the start of the run.
        from: Rate,
        /// Rate at the end of the run.
        to: Rate,
    },
}

impl RateSpec {
    /// The rate at `fraction` (0..=1) of the run.
    pub fn at_fraction(&self, fraction: f64) -> Rate {
        match *self {
            RateSpec::Constant(r) => r,
            RateSpec::Ramp { from, to } => {
                let f = fraction.clamp(0.0, 1.0);
                Rate(from.0 + (to.0 - from.0) * f)
            }
        }
    }

    /// Whether this is a ramp (which needs a known run length).
    pub fn is_ramp(&self) -> bool {
        matches!(self, RateSpec::Ramp { .. })
    }

    /// This spec with every rate multiplied by `factor` (used to split a run into shards).
    pub fn scaled(&self, factor: f64) -> RateSpec {
        match *self {
            RateSpec::Constant(r) => RateSpec::Constant(Rate(r.0 * factor)),
            RateSpec::Ramp { from, to } => RateSpec::Ramp {
                from: Rate(from.0 * factor),
                to: Rate(to.0 * factor),
            },
        }
    }

    /// Intended send time of request `index` (0-based), as an offset from the start of a
    /// run lasting `length`, or `None` when the schedule has no such request within it.
    ///
    /// For a ramp r(t) = r0 + (r1 − r0)·t/D the number of requests due by t is
    /// N(t) = r0·t + (r1 − r0)·t²/(2D); this inverts N(t) = index in the form that stays
    /// exact when r1 = r0 and when r0 = 0.
    pub fn offset_of(&self, index: u64, length: Duration) -> Option<Duration> {
        let i = index as f64;
        let d = length.as_secs_f64();
        let seconds = match *self {
            RateSpec::Constant(r) if r.0 > 0.0 => i / r.0,
            RateSpec::Constant(_) => return None,
            RateSpec::Ramp { .. } if index == 0 => 0.0,
            RateSpec::Ramp { from, to } => {
                if d <= 0.0 {
                    return None;
                }
                let (r0, r1) = (from.0, to.0);
                let discriminant = r0 * r0 + 2.0 * (r1 - r0) * i / d;
                if discriminant < 0.0 {
                    return None;
                }
                let denominator = r0 + discriminant.sqrt();
                if denominator <= 0.0 {
                    return None;
                }
                2.0 * i / denominator
            }
        };
        (seconds.is_finite() && seconds < d).then(|| Duration::from_secs_f64(seconds))
    }

    /// How many requests the schedule sends in the first `elapsed` of a run lasting `length`.
    pub fn due_by(&self, elapsed: Duration, length: Duration) -> u64 {
        let t = elapsed.min(length).as_secs_f64();
        let d = length.as_secs_f64();
        let expected = match *self {
            RateSpec::Constant(r) => r.0 * t,
            RateSpec::Ramp { from, to } if d > 0.0 => {
                from.0 * t + (to.0 - from.0) * t * t / (2.0 * d)
            }
            RateSpec::Ramp { .. } => 0.0,
        };
        // Request k is due at offset_of(k); it is sent in [0, t) when k < expected.
        expected.max(0.0).ceil() as u64
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSpec::Constant(r) => write!(f, "{r}"),
            RateSpec::Ramp { from, to } => write!(f, "{from}..{to}"),
        }
    }
}

impl FromStr for RateSpec {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |hint: &str| Error::Rate {
            input: input.to_string(),
            hint: hint.to_string(),
        };
        match input.split_once("..") {
            Some((a, b)) => {
                let from: Rate = a.parse().map_err(|_| fail(" (the start of the ramp)"))?;
                let to: Rate = b.parse().map_err(|_| fail(" (the end of the ramp)"))?;
                if from.0 == 0.0 && to.0 == 0.0 {
                    return Err(fail(" (a ramp must reach a rate above zero)"));
                }
                Ok(RateSpec::Ramp { from, to })
            }
            None => {
                let rate: Rate = input.parse()?;
                if rate.0 == 0.0 {
                    return Err(fail(" (the rate must be above zero)"));
                }
                Ok(RateSpec::Constant(rate))
            }
        }
    }
}

impl serde::Serialize for RateSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units_and_ramps() {
        assert_eq!("500/s".parse::<Rate>().unwrap().per_second(), 500.0);
        assert_eq!("60/m".parse::<Rate>().unwrap().per_second(), 1.0);
        assert_eq!("250".parse::<Rate>().unwrap().per_second(), 250.0);
        let ramp: RateSpec = "100/s..2000/s".parse().unwrap();
        assert!(ramp.is_ramp());
        assert_eq!(ramp.to_string(), "100/s..2000/s");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "abc",
            "",
            "0",
            "-5/s",
            "5/fortnight",
            "1e99/s",
            "NaN",
            "0/s..0/s",
            "..5/s",
        ] {
            assert!(bad.parse::<RateSpec>().is_err(), "{bad} should be rejected");
        }
        let msg = "abc".parse::<RateSpec>().unwrap_err().to_string();
        assert!(msg.contains("\"abc\"") && msg.contains("500/s"), "{msg}");
    }

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let spec: RateSpec = "1000/s".parse().unwrap();
        let d = Duration::from_secs(1);
        assert_eq!(spec.offset_of(0, d), Some(Duration::ZERO));
        assert_eq!(spec.offset_of(500, d), Some(Duration::from_millis(500)));
        assert_eq!(spec.offset_of(1000, d), None);
        assert_eq!(spec.due_by(d, d), 1000);
    }

    #[test]
    fn ramp_sends_the_area_under_the_line() {
        let spec: RateSpec = "0/s..2000/s".parse().unwrap();
        let d = Duration::from_secs(10);
        // Area of the triangle: 10 s × 2000/s ÷ 2.
        assert_eq!(spec.due_by(d, d), 10_000);
        assert!(spec.offset_of(9_999, d).is_some());
        assert!(spec.offset_of(10_001, d).is_none());
        // Half the requests go out in the last ~29 % of the time.
        let mid = spec.offset_of(5_000, d).unwrap().as_secs_f64();
        assert!((mid - 7.071).abs() < 0.01, "{mid}");
    }

    #[test]
    fn tiny_rates_display_and_parse_back() {
        // Found by fuzzing: "0.000/s" (three decimals) parsed back as zero, an error.
        let spec: RateSpec = "000.00021200".parse().unwrap();
        assert_eq!(spec.to_string().parse::<RateSpec>().unwrap(), spec);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = s.parse::<RateSpec>();
        }

        #[test]
        fn schedule_is_monotonic_and_consistent(
            r0 in 0.0f64..5000.0, r1 in 1.0f64..5000.0, secs in 1u64..100, i in 0u64..100_000
        ) {
            let spec = RateSpec::Ramp { from: Rate(r0), to: Rate(r1) };
            let d = Duration::from_secs(secs);
            if let (Some(a), Some(b)) = (spec.offset_of(i, d), spec.offset_of(i + 1, d)) {
                prop_assert!(a <= b);
                // Request i is due strictly before its own offset + epsilon.
                let due = spec.due_by(b, d);
                prop_assert!(due > i && due <= i + 2, "due {} for i {}", due, i);
            }
        }
    }
}

//! The shape every input takes: a named series of `(time, value)` points in the order their
//! source gives them, and the timestamp formats people feed it (NAB's `2014-04-10 07:15:00`, RFC 3339, Unix seconds).

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Seconds since the Unix epoch (UTC).
    pub t: f64,
    /// The value.
    pub v: f64,
}

/// A named series, its points in the order its source gave them. Nothing here sorts them:
/// a source that reads in time order (a Prometheus range query; a CSV file under the default
/// row policy, `--unordered sort` or `--unordered drop`) gives timestamps that never
/// decrease, while a file kept in file order (NAB mode, `--unordered keep`) may step back.
/// Equal timestamps may appear unless `--duplicates first|last` removed them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Where it came from: a file name or the PromQL and its labels.
    pub name: String,
    /// The samples.
    pub points: Vec<Point>,
}

impl Series {
    /// A series from `(t, v)` pairs.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().map(|(t, v)| Point { t, v }).collect(),
        }
    }

    /// The values alone.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().map(|p| p.v)
    }

    /// The median spacing between samples in seconds (`None` below two points), which is
    /// the step a live query would use.
    pub fn typical_step(&self) -> Option<f64> {
        let mut gaps: Vec<f64> = self
            .points
            .windows(2)
            .map(|w| w[1].t - w[0].t)
            .filter(|g| *g > 0.0)
            .collect();
        if gaps.is_empty() {
            return None;
        }
        let mid = gaps.len() / 2;
        let (_, median, _) = gaps.select_nth_unstable_by(mid, f64::total_cmp);
        Some(*median)
    }
}

/// Parses a timestamp: `YYYY-MM-DD HH:MM:SS[.frac]` (NAB; UTC), the same with `T` and an
/// optional `Z` (RFC 3339 in UTC), or Unix seconds (`1700000000`, `1700000000.5`).
pub fn parse_timestamp(text: &str) -> Result<f64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty timestamp".into());
    }
    if s.len() < 10 || s.as_bytes()[4] != b'-' {
        return match s.parse::<f64>() {
            Ok(t) if t.is_finite() => Ok(t),
            _ => Err(format!(
                "expected \"YYYY-MM-DD HH:MM:SS\" or Unix seconds, got {s:?}"
            )),
        };
    }
    let bad = || {
        format!("expected \"YYYY-MM-DD HH:MM:SS\" (or RFC 3339 in UTC, or Unix seconds), got {s:?}")
    };
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, "00:00:00"),
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(dd), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let year: i64 = y.parse().map_err(|_| bad())?;
    let month: u32 = m.parse().map_err(|_| bad())?;
    let day: u32 = dd.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(format!("no such date: {date:?}"));
    }
    let mut hms = time.split(':');
    let (Some(h), Some(mi), sec, None) = (hms.next(), hms.next(), hms.next(), hms.next()) else {
        return Err(bad());
    };
    let hour: u32 = h.parse().map_err(|_| bad())?;
    let minute: u32 = mi.parse().map_err(|_| bad())?;
    let second: f64 = match sec {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            s.parse().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
        None => 0.0,
    };
    if hour > 23 || minute > 59 || second >= 61.0 {
        return Err(format!("no such time of day: {time:?}"));
    }
    let days = days_from_civil(year, month, day);
    Ok(days as f64 * 86_400.0 + f64::from(hour * 3600 + minute * 60) + second)
}

/// Formats seconds since the epoch as NAB does: `2014-04-10 07:15:00` (UTC), with a
/// fraction only when there is one.
pub fn format_timestamp(t: f64) -> String {
    let whole = t.floor();
    let days = (whole / 86_400.0).floor() as i64;
    let secs = (whole - days as f64 * 86_400.0) as u32;
    let (y, m, d) = civil_from_days(days);
    let frac = t - whole;
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac > 0.0 {
        let digits = format!("{frac:.6}");
        out.push_str(digits.trim_start_matches('0').trim_end_matches('0'));
    }
    out
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_nab_rfc3339_and_unix_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Ok(0.0));
        assert_eq!(parse_timestamp("2014-04-10 07:15:00"), Ok(1_397_114_100.0));
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            Ok(1_397_114_100.0)
        );
        assert_eq!(parse_timestamp("2014-04-10T07:15:00Z"), Ok(1_397_114_100.0));
        assert_eq!(parse_timestamp("1397114100.5"), Ok(1_397_114_100.5));
        assert!(parse_timestamp("2014-02-30 00:00:00")
            .unwrap_err()
            .contains("no such date"));
        assert!(parse_timestamp("2014-04-10 25:00:00")
            .unwrap_err()
            .contains("no such time"));
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("").is_err());
        assert!(parse_timestamp("NaN").is_err());
    }

    #[test]
    fn formats_as_nab_does() {
        assert_eq!(format_timestamp(1_397_114_100.0), "2014-04-10 07:15:00");
        assert_eq!(format_timestamp(0.25), "1970-01-01 00:00:00.25");
        assert_eq!(format_timestamp(951_782_400.0), "2000-02-29 00:00:00");
    }

    #[test]
    fn typical_step_is_the_median_gap() {
        let s = Series::new("x", [(0.0, 1.0), (300.0, 1.0), (600.0, 1.0), (4000.0, 1.0)]);
        assert_eq!(s.typical_step(), Some(300.0));
        assert_eq!(Series::new("x", [(0.0, 1.0)]).typical_step(), None);
    }

    proptest! {
        #[test]
        fn timestamps_round_trip(secs in -2_000_000_000i64..8_000_000_000) {
            let t = secs as f64;
            prop_assert_eq!(parse_timestamp(&format_timestamp(t)), Ok(t));
        }
    }
}

//! RFC 3339 times with any offset (Go's `time.Time` marshals with the sender's zone), and
//! the UTC text the audit log writes.

/// Seconds since the epoch of an RFC 3339 time: `2026-12-01T20:00:00.5Z`,
/// `2026-12-01T21:00:00+01:00`. Go's zero time (`0001-01-01T00:00:00Z`) reads as a
/// large negative number, which no comparison mistakes for "now".
pub fn parse_rfc3339(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let expected = || format!("expected an RFC 3339 time such as 2026-12-01T20:00:00Z, got {s:?}");
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') && s.as_bytes().get(10) != Some(&b't') {
        return Err(expected());
    }
    let (clock, offset) = if let Some(rest) = s.strip_suffix(['Z', 'z']) {
        (rest, 0.0)
    } else {
        let at = s.len().checked_sub(6).ok_or_else(expected)?;
        if !s.is_char_boundary(at) {
            return Err(expected());
        }
        let (clock, zone) = s.split_at(at);
        let sign = match zone.as_bytes()[0] {
            b'+' => 1.0,
            b'-' => -1.0,
            _ => return Err(expected()),
        };
        let (h, m) = zone[1..].split_once(':').ok_or_else(expected)?;
        let (h, m): (u32, u32) = (
            h.parse().map_err(|_| expected())?,
            m.parse().map_err(|_| expected())?,
        );
        if h > 23 || m > 59 {
            return Err(expected());
        }
        (clock, sign * f64::from(h * 3600 + m * 60))
    };
    let local = ballast_core::series::parse_timestamp(clock).map_err(|_| expected())?;
    Ok(local - offset)
}

/// RFC 3339 in UTC with milliseconds.
pub fn format_rfc3339(t: f64) -> String {
    ballast_core::alert::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_fractions_and_gos_zero_time() {
        let utc = parse_rfc3339("2026-12-01T20:00:00Z").unwrap();
        assert_eq!(utc, 1_796_155_200.0);
        assert_eq!(parse_rfc3339("2026-12-01T21:30:00+01:30").unwrap(), utc);
        assert_eq!(parse_rfc3339("2026-12-01T15:00:00-05:00").unwrap(), utc);
        assert!((parse_rfc3339("2026-12-01T20:00:00.25Z").unwrap() - utc - 0.25).abs() < 1e-6);
        assert!(parse_rfc3339("0001-01-01T00:00:00Z").unwrap() < 0.0);
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01 20:00:00Z",
            "2026-12-01T20:00:00+1:00",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(format_rfc3339(utc), "2026-12-01T20:00:00.000Z");
    }
}

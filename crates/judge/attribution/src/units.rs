//! Values as people read them: pprof's units.

/// A value in pprof's style (its `ScaledLabel` with the `minimum` unit): the largest
/// unit the value reaches (`hrs` for time, up to `PB` for bytes, 1024-based), two decimals
/// without a trailing `.00`, and pprof's quirks kept — a negative value is shown in the
/// default unit (s, B), as pprof's autoscale finds no unit for it; 0 is `0`.
pub fn format_value(v: i64, unit: &str) -> String {
    const TIME: [(&str, f64); 5] = [
        ("ns", 1.0),
        ("us", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("hrs", 3.6e12),
    ];
    const BYTES: [(&str, f64); 6] = [
        ("B", 1.0),
        ("kB", 1024.0),
        ("MB", 1048576.0),
        ("GB", 1073741824.0),
        ("TB", 1099511627776.0),
        ("PB", 1125899906842624.0),
    ];
    let (units, default): (&[(&str, f64)], (&str, f64)) = match unit {
        "nanoseconds" => (&TIME, ("s", 1e9)),
        "bytes" => (&BYTES, ("B", 1.0)),
        _ => return v.to_string(),
    };
    let x = v as f64;
    let (suffix, factor) = units
        .iter()
        .rev()
        .find(|(_, f)| x / f >= 1.0)
        .copied()
        .unwrap_or(default);
    let text = format!("{:.2}", x / factor);
    let text = text.strip_suffix(".00").unwrap_or(&text);
    if text == "0" || text == "-0" {
        "0".into()
    } else {
        format!("{text}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_pprof_prints_them() {
        assert_eq!(format_value(2_010_000_000, "nanoseconds"), "2.01s");
        assert_eq!(format_value(4_000_000_000, "nanoseconds"), "4s");
        assert_eq!(format_value(30_000_000, "nanoseconds"), "30ms");
        assert_eq!(format_value(0, "nanoseconds"), "0");
        assert_eq!(format_value(3 * 1024 * 1024 / 2, "bytes"), "1.50MB");
        assert_eq!(format_value(512, "bytes"), "512B");
        assert_eq!(format_value(-2048, "bytes"), "-2048B");
        assert_eq!(format_value(5_400_000_000_000, "nanoseconds"), "1.50hrs");
        assert_eq!(format_value(-30_000_000, "nanoseconds"), "-0.03s");
        assert_eq!(format_value(17, "count"), "17");
    }
}

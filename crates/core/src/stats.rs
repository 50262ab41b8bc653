//! Small statistics both the runtime probe (ballast-tower) and the leak judge
//! (ballast-anomaly) need: the median and the normal distribution's tail.

/// The median of `values`, reordering them (linear time); NaN when empty.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if values.len() % 2 == 1 {
        upper
    } else {
        // After the selection, the lower half holds the values below the middle one.
        let lower = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// P(Z > z) for a standard normal Z.
pub fn normal_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' `erfcc`, fractional error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normal_tail_matches_its_table() {
        for (z, tail) in [
            (0.0, 0.5),
            (1.0, 0.158_655_25),
            (1.959_963_985, 0.025),
            (3.090_232_306, 0.001),
            (-1.644_853_627, 0.95),
        ] {
            assert!((normal_tail(z) - tail).abs() < 1e-6, "z = {z}");
        }
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median_in_place(&mut []).is_nan());
    }

    proptest! {
        #[test]
        fn median_equals_the_sorted_definition(mut values in proptest::collection::vec(-1e9f64..1e9, 1..60)) {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            let expected = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
            prop_assert_eq!(median_in_place(&mut values), expected);
        }
    }
}

//! What moved between two profiles of one kind.

use crate::top::{top_with, TopOptions};
use ballast_core::profile::{Profile, ValueType};
use serde::Serialize;
use std::collections::BTreeMap;

/// The functions whose flat value moved between two profiles, biggest move first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// What the values measure (the `after` profile's type).
    pub sample_type: ValueType,
    /// The total of `before`.
    pub before_total: i64,
    /// The total of `after`.
    pub after_total: i64,
    /// Whether the totals differ, so movers are ranked by share of each total rather than
    /// raw values (a 60 s profile is not "worse" than a 30 s one for being longer).
    pub normalised: bool,
    /// Every function with a flat value in either, ordered by |delta_share| descending,
    /// then name.
    pub movers: Vec<Mover>,
}

/// One function of a [`Diff`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// The function.
    pub name: String,
    /// Its flat value in `before`.
    pub before: i64,
    /// Its flat value in `after`.
    pub after: i64,
    /// `before` as a share (0..=1) of before's total.
    pub before_share: f64,
    /// `after` as a share of after's total.
    pub after_share: f64,
    /// `after_share - before_share`: positive grew.
    pub delta_share: f64,
}

fn index(p: &Profile, kind: &str) -> usize {
    p.sample_index(kind)
        .unwrap_or_else(|| p.default_sample_index())
}

/// Compares the flat values per function of `before` and `after` for the sample type
/// named `sample_kind` (`cpu`, `alloc_space`; a profile without it uses its default type).
pub fn diff(before: &Profile, after: &Profile, sample_kind: &str) -> Diff {
    let all = TopOptions {
        node_fraction: 0.0,
        node_count: None,
    };
    let b = top_with(before, index(before, sample_kind), &all);
    let a = top_with(after, index(after, sample_kind), &all);
    let mut values: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in &b.rows {
        values.entry(row.name.clone()).or_default().0 = row.flat;
    }
    for row in &a.rows {
        values.entry(row.name.clone()).or_default().1 = row.flat;
    }
    let share = |v: i64, total: i64| {
        if total == 0 {
            0.0
        } else {
            v as f64 / total as f64
        }
    };
    let mut movers: Vec<Mover> = values
        .into_iter()
        .filter(|(_, (x, y))| *x != 0 || *y != 0)
        .map(|(name, (x, y))| {
            let (before_share, after_share) = (share(x, b.total), share(y, a.total));
            Mover {
                name,
                before: x,
                after: y,
                before_share,
                after_share,
                delta_share: after_share - before_share,
            }
        })
        .collect();
    movers.sort_by(|x, y| {
        y.delta_share
            .abs()
            .total_cmp(&x.delta_share.abs())
            .then_with(|| x.name.cmp(&y.name))
    });
    Diff {
        sample_type: a.sample_type,
        before_total: b.total,
        after_total: a.total,
        normalised: b.total != a.total,
        movers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::tests::profile;

    #[test]
    fn movers_are_ranked_by_share_when_totals_differ() {
        // after is twice as long: main.steady doubles in value but keeps its share.
        let before = profile(&[(&["main.steady"], 50), (&["main.grows"], 50)]);
        let after = profile(&[(&["main.steady"], 100), (&["main.grows"], 300)]);
        let d = diff(&before, &after, "cpu");
        assert!(d.normalised);
        assert_eq!(d.movers[0].name, "main.grows");
        assert_eq!(d.movers[0].delta_share, 0.25);
        assert_eq!(d.movers[1].name, "main.steady");
        assert_eq!(d.movers[1].delta_share, -0.25);
        assert_eq!((d.movers[1].before, d.movers[1].after), (50, 100));
    }

    #[test]
    fn a_function_only_on_one_side_moves_its_whole_share() {
        let before = profile(&[(&["main.gone"], 10)]);
        let after = profile(&[(&["main.new"], 10)]);
        let d = diff(&before, &after, "cpu");
        assert!(!d.normalised);
        let names: Vec<(&str, f64)> = d
            .movers
            .iter()
            .map(|m| (m.name.as_str(), m.delta_share))
            .collect();
        assert_eq!(names, [("main.gone", -1.0), ("main.new", 1.0)]);
    }
}

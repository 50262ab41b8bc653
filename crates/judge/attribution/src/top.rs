//! `go tool pprof -top` at function granularity, computed the way pprof computes it
//! (internal/graph's `newGraph` and internal/report's `newTrimmedGraph`), so the two tables
//! agree value for value on the same file.

use ballast_core::profile::{Profile, ValueType};
use serde::Serialize;
use std::collections::HashMap;

/// pprof's `-top` table for one sample type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Top {
    /// What the values measure.
    pub sample_type: ValueType,
    /// The total pprof prints (`of N total`): the sum of every sample's absolute value.
    pub total: i64,
    /// The functions, ordered as pprof orders them: |flat| descending, then name, then
    /// |cum| descending. Functions whose |cum| is below the node fraction are left out.
    pub rows: Vec<TopRow>,
    /// How many functions the node fraction left out (pprof's "Dropped N nodes").
    pub dropped: usize,
}

/// One function of a [`Top`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopRow {
    /// The function's name.
    pub name: String,
    /// The value of samples whose leaf frame (inlined calls expanded) is this function.
    pub flat: i64,
    /// The value of samples with this function anywhere on the stack, once per sample.
    pub cum: i64,
}

/// The options of [`top_with`], pprof's flags of the same names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopOptions {
    /// `-nodefraction`: leave out functions whose |cum| is below this share of the sum
    /// of flat values. Default 0.005, pprof's.
    pub node_fraction: f64,
    /// `-nodecount`: keep at most this many rows (after ordering); `None` keeps all.
    pub node_count: Option<usize>,
}

impl Default for TopOptions {
    fn default() -> Self {
        TopOptions {
            node_fraction: 0.005,
            node_count: None,
        }
    }
}

/// pprof's `-top` table for the sample type at `sample_index`, with pprof's default node
/// fraction and every row kept (take the first 20 for `-nodecount=20`). An index past the
/// profile's sample types gives an empty table.
pub fn top(profile: &Profile, sample_index: usize) -> Top {
    top_with(profile, sample_index, &TopOptions::default())
}

/// [`top`] with pprof's node fraction and node count chosen.
///
/// Locations without symbols are skipped (pprof would show them by address); Go and
/// symbolised Rust profiles have none.
pub fn top_with(profile: &Profile, sample_index: usize, options: &TopOptions) -> Top {
    // Nodes are functions by name: pprof's `functions` granularity drops file and line
    // before building the graph, so two functions of one name are one node.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut nodes: Vec<(&str, i64, i64)> = Vec::new();
    let mut total = 0i64;
    let mut seen: Vec<usize> = Vec::new();
    for sample in &profile.samples {
        let value = sample.values.get(sample_index).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        total = total.saturating_add(value.saturating_abs());
        seen.clear();
        let mut leaf = None;
        for f in profile.frames(sample) {
            let name = profile.functions[f].name.as_str();
            let next = nodes.len();
            let node = *index.entry(name).or_insert(next);
            if node == next {
                nodes.push((name, 0, 0));
            }
            leaf.get_or_insert(node);
            // Recursion counts once per sample in cum.
            if !seen.contains(&node) {
                seen.push(node);
                nodes[node].2 = nodes[node].2.saturating_add(value);
            }
        }
        if let Some(leaf) = leaf {
            nodes[leaf].1 = nodes[leaf].1.saturating_add(value);
        }
    }
    let flat_sum = nodes.iter().fold(0i64, |s, n| s.saturating_add(n.1));
    // pprof: abs64(int64(float64(total) * fraction)), compared with abs(cum) by `<`.
    let cutoff = ((flat_sum as f64) * options.node_fraction) as i64;
    let cutoff = cutoff.saturating_abs();
    let before = nodes.iter().filter(|n| n.1 != 0 || n.2 != 0).count();
    let mut rows: Vec<TopRow> = nodes
        .into_iter()
        .filter(|n| n.1 != 0 || n.2 != 0)
        .filter(|n| n.2.saturating_abs() >= cutoff)
        .map(|(name, flat, cum)| TopRow {
            name: name.to_string(),
            flat,
            cum,
        })
        .collect();
    let dropped = before - rows.len();
    rows.sort_by(|a, b| {
        b.flat
            .saturating_abs()
            .cmp(&a.flat.saturating_abs())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| b.cum.saturating_abs().cmp(&a.cum.saturating_abs()))
    });
    if let Some(n) = options.node_count {
        rows.truncate(n);
    }
    Top {
        sample_type: profile
            .sample_types
            .get(sample_index)
            .cloned()
            .unwrap_or_default(),
        total,
        rows,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::tests::profile;

    #[test]
    fn flat_goes_to_the_leaf_and_cum_counts_recursion_once() {
        let p = profile(&[
            (&["main.rec", "main.rec", "main.main"], 10),
            (&["main.leaf", "main.rec", "main.main"], 5),
            (&["main.main"], 1),
        ]);
        let t = top(&p, 0);
        let rows: Vec<(&str, i64, i64)> = t
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.flat, r.cum))
            .collect();
        assert_eq!(
            rows,
            [
                ("main.rec", 10, 15),
                ("main.leaf", 5, 5),
                ("main.main", 1, 16)
            ]
        );
        assert_eq!(t.total, 16);
    }

    #[test]
    fn ties_order_by_name_and_the_node_fraction_drops_small_functions() {
        let p = profile(&[
            (&["b", "root"], 100),
            (&["a", "root"], 100),
            (&["tiny", "root"], 1),
        ]);
        let t = top_with(
            &p,
            0,
            &TopOptions {
                node_fraction: 0.01,
                node_count: None,
            },
        );
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        // cutoff = int(201 * 0.01) = 2 > tiny's cum of 1.
        assert_eq!(names, ["a", "b", "root"]);
        assert_eq!(t.dropped, 1);
        let t = top_with(
            &p,
            0,
            &TopOptions {
                node_fraction: 0.0,
                node_count: Some(2),
            },
        );
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn inlined_calls_are_frames_of_their_own() {
        use ballast_core::profile::{Line, Location};
        let mut p = profile(&[(&["main.outer"], 0)]);
        p.functions
            .push(ballast_core::profile::Function::named("main.inlined"));
        let inlined = (p.functions.len() - 1) as u32;
        p.locations.push(Location {
            lines: vec![
                Line {
                    function: inlined,
                    line: 3,
                    column: 0,
                },
                Line {
                    function: 0,
                    line: 9,
                    column: 0,
                },
            ],
            ..Location::default()
        });
        p.samples[0].locations = vec![(p.locations.len() - 1) as u32];
        p.samples[0].values = vec![7];
        let t = top(&p, 0);
        assert_eq!(t.rows[0].name, "main.inlined");
        assert_eq!((t.rows[0].flat, t.rows[1].flat, t.rows[1].cum), (7, 0, 7));
    }

    #[test]
    fn negative_values_sort_by_magnitude_and_a_missing_index_is_empty() {
        let p = profile(&[(&["grew"], 5), (&["shrank"], -9)]);
        let t = top(&p, 0);
        assert_eq!(t.rows[0].name, "shrank");
        assert_eq!(t.total, 14);
        assert!(top(&p, 3).rows.is_empty());
    }
}

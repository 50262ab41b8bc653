//! The window between two captures of a profile that counts from the program's start
//! (allocs, block, mutex, the heap's `alloc_*` values).

use ballast_core::profile::{Profile, Sample};
use std::collections::BTreeMap;

/// What happened between two captures of a profile that counts from the program's start:
/// `end` with each stack's `start` values taken off (stacks matched by their function
/// names, so two captures' tables need not agree), stacks that did nothing dropped. When a
/// total went down the counters were reset (the program restarted within the window) and
/// `end` alone is what the window holds.
pub fn window_of(start: &Profile, end: &Profile) -> Profile {
    let reset = (0..end.sample_types.len().min(start.sample_types.len()))
        .any(|i| end.total(i) < start.total(i));
    if reset {
        return end.clone();
    }
    let key = |p: &Profile, s: &Sample| -> Vec<String> {
        p.frames(s).map(|f| p.functions[f].name.clone()).collect()
    };
    let mut before: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for s in &start.samples {
        let slot = before
            .entry(key(start, s))
            .or_insert_with(|| vec![0; s.values.len()]);
        for (a, b) in slot.iter_mut().zip(&s.values) {
            *a = a.saturating_add(*b);
        }
    }
    let mut out = end.clone();
    out.samples.clear();
    let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for s in &end.samples {
        let k = key(end, s);
        match seen.get(&k) {
            Some(&i) => {
                let kept: &mut Sample = &mut out.samples[i];
                for (a, b) in kept.values.iter_mut().zip(&s.values) {
                    *a = a.saturating_add(*b);
                }
            }
            None => {
                seen.insert(k, out.samples.len());
                out.samples.push(s.clone());
            }
        }
    }
    for (k, &i) in &seen {
        if let Some(old) = before.get(k) {
            for (v, o) in out.samples[i].values.iter_mut().zip(old) {
                *v = v.saturating_sub(*o).max(0);
            }
        }
    }
    out.samples.retain(|s| s.values.iter().any(|&v| v != 0));
    if end.duration_nanos == 0 && end.time_nanos > start.time_nanos && start.time_nanos > 0 {
        out.duration_nanos = end.time_nanos - start.time_nanos;
    }
    out
}

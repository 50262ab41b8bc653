//! NAB's scoring, step for step as its official scorer does it (numenta/NAB `sweeper.py`
//! and `optimizer.py`): each row gets a weight from its place relative to the labelled
//! windows; a threshold turns anomaly scores into detections; within a window only the
//! earliest detection counts (a scaled sigmoid of its position: early earns most); a
//! detection outside windows costs the profile's false-positive weight (less just after a
//! window); a window without detection costs the false-negative weight. The first
//! `min(⌊0.15·n⌋, 750)` rows of a file are not scored. The threshold is chosen once per
//! profile for the whole corpus, and the sum is normalised so that a detector that never
//! flags scores 0 and a perfect one 100.

use crate::Error;
use serde::Serialize;

/// A scoring profile: NAB's cost matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// `standard`, `reward_low_FP_rate`, `reward_low_FN_rate`.
    pub name: String,
    /// Weight of a detection at the very start of a window.
    pub tp_weight: f64,
    /// Cost of a detection far from any window.
    pub fp_weight: f64,
    /// Cost of a window without detection.
    pub fn_weight: f64,
}

impl Profile {
    /// NAB's three profiles (its `config/profiles.json`).
    pub fn nab_defaults() -> Vec<Profile> {
        let p = |name: &str, fp_weight, fn_weight| Profile {
            name: name.into(),
            tp_weight: 1.0,
            fp_weight,
            fn_weight,
        };
        vec![
            p("standard", 0.11, 1.0),
            p("reward_low_FP_rate", 0.22, 1.0),
            p("reward_low_FN_rate", 0.11, 2.0),
        ]
    }
}

/// NAB's probationary period: rows not scored at the start of a file of `rows` rows.
pub fn probationary_length(rows: usize) -> usize {
    ((rows as f64 * 0.15).floor() as usize).min(750)
}

/// `2·sigmoid(−5x) − 1`, and −1 beyond 3 (NAB's `scaledSigmoid`).
fn scaled_sigmoid(position: f64) -> f64 {
    if position > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// Where a row stands for scoring, before any profile weights it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowLabel {
    /// In the probationary period: never scored.
    Probation,
    /// Inside window `window` (numbered within its file): a first detection here is worth
    /// `value × tp_weight` (1 at the window's start, near 0 at its end).
    Window {
        /// Window number within the file.
        window: usize,
        /// Unweighted true-positive value.
        value: f64,
    },
    /// Outside every window: a detection here adds `value × fp_weight` (−1 far from
    /// windows, nearer 0 just after one).
    Outside {
        /// Unweighted false-positive value (≤ 0).
        value: f64,
    },
}

/// Labels each row of a file from its timestamps and windows, as NAB's `calcSweepScore`
/// does, row by row in file order (a file whose timestamps step back is not reordered):
/// each window bound must be the timestamp of exactly one row (NAB's labeler refuses
/// anything else); the windows are taken in time order, and the next one opens at the
/// row holding its start, even inside another, and closes at the row holding its end. A
/// row's place in its window, and after the previous one, is counted in rows, as is the
/// probationary period.
pub fn label_rows(
    timestamps: &[f64],
    windows: &[(f64, f64)],
    name: &str,
) -> Result<Vec<RowLabel>, Error> {
    let row_of = |t: f64, window: usize, which: &str| {
        let shown = crate::series::format_timestamp(t);
        let mut rows = timestamps
            .iter()
            .enumerate()
            .filter(|(_, &x)| x == t)
            .map(|(i, _)| i);
        match (rows.next(), rows.next()) {
            (Some(i), None) => Ok(i),
            (None, _) => Err(Error::Corpus(format!(
                "{name}: window {which} {shown} is not a timestamp of the file"
            ))),
            (Some(a), Some(b)) => Err(Error::Corpus(format!(
                "{name}: window {window} {which} {shown} is the timestamp of rows {} and {}; \
                 NAB needs it to be exactly one row's",
                a + 1,
                b + 1
            ))),
        }
    };
    let mut bounds = Vec::with_capacity(windows.len());
    for (w, &(start, end)) in windows.iter().enumerate() {
        let (left, right) = (row_of(start, w, "start")?, row_of(end, w, "end")?);
        if right < left {
            // NAB would divide by a window width of zero or less.
            return Err(Error::Corpus(format!(
                "{name}: window {w} ends at row {} before it starts at row {} (the file's \
                 timestamps step back across it)",
                right + 1,
                left + 1
            )));
        }
        bounds.push((left, right));
    }
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probationary_length(timestamps.len());
    let mut labels = Vec::with_capacity(timestamps.len());
    let mut next = 0;
    let mut current: Option<(usize, usize, usize)> = None; // (window, left, right)
    let mut previous: Option<(usize, f64)> = None; // (right index, width)
    for i in 0..timestamps.len() {
        if next < bounds.len() && i == bounds[next].0 {
            current = Some((next, bounds[next].0, bounds[next].1));
            next += 1;
        }
        let label = match current {
            Some((window, left, right)) => {
                let width = (right - left + 1) as f64;
                let position = -((right as f64 - i as f64 + 1.0) / width);
                RowLabel::Window {
                    window,
                    value: scaled_sigmoid(position) / max_tp,
                }
            }
            None => RowLabel::Outside {
                value: match previous {
                    None => -1.0,
                    Some((right, width)) => scaled_sigmoid((i - right) as f64 / (width - 1.0)),
                },
            },
        };
        labels.push(if i < probation {
            RowLabel::Probation
        } else {
            label
        });
        if let Some((_, left, right)) = current {
            if i == right {
                previous = Some((right, (right - left + 1) as f64));
                current = None;
            }
        }
    }
    Ok(labels)
}

/// One file ready to score: row labels and the detector's anomaly score per row.
#[derive(Debug, Clone)]
pub struct ScoredFile {
    /// Its name, for reports.
    pub name: String,
    /// From [`label_rows`].
    pub labels: Vec<RowLabel>,
    /// In [0, 1], one per row.
    pub scores: Vec<f64>,
}

/// A detector's result under one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileScore {
    /// The profile.
    pub profile: String,
    /// The threshold chosen for the whole corpus (a row is a detection when its score is
    /// at least this; 1.1 means none).
    pub threshold: f64,
    /// Normalised: 0 never flags, 100 perfect.
    pub score: f64,
    /// Sum of the weighted rows at the threshold.
    pub raw_score: f64,
    /// Raw score of a detector that never flags.
    pub null_raw_score: f64,
    /// Raw score of a perfect detector.
    pub perfect_raw_score: f64,
    /// Windows with a detection.
    pub windows_detected: usize,
    /// Windows scored.
    pub windows: usize,
    /// Detections outside windows (after the probationary period).
    pub false_positives: usize,
}

/// Scores a corpus under one profile: tries every distinct anomaly score as the threshold
/// for all files at once and keeps the best (the highest threshold among equals).
pub fn optimise(files: &[ScoredFile], profile: &Profile) -> ProfileScore {
    let (rows, windows) = scorable_rows(files);
    // Every row at or above a threshold is a detection, so walk the rows from the highest
    // score down, updating each window's best detection and the false-positive sum.
    let mut best_in_window = vec![-profile.fn_weight; windows];
    let mut window_total = -profile.fn_weight * windows as f64;
    let mut fp_total = 0.0;
    let (mut detected, mut fps) = (0usize, 0usize);
    let null = window_total;
    let mut best = (1.1, null, 0usize, 0usize);
    let mut i = 0;
    while i < rows.len() {
        let threshold = rows[i].score;
        while i < rows.len() && rows[i].score == threshold {
            match rows[i].kind {
                Kind::Window { id, value } => {
                    let v = value * profile.tp_weight;
                    if v > best_in_window[id] {
                        if best_in_window[id] == -profile.fn_weight {
                            detected += 1;
                        }
                        window_total += v - best_in_window[id];
                        best_in_window[id] = v;
                    }
                }
                Kind::Outside { value } => {
                    fp_total += value * profile.fp_weight;
                    fps += 1;
                }
            }
            i += 1;
        }
        let raw = window_total + fp_total;
        if raw > best.1 {
            best = (threshold, raw, detected, fps);
        }
    }
    let perfect = profile.tp_weight * windows as f64;
    ProfileScore {
        profile: profile.name.clone(),
        threshold: best.0,
        score: normalise(best.1, null, perfect),
        raw_score: best.1,
        null_raw_score: null,
        perfect_raw_score: perfect,
        windows_detected: best.2,
        windows,
        false_positives: best.3,
    }
}

/// Scores a corpus under one profile at a given threshold.
pub fn score_at(files: &[ScoredFile], profile: &Profile, threshold: f64) -> ProfileScore {
    let (rows, windows) = scorable_rows(files);
    let mut best_in_window = vec![-profile.fn_weight; windows];
    let mut fp_total = 0.0;
    let mut fps = 0;
    for row in rows.iter().filter(|r| r.score >= threshold) {
        match row.kind {
            Kind::Window { id, value } => {
                best_in_window[id] = best_in_window[id].max(value * profile.tp_weight)
            }
            Kind::Outside { value } => {
                fp_total += value * profile.fp_weight;
                fps += 1;
            }
        }
    }
    let null = -profile.fn_weight * windows as f64;
    let raw = best_in_window.iter().sum::<f64>() + fp_total;
    let perfect = profile.tp_weight * windows as f64;
    ProfileScore {
        profile: profile.name.clone(),
        threshold,
        score: normalise(raw, null, perfect),
        raw_score: raw,
        null_raw_score: null,
        perfect_raw_score: perfect,
        windows_detected: best_in_window
            .iter()
            .filter(|&&b| b != -profile.fn_weight)
            .count(),
        windows,
        false_positives: fps,
    }
}

fn normalise(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect == null {
        return 0.0;
    }
    100.0 * (raw - null) / (perfect - null)
}

#[derive(Clone, Copy)]
enum Kind {
    Window { id: usize, value: f64 },
    Outside { value: f64 },
}

#[derive(Clone, Copy)]
struct Row {
    score: f64,
    kind: Kind,
}

/// The rows that count, highest score first, with windows numbered across the corpus;
/// and how many windows have at least one scored row.
fn scorable_rows(files: &[ScoredFile]) -> (Vec<Row>, usize) {
    let mut rows = Vec::new();
    let mut windows = 0;
    for file in files {
        let mut ids: Vec<Option<usize>> = Vec::new();
        for (label, &score) in file.labels.iter().zip(&file.scores) {
            let kind = match *label {
                RowLabel::Probation => continue,
                RowLabel::Outside { value } => Kind::Outside { value },
                RowLabel::Window { window, value } => {
                    if ids.len() <= window {
                        ids.resize(window + 1, None);
                    }
                    let id = *ids[window].get_or_insert_with(|| {
                        windows += 1;
                        windows - 1
                    });
                    Kind::Window { id, value }
                }
            };
            rows.push(Row { score, kind });
        }
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    (rows, windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(windows: &[(usize, usize)], n: usize, flags: &[usize]) -> ScoredFile {
        let ts: Vec<f64> = (0..n).map(|i| i as f64 * 60.0).collect();
        let w: Vec<(f64, f64)> = windows.iter().map(|&(a, b)| (ts[a], ts[b])).collect();
        let mut scores = vec![0.0; n];
        for &f in flags {
            scores[f] = 1.0;
        }
        ScoredFile {
            name: "f".into(),
            labels: label_rows(&ts, &w, "f").unwrap(),
            scores,
        }
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750() {
        assert_eq!(probationary_length(1000), 150);
        assert_eq!(probationary_length(4032), 604);
        assert_eq!(probationary_length(15_902), 750);
    }

    #[test]
    fn never_flagging_scores_zero_and_an_early_detection_scores_100() {
        let standard = &Profile::nab_defaults()[0];
        let quiet = optimise(&[file(&[(400, 499)], 1000, &[])], standard);
        assert_eq!(
            (quiet.score, quiet.threshold, quiet.raw_score),
            (0.0, 1.1, -1.0)
        );
        let perfect = optimise(&[file(&[(400, 499)], 1000, &[400])], standard);
        assert!((perfect.score - 100.0).abs() < 1e-9, "{perfect:?}");
        assert_eq!(perfect.threshold, 1.0);
    }

    #[test]
    fn later_detections_earn_less_and_false_positives_cost() {
        let standard = &Profile::nab_defaults()[0];
        let middle = score_at(&[file(&[(400, 499)], 1000, &[450])], standard, 0.5);
        // position −(499−450+1)/100 = −0.5: 2σ(2.5)−1 = 0.848, scaled by 1/0.9866.
        assert!((middle.raw_score - 0.848_283_639_957_5 / 0.986_614_298_151_430_3).abs() < 1e-9);
        let with_fp = score_at(&[file(&[(400, 499)], 1000, &[200, 400])], standard, 0.5);
        assert!((with_fp.raw_score - (1.0 - 0.11)).abs() < 1e-9);
        assert_eq!(with_fp.false_positives, 1);
        // Just after a window a false positive costs almost nothing.
        let after = score_at(&[file(&[(400, 499)], 1000, &[400, 500])], standard, 0.5);
        assert!(after.raw_score > 0.99 && after.raw_score < 1.0, "{after:?}");
    }

    #[test]
    fn probationary_rows_do_not_count() {
        let standard = &Profile::nab_defaults()[0];
        let s = score_at(&[file(&[(400, 499)], 1000, &[10])], standard, 0.5);
        assert_eq!((s.raw_score, s.false_positives), (-1.0, 0));
    }

    #[test]
    fn a_window_start_missing_from_the_file_is_an_error() {
        let e = label_rows(&[0.0, 60.0], &[(30.0, 60.0)], "x.csv").unwrap_err();
        assert!(e.to_string().contains("x.csv: window start"), "{e}");
    }

    #[test]
    fn a_window_bound_on_a_repeated_or_reversed_timestamp_is_an_error() {
        let ts = [0.0, 60.0, 120.0, 60.0, 180.0];
        let e = label_rows(&ts, &[(60.0, 180.0)], "x.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv: window 0 start 1970-01-01 00:01:00 is the timestamp of rows 2 and 4; \
             NAB needs it to be exactly one row's"
        );
        let ts = [0.0, 180.0, 60.0, 120.0];
        let e = label_rows(&ts, &[(60.0, 180.0)], "x.csv").unwrap_err();
        assert!(e
            .to_string()
            .contains("window 0 ends at row 2 before it starts at row 3"));
    }

    /// NAB's `Sweeper.calcSweepScore` (nab/sweeper.py) transcribed statement by statement:
    /// timestamps compared as it compares them, `timestamps.index` for the window edges,
    /// rows in file order. Per row: the weighted sweep score, the window, the probation flag.
    fn nab_sweep(
        timestamps: &[f64],
        windows: &[(f64, f64)],
        profile: &Profile,
    ) -> Vec<(f64, Option<usize>, bool)> {
        let index = |t: f64| timestamps.iter().position(|&x| x == t).unwrap() as f64;
        let mut limits: std::collections::VecDeque<(usize, (f64, f64))> =
            windows.iter().copied().enumerate().collect();
        let max_tp = scaled_sigmoid(-1.0);
        let probationary = ((0.15 * timestamps.len() as f64).floor()).min(0.15 * 5000.0);
        let mut cur: Option<(usize, (f64, f64))> = None;
        let (mut cur_width, mut cur_right) = (0.0, 0.0);
        let (mut prev_width, mut prev_right): (f64, Option<f64>) = (0.0, None);
        let mut out = Vec::new();
        for (i, &t) in timestamps.iter().enumerate() {
            let i = i as f64;
            if limits.front().is_some_and(|w| t == w.1 .0) {
                let w = limits.pop_front().unwrap();
                cur_right = index(w.1 .1);
                cur_width = cur_right - index(w.1 .0) + 1.0;
                cur = Some(w);
            }
            let weighted = if cur.is_some() {
                let position = -(cur_right - i + 1.0) / cur_width;
                scaled_sigmoid(position) * profile.tp_weight / max_tp
            } else {
                let unweighted = match prev_right {
                    None => -1.0,
                    Some(r) => scaled_sigmoid((r - i).abs() / (prev_width - 1.0)),
                };
                unweighted * profile.fp_weight
            };
            out.push((weighted, cur.map(|w| w.0), i < probationary));
            if let Some(w) = cur {
                if t == w.1 .1 {
                    prev_right = Some(i);
                    prev_width = cur_width;
                    cur = None;
                }
            }
        }
        out
    }

    fn assert_labels_are_nabs(ts: &[f64], windows: &[(f64, f64)]) -> Vec<RowLabel> {
        let ours = label_rows(ts, windows, "f.csv").unwrap();
        for profile in Profile::nab_defaults() {
            let theirs = nab_sweep(ts, windows, &profile);
            assert_eq!(ours.len(), theirs.len());
            for (i, (label, &(score, window, probation))) in ours.iter().zip(&theirs).enumerate() {
                let (value, weight) = match *label {
                    RowLabel::Probation => {
                        assert!(probation, "row {i}");
                        continue;
                    }
                    RowLabel::Window { window: w, value } => {
                        assert_eq!(window, Some(w), "row {i}");
                        (value, profile.tp_weight)
                    }
                    RowLabel::Outside { value } => {
                        assert_eq!(window, None, "row {i}");
                        (value, profile.fp_weight)
                    }
                };
                assert!(!probation, "row {i}");
                assert!(
                    (value * weight - score).abs() < 1e-12,
                    "row {i}: {value} vs {score}"
                );
            }
        }
        ours
    }

    #[test]
    fn a_window_opening_inside_another_in_file_order_takes_over_as_in_nab() {
        // Row 15 jumps ahead to 2130 s, the start of window 1, while window 0 (rows 10..18)
        // is open: NAB enters window 1 there and window 0 never closes.
        let mut ts: Vec<f64> = (0..40).map(|i| 60.0 * i as f64).collect();
        ts[15] = 2130.0;
        let windows = [(ts[10], ts[18]), (2130.0, ts[38])];
        let labels = assert_labels_are_nabs(&ts, &windows);
        assert!(matches!(labels[14], RowLabel::Window { window: 0, .. }));
        assert!(matches!(labels[18], RowLabel::Window { window: 1, .. }));
        assert!(matches!(labels[39], RowLabel::Outside { .. }));
        // The start of window 1 before window 0's in file order: NAB never opens it.
        let mut ts: Vec<f64> = (0..40).map(|i| 60.0 * i as f64).collect();
        ts[5] = 2130.0;
        let labels = assert_labels_are_nabs(&ts, &windows);
        assert!(!labels
            .iter()
            .any(|l| matches!(l, RowLabel::Window { window: 1, .. })));
    }

    #[test]
    fn rows_are_labelled_as_nab_does_in_file_order_when_timestamps_step_back() {
        // 400 five-minute rows; rows 200..212 were written an hour early, so they repeat
        // the timestamps of rows 188..200 and the file steps back at row 200. One window
        // spans the step, one lies before it and one after.
        let ts: Vec<f64> = (0..400)
            .map(|i| {
                let shift = if (200..212).contains(&i) { 3600.0 } else { 0.0 };
                1_394_323_200.0 + 300.0 * i as f64 - shift
            })
            .collect();
        let windows = [(ts[100], ts[110]), (ts[180], ts[230]), (ts[300], ts[320])];
        let labels = assert_labels_are_nabs(&ts, &windows);
        // The window across the step holds rows 180..=230 in file order: 51 rows, a dozen
        // of them repeating earlier timestamps.
        let inside = labels
            .iter()
            .filter(|l| matches!(l, RowLabel::Window { window: 1, .. }))
            .count();
        assert_eq!(inside, 51);
    }
}

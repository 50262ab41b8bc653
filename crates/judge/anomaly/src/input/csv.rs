//! CSV input: `timestamp,value` series (NAB data files, exports), and NAB result files
//! (`timestamp,value,anomaly_score,label`). Errors name the file, the line and the column.
//!
//! Real files are not always in time order (a daylight-saving step back, two exports pasted
//! together) and may repeat a timestamp. A [`RowPolicy`] says what to do; the default refuses
//! both, naming the line and the timestamps, so nothing is reordered or lost unasked.

use crate::series::{format_timestamp, parse_timestamp, Point, Series};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What to do with a row whose timestamp is earlier than the previous row's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unordered {
    /// Refuse the file, naming the line and both timestamps (the default).
    #[default]
    Error,
    /// Keep the rows in file order, as NAB's detectors and scorer take them.
    Keep,
    /// Sort the rows by time; rows with equal timestamps keep their file order.
    Sort,
    /// Drop every row earlier than the last row kept.
    Drop,
}

/// What to do with a row whose timestamp another row already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Duplicates {
    /// Refuse the file, naming both lines (the default).
    #[default]
    Error,
    /// Keep every row.
    Keep,
    /// Keep the first row (in file order) with each timestamp.
    First,
    /// Keep the last row (in file order) with each timestamp.
    Last,
}

/// How rows out of time order and repeated timestamps are handled. The unordered rule is
/// applied first (in file order); the duplicates rule then sees the rows it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RowPolicy {
    /// Rows earlier than the one before them. Default: `error`.
    pub unordered: Unordered,
    /// Rows repeating a timestamp. Default: `error`.
    pub duplicates: Duplicates,
}

impl RowPolicy {
    /// NAB's: every row, in file order (NAB's detectors and scorer do not reorder).
    pub const NAB: RowPolicy = RowPolicy {
        unordered: Unordered::Keep,
        duplicates: Duplicates::Keep,
    };
}

/// What a [`RowPolicy`] found and did in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowReport {
    /// Data rows in the file.
    pub rows: usize,
    /// Rows earlier than the row before them in the file.
    pub out_of_order: usize,
    /// Of those, rows dropped (`Unordered::Drop`).
    pub dropped_out_of_order: usize,
    /// Rows left by the unordered rule whose timestamp an earlier one of them has.
    pub repeated: usize,
    /// Rows dropped by `Duplicates::First` or `Duplicates::Last`.
    pub dropped_repeated: usize,
    /// The policy applied.
    pub policy: RowPolicy,
}

impl RowReport {
    /// Rows in the series read.
    pub fn kept(&self) -> usize {
        self.rows - self.dropped_out_of_order - self.dropped_repeated
    }

    /// One line telling what was found and done, or `None` when the file was in strict
    /// time order.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.out_of_order > 0 {
            let done = match self.policy.unordered {
                Unordered::Error | Unordered::Keep => "kept in file order".to_string(),
                Unordered::Sort => "sorted by time".to_string(),
                Unordered::Drop => format!("{} dropped", self.dropped_out_of_order),
            };
            parts.push(format!(
                "{} {} earlier than the row before, {done}",
                self.out_of_order,
                rows(self.out_of_order)
            ));
        }
        if self.repeated > 0 {
            let done = match self.policy.duplicates {
                Duplicates::Error | Duplicates::Keep => "kept".to_string(),
                Duplicates::First => format!("the first kept, {} dropped", self.dropped_repeated),
                Duplicates::Last => format!("the last kept, {} dropped", self.dropped_repeated),
            };
            parts.push(format!(
                "{} {} repeating an earlier timestamp, {done}",
                self.repeated,
                rows(self.repeated)
            ));
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "{}; {} of {} rows used",
            parts.join("; "),
            self.kept(),
            self.rows
        ))
    }
}

fn rows(n: usize) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

/// One data row: `(line, timestamp, the other requested columns)`.
type Row = (usize, f64, Vec<f64>);

/// A parsed table: the requested columns of every data row kept, with its line.
pub(crate) struct Table {
    /// In file order, or as the policy arranged them.
    pub rows: Vec<Row>,
}

/// Reads a `timestamp,value` file under the default [`RowPolicy`] (rows out of time order
/// or repeating a timestamp are errors). A header line is optional; with one, the columns
/// are found by name (`timestamp` and `value`), so extra columns may follow.
pub fn read_series(path: &Path) -> Result<Series, Error> {
    Ok(read_series_with(path, RowPolicy::default())?.0)
}

/// [`read_series`] under `policy`, with what the policy found and did.
pub fn read_series_with(path: &Path, policy: RowPolicy) -> Result<(Series, RowReport), Error> {
    let text = read_text(path)?;
    parse_series_with(&text, path, policy)
}

/// [`read_series`] over text already in memory; `path` is only used in messages.
pub fn parse_series(text: &str, path: &Path) -> Result<Series, Error> {
    Ok(parse_series_with(text, path, RowPolicy::default())?.0)
}

/// [`read_series_with`] over text already in memory; `path` is only used in messages.
pub fn parse_series_with(
    text: &str,
    path: &Path,
    policy: RowPolicy,
) -> Result<(Series, RowReport), Error> {
    let (table, report) = parse_table(text, path, &["value"], policy)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let series = Series {
        name,
        points: table
            .rows
            .into_iter()
            .map(|(_, t, cols)| Point { t, v: cols[0] })
            .collect(),
    };
    Ok((series, report))
}

/// Reads the anomaly scores of a NAB result file (`timestamp,value,anomaly_score,label`):
/// `(timestamp, anomaly_score)` per row, every row in file order as NAB reads them.
pub fn read_nab_results(path: &Path) -> Result<Vec<(f64, f64)>, Error> {
    parse_nab_results(&read_text(path)?, path)
}

/// [`read_nab_results`] over text in memory; `path` is only used in messages.
pub fn parse_nab_results(text: &str, path: &Path) -> Result<Vec<(f64, f64)>, Error> {
    let (table, _) = parse_table(text, path, &["anomaly_score"], RowPolicy::NAB)?;
    Ok(table
        .rows
        .into_iter()
        .map(|(_, t, cols)| (t, cols[0]))
        .collect())
}

pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// The data records of `text` with their 1-based lines, fields trimmed, through the `csv`
/// crate (RFC 4180 quoting). Blank lines and `#` comments, indented ones too, are skipped.
fn records(
    text: &str,
    fail: &dyn Fn(usize, &str, String) -> Error,
) -> Result<Vec<(usize, csv::StringRecord)>, Error> {
    // Comments and blank lines become a single space: a record of one empty field, skipped
    // below. The reader's own `comment` option misses indented comments, and neither it nor
    // its handling of empty lines keeps line numbers exact; this way every line is a
    // record, and `starts` maps a record's byte offset back to the file's line.
    let mut uncommented = String::with_capacity(text.len());
    let mut starts = Vec::new();
    for line in text.split_inclusive('\n') {
        starts.push(uncommented.len());
        let content = line.trim_start();
        if content.starts_with('#') || content.trim().is_empty() {
            uncommented.push(' ');
            uncommented.push_str(&line[line.trim_end_matches(['\r', '\n']).len()..]);
        } else {
            uncommented.push_str(line);
        }
    }
    let bytes = uncommented.as_bytes();
    let line_of = |position: Option<&csv::Position>| {
        let mut byte = position.map_or(0, |p| p.byte() as usize);
        // A record's position can be the rest of the previous line's terminator (the `\n`
        // of a `\r\n`).
        while bytes.get(byte).is_some_and(|b| *b == b'\r' || *b == b'\n') {
            byte += 1;
        }
        starts.partition_point(|&s| s <= byte).max(1)
    };
    // Field counts are checked by the caller, which names what the row should hold.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut out = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) if r.len() == 1 && r[0].is_empty() => {}
            Ok(r) => out.push((line_of(r.position()), r)),
            Err(e) => return Err(fail(line_of(e.position()), "row", format!("not CSV: {e}"))),
        }
    }
    Ok(out)
}

/// Parses `text` as CSV whose first column is a timestamp, returning the `wanted` columns
/// as numbers, with `policy` applied. Without a header, the columns are taken in order
/// after the timestamp.
pub(crate) fn parse_table(
    text: &str,
    path: &Path,
    wanted: &[&str],
    policy: RowPolicy,
) -> Result<(Table, RowReport), Error> {
    let fail = |line: usize, field: &str, message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let mut lines = records(text, &fail)?.into_iter().peekable();
    // Column positions: from the header when there is one, else 1.. in order.
    let mut positions: Vec<usize> = (1..=wanted.len()).collect();
    let mut expected_fields = None;
    if let Some((line, header)) = lines.peek() {
        let line = *line;
        let first = header.get(0).unwrap_or_default();
        if parse_timestamp(first).is_err() {
            if !first.eq_ignore_ascii_case("timestamp") && !first.eq_ignore_ascii_case("time") {
                return Err(fail(
                    line,
                    "timestamp",
                    format!(
                        "expected a header starting with \"timestamp\" or a data row, got {:?}",
                        truncate(first)
                    ),
                ));
            }
            for (slot, name) in positions.iter_mut().zip(wanted) {
                *slot = header
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        fail(
                            line,
                            name,
                            format!(
                                "the header has no column {name:?} (it has {})",
                                header.iter().collect::<Vec<_>>().join(",")
                            ),
                        )
                    })?;
            }
            expected_fields = Some(header.len());
            lines.next();
        }
    }
    let needed = positions.iter().max().copied().unwrap_or(0) + 1;
    let mut rows = Vec::new();
    // The timestamp of each row as the file writes it, for messages.
    let mut written: HashMap<usize, String> = HashMap::new();
    for (line, cols) in lines {
        match expected_fields {
            Some(n) if cols.len() != n => {
                return Err(fail(
                    line,
                    "row",
                    format!("expected {n} fields like the header, got {}", cols.len()),
                ))
            }
            None if cols.len() < needed => {
                return Err(fail(
                    line,
                    "row",
                    format!(
                        "expected {needed} fields (timestamp,{}), got {}",
                        wanted.join(","),
                        cols.len()
                    ),
                ))
            }
            _ => {}
        }
        let stamp = cols.get(0).unwrap_or_default();
        // `+ 0.0` makes −0 and 0 one time, so equal times have equal bits below.
        let t = parse_timestamp(stamp).map_err(|m| fail(line, "timestamp", m))? + 0.0;
        let mut values = Vec::with_capacity(wanted.len());
        for (&pos, name) in positions.iter().zip(wanted) {
            let text = cols.get(pos).unwrap_or_default();
            let v: f64 = text.parse().map_err(|_| {
                fail(
                    line,
                    name,
                    format!("expected a number, got {:?}", truncate(text)),
                )
            })?;
            if !v.is_finite() {
                return Err(fail(
                    line,
                    name,
                    format!("expected a finite number, got {text:?}"),
                ));
            }
            values.push(v);
        }
        written.insert(line, truncate(stamp));
        rows.push((line, t, values));
    }
    let shown = |line: usize, t: f64| {
        written
            .get(&line)
            .cloned()
            .unwrap_or_else(|| format_timestamp(t))
    };
    let (rows, report) = apply(rows, policy, &shown, &fail)?;
    Ok((Table { rows }, report))
}

/// Applies `policy` to rows in file order.
fn apply(
    mut rows: Vec<Row>,
    policy: RowPolicy,
    shown: &dyn Fn(usize, f64) -> String,
    fail: &dyn Fn(usize, &str, String) -> Error,
) -> Result<(Vec<Row>, RowReport), Error> {
    let mut report = RowReport {
        rows: rows.len(),
        policy,
        ..RowReport::default()
    };
    let refuse_unordered = |cur: &Row, prev: &Row| {
        fail(
            cur.0,
            "timestamp",
            format!(
                "{} is before the previous row's {} (line {}); pass --unordered keep|sort|drop",
                shown(cur.0, cur.1),
                shown(prev.0, prev.1),
                prev.0
            ),
        )
    };
    let refuse_repeat = |cur: &Row, first_line: usize| {
        fail(
            cur.0,
            "timestamp",
            format!(
                "{} repeats line {first_line}'s; pass --duplicates keep|first|last",
                shown(cur.0, cur.1)
            ),
        )
    };
    for pair in rows.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        if cur.1 < prev.1 {
            report.out_of_order += 1;
            if policy.unordered == Unordered::Error {
                return Err(refuse_unordered(cur, prev));
            }
        } else if cur.1 == prev.1
            && policy.unordered == Unordered::Error
            && policy.duplicates == Duplicates::Error
        {
            // Up to here the rows are in order, so this is the first problem in the file.
            return Err(refuse_repeat(cur, prev.0));
        }
    }
    if report.out_of_order > 0 {
        match policy.unordered {
            Unordered::Error | Unordered::Keep => {}
            // Stable: rows with one timestamp stay in file order, for `first` and `last`.
            Unordered::Sort => rows.sort_by(|a, b| a.1.total_cmp(&b.1)),
            Unordered::Drop => {
                let mut last = f64::NEG_INFINITY;
                rows.retain(|r| {
                    let keep = r.1 >= last;
                    if keep {
                        last = r.1;
                    }
                    keep
                });
                report.dropped_out_of_order = report.rows - rows.len();
            }
        }
    }
    // Repeated timestamps: next to each other once the rows are in order, anywhere when
    // they are kept in file order.
    let in_order = rows.windows(2).all(|w| w[0].1 <= w[1].1);
    let before = rows.len();
    if in_order {
        report.repeated = rows.windows(2).filter(|w| w[0].1 == w[1].1).count();
        if report.repeated > 0 {
            match policy.duplicates {
                Duplicates::Keep => {}
                Duplicates::Error => {
                    if let Some(w) = rows.windows(2).find(|w| w[0].1 == w[1].1) {
                        let first = rows.iter().find(|r| r.1 == w[1].1).map_or(w[0].0, |r| r.0);
                        return Err(refuse_repeat(&w[1], first));
                    }
                }
                Duplicates::First => rows.dedup_by(|cur, prev| cur.1 == prev.1),
                Duplicates::Last => {
                    // Keep a row unless the next one has its timestamp.
                    let next: Vec<bool> = rows
                        .windows(2)
                        .map(|w| w[0].1 == w[1].1)
                        .chain([false])
                        .collect();
                    let mut i = 0;
                    rows.retain(|_| {
                        i += 1;
                        !next[i - 1]
                    });
                }
            }
        }
    } else {
        let mut count: HashMap<u64, usize> = HashMap::new();
        let mut first_line: HashMap<u64, usize> = HashMap::new();
        for r in &rows {
            *count.entry(r.1.to_bits()).or_default() += 1;
            first_line.entry(r.1.to_bits()).or_insert(r.0);
        }
        report.repeated = rows.len() - count.len();
        if report.repeated > 0 {
            match policy.duplicates {
                Duplicates::Keep => {}
                Duplicates::Error => {
                    let mut seen = HashSet::new();
                    if let Some(r) = rows.iter().find(|r| !seen.insert(r.1.to_bits())) {
                        let first = first_line.get(&r.1.to_bits()).copied().unwrap_or(r.0);
                        return Err(refuse_repeat(r, first));
                    }
                }
                Duplicates::First => {
                    let mut seen = HashSet::new();
                    rows.retain(|r| seen.insert(r.1.to_bits()));
                }
                // Counting down each timestamp's rows, the one that reaches 0 is its last.
                Duplicates::Last => rows.retain(|r| match count.get_mut(&r.1.to_bits()) {
                    Some(left) => {
                        *left -= 1;
                        *left == 0
                    }
                    None => true,
                }),
            }
        }
    }
    report.dropped_repeated = before - rows.len();
    Ok((rows, report))
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Series, Error> {
        parse_series(text, Path::new("in.csv"))
    }

    fn with(
        text: &str,
        unordered: Unordered,
        duplicates: Duplicates,
    ) -> Result<(Series, RowReport), Error> {
        let policy = RowPolicy {
            unordered,
            duplicates,
        };
        parse_series_with(text, Path::new("in.csv"), policy)
    }

    #[test]
    fn reads_with_and_without_a_header() {
        let s = parse("timestamp,value\n2014-04-10 07:15:00,1.5\n2014-04-10 07:20:00,2\n").unwrap();
        assert_eq!(s.name, "in");
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[1].v, 2.0);
        assert_eq!(s.points[1].t - s.points[0].t, 300.0);
        let bare = parse("100,1\n\n# a comment\n160,2\r\n").unwrap();
        assert_eq!(
            bare.points,
            vec![Point { t: 100.0, v: 1.0 }, Point { t: 160.0, v: 2.0 }]
        );
        let extra = parse("value,timestamp\n1,100\n").unwrap_err().to_string();
        assert!(extra.contains("in.csv:1: timestamp"), "{extra}");
        let (reordered, _) = parse_table(
            "timestamp,label,value\n100,0,7\n",
            Path::new("x"),
            &["value"],
            RowPolicy::default(),
        )
        .unwrap();
        assert_eq!(reordered.rows[0].2, vec![7.0]);
    }

    #[test]
    fn quoted_fields_crlf_and_indented_comments_are_csv() {
        let text = "  # exported\r\n\"timestamp\",\"value\"\r\n\r\n\"100\", 1\r\n   \r\n  # gap\r\n160,\"2\"\r\n";
        let s = parse(text).unwrap();
        assert_eq!(
            s.points,
            vec![Point { t: 100.0, v: 1.0 }, Point { t: 160.0, v: 2.0 }]
        );
        // Lines are the file's, whatever was skipped before them.
        let e = parse(&text.replace("160,", "160,\"x\","))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "in.csv:7: row: expected 2 fields like the header, got 3");
        let e = parse("timestamp,value\n\n# a, \"b\n100,\"1,5\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "in.csv:4: value: expected a number, got \"1,5\"");
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            e("timestamp,value\n100,1\n200,x\n"),
            "in.csv:3: value: expected a number, got \"x\""
        );
        assert_eq!(
            e("timestamp,value\n100,1\n50,2\n"),
            "in.csv:3: timestamp: 50 is before the previous row's 100 (line 2); \
             pass --unordered keep|sort|drop"
        );
        assert_eq!(
            e("timestamp,value\n100,1\n# gap\n100,2\n"),
            "in.csv:4: timestamp: 100 repeats line 2's; pass --duplicates keep|first|last"
        );
        assert_eq!(
            e("timestamp,value\n100,1,3\n"),
            "in.csv:2: row: expected 2 fields like the header, got 3"
        );
        assert_eq!(
            e("100\n"),
            "in.csv:1: row: expected 2 fields (timestamp,value), got 1"
        );
        assert!(e("timestamp,value\n2014-13-01 00:00:00,1\n")
            .starts_with("in.csv:2: timestamp: no such date"));
        assert_eq!(
            e("timestamp,value\n100,inf\n"),
            "in.csv:2: value: expected a finite number, got \"inf\""
        );
        assert!(e("timestamp,count\n100,1\n").contains("no column \"value\""));
    }

    /// Five-minute rows 00:00 .. 04:55 whose rows 36..47 (03:00 .. 03:55) were written an
    /// hour early, 02:00 .. 02:55, as a daylight-saving step does; the value is the row number.
    fn stepped_back() -> (String, Vec<f64>) {
        let base = 1_394_323_200.0; // 2014-03-09 00:00:00
        let mut text = String::from("timestamp,value\n");
        let mut times = Vec::new();
        for i in 0..60 {
            let shift = if (36..48).contains(&i) { 3600.0 } else { 0.0 };
            let t = base + 300.0 * i as f64 - shift;
            text.push_str(&format!("{},{i}\n", format_timestamp(t)));
            times.push(t);
        }
        (text, times)
    }

    fn values(s: &Series) -> Vec<usize> {
        s.points.iter().map(|p| p.v as usize).collect()
    }

    #[test]
    fn a_step_back_is_an_error_by_default_naming_the_line_and_both_times() {
        let (text, _) = stepped_back();
        let e = parse(&text).unwrap_err().to_string();
        // Row 36 is line 38 (a header, then 1-based lines).
        assert_eq!(
            e,
            "in.csv:38: timestamp: 2014-03-09 02:00:00 is before the previous row's \
             2014-03-09 02:55:00 (line 37); pass --unordered keep|sort|drop"
        );
    }

    #[test]
    fn each_unordered_and_duplicates_mode_does_what_it_says() {
        use Duplicates as D;
        use Unordered as U;
        let (text, times) = stepped_back();
        let range = |a: usize, b: usize| (a..b).collect::<Vec<_>>();
        let cat = |parts: &[Vec<usize>]| parts.concat();

        // keep: every row, in file order.
        let (s, r) = with(&text, U::Keep, D::Keep).unwrap();
        assert_eq!(values(&s), range(0, 60));
        assert_eq!(s.points.iter().map(|p| p.t).collect::<Vec<_>>(), times);
        assert_eq!((r.out_of_order, r.repeated, r.kept()), (1, 12, 60));
        assert_eq!(
            r.summary().unwrap(),
            "1 row earlier than the row before, kept in file order; 12 rows repeating an \
             earlier timestamp, kept; 60 of 60 rows used"
        );
        let e = with(&text, U::Keep, D::Error).unwrap_err().to_string();
        assert_eq!(
            e,
            "in.csv:38: timestamp: 2014-03-09 02:00:00 repeats line 26's; \
             pass --duplicates keep|first|last"
        );
        let (s, _) = with(&text, U::Keep, D::First).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 36), range(48, 60)]));
        let (s, r) = with(&text, U::Keep, D::Last).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 24), range(36, 60)]));
        assert_eq!(r.dropped_repeated, 12);

        // sort: stable, so each repeated time has row 24+k, then row 36+k.
        let (s, r) = with(&text, U::Sort, D::Keep).unwrap();
        let mut sorted = range(0, 24);
        for k in 0..12 {
            sorted.extend([24 + k, 36 + k]);
        }
        sorted.extend(48..60);
        assert_eq!(values(&s), sorted);
        assert_eq!((r.out_of_order, r.repeated), (1, 12));
        let (s, _) = with(&text, U::Sort, D::First).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 36), range(48, 60)]));
        let (s, _) = with(&text, U::Sort, D::Last).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 24), range(36, 60)]));
        let e = with(&text, U::Sort, D::Error).unwrap_err().to_string();
        assert!(
            e.starts_with("in.csv:38: timestamp: 2014-03-09 02:00:00 repeats line 26's"),
            "{e}"
        );

        // drop: rows 36..46 are earlier than 02:55 and go; row 47 *is* 02:55, a repeat.
        let (s, r) = with(&text, U::Drop, D::Keep).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 36), range(47, 60)]));
        assert_eq!((r.dropped_out_of_order, r.repeated, r.kept()), (11, 1, 49));
        let (s, r) = with(&text, U::Drop, D::First).unwrap();
        assert_eq!(values(&s), cat(&[range(0, 36), range(48, 60)]));
        assert_eq!(
            r.summary().unwrap(),
            "1 row earlier than the row before, 11 dropped; 1 row repeating an earlier \
             timestamp, the first kept, 1 dropped; 48 of 60 rows used"
        );
        let e = with(&text, U::Drop, D::Error).unwrap_err().to_string();
        assert!(
            e.starts_with("in.csv:49: timestamp: 2014-03-09 02:55:00 repeats line 37's"),
            "{e}"
        );

        // error with lenient duplicates: still refuses the step back.
        let e = with(&text, U::Error, D::Keep).unwrap_err().to_string();
        assert!(
            e.starts_with("in.csv:38: timestamp: 2014-03-09 02:00:00 is before"),
            "{e}"
        );
    }

    #[test]
    fn repeats_in_order_follow_the_duplicates_rule() {
        let text = "100,1\n100,2\n160,3\n160,4\n160,5\n";
        let (s, r) = with(text, Unordered::Error, Duplicates::Keep).unwrap();
        assert_eq!(values(&s), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            r.summary().unwrap(),
            "3 rows repeating an earlier timestamp, kept; 5 of 5 rows used"
        );
        let (s, _) = with(text, Unordered::Error, Duplicates::First).unwrap();
        assert_eq!(values(&s), vec![1, 3]);
        let (s, _) = with(text, Unordered::Error, Duplicates::Last).unwrap();
        assert_eq!(values(&s), vec![2, 5]);
        let (_, r) = with("100,1\n160,2\n", Unordered::Error, Duplicates::Error).unwrap();
        assert_eq!(r.summary(), None);
        // −0 and 0 are one time.
        let e = parse("0,1\n-0,2\n").unwrap_err().to_string();
        assert!(e.contains("repeats line 1's"), "{e}");
    }

    #[test]
    fn nab_result_files_are_read_in_file_order() {
        let rows = parse_nab_results(
            "timestamp,value,anomaly_score,label\n200,1,0.5,0\n100,1,0.25,0\n100,1,0,0\n",
            Path::new("r.csv"),
        )
        .unwrap();
        assert_eq!(rows, vec![(200.0, 0.5), (100.0, 0.25), (100.0, 0.0)]);
    }

    fn policies() -> impl Strategy<Value = RowPolicy> {
        let u = prop_oneof![
            Just(Unordered::Error),
            Just(Unordered::Keep),
            Just(Unordered::Sort),
            Just(Unordered::Drop)
        ];
        let d = prop_oneof![
            Just(Duplicates::Error),
            Just(Duplicates::Keep),
            Just(Duplicates::First),
            Just(Duplicates::Last)
        ];
        (u, d).prop_map(|(unordered, duplicates)| RowPolicy {
            unordered,
            duplicates,
        })
    }

    fn csv(rows: &[(u8, i16)]) -> String {
        let mut text = String::from("timestamp,value\n");
        for (t, v) in rows {
            text.push_str(&format!("{},{v}\n", 1_700_000_000 + u32::from(*t) * 60));
        }
        text
    }

    fn sorted_pairs(mut pairs: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pairs
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "[0-9a-z,:.\\- \\n#\"T]{0,200}", policy in policies()) {
            let _ = parse_series_with(&text, Path::new("p.csv"), policy);
            let _ = parse_nab_results(&text, Path::new("p.csv"));
        }

        #[test]
        fn any_text_gives_rows_or_a_positioned_error(text in "\\PC*|[\"#,\r\n 0-9.]{0,80}") {
            let lines = text.split('\n').count().max(1);
            for result in [
                parse_series_with(&text, Path::new("p.csv"), RowPolicy::NAB).map(|_| ()),
                parse_nab_results(&text, Path::new("p.csv")).map(|_| ()),
            ] {
                if let Err(Error::Csv { line, .. }) = &result {
                    prop_assert!(*line >= 1 && *line <= lines, "line {} of {}", line, lines);
                }
            }
        }

        #[test]
        fn the_policies_keep_their_promises(
            rows in proptest::collection::vec((0u8..20, -50i16..50), 0..60),
            policy in policies(),
        ) {
            let input: Vec<(f64, f64)> = rows
                .iter()
                .map(|&(t, v)| (1_700_000_000.0 + f64::from(t) * 60.0, f64::from(v)))
                .collect();
            let result = parse_series_with(&csv(&rows), Path::new("p.csv"), policy);
            let out_of_order = input.windows(2).any(|w| w[1].0 < w[0].0);
            let (series, report) = match result {
                Ok(ok) => ok,
                Err(e) => {
                    // Only the two refusals, and only when there is something to refuse.
                    let message = e.to_string();
                    prop_assert!(
                        (message.contains("--unordered") && policy.unordered == Unordered::Error && out_of_order)
                        || (message.contains("--duplicates") && policy.duplicates == Duplicates::Error),
                        "{}", message
                    );
                    return Ok(());
                }
            };
            let output: Vec<(f64, f64)> = series.points.iter().map(|p| (p.t, p.v)).collect();
            prop_assert_eq!(report.kept(), output.len());
            prop_assert_eq!(report.rows, input.len());
            let ordered = output.windows(2).all(|w| w[0].0 <= w[1].0);
            let distinct = output.windows(2).all(|w| w[0].0 < w[1].0);
            match (policy.unordered, policy.duplicates) {
                (Unordered::Keep, Duplicates::Keep) => prop_assert_eq!(&output, &input),
                (Unordered::Sort, Duplicates::Keep) => {
                    prop_assert!(ordered);
                    prop_assert_eq!(sorted_pairs(output.clone()), sorted_pairs(input.clone()));
                }
                (Unordered::Sort | Unordered::Drop | Unordered::Error, Duplicates::First | Duplicates::Last) => {
                    prop_assert!(distinct);
                }
                (Unordered::Drop | Unordered::Error, _) => prop_assert!(ordered),
                _ => {}
            }
            if policy.unordered == Unordered::Sort && policy.duplicates != Duplicates::Error {
                // Every timestamp survives exactly once or as often as it was given.
                let mut times: Vec<f64> = input.iter().map(|p| p.0).collect();
                times.sort_by(f64::total_cmp);
                if policy.duplicates != Duplicates::Keep {
                    times.dedup();
                }
                prop_assert_eq!(output.iter().map(|p| p.0).collect::<Vec<_>>(), times);
            }
            // Whatever is kept was in the input, in input order except under sort.
            if policy.unordered != Unordered::Sort {
                let mut rest = input.iter();
                for p in &output {
                    prop_assert!(rest.any(|q| q == p), "{:?} is not a subsequence", output);
                }
            }
        }
    }
}

//! CSV input: `timestamp,value` series (NAB data files, exports), and NAB result files
//! (`timestamp,value,anomaly_score,label`). Errors name the file, the line and the column.

use crate::series::{parse_timestamp, Point, Series};
use crate::Error;
use std::path::Path;

/// A parsed table: the requested columns of every data row, in order, with its line.
pub(crate) struct Table {
    /// `(line, timestamp, the other requested columns)`.
    pub rows: Vec<(usize, f64, Vec<f64>)>,
}

/// Reads a `timestamp,value` file. A header line is optional; with one, the columns are
/// found by name (`timestamp` and `value`), so extra columns may follow.
pub fn read_series(path: &Path) -> Result<Series, Error> {
    let text = read_text(path)?;
    parse_series(&text, path)
}

/// [`read_series`] over text already in memory; `path` is only used in messages.
pub fn parse_series(text: &str, path: &Path) -> Result<Series, Error> {
    let table = parse_table(text, path, &["value"])?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Series {
        name,
        points: table
            .rows
            .into_iter()
            .map(|(_, t, cols)| Point { t, v: cols[0] })
            .collect(),
    })
}

/// Reads the anomaly scores of a NAB result file (`timestamp,value,anomaly_score,label`):
/// `(timestamp, anomaly_score)` per row.
pub fn read_nab_results(path: &Path) -> Result<Vec<(f64, f64)>, Error> {
    parse_nab_results(&read_text(path)?, path)
}

/// [`read_nab_results`] over text in memory; `path` is only used in messages.
pub fn parse_nab_results(text: &str, path: &Path) -> Result<Vec<(f64, f64)>, Error> {
    let table = parse_table(text, path, &["anomaly_score"])?;
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

/// Splits one CSV line into trimmed fields, removing surrounding double quotes. ballast's
/// inputs are numbers and timestamps, which never hold commas, so quotes are not nested.
fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.strip_prefix('"')
                .and_then(|f| f.strip_suffix('"'))
                .unwrap_or(f)
        })
        .collect()
}

/// Parses `text` as CSV whose first column is a timestamp, returning the `wanted` columns
/// as numbers. Without a header, the columns are taken in order after the timestamp.
pub(crate) fn parse_table(text: &str, path: &Path, wanted: &[&str]) -> Result<Table, Error> {
    let fail = |line: usize, field: &str, message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .peekable();
    // Column positions: from the header when there is one, else 1.. in order.
    let mut positions: Vec<usize> = (1..=wanted.len()).collect();
    let mut expected_fields = None;
    if let Some(&(line, first)) = lines.peek() {
        let header = fields(first);
        let starts_with_time = parse_timestamp(header[0]).is_ok();
        if !starts_with_time {
            if !header[0].eq_ignore_ascii_case("timestamp")
                && !header[0].eq_ignore_ascii_case("time")
            {
                return Err(fail(
                    line,
                    "timestamp",
                    format!(
                        "expected a header starting with \"timestamp\" or a data row, got {:?}",
                        truncate(header[0])
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
                                header.join(",")
                            ),
                        )
                    })?;
            }
            expected_fields = Some(header.len());
            lines.next();
        }
    }
    let mut rows = Vec::new();
    let mut previous: Option<(usize, f64)> = None;
    for (line, raw) in lines {
        let cols = fields(raw);
        let needed = positions.iter().max().copied().unwrap_or(0) + 1;
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
        let t = parse_timestamp(cols[0]).map_err(|m| fail(line, "timestamp", m))?;
        if let Some((previous_line, previous_t)) = previous {
            if t < previous_t {
                return Err(fail(
                    line,
                    "timestamp",
                    format!(
                        "{} is earlier than line {previous_line}'s; rows must be in time order",
                        cols[0]
                    ),
                ));
            }
        }
        previous = Some((line, t));
        let mut values = Vec::with_capacity(wanted.len());
        for (&pos, name) in positions.iter().zip(wanted) {
            let text = cols[pos];
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
        rows.push((line, t, values));
    }
    Ok(Table { rows })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Series, Error> {
        parse_series(text, Path::new("in.csv"))
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
        let reordered = parse_table(
            "timestamp,label,value\n100,0,7\n",
            Path::new("x"),
            &["value"],
        )
        .unwrap();
        assert_eq!(reordered.rows[0].2, vec![7.0]);
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
            "in.csv:3: timestamp: 50 is earlier than line 2's; rows must be in time order"
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

    #[test]
    fn equal_timestamps_are_kept() {
        let s = parse("100,1\n100,2\n").unwrap();
        assert_eq!(s.points.len(), 2);
    }
}

//! NAB-format corpora: a data folder of `<category>/<name>.csv` files, the labelled anomaly
//! windows of each (`combined_windows.json`) and the scoring profiles (`profiles.json`).
//! Data files are read as NAB reads them: every row, in file order, even where the
//! timestamps step back or repeat ([`RowPolicy::NAB`]).

use super::csv::{read_series_with, read_text, RowPolicy, RowReport};
use crate::nab::Profile;
use crate::series::{parse_timestamp, Series};
use crate::Error;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One labelled file of a corpus.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// Its key in the windows file: `<category>/<name>.csv`.
    pub key: String,
    /// Its data, every row in file order.
    pub series: Series,
    /// Rows out of time order and repeated timestamps found in it (kept, as NAB keeps them).
    pub rows: RowReport,
    /// Anomaly windows, `[start, end]` in seconds since the epoch, in time order.
    pub windows: Vec<(f64, f64)>,
}

impl CorpusFile {
    /// The category folder (`realTweets`).
    pub fn category(&self) -> &str {
        self.key.rsplit_once('/').map_or("", |(c, _)| c)
    }

    /// The file name (`Twitter_volume_AAPL.csv`).
    pub fn file_name(&self) -> &str {
        self.key.rsplit_once('/').map_or(&self.key, |(_, f)| f)
    }
}

/// Reads a JSON file, with line and column in the error.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = read_text(path)?;
    parse_json(&text, path)
}

pub(crate) fn parse_json<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Reads `combined_windows.json`: for each file key, its windows `[start, end]`.
pub fn read_windows(path: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>, Error> {
    let raw: BTreeMap<String, Vec<(String, String)>> = read_json(path)?;
    parse_windows(raw, path)
}

/// [`read_windows`] over text in memory; `path` is only used in messages.
pub fn parse_windows_str(
    text: &str,
    path: &Path,
) -> Result<BTreeMap<String, Vec<(f64, f64)>>, Error> {
    parse_windows(parse_json(text, path)?, path)
}

fn parse_windows(
    raw: BTreeMap<String, Vec<(String, String)>>,
    path: &Path,
) -> Result<BTreeMap<String, Vec<(f64, f64)>>, Error> {
    let mut out = BTreeMap::new();
    for (key, windows) in raw {
        let mut parsed = Vec::with_capacity(windows.len());
        for (i, (start, end)) in windows.iter().enumerate() {
            let at = |which: &str, m: String| {
                Error::Corpus(format!(
                    "{}: {key:?} window {i} {which}: {m}",
                    path.display()
                ))
            };
            let s = parse_timestamp(start).map_err(|m| at("start", m))?;
            let e = parse_timestamp(end).map_err(|m| at("end", m))?;
            if e < s {
                return Err(at("end", format!("{end} is before the start {start}")));
            }
            parsed.push((s, e));
        }
        parsed.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(w) = parsed.windows(2).find(|w| w[1].0 <= w[0].1) {
            return Err(Error::Corpus(format!(
                "{}: {key:?}: windows overlap ({} .. {} and {} ..)",
                path.display(),
                crate::series::format_timestamp(w[0].0),
                crate::series::format_timestamp(w[0].1),
                crate::series::format_timestamp(w[1].0)
            )));
        }
        out.insert(key, parsed);
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CostMatrix {
    tp_weight: f64,
    fp_weight: f64,
    fn_weight: f64,
    #[allow(dead_code)] // NAB lists it; no score uses it
    tn_weight: Option<f64>,
}

/// Reads NAB's `profiles.json`, in NAB's order (standard, reward low FP, reward low FN),
/// any others after them by name.
pub fn read_profiles(path: &Path) -> Result<Vec<Profile>, Error> {
    parse_profiles_str(&read_text(path)?, path)
}

/// [`read_profiles`] over text in memory; `path` is only used in messages.
pub fn parse_profiles_str(text: &str, path: &Path) -> Result<Vec<Profile>, Error> {
    let raw: BTreeMap<String, ProfileEntry> = parse_json(text, path)?;
    let mut profiles: Vec<Profile> = raw
        .into_iter()
        .map(|(name, p)| Profile {
            name,
            tp_weight: p.cost_matrix.tp_weight,
            fp_weight: p.cost_matrix.fp_weight,
            fn_weight: p.cost_matrix.fn_weight,
        })
        .collect();
    // NAB's own order first, then any others by name.
    let known = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];
    profiles.sort_by_key(|p| {
        (
            known
                .iter()
                .position(|k| *k == p.name)
                .unwrap_or(known.len()),
            p.name.clone(),
        )
    });
    for p in &profiles {
        if ![p.tp_weight, p.fp_weight, p.fn_weight]
            .iter()
            .all(|w| w.is_finite() && *w >= 0.0)
        {
            return Err(Error::Corpus(format!(
                "{}: profile {:?}: weights must be finite and not negative",
                path.display(),
                p.name
            )));
        }
    }
    if profiles.is_empty() {
        return Err(Error::Corpus(format!("{}: no profiles", path.display())));
    }
    Ok(profiles)
}

/// Finds a corpus file: `DATA_DIR/<key>`, or `DATA_DIR/data/<key>` when DATA_DIR is the
/// corpus root (as in NAB's own checkout).
pub fn resolve(data_dir: &Path, key: &str) -> Option<PathBuf> {
    [data_dir.join(key), data_dir.join("data").join(key)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Loads every file the windows file lists, with its windows.
pub fn load_corpus(data_dir: &Path, windows_path: &Path) -> Result<Vec<CorpusFile>, Error> {
    let windows = read_windows(windows_path)?;
    if windows.is_empty() {
        return Err(Error::Corpus(format!(
            "{}: lists no files",
            windows_path.display()
        )));
    }
    let mut files = Vec::with_capacity(windows.len());
    for (key, windows) in windows {
        let path = resolve(data_dir, &key).ok_or_else(|| {
            Error::Corpus(format!(
                "{}: {key:?} is listed in {} but is neither {} nor {}",
                data_dir.display(),
                windows_path.display(),
                data_dir.join(&key).display(),
                data_dir.join("data").join(&key).display()
            ))
        })?;
        let (series, rows) = read_series_with(&path, RowPolicy::NAB)?;
        files.push(CorpusFile {
            key,
            series,
            rows,
            windows,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_parsed_sorted_and_checked() {
        let text = r#"{"a/x.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]], "a/y.csv": []}"#;
        let w = parse_windows_str(text, Path::new("w.json")).unwrap();
        assert_eq!(w["a/x.csv"], vec![(1_397_114_100.0, 1_397_234_700.0)]);
        assert!(w["a/y.csv"].is_empty());
        let backwards = r#"{"a/x.csv": [["2014-04-11 00:00:00", "2014-04-10 00:00:00"]]}"#;
        let e = parse_windows_str(backwards, Path::new("w.json")).unwrap_err();
        assert!(e.to_string().contains("window 0 end"), "{e}");
        let bad = "{\"a/x.csv\": [[1, 2]]}";
        let e = parse_windows_str(bad, Path::new("w.json")).unwrap_err();
        assert!(e.to_string().starts_with("w.json:1:"), "{e}");
    }
}

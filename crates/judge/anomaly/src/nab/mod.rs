//! The NAB harness: run a detector over a NAB-format corpus, score it as NAB does
//! ([`score`]), write NAB-format result files.

pub mod score;

pub use score::{
    label_rows, optimise, probationary_length, Profile, ProfileScore, RowLabel, ScoredFile,
};

use crate::detect::DetectorConfig;
use crate::input::nab::CorpusFile;
use crate::series::format_timestamp;
use crate::Error;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// A detector's anomaly scores over a corpus, one vector per file in corpus order.
#[derive(Debug, Clone)]
pub struct CorpusScores {
    /// The detector's name (used in result paths).
    pub detector: String,
    /// One score per row of each file.
    pub scores: Vec<Vec<f64>>,
    /// Wall time of the detection pass.
    pub elapsed: Duration,
}

/// Runs `config` over every file: a fresh detector per file, every point scored before
/// the next is read. Files are spread over `threads` threads.
pub fn run_detector(
    corpus: &[CorpusFile],
    name: &str,
    config: &DetectorConfig,
    threads: usize,
) -> Result<CorpusScores, Error> {
    config.validate()?;
    let started = Instant::now();
    let threads = threads.clamp(1, corpus.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); corpus.len()];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = corpus.get(i) else { break };
                        let mut detector = config.build_for(file.series.points.len());
                        let s: Vec<f64> = file
                            .series
                            .points
                            .iter()
                            .map(|p| detector.score(p.t, p.v))
                            .collect();
                        done.push((i, s));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            for (i, s) in worker.join().expect("a detector thread panicked") {
                scores[i] = s;
            }
        }
    });
    Ok(CorpusScores {
        detector: name.to_string(),
        scores,
        elapsed: started.elapsed(),
    })
}

/// Labels every file's rows and pairs them with the scores.
pub fn prepare(corpus: &[CorpusFile], scores: &[Vec<f64>]) -> Result<Vec<ScoredFile>, Error> {
    corpus
        .iter()
        .zip(scores)
        .map(|(file, scores)| {
            let ts: Vec<f64> = file.series.points.iter().map(|p| p.t).collect();
            if scores.len() != ts.len() {
                return Err(Error::Corpus(format!(
                    "{}: {} anomaly scores for {} rows",
                    file.key,
                    scores.len(),
                    ts.len()
                )));
            }
            if let Some((i, s)) = scores
                .iter()
                .enumerate()
                .find(|(_, s)| !(0.0..=1.0).contains(*s))
            {
                return Err(Error::Corpus(format!(
                    "{}: row {}: anomaly score {s} is outside [0, 1]",
                    file.key,
                    i + 1
                )));
            }
            Ok(ScoredFile {
                name: file.key.clone(),
                labels: label_rows(&ts, &file.windows, &file.key)?,
                scores: scores.clone(),
            })
        })
        .collect()
}

/// Scores under each profile, each with its own optimised threshold.
pub fn score_profiles(files: &[ScoredFile], profiles: &[Profile]) -> Vec<ProfileScore> {
    profiles.iter().map(|p| optimise(files, p)).collect()
}

/// Writes `dir/<detector>/<category>/<detector>_<file>.csv` for every file, with
/// `timestamp,value,anomaly_score,label` (label 1 inside a window), as NAB's tools read them.
pub fn write_results(
    dir: &Path,
    corpus: &[CorpusFile],
    scores: &CorpusScores,
) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    let detector = &scores.detector;
    for (file, scores) in corpus.iter().zip(&scores.scores) {
        let folder = dir.join(detector).join(file.category());
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        let path = folder.join(format!("{detector}_{}", file.file_name()));
        let out = std::fs::File::create(&path).map_err(io(&path))?;
        let mut out = std::io::BufWriter::new(out);
        let write = |out: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
            writeln!(out, "timestamp,value,anomaly_score,label")?;
            for (p, s) in file.series.points.iter().zip(scores) {
                let inside = file.windows.iter().any(|&(a, b)| p.t >= a && p.t <= b);
                writeln!(
                    out,
                    "{},{},{},{}",
                    format_timestamp(p.t),
                    p.v,
                    s,
                    u8::from(inside)
                )?;
            }
            out.flush()
        };
        write(&mut out).map_err(io(&path))?;
    }
    Ok(())
}

/// Reads published NAB result files for a corpus: `dir/<category>/<name>_<file>`, where
/// `name` is the folder's own name (NAB's `results/<detector>` layout).
pub fn read_results_dir(corpus: &[CorpusFile], dir: &Path) -> Result<CorpusScores, Error> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Corpus(format!("{}: not a results folder", dir.display())))?;
    let scores = corpus
        .iter()
        .map(|file| {
            let path = dir
                .join(file.category())
                .join(format!("{name}_{}", file.file_name()));
            let rows = crate::input::csv::read_nab_results(&path)?;
            if rows.len() != file.series.points.len()
                || rows
                    .iter()
                    .zip(&file.series.points)
                    .any(|(r, p)| r.0 != p.t)
            {
                return Err(Error::Corpus(format!(
                    "{}: its rows do not match {}'s timestamps",
                    path.display(),
                    file.key
                )));
            }
            Ok(rows.into_iter().map(|r| r.1).collect())
        })
        .collect::<Result<_, Error>>()?;
    Ok(CorpusScores {
        detector: name,
        scores,
        elapsed: Duration::ZERO,
    })
}

/// The scoreboard as a table: one row per detector, a score and threshold per profile.
pub fn scoreboard_text(board: &[(String, Vec<ProfileScore>)]) -> String {
    let mut out = String::new();
    let Some((_, first)) = board.first() else {
        return out;
    };
    out.push_str(&format!("{:<16}", "detector"));
    for p in first {
        out.push_str(&format!(" {:>24}", p.profile));
    }
    out.push_str(&format!(" {:>12} {:>10}\n", "windows", "FP (std)"));
    for (detector, scores) in board {
        out.push_str(&format!("{detector:<16}"));
        for s in scores {
            out.push_str(&format!(" {:>12.2} (t {:>7.4})", s.score, s.threshold));
        }
        if let Some(s) = scores.first() {
            out.push_str(&format!(
                " {:>12} {:>10}",
                format!("{}/{}", s.windows_detected, s.windows),
                s.false_positives
            ));
        }
        out.push('\n');
    }
    out
}

/// The scoreboard as JSON: `{detector: {profile: {"threshold": t, "score": s, ...}}}`.
pub fn scoreboard_json(board: &[(String, Vec<ProfileScore>)]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (detector, scores) in board {
        let mut profiles = serde_json::Map::new();
        for s in scores {
            profiles.insert(
                s.profile.clone(),
                serde_json::json!({
                    "threshold": s.threshold,
                    "score": s.score,
                    "raw_score": s.raw_score,
                    "null_raw_score": s.null_raw_score,
                    "perfect_raw_score": s.perfect_raw_score,
                    "windows_detected": s.windows_detected,
                    "windows": s.windows,
                    "false_positives": s.false_positives,
                }),
            );
        }
        root.insert(detector.clone(), serde_json::Value::Object(profiles));
    }
    serde_json::Value::Object(root)
}

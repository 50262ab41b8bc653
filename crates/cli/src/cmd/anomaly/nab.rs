//! `ballast anomaly nab`: detectors over a NAB-format corpus, scored as NAB does.

use super::watch::read_detector_config;
use crate::cmd::InputError;
use ballast_anomaly::input::nab::{load_corpus, read_profiles};
use ballast_anomaly::nab::{
    prepare, read_results_dir, run_detector, score_profiles, scoreboard_json, scoreboard_text,
    write_results, CorpusScores, Profile,
};
use ballast_anomaly::DetectorConfig;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct NabArgs {
    /// The corpus' data folder (holding <category>/<file>.csv), or its root (holding data/).
    pub data_dir: PathBuf,
    /// NAB's combined_windows.json: which files, and their anomaly windows.
    #[arg(long, value_name = "FILE")]
    pub windows: PathBuf,
    /// NAB's profiles.json [default: NAB's standard, reward_low_FP_rate, reward_low_FN_rate].
    #[arg(long, value_name = "FILE")]
    pub profiles: Option<PathBuf>,
    /// Built-in detector to run (repeatable) [default: all built in, unless
    /// --detector-config is given].
    #[arg(long)]
    pub detector: Vec<String>,
    /// Detector settings as JSON (repeatable); named after the file.
    #[arg(long, value_name = "FILE")]
    pub detector_config: Vec<PathBuf>,
    /// Score published result files too: DIR/<category>/<DIR's name>_<file>.csv (repeatable).
    #[arg(long, value_name = "DIR")]
    pub score_results: Vec<PathBuf>,
    /// Write NAB result files: DIR/<detector>/<category>/<detector>_<file>.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the scoreboard as JSON: {detector: {profile: {"threshold": t, "score": s}}}.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Threads running detectors (one file per thread at a time).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub fn run(args: NabArgs) -> anyhow::Result<ExitCode> {
    let corpus = load_corpus(&args.data_dir, &args.windows)?;
    for file in &corpus {
        if let Some(summary) = file.rows.summary() {
            eprintln!(
                "{}: {summary} (scored in file order, as NAB does)",
                file.key
            );
        }
    }
    let profiles = match &args.profiles {
        Some(path) => read_profiles(path)?,
        None => Profile::nab_defaults(),
    };
    let mut detectors: Vec<(String, DetectorConfig)> = Vec::new();
    for name in &args.detector {
        detectors.push((name.clone(), DetectorConfig::named(name)?));
    }
    for path in &args.detector_config {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| InputError(format!("{}: no file name", path.display())))?;
        detectors.push((name, read_detector_config(path)?));
    }
    if args.detector.is_empty() && args.detector_config.is_empty() {
        for name in DetectorConfig::NAMES {
            detectors.push((name.to_string(), DetectorConfig::named(name)?));
        }
    }
    let rows: usize = corpus.iter().map(|f| f.series.points.len()).sum();
    let mut runs: Vec<CorpusScores> = Vec::new();
    for (name, config) in &detectors {
        let scores = run_detector(&corpus, name, config, args.threads)?;
        eprintln!(
            "{name}: {} files, {rows} points in {:.2?}",
            corpus.len(),
            scores.elapsed
        );
        runs.push(scores);
    }
    for dir in &args.score_results {
        runs.push(read_results_dir(&corpus, dir)?);
    }
    let mut board = Vec::new();
    for run in &runs {
        if let Some(out) = &args.out {
            write_results(out, &corpus, run)?;
        }
        let files = prepare(&corpus, &run.scores)?;
        board.push((run.detector.clone(), score_profiles(&files, &profiles)));
    }
    print!("{}", scoreboard_text(&board));
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&scoreboard_json(&board))? + "\n",
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

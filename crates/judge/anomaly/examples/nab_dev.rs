//! Development loop for detectors: runs a detector config (JSON, or a built-in name) over
//! a NAB corpus and prints the three profiles and, with `-v`, every file's share.
//!
//!   cargo run --release -p ballast-anomaly --example nab_dev -- CORPUS_DIR ewma [-v]

use ballast_anomaly::input::nab::{load_corpus, read_profiles};
use ballast_anomaly::nab::{prepare, run_detector, score::score_at, score_profiles};
use ballast_anomaly::DetectorConfig;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(&args[0]);
    if args[1].ends_with(".jsonl") {
        // A sweep: one config per line, one result line each.
        let corpus = load_corpus(&dir.join("data"), &dir.join("combined_windows.json"))?;
        let profiles = read_profiles(&dir.join("profiles.json"))?;
        for line in std::fs::read_to_string(&args[1])?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let config: DetectorConfig = serde_json::from_str(line)?;
            let scores = run_detector(&corpus, config.name(), &config, 2)?;
            let files = prepare(&corpus, &scores.scores)?;
            let r = score_profiles(&files, &profiles);
            println!(
                "{:6.2} {:6.2} {:6.2}  w {:>2} fp {:>3} t {:.3}  {line}",
                r[0].score,
                r[2].score,
                r[1].score,
                r[0].windows_detected,
                r[0].false_positives,
                r[0].threshold
            );
        }
        return Ok(());
    }
    let config: DetectorConfig = if args[1].ends_with(".json") {
        serde_json::from_str(&std::fs::read_to_string(&args[1])?)?
    } else if args[1].starts_with('{') {
        serde_json::from_str(&args[1])?
    } else {
        DetectorConfig::named(&args[1])?
    };
    let verbose = args.iter().any(|a| a == "-v");
    let corpus = load_corpus(&dir.join("data"), &dir.join("combined_windows.json"))?;
    let profiles = read_profiles(&dir.join("profiles.json"))?;
    let mut scores = run_detector(&corpus, config.name(), &config, 2)?;
    if let Some(i) = args.iter().position(|a| a == "--results") {
        // Score published outputs instead: --results DIR NAME reads DIR/<cat>/NAME_<file>.
        let (rdir, name) = (PathBuf::from(&args[i + 1]), &args[i + 2]);
        scores.scores = corpus
            .iter()
            .map(|f| {
                let p = rdir
                    .join(f.category())
                    .join(format!("{name}_{}", f.file_name()));
                ballast_anomaly::input::csv::read_nab_results(&p)
                    .map(|rows| rows.into_iter().map(|r| r.1).collect())
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(i) = args.iter().position(|a| a == "--out") {
        ballast_anomaly::nab::write_results(&PathBuf::from(&args[i + 1]), &corpus, &scores)?;
    }
    let files = prepare(&corpus, &scores.scores)?;
    let results = score_profiles(&files, &profiles);
    for r in &results {
        println!(
            "{:<20} {:>7.2}  threshold {:.4}  windows {}/{}  fp {}",
            r.profile, r.score, r.threshold, r.windows_detected, r.windows, r.false_positives
        );
    }
    println!("detection {:.2?}", scores.elapsed);
    if verbose {
        let standard = &profiles[0];
        let t = results[0].threshold;
        for f in &files {
            let one = score_at(std::slice::from_ref(f), standard, t);
            let firsts: Vec<String> = first_detections(f, t);
            println!(
                "{:<55} raw {:>6.2}  windows {}/{}  fp {:>3}  {}",
                f.name,
                one.raw_score,
                one.windows_detected,
                one.windows,
                one.false_positives,
                firsts.join(" ")
            );
        }
    }
    Ok(())
}

/// For each window, the relative position of its first detection (0 = start, 1 = end).
fn first_detections(f: &ballast_anomaly::nab::ScoredFile, t: f64) -> Vec<String> {
    use ballast_anomaly::nab::RowLabel;
    let mut out = Vec::new();
    let mut current = None;
    let mut start = 0;
    let mut found = false;
    for (i, (l, s)) in f.labels.iter().zip(&f.scores).enumerate() {
        let w = match l {
            RowLabel::Window { window, .. } => Some(*window),
            _ => None,
        };
        if w != current {
            if let Some(cw) = current {
                if !found {
                    out.push(format!("w{cw}:miss"));
                }
            }
            current = w;
            start = i;
            found = false;
        }
        if let (Some(cw), false) = (w, found) {
            if *s >= t {
                out.push(format!("w{cw}:{:.2}", (i - start) as f64));
                found = true;
            }
        }
    }
    if let Some(cw) = current {
        if !found {
            out.push(format!("w{cw}:miss"));
        }
    }
    out
}

//! Throughput and memory of every built-in detector: SERIES series × POINTS points each
//! (default 1,000 × 40,000), scored on THREADS threads (default 2), one detector per
//! series, every point scored in order. With a NAB corpus folder, also the wall time of a
//! full NAB run (read, detect, score three profiles). Run by `bench/anomaly.sh`.
//!
//!   cargo run --release -p ballast-anomaly --example bench -- [SERIES] [POINTS] [THREADS] [NAB_DIR]

use ballast_anomaly::input::nab::{load_corpus, read_profiles};
use ballast_anomaly::nab::{prepare, run_detector, score_profiles};
use ballast_anomaly::DetectorConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Sixteen distinct shapes, each series a scaled and shifted copy of one: daily rhythm,
/// noise, bursts of spikes, level shifts and a slow drift, so detectors meet news often.
fn pool(points: usize) -> Vec<Vec<f64>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..16)
        .map(|k| {
            let mut level = 100.0;
            (0..points)
                .map(|i| {
                    if rnd() < 0.0005 {
                        level *= 0.5 + rnd();
                    }
                    let daily = 20.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin();
                    let spike = if rnd() < 0.002 { 200.0 * rnd() } else { 0.0 };
                    level + daily + 5.0 * rnd() + spike + i as f64 * 1e-4 * k as f64
                })
                .collect()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let series: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let points: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let nab = args.get(3).map(PathBuf::from);
    let shapes = pool(points);
    println!("{series} series × {points} points, {threads} threads");
    println!(
        "{:<10} {:>10} {:>14} {:>12} {:>20} {:>18}",
        "detector", "seconds", "points/s", "ns/point", "bytes/series (peak)", "bytes/series (end)"
    );
    for name in DetectorConfig::NAMES {
        let config = DetectorConfig::named(name).unwrap();
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        let (peak, end, checksum) = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let (mut peak, mut end, mut checksum) = (0usize, 0usize, 0.0f64);
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= series {
                                break;
                            }
                            let shape = &shapes[i % shapes.len()];
                            let (scale, shift) = (1.0 + (i % 7) as f64, (i % 11) as f64 * 10.0);
                            // A live series does not know its length: 750-point warm-up.
                            let mut d = config.build().unwrap();
                            for (j, &v) in shape.iter().enumerate() {
                                checksum += d.score(j as f64 * 60.0, v * scale + shift);
                                if j == 748 {
                                    peak = peak.max(d.memory_bytes());
                                }
                            }
                            end = end.max(d.memory_bytes());
                        }
                        (peak, end, checksum)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .fold((0, 0, 0.0), |a, b| (a.0.max(b.0), a.1.max(b.1), a.2 + b.2))
        });
        let seconds = started.elapsed().as_secs_f64();
        let total = (series * points) as f64;
        // One machine-readable line per run for bench/anomaly.sh.
        eprintln!("RESULT {name} {seconds:.3} {peak} {end}");
        println!(
            "{name:<10} {seconds:>10.3} {:>14.0} {:>12.1} {:>20} {:>18}   (checksum {checksum:.1})",
            total / seconds,
            seconds * 1e9 * threads as f64 / total,
            peak,
            end
        );
    }
    if let Some(dir) = nab {
        for name in DetectorConfig::NAMES {
            let started = Instant::now();
            let corpus =
                load_corpus(&dir.join("data"), &dir.join("combined_windows.json")).unwrap();
            let profiles = read_profiles(&dir.join("profiles.json")).unwrap();
            let config = DetectorConfig::named(name).unwrap();
            let scores = run_detector(&corpus, name, &config, threads).unwrap();
            let files = prepare(&corpus, &scores.scores).unwrap();
            let board = score_profiles(&files, &profiles);
            println!(
                "NAB {name}: {} files read, detected and scored in {:.3} s (detection {:.3} s); standard {:.2}",
                corpus.len(),
                started.elapsed().as_secs_f64(),
                scores.elapsed.as_secs_f64(),
                board[0].score
            );
        }
    }
}

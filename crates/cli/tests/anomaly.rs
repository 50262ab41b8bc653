//! `ballast baseline`, `ballast anomaly` and `ballast leak` as users run them, offline: the
//! NAB scoreboard and result files, the reference detector's scores through the CLI, leak
//! verdicts and exit codes on recorded Go series, a baseline whose contract snippet
//! `ballast slo check` accepts, and precise errors with exit code 2 for malformed input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ballast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .output()
        .expect("ballast runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// One definition of where the corpus is (BALLAST_NAB_DIR, its default, CI=true) for both
// test suites that read it.
#[path = "../../judge/anomaly/tests/it/corpus.rs"]
mod corpus;
use corpus::nab_dir;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../judge/anomaly/tests/fixtures/leak")
        .join(name)
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ballast-cli-anomaly-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn nab_prints_the_scoreboard_writes_results_and_reproduces_the_reference() {
    let Some(nab) = nab_dir() else { return };
    let out_dir = temp("nab");
    let json = out_dir.join("scores.json");
    let (data, windows) = (nab.join("data"), nab.join("combined_windows.json"));
    let out = ballast(&[
        "anomaly",
        "nab",
        data.to_str().unwrap(),
        "--windows",
        windows.to_str().unwrap(),
        "--profiles",
        nab.join("profiles.json").to_str().unwrap(),
        "--detector",
        "novelty",
        "--score-results",
        nab.join("reference/numenta").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let board = stdout(&out);
    assert!(
        board.contains("numenta                 72.97 (t  0.5431)"),
        "{board}"
    );
    let scores: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let numenta = &scores["numenta"];
    assert_eq!(numenta["standard"]["threshold"], 0.543099145074);
    assert!((numenta["reward_low_FN_rate"]["score"].as_f64().unwrap() - 76.82).abs() < 0.01);
    // The bar: above ARTime's 77.0 on the standard profile, through the CLI too.
    assert!(
        scores["novelty"]["standard"]["score"].as_f64().unwrap() > 77.0,
        "{scores}"
    );
    // NAB's layout: DIR/<detector>/<category>/<detector>_<file>.csv.
    let result = out_dir.join("novelty/realTweets/novelty_Twitter_volume_AAPL.csv");
    let text = std::fs::read_to_string(&result).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,label"));
    assert_eq!(lines.next().unwrap(), "2015-02-26 21:42:53,104,0,0");
    assert_eq!(text.lines().count(), 15_903);
    assert!(
        text.lines().any(|l| l.ends_with(",1")),
        "no row labelled inside a window"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn leak_tells_the_recorded_go_programs_apart_with_exit_codes() {
    let leaky = ballast(&[
        "leak",
        "--csv",
        &fixture("leaky-1-goroutines.csv"),
        "--limit",
        "1000",
    ]);
    assert_eq!(leaky.status.code(), Some(1), "{}", stderr(&leaky));
    let text = stdout(&leaky);
    assert!(text.starts_with("growing"), "{text}");
    assert!(text.contains("reaches 1000 in"), "{text}");
    let steady = ballast(&[
        "leak",
        "--csv",
        &fixture("steady-7-goroutines.csv"),
        "--csv",
        &fixture("steady-7-heap.csv"),
        "--json",
    ]);
    assert_eq!(steady.status.code(), Some(0), "{}", stderr(&steady));
    let report: serde_json::Value = serde_json::from_str(&stdout(&steady)).unwrap();
    for entry in report.as_array().unwrap() {
        assert_ne!(entry["trend"]["verdict"], "growing", "{entry}");
    }
}

/// A week of p99 latency at five-minute steps: 120 ms by night, 160 ms by day.
fn week_csv(dir: &Path) -> PathBuf {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..7 * 288 {
        let t = 1_700_438_400 + i * 300;
        let hour = (i % 288) / 12;
        let v = if (8..20).contains(&hour) { 0.16 } else { 0.12 } + (i * 7919 % 11) as f64 / 1000.0;
        csv.push_str(&format!("{t},{v}\n"));
    }
    let path = dir.join("p99.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn baseline_suggests_an_objective_in_text_json_and_a_contract_slo_check_accepts() {
    let dir = temp("baseline");
    let csv = week_csv(&dir);
    let csv = csv.to_str().unwrap();
    let text = ballast(&["baseline", "suggest", "--csv", csv]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.starts_with("proposed: p99 ≤ 0.17 holds 99.5 % of 5m windows over the last 7d"),
        "{text}"
    );
    assert!(text.contains("seasonality: Daily"), "{text}");
    let json = ballast(&["baseline", "suggest", "--csv", csv, "--format", "json"]);
    let b: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(b["proposal"]["threshold"], 0.17);
    assert_eq!(b["slots"].as_array().unwrap().len(), 24);
    let snippet = ballast(&[
        "baseline", "suggest", "--csv", csv, "--format", "contract", "--name", "p99",
    ]);
    // The user replaces the placeholder with the query of the series the CSV came from.
    let snippet = stdout(&snippet);
    let placeholder = format!("<PromQL for {csv}>");
    assert!(snippet.contains(&placeholder), "{snippet}");
    let snippet = snippet.replace(&placeholder, "max(p99_seconds) or vector(0)");
    let contract = format!(
        "name: shop\ntarget:\n  base_url: http://127.0.0.1:8080\nphases:\n  - {{ name: baseline, rate: 10/s, duration: 1s }}\n{snippet}"
    );
    let path = dir.join("shop.yaml");
    std::fs::write(&path, &contract).unwrap();
    let check = ballast(&["slo", "check", path.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{contract}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anomaly_score_flags_a_spike_in_a_csv() {
    let dir = temp("score");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..2000 {
        let v = if i == 1500 { 900 } else { 100 + i % 9 };
        csv.push_str(&format!("{},{v}\n", 1_700_000_000 + i * 60));
    }
    let path = dir.join("queue.csv");
    std::fs::write(&path, csv).unwrap();
    for detector in ["novelty", "ewma"] {
        let out = ballast(&[
            "anomaly",
            "score",
            path.to_str().unwrap(),
            "--detector",
            detector,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{detector}: {text}");
        assert!(
            text.contains("2023-11-15 23:13:20 ANOMALY") && text.contains("value 900"),
            "{detector}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reader_that_stops_early_stops_ballast_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = temp("pipe");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..200_000 {
        csv.push_str(&format!("{},{}\n", 1_700_000_000 + i * 60, 100 + i % 9));
    }
    let path = dir.join("long.csv");
    std::fs::write(&path, csv).unwrap();
    // `ballast anomaly score --all long.csv | head -1`
    let mut child = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["anomaly", "score", "--all", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let said = stderr(&out);
    assert!(!said.contains("panicked"), "{said}");
    assert!(said.trim().is_empty(), "{said}");
    assert_eq!(out.status.code(), Some(141));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_inputs_are_precise_errors_with_exit_code_2() {
    let dir = temp("bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    // Held until the cases have run: connections to it are refused.
    let nothing = ballast_testkit::RefusedPort::new();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "leak".into(),
                "--csv".into(),
                write("row.csv", "timestamp,value\n100,1\n160,oops\n"),
            ],
            "row.csv:3: value: expected a number, got \"oops\"".into(),
        ),
        (
            vec![
                "leak".into(),
                "--csv".into(),
                write("order.csv", "timestamp,value\n100,1\n50,2\n"),
            ],
            "order.csv:3: timestamp: 50 is before the previous row's 100 (line 2); pass \
             --unordered keep|sort|drop"
                .into(),
        ),
        (
            vec![
                "anomaly".into(),
                "score".into(),
                write("dup.csv", "timestamp,value\n100,1\n100,2\n"),
            ],
            "dup.csv:3: timestamp: 100 repeats line 2's; pass --duplicates keep|first|last".into(),
        ),
        (
            vec![
                "baseline".into(),
                "suggest".into(),
                "--csv".into(),
                write("short.csv", "1,1\n2,2\n"),
            ],
            "a baseline needs at least 20 samples".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "nab".into(),
                dir.display().to_string(),
                "--windows".into(),
                write("windows.json", "{\"a/b.csv\": [[\"2014-04-10 07:15:00\"]]}"),
            ],
            "windows.json:1:".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "score".into(),
                write("x.csv", "1,1\n"),
                "--detector".into(),
                "magic".into(),
            ],
            "unknown detector \"magic\"; built in: novelty, ewma".into(),
        ),
        (
            vec![
                "anomaly".into(),
                "score".into(),
                write("y.csv", "1,1\n"),
                "--detector-config".into(),
                write("d.json", "{\"kind\": \"novelty\", \"levls\": 3}"),
            ],
            "d.json:1:21: unknown field `levls`".into(),
        ),
        (
            vec![
                "leak".into(),
                "--csv".into(),
                dir.join("missing.csv").display().to_string(),
            ],
            "missing.csv: No such file or directory".into(),
        ),
        (
            // Nothing listens there: an unreachable server is the user's to fix.
            vec![
                "leak".into(),
                "go_goroutines".into(),
                "--prometheus".into(),
                format!("http://{}", nothing.addr()),
                "--retries".into(),
                "0".into(),
            ],
            "cannot connect".into(),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ballast(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&expected),
            "{args:?}: expected {expected:?} in {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// 2014-03-08 00:00:00 UTC.
const MARCH_8: i64 = 1_394_236_800;

/// One CSV line per row: `timestamp,value`.
fn rows_csv(rows: &[(i64, f64)]) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (t, v) in rows {
        csv.push_str(&format!(
            "{},{v}\n",
            ballast_anomaly::series::format_timestamp(*t as f64)
        ));
    }
    csv
}

/// Five-minute rows from 2014-03-08 with a daily rhythm and a level shift at row 1100.
/// With `stepped`, the dozen rows from 2014-03-09 03:00 are written an hour early
/// (02:00 .. 02:55, repeating the rows before them), the daylight-saving artefact of one of
/// NAB's files.
fn dst_rows(stepped: bool) -> Vec<(i64, f64)> {
    (0..1500i64)
        .map(|i| {
            let shift = if stepped && (324..336).contains(&i) {
                3600
            } else {
                0
            };
            let hour = (i / 12) % 24;
            let level = if i >= 1100 { 260.0 } else { 100.0 };
            let v =
                level + if (8..20).contains(&hour) { 40.0 } else { 0.0 } + (i * 7919 % 13) as f64;
            (MARCH_8 + 300 * i - shift, v)
        })
        .collect()
}

/// A quiet series with one spike at row 900.
fn steady_rows() -> Vec<(i64, f64)> {
    (0..1200i64)
        .map(|i| {
            let v = if i == 900 {
                400.0
            } else {
                50.0 + (i * 31 % 7) as f64
            };
            (MARCH_8 + 600 * i, v)
        })
        .collect()
}

/// A detector's published outputs for a file: deterministic scores in [0, 1], one per row.
fn published_scores(rows: usize, seed: u64) -> Vec<f64> {
    (0..rows as u64)
        .map(|i| ((i * 2_654_435_761 + seed) % 1000) as f64 / 1000.0)
        .collect()
}

struct Synthetic {
    data: PathBuf,
    windows: PathBuf,
    results: PathBuf,
    corpus: Vec<ballast_anomaly::input::nab::CorpusFile>,
    published: Vec<Vec<f64>>,
}

/// A NAB-layout corpus under `dir`: data/<category>/<file>.csv, combined_windows.json and
/// a results folder `synthetic/<category>/synthetic_<file>.csv`; and the same corpus built
/// in memory from the rows as generated, in file order, for the expected scores.
fn synthetic_corpus(dir: &Path, stepped: bool) -> Synthetic {
    use ballast_anomaly::series::format_timestamp;
    let dst = dst_rows(stepped);
    let steady = steady_rows();
    // Windows by row: one across the step back (rows 300..=360), one at the shift, one at
    // the spike. Their bounds are rows whose timestamps are not repeated.
    let files = [
        ("realSynthetic/dst.csv", dst, vec![(300, 360), (1090, 1130)]),
        ("realSynthetic/steady.csv", steady, vec![(890, 910)]),
    ];
    let data = dir.join("data");
    let results = dir.join("synthetic");
    let mut windows_json = serde_json::Map::new();
    let mut corpus = Vec::new();
    let mut published = Vec::new();
    for (seed, (key, rows, windows)) in files.into_iter().enumerate() {
        let path = data.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rows_csv(&rows)).unwrap();
        let bounds: Vec<(f64, f64)> = windows
            .iter()
            .map(|&(a, b)| (rows[a].0 as f64, rows[b].0 as f64))
            .collect();
        windows_json.insert(
            key.into(),
            bounds
                .iter()
                .map(|&(a, b)| serde_json::json!([format_timestamp(a), format_timestamp(b)]))
                .collect(),
        );
        let scores = published_scores(rows.len(), seed as u64);
        let (category, name) = key.split_once('/').unwrap();
        let out = results.join(category).join(format!("synthetic_{name}"));
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut text = String::from("timestamp,value,anomaly_score,label\n");
        for ((t, v), s) in rows.iter().zip(&scores) {
            text.push_str(&format!("{},{v},{s},0\n", format_timestamp(*t as f64)));
        }
        std::fs::write(&out, text).unwrap();
        corpus.push(ballast_anomaly::input::nab::CorpusFile {
            key: key.into(),
            series: ballast_anomaly::Series::new(
                name.trim_end_matches(".csv"),
                rows.iter().map(|&(t, v)| (t as f64, v)),
            ),
            rows: Default::default(),
            windows: bounds,
        });
        published.push(scores);
    }
    let windows = dir.join("combined_windows.json");
    std::fs::write(
        &windows,
        serde_json::Value::Object(windows_json).to_string(),
    )
    .unwrap();
    Synthetic {
        data,
        windows,
        results,
        corpus,
        published,
    }
}

/// `anomaly nab` over `corpus` with the novelty detector and the published results: its
/// JSON scoreboard and stderr.
fn nab_board(corpus: &Synthetic, out: &Path) -> (serde_json::Value, String) {
    let json = out.join("scores.json");
    let run = ballast(&[
        "anomaly",
        "nab",
        corpus.data.to_str().unwrap(),
        "--windows",
        corpus.windows.to_str().unwrap(),
        "--detector",
        "novelty",
        "--score-results",
        corpus.results.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let board = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (board, stderr(&run))
}

/// The scoreboard entries of one detector, as `anomaly nab --json` writes them and
/// serde_json reads them back (its reader may round the last digit).
fn expected_board(files: &[ballast_anomaly::nab::ScoredFile]) -> serde_json::Value {
    let profiles = ballast_anomaly::nab::Profile::nab_defaults();
    let scores = ballast_anomaly::nab::score_profiles(files, &profiles);
    let board = ballast_anomaly::nab::scoreboard_json(&[("x".to_string(), scores)]);
    serde_json::from_str::<serde_json::Value>(&board.to_string()).unwrap()["x"].clone()
}

#[test]
fn nab_scores_a_file_whose_timestamps_step_back_in_file_order_as_nab_does() {
    use ballast_anomaly::nab::{prepare, run_detector};
    let dir = temp("nab-dst");
    let stepped = synthetic_corpus(&dir.join("stepped"), true);
    let (board, err) = nab_board(&stepped, &dir.join("out-stepped"));
    // The artefact is reported, once, and scored through rather than refused.
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("realSynthetic/dst.csv: "))
            .collect::<Vec<_>>(),
        vec![
            "realSynthetic/dst.csv: 1 row earlier than the row before, kept in file order; 12 \
             rows repeating an earlier timestamp, kept; 1500 of 1500 rows used (scored in \
             file order, as NAB does)"
        ],
        "{err}"
    );
    // The detector saw the rows in file order: the same board as running it on the rows as
    // generated, and the published results score as their rows were written.
    let config = ballast_anomaly::DetectorConfig::named("novelty").unwrap();
    let run = run_detector(&stepped.corpus, "novelty", &config, 1).unwrap();
    let files = prepare(&stepped.corpus, &run.scores).unwrap();
    assert_eq!(board["novelty"], expected_board(&files), "{board}");
    let files = prepare(&stepped.corpus, &stepped.published).unwrap();
    assert_eq!(board["synthetic"], expected_board(&files), "{board}");
    // A detection counts somewhere: a board of zeros would make the comparison empty.
    assert!(
        board["synthetic"]["standard"]["windows_detected"]
            .as_u64()
            .unwrap()
            > 0
    );
    // NAB's windows are rows between the start and end rows in file order, so the same
    // values with the timestamps put right score exactly the same.
    let fixed = synthetic_corpus(&dir.join("fixed"), false);
    let (fixed_board, fixed_err) = nab_board(&fixed, &dir.join("out-fixed"));
    assert!(!fixed_err.contains("realSynthetic/dst.csv:"), "{fixed_err}");
    assert_eq!(board, fixed_board);
    // The result file keeps the file's rows and order.
    let result =
        std::fs::read_to_string(dir.join("out-stepped/novelty/realSynthetic/novelty_dst.csv"))
            .unwrap();
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(lines.len(), 1501);
    assert!(
        lines[324].starts_with("2014-03-09 02:55:00,"),
        "{}",
        lines[324]
    );
    assert!(
        lines[325].starts_with("2014-03-09 02:00:00,"),
        "{}",
        lines[325]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anomaly_score_refuses_a_step_back_by_default_and_follows_the_flags() {
    let dir = temp("score-dst");
    let path = dir.join("series.csv");
    let rows = dst_rows(true);
    std::fs::write(&path, rows_csv(&rows)).unwrap();
    let file = path.to_str().unwrap();
    let refused = ballast(&["anomaly", "score", file]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        stderr(&refused).trim_end(),
        format!(
            "error: {file}:326: timestamp: 2014-03-09 02:00:00 is before the previous row's \
             2014-03-09 02:55:00 (line 325); pass --unordered keep|sort|drop"
        )
    );
    // keep: every row scored in file order, as the detector scores them one by one.
    let kept = ballast(&[
        "anomaly",
        "score",
        file,
        "--unordered",
        "keep",
        "--duplicates",
        "keep",
        "--all",
    ]);
    assert!(kept.status.success(), "{}", stderr(&kept));
    let mut detector = ballast_anomaly::DetectorConfig::named("novelty")
        .unwrap()
        .build()
        .unwrap();
    let mut expected = String::from("timestamp,value,anomaly_score\n");
    for &(t, v) in &rows {
        let score = detector.score(t as f64, v);
        let time = ballast_anomaly::series::format_timestamp(t as f64);
        expected.push_str(&format!("{time},{v},{score}\n"));
    }
    assert_eq!(stdout(&kept), expected);
    assert!(stderr(&kept).contains("12 rows repeating an earlier timestamp, kept"));
    // sort + first: in time order, each timestamp once, the change on stderr.
    let sorted = ballast(&[
        "anomaly",
        "score",
        file,
        "--unordered",
        "sort",
        "--duplicates",
        "first",
        "--all",
    ]);
    assert!(sorted.status.success(), "{}", stderr(&sorted));
    let text = stdout(&sorted);
    let times: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(times.len(), 1488);
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        stderr(&sorted).trim_end(),
        format!(
            "{file}: 1 row earlier than the row before, sorted by time; 12 rows repeating an \
             earlier timestamp, the first kept, 12 dropped; 1488 of 1500 rows used"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn leak_and_baseline_take_the_row_flags_too() {
    let dir = temp("rows-flags");
    let path = dir.join("series.csv");
    std::fs::write(&path, rows_csv(&dst_rows(true))).unwrap();
    let file = path.to_str().unwrap();
    for command in [
        &["leak", "--csv"][..],
        &["baseline", "suggest", "--csv"][..],
    ] {
        let refused = ballast(&[command, &[file]].concat());
        assert_eq!(refused.status.code(), Some(2), "{command:?}");
        assert!(
            stderr(&refused).contains(":326: timestamp: 2014-03-09 02:00:00 is before"),
            "{command:?}: {}",
            stderr(&refused)
        );
        for (unordered, duplicates, used) in [
            ("sort", "last", "1488 of 1500 rows used"),
            ("drop", "keep", "1489 of 1500 rows used"),
            ("keep", "first", "1488 of 1500 rows used"),
        ] {
            let out = ballast(
                &[
                    command,
                    &[file, "--unordered", unordered, "--duplicates", duplicates],
                ]
                .concat(),
            );
            // leak exits 1 on growth: this series has a level shift, so either is a verdict.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{command:?} {unordered} {duplicates}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(used),
                "{command:?} {unordered} {duplicates}: {}",
                stderr(&out)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

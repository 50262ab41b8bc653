//! Captures from the real planted Go service (`ballast_testkit::go_program("planted")`),
//! checked against what `go tool pprof -raw` reads from the same files.

use ballast_core::profile::Profile;
use ballast_http::ClientConfig;
use ballast_profile::capture::{load_capture, CaptureConfig, Format, Kind, Moment};
use ballast_testkit::{go_build, go_program, listening_on, Port, Server, TempDir};
use std::path::Path;
use std::time::Duration;

async fn planted(dir: &Path, cause: &str) -> Server {
    let binary = go_build(&go_program("planted"), &dir.join("go"), "planted");
    Server::start(
        binary.to_str().unwrap(),
        &[cause.to_string()],
        Port::Log(listening_on),
        Duration::from_secs(30),
    )
    .await
}

fn config(url: &str, out: &Path) -> CaptureConfig {
    let mut c = CaptureConfig::new(url.parse().unwrap(), out);
    c.seconds = 2;
    c.timeout = Duration::from_secs(20);
    c
}

/// `go tool pprof -raw`'s samples: (count, per-type totals).
fn go_raw(file: &Path, types: usize) -> (usize, Vec<i64>) {
    let out = std::process::Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(file)
        .output()
        .expect("go tool pprof runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let samples = text
        .split("\nSamples:\n")
        .nth(1)
        .and_then(|rest| rest.split("\nLocations").next())
        .expect("-raw prints Samples: and Locations");
    let mut count = 0;
    let mut totals = vec![0i64; types];
    for line in samples.lines().skip(1) {
        let Some((values, _)) = line.split_once(':') else {
            continue;
        };
        let values: Option<Vec<i64>> = values.split_whitespace().map(|v| v.parse().ok()).collect();
        // Label lines ("bytes:[64]") hold no numbers before the colon.
        let Some(values) = values.filter(|v| v.len() == types) else {
            continue;
        };
        count += 1;
        for (t, v) in totals.iter_mut().zip(values) {
            *t += v;
        }
    }
    (count, totals)
}

/// The samples pprof shows: its reader merges samples with the same stack and labels and
/// drops the ones whose values are all zero (pprof's `Merge`) or that have no stack (Go
/// writes one for a goroutine running on another thread).
fn shown(s: &ballast_core::profile::Sample) -> bool {
    s.values.iter().any(|&v| v != 0) && !s.locations.is_empty()
}

fn merged_samples(p: &Profile) -> usize {
    let keys: std::collections::HashSet<(Vec<_>, Vec<_>)> = p
        .samples
        .iter()
        .filter(|s| shown(s))
        .map(|s| {
            let stack: Vec<_> = s
                .locations
                .iter()
                .map(|&l| {
                    let l = &p.locations[l as usize];
                    let lines: Vec<(u32, i64)> =
                        l.lines.iter().map(|x| (x.function, x.line)).collect();
                    (l.address, l.mapping, lines)
                })
                .collect();
            let mut labels: Vec<_> = s
                .labels
                .iter()
                .map(|l| {
                    (
                        p.string(l.key),
                        p.string(l.text),
                        l.number,
                        p.string(l.unit),
                    )
                })
                .collect();
            labels.sort();
            (stack, labels)
        })
        .collect();
    keys.len()
}

fn flat_top(p: &Profile) -> String {
    let i = p.default_sample_index();
    let mut flat = vec![0i64; p.functions.len()];
    for s in &p.samples {
        if let Some(f) = p.frames(s).next() {
            flat[f] += s.values[i];
        }
    }
    let top = (0..flat.len()).max_by_key(|&f| flat[f]).unwrap();
    p.functions[top].name.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_every_kind_from_a_real_go_service() {
    let dir = TempDir::new("profile-capture-all");
    let server = planted(dir.path(), "cpu").await;
    let out = dir.path().join("capture");
    let mut events = Vec::new();
    let manifest = config(&server.url(), &out)
        .build()
        .unwrap()
        .run(|e| events.push(e.to_string()))
        .await
        .unwrap();

    let names: Vec<&str> = manifest.entries.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(
        names,
        [
            "cpu.pb.gz",
            "heap.start.pb.gz",
            "heap.end.pb.gz",
            "allocs.start.pb.gz",
            "allocs.end.pb.gz",
            "goroutine.start.pb.gz",
            "goroutine.end.pb.gz",
            "goroutine.end.txt",
            "block.start.pb.gz",
            "block.end.pb.gz",
            "mutex.start.pb.gz",
            "mutex.end.pb.gz",
        ]
    );
    assert_eq!(manifest.failed().count(), 0, "{:?}", manifest.entries);
    assert_eq!(manifest.seconds, 2);
    assert_eq!(manifest.url, server.url() + "/");
    for e in &manifest.entries {
        let len = std::fs::metadata(out.join(&e.file)).unwrap().len();
        assert_eq!(len, e.bytes, "{}", e.file);
        assert!(len > 0);
    }
    assert!(events.iter().any(|e| e == "capturing for 2s"), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.starts_with("saved ")).count(),
        12
    );
    // The manifest on disk is the one returned.
    let loaded = load_capture(&out).unwrap();
    assert_eq!(loaded.manifest, manifest);
    assert_eq!(loaded.profiles.len(), 11);

    let cpu = loaded.get(Kind::Cpu, Moment::Window).unwrap();
    assert_eq!(cpu.sample_types[1].kind, "cpu");
    assert_eq!(cpu.sample_types[1].unit, "nanoseconds");
    assert_eq!(cpu.period, 10_000_000);
    assert!(cpu.duration_nanos >= 2_000_000_000);
    assert_eq!(flat_top(cpu), "main.hotLoop");

    // What decode reads is what Go's own reader reads: samples and totals, every kind.
    for (kind, moment, profile) in &loaded.profiles {
        let entry = manifest.entry(*kind, *moment, Format::Pprof).unwrap();
        let (count, totals) = go_raw(&out.join(&entry.file), profile.sample_types.len());
        assert_eq!(count, merged_samples(profile), "{}", entry.file);
        let ours: Vec<i64> = (0..profile.sample_types.len())
            .map(|i| {
                profile
                    .samples
                    .iter()
                    .filter(|s| shown(s))
                    .map(|s| s.values[i])
                    .sum()
            })
            .collect();
        assert_eq!(ours, totals, "{}", entry.file);
    }
    assert_eq!(
        loaded
            .get(Kind::Allocs, Moment::End)
            .unwrap()
            .default_sample_type
            .as_deref(),
        Some("alloc_space")
    );
    let block = loaded.get(Kind::Block, Moment::End).unwrap();
    assert_eq!(block.sample_types[1].kind, "delay");

    // The text dump: the spinning goroutine, started by main.main, and the server's loop.
    let dump = loaded.goroutine_dump(Moment::End).unwrap();
    let hot = dump
        .goroutines
        .iter()
        .find(|g| g.frames.iter().any(|f| f.function == "main.hotLoop"))
        .expect("a goroutine in main.hotLoop");
    assert_eq!(hot.created_by.as_ref().unwrap().function, "main.main");
    assert!(hot.frames[0].file.ends_with("main.go"));
    assert!(dump.goroutines.iter().any(|g| g.state == "IO wait"));
    // The program's own functions the protobuf goroutine profile has, the dump has too
    // (the goroutines serving the capture's requests come and go between the two, and a
    // goroutine running on another thread has no stack in the protobuf, so counts differ).
    let profile = loaded.get(Kind::Goroutine, Moment::End).unwrap();
    let own = |name: &str| name.starts_with("main.");
    let in_profile: std::collections::BTreeSet<&str> = profile
        .samples
        .iter()
        .flat_map(|s| {
            profile
                .frames(s)
                .map(|f| profile.functions[f].name.as_str())
        })
        .filter(|n| own(n))
        .collect();
    let in_dump: std::collections::BTreeSet<&str> = dump
        .goroutines
        .iter()
        .flat_map(|g| g.frames.iter().map(|f| f.function.as_str()))
        .filter(|n| own(n))
        .collect();
    assert!(in_profile.contains("main.background"), "{in_profile:?}");
    assert!(
        in_profile.is_subset(&in_dump),
        "{in_profile:?} vs {in_dump:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_the_server_refuses_is_recorded_as_failed_and_the_rest_kept() {
    let dir = TempDir::new("profile-capture-refused");
    let server = planted(dir.path(), "none").await;
    let client = ClientConfig {
        timeout: Duration::from_secs(120),
        retries: 0,
        ..ClientConfig::default()
    }
    .build()
    .unwrap();
    // Go serves one CPU profile at a time: hold it with long ones (asking again while a
    // probe holds it), until a probe is refused, so the capture's own request surely is.
    let long: url::Url = format!("{}/debug/pprof/profile?seconds=60", server.url())
        .parse()
        .unwrap();
    let holder = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                let _ = client.get(&long).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let probe: url::Url = format!("{}/debug/pprof/profile?seconds=1", server.url())
        .parse()
        .unwrap();
    while client.get(&probe).await.unwrap().status != 500 {}
    let out = dir.path().join("capture");
    let mut c = config(&server.url(), &out);
    c.seconds = 1;
    c.kinds = vec![Kind::Cpu, Kind::Heap, Kind::Goroutine];
    let manifest = c.build().unwrap().run(|_| {}).await.unwrap();
    let cpu = manifest
        .entry(Kind::Cpu, Moment::Window, Format::Pprof)
        .unwrap();
    assert_eq!(
        cpu.error.as_deref(),
        Some("HTTP 500: Could not enable CPU profiling: cpu profiling already in use")
    );
    assert_eq!(cpu.bytes, 0);
    assert!(!out.join("cpu.pb.gz").exists());
    assert_eq!(manifest.written().count(), 5);
    let loaded = load_capture(&out).unwrap();
    assert!(loaded.get(Kind::Cpu, Moment::Window).is_none());
    assert!(loaded.get(Kind::Heap, Moment::End).is_some());
    assert!(loaded.goroutine_dump(Moment::End).is_some());
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stalls_hits_the_timeout() {
    let dir = TempDir::new("profile-capture-stall");
    // Accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stall = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let out = dir.path().join("capture");
    let mut c = config(&format!("http://{addr}"), &out);
    c.seconds = 1;
    c.timeout = Duration::from_secs(1);
    c.kinds = vec![Kind::Cpu, Kind::Heap];
    c.client.retries = 0;
    let err = c.build().unwrap().run(|_| {}).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("http://{addr}/: nothing captured: ")),
        "{text}"
    );
    assert!(text.contains("no answer within the timeout"), "{text}");
    assert!(err.is_input());
    // The manifest is written all the same, every entry with its reason.
    let manifest: ballast_profile::capture::Manifest =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.entries.len(), 3);
    for e in &manifest.entries {
        assert!(
            e.error
                .as_deref()
                .unwrap()
                .contains("no answer within the timeout"),
            "{e:?}"
        );
    }
    stall.abort();
}

use super::*;
use crate::encode_gzip;

fn config(url: &str) -> CaptureConfig {
    CaptureConfig::new(url.parse().unwrap(), "/tmp/x")
}

#[test]
fn kinds_read_their_names_and_endpoints() {
    assert_eq!(
        parse_kinds("cpu, heap,goroutines,profile")
            .unwrap_err()
            .to_string(),
        "kinds: cpu is named twice"
    );
    assert_eq!(
        parse_kinds("cpu,heap,allocs,goroutine,block,mutex").unwrap(),
        Kind::ALL
    );
    assert_eq!("Profile".parse::<Kind>().unwrap(), Kind::Cpu);
    let e = parse_kinds("cpu,threads").unwrap_err().to_string();
    assert_eq!(
        e,
        "kinds: unknown profile kind \"threads\"; expected one of cpu, heap, allocs, goroutine, block, mutex"
    );
    assert!(parse_kinds(" , ").is_err());
    for k in Kind::ALL {
        assert_eq!(k.to_string().parse::<Kind>().unwrap(), k);
    }
    assert_eq!(Kind::Cpu.endpoint(), "profile");
}

#[test]
fn endpoints_sit_under_debug_pprof_whatever_the_base() {
    for base in [
        "http://127.0.0.1:6060",
        "http://127.0.0.1:6060/",
        "http://127.0.0.1:6060/debug/pprof",
        "http://127.0.0.1:6060/debug/pprof/",
    ] {
        let c = config(base).build().unwrap();
        assert_eq!(
            c.endpoint(Kind::Heap).as_str(),
            "http://127.0.0.1:6060/debug/pprof/heap",
            "{base}"
        );
    }
    let c = config("http://127.0.0.1:6060/admin").build().unwrap();
    let cpu = c.job(Kind::Cpu, Moment::Window, Format::Pprof);
    assert_eq!(
        cpu.url.as_str(),
        "http://127.0.0.1:6060/admin/debug/pprof/profile?seconds=30"
    );
    assert_eq!(cpu.file(), "cpu.pb.gz");
    let text = c.job(Kind::Goroutine, Moment::End, Format::GoroutineText);
    assert_eq!(
        text.url.as_str(),
        "http://127.0.0.1:6060/admin/debug/pprof/goroutine?debug=2"
    );
    assert_eq!(text.file(), "goroutine.end.txt");
    assert_eq!(
        c.job(Kind::Heap, Moment::Start, Format::Pprof).file(),
        "heap.start.pb.gz"
    );
}

#[test]
fn settings_out_of_range_are_named() {
    let check = |f: fn(&mut CaptureConfig), expected: &str| {
        let mut c = config("http://127.0.0.1:6060");
        f(&mut c);
        assert_eq!(c.build().unwrap_err().to_string(), expected);
    };
    check(|c| c.seconds = 0, "seconds: expected 1 to 3600, got 0");
    check(
        |c| c.kinds.clear(),
        "kinds: expected at least one of cpu, heap, allocs, goroutine, block, mutex",
    );
    check(|c| c.kinds.push(Kind::Heap), "kinds: heap is named twice");
    check(
        |c| c.timeout = Duration::ZERO,
        "timeout: expected a duration above 0",
    );
    check(
        |c| c.url = "ftp://host/".parse().unwrap(),
        "url: expected an http:// or https:// URL, got ftp://host/",
    );
    assert!(config("http://h").build().is_ok());
}

fn manifest(entries: Vec<Entry>) -> Manifest {
    Manifest {
        url: "http://127.0.0.1:6060/".into(),
        started: "2024-03-01T12:00:00.000Z".into(),
        finished: "2024-03-01T12:00:30.000Z".into(),
        seconds: 30,
        entries,
    }
}

fn entry(kind: Kind, moment: Moment, format: Format, file: &str) -> Entry {
    Entry {
        kind,
        moment,
        format,
        file: file.into(),
        bytes: 1,
        error: None,
    }
}

#[test]
fn a_capture_folder_reads_back_and_skips_failed_entries() {
    let dir = ballast_testkit::TempDir::new("profile-load");
    let p = Profile {
        sample_types: vec![ballast_core::profile::ValueType::new(
            "inuse_space",
            "bytes",
        )],
        ..Profile::default()
    };
    std::fs::write(dir.path().join("heap.start.pb.gz"), encode_gzip(&p)).unwrap();
    std::fs::write(
        dir.path().join("goroutine.end.txt"),
        "goroutine 1 [running]:\nmain.main()\n\t/m.go:1 +0x1\n",
    )
    .unwrap();
    let mut failed = entry(Kind::Cpu, Moment::Window, Format::Pprof, "cpu.pb.gz");
    failed.error = Some("HTTP 500: cpu profiling already in use".into());
    let m = manifest(vec![
        failed,
        entry(Kind::Heap, Moment::Start, Format::Pprof, "heap.start.pb.gz"),
        entry(
            Kind::Goroutine,
            Moment::End,
            Format::GoroutineText,
            "goroutine.end.txt",
        ),
    ]);
    std::fs::write(
        dir.path().join(MANIFEST),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();
    let loaded = load_capture(dir.path()).unwrap();
    assert_eq!(loaded.manifest, m);
    assert_eq!(
        loaded.get(Kind::Heap, Moment::Start).unwrap().sample_types,
        p.sample_types
    );
    assert!(loaded.get(Kind::Cpu, Moment::Window).is_none());
    assert_eq!(
        loaded.goroutine_dump(Moment::End).unwrap().goroutines[0].id,
        1
    );
    assert_eq!(m.failed().count(), 1);

    // A name leaving the folder, a missing file, a malformed manifest: errors naming them.
    let bad = manifest(vec![entry(
        Kind::Heap,
        Moment::Start,
        Format::Pprof,
        "../heap.pb.gz",
    )]);
    std::fs::write(
        dir.path().join(MANIFEST),
        serde_json::to_string(&bad).unwrap(),
    )
    .unwrap();
    let e = load_capture(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "entries[0].file: expected a file name in the capture folder, got \"../heap.pb.gz\""
        ),
        "{e}"
    );
    let gone = manifest(vec![entry(
        Kind::Heap,
        Moment::End,
        Format::Pprof,
        "heap.end.pb.gz",
    )]);
    std::fs::write(
        dir.path().join(MANIFEST),
        serde_json::to_string(&gone).unwrap(),
    )
    .unwrap();
    let e = load_capture(dir.path()).unwrap_err().to_string();
    assert!(e.contains("heap.end.pb.gz: "), "{e}");
    std::fs::write(dir.path().join(MANIFEST), "{\"url\": 1}").unwrap();
    let e = load_capture(dir.path()).unwrap_err();
    assert!(e.to_string().contains("manifest.json: invalid type"), "{e}");
    assert!(e.is_input());
}

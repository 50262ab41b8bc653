//! Recorded cgroup trees (in the kernel's own formats, under `tests/fixtures/`): pure v2,
//! the hybrid layout, co-mounted v1, an older kernel's files and malformed files.

use ballast_proc::parse::{self, CpuMax, Limit};
use ballast_proc::{cgroup, CgroupChoice, CgroupPaths, Version, WatchConfig};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a recorded v2 group through a watcher of this (real) process.
fn sample_v2(group: &str) -> ballast_proc::Sample {
    let mut config = WatchConfig::pid(std::process::id());
    config.cgroup = CgroupChoice::Paths(CgroupPaths::v2(fixtures().join("cgroup2").join(group)));
    config.system_pressure = false;
    config.build().unwrap().sample_now()
}

/// What a host's mountinfo and /proc/PID/cgroup locate, with `/sys/fs/cgroup` moved
/// onto the recorded tree `root`.
fn locate_recorded(host: &str, root: &Path) -> CgroupPaths {
    let dir = fixtures().join("hosts").join(host);
    let mut mounts =
        parse::mountinfo(&std::fs::read_to_string(dir.join("mountinfo")).unwrap()).unwrap();
    for m in &mut mounts {
        if let Ok(rest) = m.mount_point.strip_prefix("/sys/fs/cgroup") {
            m.mount_point = root.join(rest);
        }
    }
    let lines = parse::proc_cgroup(&std::fs::read_to_string(dir.join("cgroup")).unwrap()).unwrap();
    cgroup::locate(&mounts, &lines)
}

#[test]
fn a_v2_service_group() {
    let s = sample_v2("system.slice/shop.service");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let cg = s.cgroup.as_ref().unwrap();
    let m = cg.memory.as_ref().unwrap();
    assert_eq!(m.version, Version::V2);
    assert_eq!(m.current_bytes, Some(50 << 20));
    assert_eq!(m.limit, Some(Limit::Max));
    assert_eq!(m.peak_bytes, Some(70 << 20));
    assert_eq!(
        (m.oom_kills, m.oom_events, m.max_events, m.high_events),
        (Some(0), Some(0), Some(0), Some(0))
    );
    // v1-only fields are unknown on v2, not zero.
    assert_eq!((m.failcnt, m.under_oom), (None, None));
    let c = cg.cpu.as_ref().unwrap();
    assert_eq!(c.usage_usec, Some(1_834_567));
    assert_eq!(
        (c.nr_periods, c.nr_throttled, c.throttled_usec),
        (Some(120), Some(30), Some(456_789))
    );
    assert_eq!(
        c.quota,
        Some(CpuMax {
            quota_usec: Some(50_000),
            period_usec: 100_000
        })
    );
    assert_eq!(c.quota.unwrap().cpus(), Some(0.5));
    let cpu = cg.pressure.cpu.unwrap();
    assert_eq!((cpu.some.avg10, cpu.some.total_usec), (12.5, 987_654));
    assert_eq!(cpu.full.unwrap().total_usec, 12_345);
    assert_eq!(cg.pressure.io.unwrap().full.unwrap().avg10, 0.2);
    assert_eq!(cg.pressure.memory.unwrap().some.avg300, 0.0);
    // The process part is this very process.
    assert_eq!(s.main.unwrap().pid, std::process::id());
}

#[test]
fn a_limited_v2_group_on_an_older_kernel() {
    let s = sample_v2("limited");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let cg = s.cgroup.unwrap();
    let m = cg.memory.unwrap();
    assert_eq!(m.limit, Some(Limit::Bytes(64 << 20)));
    assert_eq!(
        (m.oom_kills, m.oom_events, m.max_events),
        (Some(2), Some(3), Some(1543))
    );
    // No memory.peak before 5.19: unknown.
    assert_eq!(m.peak_bytes, None);
    assert_eq!(
        parse::memory_events(
            &std::fs::read_to_string(fixtures().join("cgroup2/limited/memory.events")).unwrap()
        )
        .unwrap()
        .oom_group_kill,
        None
    );
    assert_eq!(
        cg.cpu.unwrap().quota,
        Some(CpuMax {
            quota_usec: None,
            period_usec: 100_000
        })
    );
    assert_eq!(cg.pressure.memory.unwrap().full.unwrap().avg10, 35.0);
    // No io.pressure or cpu.pressure file recorded: unknown, without an error.
    assert_eq!((cg.pressure.cpu, cg.pressure.io), (None, None));
}

#[test]
fn without_the_cpu_controller_throttling_is_unknown_not_zero() {
    let s = sample_v2("no-cpu-controller");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let cg = s.cgroup.unwrap();
    let c = cg.cpu.unwrap();
    assert_eq!(c.usage_usec, Some(5000));
    assert_eq!(
        (c.nr_periods, c.nr_throttled, c.throttled_usec, c.quota),
        (None, None, None, None)
    );
    let p = cg.pressure.cpu.unwrap();
    assert_eq!(p.full, None, "cpu.pressure had no `full` line before 5.13");
}

#[test]
fn malformed_files_are_named_with_their_line_and_read_as_unknown() {
    let s = sample_v2("malformed");
    let dir = fixtures().join("cgroup2/malformed");
    let has = |file: &str, line: usize, words: &str| {
        let prefix = format!("{}:{line}: ", dir.join(file).display());
        assert!(
            s.errors
                .iter()
                .any(|e| e.starts_with(&prefix) && e.contains(words)),
            "expected an error starting {prefix:?} mentioning {words:?}; got {:#?}",
            s.errors
        );
    };
    has("memory.current", 0, "empty");
    has("memory.max", 1, "\"unlimited\"");
    has("memory.events", 5, "oom_kill: expected a whole number");
    has("cpu.stat", 2, "usage_usec appears twice");
    has("cpu.max", 1, "QUOTA PERIOD");
    has("cpu.pressure", 2, "avg60: expected a percentage");
    assert_eq!(s.errors.len(), 6, "{:#?}", s.errors);
    for e in &s.errors {
        assert!(
            !e.contains("ParseError") && !e.contains('{'),
            "no Debug text: {e}"
        );
    }
    let cg = s.cgroup.unwrap();
    let m = cg.memory.unwrap();
    assert_eq!((m.current_bytes, m.limit, m.oom_kills), (None, None, None));
    let c = cg.cpu.unwrap();
    assert_eq!((c.usage_usec, c.quota), (None, None));
    assert_eq!(cg.pressure.cpu, None);
    assert!(
        cg.pressure.io.is_some(),
        "a good file next to bad ones is still read"
    );
}

#[test]
fn a_pure_v2_host_is_located_from_mountinfo() {
    let paths = locate_recorded("pure-v2", &fixtures().join("cgroup2"));
    let group = fixtures().join("cgroup2/system.slice/shop.service");
    assert_eq!(paths, CgroupPaths::v2(&group));
    let mut errors = Vec::new();
    let stats = cgroup::read(&paths, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.memory.unwrap().current_bytes, Some(50 << 20));
}

#[test]
fn a_hybrid_host_reads_v1_controllers_and_v2_pressure() {
    let root = fixtures().join("hosts/hybrid/root");
    let paths = locate_recorded("hybrid", &root);
    assert_eq!(
        paths.memory,
        Some((Version::V1, root.join("memory/process_api/shop")))
    );
    assert_eq!(paths.cpu, Some((Version::V1, root.join("cpu"))));
    assert_eq!(paths.unified, Some(root.join("unified")));
    let mut errors = Vec::new();
    let stats = cgroup::read(&paths, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let m = stats.memory.unwrap();
    assert_eq!(m.version, Version::V1);
    assert_eq!(
        (m.current_bytes, m.limit, m.peak_bytes),
        (Some(48 << 20), Some(Limit::Bytes(64 << 20)), Some(64 << 20))
    );
    assert_eq!(
        (m.oom_kills, m.failcnt, m.under_oom),
        (Some(1), Some(1722), Some(false))
    );
    // v2-only counters are unknown on v1.
    assert_eq!(
        (m.oom_events, m.max_events, m.high_events),
        (None, None, None)
    );
    let c = stats.cpu.unwrap();
    assert_eq!(c.usage_usec, Some(557_721_241), "cpuacct.usage, ns to µs");
    assert_eq!(
        c.quota,
        Some(CpuMax {
            quota_usec: None,
            period_usec: 100_000
        })
    );
    assert_eq!(c.throttled_usec, Some(0));
    assert_eq!(stats.pressure.cpu.unwrap().some.avg10, 83.61);
}

#[test]
fn a_docker_v1_host_with_cpu_and_cpuacct_together() {
    let root = fixtures().join("hosts/v1-comounted/root");
    let paths = locate_recorded("v1-comounted", &root);
    let mut errors = Vec::new();
    let stats = cgroup::read(&paths, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let m = stats.memory.unwrap();
    assert_eq!(
        m.limit,
        Some(Limit::Max),
        "v1's page-rounded LONG_MAX is no limit"
    );
    assert_eq!(
        m.oom_kills, None,
        "before 4.13 oom_control has no oom_kill: unknown, not 0"
    );
    let c = stats.cpu.unwrap();
    assert_eq!(c.usage_usec, Some(4_200_000));
    assert_eq!(
        (c.nr_throttled, c.throttled_usec),
        (Some(120), Some(3_500_000))
    );
    assert_eq!(c.quota.unwrap().cpus(), Some(1.5));
    assert_eq!(
        stats.pressure,
        Default::default(),
        "v1 only: no PSI per group"
    );
}

#[test]
fn a_removed_group_reads_as_unknown_and_says_so() {
    let mut errors = Vec::new();
    let stats = cgroup::read(
        &CgroupPaths::v2(fixtures().join("cgroup2/no-such-group")),
        &mut errors,
    );
    assert_eq!((stats.memory, stats.cpu), (None, None));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("no-such-group no longer exists")),
        "{errors:?}"
    );
}

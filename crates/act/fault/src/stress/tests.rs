use super::*;

fn field(config: StressConfig) -> String {
    config.validate().unwrap_err().to_string()
}

#[test]
fn bad_values_name_their_field() {
    let cpu = |workers, load_percent, cpus| StressConfig::Cpu {
        workers,
        load_percent,
        cpus,
        cgroup: vec![],
    };
    assert!(field(cpu(0, 50, None)).starts_with("workers: must be 1 to 256, got 0"));
    assert!(field(cpu(257, 50, None)).starts_with("workers: "));
    assert!(field(cpu(1, 0, None)).starts_with("load_percent: must be 1 to 100"));
    assert!(field(cpu(1, 101, None)).contains("got 101"));
    assert!(field(cpu(1, 50, Some(vec![]))).starts_with("cpus: an empty list"));
    assert!(field(cpu(1, 50, Some(vec![1023]))).starts_with("cpus: CPU 1023 is not one"));
    cpu(1, 100, None).validate().unwrap();

    let total = system::memory_total().unwrap();
    let memory = |bytes| StressConfig::Memory {
        bytes,
        cgroup: vec![],
    };
    assert!(field(memory(0)).starts_with("bytes: must be more than 0"));
    let e = field(memory(total + 1));
    assert!(e.starts_with("bytes: ") && e.contains("MemTotal"), "{e}");
    memory(total).validate().unwrap();

    let io = |dir: &str, bytes, workers| StressConfig::Io {
        dir: dir.into(),
        bytes,
        workers,
        cgroup: vec![],
    };
    assert_eq!(
        field(io("/nonexistent/ballast", 1 << 20, 1)),
        "dir: /nonexistent/ballast does not exist"
    );
    assert!(field(io("/proc/meminfo", 1 << 20, 1)).ends_with("is not a directory"));
    assert!(field(io("/tmp", 0, 1)).starts_with("bytes: must be more than 0"));
    assert!(field(io("/tmp", 1 << 20, 0)).starts_with("workers: "));
    let e = field(io("/tmp", u64::MAX / 4, 2));
    assert!(
        e.starts_with("bytes: 2 worker(s) x ") && e.contains("free"),
        "{e}"
    );

    let e = field(StressConfig::Memory {
        bytes: 1 << 20,
        cgroup: vec!["/tmp".into()],
    });
    assert_eq!(
        e,
        "cgroup: /tmp is not a cgroup directory (it has no cgroup.procs)"
    );
}

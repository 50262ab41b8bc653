//! The kernel files the process watcher reads: /proc/PID/stat, mountinfo, /proc/PID/cgroup,
//! and the cgroup v1/v2 memory, CPU and pressure files. None may panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use ballast_proc::parse;
    if let Ok(stat) = parse::stat(text) {
        let _ = stat.is_gone();
    }
    let _ = parse::flat_keyed(text);
    let _ = parse::single(text);
    let _ = parse::limit(text);
    let _ = parse::memory_events(text);
    let _ = parse::oom_control(text);
    let _ = parse::cpu_stat(text);
    if let Ok(max) = parse::cpu_max(text) {
        let _ = max.cpus();
    }
    // Two files read together: split the input at its first NUL.
    let (quota, period) = text.split_once('\0').unwrap_or((text, "100000"));
    let _ = parse::cfs_quota(quota, period);
    if let Ok(p) = parse::pressure(text) {
        assert!(p.some.avg10.is_finite() && p.some.avg10 <= 100.0);
    }
    let mounts = parse::mountinfo(text).unwrap_or_default();
    let lines = parse::proc_cgroup(text).unwrap_or_default();
    for m in &mounts {
        let _ = m.v1_controllers();
    }
    let _ = ballast_proc::cgroup::locate(&mounts, &lines);
});

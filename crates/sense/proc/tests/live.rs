//! The watcher on this machine: real process trees (this test binary, started again as
//! helper processes) and a real memory cgroup in which the kernel OOM-kills a helper.

mod support {
    pub mod scratch_cgroup;
}

use ballast_proc::parse::Limit;
use ballast_proc::{Version, WatchConfig};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use support::scratch_cgroup::{or_skip, ScratchGroup};

const MODE: &str = "BALLAST_PROC_TEST_HELPER";

/// Not a test: the process the other tests start (this binary again, with `MODE` set).
/// `hold`: touches `MIB` MiB, says `ready`, and lives until its stdin closes.
/// `hog`: joins the cgroup `CGROUP`, touches 1 MiB there (a process that joins a v1
/// group brings no charge with it, so the group would read 0 until it allocates), says
/// `joined`, waits for a line on stdin, then allocates until the kernel kills it.
#[test]
#[ignore = "a child process of the other tests"]
fn helper() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut touch = |mib: usize| {
        for _ in 0..mib {
            // Non-zero, so every page is really there (zeroed pages may not be).
            held.push(vec![1u8; 1 << 20]);
        }
    };
    let mut line = String::new();
    match mode.as_str() {
        "hold" => {
            touch(std::env::var("MIB").map_or(0, |m| m.parse().unwrap()));
            println!("ready");
            let _ = std::io::stdin().read_line(&mut line);
        }
        "hog" => {
            let procs = std::env::var("CGROUP").unwrap();
            std::fs::write(&procs, std::process::id().to_string()).unwrap();
            touch(1);
            println!("joined");
            let _ = std::io::stdin().read_line(&mut line);
            touch(4096);
            // Still alive after 4 GiB: the limit did not hold.
            std::process::exit(3);
        }
        other => panic!("unknown helper mode {other}"),
    }
    std::process::exit(0);
}

/// A helper process, killed and reaped however the test ends.
struct Kid {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Kid {
    fn start(program: &std::path::Path, mode: &str, env: &[(&str, &str)], wait_for: &str) -> Kid {
        let mut child = Command::new(program)
            .args([
                "helper",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(MODE, mode)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the helper starts");
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // The test harness writes first (`test helper ... ` and no line break).
        while !line.trim_end().ends_with(wait_for) {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the helper ended before saying {wait_for:?}"
            );
        }
        Kid { child, stdin }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin (so a `hold` helper exits, a `hog` starts) and waits for the end.
    fn finish(mut self) -> std::process::ExitStatus {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn me() -> std::path::PathBuf {
    std::env::current_exe().unwrap()
}

#[test]
fn a_tree_counts_children_started_later_with_their_memory() {
    let pid = std::process::id();
    let tree = WatchConfig::pid(pid).build().unwrap();
    let mut alone = WatchConfig::pid(pid);
    alone.descendants = false;
    let alone = alone.build().unwrap();
    let before = tree.sample_now();
    assert_eq!(before.tree.as_ref().unwrap().pids[0], pid);

    let kids: Vec<Kid> = (0..2)
        .map(|_| Kid::start(&me(), "hold", &[("MIB", "64")], "ready"))
        .collect();
    let with_kids = tree.sample_now();
    let only_me = alone.sample_now();
    let t = with_kids.tree.as_ref().unwrap();
    let m = only_me.tree.as_ref().unwrap();
    for kid in &kids {
        assert!(t.pids.contains(&kid.pid()), "{} in {:?}", kid.pid(), t.pids);
        assert!(!m.pids.contains(&kid.pid()));
    }
    assert!(
        t.rss_bytes >= m.rss_bytes + 2 * (64 << 20),
        "the children's 2 x 64 MiB are in the tree's RSS: {} vs {} alone",
        t.rss_bytes,
        m.rss_bytes
    );
    assert!(t.threads >= m.threads + 2);
    // Each child holds at least stdin, stdout and stderr.
    assert!(
        t.fds.unwrap() >= m.fds.unwrap() + 6,
        "{:?} {:?}",
        t.fds,
        m.fds
    );
    assert!(t.cpu_seconds >= m.cpu_seconds);
    assert_eq!(with_kids.restarts, 0);

    let pids: Vec<u32> = kids.iter().map(Kid::pid).collect();
    for kid in kids {
        assert!(kid.finish().success());
    }
    let after = tree.sample_now();
    let t = after.tree.unwrap();
    assert!(
        pids.iter().all(|p| !t.pids.contains(p)),
        "exited children leave the tree"
    );
    assert_eq!(after.main.unwrap().pid, pid);
}

#[test]
fn a_new_pid_under_the_watched_name_is_a_restart() {
    let dir = std::env::temp_dir().join(format!("ballast-proc-name-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The kernel names a process after the file it executes, so a link renames us.
    let name = format!("bpt{}", std::process::id());
    let link = dir.join(&name);
    std::os::unix::fs::symlink(me(), &link).unwrap();

    let first = Kid::start(&link, "hold", &[], "ready");
    let mut config = WatchConfig::name(&name);
    config.under = Some(std::process::id());
    let inside = config.build().unwrap();
    let anywhere = WatchConfig::name(&name).build().unwrap();
    for w in [&inside, &anywhere] {
        let s = w.sample_now();
        assert_eq!(s.main.map(|m| m.pid), Some(first.pid()));
        assert_eq!(s.restarts, 0);
    }
    // Accounted over the tree it was found in: ours, which holds the helper.
    assert!(inside
        .sample_now()
        .tree
        .unwrap()
        .pids
        .contains(&std::process::id()));

    assert!(first.finish().success());
    let down = inside.sample_now();
    assert_eq!((down.main, down.restarts), (None, 0));

    let second = Kid::start(&link, "hold", &[], "ready");
    for w in [&inside, &anywhere] {
        let s = w.sample_now();
        assert_eq!(s.main.map(|m| m.pid), Some(second.pid()));
        assert_eq!(s.restarts, 1, "a new pid under the name");
    }
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watched_pid_that_exits_is_gone_and_not_restarted() {
    let kid = Kid::start(&me(), "hold", &[], "ready");
    let w = WatchConfig::pid(kid.pid()).build().unwrap();
    let up = w.sample_now();
    assert_eq!(up.main.map(|m| m.pid), Some(kid.pid()));
    assert!(up.tree.unwrap().rss_bytes > 0);
    assert!(kid.finish().success());
    let down = w.sample_now();
    assert_eq!((down.main, down.tree, down.restarts), (None, None, 0));
}

#[test]
fn an_oom_kill_is_counted_after_the_process_is_gone() {
    const LIMIT: u64 = 48 << 20;
    let Some(group) = or_skip(ScratchGroup::create(LIMIT)) else {
        return;
    };
    let procs = group.procs();
    let hog = Kid::start(
        &me(),
        "hog",
        &[("CGROUP", procs.to_str().unwrap())],
        "joined",
    );
    let w = WatchConfig::pid(hog.pid()).build().unwrap();
    let first = w.sample_now();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let memory = first.cgroup.as_ref().unwrap().memory.clone().unwrap();
    assert_eq!((memory.version, &memory.path), (group.version, &group.dir));
    assert_eq!(memory.limit, Some(Limit::Bytes(LIMIT)));
    assert_eq!(memory.oom_kills, Some(0));
    assert!(memory.current_bytes.unwrap() > 0);

    let status = hog.finish();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "killed by the OOM killer: {status}"
    );

    // /proc/PID is gone; the group found at the first sample is still read.
    let after = w.sample_now();
    assert_eq!((after.main, &after.tree), (None, &None));
    assert_eq!(after.oom_kills(), Some(1));
    let memory = after.cgroup.unwrap().memory.unwrap();
    assert!(
        memory.peak_bytes.is_none_or(|p| p > LIMIT / 2),
        "{:?}",
        memory.peak_bytes
    );
    match group.version {
        Version::V1 => {
            // (Recent kernels leave v1 failcnt at 0 even then: read, not asserted.)
            assert!(memory.failcnt.is_some());
            assert_eq!(memory.under_oom, Some(false));
        }
        Version::V2 => {
            assert!(memory.oom_events.unwrap() >= 1);
            assert!(memory.max_events.unwrap() >= 1);
        }
    }
}

#[test]
fn this_machines_cgroups_are_found_and_read() {
    let s = WatchConfig::pid(std::process::id())
        .build()
        .unwrap()
        .sample_now();
    let Some(cg) = s.cgroup else {
        let _ = or_skip::<()>(Err(format!(
            "no cgroup found for this process: {:?}",
            s.errors
        )));
        return;
    };
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    if let Some(m) = &cg.memory {
        assert!(m.current_bytes.is_some() && m.limit.is_some(), "{m:?}");
    }
    if let Some(c) = &cg.cpu {
        // v2 always has usage; v1 has it where cpuacct is mounted.
        if c.version == Version::V2 || cg.paths.cpuacct.is_some() {
            assert!(c.usage_usec.unwrap() > 0, "{c:?}");
        }
    }
    if std::path::Path::new("/proc/pressure/cpu").exists() {
        assert!(s.system_pressure.unwrap().cpu.is_some());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_periodic_task_keeps_a_bounded_history() {
    let mut config = WatchConfig::pid(std::process::id());
    config.interval = Duration::from_millis(10);
    config.history = 3;
    let w = config.build().unwrap();
    let task = w.spawn();
    let mut seen = 0.0;
    // Waits for sampling to have gone past the bound, however slowly the machine runs.
    while seen <= 0.1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = w.history().last().map_or(0.0, |s| s.t);
    }
    task.stop().await;
    let history = w.history();
    assert_eq!(history.len(), 3, "oldest dropped first");
    assert!(history.windows(2).all(|p| p[0].t < p[1].t));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(w.history(), history, "no sample after stop()");
}

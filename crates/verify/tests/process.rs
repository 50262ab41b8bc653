//! Process clauses that can fail, end to end: real contracts run by `verify` against real
//! targets (this test binary started again as a small HTTP server, a supervisor, or a
//! cgroup-joining wrapper), which the kernel OOM-kills, which crash and are restarted,
//! which hide behind `sh -c`. And the spawned group is gone afterwards, whatever way the
//! run ended.

#[path = "../../sense/proc/tests/support/scratch_cgroup.rs"]
mod scratch_cgroup;

use ballast_verify::{ClauseVerdict, Outcome, VerifyOptions, VerifyReport};
use scratch_cgroup::{or_skip, ScratchGroup};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MODE: &str = "BALLAST_VERIFY_TEST_HELPER";

/// Not a test: the targets the other tests spawn (this binary again, `MODE` set).
///
/// - `serve`: HTTP/1.1 on the inherited listener `LISTEN_FD`; `/healthz` answers and is
///   not counted. Options: `COMM` (renames the process), `HOLD_MIB` (touches that much
///   memory at start), `PIDFILE` (writes `PID PGID`), `IGNORE_TERM`, `EXIT_AFTER=N`
///   (exits 1 after N counted requests, in generation 1 only), `OOM_AFTER=N` (after N
///   counted requests allocates until the kernel kills it).
/// - `join`: writes its pid to `CGROUP_PROCS`, then execs itself as `NEXT`.
/// - `supervise`: runs `serve` as a child and restarts it whenever it exits, counting
///   restarts in `RESTARTS_FILE`.
#[test]
#[ignore = "the target process of the other tests"]
fn helper() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let var = |name: &str| std::env::var(name).ok();
    match mode.as_str() {
        "serve" => serve(),
        "join" => {
            use std::os::unix::process::CommandExt;
            std::fs::write(var("CGROUP_PROCS").unwrap(), std::process::id().to_string()).unwrap();
            let e = std::process::Command::new(std::env::current_exe().unwrap())
                .args(std::env::args_os().skip(1))
                .env(MODE, var("NEXT").unwrap())
                .exec();
            panic!("exec: {e}");
        }
        "supervise" => {
            let mut generation = 1;
            loop {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .args(std::env::args_os().skip(1))
                    .env(MODE, "serve")
                    .env("GENERATION", generation.to_string())
                    .status()
                    .unwrap();
                eprintln!(
                    "supervisor: server generation {generation} ended ({status}); restarting"
                );
                std::fs::write(var("RESTARTS_FILE").unwrap(), generation.to_string()).unwrap();
                generation += 1;
            }
        }
        other => panic!("unknown helper mode {other}"),
    }
}

fn serve() -> ! {
    let var = |name: &str| std::env::var(name).ok();
    if let Some(comm) = var("COMM") {
        // Names the whole process (the thread group's leader), from any thread.
        std::fs::write("/proc/self/comm", comm).unwrap();
    }
    if var("IGNORE_TERM").is_some() {
        // SAFETY: sets a signal disposition to "ignore"; no handler runs.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut touch = |mib: u64| {
        for _ in 0..mib {
            held.push(vec![1u8; 1 << 20]);
        }
    };
    touch(var("HOLD_MIB").map_or(0, |m| m.parse().unwrap()));
    if let Some(path) = var("PIDFILE") {
        // SAFETY: getpgrp has no arguments and cannot fail.
        let pgid = unsafe { libc::getpgrp() };
        std::fs::write(path, format!("{} {pgid}\n", std::process::id())).unwrap();
    }
    let first_generation = var("GENERATION").is_none_or(|g| g == "1");
    let exit_after: Option<u64> = var("EXIT_AFTER")
        .filter(|_| first_generation)
        .map(|n| n.parse().unwrap());
    let oom_after: Option<u64> = var("OOM_AFTER").map(|n| n.parse().unwrap());
    let fd: i32 = var("LISTEN_FD").unwrap().parse().unwrap();
    // SAFETY: the fd is the listening socket the test handed down, open in this process.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    static COUNTED: AtomicU64 = AtomicU64::new(0);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let health = request_line.contains(" /healthz ");
                let n = if health {
                    0
                } else {
                    COUNTED.fetch_add(1, Ordering::SeqCst) + 1
                };
                if oom_after.is_some_and(|after| n == after) {
                    let mut hog: Vec<Vec<u8>> = Vec::new();
                    for _ in 0..4096 {
                        hog.push(vec![1u8; 1 << 20]);
                    }
                    // 4 GiB and alive: the memory limit did not hold.
                    std::process::exit(3);
                }
                let status = if health || !request_line.contains(" /never ") {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
                if exit_after.is_some_and(|after| n == after) {
                    std::process::exit(1);
                }
            }
        });
    }
    unreachable!("incoming() never ends")
}

/// A loopback listener on port 0 that the spawned target inherits.
fn inheritable_listener() -> (TcpListener, u16, i32) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = listener.as_raw_fd();
    // SAFETY: clears close-on-exec on a descriptor this process owns.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    (listener, port, fd)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-verify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A contract that spawns a target and runs one 2-s phase.
struct Spec<'a> {
    command: String,
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    /// More `target:` lines (indented by two).
    target: String,
    ready: &'a str,
    clauses: &'a [(&'a str, &'a str)],
    /// The one phase, as a YAML flow mapping.
    phase: String,
}

impl<'a> Spec<'a> {
    /// This test binary as a helper in `mode`, with `env`.
    fn helper(mode: &str, env: Vec<(&'a str, String)>, clauses: &'a [(&'a str, &'a str)]) -> Self {
        let mut env = env;
        env.push((MODE, mode.to_string()));
        Spec {
            command: me(),
            args: HELPER_ARGS.iter().map(|a| a.to_string()).collect(),
            env,
            target: String::new(),
            ready: "http: /healthz, timeout: 20s",
            clauses,
            phase: "{ name: steady, rate: 50/s, duration: 2s }".into(),
        }
    }

    /// The `serve` helper behind `sh -c` without `exec`: sh stays the server's parent,
    /// as in many start scripts.
    fn behind_sh(env: Vec<(&'a str, String)>, clauses: &'a [(&'a str, &'a str)]) -> Self {
        let script = format!(
            "\"$0\" {}; echo wrapper: the server ended",
            HELPER_ARGS.join(" ")
        );
        Spec {
            command: "sh".into(),
            args: vec!["-c".into(), script, me()],
            ..Spec::helper("serve", env, clauses)
        }
    }

    fn write(&self, dir: &Path, port: u16) -> ballast_contract::Contract {
        let args: Vec<String> = self.args.iter().map(|a| yaml_str(a)).collect();
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}: {}", yaml_str(v)))
            .collect();
        let clauses: String = self
            .clauses
            .iter()
            .map(|(name, check)| format!("  - name: {}\n    check: {check}\n", yaml_str(name)))
            .collect();
        let text = format!(
            "name: process-e2e\n\
             target:\n  base_url: http://127.0.0.1:{port}\n  timeout: 300ms\n  connections: 4\n{}\
             \x20 spawn:\n    command: {}\n    args: [{}]\n    env: {{ {} }}\n    ready: {{ {} }}\n\
             phases:\n  - {}\n\
             clauses:\n{clauses}",
            self.target,
            yaml_str(&self.command),
            args.join(", "),
            env.join(", "),
            self.ready,
            self.phase,
        );
        let path = dir.join("contract.yaml");
        std::fs::write(&path, &text).unwrap();
        ballast_contract::Contract::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

const HELPER_ARGS: [&str; 5] = [
    "helper",
    "--exact",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

fn me() -> String {
    std::env::current_exe()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

async fn run(contract: &ballast_contract::Contract) -> VerifyReport {
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    ballast_verify::verify(contract, &VerifyOptions::default(), stop, |_| {})
        .await
        .expect("the run completes")
}

fn clause<'a>(report: &'a VerifyReport, name: &str) -> &'a ClauseVerdict {
    report.clauses.iter().find(|c| c.name == name).unwrap()
}

/// The one observed value of a clause, after checking its outcome.
fn observed(report: &VerifyReport, name: &str, outcome: Outcome) -> Option<f64> {
    let c = clause(report, name);
    assert_eq!(
        c.outcome, outcome,
        "{name}: {c:#?}\nnotes: {:?}",
        report.notes
    );
    c.observed[0].value
}

/// `PID PGID` written by a `serve` helper.
fn pidfile(path: &Path) -> (u32, i32) {
    let text = std::fs::read_to_string(path).expect("the server wrote its pid file");
    let mut parts = text.split_whitespace().map(|p| p.parse::<i64>().unwrap());
    (parts.next().unwrap() as u32, parts.next().unwrap() as i32)
}

fn assert_group_gone(pgid: i32, server: u32) {
    let left = ballast_proc::group_members(pgid).unwrap();
    assert!(
        left.is_empty(),
        "processes of the target's group survived: {left:?}"
    );
    let table = ballast_proc::ProcessTable::scan(Path::new("/proc")).unwrap();
    assert!(
        table
            .get(server)
            .is_none_or(|s| s.is_gone() || s.pgrp != pgid),
        "the server {server} survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_target_fails_the_no_oom_clause_with_the_kill_counted() {
    let Some(group) = or_skip(ScratchGroup::create(64 << 20)) else {
        return;
    };
    let dir = scratch("oom");
    let (_listener, port, fd) = inheritable_listener();
    let clauses = [
        ("no OOM", "process.oom_kills == 0"),
        ("no restarts", "process.restarts == 0"),
    ];
    // The wrapper puts itself into the limited group, then becomes the server.
    let spec = Spec::helper(
        "join",
        vec![
            ("NEXT", "serve".into()),
            ("CGROUP_PROCS", group.procs().to_str().unwrap().into()),
            ("LISTEN_FD", fd.to_string()),
            ("OOM_AFTER", "20".into()),
        ],
        &clauses,
    );
    let report = run(&spec.write(&dir, port)).await;
    assert!(!report.passed);
    assert_eq!(
        observed(&report, "no OOM", Outcome::Fail),
        Some(1.0),
        "the kernel's kill, read from the {:?} group {} after the process was gone",
        group.version,
        group.dir.display()
    );
    assert_eq!(
        observed(&report, "no restarts", Outcome::Fail),
        Some(1.0),
        "it died"
    );
    let shown = &clause(&report, "no OOM").observed[0];
    assert_eq!(shown.fact, "process.oom_kills");
    drop(group);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_restarted_by_its_supervisor_fails_the_no_restart_clause() {
    let dir = scratch("restart");
    let (_listener, port, fd) = inheritable_listener();
    let comm = format!("bvt{}", std::process::id());
    let restarts_file = dir.join("restarts");
    let clauses = [
        ("no restarts", "process.restarts == 0"),
        ("memory is measured", "process.rss_max > 1MiB"),
    ];
    let mut spec = Spec::helper(
        "supervise",
        vec![
            ("COMM", comm.clone()),
            ("LISTEN_FD", fd.to_string()),
            ("EXIT_AFTER", "20".into()),
            ("RESTARTS_FILE", restarts_file.to_str().unwrap().into()),
        ],
        &clauses,
    );
    // The server inside the spawned supervisor's tree, by name.
    spec.target = format!("  process: {{ name: {comm} }}\n");
    let report = run(&spec.write(&dir, port)).await;
    let actual: u64 = std::fs::read_to_string(&restarts_file)
        .expect("the supervisor restarted the server")
        .parse()
        .unwrap();
    assert_eq!(actual, 1, "only the first generation exits");
    assert_eq!(observed(&report, "no restarts", Outcome::Fail), Some(1.0));
    assert!(observed(&report, "memory is measured", Outcome::Pass).is_some());
    assert!(!report.passed);
}

/// `kill` with `target.process.name` inside a spawned supervisor: the named server alone
/// is killed, and the supervisor (not verify) starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_reaches_the_named_server_inside_a_spawned_supervisor_which_restarts_it() {
    let dir = scratch("supervised-kill");
    let (_listener, port, fd) = inheritable_listener();
    let comm = format!("bvk{}", std::process::id());
    let restarts_file = dir.join("restarts");
    let clauses = [("one restart", "process.restarts == 1")];
    let mut spec = Spec::helper(
        "supervise",
        vec![
            ("COMM", comm.clone()),
            ("LISTEN_FD", fd.to_string()),
            ("RESTARTS_FILE", restarts_file.to_str().unwrap().into()),
        ],
        &clauses,
    );
    spec.target = format!("  process: {{ name: {comm} }}\n");
    spec.phase =
        "{ name: steady, rate: 50/s, duration: 3s, faults: [{ kind: kill, after: 1s }] }".into();
    let report = run(&spec.write(&dir, port)).await;
    let restarts: u64 = std::fs::read_to_string(&restarts_file)
        .expect("the supervisor restarted the server")
        .parse()
        .unwrap();
    assert_eq!(restarts, 1);
    assert_eq!(observed(&report, "one restart", Outcome::Pass), Some(1.0));
    let kill = &report.faults[0];
    assert_eq!(
        (kill.toxic.as_str(), kill.proxy.as_str()),
        ("kill SIGKILL", "the target")
    );
    // The spawned supervisor itself never went down.
    assert!(
        !report.notes.iter().any(|n| n.contains("the target exited")),
        "{:?}",
        report.notes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sh_wrapper_hides_neither_the_servers_memory_nor_it_from_the_stop() {
    let dir = scratch("wrapper");
    let (_listener, port, fd) = inheritable_listener();
    let pid_path = dir.join("server.pid");
    let clauses = [
        ("the server's memory counts", "process.rss_max >= 90MiB"),
        ("no restarts", "process.restarts == 0"),
    ];
    let spec = Spec::behind_sh(
        vec![
            ("LISTEN_FD", fd.to_string()),
            ("HOLD_MIB", "96".into()),
            ("PIDFILE", pid_path.to_str().unwrap().into()),
        ],
        &clauses,
    );
    let report = run(&spec.write(&dir, port)).await;
    assert!(report.passed, "{:#?}", report.clauses);
    let (server, pgid) = pidfile(&pid_path);
    // SAFETY: getpgrp has no arguments and cannot fail.
    assert_ne!(
        pgid,
        unsafe { libc::getpgrp() },
        "the target has a group of its own"
    );
    assert_group_gone(pgid, server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = scratch("ignore-term");
    let (_listener, port, fd) = inheritable_listener();
    let pid_path = dir.join("server.pid");
    let clauses = [("no restarts", "process.restarts == 0")];
    let spec = Spec::behind_sh(
        vec![
            ("LISTEN_FD", fd.to_string()),
            ("IGNORE_TERM", "1".into()),
            ("PIDFILE", pid_path.to_str().unwrap().into()),
        ],
        &clauses,
    );
    let report = run(&spec.write(&dir, port)).await;
    assert!(
        report.notes.iter().all(|n| !n.contains("outlived")),
        "{:?}",
        report.notes
    );
    let (server, pgid) = pidfile(&pid_path);
    assert_group_gone(pgid, server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_is_stopped_after_ctrl_c() {
    let dir = scratch("ctrl-c");
    let (_listener, port, fd) = inheritable_listener();
    let pid_path = dir.join("server.pid");
    let clauses = [("no restarts", "process.restarts == 0")];
    let spec = Spec::behind_sh(
        vec![
            ("LISTEN_FD", fd.to_string()),
            ("PIDFILE", pid_path.to_str().unwrap().into()),
        ],
        &clauses,
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // Ctrl-C as the CLI delivers it: the stop signal turns true once the phase runs.
    let report = ballast_verify::verify(
        &spec.write(&dir, port),
        &VerifyOptions::default(),
        stop,
        |event| {
            if matches!(event, ballast_verify::Event::PhaseStarted { .. }) {
                let _ = stop_tx.send(true);
            }
        },
    )
    .await
    .unwrap();
    assert!(report.interrupted);
    let (server, pgid) = pidfile(&pid_path);
    assert_group_gone(pgid, server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_gets_ready_fails_the_run_and_its_group_is_stopped() {
    let dir = scratch("never-ready");
    let (_listener, port, fd) = inheritable_listener();
    let pid_path = dir.join("server.pid");
    let clauses = [("no restarts", "process.restarts == 0")];
    let mut spec = Spec::behind_sh(
        vec![
            ("LISTEN_FD", fd.to_string()),
            ("PIDFILE", pid_path.to_str().unwrap().into()),
        ],
        &clauses,
    );
    spec.ready = "http: /never, timeout: 1s";
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let e = ballast_verify::verify(
        &spec.write(&dir, port),
        &VerifyOptions::default(),
        stop,
        |_| {},
    )
    .await
    .expect_err("a target that is never ready fails the run");
    assert!(e.to_string().contains("was not ready within"), "{e}");
    let (server, pgid) = pidfile(&pid_path);
    assert_group_gone(pgid, server);
}

/// A Rust target reads its environment at start: a phase's `env` restarts it with the
/// variables for that phase and without them afterwards, and those restarts are not the
/// target's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_env_restarts_a_rust_target_with_it_and_without_it_after() {
    let dir = scratch("env");
    let (_listener, port, fd) = inheritable_listener();
    let args: Vec<String> = HELPER_ARGS.iter().map(|a| yaml_str(a)).collect();
    let text = format!(
        "target:\n  base_url: http://127.0.0.1:{port}\n  timeout: 300ms\n  connections: 4\n\
         \x20 spawn:\n    command: {}\n    args: [{}]\n    env: {{ {MODE}: serve, LISTEN_FD: \"{fd}\" }}\n    ready: {{ http: /healthz, timeout: 20s }}\n\
         phases:\n\
         \x20 - {{ name: plain, rate: 20/s, duration: 1500ms }}\n\
         \x20 - {{ name: held, rate: 20/s, duration: 1500ms, env: {{ HOLD_MIB: \"96\" }} }}\n\
         \x20 - {{ name: after, rate: 20/s, duration: 1500ms }}\n\
         clauses:\n\
         \x20 - {{ name: plain is small, phase: plain, check: process.rss_max < 64MiB }}\n\
         \x20 - {{ name: held holds it, phase: held, check: process.rss_max >= 96MiB }}\n\
         \x20 - {{ name: after is small again, phase: after, check: process.rss_max < 64MiB }}\n\
         \x20 - {{ name: no restarts of its own, check: process.restarts == 0 }}\n\
         \x20 - {{ name: every request answered, check: error_rate == 0 }}\n",
        yaml_str(&me()),
        args.join(", "),
    );
    let path = dir.join("contract.yaml");
    std::fs::write(&path, &text).unwrap();
    let contract =
        ballast_contract::Contract::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let report = run(&contract).await;
    for c in &report.clauses {
        assert_eq!(
            c.outcome,
            Outcome::Pass,
            "{c:#?}\nnotes: {:?}",
            report.notes
        );
    }
    let env: Vec<_> = report
        .faults
        .iter()
        .filter(|f| f.toxic == "env HOLD_MIB=96")
        .collect();
    assert_eq!(env.len(), 1, "{:?}", report.faults);
    assert!(env[0].removed_s.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

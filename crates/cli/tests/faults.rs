//! Faults beyond the network, as a user runs them: the seed's experiments as the example
//! contracts in `contracts/examples/faults-*.yaml`, run by `ballast verify` against real
//! targets on loopback (the demo shop on PostgreSQL, two small Go programs built here with
//! the system's Go), and what a killed run leaves behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// These tests count the machine's stressor processes and load its CPUs: one at a time,
/// under `cargo test` too (nextest runs them in its `serial` group).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ballast-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `crates/verify/tests/go/NAME` into `dir` (standard library only, no downloads).
fn go_build(dir: &Path, name: &str) -> PathBuf {
    let source = repo()
        .join("crates/verify/tests/go")
        .join(name)
        .join("main.go");
    ballast_testkit::go_build(&source, dir, name)
}

/// `ballast verify CONTRACT --json` with `env`; the exit status, output and verdict.
fn verify(contract: &Path, env: &[(&str, &Path)], dir: &Path) -> (Output, serde_json::Value) {
    let json = dir.join("verdict.json");
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args([
            "verify",
            contract.to_str().unwrap(),
            "--no-progress",
            "--json",
        ])
        .arg(&json)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .expect("ballast runs");
    let verdict = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, verdict)
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn outcome(verdict: &serde_json::Value, clause: usize) -> &str {
    verdict["clauses"][clause]["outcome"]
        .as_str()
        .unwrap_or("missing")
}

fn example(name: &str) -> PathBuf {
    repo().join(format!("contracts/examples/{name}.yaml"))
}

/// Every fault the report lists was removed.
fn all_removed(verdict: &serde_json::Value) {
    for f in verdict["faults"].as_array().unwrap() {
        assert!(f["removed_s"].is_number(), "not removed: {f}");
    }
}

/// ballast-fault's stressor processes that run.
fn stressors() -> Vec<u32> {
    ["ballast-cpu", "ballast-memory", "ballast-io"]
        .iter()
        .flat_map(|name| processes_named(name))
        .collect()
}

/// The stressors `parent` started.
fn stressors_of(parent: u32) -> Vec<u32> {
    stressors()
        .into_iter()
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit(')').next().unwrap_or_default();
            after.split_whitespace().nth(1) == Some(parent.to_string().as_str())
        })
        .collect()
}

/// Running processes whose name starts with `prefix`.
fn processes_named(prefix: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if comm.trim().starts_with(prefix) && !zombie {
                out.push(pid);
            }
        }
    }
    out
}

#[test]
fn a_leaking_go_service_is_oom_killed_and_restarted_once() {
    let _serial = one_at_a_time();
    let dir = scratch("oom");
    let binary = go_build(&dir, "runtime");
    let (out, verdict) = verify(
        &example("faults-oom-restart"),
        &[("BALLAST_GO_RUNTIME", &binary)],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for i in 0..3 {
        assert_eq!(outcome(&verdict, i), "pass", "{}", text(&out));
    }
    let notes = verdict["notes"].to_string();
    assert!(notes.contains("its own cgroup (v"), "{notes}");
    assert!(
        notes.contains("SIGKILL") && notes.contains("started again"),
        "{notes}"
    );
    all_removed(&verdict);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gogc_for_one_phase_restarts_the_go_service_with_it() {
    let _serial = one_at_a_time();
    let dir = scratch("gogc");
    let binary = go_build(&dir, "runtime");
    let (out, verdict) = verify(
        &example("faults-gogc"),
        &[("BALLAST_GO_RUNTIME", &binary)],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env = &verdict["faults"][0];
    assert_eq!(env["toxic"], "env GOGC=50 GOMEMLIMIT=256MiB", "{verdict}");
    assert_eq!(env["phase"], "gogc_50");
    all_removed(&verdict);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpu_stress_in_the_shops_cgroup_fails_the_surge_clause_the_surge_alone_passes() {
    let _serial = one_at_a_time();
    let dir = scratch("cpu");
    let (out, verdict) = verify(&example("faults-cpu-surge"), &[], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(outcome(&verdict, 0), "pass", "{}", text(&out));
    assert_eq!(outcome(&verdict, 1), "fail", "{}", text(&out));
    let stress = verdict["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["toxic"].as_str().unwrap().starts_with("cpu stress"))
        .unwrap_or_else(|| panic!("no cpu stress in {verdict}"));
    assert_eq!(stress["proxy"], "the target's cgroup", "{stress}");
    all_removed(&verdict);
    assert!(stressors().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_with_a_backup_resolver_holds_through_servfail_one_without_does_not() {
    let _serial = one_at_a_time();
    let dir = scratch("dns");
    let binary = go_build(&dir, "dnsfallback");
    let contract = example("faults-dns-fallback");
    let (out, verdict) = verify(&contract, &[("BALLAST_GO_DNSFALLBACK", &binary)], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    all_removed(&verdict);

    // The same contract, the client told of no backup.
    let text_of = std::fs::read_to_string(&contract).unwrap();
    let without = text_of.replace("      DNS_FALLBACK: 127.0.0.1:18354\n", "");
    assert_ne!(without, text_of);
    let copy = dir.join("no-fallback.yaml");
    std::fs::write(&copy, without).unwrap();
    let (out, verdict) = verify(&copy, &[("BALLAST_GO_DNSFALLBACK", &binary)], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(outcome(&verdict, 0), "pass", "{}", text(&out));
    assert_eq!(outcome(&verdict, 1), "fail", "{}", text(&out));
    let share = verdict["phases"][1]["report"]["error_rate"]
        .as_f64()
        .unwrap();
    assert!((0.08..=0.35).contains(&share), "{share} of lookups failed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A contract whose phase holds cpu and memory stressors for a while.
fn stress_contract(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join("stress.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
target:
  base_url: http://127.0.0.1:18297
  spawn:
    command: ballast
    args: [demo, serve, --bind, "127.0.0.1:18297"]
    ready: {{ tcp: 18297 }}
phases:
  - name: stressed
    rate: 20/s
    duration: {seconds}s
    limits: {{ memory: 512MiB }}
    faults:
      - {{ kind: cpu, workers: 1, load: 20% }}
      - {{ kind: memory, size: 32MiB }}
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn stressors_die_with_a_killed_run_and_the_next_run_sweeps_its_cgroup() {
    let _serial = one_at_a_time();
    let dir = scratch("kill9");
    let contract = stress_contract(&dir, 30);
    let mut run = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["verify", contract.to_str().unwrap(), "--no-progress"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stressors_of(run.id()).len() < 2 {
        assert!(Instant::now() < deadline, "the stressors never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    // Nothing ran its clean-up: the stressors see their parent gone and exit.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !stressors().is_empty() {
        assert!(Instant::now() < deadline, "stressors outlived the run");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The spawned demo service was orphaned by SIGKILL; stop it before the next run.
    for pid in processes_named("ballast") {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("127.0.0.1:18297") {
            // SAFETY: kill(2) on the orphan this test's run started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let contract = stress_contract(&dir, 1);
    let (out, verdict) = verify(&contract, &[], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes = verdict["notes"].to_string();
    assert!(
        notes.contains("removed a cgroup left by an earlier run"),
        "{notes}"
    );
    all_removed(&verdict);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn faults_that_cannot_work_here_are_refused_before_anything_starts() {
    let _serial = one_at_a_time();
    let dir = scratch("refused");
    let marker = dir.join("started");
    let write = |name: &str, fault: &str, process: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                r#"target:
  base_url: http://127.0.0.1:18298
{process}phases:
  - name: probe
    rate: 10/s
    duration: 1s
    faults:
      - {fault}
"#
            ),
        )
        .unwrap();
        path
    };
    let spawn = format!(
        "  spawn: {{ command: touch, args: [{}] }}\n",
        marker.display()
    );
    let cases = [
        (
            write("memory.yaml", "{ kind: memory, size: 900GiB }", &spawn),
            "memory.yaml:9: phases[0].faults[0].size: 900GiB is above this machine's memory",
        ),
        (
            write("io.yaml", "{ kind: io, dir: /nonexistent/dir }", &spawn),
            "io.yaml:9: phases[0].faults[0].dir: /nonexistent/dir is not a directory here",
        ),
        (
            write(
                "room.yaml",
                &format!("{{ kind: io, dir: {}, size: 4000GiB }}", dir.display()),
                &spawn,
            ),
            "room.yaml:9: phases[0].faults[0].size: 1 worker(s) x 3.9TiB need 3.9TiB but",
        ),
        (
            write("signal.yaml", "{ kind: kill, signal: SIGBOGUS }", &spawn),
            "signal.yaml:9:",
        ),
        (
            write(
                "pid.yaml",
                "{ kind: pause }",
                "  process: { pid: 4000000 }\n",
            ),
            "pid.yaml:9: phases[0].faults[0]: a pause fault on target.process.pid 4000000",
        ),
    ];
    for (contract, wanted) in cases {
        let (out, _) = verify(&contract, &[], &dir);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains(wanted), "{wanted}\n{said}");
        assert!(
            !marker.exists(),
            "the target was started for {}",
            contract.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// How a run with every kind of fault in place ends, for the clean-up tests.
enum Ending {
    /// SIGINT (Ctrl-C) once every fault is in place.
    CtrlC,
    /// The phase's steady state breaks (the pause stops the service answering).
    Abort,
    /// A fault cannot be put in place (the pause comes after a kill, with no restart).
    FaultFails,
}

impl Ending {
    /// The target's port and the DNS server's, different for each ending.
    fn ports(&self) -> (u16, u16) {
        match self {
            Ending::CtrlC => (18296, 18355),
            Ending::Abort => (18295, 18356),
            Ending::FaultFails => (18294, 18357),
        }
    }
}

fn every_fault_contract(dir: &Path, ending: &Ending) -> PathBuf {
    let (port, dns) = ending.ports();
    let io = dir.join("io");
    std::fs::create_dir_all(&io).unwrap();
    let (extra, abort) = match ending {
        // At Ctrl-C the pause still has most of its `for` to go, and one fault is not due.
        Ending::CtrlC => (
            "      - { kind: dns, names: late.test, answer: nxdomain, after: 20s }\n",
            "",
        ),
        Ending::Abort => (
            "",
            "    abort_when: { steady_state: \"error_rate < 50%\", for: 1s }\n",
        ),
        Ending::FaultFails => ("      - { kind: kill, after: 1s }\n", ""),
    };
    let pause_for = match ending {
        Ending::CtrlC => ", for: 20s",
        _ => "",
    };
    let path = dir.join("every-fault.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
dns:
  servers: [{{ name: resolver, listen: "127.0.0.1:{dns}", records: {{ a.test: [127.0.0.1] }} }}]
target:
  base_url: http://127.0.0.1:{port}
  spawn:
    command: ballast
    args: [demo, serve, --bind, "127.0.0.1:{port}"]
    ready: {{ tcp: {port} }}
  timeout: 200ms
phases:
  - name: everything
    rate: 20/s
    duration: 30s
    limits: {{ memory: 512MiB, cpus: 1 }}
{abort}    faults:
      - {{ kind: cpu, workers: 1, load: 20% }}
      - {{ kind: memory, share: 6% }}
      - {{ kind: io, dir: {io}, size: 4MiB }}
      - {{ kind: dns, names: "*", answer: servfail }}
{extra}      - {{ kind: pause, after: 2s{pause_for} }}
"#,
            io = io.display(),
        ),
    )
    .unwrap();
    path
}

/// No cgroup of the run `run_pid` is left, under any controller.
fn no_cgroup_left(run_pid: u32) {
    // The v1 controllers, the hybrid layout's v2 mount, and a pure v2 host's root.
    for controller in ["memory", "cpu", "cpuacct", "unified", ""] {
        let root = Path::new("/sys/fs/cgroup").join(controller);
        let name = format!("ballast-verify-{run_pid}-");
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let n = entry.file_name().to_string_lossy().into_owned();
                    assert!(
                        !n.starts_with(&name),
                        "cgroup left: {}",
                        entry.path().display()
                    );
                    if d.components().count() < 8 {
                        stack.push(entry.path());
                    }
                }
            }
        }
    }
}

/// Nothing a run put in place is left: no stressor, no cgroup of that run, no DNS server
/// on its port, no file in the I/O directory, the spawned target gone.
fn nothing_left(run_pid: u32, dir: &Path, (port, dns): (u16, u16)) {
    assert_eq!(stressors(), Vec::<u32>::new(), "stressors left");
    no_cgroup_left(run_pid);
    std::net::UdpSocket::bind(("127.0.0.1", dns)).expect("the DNS server's port is free");
    std::net::TcpListener::bind(("127.0.0.1", dns)).expect("the DNS server's port is free");
    let files: Vec<_> = std::fs::read_dir(dir.join("io"))
        .unwrap()
        .flatten()
        .collect();
    assert!(files.is_empty(), "I/O stress files left: {files:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the spawned target still answers"
    );
}

/// The demo service on `port` is stopped (state T).
fn target_paused(port: u16) -> bool {
    processes_named("ballast").into_iter().any(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        String::from_utf8_lossy(&cmdline).contains(&format!("127.0.0.1:{port}"))
            && stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('T'))
    })
}

fn run_to(ending: Ending) -> (Output, serde_json::Value) {
    let dir = scratch(match ending {
        Ending::CtrlC => "ctrl-c",
        Ending::Abort => "abort",
        Ending::FaultFails => "fault-fails",
    });
    let contract = every_fault_contract(&dir, &ending);
    let json = dir.join("verdict.json");
    let child = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args([
            "verify",
            contract.to_str().unwrap(),
            "--no-progress",
            "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    if let Ending::CtrlC = ending {
        let deadline = Instant::now() + Duration::from_secs(20);
        while stressors_of(pid).len() < 3 || !target_paused(ending.ports().0) {
            assert!(
                Instant::now() < deadline,
                "the faults were never all in place"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on the run this test started.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
    }
    let out = child.wait_with_output().unwrap();
    let verdict = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    nothing_left(pid, &dir, ending.ports());
    let _ = std::fs::remove_dir_all(&dir);
    (out, verdict)
}

fn kinds(verdict: &serde_json::Value) -> Vec<String> {
    verdict["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["toxic"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn ctrl_c_removes_every_fault() {
    let _serial = one_at_a_time();
    let (out, verdict) = run_to(Ending::CtrlC);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_eq!(
        kinds(&verdict),
        ["limits", "cpu", "memory", "io", "servfail", "pause"],
        "{verdict}"
    );
    all_removed(&verdict);
}

#[test]
fn an_abort_removes_every_fault() {
    let _serial = one_at_a_time();
    let (out, verdict) = run_to(Ending::Abort);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        verdict["aborted"].as_str().unwrap().contains("error_rate"),
        "{verdict}"
    );
    assert!(kinds(&verdict).contains(&"pause".to_string()));
    all_removed(&verdict);
}

#[test]
fn a_fault_that_fails_stops_the_phase_and_removes_the_others() {
    let _serial = one_at_a_time();
    let (out, verdict) = run_to(Ending::FaultFails);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let aborted = verdict["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains("faults did not run as written")
            && aborted.contains("phases[0].faults[5] (pause): the target is not running"),
        "{verdict}"
    );
    // It stopped at the failure, not after the phase's 30 s.
    assert!(verdict["duration_s"].as_f64().unwrap() < 15.0, "{verdict}");
    all_removed(&verdict);
}

#[test]
fn kills_are_restarted_until_the_restart_loop_limit_then_the_target_stays_down() {
    let _serial = one_at_a_time();
    let dir = scratch("loop");
    let path = dir.join("loop.yaml");
    std::fs::write(
        &path,
        r#"
target:
  base_url: http://127.0.0.1:18289
  timeout: 300ms
  spawn:
    command: ballast
    args: [demo, serve, --bind, "127.0.0.1:18289"]
    ready: { tcp: 18289 }
    restart: { max: 2, within: 60s, delay: 100ms }
phases:
  - name: crashes
    rate: 20/s
    duration: 8s
    faults:
      - { kind: kill, after: 500ms }
      - { kind: kill, signal: SIGTERM, after: 3s }
      - { kind: kill, after: 5500ms }
clauses:
  - { name: three exits seen, check: process.restarts == 3 }
"#,
    )
    .unwrap();
    let (out, verdict) = verify(&path, &[], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes: Vec<&str> = verdict["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let count = |what: &str| notes.iter().filter(|n| n.contains(what)).count();
    assert_eq!(count("started again"), 2, "{notes:?}");
    assert_eq!(count("restart loop"), 1, "{notes:?}");
    // SIGTERM is a graceful stop for the demo service: it exits 0, and is restarted too.
    assert!(
        notes.iter().any(|n| n.contains("(exit status: 0)")),
        "{notes:?}"
    );
    let kills: Vec<&str> = verdict["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["toxic"].as_str().unwrap())
        .collect();
    assert_eq!(kills, ["kill SIGKILL", "kill SIGTERM", "kill SIGKILL"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A network namespace of the test's own, with `/etc/netns/NAME/resolv.conf` naming
/// 127.0.0.1 (which `ip netns exec` puts over /etc/resolv.conf); removed on drop.
struct Netns(String);

impl Netns {
    fn create() -> Result<Netns, String> {
        // SAFETY: geteuid(2) has no arguments and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: network namespaces need it".into());
        }
        let name = format!("ballast-dns-{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| format!("ip (Debian's iproute2): {e}"))
                .and_then(|s| {
                    s.success()
                        .then_some(())
                        .ok_or(format!("ip {args:?} failed"))
                })
        };
        ip(&["netns", "add", &name])?;
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        let etc = Path::new("/etc/netns").join(&ns.0);
        std::fs::create_dir_all(&etc).map_err(|e| e.to_string())?;
        std::fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions attempts:1\n",
        )
        .map_err(|e| e.to_string())?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.0));
    }
}

#[test]
fn a_target_using_the_system_resolver_is_pointed_at_our_dns_by_a_netns_resolv_conf() {
    let _serial = one_at_a_time();
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(why) if std::env::var("CI").is_err() => {
            println!("skipped: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let dir = scratch("netns");
    let binary = go_build(&dir, "dnsfallback");
    let contract = dir.join("netns.yaml");
    std::fs::write(
        &contract,
        format!(
            r#"
dns:
  servers:
    - {{ name: system, listen: "127.0.0.1:53", records: {{ db.shop.test: [127.0.0.1] }} }}
target:
  base_url: http://127.0.0.1:18299
  spawn:
    command: {binary}
    env: {{ LISTEN: "127.0.0.1:18299", LOOKUP_NAME: db.shop.test, DNS_PRIMARY: system }}
    ready: {{ http: /healthz, timeout: 10s }}
requests: [{{ name: lookup, path: /lookup }}]
phases:
  - {{ name: healthy, rate: 20/s, duration: 1s }}
  - name: failing
    rate: 20/s
    duration: 1s
    faults:
      - {{ kind: dns, names: db.shop.test, answer: servfail }}
clauses:
  - {{ name: resolves through our server, phase: healthy, check: error_rate == 0 }}
  - {{ name: and fails with it, phase: failing, check: error_rate == 0 }}
"#,
            binary = binary.display()
        ),
    )
    .unwrap();
    let json = dir.join("verdict.json");
    // The whole run in the namespace: its loopback holds the DNS server on port 53, the
    // target and the load; its /etc/resolv.conf names 127.0.0.1.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_ballast"),
            "verify",
        ])
        .arg(&contract)
        .args(["--no-progress", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
            .unwrap_or_default();
    let said = format!(
        "{}\nstatus {} errors {}",
        text(&out),
        verdict["phases"][0]["report"]["status"],
        verdict["phases"][0]["report"]["error_kinds"]
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_eq!(outcome(&verdict, 0), "pass", "{said}");
    assert_eq!(outcome(&verdict, 1), "fail", "{said}");
    let failing = verdict["phases"][1]["report"]["error_rate"]
        .as_f64()
        .unwrap();
    assert!(
        failing > 0.9,
        "SERVFAIL for every query failed {failing} of lookups"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_faults_examples_export_to_chaos_mesh() {
    let _serial = one_at_a_time();
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args([
            "chaos",
            "export",
            "--format",
            "chaos-mesh",
            "--namespace",
            "shop",
        ])
        .arg(example("faults-cpu-surge"))
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for wanted in [
        "kind: StressChaos",
        "    cpu:\n",
        "namespaces: [\"shop\"]",
        "# phase surge: limits (cpus 0.5) has no Chaos Mesh equivalent",
    ] {
        assert!(yaml.contains(wanted), "{wanted}\n{yaml}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["chaos", "export"])
        .arg(example("faults-dns-fallback"))
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        yaml.contains("kind: DNSChaos") && yaml.contains("action: error"),
        "{yaml}"
    );
    assert!(yaml.contains("20.0000% of queries"), "{yaml}");
}

#[test]
fn a_phase_whose_env_restart_fails_ends_the_run_and_leaves_nothing() {
    let _serial = one_at_a_time();
    let dir = scratch("env-fails");
    let binary = go_build(&dir, "runtime");
    let contract = dir.join("env-fails.yaml");
    std::fs::write(
        &contract,
        format!(
            r#"
target:
  base_url: http://127.0.0.1:18288
  spawn:
    command: {binary}
    env: {{ LISTEN: "127.0.0.1:18288" }}
    ready: {{ http: /healthz, timeout: 3s }}
phases:
  - name: stressed
    rate: 20/s
    duration: 1s
    limits: {{ memory: 256MiB }}
    faults:
      - {{ kind: cpu, workers: 1, load: 20% }}
      - {{ kind: memory, size: 32MiB }}
  - name: broken
    rate: 20/s
    duration: 1s
    limits: {{ memory: 256MiB }}
    env: {{ LISTEN: "no-such-address" }}
"#,
            binary = binary.display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["verify", contract.to_str().unwrap(), "--no-progress"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("phase broken: restarting with env")
            && said.contains("exited before it was ready"),
        "{said}"
    );
    assert_eq!(stressors(), Vec::<u32>::new(), "stressors left");
    no_cgroup_left(pid);
    assert!(std::net::TcpStream::connect("127.0.0.1:18288").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

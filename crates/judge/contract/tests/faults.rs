//! Faults beyond the network in a contract: every kind read into its plan, every mistake
//! named with its line and field before anything runs.

use ballast_contract::faults::{DnsAnswer, FaultKind, MemoryAmount, Upstream};
use ballast_contract::Contract;
use ballast_core::Signal;
use std::path::Path;
use std::time::Duration;

const FULL: &str = r#"
target:
  base_url: http://127.0.0.1:18080
  spawn:
    command: ./server
    restart: { max: 2, within: 30s }
dns:
  servers:
    - name: primary
      listen: 127.0.0.1:15353
      records: { DB.Shop.Test.: [127.0.0.1] }
      upstream: 127.0.0.1:15354
    - { name: backup, listen: 127.0.0.1:15354, records: { db.shop.test: [127.0.0.1] } }
phases:
  - name: stress
    rate: 50/s
    duration: 10s
    warmup: 2s
    limits: { memory: 256MiB, cpus: 0.5 }
    env: { GOGC: "50" }
    faults:
      - { kind: cpu, workers: 2, load: 80% }
      - { kind: memory, share: 50% }
      - { kind: io, dir: data, size: 8MiB }
      - { kind: pause, after: 3s, for: 1s }
      - { kind: kill, signal: TERM, after: 9s }
      - { kind: dns, server: primary, names: "*.shop.test", answer: servfail, share: 5% }
      - { kind: dns, server: backup, names: "*", answer: address, address: [10.9.9.9] }
      - { kind: dns, server: backup, names: db.shop.test, answer: delay, delay: 150ms }
"#;

fn parse(text: &str) -> Result<Contract, String> {
    Contract::parse(text, "faults.yaml", Path::new("/contracts")).map_err(|e| e.to_string())
}

#[test]
fn every_kind_reads_into_its_plan() {
    let c = parse(FULL).unwrap();
    let spawn = c.target.spawn.as_ref().unwrap();
    let restart = spawn.restart.unwrap();
    assert_eq!(
        (restart.max, restart.within, restart.delay),
        (2, Duration::from_secs(30), Duration::from_millis(200))
    );
    assert_eq!(c.dns.len(), 2);
    assert_eq!(
        c.dns[0].records["db.shop.test"],
        vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        c.dns[0].upstream,
        Some(Upstream::Address("127.0.0.1:15354".parse().unwrap()))
    );
    let system = parse(&FULL.replace("upstream: 127.0.0.1:15354", "upstream: system")).unwrap();
    assert_eq!(system.dns[0].upstream, Some(Upstream::System));
    let phase = &c.phases[0];
    let limits = phase.limits.unwrap();
    assert_eq!((limits.memory, limits.cpus), (Some(256 << 20), Some(0.5)));
    assert_eq!(phase.env["GOGC"], "50");
    let kinds: Vec<&FaultKind> = phase.faults.iter().map(|f| &f.kind).collect();
    assert_eq!(
        kinds[0],
        &FaultKind::Cpu {
            workers: Some(2),
            load: 0.8
        }
    );
    assert_eq!(
        kinds[1],
        &FaultKind::Memory(MemoryAmount::ShareOfLimit(0.5))
    );
    assert_eq!(
        kinds[2],
        &FaultKind::Io {
            dir: "/contracts/data".into(),
            bytes: 8 << 20,
            workers: 1
        }
    );
    assert_eq!(kinds[3], &FaultKind::Pause);
    assert_eq!(
        (phase.faults[3].after, phase.faults[3].length),
        (Duration::from_secs(3), Some(Duration::from_secs(1)))
    );
    assert_eq!(kinds[4], &FaultKind::Kill(Signal::TERM));
    match kinds[5] {
        FaultKind::Dns {
            server,
            names,
            answer,
            share,
        } => assert_eq!(
            (server.as_str(), names.as_str(), answer, *share),
            ("primary", "*.shop.test", &DnsAnswer::ServFail, 0.05)
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(kinds[6], FaultKind::Dns { answer: DnsAnswer::Address(a), .. } if a.len() == 1)
    );
    assert!(
        matches!(kinds[7], FaultKind::Dns { answer: DnsAnswer::Delay(d), .. } if *d == Duration::from_millis(150))
    );
    // Each fault knows its line, for the messages verify gives before it starts.
    assert_eq!(phase.faults[0].line, 22);
    assert_eq!(phase.faults[0].path, "phases[0].faults[0]");
}

/// Replaces `from` by `to` in FULL and returns the one-line errors.
fn broken(from: &str, to: &str) -> String {
    assert!(FULL.contains(from), "{from}");
    parse(&FULL.replacen(from, to, 1)).unwrap_err()
}

#[test]
fn mistakes_are_named_with_line_and_field() {
    let cases = [
        (
            "signal: TERM",
            "signal: SIGFOO",
            "faults.yaml:26:",
            "phases[0].faults[4].signal: unknown signal \"SIGFOO\"",
        ),
        (
            "signal: TERM",
            "signal: STOP",
            "faults.yaml:26:",
            "what kind: pause does",
        ),
        (
            "load: 80%",
            "load: 180%",
            "faults.yaml:22:",
            "phases[0].faults[0].load: expected a share",
        ),
        (
            "workers: 2",
            "workers: 0",
            "faults.yaml:22:",
            "phases[0].faults[0].workers: expected 1..=256",
        ),
        (
            "share: 50%",
            "size: 1TiB",
            "faults.yaml:23:",
            "phases[0].faults[1].size: expected a size",
        ),
        (
            "after: 9s",
            "after: 12s",
            "faults.yaml:26:",
            "starts after the phase has ended (the phase lasts 12.00s",
        ),
        (
            "answer: servfail",
            "answer: lies",
            "faults.yaml:27:",
            "unknown answer \"lies\"; expected one of nxdomain",
        ),
        (
            "server: primary,",
            "server: tertiary,",
            "faults.yaml:27:",
            "unknown server \"tertiary\"; dns.servers are: primary, backup",
        ),
        (
            "kind: cpu",
            "kind: gpu",
            "faults.yaml:22:",
            "unknown variant `gpu`",
        ),
        (
            "for: 1s }",
            "for: 1s, jitter: 2 }",
            "faults.yaml:25:",
            "unknown key `jitter`",
        ),
        (
            "listen: 127.0.0.1:15353",
            "listen: 10.0.0.1:53",
            "faults.yaml:10:",
            "not a loopback address",
        ),
        (
            "memory: 256MiB, ",
            "",
            "faults.yaml:23:",
            "a share of the memory limit needs limits.memory",
        ),
        (
            "names: db.shop.test",
            "names: db..test",
            "faults.yaml:29:",
            "expected a name like",
        ),
        (
            "within: 30s",
            "within: soon",
            "faults.yaml:6:",
            "target.spawn.restart.within: expected a duration",
        ),
        (
            "GOGC",
            "GO GC",
            "faults.yaml:20:",
            "expected a variable name",
        ),
    ];
    for (from, to, at, wanted) in cases {
        let e = broken(from, to);
        let line = e
            .lines()
            .find(|l| l.contains(wanted))
            .unwrap_or_else(|| panic!("{from} → {to}: wanted {wanted:?} in\n{e}"));
        assert!(line.trim_start().starts_with(at), "{from} → {to}: {line}");
    }
}

#[test]
fn process_faults_need_a_process_and_limits_need_a_spawn() {
    let text = r#"
target: { base_url: http://127.0.0.1:18080 }
phases:
  - name: p
    rate: 10/s
    duration: 5s
    limits: { memory: 64MiB }
    env: { GOGC: "50" }
    faults:
      - { kind: pause }
      - { kind: dns, names: x.test, answer: nxdomain }
"#;
    let e = parse(text).unwrap_err();
    for wanted in [
        "faults.yaml:7:",
        "limits need a target verify starts",
        "faults.yaml:8:",
        "env needs a target verify starts",
        "faults.yaml:10:",
        "a pause fault needs the target's process",
        "faults.yaml:11:",
        "dns faults need a top-level dns: section",
    ] {
        assert!(e.contains(wanted), "{wanted}\n{e}");
    }
    let watched = text.replace(
        "target: { base_url: http://127.0.0.1:18080 }",
        "target: { base_url: http://127.0.0.1:18080, process: { pid: 4242 } }",
    );
    let e = parse(&watched).unwrap_err();
    assert!(!e.contains("pause fault needs"), "{e}");
    let init = watched.replace("pid: 4242", "pid: 1");
    let e = parse(&init).unwrap_err();
    assert!(
        e.contains("faults.yaml:10:") && e.contains("target.process.pid 0 or 1 is not a target"),
        "{e}"
    );
    let never = FULL.replace("restart: { max: 2, within: 30s }", "cgroup: false");
    assert!(parse(&never)
        .unwrap_err()
        .contains("target.spawn.cgroup is false"));
}

//! Faults on the target as Chaos Mesh resources: cpu and memory stress → `StressChaos`,
//! an I/O hog → `StressChaos` with stress-ng's `--hdd`, kill → `PodChaos` (`pod-kill`), DNS
//! answers → `DNSChaos`. What Chaos Mesh cannot say (pause, other signals, a share of DNS
//! queries, delays, limits, env) is written as a comment with the nearest thing to do,
//! never dropped.

use super::{dns_name, q, ExportOptions};
use crate::faults::{DnsAnswer, FaultKind, MemoryAmount};
use crate::{Contract, PhasePlan};
use std::fmt::Write as _;

/// `256MiB` (Chaos Mesh's memory stressor takes B, KiB, MiB, GiB sizes).
fn size(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

pub(super) fn export_phase(
    contract: &Contract,
    phase: &PhasePlan,
    options: &ExportOptions,
    out: &mut String,
) {
    let phase_seconds = (phase.warmup + phase.duration).as_secs().max(1);
    let ns = q(&options.namespace);
    let selector = format!(
        "  mode: all\n  selector:\n    namespaces: [{ns}]\n    labelSelectors: {{ app: {app} }}\n",
        app = q(&options.app)
    );
    let skip = |out: &mut String, what: &str, instead: &str| {
        let _ = writeln!(
            out,
            "# phase {}: {what} has no Chaos Mesh equivalent; {instead}",
            phase.name
        );
    };
    if let Some(limits) = phase.limits {
        skip(
            out,
            &format!("limits ({})", limits.describe()),
            "set resources.limits in the pod spec for this experiment",
        );
    }
    if !phase.env.is_empty() {
        let env: Vec<String> = phase.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        skip(
            out,
            &format!("env {}", env.join(" ")),
            "set it in the pod spec (a rollout) for this experiment",
        );
    }
    for (i, fault) in phase.faults.iter().enumerate() {
        let name = dns_name(&format!(
            "{}-{}-{}-{i}",
            contract.name,
            phase.name,
            fault.kind.name()
        ));
        let seconds = fault
            .length
            .map_or(phase_seconds.saturating_sub(fault.after.as_secs()), |l| {
                l.as_secs()
            })
            .max(1);
        let header = |kind: &str| {
            let mut head = format!(
                "---\napiVersion: chaos-mesh.org/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{ ballast/phase: {phase} }}\n",
                phase = q(&phase.name)
            );
            if !fault.after.is_zero() {
                let _ = writeln!(
                    head,
                    "  # starts {}s into the phase: apply it then",
                    fault.after.as_secs()
                );
            }
            head.push_str("spec:\n");
            head
        };
        let duration = format!("  duration: {}\n", q(&format!("{seconds}s")));
        match &fault.kind {
            FaultKind::Cpu { workers, load } => {
                let workers_line = match workers {
                    Some(n) => format!("      workers: {n}\n"),
                    None => "      workers: 1   # ballast: one per CPU the target may use; set the pod's CPU count\n".into(),
                };
                let _ = write!(
                    out,
                    "{}{selector}  stressors:\n    cpu:\n{workers_line}      load: {}\n{duration}",
                    header("StressChaos"),
                    (load * 100.0).round() as u32
                );
            }
            FaultKind::Memory(amount) => {
                let size = match amount {
                    MemoryAmount::Bytes(b) => q(&size(*b)),
                    // Chaos Mesh's percentage is of the container's memory, which is its
                    // limit when it has one: the same share as ballast's.
                    MemoryAmount::ShareOfLimit(s) => q(&format!("{}%", (s * 100.0).round())),
                };
                let _ = write!(
                    out,
                    "{}{selector}  stressors:\n    memory:\n      workers: 1\n      size: {size}\n{duration}",
                    header("StressChaos")
                );
            }
            FaultKind::Kill(signal) if signal.number() == 9 => {
                let _ = write!(
                    out,
                    "{}  action: pod-kill\n{selector}  gracePeriod: 0\n",
                    header("PodChaos")
                );
            }
            FaultKind::Kill(signal) => skip(
                out,
                &format!("kill with {signal}"),
                "Chaos Mesh kills pods with SIGKILL only (PodChaos pod-kill)",
            ),
            FaultKind::Pause => skip(
                out,
                "pause (SIGSTOP)",
                "PodChaos pod-failure makes the pod unavailable, which is the nearest",
            ),
            FaultKind::Io {
                dir,
                bytes,
                workers,
            } => {
                // StressChaos has no I/O stressor of its own; stress-ng's hdd stressor writes
                // and syncs files, as ballast's writers do.
                let _ = write!(
                    out,
                    "{}{selector}  # ballast writes in {}: --temp-path must be a directory of the container's\n  stressngStressors: {}\n{duration}",
                    header("StressChaos"),
                    dir.display(),
                    q(&format!(
                        "--hdd {workers} --hdd-bytes {}k --temp-path {}",
                        bytes / 1024,
                        dir.display()
                    ))
                );
            }
            FaultKind::Dns {
                names,
                answer,
                share,
                ..
            } => {
                let action = match answer {
                    DnsAnswer::NxDomain | DnsAnswer::ServFail | DnsAnswer::Refused => "error",
                    DnsAnswer::Address(_) => "random",
                    DnsAnswer::Timeout | DnsAnswer::Delay(_) => {
                        skip(
                            out,
                            &format!("a DNS {} for {names}", answer.name()),
                            "DNSChaos answers with errors or random addresses only",
                        );
                        continue;
                    }
                };
                let mut notes = String::new();
                if *share < 1.0 {
                    let _ = writeln!(
                        notes,
                        "  # ballast answers {:.4}% of queries this way; DNSChaos answers all of them",
                        share * 100.0
                    );
                }
                if let DnsAnswer::Address(a) = answer {
                    let _ = writeln!(
                        notes,
                        "  # ballast answers {a:?}; DNSChaos answers random addresses"
                    );
                }
                let _ = write!(
                    out,
                    "{}  action: {action}\n{notes}{selector}  patterns: [{}]\n{duration}",
                    header("DNSChaos"),
                    q(names)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {

    const CONTRACT: &str = r#"
name: Shop
target: { base_url: "http://127.0.0.1:9", spawn: { command: ./shop } }
dns:
  servers: [{ name: primary, listen: "127.0.0.1:15353" }]
phases:
  - name: surge
    rate: 10/s
    duration: 30s
    limits: { memory: 256MiB }
    env: { GOGC: "50" }
    faults:
      - { kind: cpu, workers: 2, load: 80% }
      - { kind: memory, size: 128MiB, after: 10s, for: 5s }
      - { kind: memory, share: 50% }
      - { kind: kill, after: 20s }
      - { kind: kill, signal: TERM }
      - { kind: pause }
      - { kind: io, dir: /tmp, size: 8MiB, workers: 2 }
      - { kind: dns, names: "*.shop.test", answer: servfail, share: 5% }
      - { kind: dns, names: "*", answer: delay, delay: 1s }
"#;

    #[test]
    fn target_faults_become_stress_pod_and_dns_chaos() {
        let (yaml, docs) = super::super::tests::exported(CONTRACT);
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "StressChaos",
                "StressChaos",
                "StressChaos",
                "PodChaos",
                "StressChaos",
                "DNSChaos"
            ],
            "{yaml}"
        );
        let cpu = &docs[0]["spec"];
        assert_eq!(
            (
                &cpu["stressors"]["cpu"]["workers"],
                &cpu["stressors"]["cpu"]["load"]
            ),
            (&serde_json::json!(2), &serde_json::json!(80))
        );
        assert_eq!(cpu["duration"], "30s");
        assert_eq!(cpu["selector"]["labelSelectors"]["app"], "checkout");
        assert_eq!(docs[1]["spec"]["stressors"]["memory"]["size"], "128MiB");
        assert_eq!(docs[1]["spec"]["duration"], "5s");
        assert!(yaml.contains("# starts 10s into the phase"));
        assert_eq!(docs[2]["spec"]["stressors"]["memory"]["size"], "50%");
        assert_eq!(docs[3]["spec"]["action"], "pod-kill");
        assert_eq!(
            docs[4]["spec"]["stressngStressors"],
            "--hdd 2 --hdd-bytes 8192k --temp-path /tmp"
        );
        assert_eq!(docs[5]["spec"]["action"], "error");
        assert_eq!(docs[5]["spec"]["patterns"][0], "*.shop.test");
        assert!(yaml.contains("5.0000% of queries"));
        for skipped in [
            "kill with SIGTERM has no Chaos Mesh equivalent",
            "pause (SIGSTOP) has no Chaos Mesh equivalent",
            "a DNS delay for * has no Chaos Mesh equivalent",
            "limits (memory 256MiB) has no Chaos Mesh equivalent",
            "env GOGC=50 has no Chaos Mesh equivalent",
        ] {
            assert!(yaml.contains(skipped), "{skipped}\n{yaml}");
        }
    }
}

//! `ballast chaos export --format chaos-mesh`: a contract's faults as Chaos Mesh
//! `NetworkChaos` and `HTTPChaos` resources (proxy faults), and `StressChaos`,
//! `PodChaos` and `DNSChaos` (faults on the target, [`target`]), to run the same
//! experiment on Kubernetes.
//!
//! Written to Chaos Mesh's v1alpha1 API (`chaos-mesh.org/v1alpha1`); no API server can run
//! on the project's machines, so the output is checked for shape by tests, not applied.

mod target;

use crate::Contract;
use serde_json::Value;
use std::fmt::Write as _;

/// Where the service under test and its dependencies run.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Namespace of the pods.
    pub namespace: String,
    /// Value of the `app` label of the service's pods.
    pub app: String,
}

pub(crate) fn dns_name(text: &str) -> String {
    let mut out: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(63).collect()
}

pub(crate) fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn millis(attributes: &std::collections::BTreeMap<String, Value>, key: &str) -> u64 {
    attributes.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The contract's faults as Chaos Mesh YAML (one document per fault; faults Chaos Mesh
/// cannot express are listed as comments, never dropped silently).
pub fn export(contract: &Contract, options: &ExportOptions) -> String {
    let mut out = format!(
        "# Chaos Mesh resources for contract {} (ballast chaos export --format chaos-mesh).\n\
         # Each runs for its phase's length; apply them in phase order while the load runs.\n",
        contract.name
    );
    for phase in &contract.phases {
        let seconds = (phase.warmup + phase.duration).as_secs().max(1);
        for (i, fault) in phase.chaos.iter().enumerate() {
            let name = dns_name(&format!(
                "{}-{}-{}-{}",
                contract.name, phase.name, fault.toxic, i
            ));
            let mode = match fault.toxicity {
                Some(t) if t < 1.0 => format!(
                    "  mode: fixed-percent\n  value: \"{}\"   # toxicity {t}: Chaos Mesh picks a share of pods, not of connections\n",
                    (t * 100.0).round()
                ),
                _ => "  mode: all\n".to_string(),
            };
            let selector = format!(
                "  selector:\n    namespaces: [{ns}]\n    labelSelectors: {{ app: {app} }}\n",
                ns = q(&options.namespace),
                app = q(&options.app)
            );
            let target = format!(
                "  direction: to\n  target:\n    mode: all\n    selector:\n      namespaces: [{ns}]\n      labelSelectors: {{ app: {dep} }}\n",
                ns = q(&options.namespace),
                dep = q(&fault.proxy)
            );
            let a = &fault.attributes;
            let network = |action: &str, body: String| {
                format!(
                    "---\napiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{ ballast/phase: {phase} }}\nspec:\n  action: {action}\n{mode}{selector}{target}{body}  duration: {d}\n",
                    ns = q(&options.namespace),
                    phase = q(&phase.name),
                    d = q(&format!("{seconds}s"))
                )
            };
            let http = |target_kind: &str, body: String| {
                let mut matchers = String::new();
                if let Some(m) = a.get("method").and_then(Value::as_str) {
                    let _ = writeln!(matchers, "  method: {}", q(m));
                }
                if let Some(p) = a.get("path_prefix").and_then(Value::as_str) {
                    let _ = writeln!(matchers, "  path: {}", q(&format!("{p}*")));
                }
                format!(
                    "---\napiVersion: chaos-mesh.org/v1alpha1\nkind: HTTPChaos\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{ ballast/phase: {phase} }}\nspec:\n{mode}  selector:\n    namespaces: [{ns}]\n    labelSelectors: {{ app: {dep} }}\n  target: {target_kind}\n  port: 80\n{matchers}{body}  duration: {d}\n",
                    ns = q(&options.namespace),
                    phase = q(&phase.name),
                    dep = q(&fault.proxy),
                    d = q(&format!("{seconds}s"))
                )
            };
            let doc = match fault.toxic.as_str() {
                "latency" => Some(network(
                    "delay",
                    format!(
                        "  delay:\n    latency: \"{}ms\"\n    jitter: \"{}ms\"\n    correlation: \"0\"\n",
                        millis(a, "latency"),
                        millis(a, "jitter")
                    ),
                )),
                "bandwidth" => Some(network(
                    "bandwidth",
                    // Toxiproxy's rate is KB/s; Chaos Mesh's kbps is kilobits.
                    format!(
                        "  bandwidth:\n    rate: \"{}kbps\"\n    limit: 20971520\n    buffer: 10000\n",
                        millis(a, "rate") * 8
                    ),
                )),
                "timeout" | "down" => Some(network("partition", String::new())),
                "reset_peer" => Some(network(
                    "loss",
                    "  # reset_peer has no Chaos Mesh twin: total packet loss is the closest fault.\n  loss:\n    loss: \"100\"\n    correlation: \"0\"\n".into(),
                )),
                "http_delay" => Some(http("Request", format!("  delay: \"{}ms\"\n", millis(a, "delay")))),
                "http_abort" => Some(http(
                    "Response",
                    format!("  replace:\n    code: {}\n", a.get("status").and_then(Value::as_u64).unwrap_or(503)),
                )),
                _ => None,
            };
            match doc {
                Some(d) => out.push_str(&d),
                None => {
                    let _ = writeln!(
                        out,
                        "# phase {}: {} on {} has no Chaos Mesh equivalent; run it with ballast verify",
                        phase.name, fault.toxic, fault.proxy
                    );
                }
            }
        }
        target::export_phase(contract, phase, options, &mut out);
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::Path;

    const CONTRACT: &str = r#"
name: Shop Checkout
target: { base_url: "http://127.0.0.1:9" }
chaos:
  proxies:
    - { name: redis, listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379" }
    - { name: inventory, listen: "127.0.0.1:18000", upstream: "127.0.0.1:18001", http: true }
phases:
  - name: slow-cache
    rate: 10/s
    warmup: 5s
    duration: 25s
    chaos:
      - { proxy: redis, toxic: latency, toxicity: 0.5, attributes: { latency: 100, jitter: 10 } }
      - { proxy: redis, toxic: slicer, attributes: { average_size: 10 } }
  - name: inventory-errors
    rate: 10/s
    duration: 10s
    chaos:
      - { proxy: inventory, toxic: http_abort, attributes: { status: 503, path_prefix: /v1 } }
      - { proxy: inventory, toxic: timeout, attributes: { timeout: 0 } }
"#;

    /// `CONTRACT` exported for namespace `shop`, app `checkout`: the text and its
    /// documents.
    pub(super) fn exported(contract: &str) -> (String, Vec<serde_json::Value>) {
        let contract = Contract::parse(contract, "shop.yaml", Path::new(".")).unwrap();
        let yaml = export(
            &contract,
            &ExportOptions {
                namespace: "shop".into(),
                app: "checkout".into(),
            },
        );
        let docs = crate::yaml::parse_documents(&yaml)
            .unwrap()
            .iter()
            .map(|d| d.to_json())
            .filter(|d| !d.is_null())
            .collect();
        (yaml, docs)
    }

    #[test]
    fn faults_become_chaos_mesh_resources() {
        let (yaml, docs) = exported(CONTRACT);
        assert_eq!(docs.len(), 3, "{yaml}");
        let delay = &docs[0];
        assert_eq!(delay["kind"], "NetworkChaos");
        assert_eq!(
            delay["metadata"]["name"],
            "shop-checkout-slow-cache-latency-0"
        );
        assert_eq!(delay["spec"]["action"], "delay");
        assert_eq!(delay["spec"]["delay"]["latency"], "100ms");
        assert_eq!(delay["spec"]["mode"], "fixed-percent");
        assert_eq!(delay["spec"]["duration"], "30s");
        assert_eq!(
            delay["spec"]["target"]["selector"]["labelSelectors"]["app"],
            "redis"
        );
        assert!(yaml.contains("slicer on redis has no Chaos Mesh equivalent"));
        let abort = &docs[1];
        assert_eq!(abort["kind"], "HTTPChaos");
        assert_eq!(abort["spec"]["replace"]["code"], 503);
        assert_eq!(abort["spec"]["path"], "/v1*");
        assert_eq!(docs[2]["spec"]["action"], "partition");
    }
}

//! The healing loop end to end, with real parts only: the reference shop behind the chaos
//! proxy under `ballast load`, a real Prometheus evaluating the burn-rate alert that
//! `ballast slo rules` writes, two clustered Alertmanagers (gossip on loopback) delivering
//! it, and `ballast heal` acting once, verifying recovery through PromQL, and recording
//! everything. Prints each step's time (docs/HEALING.md reports them).
//!
//! Run alone by scripts/test.sh (`--run-ignored only`): it measures recovery on a
//! two-core machine and must not share it with the rest of the suite.

use ballast_testkit::{prometheus_listening, Port, Server, TempDir};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const BALLAST: &str = env!("CARGO_BIN_EXE_ballast");
const HEAL_TOKEN: &str = "heal-loop-token";
const SHOP_TOKEN: &str = "shop-admin-token";
const GO_TOKEN: &str = "go-admin-token";

fn port() -> u16 {
    ballast_testkit::port_outside_ephemeral_range()
}

async fn ballast(args: &[String], env: &[(&str, &str)]) -> Server {
    Server::try_start_with_env(BALLAST, args, env, Port::Proc, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A ballast process that listens on more than one port, or none: killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn(args: &[String], wait_for: Option<u16>) -> Child {
    let child = std::process::Command::new(BALLAST)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    if let Some(p) = wait_for {
        until("the port to listen", Duration::from_secs(30), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", p))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
    }
    Child(child)
}

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// Two Alertmanagers in one cluster, both routing to the healer's webhook. The peer
/// timeout is tiny so that both peers deliver (as they do when gossip lags), and the
/// healer must make one incident of the two deliveries.
async fn alertmanager_pair(dir: &Path, webhook: &str) -> (Server, Server) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: heal\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: heal\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n        http_config:\n          authorization: {{ type: Bearer, credentials: {HEAL_TOKEN} }}\n"
        ),
    )
    .unwrap();
    let (c1, c2) = (port(), port());
    let start = |name: &str, own: u16, peer: u16| {
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join(name).display()),
            "--web.listen-address=127.0.0.1:0".to_string(),
            format!("--cluster.listen-address=127.0.0.1:{own}"),
            format!("--cluster.peer=127.0.0.1:{peer}"),
            "--cluster.peer-timeout=1ms".to_string(),
            "--cluster.settle-timeout=1s".to_string(),
        ];
        async move {
            let server = Server::start(
                "prometheus-alertmanager",
                &args,
                Port::Log(prometheus_listening),
                Duration::from_secs(60),
            )
            .await;
            server
                .wait_http_ok("/-/ready", Duration::from_secs(60))
                .await;
            server
        }
    };
    let (a, b) = tokio::join!(start("am1", c1, c2), start("am2", c2, c1));
    (a, b)
}

async fn query(prom: &str, q: &str) -> Vec<Value> {
    let url = format!(
        "{prom}/api/v1/query?query={}",
        ballast_slo::promql::url_encode(q)
    );
    let Ok(text) = ballast_http::get_once(&url, Duration::from_secs(5)).await else {
        return vec![];
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn audit(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn first(audit: &[Value], event: &str) -> Option<f64> {
    audit
        .iter()
        .find(|r| r["event"] == event)
        .and_then(|r| r["unix"].as_f64())
}

async fn until<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

struct Rig {
    dir: TempDir,
    prom: Server,
    _ams: (Server, Server),
    heal: Server,
}

/// Prometheus scraping `target` with the rules `ballast slo rules` writes for `slo`, the
/// Alertmanager pair, and the healer with `policy`.
async fn rig(name: &str, target: &str, rules: Rules<'_>, policy: &str) -> Rig {
    let dir = TempDir::new(name);
    let d = dir.path();
    match rules {
        Rules::Slo(slo) => slo_rules(d, slo),
        Rules::Raw(text) => std::fs::write(d.join("rules.yaml"), text).unwrap(),
    }
    let heal_port = port();
    rig_rest(dir, target, policy, heal_port).await
}

/// The alert rules: written by `ballast slo rules` from an SLO, or given as they are.
enum Rules<'a> {
    Slo(&'a str),
    Raw(&'a str),
}

/// `ballast slo rules` for `slo` with one-hour-period windows short enough for a test.
fn slo_rules(d: &Path, slo: &str) {
    std::fs::write(d.join("slo.yaml"), slo).unwrap();
    std::fs::write(
        d.join("windows.yaml"),
        "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec:\n  sloPeriod: 1h\n  page:\n    quick: { errorBudgetPercent: 2, shortWindow: 10s, longWindow: 20s }\n    slow: { errorBudgetPercent: 5, shortWindow: 10s, longWindow: 40s }\n  ticket:\n    quick: { errorBudgetPercent: 10, shortWindow: 30s, longWindow: 2m }\n    slow: { errorBudgetPercent: 10, shortWindow: 1m, longWindow: 4m }\n",
    )
    .unwrap();
    let rules = std::process::Command::new(BALLAST)
        .args(["slo", "rules"])
        .arg(d.join("slo.yaml"))
        .arg("--window-defs")
        .arg(d.join("windows.yaml"))
        .args(["--default-period", "1h", "-o"])
        .arg(d.join("rules.yaml"))
        .output()
        .unwrap();
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stderr)
    );
}

async fn rig_rest(dir: TempDir, target: &str, policy: &str, heal_port: u16) -> Rig {
    let d = dir.path();
    let (am1, am2) = alertmanager_pair(d, &format!("http://127.0.0.1:{heal_port}/webhook")).await;
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{:?}]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{}\", \"127.0.0.1:{}\"]\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: [\"{target}\"]\n",
            d.join("rules.yaml"),
            am1.port,
            am2.port
        ),
    )
    .unwrap();
    let prom = ballast_testkit::prometheus(&d.join("prometheus.yml"), &d.join("tsdb"), &[]).await;
    let policy = policy
        .replace("PROMETHEUS", &prom.url())
        .replace("HEAL_PORT", &heal_port.to_string());
    std::fs::write(d.join("heal.yaml"), policy).unwrap();
    let heal = Server::try_start_with_env(
        BALLAST,
        &s(&["heal", "serve", "-c", d.join("heal.yaml").to_str().unwrap()]),
        &[
            ("HEAL_TOKEN", HEAL_TOKEN),
            ("SHOP_ADMIN_TOKEN", SHOP_TOKEN),
            ("GO_ADMIN_TOKEN", GO_TOKEN),
        ],
        Port::Proc,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Rig {
        dir,
        prom,
        _ams: (am1, am2),
        heal,
    }
}

/// Waits for the incident to close and the alert to resolve; prints and returns each
/// step's time after the fault.
async fn measure(rig: &Rig, alertname: &str, fault_at: f64) -> Vec<(String, f64)> {
    let prom = rig.prom.url();
    let firing_at = until("the alert firing", Duration::from_secs(120), async || {
        let r = query(
            &prom,
            &format!("ALERTS{{alertname=\"{alertname}\",alertstate=\"firing\"}}"),
        )
        .await;
        (!r.is_empty()).then(unix_now)
    })
    .await;
    let d = rig.dir.path();
    let closed = until(
        "the incident closing",
        Duration::from_secs(180),
        async || {
            let log = audit(d);
            log.iter().find(|r| r["event"] == "closed").cloned()
        },
    )
    .await;
    assert_eq!(
        closed["outcome"],
        "recovered",
        "{:#?}\n{}",
        audit(d),
        rig.heal.log()
    );
    until(
        "the alert resolving",
        Duration::from_secs(180),
        async || {
            let log = audit(d);
            log.iter().any(|r| r["event"] == "resolved").then_some(())
        },
    )
    .await;
    let log = audit(d);
    assert_eq!(
        log.iter().filter(|r| r["event"] == "act").count(),
        1,
        "one action: {log:#?}"
    );
    let deliveries = log.iter().filter(|r| r["event"] == "delivery").count();
    let firing_deliveries = log
        .iter()
        .filter(|r| r["event"] == "opened" || r["event"] == "duplicate")
        .count();
    let at = |e: &str| first(&log, e).unwrap_or(f64::NAN) - fault_at;
    let steps = vec![
        (
            "alert firing in Prometheus".to_string(),
            firing_at - fault_at,
        ),
        ("delivered, incident opened".to_string(), at("opened")),
        ("action done".to_string(), at("action_done")),
        ("SLI back (recovery verified)".to_string(), at("verified")),
        ("alert resolved (delivered)".to_string(), at("resolved")),
    ];
    eprintln!("MTTR steps after the fault ({alertname}; {deliveries} deliveries, {firing_deliveries} of the firing alert, 1 action):");
    for (what, t) in &steps {
        eprintln!("  {what:<32} {t:>6.1}s");
    }
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/test.sh"]
async fn a_latency_fault_fires_the_burn_rate_alert_and_the_healer_forces_the_fallback_once() {
    let (inventory_port, proxy_port, api_port, shop_port) = (port(), port(), port(), port());
    let scratch = TempDir::new("heal-loop-parts");
    let proxies = scratch.path().join("proxies.yaml");
    std::fs::write(
        &proxies,
        format!("proxies:\n  - {{ name: inventory, listen: \"127.0.0.1:{proxy_port}\", upstream: \"127.0.0.1:{inventory_port}\" }}\n"),
    )
    .unwrap();
    let _inventory = ballast(
        &s(&[
            "demo",
            "inventory",
            "--bind",
            &format!("127.0.0.1:{inventory_port}"),
        ]),
        &[],
    )
    .await;
    let _chaos = spawn(
        &s(&[
            "chaos",
            "serve",
            "--api",
            &format!("127.0.0.1:{api_port}"),
            "--config",
            proxies.to_str().unwrap(),
        ]),
        Some(api_port),
    )
    .await;
    // A dependency timeout above the fault's latency: the shop waits on the slow
    // inventory instead of failing over by itself, so only the healer's action helps.
    let shop = ballast(
        &s(&[
            "demo",
            "shop",
            "--bind",
            &format!("127.0.0.1:{shop_port}"),
            "--inventory",
            &format!("http://127.0.0.1:{proxy_port}/"),
            "--dependency-timeout",
            "2s",
            "--admin-token-env",
            "SHOP_ADMIN_TOKEN",
        ]),
        &[("SHOP_ADMIN_TOKEN", SHOP_TOKEN)],
    )
    .await;
    shop.wait_http_ok("/healthz", Duration::from_secs(30)).await;
    let slo = "version: prometheus/v1\nservice: shop\nslos:\n  - name: latency\n    objective: 99\n    sli:\n      events:\n        error_query: sum(rate(ballast_slo_requests_total{slo=\"shop-latency\"}[{{.window}}])) - sum(rate(ballast_slo_good_total{slo=\"shop-latency\"}[{{.window}}]))\n        total_query: sum(rate(ballast_slo_requests_total{slo=\"shop-latency\"}[{{.window}}]))\n    alerting:\n      name: ShopLatencyBurn\n      page_alert: { labels: { severity: page } }\n      ticket_alert: { disable: true }\n";
    let policy = format!(
        "listen: 127.0.0.1:HEAL_PORT\nauth: {{ bearer_token_env: HEAL_TOKEN }}\nstate_dir: state\nprometheus: PROMETHEUS\npolicies:\n  - name: shop-latency\n    match: {{ labels: {{ alertname: ShopLatencyBurn, severity: page }} }}\n    target: \"{{{{ labels.ballast_service }}}}\"\n    verify: {{ slo: {{ file: slo.yaml, name: latency, window: 10s }}, deadline: 90s, interval: 2s, consecutive: 3 }}\n    actions:\n      - tower: {{ admin: \"http://127.0.0.1:{shop_port}/admin\", token_env: SHOP_ADMIN_TOKEN, fallback: force }}\n      - chaos: {{ api: \"http://127.0.0.1:{api_port}\", proxy: inventory, remove_toxic: slow }}\n"
    );
    let rig = rig(
        "heal-loop",
        &format!("127.0.0.1:{shop_port}"),
        Rules::Slo(slo),
        &policy,
    )
    .await;
    let _load = spawn(
        &s(&[
            "load",
            &format!("http://127.0.0.1:{shop_port}/v1/products/7"),
            "--rate",
            "40/s",
            "--duration",
            "240s",
            "--no-progress",
        ]),
        None,
    )
    .await;
    // A healthy baseline first: the fallback cache holds the product, the SLO is met.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let fault_at = unix_now();
    let added = std::process::Command::new(BALLAST)
        .args([
            "chaos",
            "toxic",
            "add",
            "inventory",
            "--api",
            &format!("127.0.0.1:{api_port}"),
            "--name",
            "slow",
            "--type",
            "latency",
            "--attribute",
            "latency=400",
        ])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    measure(&rig, "ShopLatencyBurn", fault_at).await;
    let log = audit(rig.dir.path());
    let act = log.iter().find(|r| r["event"] == "act").unwrap();
    assert_eq!(
        act["action"]["tower"]["fallback"], "force",
        "the first action did it: {act}"
    );
    // The shop really is in forced fallback.
    let state = ballast_http::get_once(
        &format!("http://127.0.0.1:{shop_port}/metrics"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(state.contains("ballast_admin_forced"), "{state}");
}

/// The seed's GC rule: a Go service whose collector runs many times a second (GOGC=5)
/// fires a GC-pressure alert; the healer raises GOGC through the Go integration's admin
/// endpoint, and the collection rate falls back under the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/test.sh"]
async fn gc_pressure_fires_and_the_healer_raises_gogc_once() {
    let build = TempDir::new("heal-gc-build");
    let binary = ballast_testkit::go_build(
        &ballast_testkit::go_program("gcpause"),
        &build.path().join("go"),
        "gcpause",
    );
    let args = s(&[
        "-listen",
        "127.0.0.1:0",
        "-token-env",
        "GO_ADMIN_TOKEN",
        "-live-mib",
        "32",
        "-churn-mib",
        "16",
    ]);
    let go = Server::try_start_with_env(
        binary.to_str().unwrap(),
        &args,
        &[("GOGC", "5"), ("GO_ADMIN_TOKEN", GO_TOKEN)],
        Port::Log(ballast_testkit::listening_on),
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let fault_at = unix_now();
    // GOGC=5 is the fault, present from the start: the alert fires once Prometheus has
    // seen a rate for `for`.
    let rules = "groups:\n  - name: go-gc\n    rules:\n      - alert: GoGCPressure\n        expr: rate(go_gc_cycles_total[10s]) > 3\n        for: 3s\n        labels: { severity: page }\n        annotations: { summary: \"the Go collector runs {{ $value }} times a second\" }\n";
    let policy = format!(
        "listen: 127.0.0.1:HEAL_PORT\nauth: {{ bearer_token_env: HEAL_TOKEN }}\nstate_dir: state\nprometheus: PROMETHEUS\npolicies:\n  - name: go-gc\n    match: {{ labels: {{ alertname: GoGCPressure }} }}\n    verify: {{ query: 'rate(go_gc_cycles_total[10s])', below: 3, deadline: 90s, interval: 2s, consecutive: 2 }}\n    actions:\n      - go_gc: {{ admin: \"{}/admin\", token_env: GO_ADMIN_TOKEN, percent: 400 }}\n",
        go.url()
    );
    let rig = rig(
        "heal-gc",
        &format!("127.0.0.1:{}", go.port),
        Rules::Raw(rules),
        &policy,
    )
    .await;
    measure(&rig, "GoGCPressure", fault_at).await;
    let metrics = ballast_http::get_once(&format!("{}/metrics", go.url()), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(metrics.lines().any(|l| l == "go_gogc 400"), "{metrics}");
}

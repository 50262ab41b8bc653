//! `ballast heal` (the self-healing controller) and `ballast supervise` (the local
//! supervisor its restart action talks to).

use super::InputError;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum HealCommand {
    /// Receive Alertmanager webhooks and act on them as the policy says.
    Serve {
        /// The heal policy (YAML; docs/HEALING.md).
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Listen here instead of the policy's `listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Decide and record every action, carry out none.
        #[arg(long)]
        dry_run: bool,
        /// kubeconfig for Kubernetes actions (default: $KUBECONFIG, ~/.kube/config,
        /// in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Check a heal policy without starting anything (exit 2 when it is invalid).
    Check {
        /// The heal policy.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Operator mode: reconcile `Remediation` resources (heal.ballast.dev/v1alpha1,
    /// deploy/crds/remediation.yaml) in a cluster, recording each in the audit log.
    Operator {
        /// kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The namespace to watch (default: the kubeconfig context's).
        #[arg(long)]
        namespace: Option<String>,
        /// Watch every namespace (needs cluster-wide RBAC).
        #[arg(long)]
        all_namespaces: bool,
        /// Where the audit log is written.
        #[arg(long, default_value = "heal-state")]
        state_dir: PathBuf,
    },
    /// Show a running healer's incidents.
    Status {
        /// The healer's address.
        #[arg(long, default_value = "http://127.0.0.1:9095")]
        url: String,
        /// Environment variable holding the healer's bearer token.
        #[arg(long)]
        token_env: Option<String>,
        /// Print the JSON as the healer gives it.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The service's name (what `restart` actions and `POST /restart/NAME` use).
    #[arg(long)]
    pub name: String,
    /// Ready when this URL answers 2xx (default: up for one second).
    #[arg(long)]
    pub ready: Option<url::Url>,
    /// How long a start may take to become ready.
    #[arg(long, default_value = "30s", value_parser = crate::cli::parse_duration_arg)]
    pub ready_timeout: Duration,
    /// TERM, then KILL after this long.
    #[arg(long, default_value = "10s", value_parser = crate::cli::parse_duration_arg)]
    pub stop_timeout: Duration,
    /// The control API's address.
    #[arg(long, default_value = "127.0.0.1:9096")]
    pub control: SocketAddr,
    /// Environment variable holding the control API's bearer token (required beyond
    /// loopback).
    #[arg(long)]
    pub token_env: Option<String>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

pub async fn run(command: HealCommand) -> anyhow::Result<ExitCode> {
    match command {
        HealCommand::Serve {
            config,
            listen,
            dry_run,
            kubeconfig,
        } => {
            let healer = ballast_heal::HealConfig {
                policy: config.clone(),
                listen,
                dry_run,
                kubeconfig,
            }
            .build()
            .await
            .with_context(|| format!("cannot start the healer with {}", config.display()))?;
            eprintln!(
                "ballast heal: listening on http://{}/webhook (status: /status, metrics: /metrics){}",
                healer.addr(),
                if dry_run { ", dry run: nothing is carried out" } else { "" }
            );
            tokio::select! {
                _ = super::interrupted() => {}
                _ = terminated() => {}
            }
            healer.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        HealCommand::Check { config } => {
            let policies = ballast_heal_policy::Policies::load(&config)
                .map_err(|e| InputError(e.to_string()))?;
            let warnings =
                ballast_heal::preflight(&policies).map_err(|e| InputError(e.to_string()))?;
            for w in &warnings {
                eprintln!("warning: {}: {w}", config.display());
            }
            println!(
                "{}: {} polic{}, listening on {}, state in {}",
                config.display(),
                policies.policies.len(),
                if policies.policies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                policies.listen,
                policies.state_dir.display()
            );
            for p in &policies.policies {
                let kinds: Vec<_> = p.actions.iter().map(|(a, _)| a.kind()).collect();
                println!(
                    "  {} (line {}): {}{}{}",
                    p.name,
                    p.line,
                    kinds.join(" → "),
                    p.verify
                        .as_ref()
                        .map(|v| format!("; recovery: {}", v.origin))
                        .unwrap_or_default(),
                    if p.dry_run { "; dry run" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        HealCommand::Status {
            url,
            token_env,
            json,
        } => status(&url, token_env.as_deref(), json).await,
        HealCommand::Operator {
            kubeconfig,
            namespace,
            all_namespaces,
            state_dir,
        } => operator(kubeconfig, namespace, all_namespaces, &state_dir).await,
    }
}

async fn status(url: &str, token_env: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let mut base = url::Url::parse(url).map_err(|e| InputError(format!("--url {url:?}: {e}")))?;
    let prefix = base.path().trim_end_matches('/').to_string();
    base.set_path(&format!("{prefix}/status"));
    let auth = match token_env {
        Some(name) => Some(ballast_http::Auth::Bearer(
            std::env::var(name)
                .map_err(|_| InputError(format!("--token-env: {name} is not set")))?,
        )),
        None => None,
    };
    let client = ballast_http::ClientConfig {
        auth,
        timeout: Duration::from_secs(10),
        ..Default::default()
    }
    .build()?;
    let response = client.get(&base).await?;
    if !response.is_success() {
        anyhow::bail!(
            "{} answered {}: {}",
            base,
            response.status,
            response.text().trim()
        );
    }
    let value: serde_json::Value =
        serde_json::from_slice(&response.body).context("the healer's status is not JSON")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "healer {}: {} open incident(s), {} deliveries remembered, audit log {}",
        if value["healthy"].as_bool() == Some(true) {
            "healthy"
        } else {
            "UNHEALTHY (cannot write its state or audit log)"
        },
        value["open"],
        value["remembered_deliveries"],
        value["audit_log"].as_str().unwrap_or("?")
    );
    for i in value["incidents"].as_array().into_iter().flatten() {
        let phase = &i["phase"];
        let state = match phase["phase"].as_str() {
            Some("done") => match &phase["outcome"] {
                serde_json::Value::String(s) => s.clone(),
                other => format!("refused: {}", other["refused"].as_str().unwrap_or("?")),
            },
            Some(p) => format!("{p} (action {}, try {})", phase["action"], phase["attempt"]),
            None => "?".into(),
        };
        println!(
            "  {:<24} {:<16} {:<20} {}  {} tries",
            i["id"].as_str().unwrap_or("?"),
            i["target"].as_str().unwrap_or(""),
            ballast_heal_policy::time::format_rfc3339(i["opened"].as_f64().unwrap_or(0.0)),
            state,
            i["attempts"].as_array().map_or(0, Vec::len)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn operator(
    kubeconfig: Option<PathBuf>,
    namespace: Option<String>,
    all_namespaces: bool,
    state_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use ballast_kube::operator::{OperatorConfig, Report, ReportResult};
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let audit = std::sync::Mutex::new(ballast_heal::AuditLog::open(state_dir, 64 << 20, 8)?);
    let kube = ballast_kube::KubeConfig {
        kubeconfig,
        namespace,
        ..Default::default()
    }
    .build()
    .await
    .map_err(|e| InputError(format!("cannot reach the cluster: {e}")))?;
    eprintln!(
        "ballast heal operator: reconciling Remediations ({}); audit log {}",
        if all_namespaces {
            "every namespace".to_string()
        } else {
            format!("namespace {}", kube.namespace())
        },
        state_dir.join("audit.jsonl").display()
    );
    let record = move |report: Report| {
        let (result, outcomes, error) = match &report.result {
            ReportResult::Succeeded(o) => ("succeeded", o.clone(), None),
            ReportResult::Failed { outcomes, error } => {
                ("failed", outcomes.clone(), Some(error.clone()))
            }
            ReportResult::CoolingDown(left) => (
                "cooling_down",
                Vec::new(),
                Some(format!("{}s of cooldown left", left.as_secs())),
            ),
            ReportResult::NotMatched(why) => ("not_matched", Vec::new(), Some(why.clone())),
        };
        let value = serde_json::json!({
            "event": "remediation",
            "namespace": report.namespace,
            "name": report.name,
            "trigger": report.trigger,
            "result": result,
            "outcomes": outcomes,
            "error": error,
        });
        println!("{value}");
        if let Ok(mut log) = audit.lock() {
            if let Err(e) = log.append(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                &value,
            ) {
                eprintln!("ballast heal operator: cannot write the audit log: {e}");
            }
        }
    };
    let config = OperatorConfig {
        all_namespaces,
        ..Default::default()
    };
    ballast_kube::operator::run_until(kube, config, record, async {
        tokio::select! {
            _ = super::interrupted() => {}
            _ = terminated() => {}
        }
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn supervise(args: SuperviseArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.token_env {
        Some(name) => Some(
            std::env::var(name)
                .map_err(|_| InputError(format!("--token-env: {name} is not set")))?,
        ),
        None => None,
    };
    let mut service =
        ballast_heal::supervise::ServiceConfig::new(args.name.clone(), args.argv.clone());
    service.ready_url = args.ready.clone();
    service.ready_timeout = args.ready_timeout;
    service.stop_timeout = args.stop_timeout;
    let supervisor = ballast_heal::supervise::SuperviseConfig {
        listen: args.control,
        token,
        services: vec![service],
    }
    .build()
    .await?;
    eprintln!(
        "ballast supervise: {} under supervision; control API http://{}/ (POST /restart/{}, GET /status)",
        args.name,
        supervisor.addr(),
        args.name
    );
    tokio::select! {
        _ = super::interrupted() => {}
        _ = terminated() => {}
    }
    supervisor.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (how supervisors and `kill` stop a daemon).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

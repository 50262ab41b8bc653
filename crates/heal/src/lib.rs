//! ballast's self-healing controller (*orchestrator*, as `verify` is): Alertmanager webhooks in, the heal policy's
//! decisions (`ballast-heal-policy`) carried out, recovery verified with PromQL, and
//! every decision and action in an append-only audit log.
//!
//! - One action per incident, however often Alertmanager's HA peers deliver it: the
//!   engine's state is saved (atomically) before any action it orders starts, and the
//!   delivery is acknowledged only after that, so a restart forgets nothing and a
//!   refused save makes Alertmanager deliver again.
//! - Actions never go through a shell: HTTP requests, an argv with a timeout, a restart
//!   through [`supervise`], the chaos proxy's API, a `ballast-tower` admin endpoint, the
//!   Go integration's GC endpoint, and (feature `kubernetes`) `ballast-kube`.
//! - Recovery is read, not waited for: after an action the SLI is polled until it holds
//!   for `consecutive` readings or the deadline passes, then the next action is tried.
//!
//! ```no_run
//! # async fn run() -> Result<(), ballast_heal::Error> {
//! let healer = ballast_heal::HealConfig::new("heal.yaml").build().await?;
//! println!("Alertmanager's webhook_configs url: http://{}/webhook", healer.addr());
//! healer.wait().await;
//! # Ok(()) }
//! ```
//!
//! A runnable example of the whole loop is `tests/loop.rs`; the policy format and the
//! measured recovery times are in `docs/HEALING.md`.
#![deny(missing_docs)]

pub mod actions;
mod audit;
mod error;
mod healer;
mod metrics;
pub mod recovery;
mod server;
mod store;
pub mod supervise;

pub use audit::AuditLog;
pub use error::Error;
pub use store::Store;

use ballast_heal_policy::policy::{ActionSpec, AuthSpec};
use ballast_heal_policy::{Engine, Policies};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How to start a healer. Everything else is in the policy file.
#[derive(Debug, Clone)]
pub struct HealConfig {
    /// The policy file.
    pub policy: PathBuf,
    /// Overrides the file's `listen`.
    pub listen: Option<SocketAddr>,
    /// Records every decision and carries out none, whatever the file says.
    pub dry_run: bool,
    /// The kubeconfig for Kubernetes actions (default: `$KUBECONFIG`, then
    /// `~/.kube/config`, then the in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
}

impl HealConfig {
    /// The policy at `path`, with its own settings.
    pub fn new(path: impl Into<PathBuf>) -> HealConfig {
        HealConfig {
            policy: path.into(),
            listen: None,
            dry_run: false,
            kubeconfig: None,
        }
    }

    /// Reads and checks the policy and what it names (secrets, Kubernetes actions),
    /// opens the state and the audit log, and starts listening.
    pub async fn build(self) -> Result<Healer, Error> {
        let mut policies = Policies::load(&self.policy)?;
        if self.dry_run {
            for p in &mut policies.policies {
                p.dry_run = true;
            }
        }
        let listen = self.listen.unwrap_or(policies.listen);
        let credentials = credentials(&policies, listen)?;
        std::fs::create_dir_all(&policies.state_dir)
            .map_err(|e| error::storage(&policies.state_dir, e))?;
        let store = Store::new(&policies.state_dir);
        let state = store.load()?;
        let audit = AuditLog::open(
            &policies.state_dir,
            policies.audit_max_bytes,
            policies.audit_keep,
        )?;
        let http = ballast_http::ClientConfig {
            retries: 0,
            timeout: actions::MAX_ACTION_TIME,
            ..Default::default()
        }
        .build()?;
        #[allow(unused_mut)]
        let mut runner = actions::Actions::new(http);
        let kube_actions = check_kubernetes(&policies)?;
        if kube_actions > 0 {
            #[cfg(feature = "kubernetes")]
            {
                let kube = ballast_kube::KubeConfig {
                    kubeconfig: self.kubeconfig.clone(),
                    ..Default::default()
                }
                .build()
                .await
                .map_err(|e| Error::Config {
                    field: "kubeconfig".into(),
                    message: format!("the policy has {kube_actions} Kubernetes action(s), and no cluster can be reached: {e}"),
                })?;
                runner = runner.with_kube(kube);
            }
        }
        let prometheus = match &policies.prometheus {
            Some(url) => Some(ballast_http::PromConfig::new(url.as_str()).build()?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Listen {
                addr: listen.to_string(),
                message: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Listen {
            addr: listen.to_string(),
            message: e.to_string(),
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(healer::QUEUE);
        let metrics = Arc::new(metrics::Metrics::default());
        let healthy = Arc::new(AtomicBool::new(true));
        let core = healer::Core {
            engine: Engine::new(policies, state),
            store,
            audit,
            metrics: metrics.clone(),
            actions: runner,
            prometheus,
            tx: tx.clone(),
            healthy: healthy.clone(),
            force_dry_run: self.dry_run,
            pending_record: None,
        };
        let engine_task = tokio::spawn(core.run(rx));
        let app = server::router(server::Shared {
            tx,
            metrics,
            credentials,
            healthy,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        tracing::info!(%addr, "ballast heal listening");
        Ok(Healer {
            addr,
            stop,
            server_task,
            engine_task,
        })
    }
}

/// A running healer.
#[derive(Debug)]
pub struct Healer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server_task: tokio::task::JoinHandle<()>,
    engine_task: tokio::task::JoinHandle<()>,
}

impl Healer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting deliveries and lets the engine finish what it was recording.
    /// Actions in flight are abandoned; the saved state marks them started, and the next
    /// healer checks recovery before anything else.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server_task.await;
        // The engine records synchronously between its awaits, so stopping it at one
        // never cuts a decision in half.
        self.engine_task.abort();
        let _ = self.engine_task.await;
    }

    /// Runs until the server stops.
    pub async fn wait(self) {
        let _ = self.server_task.await;
    }
}

fn credentials(policies: &Policies, listen: SocketAddr) -> Result<server::Credentials, Error> {
    let env = |name: &str, field: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::Config {
            field: field.into(),
            message: format!("the environment variable {name} is not set (or is empty)"),
        }),
    };
    let credentials = match &policies.auth {
        None => server::Credentials::None,
        Some(AuthSpec::BearerTokenEnv(name)) => {
            server::Credentials::Bearer(env(name, "auth.bearer_token_env")?)
        }
        Some(AuthSpec::Basic {
            username,
            password_env,
        }) => {
            use base64::Engine as _;
            let password = env(password_env, "auth.basic.password_env")?;
            server::Credentials::Basic(
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            )
        }
    };
    if matches!(credentials, server::Credentials::None) && !listen.ip().is_loopback() {
        return Err(Error::Config {
            field: "listen".into(),
            message: format!("{listen} is reachable from other machines: set `auth` in the policy, or listen on 127.0.0.1"),
        });
    }
    Ok(credentials)
}

/// What `serve` checks beyond the policy file itself, for `ballast heal check`: every
/// Kubernetes action against `ballast-kube`'s model (an error), and every environment
/// variable the policy names that is not set here (a warning each: the machine that
/// checks is not always the one that serves).
pub fn preflight(policies: &Policies) -> Result<Vec<String>, Error> {
    check_kubernetes(policies)?;
    let mut names: Vec<(String, String)> = Vec::new();
    match &policies.auth {
        Some(AuthSpec::BearerTokenEnv(n)) => {
            names.push(("auth.bearer_token_env".into(), n.clone()))
        }
        Some(AuthSpec::Basic { password_env, .. }) => {
            names.push(("auth.basic.password_env".into(), password_env.clone()))
        }
        None => {}
    }
    for (i, policy) in policies.policies.iter().enumerate() {
        for (j, (action, _)) in policy.actions.iter().enumerate() {
            let at = |field: &str| format!("policies[{i}].actions[{j}].{}.{field}", action.kind());
            match action {
                ActionSpec::Http(h) => names.extend(
                    h.bearer_token_env
                        .iter()
                        .map(|n| (at("bearer_token_env"), n.clone())),
                ),
                ActionSpec::Restart(r) => {
                    names.extend(r.token_env.iter().map(|n| (at("token_env"), n.clone())))
                }
                ActionSpec::Tower(t) => names.push((at("token_env"), t.token_env.clone())),
                ActionSpec::GoGc(g) => names.push((at("token_env"), g.token_env.clone())),
                _ => {}
            }
        }
    }
    Ok(names
        .into_iter()
        .filter(|(_, n)| std::env::var(n).map_or(true, |v| v.is_empty()))
        .map(|(field, n)| {
            format!("{field}: the environment variable {n} is not set here; `serve` needs it")
        })
        .collect())
}

/// Checks every Kubernetes action against `ballast-kube`'s model, with the policy's
/// line; returns how many there are.
fn check_kubernetes(policies: &Policies) -> Result<usize, Error> {
    let mut count = 0;
    let mut problems = Vec::new();
    for (i, policy) in policies.policies.iter().enumerate() {
        for (j, (action, line)) in policy.actions.iter().enumerate() {
            let ActionSpec::Kubernetes(spec) = action else {
                continue;
            };
            count += 1;
            let path = format!("policies[{i}].actions[{j}].kubernetes");
            #[cfg(feature = "kubernetes")]
            if let Err(e) = serde_json::from_value::<ballast_kube::KubeAction>(spec.clone()) {
                problems.push(policies.diagnostic(*line, &path, e.to_string()));
            }
            #[cfg(not(feature = "kubernetes"))]
            {
                let _ = spec;
                problems.push(policies.diagnostic(
                    *line,
                    &path,
                    "this ballast was built without the `kubernetes` feature",
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(count)
    } else {
        Err(Error::Policy(ballast_heal_policy::Error::Invalid(problems)))
    }
}

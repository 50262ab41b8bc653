//! `ballast supervise`: a small supervisor for local services, so the healer's
//! `restart` action has something to ask. Each service runs from an argv (no shell) in
//! its own process group; it is started again when it exits (with backoff, and left down
//! after too many exits in a minute), restarted on request through the control API, and
//! stopped — TERM, then KILL after `stop_timeout` — when the supervisor stops.
//!
//! Control API (bearer token required when it listens beyond loopback):
//! `POST /restart/NAME` → stops and starts NAME, answers once it is ready;
//! `GET /status` → every service's pid, restarts and state.

use crate::Error;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The supervisor.
#[derive(Debug, Clone)]
pub struct SuperviseConfig {
    /// The control API's address. Default `127.0.0.1:9096`.
    pub listen: SocketAddr,
    /// The control API's bearer token; required beyond loopback.
    pub token: Option<String>,
    /// What to run.
    pub services: Vec<ServiceConfig>,
}

/// One supervised service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Unique name (`[A-Za-z0-9_.-]+`).
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Ready when this URL answers 2xx; without it, ready when the process has stayed up
    /// for a second.
    pub ready_url: Option<url::Url>,
    /// How long a (re)start may take to become ready. Default 30s.
    pub ready_timeout: Duration,
    /// TERM, then KILL after this. Default 10s.
    pub stop_timeout: Duration,
    /// Exits within a minute after which the service is left down. Default 5.
    pub max_restarts_per_minute: u32,
}

impl ServiceConfig {
    /// A service with the default timeouts.
    pub fn new(name: impl Into<String>, argv: Vec<String>) -> ServiceConfig {
        ServiceConfig {
            name: name.into(),
            argv,
            env: BTreeMap::new(),
            ready_url: None,
            ready_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(10),
            max_restarts_per_minute: 5,
        }
    }
}

/// What the control API reports of a service.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// The running process, if one.
    pub pid: Option<u32>,
    /// Starts after the first (crash restarts and requested ones).
    pub restarts: u64,
    /// Restarts asked for through the API.
    pub requested_restarts: u64,
    /// `running`, `starting`, `down (why)`.
    pub state: String,
    /// How the last process ended.
    pub last_exit: Option<String>,
}

enum Command {
    Restart(oneshot::Sender<Result<ServiceStatus, String>>),
    Stop(oneshot::Sender<()>),
}

/// A running supervisor.
#[derive(Debug)]
pub struct Supervisor {
    addr: SocketAddr,
    services: BTreeMap<String, mpsc::Sender<Command>>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    token: Option<String>,
    services: Arc<BTreeMap<String, mpsc::Sender<Command>>>,
    status: Arc<Mutex<BTreeMap<String, ServiceStatus>>>,
}

impl SuperviseConfig {
    /// Starts every service and the control API.
    pub async fn build(self) -> Result<Supervisor, Error> {
        let config = |field: &str, message: String| Error::Config {
            field: field.into(),
            message,
        };
        if self.services.is_empty() {
            return Err(config(
                "services",
                "expected at least one service to supervise".into(),
            ));
        }
        if self.token.as_deref().is_none_or(str::is_empty) && !self.listen.ip().is_loopback() {
            return Err(config(
                "listen",
                format!(
                    "{} is reachable from other machines: give the control API a token",
                    self.listen
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.services {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(config(
                    "name",
                    format!("{:?}: expected letters, digits, `_`, `.` and `-`", s.name),
                ));
            }
            if !seen.insert(s.name.clone()) {
                return Err(config(
                    "name",
                    format!("two services are named {:?}", s.name),
                ));
            }
            if s.argv.is_empty() {
                return Err(config(
                    "argv",
                    format!("{}: expected a program to run", s.name),
                ));
            }
        }
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| Error::Listen {
                addr: self.listen.to_string(),
                message: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Listen {
            addr: self.listen.to_string(),
            message: e.to_string(),
        })?;
        let status = Arc::new(Mutex::new(BTreeMap::new()));
        let mut services = BTreeMap::new();
        for s in self.services {
            let (tx, rx) = mpsc::channel(16);
            status.lock().await.insert(
                s.name.clone(),
                ServiceStatus {
                    name: s.name.clone(),
                    state: "starting".into(),
                    ..Default::default()
                },
            );
            services.insert(s.name.clone(), tx);
            tokio::spawn(watch(s, rx, status.clone()));
        }
        let shared = Shared {
            token: self.token.filter(|t| !t.is_empty()),
            services: Arc::new(services.clone()),
            status,
        };
        let app = Router::new()
            .route("/restart/{name}", post(restart))
            .route("/status", get(status_route))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Supervisor {
            addr,
            services,
            stop: Some(stop),
            server,
        })
    }
}

impl Supervisor {
    /// The control API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops every service (TERM, then KILL) and the control API.
    pub async fn shutdown(mut self) {
        for tx in self.services.values() {
            let (reply, done) = oneshot::channel();
            if tx.send(Command::Stop(reply)).await.is_ok() {
                let _ = done.await;
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = &shared.token else {
        return true;
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    crate::server::same(given, format!("Bearer {token}").as_bytes())
}

async fn restart(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if !authorized(&shared, &headers) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong token\n").into_response();
    }
    let Some(tx) = shared.services.get(&name) else {
        let names: Vec<_> = shared.services.keys().cloned().collect();
        return (
            StatusCode::NOT_FOUND,
            format!("no service {name:?}; supervised: {}\n", names.join(", ")),
        )
            .into_response();
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(Command::Restart(reply)).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the supervisor is stopping\n",
        )
            .into_response();
    }
    match answer.await {
        Ok(Ok(status)) => axum::Json(status).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the supervisor is stopping\n",
        )
            .into_response(),
    }
}

async fn status_route(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong token\n").into_response();
    }
    let status = shared.status.lock().await;
    axum::Json(json!({ "services": status.values().collect::<Vec<_>>() })).into_response()
}

fn spawn(s: &ServiceConfig) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(&s.argv[0]);
    command
        .args(&s.argv[1..])
        .envs(&s.env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    command.spawn()
}

/// TERM to the process group, then KILL after `grace`.
async fn stop(child: &mut tokio::process::Child, grace: Duration) -> String {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a negative pid signals the child's own process group,
        // created for it by `process_group(0)`; it touches no memory.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGTERM);
        }
    }
    let group = child.id();
    let how = match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => format!("stopped ({status})"),
        _ => {
            kill_group(group);
            let _ = child.wait().await;
            format!("killed after {}", ballast_core::format_duration(grace))
        }
    };
    // Whatever the leader left behind in its group (workers that ignored TERM) goes too,
    // or it would keep the port the next start needs.
    kill_group(group);
    how
}

fn kill_group(group: Option<u32>) {
    if let Some(pid) = group {
        // SAFETY: kill(2) with a negative pid signals the process group created for the
        // child by `process_group(0)` (its id is the child's pid); it touches no memory.
        // Once the whole group is gone the call fails with ESRCH, which is ignored.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
        }
    }
}

async fn ready(s: &ServiceConfig, child: &mut tokio::process::Child) -> Result<f64, String> {
    let start = Instant::now();
    let deadline = start + s.ready_timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited while starting ({status})", s.name));
        }
        let up = match &s.ready_url {
            Some(url) => ballast_http::get_once(url.as_str(), Duration::from_secs(2))
                .await
                .is_ok(),
            None => start.elapsed() >= Duration::from_secs(1),
        };
        if up {
            return Ok(start.elapsed().as_secs_f64());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} was not ready within {}",
                s.name,
                ballast_core::format_duration(s.ready_timeout)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn watch(
    s: ServiceConfig,
    mut commands: mpsc::Receiver<Command>,
    status: Arc<Mutex<BTreeMap<String, ServiceStatus>>>,
) {
    let set = |f: Box<dyn FnOnce(&mut ServiceStatus) + Send>| {
        let status = status.clone();
        let name = s.name.clone();
        async move {
            if let Some(st) = status.lock().await.get_mut(&name) {
                f(st);
            }
        }
    };
    let mut exits: Vec<Instant> = Vec::new();
    let mut backoff = Duration::from_millis(200);
    let mut child: Option<tokio::process::Child> = None;
    let mut first = true;
    let mut started_pid: Option<u32> = None;
    let mut started_at = Instant::now();
    loop {
        if child.is_none() {
            match spawn(&s) {
                Ok(c) => {
                    let pid = c.id();
                    started_pid = pid;
                    started_at = Instant::now();
                    let restarted = !first;
                    set(Box::new(move |st| {
                        st.pid = pid;
                        st.state = "running".into();
                        if restarted {
                            st.restarts += 1;
                        }
                    }))
                    .await;
                    child = Some(c);
                }
                Err(e) => {
                    let why = format!("down (cannot start {:?}: {e})", s.argv[0]);
                    set(Box::new(move |st| {
                        st.pid = None;
                        st.state = why;
                    }))
                    .await;
                }
            }
            first = false;
        }
        let exited = async {
            match child.as_mut() {
                Some(c) => c
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            how = exited => {
                kill_group(started_pid);
                child = None;
                if started_at.elapsed() > Duration::from_secs(60) {
                    // A service that ran a while before exiting starts again quickly.
                    backoff = Duration::from_millis(200);
                }
                let now = Instant::now();
                exits.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                exits.push(now);
                let give_up = exits.len() as u32 > s.max_restarts_per_minute;
                let how2 = how.clone();
                set(Box::new(move |st| {
                    st.pid = None;
                    st.last_exit = Some(how2);
                    st.state = if give_up { "down (restart loop: ask for a restart to try again)".into() } else { "restarting".into() };
                })).await;
                tracing::warn!(service = %s.name, exit = %how, "supervised service exited");
                if give_up {
                    // Left down until a restart is requested.
                    match commands.recv().await {
                        Some(Command::Restart(reply)) => {
                            exits.clear();
                            let result = start_ready(&s, &mut child, &status).await;
                            started_pid = child.as_ref().and_then(|c| c.id());
                            started_at = Instant::now();
                            let _ = reply.send(result);
                        }
                        Some(Command::Stop(reply)) => { let _ = reply.send(()); return; }
                        None => return,
                    }
                } else {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            command = commands.recv() => match command {
                Some(Command::Restart(reply)) => {
                    if let Some(mut c) = child.take() {
                        let how = stop(&mut c, s.stop_timeout).await;
                        set(Box::new(move |st| st.last_exit = Some(how))).await;
                    }
                    let result = start_ready(&s, &mut child, &status).await;
                            started_pid = child.as_ref().and_then(|c| c.id());
                            started_at = Instant::now();
                    backoff = Duration::from_millis(200);
                    let _ = reply.send(result);
                }
                Some(Command::Stop(reply)) => {
                    if let Some(mut c) = child.take() {
                        stop(&mut c, s.stop_timeout).await;
                    }
                    set(Box::new(|st| { st.pid = None; st.state = "stopped".into(); })).await;
                    let _ = reply.send(());
                    return;
                }
                None => {
                    if let Some(mut c) = child.take() {
                        stop(&mut c, s.stop_timeout).await;
                    }
                    return;
                }
            }
        }
    }
}

/// Starts the service and waits until it is ready; the answer to a restart request.
async fn start_ready(
    s: &ServiceConfig,
    child: &mut Option<tokio::process::Child>,
    status: &Arc<Mutex<BTreeMap<String, ServiceStatus>>>,
) -> Result<ServiceStatus, String> {
    let mut c = spawn(s).map_err(|e| format!("cannot start {:?}: {e}", s.argv[0]))?;
    let pid = c.id();
    {
        let mut all = status.lock().await;
        if let Some(st) = all.get_mut(&s.name) {
            st.pid = pid;
            st.restarts += 1;
            st.requested_restarts += 1;
            st.state = "starting".into();
        }
    }
    let result = ready(s, &mut c).await;
    let mut all = status.lock().await;
    let st = all.get_mut(&s.name).ok_or("the service vanished")?;
    match result {
        Ok(after) => {
            st.state = format!("running (ready {after:.2}s after the restart)");
            *child = Some(c);
            Ok(st.clone())
        }
        Err(e) => {
            st.state = format!("down ({e})");
            // A process that never became ready is not left half-started.
            let _ = stop(&mut c, s.stop_timeout).await;
            st.pid = None;
            Err(e)
        }
    }
}

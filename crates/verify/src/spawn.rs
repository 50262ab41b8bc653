//! Starting the service under test (never through a shell), waiting until it is ready,
//! and stopping it afterwards — also when the run fails.

use crate::Error;
use ballast_contract::SpawnPlan;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running target; stopped (SIGTERM, then SIGKILL after 5 s) by [`Spawned::stop`] or,
/// as a last resort, killed on drop.
pub struct Spawned {
    child: Child,
    /// Its process id.
    pub pid: u32,
}

impl Spawned {
    /// Starts `plan` and waits for its readiness probe against `base_url`.
    pub async fn start(plan: &SpawnPlan, base_url: &str) -> Result<Spawned, Error> {
        // `ballast` means this very binary, so contracts can spawn `ballast demo serve`
        // without depending on PATH.
        let program = match (plan.command.as_str(), std::env::current_exe()) {
            ("ballast", Ok(me)) if me.file_stem().is_some_and(|s| s == "ballast") => me,
            _ => plan.command.clone().into(),
        };
        let mut command = Command::new(program);
        command
            .args(&plan.args)
            .envs(&plan.env)
            .current_dir(&plan.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            Error::Spawn(format!(
                "cannot start {:?} in {}: {e}",
                plan.command,
                plan.cwd.display()
            ))
        })?;
        let pid = child.id().unwrap_or(0);
        let deadline = Instant::now() + plan.ready.timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Spawn(format!(
                    "{:?} exited before it was ready ({status})",
                    plan.command
                )));
            }
            if probe(plan, base_url).await {
                return Ok(Spawned { child, pid });
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(Error::Spawn(format!(
                    "{:?} was not ready within {} ({})",
                    plan.command,
                    ballast_core::format_duration(plan.ready.timeout),
                    match (&plan.ready.http, plan.ready.tcp) {
                        (Some(path), _) => format!("GET {base_url}{path} never answered 2xx"),
                        (None, Some(port)) => format!("127.0.0.1:{port} never accepted"),
                        (None, None) => format!("{base_url} never accepted a connection"),
                    }
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks it to stop (SIGTERM), then kills it after 5 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we own and a valid signal number; no memory involved.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

async fn probe(plan: &SpawnPlan, base_url: &str) -> bool {
    match (&plan.ready.http, plan.ready.tcp) {
        (Some(path), _) => {
            let Ok(url) = ballast_spec::parse_http_url(&format!("{base_url}{path}")) else {
                return false;
            };
            let client = ballast_http::ClientConfig {
                timeout: std::time::Duration::from_secs(2),
                retries: 0,
                ..Default::default()
            }
            .build();
            match client {
                Ok(client) => client.get_text(&url).await.is_ok(),
                Err(_) => false,
            }
        }
        (None, Some(port)) => tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok(),
        (None, None) => match ballast_load::Target::parse(base_url) {
            Ok(t) => tokio::net::TcpStream::connect((t.host.as_str(), t.port))
                .await
                .is_ok(),
            Err(_) => false,
        },
    }
}

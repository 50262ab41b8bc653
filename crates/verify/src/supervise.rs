//! The spawned target under supervision: started again when it exits on its own (a
//! crash, an OOM kill, a `kill` fault) as `target.spawn.restart` allows, restarted on
//! request with a phase's environment, and stopped at the end.
//!
//! One task owns the process; the run talks to it through a channel and reads the
//! current pid from a watch, so faults and the process watch always act on the process
//! that runs now, not the one that started.

use crate::spawn::{Joiner, Spawned};
use crate::Error;
use ballast_contract::SpawnPlan;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// What the run asks of the supervisor.
enum Request {
    /// Stop the target and start it again with this environment (a planned restart).
    Restart {
        env: BTreeMap<String, String>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Stop it for good.
    Stop {
        reply: oneshot::Sender<Option<String>>,
    },
}

/// Something that happened to the target, for the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Happening {
    /// It exited on its own (seconds since the run started, how).
    Exited(f64, String),
    /// It was started again after exiting.
    Restarted(f64),
    /// Too many restarts: left down.
    RestartLoop(f64, String),
    /// A restart failed.
    RestartFailed(f64, String),
}

impl Happening {
    /// The report's note for it.
    pub(crate) fn note(&self) -> Option<String> {
        Some(match self {
            Happening::Exited(t, how) => format!("the target exited at {t:.1}s ({how})"),
            Happening::Restarted(t) => {
                format!("the target was started again at {t:.1}s (target.spawn.restart)")
            }
            Happening::RestartLoop(t, why) => format!("restart loop at {t:.1}s: {why}"),
            Happening::RestartFailed(t, why) => {
                format!("starting the target again at {t:.1}s failed: {why}")
            }
        })
    }
}

/// The handle the run keeps.
pub(crate) struct Supervisor {
    requests: mpsc::Sender<Request>,
    pid: watch::Receiver<Option<u32>>,
    task: tokio::task::JoinHandle<Vec<Happening>>,
}

struct State {
    plan: SpawnPlan,
    base_url: String,
    join: Option<Joiner>,
    env: BTreeMap<String, String>,
    start: Instant,
    pid: watch::Sender<Option<u32>>,
    happenings: Vec<Happening>,
    /// When recent unplanned restarts happened, for the loop detection.
    recent: VecDeque<Instant>,
}

impl Supervisor {
    /// Starts the target (waiting until it is ready) and the task that watches it.
    pub(crate) async fn start(
        plan: &SpawnPlan,
        base_url: &str,
        join: Option<Joiner>,
        start: Instant,
    ) -> Result<Supervisor, Error> {
        let env = BTreeMap::new();
        let child = Spawned::start(plan, base_url, &env, join.clone()).await?;
        let (pid_tx, pid) = watch::channel(Some(child.pid));
        let (requests, rx) = mpsc::channel(4);
        let state = State {
            plan: plan.clone(),
            base_url: base_url.to_string(),
            join,
            env,
            start,
            pid: pid_tx,
            happenings: Vec::new(),
            recent: VecDeque::new(),
        };
        let task = tokio::spawn(supervise(state, child, rx));
        Ok(Supervisor {
            requests,
            pid,
            task,
        })
    }

    /// Follows the current pid.
    pub(crate) fn pid_watch(&self) -> watch::Receiver<Option<u32>> {
        self.pid.clone()
    }

    /// Stops the target and starts it again with `env` (over the spawn's own), waiting
    /// until it is ready.
    pub(crate) async fn restart_with(&self, env: BTreeMap<String, String>) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Restart { env, reply })
            .await
            .map_err(|_| Error::Spawn("the target's supervisor is gone".into()))?;
        answer
            .await
            .map_err(|_| Error::Spawn("the target's supervisor is gone".into()))?
    }

    /// Stops the target for good; returns what happened to it and a note when something
    /// outlived SIGKILL.
    pub(crate) async fn stop(self) -> (Vec<Happening>, Option<String>) {
        let (reply, answer) = oneshot::channel();
        let note = match self.requests.send(Request::Stop { reply }).await {
            Ok(()) => answer.await.ok().flatten(),
            Err(_) => None,
        };
        let happenings = self.task.await.unwrap_or_default();
        (happenings, note)
    }
}

async fn supervise(
    mut state: State,
    child: Spawned,
    mut requests: mpsc::Receiver<Request>,
) -> Vec<Happening> {
    let mut child = Some(child);
    // A request that came while the target was being started again.
    let mut pending: Option<Request> = None;
    loop {
        let request = match (pending.take(), child.as_mut()) {
            (Some(request), _) => Some(request),
            (None, Some(running)) => tokio::select! {
                status = running.exited() => {
                    let t = state.start.elapsed().as_secs_f64();
                    state.happenings.push(Happening::Exited(t, status.to_string()));
                    state.pid.send_replace(None);
                    // What it started may still run; stop it all before anything new.
                    if let Some(gone) = child.take() {
                        let _ = gone.stop_exited().await;
                    }
                    match state.recover(&mut requests).await {
                        Recovery::Running(new) => child = Some(new),
                        Recovery::Down => {}
                        Recovery::Interrupted(request) => pending = Some(request),
                    }
                    continue;
                }
                request = requests.recv() => request,
            },
            (None, None) => requests.recv().await,
        };
        match request {
            Some(Request::Restart { env, reply }) => {
                if let Some(old) = child.take() {
                    state.pid.send_replace(None);
                    let _ = old.stop().await;
                }
                state.env = env;
                let result =
                    Spawned::start(&state.plan, &state.base_url, &state.env, state.join.clone())
                        .await;
                let answer = match result {
                    Ok(new) => {
                        state.pid.send_replace(Some(new.pid));
                        child = Some(new);
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
            }
            Some(Request::Stop { reply }) => {
                state.pid.send_replace(None);
                let note = match child.take() {
                    Some(c) => c.stop().await,
                    None => None,
                };
                let _ = reply.send(note);
                return state.happenings;
            }
            // The run dropped its handle without stopping: the drop of `child` kills it.
            None => return state.happenings,
        }
    }
}

/// How starting the target again after an exit ended.
enum Recovery {
    Running(Spawned),
    /// No policy, or a restart loop.
    Down,
    /// The run asked for something meanwhile (a stop, a planned restart): the attempt is
    /// dropped (a half-started target is killed with its group) and the request served.
    Interrupted(Request),
}

impl State {
    /// After an exit the run did not ask for: start again as the policy allows, each
    /// attempt (failed ones too) counting towards the restart loop, while still listening
    /// to the run.
    async fn recover(&mut self, requests: &mut mpsc::Receiver<Request>) -> Recovery {
        let Some(policy) = self.plan.restart else {
            return Recovery::Down;
        };
        loop {
            let now = Instant::now();
            while self
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > policy.within)
            {
                self.recent.pop_front();
            }
            let t = self.start.elapsed().as_secs_f64();
            if self.recent.len() as u32 >= policy.max {
                self.happenings.push(Happening::RestartLoop(
                    t,
                    format!(
                        "the target needed more than {} starts again within {}; it is left down (restart.max {})",
                        policy.max,
                        ballast_core::format_duration(policy.within),
                        policy.max
                    ),
                ));
                return Recovery::Down;
            }
            self.recent.push_back(now);
            let (plan, base_url, env, join) = (
                self.plan.clone(),
                self.base_url.clone(),
                self.env.clone(),
                self.join.clone(),
            );
            let attempt = async move {
                tokio::time::sleep(policy.delay).await;
                Spawned::start(&plan, &base_url, &env, join).await
            };
            tokio::select! {
                result = attempt => {
                    let t = self.start.elapsed().as_secs_f64();
                    match result {
                        Ok(new) => {
                            self.happenings.push(Happening::Restarted(t));
                            self.pid.send_replace(Some(new.pid));
                            return Recovery::Running(new);
                        }
                        Err(e) => self.happenings.push(Happening::RestartFailed(t, e.to_string())),
                    }
                }
                request = requests.recv() => {
                    return match request {
                        Some(request) => Recovery::Interrupted(request),
                        None => Recovery::Down,
                    };
                }
            }
        }
    }
}

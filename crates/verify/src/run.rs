//! Running a contract: spawn the target, run each phase through the load engine while
//! scraping metrics and watching the process, then judge every clause.

use crate::abort::AbortWatch;
use crate::facts::{PhaseResult, RunData};
use crate::faults::Faults;
use crate::process::{ProcessWatch, Watched};
use crate::report::{ClauseVerdict, FaultRecord, Outcome, PhaseRecord, VerifyReport, SCHEMA};
use crate::supervise::{Happening, Supervisor};
use crate::target_faults::phase::TargetRef;
use crate::target_faults::{self, Ledger, TargetSetup};
use crate::Error;
use ballast_contract::expr::{Expr, Facts};
use ballast_contract::{Contract, PhasePlan, Severity};
use ballast_core::RateSpec;
use ballast_http::scrape::Scraper;
use ballast_load::{LoadConfig, Model, Progress, Report, Stop};
use std::collections::BTreeSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Choices of one `ballast verify` run.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Run only this phase (clauses that need other phases are skipped).
    pub only: Option<String>,
    /// Where phases' profiles go (a folder per phase). Default: a new folder under the
    /// system's temporary directory, named in a note.
    pub profile_dir: Option<std::path::PathBuf>,
}

/// What happens during a run, for progress display.
#[derive(Debug)]
pub enum Event<'a> {
    /// A phase (or its warm-up) starts.
    PhaseStarted {
        /// 1-based position among the phases that run.
        index: usize,
        /// How many phases run.
        total: usize,
        /// The phase.
        phase: &'a PhasePlan,
        /// Whether this is the warm-up.
        warmup: bool,
    },
    /// Load progress within the current phase.
    Progress(&'a Progress),
    /// A phase's judged part finished.
    PhaseFinished(&'a PhasePlan, &'a Report),
    /// Something the user should know (printed as a note).
    Note(String),
}

/// Runs `contract`; `stop` turning true (Ctrl-C) ends the current phase early and skips
/// the rest, and the report then says it was interrupted.
pub async fn verify(
    contract: &Contract,
    options: &VerifyOptions,
    stop: watch::Receiver<bool>,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<VerifyReport, Error> {
    let phases: Vec<&PhasePlan> = match &options.only {
        None => contract.phases.iter().collect(),
        Some(name) => {
            let phase = contract
                .phases
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        contract.phases.iter().map(|p| p.name.as_str()).collect();
                    Error::Usage(format!(
                        "--only {name:?}: no such phase; the phases are: {}",
                        names.join(", ")
                    ))
                })?;
            vec![phase]
        }
    };
    let started_wall = SystemTime::now();
    let start = Instant::now();
    let mut notes = Vec::new();
    let profile_dir = options.profile_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "ballast-profiles-{}-{}",
            std::process::id(),
            started_wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ))
    });

    // Nothing starts before every fault is known to be possible here.
    crate::target_faults::preflight(contract, &phases)?;
    // The proxies are the service's way to its dependencies: they are up before it starts
    // (services often connect at start-up) and go after it stops, whichever phases run.
    let faults = match &contract.chaos {
        Some(plan) => Some(Faults::start(plan, &phases).await?),
        None => None,
    };
    let setup = match TargetSetup::start(contract, &phases, &mut notes).await {
        Ok(setup) => setup,
        Err(e) => {
            if let Some(f) = faults {
                f.shutdown().await;
            }
            return Err(e);
        }
    };
    let supervisor = match &contract.target.spawn {
        Some(plan) => {
            match Supervisor::start(plan, &contract.target.base_url, setup.joiner(), start).await {
                Ok(s) => Some(s),
                Err(e) => {
                    setup.shutdown().await;
                    if let Some(f) = faults {
                        f.shutdown().await;
                    }
                    return Err(e);
                }
            }
        }
        None => None,
    };
    // Everything after the spawn runs in an inner function so the target is stopped on
    // every path out, errors included.
    let outcome = run_phases(
        contract,
        &phases,
        Held {
            faults: faults.as_ref(),
            setup: &setup,
            supervisor: supervisor.as_ref(),
        },
        start,
        stop,
        &profile_dir,
        &mut notes,
        &mut on_event,
    )
    .await;
    let mut exits = Vec::new();
    if let Some(s) = supervisor {
        let (happenings, note) = s.stop().await;
        notes.extend(happenings.iter().filter_map(Happening::note));
        notes.extend(note);
        exits.extend(happenings.iter().filter_map(|h| match h {
            Happening::Exited(t, _) => Some(*t),
            _ => None,
        }));
    }
    setup.shutdown().await;
    if let Some(f) = faults {
        f.shutdown().await;
    }
    let PhasesOutcome {
        mut data,
        records,
        interrupted,
        aborted,
        faults,
    } = outcome?;
    // The supervised process is the watched one unless a server inside it is named.
    let named = contract
        .target
        .process
        .as_ref()
        .and_then(|p| p.name.as_ref());
    if contract.target.spawn.is_some() && named.is_none() {
        data.exits = Some(exits);
    }

    let executed: BTreeSet<&str> = data.phases.iter().map(|p| p.name.as_str()).collect();
    let clauses = contract
        .clauses
        .iter()
        .map(|clause| {
            let needed = phases_needed(&clause.expr, clause.phase.as_deref(), &contract.phases);
            let missing: Vec<&str> = needed
                .iter()
                .filter(|p| !executed.contains(p.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return ClauseVerdict::skipped(
                    clause,
                    format!("phase {} did not run", missing.join(", ")),
                );
            }
            let evaluation = clause
                .expr
                .evaluate(&data as &dyn Facts, clause.phase.as_deref());
            let outcome = match (evaluation.holds, clause.severity) {
                (Some(true), _) => Outcome::Pass,
                (Some(false), Severity::Fail) => Outcome::Fail,
                (Some(false), Severity::Warn) => Outcome::Warn,
                (None, Severity::Fail) => Outcome::Error,
                (None, Severity::Warn) => Outcome::Warn,
            };
            ClauseVerdict::new(clause, outcome, &evaluation)
        })
        .collect::<Vec<_>>();
    let passed = !interrupted
        && aborted.is_none()
        && clauses
            .iter()
            .all(|c| !matches!(c.outcome, Outcome::Fail | Outcome::Error));
    Ok(VerifyReport {
        schema: SCHEMA.into(),
        ballast_version: env!("CARGO_PKG_VERSION").into(),
        contract: contract.name.clone(),
        source: contract.source.clone(),
        description: contract.file.description.clone(),
        base_url: contract.target.base_url.clone(),
        started_unix_ms: started_wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        duration_s: start.elapsed().as_secs_f64(),
        passed,
        interrupted,
        aborted,
        notes,
        faults,
        phases: records,
        clauses,
        profiles: crate::profiles::records(
            &data
                .phases
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>(),
            &data.profiles,
        ),
        metrics: crate::report::metric_series(contract, &data.samples),
        process: data.process.iter().map(|s| (s.t, s.rss_bytes)).collect(),
    })
}

/// Which process the `process.*` facts are about, and which one process faults act on:
/// the same one, found the same way.
fn who(contract: &Contract, supervisor: Option<&Supervisor>) -> (Option<Watched>, TargetRef) {
    let process = contract.target.process.as_ref();
    let name = process.and_then(|p| p.name.clone());
    match (supervisor, name) {
        // A spawned supervisor or wrapper with a named server inside.
        (Some(s), Some(name)) => (
            Some(Watched::NameUnder {
                root: s.pid_watch(),
                name: name.clone(),
            }),
            TargetRef::NameUnder(s.pid_watch(), name),
        ),
        (Some(s), None) => (
            Some(Watched::Spawned(s.pid_watch())),
            TargetRef::Spawned(s.pid_watch()),
        ),
        (None, Some(name)) => (Some(Watched::Name(name.clone())), TargetRef::Name(name)),
        (None, None) => match process.and_then(|p| p.pid) {
            Some(pid) => (Some(Watched::Pid(pid)), TargetRef::Pid(pid)),
            None => (None, TargetRef::None),
        },
    }
}

/// What the phases produced.
#[derive(Default)]
struct PhasesOutcome {
    data: RunData,
    records: Vec<PhaseRecord>,
    interrupted: bool,
    aborted: Option<String>,
    faults: Vec<FaultRecord>,
}

/// What the run set up that the phases use.
struct Held<'a> {
    faults: Option<&'a Faults>,
    setup: &'a TargetSetup,
    supervisor: Option<&'a Supervisor>,
}

#[allow(clippy::too_many_arguments)]
async fn run_phases(
    contract: &Contract,
    phases: &[&PhasePlan],
    held: Held<'_>,
    start: Instant,
    stop: watch::Receiver<bool>,
    profile_dir: &std::path::Path,
    notes: &mut Vec<String>,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<PhasesOutcome, Error> {
    let scraper = contract
        .target
        .metrics
        .as_ref()
        .map(|url| Scraper::new(url, start))
        .transpose()
        .map_err(|e| Error::Scrape(e.to_string()))?;
    let faults = held.faults;
    let (watched, target) = who(contract, held.supervisor);
    let watch = watched.map(|w| ProcessWatch::new(w, start)).transpose()?;
    let mut background = Vec::new();
    if let Some(s) = &scraper {
        s.scrape_now().await;
        background.push(s.spawn_every_second());
    }
    if let Some(w) = &watch {
        w.sample_now();
        background.push(w.spawn_every_second());
    }

    let mut out = PhasesOutcome::default();
    let result: Result<(), Error> = async {
        for (i, phase) in phases.iter().enumerate() {
            if *stop.borrow() {
                out.interrupted = true;
                break;
            }
            let records_before = out.faults.len();
            // Faults go in before the warm-up, so the service has met them by the time
            // the judged part starts; they come out however the phase ends.
            let applied = match faults {
                Some(f) if !phase.chaos.is_empty() => {
                    f.apply(phase, start, &mut out.faults).await?
                }
                _ => Vec::new(),
            };
            let mut ledger = Ledger {
                records: &mut out.faults,
                planned: &mut out.data.planned_restarts,
            };
            let beyond = match target_faults::begin(
                phase,
                held.setup,
                held.supervisor,
                target.clone(),
                start,
                &mut ledger,
            )
            .await
            {
                Ok(b) => b,
                Err(e) => {
                    if let Some(f) = faults {
                        f.remove(&applied, start, &mut out.faults).await;
                    }
                    return Err(e);
                }
            };
            let position = (i + 1, phases.len());
            let ran = run_phase(
                contract,
                phase,
                position,
                start,
                &stop,
                beyond.failed(),
                scraper.as_ref(),
                profile_dir,
                on_event,
            )
            .await;
            // A fault that failed while the phase ran stopped it; not Ctrl-C.
            let stopped_by_a_fault = *beyond.failed().borrow();
            let mut ledger = Ledger {
                records: &mut out.faults,
                planned: &mut out.data.planned_restarts,
            };
            let failed = target_faults::end(
                phase,
                beyond,
                held.setup,
                held.supervisor,
                start,
                &mut ledger,
            )
            .await;
            if let Some(f) = faults {
                f.remove(&applied, start, &mut out.faults).await;
            }
            let mut ran = ran?;
            if stopped_by_a_fault {
                ran.interrupted = false;
            }
            if let Some(w) = &watch {
                w.sample_now();
            }
            out.interrupted |= ran.interrupted;
            out.aborted = ran.aborted.clone().or(failed);
            if let Some(captured) = ran.profiles.take() {
                for error in &captured.errors {
                    notes.push(format!("profiles of phase {}: {error}", phase.name));
                }
                notes.push(format!(
                    "profiles of phase {}: {}",
                    phase.name,
                    captured.dir.display()
                ));
                out.data.profiles.insert(phase.name.clone(), captured);
            }
            if let Some(mut record) = ran.record {
                // Some fault (on a proxy or on the target) was put in place.
                record.chaos_applied = out.faults.len() > records_before;
                out.data.phases.push(PhaseResult {
                    name: phase.name.clone(),
                    report: record.report.clone(),
                    window: (record.start_s, record.end_s),
                });
                out.records.push(record);
            }
            if out.interrupted || out.aborted.is_some() {
                break;
            }
        }
        Ok(())
    }
    .await;
    for task in background {
        task.abort();
    }
    result?;
    if let Some(s) = &scraper {
        for failure in s.failures().into_iter().take(3) {
            notes.push(format!("metrics scrape failed: {failure}"));
        }
        out.data.samples = s.samples();
    }
    if let Some(w) = &watch {
        for problem in w.problems() {
            notes.push(format!("process watch: {problem}"));
        }
        out.data.process = w.samples();
    }
    Ok(out)
}

/// One phase's outcome: its record (none when stopped during the warm-up).
struct PhaseRun {
    record: Option<PhaseRecord>,
    interrupted: bool,
    aborted: Option<String>,
    profiles: Option<crate::profiles::PhaseProfiles>,
}

#[allow(clippy::too_many_arguments)]
async fn run_phase(
    contract: &Contract,
    phase: &PhasePlan,
    (index, total): (usize, usize),
    start: Instant,
    stop: &watch::Receiver<bool>,
    faults_failed: watch::Receiver<bool>,
    scraper: Option<&Scraper>,
    profile_dir: &std::path::Path,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<PhaseRun, Error> {
    let abort = phase
        .abort_when
        .as_ref()
        .map(|plan| AbortWatch::new(plan, &phase.name, scraper));
    // The phase stops when its steady state breaks or when one of its faults fails.
    let abort_rx = Some(merge(
        abort.as_ref().map(|(_, rx)| rx.clone()),
        faults_failed,
    ));
    let watch_ref = abort.as_ref().map(|(w, _)| w);
    let mut forward = |event: Event<'_>| {
        if let (Event::Progress(p), Some(w)) = (&event, watch_ref) {
            w.observe(p);
        }
        on_event(event);
    };
    let aborted = || watch_ref.and_then(AbortWatch::reason);

    let mut warmup_start = None;
    if !phase.warmup.is_zero() {
        forward(Event::PhaseStarted {
            index,
            total,
            phase,
            warmup: true,
        });
        let rate = match phase.rate {
            RateSpec::Ramp { from, .. } => RateSpec::Constant(from),
            constant => constant,
        };
        warmup_start = Some(start.elapsed().as_secs_f64());
        let report = run_load(
            contract,
            phase,
            rate,
            phase.warmup,
            stop,
            abort_rx.clone(),
            &mut forward,
        )
        .await?;
        if report.interrupted {
            return Ok(PhaseRun {
                record: None,
                interrupted: aborted().is_none(),
                aborted: aborted(),
                profiles: None,
            });
        }
    }
    forward(Event::PhaseStarted {
        index,
        total,
        phase,
        warmup: false,
    });
    if let Some(s) = scraper {
        s.scrape_now().await;
    }
    let phase_start = start.elapsed().as_secs_f64();
    // The window ends with the phase: the capture starts its length before the end.
    let capture = phase.profile.as_ref().map(|plan| {
        crate::profiles::start(
            plan,
            profile_dir.join(&phase.name),
            phase.duration.saturating_sub(plan.window),
        )
    });
    let report = run_load(
        contract,
        phase,
        phase.rate,
        phase.duration,
        stop,
        abort_rx,
        &mut forward,
    )
    .await?;
    let phase_end = start.elapsed().as_secs_f64();
    if let Some(s) = scraper {
        s.scrape_now().await;
    }
    let profiles = match capture {
        Some(c) => c.finish(!report.interrupted).await,
        None => None,
    };
    forward(Event::PhaseFinished(phase, &report));
    let reason = aborted();
    Ok(PhaseRun {
        profiles,
        interrupted: report.interrupted && reason.is_none(),
        aborted: reason,
        record: Some(PhaseRecord {
            name: phase.name.clone(),
            rate: phase.rate.to_string(),
            duration_s: phase.duration.as_secs_f64(),
            warmup_s: phase.warmup.as_secs_f64(),
            warmup_start_s: warmup_start,
            start_s: phase_start,
            end_s: phase_end,
            chaos_requested: phase.chaos.len() + phase.faults.len(),
            chaos_applied: false,
            report,
        }),
    })
}

/// A receiver that turns true when either does.
fn merge(a: Option<watch::Receiver<bool>>, mut b: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let Some(mut a) = a else { return b };
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let (mut a_open, mut b_open) = (true, true);
        loop {
            if *a.borrow_and_update() || *b.borrow_and_update() {
                let _ = tx.send(true);
                return;
            }
            // A closed side can no longer turn true; with both closed only the end is left.
            tokio::select! {
                changed = a.changed(), if a_open => a_open = changed.is_ok(),
                changed = b.changed(), if b_open => b_open = changed.is_ok(),
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

/// Ends when `stop` (Ctrl-C) or `abort` (steady state broken) turns true.
async fn stopped(mut stop: watch::Receiver<bool>, abort: Option<watch::Receiver<bool>>) {
    let wait = |mut rx: watch::Receiver<bool>| async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    match abort {
        Some(abort) => {
            tokio::select! {
                _ = wait(stop.clone()) => {}
                _ = wait(abort) => {}
            }
        }
        None => wait(stop.clone()).await,
    }
    let _ = stop.borrow_and_update();
}

async fn run_load(
    contract: &Contract,
    phase: &PhasePlan,
    rate: RateSpec,
    length: std::time::Duration,
    stop: &watch::Receiver<bool>,
    abort: Option<watch::Receiver<bool>>,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<Report, Error> {
    let mut config = LoadConfig::new(format!("{}/", contract.target.base_url));
    config.model = Model::Open { rate };
    config.stop = Stop::After(length);
    config.connections = Some(contract.target.connections);
    config.timeout = contract.target.timeout;
    if !contract.requests.is_empty() {
        config.url = contract.target.base_url.clone();
        config.requests = phase
            .requests
            .iter()
            .map(|&i| contract.requests[i].clone())
            .collect();
    }
    let test = config
        .build()
        .map_err(|e| Error::Load(format!("phase {}: {e}", phase.name)))?;
    test.run(stopped(stop.clone(), abort), |p| {
        on_event(Event::Progress(p))
    })
    .await
    .map_err(|e| Error::Load(format!("phase {}: {e}", phase.name)))
}

/// The phases a clause reads: its own (or all, when it has none) and every phase its
/// expression names.
fn phases_needed(expr: &Expr, default: Option<&str>, all: &[PhasePlan]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut uses_default = false;
    collect(expr, &mut out, &mut uses_default);
    if uses_default {
        match default {
            Some(p) => {
                out.insert(p.to_string());
            }
            None => out.extend(all.iter().map(|p| p.name.clone())),
        }
    }
    out
}

fn collect(expr: &Expr, out: &mut BTreeSet<String>, uses_default: &mut bool) {
    match expr {
        Expr::Fact(f) => match &f.scope.phase {
            Some(p) => {
                out.insert(p.clone());
            }
            None => *uses_default = true,
        },
        Expr::Neg(e) | Expr::Not(e) => collect(e, out, uses_default),
        Expr::Binary(_, a, b) => {
            collect(a, out, uses_default);
            collect(b, out, uses_default);
        }
        Expr::Number(..) | Expr::Bool(_) => {}
    }
}

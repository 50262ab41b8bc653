//! Profiles a phase captures (`phases[].profile`): the capture runs in the background over
//! the phase's last `window`, so the CPU profile ends with the phase and the other kinds
//! are read at the window's start and end. Its files become the facts of `profile.*`
//! clauses and the flame graphs of the report.

use ballast_attribution::{share, FlameOptions, FoldOptions, RuntimeFrames};
use ballast_contract::profile::{ProfileKind, ProfilePlan, ProfileStat};
use ballast_core::profile::Profile;
use ballast_profile::capture::{self, CaptureConfig, Moment};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What one phase's capture gave.
#[derive(Debug, Clone, Default)]
pub struct PhaseProfiles {
    /// Where its files are.
    pub dir: PathBuf,
    /// The window's profile of each kind that was captured. Kinds that count from the
    /// program's start (allocs, block, mutex) are the end capture minus the start one.
    pub window: BTreeMap<ProfileKind, Profile>,
    /// Kinds that could not be captured, and why.
    pub errors: Vec<String>,
}

impl PhaseProfiles {
    /// The value of a `profile.KIND.…` fact: totals in the clause language's units (CPU
    /// time and waits in ms, memory in bytes, goroutines counted); `None` without data.
    pub fn value(&self, kind: ProfileKind, stat: &ProfileStat) -> Option<f64> {
        let profile = self.window.get(&kind)?;
        let index = sample_index(profile, kind)?;
        let total = profile.total(index);
        match stat {
            ProfileStat::Total => Some(match ballast_contract::profile::total_dim(kind) {
                ballast_contract::expr::Dim::Millis => total as f64 / 1e6,
                _ => total as f64,
            }),
            // A share of nothing is undecided, not 0 %.
            ProfileStat::Share(_) if total <= 0 => None,
            ProfileStat::Share(pattern) => Some(share(profile, index, pattern)),
        }
    }
}

/// The sample type a kind's facts read, by name (Go's and pprof-rs's names), else the
/// profile's default.
pub fn sample_index(profile: &Profile, kind: ProfileKind) -> Option<usize> {
    if profile.sample_types.is_empty() {
        return None;
    }
    Some(
        profile
            .sample_index(kind.sample_type())
            .unwrap_or_else(|| profile.default_sample_index()),
    )
}

/// A capture running in the background.
pub(crate) struct Pending {
    task: JoinHandle<PhaseProfiles>,
}

/// Starts the capture of `plan` after `delay` (the judged part's length minus the window),
/// writing into `dir`.
pub(crate) fn start(plan: &ProfilePlan, dir: PathBuf, delay: Duration) -> Pending {
    let plan = plan.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        capture_phase(&plan, &dir).await
    });
    Pending { task }
}

impl Drop for Pending {
    // A phase that fails stops its capture too: nothing fetches or writes after the run.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pending {
    /// Waits for the capture (it ends shortly after the phase) or gives up when the phase
    /// was cut short: then nothing partial is judged.
    pub(crate) async fn finish(mut self, completed: bool) -> Option<PhaseProfiles> {
        if !completed {
            return None;
        }
        (&mut self.task).await.ok()
    }
}

async fn capture_phase(plan: &ProfilePlan, dir: &Path) -> PhaseProfiles {
    let mut out = PhaseProfiles {
        dir: dir.to_path_buf(),
        ..PhaseProfiles::default()
    };
    let kinds = plan.kinds.clone();
    let config = match url::Url::parse(&plan.url) {
        Ok(url) => CaptureConfig {
            kinds,
            seconds: plan.window.as_secs().max(1),
            client: ballast_http::ClientConfig {
                auth: plan.token.clone().map(ballast_http::Auth::Bearer),
                ..ballast_http::ClientConfig::default()
            },
            ..CaptureConfig::new(url, dir)
        },
        Err(e) => {
            out.errors.push(format!("{}: {e}", plan.url));
            return out;
        }
    };
    let manifest = match config.build() {
        Ok(capture) => capture.run(|_| {}).await,
        Err(e) => Err(e),
    };
    if let Err(e) = manifest {
        out.errors.push(e.to_string());
        return out;
    }
    let loaded = match capture::load_capture(dir) {
        Ok(l) => l,
        Err(e) => {
            out.errors.push(e.to_string());
            return out;
        }
    };
    for entry in &loaded.manifest.entries {
        if let Some(error) = &entry.error {
            out.errors.push(format!("{}: {error}", entry.kind));
        }
    }
    for kind in &plan.kinds {
        let k = *kind;
        let profile = if *kind == ProfileKind::Cpu {
            loaded.get(k, Moment::Window).cloned()
        } else if kind.is_cumulative() {
            match (loaded.get(k, Moment::Start), loaded.get(k, Moment::End)) {
                (Some(start), Some(end)) => Some(ballast_attribution::window_of(start, end)),
                // Without the start the end holds the process's whole life, not the
                // window: nothing to judge (the entry's error is in the notes).
                _ => None,
            }
        } else {
            loaded.get(k, Moment::End).cloned()
        };
        if let Some(p) = profile {
            out.window.insert(*kind, p);
        }
    }
    out
}

/// The report's records of the phases' profiles, in the order the phases ran: a flame
/// graph per kind and, for each kind an earlier phase captured too, a differential flame
/// graph against the first such phase (the baseline). The SVGs are written beside the
/// profiles; a graph that cannot be drawn or written is an error of the record, not of
/// the run.
pub(crate) fn records(
    order: &[String],
    profiles: &BTreeMap<String, PhaseProfiles>,
) -> Vec<crate::report::ProfileRecord> {
    // Runtime frames kept, as people expect of a flame graph; attribution folds its own.
    let options = FoldOptions {
        runtime_frames: RuntimeFrames::Keep,
    };
    let mut baseline: BTreeMap<ProfileKind, (&str, &Profile)> = BTreeMap::new();
    let mut out = Vec::new();
    for phase in order {
        let Some(p) = profiles.get(phase) else {
            continue;
        };
        let mut record = crate::report::ProfileRecord {
            phase: phase.clone(),
            dir: p.dir.display().to_string(),
            kinds: p.window.keys().map(|k| k.name().to_string()).collect(),
            errors: p.errors.clone(),
            graphs: Vec::new(),
        };
        for (kind, profile) in &p.window {
            let Some(index) = sample_index(profile, *kind) else {
                continue;
            };
            let unit = profile.sample_types[index].unit.clone();
            let folded = ballast_attribution::fold(profile, index, &options);
            let mut graphs = vec![(
                format!("{phase}: {kind} ({})", profile.sample_types[index].kind),
                format!("{kind}.flame.svg"),
                ballast_attribution::flame_svg(
                    &folded,
                    &FlameOptions {
                        title: format!("{phase} — {kind}"),
                        count_name: unit.clone(),
                    },
                ),
            )];
            match baseline.get(kind) {
                Some((base, before)) => {
                    let before_folded = sample_index(before, *kind)
                        .map(|i| ballast_attribution::fold(before, i, &options))
                        .unwrap_or_default();
                    graphs.push((
                        format!("{phase} against {base}: {kind} (red grew, blue shrank)"),
                        format!("{kind}.diff-{base}.svg"),
                        ballast_attribution::diff_svg(
                            &before_folded,
                            &folded,
                            &FlameOptions {
                                title: format!("{phase} against {base} — {kind}"),
                                count_name: unit,
                            },
                        ),
                    ));
                }
                None => {
                    baseline.insert(*kind, (phase, profile));
                }
            }
            for (title, file, svg) in graphs {
                let path = p.dir.join(&file);
                match svg.map_err(|e| e.to_string()).and_then(|svg| {
                    std::fs::write(&path, &svg)
                        .map(|_| svg)
                        .map_err(|e| format!("{}: {e}", path.display()))
                }) {
                    Ok(svg) => record.graphs.push(crate::report::GraphRecord {
                        title,
                        file: path.display().to_string(),
                        svg,
                    }),
                    Err(e) => record.errors.push(format!("{title}: {e}")),
                }
            }
        }
        out.push(record);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::profile::{Function, Location, Sample, ValueType};

    fn profile(stacks: &[(&[&str], i64)]) -> Profile {
        let mut p = Profile {
            sample_types: vec![
                ValueType::new("contentions", "count"),
                ValueType::new("delay", "nanoseconds"),
            ],
            ..Profile::default()
        };
        for (stack, value) in stacks {
            let mut locations = Vec::new();
            for name in *stack {
                let f = match p.functions.iter().position(|f| f.name == *name) {
                    Some(f) => f,
                    None => {
                        p.functions.push(Function::named(*name));
                        p.functions.len() - 1
                    }
                };
                p.locations.push(Location::of_function(f as u32));
                locations.push(p.locations.len() as u32 - 1);
            }
            p.samples.push(Sample {
                locations,
                values: vec![1, *value],
                labels: vec![],
            });
        }
        p
    }

    #[test]
    fn the_window_is_end_minus_start_by_stack() {
        let start = profile(&[(&["lock", "a"], 100), (&["lock", "b"], 50)]);
        // A different table order, a stack split over two samples, a new stack.
        let end = profile(&[
            (&["lock", "b"], 80),
            (&["lock", "a"], 100),
            (&["lock", "b"], 20),
            (&["chan", "c"], 7),
        ]);
        let w = ballast_attribution::window_of(&start, &end);
        let by_stack: BTreeMap<Vec<String>, i64> = w
            .samples
            .iter()
            .map(|s| {
                (
                    w.frames(s).map(|f| w.functions[f].name.clone()).collect(),
                    s.values[1],
                )
            })
            .collect();
        assert_eq!(
            by_stack,
            BTreeMap::from([
                (vec!["lock".to_string(), "b".to_string()], 50),
                (vec!["chan".to_string(), "c".to_string()], 7),
            ])
        );
        let phase = PhaseProfiles {
            window: BTreeMap::from([(ProfileKind::Block, w)]),
            ..PhaseProfiles::default()
        };
        assert_eq!(
            phase.value(ProfileKind::Block, &ProfileStat::Total),
            Some(57.0 / 1e6)
        );
        let lock = phase
            .value(ProfileKind::Block, &ProfileStat::Share("lock".into()))
            .unwrap();
        assert!((lock - 50.0 / 57.0).abs() < 1e-12);
        assert_eq!(phase.value(ProfileKind::Mutex, &ProfileStat::Total), None);
    }

    #[test]
    fn a_reset_counter_means_a_restart_and_an_empty_window_is_undecided() {
        // The program restarted within the window: its counters began again at 0.
        let start = profile(&[(&["lock", "a"], 100)]);
        let end = profile(&[(&["lock", "a"], 30)]);
        let w = ballast_attribution::window_of(&start, &end);
        let phase = PhaseProfiles {
            window: BTreeMap::from([(ProfileKind::Mutex, w)]),
            ..PhaseProfiles::default()
        };
        assert_eq!(
            phase.value(ProfileKind::Mutex, &ProfileStat::Total),
            Some(30.0 / 1e6)
        );
        // Nothing happened in the window: a share of nothing is not 0 %.
        let quiet = ballast_attribution::window_of(&start, &start);
        assert!(quiet.samples.is_empty());
        let phase = PhaseProfiles {
            window: BTreeMap::from([(ProfileKind::Mutex, quiet)]),
            ..PhaseProfiles::default()
        };
        assert_eq!(
            phase.value(ProfileKind::Mutex, &ProfileStat::Share("lock".into())),
            None
        );
        assert_eq!(
            phase.value(ProfileKind::Mutex, &ProfileStat::Total),
            Some(0.0)
        );
    }
}

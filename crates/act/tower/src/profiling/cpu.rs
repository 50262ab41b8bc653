//! The CPU profile: pprof-rs samples every thread on `SIGPROF` and unwinds with backtrace-rs
//! (DWARF call frame information through libgcc's unwinder; why not frame pointers: the
//! module docs), then this file turns its report into ballast-core's profile model, which
//! `ballast_profile::encode` writes as pprof protobuf.

use ballast_core::profile::{Function, Label, Line, Location, Profile, Sample, ValueType};
use std::collections::HashMap;

/// Libraries whose code a sample is not unwound from (pprof-rs's blocklist): unwinding from
/// inside the unwinder or the loader's locks can deadlock the signal handler.
pub(super) const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// Function-name prefixes of the frames the profiler itself puts at the leaf end of every
/// stack (the unwinder called from pprof-rs's signal handler). pprof-rs drops the handler and
/// the signal trampoline; what was called from the handler stays, so it is cut here.
const PROFILER_FRAMES: &[&str] = &[
    "backtrace::",
    "<backtrace::",
    "pprof::",
    "<pprof::",
    "_Unwind_",
    "__restore_rt",
    "perf_signal_handler",
];

fn is_profiler_frame(name: &str) -> bool {
    PROFILER_FRAMES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// A table index as the model keeps it (`u32`; a profile with more than 4 billion entries
/// is not something one process's report can hold).
fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// pprof-rs's report as a profile with Go's CPU sample types (`samples`/`count`,
/// `cpu`/`nanoseconds`), one location per distinct frame (its inlined functions as lines,
/// innermost first), the thread's name as label `thread`, the profiler's own leaf frames cut.
pub(super) fn to_profile(report: &pprof::Report) -> Profile {
    let mut profile = Profile {
        sample_types: vec![
            ValueType::new("samples", "count"),
            ValueType::new("cpu", "nanoseconds"),
        ],
        period_type: Some(ValueType::new("cpu", "nanoseconds")),
        // The labels' string table: index 0 is "", as pprof requires.
        strings: vec![String::new(), "thread".into()],
        ..Profile::default()
    };
    let thread_key = 1;
    let mut strings: HashMap<String, u32> = HashMap::new();
    let mut functions: HashMap<(String, String, String), u32> = HashMap::new();
    let mut locations: HashMap<Vec<(u32, i64)>, u32> = HashMap::new();
    let frequency = i64::from(report.timing.frequency.max(1));
    let period = 1_000_000_000 / frequency;
    profile.samples.reserve(report.data.len());

    for (frames, count) in &report.data {
        let leaf = frames
            .frames
            .iter()
            .position(|frame| !frame.iter().all(|symbol| is_profiler_frame(&symbol.name())))
            .unwrap_or(frames.frames.len());
        let mut sample_locations = Vec::with_capacity(frames.frames.len() - leaf);
        for frame in &frames.frames[leaf..] {
            let mut lines = Vec::with_capacity(frame.len());
            for symbol in frame {
                let key = (
                    symbol.name(),
                    symbol.sys_name().into_owned(),
                    symbol.filename().into_owned(),
                );
                let function = match functions.get(&key) {
                    Some(function) => *function,
                    None => {
                        let function = index(profile.functions.len());
                        profile.functions.push(Function {
                            name: key.0.clone(),
                            system_name: key.1.clone(),
                            filename: key.2.clone(),
                            start_line: 0,
                        });
                        functions.insert(key, function);
                        function
                    }
                };
                lines.push((function, i64::from(symbol.lineno())));
            }
            let location = match locations.get(&lines) {
                Some(location) => *location,
                None => {
                    let location = index(profile.locations.len());
                    profile.locations.push(Location {
                        lines: lines
                            .iter()
                            .map(|&(function, line)| Line {
                                function,
                                line,
                                column: 0,
                            })
                            .collect(),
                        ..Location::default()
                    });
                    locations.insert(lines, location);
                    location
                }
            };
            sample_locations.push(location);
        }
        let thread = frames.thread_name_or_id();
        let text = match strings.get(&thread) {
            Some(text) => *text,
            None => {
                let text = index(profile.strings.len());
                profile.strings.push(thread.clone());
                strings.insert(thread, text);
                text
            }
        };
        let count = *count as i64;
        profile.samples.push(Sample {
            locations: sample_locations,
            values: vec![count, count.saturating_mul(period)],
            labels: vec![Label {
                key: thread_key,
                text,
                ..Label::default()
            }],
        });
    }

    profile.period = period;
    profile.time_nanos = report
        .timing
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    profile.duration_nanos = i64::try_from(report.timing.duration.as_nanos()).unwrap_or(i64::MAX);
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiler_frames_are_recognised_by_prefix() {
        assert!(is_profiler_frame(
            "backtrace::backtrace::libunwind::trace::trace_fn"
        ));
        assert!(is_profiler_frame("pprof::profiler::perf_signal_handler"));
        assert!(is_profiler_frame("_Unwind_Backtrace"));
        assert!(!is_profiler_frame("my_service::backtrace_parser"));
        assert!(!is_profiler_frame("std::thread::sleep"));
    }

    #[test]
    fn an_empty_report_is_a_valid_profile() {
        // pprof-rs does not export its timing type's name; its fields are public.
        let mut report = pprof::Report {
            data: HashMap::new(),
            timing: Default::default(),
        };
        report.timing.frequency = 100;
        report.timing.duration = std::time::Duration::from_secs(2);
        let profile = to_profile(&report);
        assert_eq!(profile.strings[0], "");
        let decoded = ballast_profile::decode(&ballast_profile::encode(&profile)).unwrap();
        assert_eq!(decoded.period, 10_000_000);
        assert_eq!(decoded.duration_nanos, 2_000_000_000);
        assert_eq!(
            decoded.period_type,
            Some(ValueType::new("cpu", "nanoseconds"))
        );
        let types: Vec<_> = decoded
            .sample_types
            .iter()
            .map(|t| (t.kind.as_str(), t.unit.as_str()))
            .collect();
        assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    }
}

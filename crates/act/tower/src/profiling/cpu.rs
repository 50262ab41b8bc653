//! The CPU profile: pprof-rs samples every thread on `SIGPROF` and unwinds with backtrace-rs
//! (DWARF call frame information through libgcc's unwinder; why not frame pointers: the
//! module docs), then this file turns its report into pprof protobuf.

use super::proto;
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

/// Interns strings: index 0 is `""`, as pprof requires.
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Strings {
        let mut strings = Strings::default();
        strings.get("");
        strings
    }

    fn get(&mut self, s: &str) -> i64 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// pprof-rs's report as a pprof profile with Go's CPU sample types (`samples`/`count`,
/// `cpu`/`nanoseconds`), one location per distinct frame (its inlined functions as lines,
/// innermost first), the thread's name as label `thread`, the profiler's own leaf frames cut.
pub(super) fn encode(report: &pprof::Report) -> proto::Profile {
    let mut strings = Strings::new();
    let mut functions: HashMap<(String, String, String), u64> = HashMap::new();
    let mut function_table: Vec<proto::Function> = Vec::new();
    let mut locations: HashMap<Vec<(u64, i64)>, u64> = HashMap::new();
    let mut location_table: Vec<proto::Location> = Vec::new();
    let frequency = i64::from(report.timing.frequency.max(1));
    let period = 1_000_000_000 / frequency;
    let thread_key = strings.get("thread");
    let mut samples = Vec::with_capacity(report.data.len());

    for (frames, count) in &report.data {
        let leaf = frames
            .frames
            .iter()
            .position(|frame| !frame.iter().all(|symbol| is_profiler_frame(&symbol.name())))
            .unwrap_or(frames.frames.len());
        let mut location_ids = Vec::with_capacity(frames.frames.len() - leaf);
        for frame in &frames.frames[leaf..] {
            let mut lines = Vec::with_capacity(frame.len());
            for symbol in frame {
                let key = (
                    symbol.name(),
                    symbol.sys_name().into_owned(),
                    symbol.filename().into_owned(),
                );
                let id = match functions.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = function_table.len() as u64 + 1;
                        function_table.push(proto::Function {
                            id,
                            name: strings.get(&key.0),
                            system_name: strings.get(&key.1),
                            filename: strings.get(&key.2),
                            start_line: 0,
                        });
                        functions.insert(key, id);
                        id
                    }
                };
                lines.push((id, i64::from(symbol.lineno())));
            }
            let id = match locations.get(&lines) {
                Some(id) => *id,
                None => {
                    let id = location_table.len() as u64 + 1;
                    location_table.push(proto::Location {
                        id,
                        mapping_id: 0,
                        address: 0,
                        line: lines
                            .iter()
                            .map(|(function_id, line)| proto::Line {
                                function_id: *function_id,
                                line: *line,
                                column: 0,
                            })
                            .collect(),
                        is_folded: false,
                    });
                    locations.insert(lines, id);
                    id
                }
            };
            location_ids.push(id);
        }
        let count = *count as i64;
        samples.push(proto::Sample {
            location_id: location_ids,
            value: vec![count, count.saturating_mul(period)],
            label: vec![proto::Label {
                key: thread_key,
                str: strings.get(&frames.thread_name_or_id()),
                num: 0,
                num_unit: 0,
            }],
        });
    }

    let samples_type = proto::ValueType {
        r#type: strings.get("samples"),
        unit: strings.get("count"),
    };
    let cpu_type = proto::ValueType {
        r#type: strings.get("cpu"),
        unit: strings.get("nanoseconds"),
    };
    let time_nanos = report
        .timing
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    proto::Profile {
        sample_type: vec![samples_type, cpu_type],
        sample: samples,
        mapping: Vec::new(),
        location: location_table,
        function: function_table,
        string_table: strings.table,
        drop_frames: 0,
        keep_frames: 0,
        time_nanos,
        duration_nanos: i64::try_from(report.timing.duration.as_nanos()).unwrap_or(i64::MAX),
        period_type: Some(cpu_type),
        period,
        comment: Vec::new(),
        default_sample_type: 0,
    }
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
        let profile = encode(&report);
        assert_eq!(profile.string_table[0], "");
        assert_eq!(profile.period, 10_000_000);
        assert_eq!(profile.duration_nanos, 2_000_000_000);
        let types: Vec<_> = profile
            .sample_type
            .iter()
            .map(|t| (profile.string(t.r#type), profile.string(t.unit)))
            .collect();
        assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    }
}

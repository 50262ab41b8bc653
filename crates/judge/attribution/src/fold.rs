//! Collapsed stacks and the table of runtime frames.
//!
//! A stack is written root first, `main.main;main.serve;main.hot`, the format Brendan
//! Gregg's flame graph tools (and inferno) read. Folding runtime frames
//! ([`RuntimeFrames::Fold`]) follows one rule: **a runtime frame is charged to the nearest
//! caller that is not runtime**, so `main.alloc;runtime.newobject;runtime.mallocgc`
//! becomes `main.alloc` and `runtime.goexit;main.worker` becomes `main.worker`. A stack of
//! runtime frames only (the scheduler, a GC worker) has no such caller; it is kept as its
//! outermost frame that is not an entry trampoline (`runtime.goexit`, `runtime.mstart`,
//! `_start`, ...), e.g. `runtime.mcall` or `runtime.gcBgMarkWorker`, so it stays visible
//! as one named block instead of being dropped.

use ballast_core::profile::Profile;
use std::collections::BTreeMap;

/// How [`fold`] treats runtime frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeFrames {
    /// Every frame as the profile has it.
    #[default]
    Keep,
    /// Runtime frames charged to their nearest non-runtime caller (the module's rule).
    Fold,
}

/// The options of [`fold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FoldOptions {
    /// Keep or fold runtime frames.
    pub runtime_frames: RuntimeFrames,
}

/// One entry of [`RUNTIME_FRAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeFrame {
    /// A name prefix (raw: `runtime.` matches `runtime.mallocgc`), or the whole name when
    /// `exact`.
    pub pattern: &'static str,
    /// The pattern is a whole function name.
    pub exact: bool,
    /// An entry trampoline (where every thread or goroutine starts): never the name kept
    /// for an all-runtime stack when another frame can be.
    pub entry: bool,
    /// Whose frames these are.
    pub what: &'static str,
}

const fn prefix(pattern: &'static str, what: &'static str) -> RuntimeFrame {
    RuntimeFrame {
        pattern,
        exact: false,
        entry: false,
        what,
    }
}

const fn entry(pattern: &'static str, what: &'static str) -> RuntimeFrame {
    RuntimeFrame {
        pattern,
        exact: true,
        entry: true,
        what,
    }
}

/// The frames [`RuntimeFrames::Fold`] treats as runtime, Go's and Rust's. Rust names are
/// matched with a leading `<` removed, so `<tokio::runtime::task::...>::poll` is
/// tokio's.
pub const RUNTIME_FRAMES: &[RuntimeFrame] = &[
    entry("runtime.goexit", "Go: every goroutine's outermost frame"),
    entry("runtime.main", "Go: calls main.main"),
    entry("runtime.mstart", "Go: every thread's outermost frame"),
    entry("runtime.mstart0", "Go: thread start"),
    entry("runtime.mstart1", "Go: thread start"),
    entry("runtime.rt0_go", "Go: process start"),
    prefix(
        "runtime.",
        "Go: the runtime (scheduler, GC, allocator, channels)",
    ),
    prefix("runtime/internal/", "Go: the runtime's internal packages"),
    prefix(
        "internal/runtime/",
        "Go: the runtime's internal packages (Go 1.23+)",
    ),
    entry("_start", "the process entry point"),
    entry("__libc_start_main", "libc: calls main"),
    entry("__libc_start_call_main", "libc: calls main"),
    entry("main", "C's main, which calls Rust's"),
    entry("start_thread", "libc: every thread's outermost frame"),
    entry("clone", "Linux: thread creation"),
    entry("clone3", "Linux: thread creation"),
    entry("__clone", "Linux: thread creation"),
    prefix("std::rt::", "Rust: the standard library's start-up"),
    prefix(
        "std::sys::",
        "Rust: platform glue (thread start, short backtraces)",
    ),
    prefix(
        "std::sys_common::",
        "Rust: platform glue (older toolchains)",
    ),
    prefix(
        "std::panicking::",
        "Rust: catch_unwind around every thread and task",
    ),
    prefix("std::panic::", "Rust: catch_unwind"),
    prefix("core::ops::function::", "Rust: closure call shims"),
    prefix("core::pin::", "Rust: Pin's Future forwarding"),
    prefix("core::future::", "Rust: Future forwarding"),
    prefix("tokio::runtime::", "tokio: the scheduler and task harness"),
    prefix("tokio::task::", "tokio: task entry points"),
    prefix("tokio::loom::", "tokio: its synchronisation shims"),
];

fn runtime_entry(name: &str) -> Option<&'static RuntimeFrame> {
    let trimmed = name.trim_start_matches('<');
    RUNTIME_FRAMES.iter().find(|r| {
        if r.exact {
            name == r.pattern
        } else {
            trimmed.starts_with(r.pattern)
        }
    })
}

/// Whether a function name is a runtime frame by [`RUNTIME_FRAMES`].
pub fn is_runtime_frame(name: &str) -> bool {
    runtime_entry(name).is_some()
}

/// Whether the function `name` matches `pattern`: it starts with the pattern and the next
/// character, if any, is not part of an identifier ([A-Za-z0-9_]). So `encoding/json`
/// matches `encoding/json.Marshal` and `main.hot` does not match `main.hotLoop`.
pub fn frame_matches(name: &str, pattern: &str) -> bool {
    match name.strip_prefix(pattern) {
        Some(rest) => !rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'),
        None => false,
    }
}

/// The function names of a sample's stack, root first, with [`FoldOptions`] applied.
pub(crate) fn stack_names<'p>(
    profile: &'p Profile,
    sample: &'p ballast_core::profile::Sample,
    options: &FoldOptions,
) -> Vec<&'p str> {
    let mut names: Vec<&str> = profile
        .frames(sample)
        .map(|f| profile.functions[f].name.as_str())
        .collect();
    names.reverse();
    fold_names(names, options)
}

/// A root-first stack with [`FoldOptions`] applied (the module's rule).
pub(crate) fn fold_names<'n>(names: Vec<&'n str>, options: &FoldOptions) -> Vec<&'n str> {
    if options.runtime_frames == RuntimeFrames::Keep || names.is_empty() {
        return names;
    }
    let user: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !is_runtime_frame(n))
        .collect();
    if !user.is_empty() {
        return user;
    }
    let kept = names
        .iter()
        .copied()
        .find(|n| !runtime_entry(n).is_some_and(|r| r.entry))
        .unwrap_or(names[0]);
    vec![kept]
}

/// A frame name as the folded format can carry it: `;` separates frames there.
pub(crate) fn folded_name(name: &str) -> String {
    name.replace(';', ",")
}

/// The profile's stacks for one sample type, collapsed root first (`a;b;c`), equal stacks
/// merged, sorted by stack. Samples whose value is 0 and stacks without symbols are left
/// out.
pub fn fold(profile: &Profile, sample_index: usize, options: &FoldOptions) -> Vec<(String, i64)> {
    let mut stacks: BTreeMap<String, i64> = BTreeMap::new();
    for sample in &profile.samples {
        let value = sample.values.get(sample_index).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        let names = stack_names(profile, sample, options);
        if names.is_empty() {
            continue;
        }
        let key = names
            .iter()
            .map(|n| folded_name(n))
            .collect::<Vec<_>>()
            .join(";");
        let slot = stacks.entry(key).or_insert(0);
        *slot = slot.saturating_add(value);
    }
    stacks.into_iter().filter(|(_, v)| *v != 0).collect()
}

/// The share (0..=1) of the sample type's total in samples with at least one frame that
/// matches `pattern` by [`frame_matches`]. 0 when the total is not positive.
pub fn share(profile: &Profile, sample_index: usize, pattern: &str) -> f64 {
    let mut matched = 0i64;
    let mut total = 0i64;
    for sample in &profile.samples {
        let value = sample.values.get(sample_index).copied().unwrap_or(0);
        total = total.saturating_add(value);
        if profile
            .frames(sample)
            .any(|f| frame_matches(&profile.functions[f].name, pattern))
        {
            matched = matched.saturating_add(value);
        }
    }
    if total <= 0 {
        0.0
    } else {
        matched as f64 / total as f64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ballast_core::profile::{Function, Location, Sample, ValueType};

    /// A one-type profile from stacks written leaf first, as pprof stores them.
    pub(crate) fn profile(stacks: &[(&[&str], i64)]) -> Profile {
        let mut p = Profile {
            sample_types: vec![ValueType::new("cpu", "nanoseconds")],
            ..Profile::default()
        };
        for (stack, value) in stacks {
            let mut locations = Vec::new();
            for name in stack.iter() {
                let f = match p.functions.iter().position(|f| f.name == *name) {
                    Some(f) => f,
                    None => {
                        p.functions.push(Function::named(*name));
                        p.locations
                            .push(Location::of_function((p.functions.len() - 1) as u32));
                        p.functions.len() - 1
                    }
                };
                locations.push(f as u32);
            }
            p.samples.push(Sample {
                locations,
                values: vec![*value],
                labels: vec![],
            });
        }
        p
    }

    fn folded(p: &Profile, mode: RuntimeFrames) -> Vec<(String, i64)> {
        fold(
            p,
            0,
            &FoldOptions {
                runtime_frames: mode,
            },
        )
    }

    #[test]
    fn stacks_are_root_first_and_equal_stacks_merge() {
        let p = profile(&[
            (&["main.hot", "main.main"], 3),
            (&["main.hot", "main.main"], 4),
            (&["main.cold", "main.main"], 0),
        ]);
        assert_eq!(
            folded(&p, RuntimeFrames::Keep),
            [("main.main;main.hot".to_string(), 7)]
        );
    }

    #[test]
    fn runtime_frames_fold_into_the_nearest_user_caller() {
        let p = profile(&[
            (
                &[
                    "runtime.mallocgc",
                    "runtime.newobject",
                    "main.alloc",
                    "main.main",
                    "runtime.main",
                    "runtime.goexit",
                ],
                5,
            ),
            (&["runtime.chanrecv1", "main.worker", "runtime.goexit"], 2),
            (
                &[
                    "runtime.findrunnable",
                    "runtime.schedule",
                    "runtime.park_m",
                    "runtime.mcall",
                ],
                9,
            ),
            (
                &[
                    "runtime.gcDrain",
                    "runtime.gcBgMarkWorker",
                    "runtime.goexit",
                ],
                1,
            ),
            (&["runtime.goexit"], 1),
        ]);
        assert_eq!(
            folded(&p, RuntimeFrames::Fold),
            [
                ("main.main;main.alloc".to_string(), 5),
                ("main.worker".to_string(), 2),
                ("runtime.gcBgMarkWorker".to_string(), 1),
                ("runtime.goexit".to_string(), 1),
                ("runtime.mcall".to_string(), 9),
            ]
        );
        assert_eq!(folded(&p, RuntimeFrames::Keep).len(), 5);
    }

    #[test]
    fn rust_runtime_frames_fold_too() {
        let p = profile(&[(
            &[
                "app::hot",
                "<core::pin::Pin<P> as core::future::future::Future>::poll",
                "tokio::runtime::task::harness::poll",
                "app::serve",
                "std::sys::pal::unix::thread::Thread::new::thread_start",
                "start_thread",
            ],
            4,
        )]);
        assert_eq!(
            folded(&p, RuntimeFrames::Fold),
            [("app::serve;app::hot".to_string(), 4)]
        );
    }

    #[test]
    fn semicolons_in_names_do_not_split_frames() {
        let p = profile(&[(&["<[u8; 4] as app::Tr>::f"], 1)]);
        assert_eq!(
            folded(&p, RuntimeFrames::Keep)[0].0,
            "<[u8, 4] as app::Tr>::f"
        );
    }

    #[test]
    fn patterns_match_at_identifier_boundaries() {
        assert!(frame_matches("encoding/json.Marshal", "encoding/json"));
        assert!(frame_matches("main.hot", "main.hot"));
        assert!(frame_matches("main.hot.func1", "main.hot"));
        assert!(!frame_matches("main.hotLoop", "main.hot"));
        assert!(!frame_matches("main.hot_loop", "main.hot"));
        assert!(!frame_matches("xmain.hot", "main.hot"));
    }

    #[test]
    fn share_counts_each_sample_once() {
        let p = profile(&[
            (
                &[
                    "encoding/json.Marshal",
                    "encoding/json.(*encodeState).marshal",
                    "main.bg",
                ],
                1,
            ),
            (&["main.hotLoop"], 3),
        ]);
        assert_eq!(share(&p, 0, "encoding/json"), 0.25);
        assert_eq!(share(&p, 0, "main.hot"), 0.0);
        assert_eq!(share(&Profile::default(), 0, "x"), 0.0);
    }
}

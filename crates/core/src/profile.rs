//! Profiles as every engine sees them, whatever format they came in.
//!
//! The sense layer reads pprof `profile.proto` and Go's `goroutine?debug=2` text into these
//! types; judges (top, flame graphs, diffs, attribution) read only these. The shape follows
//! pprof's published schema so nothing it can say is lost: every sample type, inlined
//! functions (a [`Location`] with several [`Line`]s), labels, mappings and comments. Tables
//! refer to each other by index, so a 50 MB profile does not hold a string per sample.
//!
//! ```
//! use ballast_core::profile::{Function, Line, Location, Profile, Sample, ValueType};
//!
//! let mut p = Profile::default();
//! p.sample_types = vec![ValueType::new("samples", "count"), ValueType::new("cpu", "nanoseconds")];
//! p.functions.push(Function::named("main.hot"));
//! p.functions.push(Function::named("main.main"));
//! p.locations.push(Location::of_function(0));
//! p.locations.push(Location::of_function(1));
//! p.samples.push(Sample { locations: vec![0, 1], values: vec![3, 30_000_000], labels: vec![] });
//! assert_eq!(p.default_sample_index(), 1); // pprof's default: the last type
//! let names: Vec<&str> = p.frames(&p.samples[0]).map(|f| p.functions[f].name.as_str()).collect();
//! assert_eq!(names, ["main.hot", "main.main"]);
//! ```

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A kind of profile, as Go's `net/http/pprof` serves them (and `ballast-tower` for Rust).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// CPU samples over a window (`/debug/pprof/profile?seconds=N`).
    Cpu,
    /// Live heap objects at the last GC, and allocations since start (`heap`).
    Heap,
    /// The same data as `heap`, shown as allocations by default (`allocs`).
    Allocs,
    /// Every goroutine's stack (`goroutine`).
    Goroutine,
    /// Time spent blocked on channels, selects and locks (`block`; needs
    /// `runtime.SetBlockProfileRate`).
    Block,
    /// Time goroutines waited on mutexes others held (`mutex`; needs
    /// `runtime.SetMutexProfileFraction`).
    Mutex,
}

impl Kind {
    /// Every kind, in capture order.
    pub const ALL: [Kind; 6] = [
        Kind::Cpu,
        Kind::Heap,
        Kind::Allocs,
        Kind::Goroutine,
        Kind::Block,
        Kind::Mutex,
    ];

    /// Its name on the command line, in contracts and in files (`cpu`, `heap` …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu",
            Kind::Heap => "heap",
            Kind::Allocs => "allocs",
            Kind::Goroutine => "goroutine",
            Kind::Block => "block",
            Kind::Mutex => "mutex",
        }
    }

    /// Its endpoint under `/debug/pprof/` (`profile` for the CPU).
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Cpu => "profile",
            other => other.name(),
        }
    }

    /// The sample type its whole value is read from (pprof's name of the value).
    pub fn sample_type(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu",
            Kind::Heap => "inuse_space",
            Kind::Allocs => "alloc_space",
            Kind::Goroutine => "goroutine",
            Kind::Block | Kind::Mutex => "delay",
        }
    }

    /// Whether the endpoint counts from the program's start, so that a window is the end
    /// capture minus the start one.
    pub fn is_cumulative(self) -> bool {
        matches!(self, Kind::Allocs | Kind::Block | Kind::Mutex)
    }

    /// The names [`FromStr`](std::str::FromStr) reads, for messages.
    pub fn names() -> String {
        Kind::ALL.map(Kind::name).join(", ")
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    /// A kind's name, or its endpoint's (`profile`; `goroutines` also reads).
    fn from_str(text: &str) -> Result<Kind, String> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "profile" => return Ok(Kind::Cpu),
            "goroutines" => return Ok(Kind::Goroutine),
            _ => {}
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| {
                format!(
                    "unknown profile kind {text:?}; expected one of {}",
                    Kind::names()
                )
            })
    }
}

/// What one value of a sample measures: `cpu`/`nanoseconds`, `inuse_space`/`bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValueType {
    /// The quantity (`samples`, `cpu`, `alloc_space`, `contentions`, `delay`, `goroutine`).
    pub kind: String,
    /// Its unit (`count`, `nanoseconds`, `bytes`).
    pub unit: String,
}

impl ValueType {
    /// A value type from its two names.
    pub fn new(kind: impl Into<String>, unit: impl Into<String>) -> Self {
        ValueType {
            kind: kind.into(),
            unit: unit.into(),
        }
    }
}

/// A label on a sample; `key`, `text` and `unit` index [`Profile::strings`] (0 is "").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Label {
    /// The label's name.
    pub key: u32,
    /// A string value, or 0.
    pub text: u32,
    /// A numeric value (when `text` is 0).
    pub number: i64,
    /// The numeric value's unit, or 0.
    pub unit: u32,
}

/// One stack and its values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Indexes into [`Profile::locations`], the leaf (where the sample was taken) first.
    pub locations: Vec<u32>,
    /// One value per [`Profile::sample_types`].
    pub values: Vec<i64>,
    /// Labels (Go's pprof labels, `bytes` on heap samples, goroutine ids...).
    pub labels: Vec<Label>,
}

/// One source line of a location; `function` indexes [`Profile::functions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Line {
    /// The function.
    pub function: u32,
    /// The line number, 0 when unknown.
    pub line: i64,
    /// The column, 0 when unknown.
    pub column: i64,
}

/// A program address and the functions at it. When the compiler inlined calls there,
/// `lines` holds each of them, the innermost (the inlined callee) first — pprof's order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    /// The instruction address, 0 when unknown.
    pub address: u64,
    /// Index into [`Profile::mappings`], if the location has a mapping.
    pub mapping: Option<u32>,
    /// Functions at this address, innermost first; empty when unsymbolised.
    pub lines: Vec<Line>,
    /// The location stands for several folded frames (pprof's `is_folded`).
    pub is_folded: bool,
}

impl Location {
    /// A location that is one call of one function, nothing inlined.
    pub fn of_function(function: u32) -> Self {
        Location {
            lines: vec![Line {
                function,
                ..Line::default()
            }],
            ..Location::default()
        }
    }
}

/// A function of the profiled program.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Function {
    /// Its name as people read it (`net/http.(*conn).serve`).
    pub name: String,
    /// Its name as the linker knows it (often the same).
    pub system_name: String,
    /// The source file.
    pub filename: String,
    /// The line it starts at, 0 when unknown.
    pub start_line: i64,
}

impl Function {
    /// A function known only by name.
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        Function {
            system_name: name.clone(),
            name,
            ..Function::default()
        }
    }
}

/// A binary or library mapped into the profiled process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mapping {
    /// First address of the mapping.
    pub start: u64,
    /// One past its last address.
    pub limit: u64,
    /// Offset of `start` in the file.
    pub file_offset: u64,
    /// The file's path.
    pub filename: String,
    /// Its build id.
    pub build_id: String,
    /// Whether function names were resolved for its addresses.
    pub has_functions: bool,
    /// Whether file names were.
    pub has_filenames: bool,
    /// Whether line numbers were.
    pub has_line_numbers: bool,
    /// Whether inlined calls were expanded.
    pub has_inline_frames: bool,
}

/// A profile: pprof's `Profile` message, with its string table kept only for labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// What each sample's values measure, in order.
    pub sample_types: Vec<ValueType>,
    /// The sample type a reader shows by default (`alloc_space` for Go's allocs profile);
    /// `None` means the last one, as pprof does.
    pub default_sample_type: Option<String>,
    /// The samples.
    pub samples: Vec<Sample>,
    /// Addresses and the functions at them.
    pub locations: Vec<Location>,
    /// Functions.
    pub functions: Vec<Function>,
    /// Mapped binaries.
    pub mappings: Vec<Mapping>,
    /// The string table labels refer to; entry 0 is "".
    pub strings: Vec<String>,
    /// What one sampling period measures (`cpu`/`nanoseconds`).
    pub period_type: Option<ValueType>,
    /// The sampling period (10,000,000 ns for Go's 100 Hz CPU profile).
    pub period: i64,
    /// When the profile was taken, nanoseconds since the epoch; 0 when unknown.
    pub time_nanos: i64,
    /// How long it covers, nanoseconds; 0 when unknown.
    pub duration_nanos: i64,
    /// Free-form notes the producer attached.
    pub comments: Vec<String>,
    /// Frames a reader should drop (a regular expression), if any.
    pub drop_frames: Option<String>,
    /// Frames a reader should keep despite `drop_frames`, if any.
    pub keep_frames: Option<String>,
    /// Where the profile's sample types are documented, if the producer said.
    pub doc_url: Option<String>,
}

impl Profile {
    /// The index of the sample type named `kind`, if there is one.
    pub fn sample_index(&self, kind: &str) -> Option<usize> {
        self.sample_types.iter().position(|t| t.kind == kind)
    }

    /// The sample type a reader shows by default: `default_sample_type` when it names one,
    /// else the last (pprof's rule). 0 for a profile without sample types.
    pub fn default_sample_index(&self) -> usize {
        self.default_sample_type
            .as_deref()
            .and_then(|kind| self.sample_index(kind))
            .unwrap_or_else(|| self.sample_types.len().saturating_sub(1))
    }

    /// The sum of one value over every sample.
    pub fn total(&self, index: usize) -> i64 {
        self.samples
            .iter()
            .map(|s| s.values.get(index).copied().unwrap_or(0))
            .fold(0i64, i64::saturating_add)
    }

    /// A string of the table, "" when the index is out of range.
    pub fn string(&self, index: u32) -> &str {
        self.strings
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The functions of a sample's stack, leaf first, inlined calls expanded (the frames
    /// pprof shows). Locations without symbols are skipped.
    pub fn frames<'a>(&'a self, sample: &'a Sample) -> impl Iterator<Item = usize> + 'a {
        sample
            .locations
            .iter()
            .filter_map(|&l| self.locations.get(l as usize))
            .flat_map(|l| l.lines.iter().map(|line| line.function as usize))
            .filter(|&f| f < self.functions.len())
    }

    /// The label values of a sample named `key` (string ones), e.g. Go's pprof labels.
    pub fn label_texts<'a>(
        &'a self,
        sample: &'a Sample,
        key: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        sample
            .labels
            .iter()
            .filter(move |l| self.string(l.key) == key && l.text != 0)
            .map(|l| self.string(l.text))
    }
}

/// One frame of a goroutine's stack in a text dump.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StackFrame {
    /// The function (`main.worker`, `sync.(*Mutex).Lock`).
    pub function: String,
    /// Its source file.
    pub file: String,
    /// The line, 0 when the dump did not say.
    pub line: u32,
}

/// One goroutine of Go's `/debug/pprof/goroutine?debug=2` dump.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Goroutine {
    /// Its id.
    pub id: u64,
    /// Its state or wait reason as printed (`running`, `chan receive`, `sync.Mutex.Lock`,
    /// `IO wait`, `select`, `sleep`).
    pub state: String,
    /// How long it has waited, when the runtime printed it (whole minutes in Go's dump).
    pub waiting: Option<Duration>,
    /// Whether it is locked to an OS thread.
    pub locked_to_thread: bool,
    /// Its stack, the innermost call first.
    pub frames: Vec<StackFrame>,
    /// The `go` statement that started it, if printed.
    pub created_by: Option<StackFrame>,
}

/// A whole goroutine dump.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GoroutineDump {
    /// The goroutines, in the dump's order.
    pub goroutines: Vec<Goroutine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_profile() -> Profile {
        let mut p = Profile {
            sample_types: vec![
                ValueType::new("alloc_space", "bytes"),
                ValueType::new("inuse_space", "bytes"),
            ],
            strings: vec![
                "".into(),
                "bytes".into(),
                "request".into(),
                "checkout".into(),
            ],
            ..Profile::default()
        };
        p.functions = vec![
            Function::named("runtime.mallocgc"),
            Function::named("main.alloc"),
            Function::named("main.main"),
        ];
        p.locations = vec![
            // main.alloc inlined into main.main at one address, innermost first.
            Location {
                lines: vec![
                    Line {
                        function: 0,
                        line: 1,
                        column: 5,
                    },
                    Line {
                        function: 1,
                        line: 2,
                        column: 0,
                    },
                ],
                ..Location::default()
            },
            Location::of_function(2),
            Location::default(),
        ];
        p.samples = vec![
            Sample {
                locations: vec![0, 2, 1],
                values: vec![100, 40],
                labels: vec![Label {
                    key: 2,
                    text: 3,
                    ..Label::default()
                }],
            },
            Sample {
                locations: vec![1],
                values: vec![i64::MAX, 2],
                labels: vec![],
            },
        ];
        p
    }

    #[test]
    fn frames_expand_inlined_calls_and_skip_unsymbolised_locations() {
        let p = sample_profile();
        let frames: Vec<usize> = p.frames(&p.samples[0]).collect();
        assert_eq!(frames, [0, 1, 2]);
    }

    #[test]
    fn the_default_type_is_the_named_one_else_the_last() {
        let mut p = sample_profile();
        assert_eq!(p.default_sample_index(), 1);
        p.default_sample_type = Some("alloc_space".into());
        assert_eq!(p.default_sample_index(), 0);
        p.default_sample_type = Some("nonesuch".into());
        assert_eq!(p.default_sample_index(), 1);
        assert_eq!(Profile::default().default_sample_index(), 0);
    }

    #[test]
    fn totals_saturate_and_labels_read_back() {
        let p = sample_profile();
        assert_eq!(p.total(0), i64::MAX);
        assert_eq!(p.total(1), 42);
        assert_eq!(p.total(9), 0);
        let labels: Vec<&str> = p.label_texts(&p.samples[0], "request").collect();
        assert_eq!(labels, ["checkout"]);
        assert_eq!(p.string(99), "");
    }
}

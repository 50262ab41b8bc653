//! ballast's profile judge: what a set of profiles says about where time, memory and
//! waiting go, and which cause of instability that points to.
//!
//! Everything here reads the neutral model of [`ballast_core::profile`] and does no I/O:
//!
//! - [`top`]: the function table of `go tool pprof -top`, value for value.
//! - [`fold`]: collapsed stacks (`a;b;c 42`), runtime frames optionally folded into their
//!   caller by a documented table ([`RUNTIME_FRAMES`]); [`share`]: one pattern's share.
//! - [`flame_svg`], [`diff_svg`] and [`diff_svg_before`]: flame graphs through `inferno`; [`diff`]: the
//!   functions that moved most between two profiles, normalised when totals differ.
//! - [`RuleSet`]: the attribution rules as data (built-in YAML, user files in the same
//!   format); [`attribute`] applies them to a [`CaptureView`] and returns an
//!   [`Attribution`] whose findings name a cause with evidence; [`report_html`] renders
//!   it beside the flame graphs.
//! - [`HeapGrowth`]: the pure detector that says when a heap kept growing.
//!
//! ```
//! use ballast_attribution::{fold, share, top, FoldOptions, RuntimeFrames};
//! use ballast_core::profile::{Function, Location, Profile, Sample, ValueType};
//!
//! let mut p = Profile::default();
//! p.sample_types = vec![ValueType::new("cpu", "nanoseconds")];
//! for name in ["runtime.mallocgc", "main.hot", "main.main"] {
//!     p.locations.push(Location::of_function(p.functions.len() as u32));
//!     p.functions.push(Function::named(name));
//! }
//! p.samples.push(Sample { locations: vec![0, 1, 2], values: vec![30], labels: vec![] });
//! p.samples.push(Sample { locations: vec![2], values: vec![10], labels: vec![] });
//!
//! let t = top(&p, 0);
//! assert_eq!((t.rows[0].name.as_str(), t.rows[0].flat, t.rows[0].cum), ("runtime.mallocgc", 30, 30));
//! let folded = fold(&p, 0, &FoldOptions { runtime_frames: RuntimeFrames::Fold });
//! assert_eq!(folded, [("main.main".to_string(), 10), ("main.main;main.hot".to_string(), 30)]);
//! assert_eq!(share(&p, 0, "main.hot"), 0.75);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod attribute;
mod diff;
mod error;
mod flame;
mod fold;
mod growth;
mod report;
mod rules;
mod top;
mod units;
mod window;

pub use attribute::{
    attribute, Attribution, CaptureView, Dimension, DimensionReport, Evidence, Finding, PathShare,
    Severity,
};
pub use diff::{diff, Diff, Mover};
pub use error::Error;
pub use flame::{diff_svg, diff_svg_before, flame_svg, svg_frame, FlameOptions};
pub use fold::{
    fold, frame_matches, is_runtime_frame, share, FoldOptions, RuntimeFrame, RuntimeFrames,
    RUNTIME_FRAMES,
};
pub use growth::{HeapGrowth, HeapGrowthConfig, Trigger};
pub use report::report_html;
pub use rules::{Rule, RuleKind, RuleSet, Threshold, BUILTIN_RULES};
pub use top::{top, top_with, Top, TopOptions, TopRow};
pub use units::format_value;
pub use window::window_of;

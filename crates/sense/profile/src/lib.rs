//! ballast's profile reader (*sense*): pprof `profile.proto` (gzipped or raw) and Go's
//! `goroutine?debug=2` text into `ballast-core`'s [`Profile`] and [`GoroutineDump`], and
//! [`capture`] of a running service's `/debug/pprof/*` endpoints into a folder.
//!
//! - [`decode`] sniffs gzip by its magic bytes, decompresses within [`Limits`] (a gzip
//!   bomb stops at the limit, it is never held whole), decodes the protobuf with
//!   hand-written prost messages and checks every index: an id that points nowhere, a
//!   string index past the table or a sample with the wrong number of values is an
//!   [`Error::Invalid`] naming the element. No input panics (a fuzz target checks).
//! - [`encode`] / [`encode_gzip`] write a profile back; `decode(&encode(&p))` gives `p`
//!   back for any profile `decode` returned.
//! - [`parse_goroutines`] reads a goroutine dump; errors name the line.
//! - [`read_file`] reads either kind of file; [`capture`] fetches a capture and
//!   [`capture::load_capture`] reads one back (default feature `capture`, which brings the
//!   HTTP client and tokio; without it the crate reads and writes profiles only).
//!
//! ```
//! use ballast_core::profile::{Function, Location, Profile, Sample, ValueType};
//!
//! let mut p = Profile::default();
//! p.sample_types = vec![ValueType::new("cpu", "nanoseconds")];
//! p.functions.push(Function::named("main.hotLoop"));
//! p.locations.push(Location::of_function(0));
//! p.samples.push(Sample { locations: vec![0], values: vec![10_000_000], labels: vec![] });
//!
//! let bytes = ballast_profile::encode_gzip(&p);
//! let back = ballast_profile::decode(&bytes)?;
//! assert_eq!(back.functions[0].name, "main.hotLoop");
//! assert_eq!(back.total(0), 10_000_000);
//! assert_eq!(ballast_profile::decode(&ballast_profile::encode(&back))?, back);
//!
//! let err = ballast_profile::decode(b"\x1f\x8b garbage").unwrap_err();
//! assert!(err.to_string().starts_with("not a gzipped profile"));
//!
//! let dump = ballast_profile::parse_goroutines(
//!     "goroutine 7 [chan receive, 2 minutes]:\nmain.wait(0xc0000)\n\t/src/main.go:9 +0x1d\n",
//! )?;
//! assert_eq!(dump.goroutines[0].frames[0].function, "main.wait");
//! # Ok::<(), ballast_profile::Error>(())
//! ```

#![deny(missing_docs)]

#[cfg(feature = "capture")]
pub mod capture;
mod error;
mod file;
mod goroutine;
mod pprof;
mod proto;

pub use ballast_core::profile::{GoroutineDump, Profile};
pub use error::Error;
pub use file::{is_goroutine_text, read_file, read_file_with, ProfileFile};
pub use goroutine::parse_goroutines;
pub use pprof::{decode, decode_with, encode, encode_gzip, gzip, is_gzip, Limits};

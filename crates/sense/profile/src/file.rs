//! A profile file of either kind, told apart by its first bytes.

use crate::{decode_with, parse_goroutines, Error, Limits};
use ballast_core::profile::{GoroutineDump, Profile};
use std::path::Path;

/// What a profile file held.
// One value per file read: boxing the profile would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileFile {
    /// A pprof profile (gzipped or raw `profile.proto`).
    Pprof(Profile),
    /// A Go `goroutine?debug=2` text dump.
    Goroutines(GoroutineDump),
}

/// Whether `bytes` look like a goroutine text dump rather than a protobuf.
pub fn is_goroutine_text(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = &start[start
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(start.len())..];
    start.starts_with(b"goroutine ")
}

/// Reads a profile file within the default [`Limits`]: gzip or protobuf is a pprof
/// profile, text starting with `goroutine ` a dump. Errors name the path.
pub fn read_file(path: impl AsRef<Path>) -> Result<ProfileFile, Error> {
    read_file_with(path, &Limits::default())
}

/// [`read_file`] within `limits`.
pub fn read_file_with(path: impl AsRef<Path>, limits: &Limits) -> Result<ProfileFile, Error> {
    let path = path.as_ref();
    let read_error = |e: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let in_file = |e: Error| Error::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    // Checked before reading so a huge file is refused without being loaded.
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    let cap = limits.max_compressed_bytes.max(limits.max_decoded_bytes);
    if size > cap {
        return Err(in_file(Error::TooLarge {
            what: "file",
            limit: cap,
        }));
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    if is_goroutine_text(&bytes) {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            in_file(Error::Goroutines {
                line: bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1,
                message: "not UTF-8 text".into(),
            })
        })?;
        return parse_goroutines(text)
            .map(ProfileFile::Goroutines)
            .map_err(in_file);
    }
    decode_with(&bytes, limits)
        .map(ProfileFile::Pprof)
        .map_err(in_file)
}

use std::path::PathBuf;
use thiserror::Error;

/// What reading, decoding or capturing a profile can fail at.
#[derive(Debug, Error)]
pub enum Error {
    /// The input is larger than a [`Limits`](crate::Limits) allows (a gzip bomb, a
    /// runaway profile).
    #[error("{what} past {} limit", human_bytes(*limit))]
    TooLarge {
        /// Which size: `compressed input`, `decompressed`, `raw profile`.
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Gzip framing or deflate data is broken.
    #[error("not a gzipped profile: {message}")]
    Gzip {
        /// What the decompressor said.
        message: String,
    },
    /// The bytes are not a `profile.proto` message.
    #[error("not a pprof profile: {message}")]
    Protobuf {
        /// What the protobuf decoder said.
        message: String,
    },
    /// The message decodes but its tables do not hold together ("sample 12: location id
    /// 99 is not defined").
    #[error("invalid pprof profile: {message}")]
    Invalid {
        /// Which element, and what is wrong with it.
        message: String,
    },
    /// A goroutine dump (`goroutine?debug=2`) is malformed at a line.
    #[error("line {line}: {message}")]
    Goroutines {
        /// The 1-based line number.
        line: usize,
        /// What was expected.
        message: String,
    },
    /// A file could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file could not be written (the capture's output folder).
    #[error("{}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file's content is not what it should be; `source` says why.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it could not be read as a profile.
        source: Box<Error>,
    },
    /// A capture setting is out of range.
    #[error("{field}: {message}")]
    Config {
        /// The setting.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A capture's `manifest.json` is malformed.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Building the HTTP client failed.
    #[cfg(feature = "capture")]
    #[error(transparent)]
    Http(#[from] ballast_http::Error),
    /// Every request of a capture failed; the manifest (written) has each reason.
    #[error("{url}: nothing captured: {reason}")]
    NothingCaptured {
        /// The service (password hidden).
        url: String,
        /// The first failure.
        reason: String,
    },
}

impl Error {
    /// True when the error is the user's input (a file that is not a profile, a bad
    /// setting, a service that answers nothing) rather than a failure while running (a
    /// folder that cannot be written): the CLI exits 2 for these, 1 otherwise.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Write { .. } => false,
            #[cfg(feature = "capture")]
            Error::Http(e) => e.is_input(),
            Error::File { source, .. } => source.is_input(),
            _ => true,
        }
    }
}

/// `1 GiB`, `256 MiB`, `1000 bytes`: limits as people set them.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size && n % size == 0 {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

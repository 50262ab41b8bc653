//! A capture: a running service's `/debug/pprof/*` endpoints fetched into a folder.
//!
//! The CPU profile covers a window of [`CaptureConfig::seconds`]; while it runs, every
//! other kind is fetched at the start, and again when the window ends, so a judge can
//! compare start and end (goroutines piling up, heap growing, contention counters
//! rising). The goroutines are also fetched at the end as Go's `debug=2` text, which has
//! each goroutine's wait reason and how long it has waited. Each answer is checked (it
//! must decode) and written as it arrives:
//!
//! ```text
//! cpu.pb.gz  heap.start.pb.gz  heap.end.pb.gz  allocs.start.pb.gz  allocs.end.pb.gz
//! goroutine.start.pb.gz  goroutine.end.pb.gz  goroutine.end.txt
//! block.start.pb.gz  block.end.pb.gz  mutex.start.pb.gz  mutex.end.pb.gz  manifest.json
//! ```
//!
//! One kind failing (a server that refuses it, a timeout, an answer that is not a
//! profile) is recorded with its reason in `manifest.json` and the others are kept;
//! [`Capture::run`] is an error only when nothing at all was captured or the folder cannot
//! be written. [`load_capture`] reads a folder back.
//!
//! ```no_run
//! use ballast_profile::capture::{parse_kinds, CaptureConfig, Kind, Moment};
//!
//! # async fn example() -> Result<(), ballast_profile::Error> {
//! let mut config = CaptureConfig::new("http://127.0.0.1:6060".parse().unwrap(), "capture");
//! config.seconds = 10;
//! config.kinds = parse_kinds("cpu,heap,goroutine")?;
//! let manifest = config.build()?.run(|event| eprintln!("{event}")).await?;
//! for failed in manifest.failed() {
//!     eprintln!("{}: {}", failed.file, failed.error.as_deref().unwrap_or(""));
//! }
//! let capture = ballast_profile::capture::load_capture("capture")?;
//! if let Some(cpu) = capture.get(Kind::Cpu, Moment::Window) {
//!     println!("{} CPU samples", cpu.samples.len());
//! }
//! # Ok(())
//! # }
//! ```

use crate::{decode, is_gzip, parse_goroutines, read_file, Error, ProfileFile};
use ballast_core::profile::{GoroutineDump, Profile};
use ballast_http::{Client, ClientConfig, Request};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

pub use ballast_core::profile::Kind;

/// Reads `cpu,heap,goroutine` (`--kinds`); a kind named twice is an error.
pub fn parse_kinds(text: &str) -> Result<Vec<Kind>, Error> {
    let config = |message: String| Error::Config {
        field: "kinds".into(),
        message,
    };
    let mut kinds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let kind: Kind = part.parse().map_err(config)?;
        if kinds.contains(&kind) {
            return Err(config(format!("{kind} is named twice")));
        }
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err(config(format!(
            "expected at least one of {}",
            Kind::names()
        )));
    }
    Ok(kinds)
}

/// When in a capture a file was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// As the window opened.
    Start,
    /// Over the whole window (the CPU profile).
    Window,
    /// As the window closed.
    End,
}

impl std::fmt::Display for Moment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Moment::Start => "start",
            Moment::Window => "window",
            Moment::End => "end",
        })
    }
}

/// What a capture file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Gzipped `profile.proto`.
    Pprof,
    /// Go's `goroutine?debug=2` text.
    GoroutineText,
}

/// A capture as data; [`CaptureConfig::build`] checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureConfig {
    /// The service: `http://127.0.0.1:6060` (endpoints are `<url>/debug/pprof/<kind>`), or
    /// a URL that already ends in `/debug/pprof`.
    pub url: Url,
    /// What to fetch. Default: every kind.
    pub kinds: Vec<Kind>,
    /// The window: the CPU profile's length and the time between the start and end
    /// snapshots; 1 to 3600. Default: 30.
    pub seconds: u64,
    /// Per request, beyond the window for the CPU profile. Default: 10s.
    pub timeout: Duration,
    /// The folder the files and `manifest.json` are written to (made if missing).
    pub out_dir: PathBuf,
    /// How to reach the service (auth, TLS, retries, body cap); its `timeout` is replaced
    /// by [`timeout`](CaptureConfig::timeout).
    pub client: ClientConfig,
}

/// Default of [`CaptureConfig::seconds`].
pub const DEFAULT_SECONDS: u64 = 30;

impl CaptureConfig {
    /// Every kind over the default window, from `url` into `out_dir`.
    pub fn new(url: Url, out_dir: impl Into<PathBuf>) -> CaptureConfig {
        CaptureConfig {
            url,
            kinds: Kind::ALL.to_vec(),
            seconds: DEFAULT_SECONDS,
            timeout: Duration::from_secs(10),
            out_dir: out_dir.into(),
            client: ClientConfig::default(),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &str, message: String| {
            Err(Error::Config {
                field: field.into(),
                message,
            })
        };
        if !matches!(self.url.scheme(), "http" | "https") {
            return invalid(
                "url",
                format!("expected an http:// or https:// URL, got {}", self.url),
            );
        }
        if self.kinds.is_empty() {
            return invalid(
                "kinds",
                format!("expected at least one of {}", Kind::names()),
            );
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if self.kinds[..i].contains(kind) {
                return invalid("kinds", format!("{kind} is named twice"));
            }
        }
        if !(1..=3600).contains(&self.seconds) {
            return invalid(
                "seconds",
                format!("expected 1 to 3600, got {}", self.seconds),
            );
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "expected a duration above 0".into());
        }
        if self.out_dir.as_os_str().is_empty() {
            return invalid("out_dir", "expected a folder".into());
        }
        Ok(())
    }

    /// Checks the settings and returns the capture. Nothing connects yet.
    pub fn build(&self) -> Result<Capture, Error> {
        self.validate()?;
        let client = ClientConfig {
            timeout: self.timeout,
            ..self.client.clone()
        }
        .build()?;
        // Go serves one CPU profile at a time and a window cannot be taken again within the
        // capture's time: no retries for it.
        let cpu_client = ClientConfig {
            timeout: Duration::from_secs(self.seconds) + self.timeout,
            retries: 0,
            ..self.client.clone()
        }
        .build()?;
        Ok(Capture {
            base: pprof_base(&self.url),
            config: self.clone(),
            client,
            cpu_client,
        })
    }
}

/// `<url>/debug/pprof`, whether or not `url` already ends so.
fn pprof_base(url: &Url) -> Url {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_string();
    if !path.ends_with("/debug/pprof") {
        base.set_path(&format!("{path}/debug/pprof"));
    } else {
        base.set_path(&path);
    }
    base
}

/// Something [`Capture::run`] did, for a progress line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Requests for the window's start went out.
    Started {
        /// The window.
        seconds: u64,
    },
    /// A file was written.
    Saved {
        /// Its entry.
        entry: Entry,
    },
    /// A request failed; the others go on.
    Failed {
        /// Its entry, with the reason.
        entry: Entry,
    },
    /// Waiting for the window to end.
    Waiting {
        /// How long still.
        remaining: Duration,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Started { seconds } => write!(f, "capturing for {seconds}s"),
            Event::Saved { entry } => write!(f, "saved {} ({} bytes)", entry.file, entry.bytes),
            Event::Failed { entry } => write!(
                f,
                "{} ({}) failed: {}",
                entry.kind,
                entry.moment,
                entry.error.as_deref().unwrap_or("")
            ),
            Event::Waiting { remaining } => {
                write!(f, "waiting {}s for the window to end", remaining.as_secs())
            }
        }
    }
}

/// One file of a capture, or why it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The profile.
    pub kind: Kind,
    /// When it was taken.
    pub moment: Moment,
    /// What the file holds.
    pub format: Format,
    /// Its name in the capture folder (written only when `error` is empty).
    pub file: String,
    /// Its size; 0 when it was not written.
    pub bytes: u64,
    /// Why it is missing: the server's answer (`HTTP 500: Could not enable CPU
    /// profiling: cpu profiling already in use`), a timeout, a body that is not a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `manifest.json`: what a capture fetched, from where, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The service's URL as given (password hidden).
    pub url: String,
    /// When the first requests went out, RFC 3339 UTC.
    pub started: String,
    /// When the last answer came, RFC 3339 UTC.
    pub finished: String,
    /// The window.
    pub seconds: u64,
    /// One per file, in capture order (kind, then start, window, end).
    pub entries: Vec<Entry>,
}

/// The name of the manifest in a capture folder.
pub const MANIFEST: &str = "manifest.json";

impl Manifest {
    /// The entry of `kind` at `moment` in `format`.
    pub fn entry(&self, kind: Kind, moment: Moment, format: Format) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.moment == moment && e.format == format)
    }

    /// The entries that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.error.is_some())
    }

    /// The entries written.
    pub fn written(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.error.is_none())
    }
}

/// A checked capture, ready to run (possibly several times).
#[derive(Debug, Clone)]
pub struct Capture {
    config: CaptureConfig,
    base: Url,
    client: Client,
    cpu_client: Client,
}

/// One request of a capture.
#[derive(Debug, Clone)]
struct Job {
    kind: Kind,
    moment: Moment,
    format: Format,
    url: Url,
}

impl Job {
    fn file(&self) -> String {
        match (self.moment, self.format) {
            (Moment::Window, _) => format!("{}.pb.gz", self.kind),
            (m, Format::Pprof) => format!("{}.{m}.pb.gz", self.kind),
            (m, Format::GoroutineText) => format!("{}.{m}.txt", self.kind),
        }
    }
}

type Answer = (Job, Result<ballast_http::Response, String>);

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Capture {
    /// The settings it was built from.
    pub fn config(&self) -> &CaptureConfig {
        &self.config
    }

    /// The URL of one endpoint (`.../debug/pprof/heap`).
    pub fn endpoint(&self, kind: Kind) -> Url {
        self.endpoint_with(kind, &[])
    }

    fn endpoint_with(&self, kind: Kind, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}/{}", self.base.path(), kind.endpoint()));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn job(&self, kind: Kind, moment: Moment, format: Format) -> Job {
        let seconds = self.config.seconds.to_string();
        let url = match (kind, format) {
            (Kind::Cpu, _) => self.endpoint_with(kind, &[("seconds", &seconds)]),
            (_, Format::GoroutineText) => self.endpoint_with(kind, &[("debug", "2")]),
            _ => self.endpoint(kind),
        };
        Job {
            kind,
            moment,
            format,
            url,
        }
    }

    fn spawn(&self, set: &mut tokio::task::JoinSet<Answer>, job: Job) {
        let client = if job.kind == Kind::Cpu {
            self.cpu_client.clone()
        } else {
            self.client.clone()
        };
        set.spawn(async move {
            let answer = client
                .send(Request::get(job.url.clone()))
                .await
                .map_err(|e| e.to_string());
            (job, answer)
        });
    }

    /// Fetches the capture into the folder, calling `progress` as it goes, and returns
    /// the manifest it wrote. Failed kinds are in the manifest; the error cases are a
    /// folder that cannot be written and a capture where every request failed.
    pub async fn run(&self, mut progress: impl FnMut(&Event)) -> Result<Manifest, Error> {
        let dir = &self.config.out_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        let started = now_seconds();
        let window = Duration::from_secs(self.config.seconds);
        let end_at = tokio::time::Instant::now() + window;
        let mut set = tokio::task::JoinSet::new();
        let snapshots: Vec<Kind> = self
            .config
            .kinds
            .iter()
            .copied()
            .filter(|&k| k != Kind::Cpu)
            .collect();
        if self.config.kinds.contains(&Kind::Cpu) {
            self.spawn(&mut set, self.job(Kind::Cpu, Moment::Window, Format::Pprof));
        }
        for &kind in &snapshots {
            self.spawn(&mut set, self.job(kind, Moment::Start, Format::Pprof));
        }
        progress(&Event::Started {
            seconds: self.config.seconds,
        });
        let mut entries = Vec::new();
        // The start snapshots, and the CPU profile if it fails early (refused).
        let mut starts_left = snapshots.len();
        while starts_left > 0 {
            let Some(joined) = set.join_next().await else {
                break;
            };
            let (job, answer) = joined.map_err(|e| Error::Write {
                path: dir.clone(),
                message: format!("a request task failed: {e}"),
            })?;
            if job.moment == Moment::Start {
                starts_left -= 1;
            }
            entries.push(self.save(job, answer, &mut progress)?);
        }
        let remaining = end_at.saturating_duration_since(tokio::time::Instant::now());
        if !remaining.is_zero() {
            progress(&Event::Waiting { remaining });
            tokio::time::sleep_until(end_at).await;
        }
        for &kind in &snapshots {
            self.spawn(&mut set, self.job(kind, Moment::End, Format::Pprof));
            if kind == Kind::Goroutine {
                self.spawn(&mut set, self.job(kind, Moment::End, Format::GoroutineText));
            }
        }
        while let Some(joined) = set.join_next().await {
            let (job, answer) = joined.map_err(|e| Error::Write {
                path: dir.clone(),
                message: format!("a request task failed: {e}"),
            })?;
            entries.push(self.save(job, answer, &mut progress)?);
        }
        entries.sort_by_key(|e| (e.kind, e.moment, e.format));
        let manifest = Manifest {
            url: ballast_http::redact(&self.config.url),
            started: ballast_core::alert::rfc3339(started),
            finished: ballast_core::alert::rfc3339(now_seconds()),
            seconds: self.config.seconds,
            entries,
        };
        let path = dir.join(MANIFEST);
        let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(&path, json + "\n").map_err(|e| Error::Write {
            path,
            message: e.to_string(),
        })?;
        if manifest.written().next().is_none() {
            let reason = manifest
                .failed()
                .next()
                .and_then(|e| e.error.clone())
                .unwrap_or_else(|| "no request".into());
            return Err(Error::NothingCaptured {
                url: manifest.url.clone(),
                reason,
            });
        }
        Ok(manifest)
    }

    /// Checks one answer and writes it, or says why not.
    fn save(
        &self,
        job: Job,
        answer: Result<ballast_http::Response, String>,
        progress: &mut impl FnMut(&Event),
    ) -> Result<Entry, Error> {
        let mut entry = Entry {
            kind: job.kind,
            moment: job.moment,
            format: job.format,
            file: job.file(),
            bytes: 0,
            error: None,
        };
        let checked = answer.and_then(|response| {
            if !response.is_success() {
                let text = response.text();
                let first = text.lines().map(str::trim).find(|l| !l.is_empty());
                return Err(match first {
                    Some(line) => format!("HTTP {}: {}", response.status, shorten(line)),
                    None => format!("HTTP {}", response.status),
                });
            }
            match job.format {
                Format::Pprof => decode(&response.body).map(drop),
                Format::GoroutineText => std::str::from_utf8(&response.body)
                    .map_err(|_| Error::Goroutines {
                        line: 1,
                        message: "not UTF-8 text".into(),
                    })
                    .and_then(parse_goroutines)
                    .map(drop),
            }
            .map_err(|e| format!("the answer is not a {} profile: {e}", job.kind))?;
            // A Rust service answers raw protobuf; the file is gzipped like Go's, as its
            // name says.
            Ok(match job.format {
                Format::Pprof if !is_gzip(&response.body) => crate::gzip(&response.body).into(),
                _ => response.body,
            })
        });
        match checked {
            Ok(body) => {
                let path = self.config.out_dir.join(&entry.file);
                std::fs::write(&path, &body).map_err(|e| Error::Write {
                    path,
                    message: e.to_string(),
                })?;
                entry.bytes = body.len() as u64;
                progress(&Event::Saved {
                    entry: entry.clone(),
                });
            }
            Err(reason) => {
                entry.error = Some(reason);
                progress(&Event::Failed {
                    entry: entry.clone(),
                });
            }
        }
        Ok(entry)
    }
}

fn shorten(line: &str) -> String {
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}

/// A capture folder read back: its manifest and every file it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCapture {
    /// The manifest.
    pub manifest: Manifest,
    /// The pprof profiles, in manifest order.
    pub profiles: Vec<(Kind, Moment, Profile)>,
    /// The goroutine text dumps.
    pub goroutine_dumps: Vec<(Moment, GoroutineDump)>,
}

impl LoadedCapture {
    /// The profile of `kind` at `moment` (`Cpu` is at [`Moment::Window`]).
    pub fn get(&self, kind: Kind, moment: Moment) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|(k, m, _)| *k == kind && *m == moment)
            .map(|(_, _, p)| p)
    }

    /// The goroutine text dump at `moment`.
    pub fn goroutine_dump(&self, moment: Moment) -> Option<&GoroutineDump> {
        self.goroutine_dumps
            .iter()
            .find(|(m, _)| *m == moment)
            .map(|(_, d)| d)
    }
}

/// Reads a capture folder: `manifest.json` and every file it lists as written. A listed
/// file that is missing or not what the manifest says is an error naming it.
pub fn load_capture(dir: impl AsRef<Path>) -> Result<LoadedCapture, Error> {
    let dir = dir.as_ref();
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut loaded = LoadedCapture {
        manifest: manifest.clone(),
        profiles: Vec::new(),
        goroutine_dumps: Vec::new(),
    };
    for (i, entry) in manifest.entries.iter().enumerate() {
        if entry.error.is_some() {
            continue;
        }
        // The manifest is outside data: a name must stay inside the folder.
        let plain = Path::new(&entry.file)
            .file_name()
            .is_some_and(|n| n == entry.file.as_str())
            && entry.file != ".."
            && entry.file != MANIFEST;
        if !plain {
            return Err(Error::Manifest {
                path,
                message: format!(
                    "entries[{i}].file: expected a file name in the capture folder, got {:?}",
                    entry.file
                ),
            });
        }
        let file = dir.join(&entry.file);
        match (read_file(&file)?, entry.format) {
            (ProfileFile::Pprof(p), Format::Pprof) => {
                loaded.profiles.push((entry.kind, entry.moment, p))
            }
            (ProfileFile::Goroutines(d), Format::GoroutineText) => {
                loaded.goroutine_dumps.push((entry.moment, d))
            }
            (_, format) => {
                return Err(Error::Read {
                    path: file,
                    message: format!("the manifest says {format:?}, the file holds the other kind"),
                })
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests;

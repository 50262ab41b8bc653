//! `ballast profile`: capture a service's profiles, read them (`top`), draw them (`flame`,
//! `diff`), attribute instability to a dimension (`attribute`), and watch the heap in
//! production (`watch`). Reading is ballast-profile's, deciding ballast-attribution's.

use super::InputError;
use anyhow::Context as _;
use ballast_attribution::{top_with, TopOptions};
use ballast_core::profile::Profile;
use ballast_profile::ProfileFile;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod draw;
mod watch;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Fetch Go's /debug/pprof/* (or a ballast-tower service's) into a folder with a
    /// manifest: the CPU profile over --seconds, the other kinds at its start and end.
    #[command(after_help = "Examples:
  ballast profile capture http://127.0.0.1:6060 --seconds 30 -o capture/
  ballast profile capture http://127.0.0.1:6060 --kinds cpu,heap,goroutine --seconds 10 -o capture/")]
    Capture(CaptureArgs),
    /// The functions with the most flat (and cum) value, as `go tool pprof -top` prints them.
    #[command(after_help = "Examples:
  ballast profile top cpu.pb.gz
  ballast profile top heap.end.pb.gz --sample-type alloc_space -n 30
  ballast profile top goroutine.end.txt        (a goroutine?debug=2 dump: goroutines by stack)")]
    Top(TopArgs),
    /// Draw a flame graph (SVG).
    #[command(after_help = "Examples:
  ballast profile flame cpu.pb.gz -o cpu.svg
  ballast profile flame heap.end.pb.gz --sample-type inuse_space --fold-runtime -o heap.svg")]
    Flame(draw::FlameArgs),
    /// Compare two profiles: a differential flame graph (red grew, blue shrank) and the
    /// biggest movers, normalised when their totals differ.
    #[command(after_help = "Examples:
  ballast profile diff before/cpu.pb.gz after/cpu.pb.gz -o diff.svg")]
    Diff(draw::DiffArgs),
    /// Attribute a capture's instability to CPU, heap, goroutines or blocking, by the
    /// seed's rule table (extend it with --rules). Exit 1 when a finding is critical.
    #[command(after_help = "Examples:
  ballast profile attribute capture/ --html report.html --json findings.json
  ballast profile attribute capture/ --rules our-rules.yaml")]
    Attribute(draw::AttributeArgs),
    /// Watch heap in use; when it keeps growing, capture a full profile set and say so.
    #[command(after_help = "Examples:
  ballast profile watch http://127.0.0.1:6060 --every 30s -o captures/
  ballast profile watch http://127.0.0.1:6060 --growth 25% --windows 3 --webhook http://127.0.0.1:9000/hook -o captures/")]
    Watch(watch::WatchArgs),
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The service's base URL (where /debug/pprof/ is served).
    pub url: String,
    /// Which kinds, comma-separated: cpu, heap, allocs, goroutine, block, mutex.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cpu,heap,allocs,goroutine,block,mutex"
    )]
    pub kinds: Vec<String>,
    /// The CPU profile's length, in seconds (1..=600).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// The folder to write into (made if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub peer: super::peer::PeerArgs,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// A pprof profile (gzipped or not) or a goroutine?debug=2 dump.
    pub file: PathBuf,
    /// Which sample type (`cpu`, `inuse_space`, `alloc_objects`...). Default: the profile's
    /// default, as pprof chooses it.
    #[arg(long, value_name = "TYPE")]
    pub sample_type: Option<String>,
    /// How many rows.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub count: usize,
    /// Write the whole table as JSON to this file (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub async fn run(command: ProfileCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProfileCommand::Capture(args) => capture(args).await,
        ProfileCommand::Top(args) => top(&args),
        ProfileCommand::Flame(args) => draw::flame(&args),
        ProfileCommand::Diff(args) => draw::diff(&args),
        ProfileCommand::Attribute(args) => draw::attribute(&args),
        ProfileCommand::Watch(args) => watch::run(args).await,
    }
}

/// Reads a profile file; a goroutine dump becomes a profile of goroutines by stack, so
/// every command reads both.
pub(crate) fn read_profile(path: &Path) -> anyhow::Result<Profile> {
    match ballast_profile::read_file(path).map_err(|e| InputError(e.to_string()))? {
        ProfileFile::Pprof(p) => Ok(p),
        ProfileFile::Goroutines(dump) => Ok(goroutine_profile(&dump)),
    }
}

/// A goroutine dump as a profile: one sample of value 1 per goroutine, its stack as the
/// frames, its state as the `state` label — what Go's own `goroutine` profile holds, so
/// `top` and `flame` read either.
fn goroutine_profile(dump: &ballast_core::profile::GoroutineDump) -> Profile {
    use ballast_core::profile::{Function, Label, Location, Sample, ValueType};
    use std::collections::HashMap;
    let mut p = Profile {
        sample_types: vec![ValueType::new("goroutine", "count")],
        strings: vec![String::new(), "state".into()],
        ..Profile::default()
    };
    let mut functions: HashMap<&str, u32> = HashMap::new();
    let mut states: HashMap<&str, u32> = HashMap::new();
    for g in &dump.goroutines {
        let mut locations = Vec::with_capacity(g.frames.len());
        for frame in &g.frames {
            let f = *functions.entry(frame.function.as_str()).or_insert_with(|| {
                p.functions.push(Function {
                    filename: frame.file.clone(),
                    ..Function::named(frame.function.clone())
                });
                p.functions.len() as u32 - 1
            });
            let mut location = Location::of_function(f);
            location.lines[0].line = i64::from(frame.line);
            p.locations.push(location);
            locations.push(p.locations.len() as u32 - 1);
        }
        let state = *states.entry(g.state.as_str()).or_insert_with(|| {
            p.strings.push(g.state.clone());
            p.strings.len() as u32 - 1
        });
        p.samples.push(Sample {
            locations,
            values: vec![1],
            labels: vec![Label {
                key: 1,
                text: state,
                ..Label::default()
            }],
        });
    }
    p
}

/// The index of `--sample-type`, or the profile's default; an unknown name lists the
/// profile's types.
pub(crate) fn sample_index(
    profile: &Profile,
    wanted: Option<&str>,
    path: &Path,
) -> anyhow::Result<usize> {
    match wanted {
        None if profile.sample_types.is_empty() => Err(InputError(format!(
            "{}: the profile has no sample types",
            path.display()
        ))
        .into()),
        None => Ok(profile.default_sample_index()),
        Some(name) => profile.sample_index(name).ok_or_else(|| {
            let names: Vec<&str> = profile
                .sample_types
                .iter()
                .map(|t| t.kind.as_str())
                .collect();
            InputError(format!(
                "{}: no sample type {name:?}; the profile has {}",
                path.display(),
                names.join(", ")
            ))
            .into()
        }),
    }
}

/// Writes `--json FILE`; `-` is stdout, and then the caller prints nothing else there
/// (true).
pub(crate) fn emit_json(
    path: Option<&Path>,
    value: &impl serde::Serialize,
) -> anyhow::Result<bool> {
    match path {
        None => Ok(false),
        Some(p) if p == Path::new("-") => {
            println!("{}", serde_json::to_string_pretty(value)?);
            Ok(true)
        }
        Some(p) => {
            crate::output::write_json(p, value)
                .with_context(|| format!("writing {}", p.display()))?;
            Ok(false)
        }
    }
}

/// pprof applies a profile's `drop_frames`/`keep_frames`; ballast does not yet, and says so
/// rather than leave them unread.
pub(crate) fn note_unapplied_frames(profile: &Profile, path: &Path) {
    if let Some(drop) = &profile.drop_frames {
        eprintln!(
            "note: {} asks readers to drop frames matching {drop:?}{}; ballast shows every frame",
            path.display(),
            profile
                .keep_frames
                .as_ref()
                .map(|k| format!(" (keeping {k:?})"))
                .unwrap_or_default()
        );
    }
}

fn top(args: &TopArgs) -> anyhow::Result<ExitCode> {
    let profile = read_profile(&args.file)?;
    note_unapplied_frames(&profile, &args.file);
    let index = sample_index(&profile, args.sample_type.as_deref(), &args.file)?;
    let table = top_with(&profile, index, &TopOptions::default());
    if emit_json(args.json.as_deref(), &table)? {
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", draw::render_top(&table, args.count));
    Ok(ExitCode::SUCCESS)
}

async fn capture(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    use ballast_profile::capture::{CaptureConfig, Event, Kind};
    let url = url::Url::parse(&args.url).map_err(|e| {
        InputError(format!(
            "{:?}: expected the service's base URL; {e}",
            args.url
        ))
    })?;
    let kinds = args
        .kinds
        .iter()
        .map(|k| {
            k.parse::<Kind>()
                .map_err(|e| InputError(format!("--kinds: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = CaptureConfig {
        kinds,
        seconds: args.seconds,
        timeout: args.peer.timeout,
        client: args.peer.client_config()?,
        ..CaptureConfig::new(url, &args.output)
    };
    let capture = config.build()?;
    eprintln!(
        "capturing for {}s into {}",
        args.seconds,
        args.output.display()
    );
    let manifest = capture.run(|event: &Event| eprintln!("  {event}")).await?;
    for entry in &manifest.entries {
        match &entry.error {
            None => println!(
                "{:<10} {:<7} {} ({} bytes)",
                entry.kind, entry.moment, entry.file, entry.bytes
            ),
            Some(error) => println!("{:<10} {:<7} failed: {error}", entry.kind, entry.moment),
        }
    }
    // Nothing captured at all is an error of run() (exit 2: the service could not be read).
    println!("manifest: {}", args.output.join("manifest.json").display());
    Ok(ExitCode::SUCCESS)
}

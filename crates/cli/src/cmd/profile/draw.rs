//! `ballast profile flame | diff | attribute` and the `top` table's text.

use super::{read_profile, sample_index};
use anyhow::Context as _;
use ballast_attribution::{
    diff_svg, diff_svg_before, flame_svg, fold, format_value, FlameOptions, FoldOptions,
    RuntimeFrames, Top,
};
use ballast_core::profile::Profile;
use clap::Args;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct FlameArgs {
    /// A pprof profile (gzipped or not) or a goroutine?debug=2 dump.
    pub file: PathBuf,
    /// Which sample type. Default: the profile's default.
    #[arg(long, value_name = "TYPE")]
    pub sample_type: Option<String>,
    /// Charge runtime frames (runtime.*, tokio internals) to their nearest caller of the
    /// program's own.
    #[arg(long)]
    pub fold_runtime: bool,
    /// The SVG to write.
    #[arg(short, long, value_name = "OUT.svg")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier profile.
    pub before: PathBuf,
    /// The later profile.
    pub after: PathBuf,
    /// Which sample type. Default: the later profile's default.
    #[arg(long, value_name = "TYPE")]
    pub sample_type: Option<String>,
    /// Charge runtime frames to their nearest caller of the program's own.
    #[arg(long)]
    pub fold_runtime: bool,
    /// The differential flame graph to write (SVG), in the later profile's shape; the
    /// earlier profile's shape, where what vanished still shows, goes beside it as
    /// `NAME.before.svg`.
    #[arg(short, long, value_name = "OUT.svg")]
    pub output: Option<PathBuf>,
    /// How many movers to print.
    #[arg(short = 'n', long, default_value_t = 15)]
    pub count: usize,
    /// Write the movers as JSON to this file (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn fold_options(fold_runtime: bool) -> FoldOptions {
    FoldOptions {
        runtime_frames: if fold_runtime {
            RuntimeFrames::Fold
        } else {
            RuntimeFrames::Keep
        },
    }
}

fn title(path: &Path, profile: &Profile, index: usize) -> (String, String) {
    let t = &profile.sample_types[index];
    (
        format!(
            "{} — {}",
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into()
            ),
            t.kind
        ),
        t.unit.clone(),
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn flame(args: &FlameArgs) -> anyhow::Result<ExitCode> {
    let profile = read_profile(&args.file)?;
    super::note_unapplied_frames(&profile, &args.file);
    let index = sample_index(&profile, args.sample_type.as_deref(), &args.file)?;
    let folded = fold(&profile, index, &fold_options(args.fold_runtime));
    let (title, count_name) = title(&args.file, &profile, index);
    let svg = flame_svg(&folded, &FlameOptions { title, count_name })?;
    write(&args.output, &svg)?;
    eprintln!(
        "{} stacks drawn into {}",
        folded.len(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let before = read_profile(&args.before)?;
    let after = read_profile(&args.after)?;
    let after_index = sample_index(&after, args.sample_type.as_deref(), &args.after)?;
    let kind = after.sample_types[after_index].kind.clone();
    let before_index = sample_index(&before, Some(&kind), &args.before)?;
    let moved = ballast_attribution::diff(&before, &after, &kind);
    let json_on_stdout = super::emit_json(args.json.as_deref(), &moved)?;
    if let Some(path) = &args.output {
        let options = fold_options(args.fold_runtime);
        let (after_title, count_name) = title(&args.after, &after, after_index);
        let (before_stacks, after_stacks) = (
            fold(&before, before_index, &options),
            fold(&after, after_index, &options),
        );
        let svg = diff_svg(
            &before_stacks,
            &after_stacks,
            &FlameOptions {
                title: format!("{after_title}: the after profile (red grew, blue shrank)"),
                count_name: count_name.clone(),
            },
        )?;
        write(path, &svg)?;
        let (before_title, _) = title(&args.before, &before, before_index);
        let before_svg = diff_svg_before(
            &before_stacks,
            &after_stacks,
            &FlameOptions {
                title: format!(
                    "{before_title}: the before profile (blue shrank or vanished, red grew)"
                ),
                count_name,
            },
        )?;
        let before_path = before_side_path(path);
        write(&before_path, &before_svg)?;
        eprintln!(
            "differential flame graph: {} (after's shape), {} (before's shape: what shrank or vanished)",
            path.display(),
            before_path.display()
        );
    }
    if json_on_stdout {
        return Ok(ExitCode::SUCCESS);
    }
    let unit = &after.sample_types[after_index].unit;
    println!(
        "{kind}: before {} total, after {} total{}",
        format_value(moved.before_total, unit),
        format_value(moved.after_total, unit),
        if moved.normalised {
            " (totals differ: movers ranked by share of each total)"
        } else {
            ""
        }
    );
    println!(
        "{:>10} {:>10} {:>8} {:>8} {:>8}  function",
        "before", "after", "before%", "after%", "change"
    );
    for m in moved.movers.iter().take(args.count) {
        println!(
            "{:>10} {:>10} {:>7.2}% {:>7.2}% {:>+7.2}%  {}",
            format_value(m.before, unit),
            format_value(m.after, unit),
            m.before_share * 100.0,
            m.after_share * 100.0,
            m.delta_share * 100.0,
            m.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `diff.svg` → `diff.before.svg` (`diff` → `diff.before.svg`).
fn before_side_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "diff".into());
    path.with_file_name(format!("{stem}.before.svg"))
}

/// The `top` table as `go tool pprof -top` lays it out.
pub fn render_top(table: &Top, count: usize) -> String {
    use std::fmt::Write as _;
    let unit = table.sample_type.unit.as_str();
    let shown: Vec<_> = table.rows.iter().take(count).collect();
    let shown_flat = shown.iter().fold(0i64, |s, r| s.saturating_add(r.flat));
    let pct = |v: i64| {
        if table.total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / table.total as f64
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Type: {}\nShowing {} of {} functions, {} ({:.2}%) of {} total{}",
        table.sample_type.kind,
        shown.len(),
        table.rows.len() + table.dropped,
        format_value(shown_flat, unit),
        pct(shown_flat),
        format_value(table.total, unit),
        if table.dropped > 0 {
            format!(" ({} below the node fraction dropped)", table.dropped)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "{:>10} {:>7} {:>7} {:>10} {:>7}  function",
        "flat", "flat%", "sum%", "cum", "cum%"
    );
    let mut sum = 0i64;
    for row in shown {
        sum = sum.saturating_add(row.flat);
        let _ = writeln!(
            out,
            "{:>10} {:>6.2}% {:>6.2}% {:>10} {:>6.2}%  {}",
            format_value(row.flat, unit),
            pct(row.flat),
            pct(sum),
            format_value(row.cum, unit),
            pct(row.cum),
            row.name
        );
    }
    out
}

#[derive(Debug, Args)]
pub struct AttributeArgs {
    /// A capture folder (`ballast profile capture -o DIR`, or a verify phase's).
    pub dir: PathBuf,
    /// More rules (or replacements for built-in ones, by name), in the built-in rules'
    /// format (docs/profiles.md).
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Write the HTML report (four flame graphs side by side and the findings).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the findings as JSON (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn attribute(args: &AttributeArgs) -> anyhow::Result<ExitCode> {
    use ballast_attribution::{attribute, report_html, CaptureView, RuleSet, Severity};
    use ballast_profile::capture::{load_capture, Kind, Moment};
    let mut rules = RuleSet::builtin();
    for path in &args.rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| super::InputError(format!("{}: {e}", path.display())))?;
        rules.extend_str(&text, &path.display().to_string())?;
    }
    let capture = load_capture(&args.dir)?;
    // The allocs endpoint serves the heap profile's data: either pair gives the window.
    let heap = |m| {
        capture
            .get(Kind::Heap, m)
            .or_else(|| capture.get(Kind::Allocs, m))
    };
    let view = CaptureView {
        cpu: capture.get(Kind::Cpu, Moment::Window),
        heap_start: heap(Moment::Start),
        heap_end: heap(Moment::End),
        allocs: capture.get(Kind::Allocs, Moment::End),
        goroutine_start: capture.get(Kind::Goroutine, Moment::Start),
        goroutine_end: capture.get(Kind::Goroutine, Moment::End),
        goroutine_dump: capture.goroutine_dump(Moment::End),
        block: capture.get(Kind::Block, Moment::End),
        mutex: capture.get(Kind::Mutex, Moment::End),
        block_start: capture.get(Kind::Block, Moment::Start),
        mutex_start: capture.get(Kind::Mutex, Moment::Start),
    };
    let attribution = attribute(&view, &rules);
    for entry in capture.manifest.failed() {
        eprintln!(
            "note: {} ({}) was not captured: {}",
            entry.kind,
            entry.moment,
            entry.error.as_deref().unwrap_or("")
        );
    }
    let json_on_stdout = super::emit_json(args.json.as_deref(), &attribution)?;
    if let Some(path) = &args.html {
        let flames = capture_flames(&view)?;
        write(path, &report_html(&attribution, &flames))?;
        eprintln!("report: {}", path.display());
    }
    let critical = attribution
        .findings
        .iter()
        .any(|f| f.severity == Severity::Critical);
    let status = if critical {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json_on_stdout {
        return Ok(status);
    }
    for d in &attribution.dimensions {
        let top = d.top_paths.first();
        println!(
            "{:<10} {:<28} {}",
            d.dimension.as_str(),
            format!("{} {}", d.source, d.sample_type.kind),
            top.map_or_else(
                || "nothing".to_string(),
                |p| format!(
                    "{:.1}% {}",
                    p.share * 100.0,
                    p.stack.last().map_or("", String::as_str)
                )
            )
        );
    }
    if attribution.findings.is_empty() {
        println!("no findings");
    }
    for f in &attribution.findings {
        println!(
            "{:<8} {:<10} {}: {}\n         evidence: {}",
            format!("{:?}", f.severity).to_lowercase(),
            f.dimension.as_str(),
            f.rule,
            f.title,
            f.evidence.detail
        );
    }
    Ok(status)
}

/// The four dimensions' flame graphs of a capture (those it has): CPU, heap in use,
/// goroutines, and blocking (block, else mutex), runtime frames folded as attribution
/// folds them.
pub fn capture_flames(
    view: &ballast_attribution::CaptureView<'_>,
) -> anyhow::Result<Vec<(String, String)>> {
    let options = fold_options(true);
    let mut out = Vec::new();
    // Blocking counts from the program's start: the window's own part, when both ends are
    // there, is what the findings read too.
    fn window<'a>(
        start: Option<&'a Profile>,
        end: Option<&'a Profile>,
    ) -> Option<Cow<'a, Profile>> {
        match (start, end) {
            (Some(s), Some(e)) => Some(Cow::Owned(ballast_attribution::window_of(s, e))),
            (_, e) => e.map(Cow::Borrowed),
        }
    }
    let blocking =
        window(view.block_start, view.block).or_else(|| window(view.mutex_start, view.mutex));
    let dimensions = [
        ("CPU", view.cpu.map(Cow::Borrowed), "cpu"),
        (
            "Heap in use",
            view.heap_end.map(Cow::Borrowed),
            "inuse_space",
        ),
        (
            "Goroutines",
            view.goroutine_end.map(Cow::Borrowed),
            "goroutine",
        ),
        ("Blocking", blocking, "delay"),
    ];
    for (title, profile, kind) in dimensions {
        let Some(p) = profile.as_deref() else {
            continue;
        };
        if p.sample_types.is_empty() {
            continue;
        }
        let index = p
            .sample_index(kind)
            .unwrap_or_else(|| p.default_sample_index());
        let svg = flame_svg(
            &fold(p, index, &options),
            &FlameOptions {
                title: title.to_string(),
                count_name: p.sample_types[index].unit.clone(),
            },
        )?;
        out.push((title.to_string(), svg));
    }
    Ok(out)
}

//! `ballast slo rules`: the flags Sloth users script with, spec directories, and one output
//! file or one per spec.

use super::InputError;
use anyhow::Context as _;
use ballast_slo::rules::{self, Flavour, RuleOptions};
use ballast_slo::{apply_periods, load_alert_windows, load_file, AlertWindows, Slo};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whose names the rules use.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Compat {
    /// ballast's names (`ballast_id`, …).
    Ballast,
    /// Sloth's names, info rule, group names and annotations (`sloth_id`, …).
    Sloth,
}

/// Where specs come from: files, or directories searched for `*.yml`, `*.yaml`, `*.json`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Spec files or directories: ballast contracts, OpenSLO v1 or v1alpha, Sloth
    /// prometheus/v1 or sloth.slok.dev/v1. A directory is searched recursively.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Only files found in directories whose path matches this regular expression.
    #[arg(long, alias = "fs-include", value_name = "REGEX")]
    pub include: Option<String>,
    /// Leave out files found in directories whose path matches this regular expression
    /// (e.g. "_gen|windows").
    #[arg(long, alias = "fs-exclude", value_name = "REGEX")]
    pub exclude: Option<String>,
    /// The period of SLOs whose spec gives none (Sloth specs; OpenSLO v1alpha without
    /// timeWindows) [default: 30d, as Sloth].
    #[arg(long, alias = "default-slo-period", value_parser = parse_period, value_name = "PERIOD")]
    pub default_period: Option<Duration>,
    /// Sloth AlertWindows files (or directories of them): the page and ticket windows for
    /// SLOs of their period (e.g. Sloth's examples/windows/7d.yaml).
    #[arg(long, alias = "slo-period-windows-path", value_name = "PATH")]
    pub window_defs: Vec<PathBuf>,
}

/// `ballast slo rules`'s own flags.
#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub input: SpecArgs,
    /// Output file, or an existing directory for one file per spec [default: stdout].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Whose label, rule and group names to write.
    #[arg(long, value_enum, default_value = "ballast")]
    pub compat: Compat,
    /// A label added to every rule of every SLO (KEY=VALUE; repeat).
    #[arg(short = 'l', long = "extra-labels", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub extra_labels: Vec<(String, String)>,
    /// Write no recording rules (the alerts then need them from elsewhere).
    #[arg(long)]
    pub disable_recordings: bool,
    /// Write no alerts.
    #[arg(long)]
    pub disable_alerts: bool,
    /// Write SLOs read from Kubernetes resources (Sloth's PrometheusServiceLevel, Pyrra's
    /// ServiceLevelObjective) as a plain rules file, as Pyrra's filesystem mode does, instead
    /// of PrometheusRule objects.
    #[arg(long)]
    pub rule_file: bool,
    /// Compute the period's error ratio over the whole period instead of averaging the
    /// shortest window's recording (costlier for Prometheus).
    #[arg(long)]
    pub disable_optimizations: bool,
}

fn parse_period(s: &str) -> Result<Duration, String> {
    let d = match s
        .trim()
        .strip_suffix('w')
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(weeks) => Duration::from_secs(weeks * 7 * 86_400),
        None => ballast_core::parse_duration(s).map_err(|e| e.to_string())?,
    };
    if d.is_zero() {
        return Err("expected a period above zero, e.g. 30d or 4w".into());
    }
    Ok(d)
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    let k = k.trim();
    if !rules::valid_label_name(k) {
        return Err(format!(
            "{k:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

fn regex(flag: &str, pattern: &Option<String>) -> anyhow::Result<Option<regex::Regex>> {
    pattern
        .as_deref()
        .map(|p| regex::Regex::new(p).map_err(|e| InputError(format!("{flag}: {e}")).into()))
        .transpose()
}

/// Files under `dir`, recursively, sorted, that look like specs.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading directory {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading directory {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yml" | "yaml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The spec files named or found, each with the directory it was found under.
fn spec_files(input: &SpecArgs) -> anyhow::Result<Vec<(PathBuf, Option<PathBuf>)>> {
    let include = regex("--include", &input.include)?;
    let exclude = regex("--exclude", &input.exclude)?;
    let mut files = Vec::new();
    for spec in &input.specs {
        if spec.is_dir() {
            let mut found = Vec::new();
            walk(spec, &mut found)?;
            let before = files.len();
            for f in found {
                let text = f.to_string_lossy();
                if include.as_ref().is_some_and(|r| !r.is_match(&text))
                    || exclude.as_ref().is_some_and(|r| r.is_match(&text))
                {
                    continue;
                }
                files.push((f, Some(spec.clone())));
            }
            if files.len() == before {
                return Err(InputError(format!(
                    "{}: no spec file (*.yml, *.yaml, *.json) in this directory{}",
                    spec.display(),
                    if include.is_some() || exclude.is_some() {
                        " after --include/--exclude"
                    } else {
                        ""
                    }
                ))
                .into());
            }
        } else {
            files.push((spec.clone(), None));
        }
    }
    Ok(files)
}

fn window_defs(paths: &[PathBuf]) -> anyhow::Result<Vec<AlertWindows>> {
    let mut all = Vec::new();
    for path in paths {
        let mut files = Vec::new();
        if path.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
        for f in files {
            all.extend(load_alert_windows(&f)?);
        }
    }
    Ok(all)
}

/// One spec file read.
pub struct SpecFile {
    /// The file.
    pub file: PathBuf,
    /// The directory it was found under, when it was found in one.
    pub root: Option<PathBuf>,
    /// Its SLOs, periods and windows applied.
    pub slos: Vec<Slo>,
}

/// Every spec's SLOs, periods and windows applied; per file, in order.
pub fn load_specs(input: &SpecArgs) -> anyhow::Result<Vec<SpecFile>> {
    let windows = window_defs(&input.window_defs)?;
    let mut out = Vec::new();
    for (file, root) in spec_files(input)? {
        let mut slos = load_file(&file)?;
        apply_periods(&mut slos, input.default_period, &windows);
        out.push(SpecFile { file, root, slos });
    }
    if out.iter().all(|s| s.slos.is_empty()) {
        return Err(InputError("no SLOs found in the given files".into()).into());
    }
    Ok(out)
}

pub fn run(args: RulesArgs) -> anyhow::Result<()> {
    let options = RuleOptions {
        flavour: match args.compat {
            Compat::Ballast => Flavour::Ballast,
            Compat::Sloth => Flavour::Sloth,
        },
        extra_labels: args
            .extra_labels
            .iter()
            .cloned()
            .collect::<BTreeMap<_, _>>(),
        recordings: !args.disable_recordings,
        alerts: !args.disable_alerts,
        optimized_period: !args.disable_optimizations,
        kubernetes_objects: !args.rule_file,
        ..RuleOptions::default()
    };
    let specs = load_specs(&args.input)?;
    // Checked as one set first: the same SLO in two files is refused even when each file
    // gets its own output.
    let all: Vec<Slo> = specs.iter().flat_map(|s| s.slos.clone()).collect();
    rules::check(&rules::build(&all, &options)?)?;
    match &args.output {
        Some(dir) if dir.is_dir() => {
            for SpecFile { file, root, slos } in &specs {
                if slos.is_empty() {
                    continue;
                }
                let relative = root
                    .as_deref()
                    .and_then(|r| file.strip_prefix(r).ok())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| file.file_name().map(PathBuf::from).unwrap_or_default());
                let out = dir.join(relative);
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                write(&out, &rules::generate_with(slos, &options)?)?;
            }
        }
        Some(path) => write(path, &rules::generate_with(&all, &options)?)?,
        None => print!("{}", rules::generate_with(&all, &options)?),
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} (check it with `promtool check rules {}`)",
        path.display(),
        path.display()
    );
    Ok(())
}

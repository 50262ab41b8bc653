use super::InputError;
use crate::output::write_json;
use anyhow::Context as _;
use ballast_load::Report;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn merge(inputs: &[PathBuf], output: &Path) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::with_capacity(inputs.len());
    for path in inputs {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
        reports.push(Report::from_json(&text, &path.display().to_string())?);
    }
    let merged = Report::merge(&reports)?;
    write_json(output, &merged).with_context(|| format!("writing {}", output.display()))?;
    print!("{}", merged.summary());
    eprintln!("merged {} reports into {}", reports.len(), output.display());
    Ok(ExitCode::SUCCESS)
}

use super::InputError;
use anyhow::Context as _;
use ballast_contract::Contract;
use std::path::Path;
use std::process::ExitCode;

pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let contract = Contract::load(path)?;
    println!(
        "{}: ok — {} request(s), {} phase(s), {} clause(s), {} SLO(s)",
        path.display(),
        contract.requests.len().max(1),
        contract.phases.len(),
        contract.clauses.len(),
        contract.slos.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn schema() -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&ballast_contract::json_schema())?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn init(
    openapi: &Path,
    output: Option<&Path>,
    base_url: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let doc = std::fs::read_to_string(openapi)
        .map_err(|e| InputError(format!("{}: {e}", openapi.display())))?;
    let text = ballast_contract::contract_from_openapi(&doc, base_url)
        .map_err(|e| InputError(format!("{}: {e}", openapi.display())))?;
    match output {
        Some(path) => {
            if path.exists() {
                return Err(
                    InputError(format!("{} exists; not overwriting it", path.display())).into(),
                );
            }
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} — check it with `ballast contract check {}`",
                path.display(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

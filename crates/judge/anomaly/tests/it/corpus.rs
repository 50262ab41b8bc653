//! Where the NAB development corpus lives: `$BALLAST_NAB_DIR` (absolute, or relative to the
//! workspace root), else `../shared/data/nab` relative to the workspace root — a clone with
//! the shared folder beside it, wherever the two are. The root is found from the including
//! crate's manifest folder, not the working directory, which cargo sets per crate.
//!
//! A test that needs the corpus and cannot find it says so in one line and returns; with
//! `CI=true` it fails instead, so CI never passes without having scored the corpus.
//! `crates/cli/tests/anomaly.rs` includes this file too.

use std::path::{Path, PathBuf};

/// The corpus folder when `BALLAST_NAB_DIR` is not set, relative to the workspace root.
pub const DEFAULT_NAB_DIR: &str = "../shared/data/nab";

/// The nearest folder above the including crate whose Cargo.toml declares the workspace.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Where the corpus should be, whether or not it is there.
pub fn nab_location() -> PathBuf {
    let chosen = std::env::var_os("BALLAST_NAB_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_NAB_DIR), PathBuf::from);
    workspace_root().join(chosen)
}

/// The corpus folder, or `None` (after one line on stderr) when it is absent. Panics
/// when it is absent and `CI` is `true`.
pub fn nab_dir() -> Option<PathBuf> {
    let dir = nab_location();
    if dir.join("combined_windows.json").is_file() {
        return Some(dir);
    }
    let message = format!(
        "the NAB corpus is not at {} (set BALLAST_NAB_DIR to a folder holding \
         combined_windows.json, profiles.json, data/ and reference/)",
        dir.display()
    );
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    assert!(!ci, "{message}; CI=true, so this is a failure, not a skip");
    eprintln!("skipped: {message}");
    None
}

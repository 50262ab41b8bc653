//! Where the development corpus lives: `$BALLAST_NAB_DIR`, else `../shared/data/nab` beside
//! the repository, else `/work/shared/data/nab` (the project's machines keep it there).

use std::path::PathBuf;

pub fn nab_dir() -> PathBuf {
    // A clean clone may live anywhere on the machine: beside the shared folder, or not.
    let candidates = [
        std::env::var_os("BALLAST_NAB_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/data/nab")),
        Some(PathBuf::from("/work/shared/data/nab")),
    ];
    let dir = candidates
        .iter()
        .flatten()
        .find(|d| d.join("combined_windows.json").is_file())
        .cloned()
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/data/nab")
        });
    assert!(
        dir.join("combined_windows.json").is_file(),
        "the NAB development corpus is not at {} (set BALLAST_NAB_DIR to a folder with \
         combined_windows.json, profiles.json, data/ and reference/)",
        dir.display()
    );
    dir
}

//! Where the development corpus lives: `$BALLAST_NAB_DIR`, else `../shared/data/nab` beside
//! the repository (the project's machines keep it there).

use std::path::PathBuf;

pub fn nab_dir() -> PathBuf {
    let dir = std::env::var_os("BALLAST_NAB_DIR")
        .map(PathBuf::from)
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

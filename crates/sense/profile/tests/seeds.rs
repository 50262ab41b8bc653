//! The fuzz seeds (real captures from the planted Go service) stay readable, and what
//! decode reads from them writes back to itself, as the fuzz targets assert.

use std::path::Path;

fn seeds(target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn pprof_seeds_decode_and_round_trip() {
    for file in seeds("pprof_profile") {
        let bytes = std::fs::read(&file).unwrap();
        let p =
            ballast_profile::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!p.sample_types.is_empty(), "{}", file.display());
        assert_eq!(
            ballast_profile::decode(&ballast_profile::encode(&p)).unwrap(),
            p
        );
        assert!(matches!(
            ballast_profile::read_file(&file).unwrap(),
            ballast_profile::ProfileFile::Pprof(_)
        ));
    }
}

#[test]
fn goroutine_seeds_parse() {
    for file in seeds("goroutine_dump") {
        match ballast_profile::read_file(&file) {
            Ok(ballast_profile::ProfileFile::Goroutines(dump)) => {
                assert!(!dump.goroutines.is_empty(), "{}", file.display());
                assert!(dump.goroutines.iter().all(|g| !g.frames.is_empty()));
            }
            other => panic!("{}: {other:?}", file.display()),
        }
    }
}

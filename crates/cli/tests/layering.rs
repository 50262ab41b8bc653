//! The workspace's layering, read back from `cargo metadata` (docs/ARCHITECTURE.md):
//! judges depend on the shared model (and other judges) and on no I/O crate, open no
//! socket and start nothing (files only at paths they are handed: checked by review, not
//! here), and sense crates depend on no judge or actor.

use std::collections::BTreeMap;
use std::process::Command;

/// (package name, folder, normal dependencies with their enabled features).
type Crate = (String, String, Vec<(String, Vec<String>)>);

fn workspace() -> Vec<Crate> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let root = metadata["workspace_root"].as_str().unwrap().to_string();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"].as_str().unwrap();
            let folder = manifest
                .strip_prefix(&root)
                .unwrap()
                .trim_start_matches('/')
                .trim_end_matches("/Cargo.toml")
                .to_string();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| {
                    let features = d["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap().to_string())
                        .collect();
                    (d["name"].as_str().unwrap().to_string(), features)
                })
                .collect();
            (p["name"].as_str().unwrap().to_string(), folder, deps)
        })
        .collect()
}

fn layer(folder: &str) -> &'static str {
    match folder.split('/').nth(1) {
        Some("sense") => "sense",
        Some("judge") => "judge",
        Some("act") => "act",
        Some("core") | Some("spec") => "shared",
        _ => "other",
    }
}

#[test]
fn judges_depend_on_the_shared_model_only_and_do_no_io() {
    let crates = workspace();
    let layers: BTreeMap<&str, &str> = crates
        .iter()
        .map(|(name, folder, _)| (name.as_str(), layer(folder)))
        .collect();
    let judges: Vec<&Crate> = crates.iter().filter(|c| layer(&c.1) == "judge").collect();
    assert!(judges.len() >= 3, "the judge crates are found: {judges:?}");
    // Crates that open sockets or talk to a server.
    let io = [
        "hyper",
        "hyper-util",
        "reqwest",
        "tokio-postgres",
        "redis",
        "tokio-rustls",
        "socket2",
    ];
    for (name, _, deps) in &judges {
        for (dep, features) in deps {
            if dep.starts_with("ballast-") {
                let dep_layer = layers.get(dep.as_str()).copied();
                assert!(
                    matches!(dep_layer, Some("shared" | "judge")),
                    "judge {name} depends on {dep}: a judge may depend on ballast-core, ballast-spec and other judges only"
                );
            }
            assert!(
                !io.contains(&dep.as_str()),
                "judge {name} depends on the I/O crate {dep}"
            );
            if dep == "tokio" {
                for forbidden in ["net", "process", "fs", "full"] {
                    assert!(
                        !features.iter().any(|f| f == forbidden),
                        "judge {name} enables tokio's {forbidden}"
                    );
                }
            }
        }
    }
}

#[test]
fn sense_and_shared_crates_depend_on_no_judge_actor_or_orchestrator() {
    let crates = workspace();
    let layers: BTreeMap<&str, &str> = crates
        .iter()
        .map(|(name, folder, _)| (name.as_str(), layer(folder)))
        .collect();
    for (name, folder, deps) in &crates {
        let allowed: &[&str] = match layer(folder) {
            "shared" => &["shared"],
            "sense" => &["shared", "sense"],
            "act" => &["shared", "sense", "act"],
            _ => continue,
        };
        for (dep, _) in deps {
            if let Some(dep_layer) = layers.get(dep.as_str()) {
                assert!(
                    allowed.contains(dep_layer),
                    "{name} ({}) depends on {dep} ({dep_layer})",
                    layer(folder)
                );
            }
        }
    }
}

#[test]
fn judge_sources_open_no_socket_and_spawn_nothing() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../judge");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Integration tests may start real servers; the library may not.
                if !path.ends_with("tests")
                    && !path.ends_with("benches")
                    && !path.ends_with("examples")
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "the judge sources are found");
    let forbidden = [
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "UnixStream",
        "std::process::Command",
        "tokio::process",
        "tokio::spawn",
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in forbidden {
            assert!(
                !text.contains(needle),
                "{} uses {needle}: a judge does no I/O of its own",
                file.display()
            );
        }
    }
}

//! A scratch memory cgroup for live tests: a child of this process's own memory group
//! (v1, or v2 where the memory controller is delegated), with a limit, removed on every
//! way out of the test (`Drop` runs on panics too). Shared with ballast-verify's tests.

use ballast_proc::{cgroup, Version};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A memory-limited group that is removed on drop (its processes killed first).
pub struct ScratchGroup {
    /// The group's directory.
    pub dir: PathBuf,
    /// v1 or v2.
    pub version: Version,
    /// `+memory` was written to the parent's `cgroup.subtree_control` (v2), to undo.
    enabled_in: Option<PathBuf>,
}

impl ScratchGroup {
    /// A group limited to `limit` bytes (and no swap), or one line saying why not.
    pub fn create(limit: u64) -> Result<ScratchGroup, String> {
        let paths = cgroup::locate_pid(Path::new("/proc"), std::process::id())
            .map_err(|e| format!("cannot find this process's cgroups: {e}"))?;
        let (version, own) = paths
            .memory
            .ok_or("no memory cgroup is mounted (neither v1 `memory` nor v2)")?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = own.join(format!("ballast-test-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| {
            format!(
                "cgroup {} memory is not writable here: cannot create {}: {e}",
                if version == Version::V1 { "v1" } else { "v2" },
                dir.display()
            )
        })?;
        let mut group = ScratchGroup {
            dir,
            version,
            enabled_in: None,
        };
        let write = |file: &Path, value: &str| {
            std::fs::write(file, value)
                .map_err(|e| format!("cannot write {value:?} to {}: {e}", file.display()))
        };
        match version {
            Version::V1 => {
                write(&group.dir.join("memory.limit_in_bytes"), &limit.to_string())?;
                let memsw = group.dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &limit.to_string())?;
                }
            }
            Version::V2 => {
                if !group.dir.join("memory.max").exists() {
                    let control = own.join("cgroup.subtree_control");
                    write(&control, "+memory").map_err(|e| {
                        format!("cgroup v2 at {} does not delegate the memory controller to child groups ({e})", own.display())
                    })?;
                    group.enabled_in = Some(control);
                }
                write(&group.dir.join("memory.max"), &limit.to_string())?;
                let swap = group.dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
        }
        Ok(group)
    }

    /// The file a process writes its pid to, to join.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn members(&self) -> Vec<i32> {
        std::fs::read_to_string(self.procs())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for ScratchGroup {
    fn drop(&mut self) {
        // A group can only be removed once empty.
        for _ in 0..400 {
            let members = self.members();
            if members.is_empty() && std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            for pid in members {
                // SAFETY: kill(2) on pids read from our own scratch group.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        if self.dir.exists() {
            eprintln!("could not remove the test cgroup {}", self.dir.display());
        }
        if let Some(control) = &self.enabled_in {
            let _ = std::fs::write(control, "-memory");
        }
    }
}

/// `Some` to go on; `None` after saying in one line why the test cannot run here — a
/// failure instead when `CI=true`, where the machine is expected to allow it.
pub fn or_skip<T>(result: Result<T, String>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{why}")
        }
        Err(why) => {
            eprintln!("skipped (CI=true makes this a failure): {why}");
            None
        }
    }
}

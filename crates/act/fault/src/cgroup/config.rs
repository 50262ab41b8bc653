//! Creating a child group: names, controllers, v2 delegation.

use super::{cgroup_err, read, ChildGroup};
use crate::{hint, Error};
use ballast_proc::{cgroup as located, CgroupPaths, Version};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A child group as data. [`build`](GroupConfig::build) creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// The group's name before `-<our pid>-<n>` (letters, digits, `_`, `.`, `-`; at most
    /// 64), e.g. `ballast-verify`; [`sweep_stale`](crate::sweep_stale) finds leftovers by it.
    pub name: String,
    /// With the memory controller (for a memory limit and OOM counts).
    pub memory: bool,
    /// With the cpu controller (for a CPU quota and throttling counts).
    pub cpu: bool,
}
pub(super) fn check_name(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            field: "name",
            reason: format!(
                "{name:?}: expected 1 to 64 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
            ),
        })
    }
}
impl GroupConfig {
    /// Checks the name and that at least one controller is asked for.
    pub fn validate(&self) -> Result<(), Error> {
        check_name(&self.name)?;
        if !self.memory && !self.cpu {
            return Err(Error::Config {
                field: "memory",
                reason: "a group needs the memory controller, the cpu controller or both".into(),
            });
        }
        Ok(())
    }

    /// Creates the group under this process's own groups (found from `/proc/self`).
    pub fn build(&self) -> Result<ChildGroup, Error> {
        self.validate()?;
        let own = located::locate_pid(Path::new("/proc"), std::process::id())?;
        self.build_under(&own)
    }

    /// Creates the group under the groups in `parents` (another process's, or a
    /// recorded tree's), named `<name>-<our pid>-<n>`.
    pub fn build_under(&self, parents: &CgroupPaths) -> Result<ChildGroup, Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        self.validate()?;
        let leaf = format!(
            "{}-{}-{}",
            self.name,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut group = ChildGroup {
            memory: None,
            cpu: None,
            cpuacct: None,
            dirs: Vec::new(),
            enabled: Vec::new(),
            removed: false,
        };
        let none = |c: &str| {
            cgroup_err(
                Path::new("/sys/fs/cgroup"),
                format!("no {c} controller is mounted (neither cgroup v1 `{c}` nor v2)"),
            )
        };
        let mut wanted: Vec<(Version, PathBuf, &'static str)> = Vec::new();
        if self.memory {
            let (v, p) = parents.memory.clone().ok_or_else(|| none("memory"))?;
            wanted.push((v, p, "memory"));
        }
        if self.cpu {
            let (v, p) = parents.cpu.clone().ok_or_else(|| none("cpu"))?;
            wanted.push((v, p, "cpu"));
        }
        // v2: the parent must offer each controller and hand it to its children.
        let mut v2_parents: Vec<&PathBuf> = wanted
            .iter()
            .filter(|(v, _, _)| *v == Version::V2)
            .map(|(_, p, _)| p)
            .collect();
        v2_parents.dedup();
        for parent in v2_parents {
            let controllers: Vec<&str> = wanted
                .iter()
                .filter(|(v, p, _)| *v == Version::V2 && p == parent)
                .map(|(_, _, c)| *c)
                .collect();
            if let Some(enabled) = enable_v2(parent, &controllers)? {
                group.enabled.push((parent.clone(), enabled));
            }
        }
        // From here on, a failure drops `group`, which removes what was made.
        for (version, parent, controller) in &wanted {
            let dir = parent.join(&leaf);
            if !group.dirs.contains(&dir) {
                make_dir(&dir, *version)?;
                group.dirs.push(dir.clone());
            }
            match *controller {
                "memory" => group.memory = Some((*version, dir)),
                _ => group.cpu = Some((*version, dir)),
            }
        }
        if let (Some((Version::V1, cpu)), Some(acct)) = (&parents.cpu, &parents.cpuacct) {
            if self.cpu {
                let dir = acct.join(&leaf);
                if acct != cpu {
                    make_dir(&dir, Version::V1)?;
                    group.dirs.push(dir.clone());
                }
                group.cpuacct = Some(dir);
            }
        }
        Ok(group)
    }
}
fn make_dir(dir: &Path, version: Version) -> Result<(), Error> {
    std::fs::create_dir(dir).map_err(|e| {
        let v = if version == Version::V1 { "v1" } else { "v2" };
        let h = match e.raw_os_error() {
            Some(libc::EEXIST) => " (already exists)",
            other => hint(other),
        };
        cgroup_err(dir, format!("cannot create this cgroup {v} group: {e}{h}"))
    })
}

/// Makes `parent` hand `controllers` to its children; returns those it had to enable
/// (to undo), `None` if all were.
fn enable_v2(parent: &Path, controllers: &[&str]) -> Result<Option<String>, Error> {
    let offered = read(&parent.join("cgroup.controllers"))?;
    let offered: Vec<&str> = offered.split_whitespace().collect();
    if let Some(c) = controllers.iter().find(|c| !offered.contains(c)) {
        return Err(cgroup_err(
            parent,
            format!(
                "cgroup v2 offers no `{c}` controller here (available: {}): the controller is not mounted, or not delegated to this group",
                if offered.is_empty() { "none".to_string() } else { offered.join(" ") }
            ),
        ));
    }
    let control = parent.join("cgroup.subtree_control");
    let on = read(&control)?;
    let on: Vec<&str> = on.split_whitespace().collect();
    let missing: Vec<&str> = controllers
        .iter()
        .filter(|c| !on.contains(c))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let value = missing
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&control, &value).map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::EBUSY) {
            " (the group holds processes, and v2 gives controllers to children only of a group without any: run ballast in a delegated group of its own, e.g. `systemd-run --scope -p Delegate=yes`)"
        } else {
            hint(e.raw_os_error())
        };
        cgroup_err(&control, format!("writing {value:?}: {e}{why}"))
    })?;
    Ok(Some(missing.join(" ")))
}

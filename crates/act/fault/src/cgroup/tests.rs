use super::sweep::owner;
use super::*;

#[test]
fn owners_of_group_names() {
    assert_eq!(owner("ballast-verify", "ballast-verify-123-0"), Some(123));
    assert_eq!(owner("ballast-verify", "ballast-verify-x-123-0"), None);
    assert_eq!(owner("ballast-verify", "ballast-verify-123"), None);
    assert_eq!(owner("ballast-verify", "ballast-verify-123-"), None);
    assert_eq!(owner("ballast", "ballast-verify-123-0"), None);
    assert_eq!(owner("ballast-verify", "other-123-0"), None);
}

#[test]
fn names_and_controllers_are_checked() {
    let config = |name: &str, memory, cpu| GroupConfig {
        name: name.into(),
        memory,
        cpu,
    };
    for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(65)] {
        let e = config(bad, true, true).validate().unwrap_err().to_string();
        assert!(e.starts_with("name: "), "{e}");
    }
    let e = config("ok", false, false)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("memory: a group needs"), "{e}");
    config("ballast-verify.2_x", true, false)
        .validate()
        .unwrap();
}

/// A cgroup v2 parent as plain files, as the kernel shows it.
fn fake_v2(controllers: &str) -> ballast_testkit::TempDir {
    let dir = ballast_testkit::TempDir::new("fault-v2");
    std::fs::write(dir.path().join("cgroup.controllers"), controllers).unwrap();
    std::fs::write(dir.path().join("cgroup.subtree_control"), "\n").unwrap();
    dir
}

/// Removes the files a fake child got, as the kernel would on rmdir.
fn empty_fake(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
}

#[test]
fn v2_enables_the_controllers_writes_limits_and_undoes_it() {
    let parent = fake_v2("cpuset cpu io memory pids\n");
    let config = GroupConfig {
        name: "t".into(),
        memory: true,
        cpu: true,
    };
    let group = config.build_under(&CgroupPaths::v2(parent.path())).unwrap();
    let control = parent.path().join("cgroup.subtree_control");
    assert_eq!(std::fs::read_to_string(&control).unwrap(), "+memory +cpu");
    assert_eq!(group.version(), Version::V2);
    assert_eq!(group.dirs().len(), 1);
    let dir = group.dirs()[0].clone();
    assert!(dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(&format!("t-{}-", std::process::id())));
    assert_eq!(group.memory_dir(), Some(dir.as_path()));
    assert_eq!(group.cpu_dir(), Some(dir.as_path()));
    assert_eq!(group.paths(), CgroupPaths::v2(&dir));

    std::fs::write(dir.join("memory.swap.max"), "max\n").unwrap();
    group.set_memory_limit(Some(64 << 20)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max")).unwrap(),
        "67108864"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.swap.max")).unwrap(),
        "0"
    );
    assert_eq!(group.memory_limit().unwrap(), Some(64 << 20));
    group.set_memory_limit(None).unwrap();
    assert_eq!(group.memory_limit().unwrap(), None);
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.swap.max")).unwrap(),
        "max"
    );

    group.set_cpu_quota(Some(0.5)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.max")).unwrap(),
        "50000 100000"
    );
    assert_eq!(group.cpu_quota().unwrap(), Some(0.5));
    group.set_cpu_quota(None).unwrap();
    assert_eq!(group.cpu_quota().unwrap(), None);
    let e = group.set_cpu_quota(Some(0.0)).unwrap_err().to_string();
    assert!(e.starts_with("cpus: must be 0.01 to 4096"), "{e}");

    empty_fake(&dir);
    group.remove().unwrap();
    assert!(!dir.exists());
    assert_eq!(std::fs::read_to_string(&control).unwrap(), "-memory -cpu");
}

#[test]
fn v2_leaves_enabled_controllers_alone_and_says_which_is_missing() {
    let parent = fake_v2("memory cpu");
    let control = parent.path().join("cgroup.subtree_control");
    std::fs::write(&control, "cpu memory\n").unwrap();
    let group = GroupConfig {
        name: "t".into(),
        memory: true,
        cpu: false,
    }
    .build_under(&CgroupPaths::v2(parent.path()))
    .unwrap();
    assert_eq!(group.cpu_dir(), None);
    let e = group.set_cpu_quota(Some(1.0)).unwrap_err().to_string();
    assert_eq!(e, "cpus: this group was made without the cpu controller");
    empty_fake(&group.dirs()[0]);
    drop(group);
    assert_eq!(std::fs::read_to_string(&control).unwrap(), "cpu memory\n");

    let parent = fake_v2("hugetlb\n");
    let e = GroupConfig {
        name: "t".into(),
        memory: true,
        cpu: true,
    }
    .build_under(&CgroupPaths::v2(parent.path()))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cgroup v2 offers no `memory` controller here (available: hugetlb)")
            && e.contains("not mounted"),
        "{e}"
    );
    let children = std::fs::read_dir(parent.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(children, 0, "nothing made");
}

#[test]
fn a_controller_not_mounted_at_all_is_named() {
    let e = GroupConfig {
        name: "t".into(),
        memory: true,
        cpu: false,
    }
    .build_under(&CgroupPaths::default())
    .unwrap_err()
    .to_string();
    assert!(e.contains("no memory controller is mounted"), "{e}");
}

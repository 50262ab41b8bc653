//! What the machine offers: a process's CPUs and the memory installed.

use crate::{pid_t, Error};
use std::path::Path;

/// The CPUs process `pid` may run on (`sched_getaffinity(2)`), ascending.
pub fn target_cpus(pid: u32) -> Result<Vec<usize>, Error> {
    let p = pid_t("pid", pid)?;
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the size passed is the set's.
    let r = unsafe { libc::sched_getaffinity(p, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        let source = std::io::Error::last_os_error();
        return Err(Error::Io {
            path: format!("/proc/{pid} (sched_getaffinity)").into(),
            source,
        });
    }
    // SAFETY: CPU_ISSET reads the set within CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The machine's memory in bytes (`MemTotal` in `/proc/meminfo`).
pub fn memory_total() -> Result<u64, Error> {
    let path = Path::new("/proc/meminfo");
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    mem_total(&text).ok_or_else(|| Error::Io {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no `MemTotal: N kB` line"),
    })
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kib.checked_mul(1024)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_reads_kib() {
        assert_eq!(
            mem_total("MemTotal:       24683656 kB\nMemFree: 1 kB\n"),
            Some(24683656 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: x kB\n"), None);
        assert_eq!(mem_total("MemTotal: 12\n"), None);
    }

    #[test]
    fn this_machine() {
        assert!(memory_total().unwrap() > 64 << 20);
        let cpus = target_cpus(std::process::id()).unwrap();
        assert!(!cpus.is_empty());
        assert!(target_cpus(0).is_err());
    }
}

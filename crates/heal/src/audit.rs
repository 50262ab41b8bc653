//! The append-only audit trail: one JSON object per line, each written and `fsync`ed
//! before the healer goes on, so a `kill -9` loses no record that was acknowledged.
//! Rotated by size: `audit.jsonl` → `audit.jsonl.1` → … → `audit.jsonl.KEEP`, the oldest
//! dropped.

use crate::error::storage;
use crate::Error;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
    written: u64,
}

/// One record: when, what, and the event's own fields.
#[derive(Debug, Serialize)]
struct Record<'a, T: Serialize> {
    time: String,
    unix: f64,
    #[serde(flatten)]
    what: &'a T,
}

impl AuditLog {
    /// Opens (or creates) `dir/audit.jsonl` for appending.
    pub fn open(dir: &Path, max_bytes: u64, keep: u32) -> Result<AuditLog, Error> {
        let path = dir.join("audit.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| storage(&path, e))?;
        let size = file.metadata().map_err(|e| storage(&path, e))?.len();
        Ok(AuditLog {
            path,
            file,
            size,
            max_bytes,
            keep: keep.max(1),
            written: 0,
        })
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written since it was opened.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one record and waits until it is on disk.
    pub fn append<T: Serialize>(&mut self, now: f64, what: &T) -> Result<(), Error> {
        self.append_all(now, std::slice::from_ref(what))
    }

    /// Appends several records, each a whole line, with one sync for all of them (a
    /// delivery of a thousand alerts is one fsync, not a thousand).
    pub fn append_all<T: Serialize>(&mut self, now: f64, records: &[T]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        for what in records {
            self.write_line(now, what)?;
        }
        self.file.sync_data().map_err(|e| storage(&self.path, e))
    }

    fn write_line<T: Serialize>(&mut self, now: f64, what: &T) -> Result<(), Error> {
        let record = Record {
            time: ballast_heal_policy::time::format_rfc3339(now),
            unix: (now * 1000.0).round() / 1000.0,
            what,
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| storage(&self.path, e))?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            // The lines so far are synced before the file they are in is renamed away.
            self.file.sync_data().map_err(|e| storage(&self.path, e))?;
            self.rotate()?;
        }
        // One write per record: with O_APPEND a line is never interleaved with another.
        self.file
            .write_all(&line)
            .map_err(|e| storage(&self.path, e))?;
        self.size += line.len() as u64;
        self.written += 1;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), Error> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1)).map_err(|e| storage(&from, e))?;
            }
        }
        std::fs::rename(&self.path, numbered(1)).map_err(|e| storage(&self.path, e))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| storage(&self.path, e))?;
        sync_dir(&self.path);
        self.size = 0;
        Ok(())
    }
}

/// Makes a rename durable (best effort: not every filesystem lets a folder be synced).
pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_whole_lines_and_rotates_keeping_the_newest() {
        let dir = std::env::temp_dir().join(format!("ballast-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = AuditLog::open(&dir, 4096, 2).unwrap();
        for i in 0..200 {
            log.append(
                1_796_155_200.0 + i as f64,
                &serde_json::json!({"event": "test", "i": i}),
            )
            .unwrap();
        }
        let live = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
        let one = std::fs::read_to_string(dir.join("audit.jsonl.1")).unwrap();
        assert!(dir.join("audit.jsonl.2").exists() && !dir.join("audit.jsonl.3").exists());
        let last: serde_json::Value = serde_json::from_str(live.lines().last().unwrap()).unwrap();
        assert_eq!(last["i"], 199);
        assert_eq!(last["time"], "2026-12-01T20:03:19.000Z");
        // Rotation loses nothing between the files it keeps: the numbers run on.
        let first_live: serde_json::Value =
            serde_json::from_str(live.lines().next().unwrap()).unwrap();
        let last_one: serde_json::Value =
            serde_json::from_str(one.lines().last().unwrap()).unwrap();
        assert_eq!(
            last_one["i"].as_u64().unwrap() + 1,
            first_live["i"].as_u64().unwrap()
        );
        assert!(std::fs::metadata(dir.join("audit.jsonl")).unwrap().len() <= 4096);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The engine's state on disk: written whole to a temporary file, synced, and renamed
//! over the old one, so a crash at any moment leaves either the old state or the new,
//! never half of one.

use crate::audit::sync_dir;
use crate::error::storage;
use crate::Error;
use ballast_heal_policy::State;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the state lives.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// `dir/state.json`.
    pub fn new(dir: &Path) -> Store {
        Store {
            path: dir.join("state.json"),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or the empty one when none was saved. A file that cannot be read
    /// back is an error, not a fresh start: forgetting would repeat actions.
    pub fn load(&self) -> Result<State, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                storage(
                    &self.path,
                    format!("cannot read the saved state ({e}); move it aside to start afresh, knowing that actions may then be repeated"),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(storage(&self.path, e)),
        }
    }

    /// Saves `state` durably.
    pub fn save(&self, state: &State) -> Result<(), Error> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| storage(&self.path, e))?;
        let mut file = std::fs::File::create(&tmp).map_err(|e| storage(&tmp, e))?;
        file.write_all(&bytes).map_err(|e| storage(&tmp, e))?;
        file.sync_all().map_err(|e| storage(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| storage(&self.path, e))?;
        sync_dir(&self.path);
        Ok(())
    }
}

//! Conflicts a person resolves. A pass that finds a file changed on both sides keeps both
//! versions (the other one as `name.conflict-STAMP.ext`, see [`crate::exec`]) and records it;
//! here the person keeps the local version, the remote one, or both, and the record goes.
//! Nothing is deleted for good: a version set aside goes to the folder's `.ossvault-trash/`
//! (and, once the next pass mirrors the change, the remote one to the remote trash).

use crate::engine::ConflictRecord;
use crate::error::{Error, Result};
use crate::exec::move_to_local_trash;
use crate::pair::{Mode, Pair, PairStore};
use crate::scan::rel_to_path;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the person keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// The local version keeps the name; the remote one is set aside.
    KeepLocal,
    /// The remote version takes the name; the local one is set aside.
    KeepRemote,
    /// Both stay (the copy keeps its conflict name); only the record goes.
    KeepBoth,
}

/// A conflict whose copy is still there, with which file holds which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConflict {
    pub time_ms: u64,
    /// The file's path (relative, `/`-separated).
    pub path: String,
    /// The conflict copy's path.
    pub copy: String,
    /// Which of the two holds the local version, and which the remote one.
    pub local_version: String,
    pub remote_version: String,
}

impl OpenConflict {
    fn of(pair: &Pair, r: ConflictRecord) -> OpenConflict {
        // A two-way pass uploads the local version under the name and keeps the remote one
        // as the copy; a download pass does the opposite (the remote side is the truth).
        let (local_version, remote_version) = match pair.mode {
            Mode::Download => (r.copy.clone(), r.path.clone()),
            Mode::TwoWay | Mode::Upload => (r.path.clone(), r.copy.clone()),
        };
        OpenConflict {
            time_ms: r.time_ms,
            path: r.path,
            copy: r.copy,
            local_version,
            remote_version,
        }
    }

    /// The local file of one version (`remote`: the remote version's).
    pub fn file(&self, pair: &Pair, remote: bool) -> PathBuf {
        let rel = if remote {
            &self.remote_version
        } else {
            &self.local_version
        };
        pair.local.join(rel_to_path(rel))
    }
}

/// The pair's conflicts still open (both files still there), newest first.
pub fn open_conflicts(store: &PairStore, pair: &Pair) -> Result<Vec<OpenConflict>> {
    let mut open: Vec<OpenConflict> = crate::engine::conflicts(store, &pair.name)?
        .into_iter()
        .map(|r| OpenConflict::of(pair, r))
        .filter(|c| {
            pair.local.join(rel_to_path(&c.copy)).is_file()
                && pair.local.join(rel_to_path(&c.path)).is_file()
        })
        .collect();
    open.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(a.copy.cmp(&b.copy)));
    open.dedup_by(|a, b| a.copy == b.copy);
    Ok(open)
}

/// The open conflict whose copy is `copy`.
pub fn find(store: &PairStore, pair: &Pair, copy: &str) -> Result<OpenConflict> {
    open_conflicts(store, pair)?
        .into_iter()
        .find(|c| c.copy == copy)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "no open conflict {copy:?} in the pair {:?} (resolved already?)",
                pair.name
            ))
        })
}

/// Resolves the conflict whose copy is `copy` as the person chose; returns it. The next pass
/// carries the change to the other side.
pub fn resolve(
    store: &PairStore,
    pair: &Pair,
    copy: &str,
    resolution: Resolution,
) -> Result<OpenConflict> {
    let conflict = find(store, pair, copy)?;
    let root = &pair.local;
    match (resolution, pair.mode) {
        (Resolution::KeepBoth, _) => {}
        (Resolution::KeepLocal, Mode::Download) => {
            return Err(Error::InvalidInput(
                "a download pair mirrors the remote side: its local version can only be kept beside it (keep both)"
                    .into(),
            ))
        }
        (Resolution::KeepLocal, _) | (Resolution::KeepRemote, Mode::Download) => {
            // The copy holds the version not kept.
            move_to_local_trash(root, &conflict.copy)?;
        }
        (Resolution::KeepRemote, _) => {
            // The remote version (the copy) takes the name; the local one is set aside.
            move_to_local_trash(root, &conflict.path)?;
            let from = root.join(rel_to_path(&conflict.copy));
            std::fs::rename(&from, root.join(rel_to_path(&conflict.path)))
                .map_err(Error::io(&from))?;
        }
    }
    forget(store, &pair.name, copy)?;
    Ok(conflict)
}

/// Drops the records of the conflict whose copy is `copy`.
fn forget(store: &PairStore, name: &str, copy: &str) -> Result<()> {
    let path = store.state_dir(name).join("conflicts.jsonl");
    let mut text = String::new();
    for r in crate::engine::conflicts(store, name)? {
        if r.copy != copy {
            text.push_str(&serde_json::to_string(&r).map_err(|e| Error::Index(e.to_string()))?);
            text.push('\n');
        }
    }
    ossvault_fs::write_durably(&path, text.as_bytes(), ossvault_fs::MODE_OWNER_ONLY)
        .map_err(Error::io(&path))
}

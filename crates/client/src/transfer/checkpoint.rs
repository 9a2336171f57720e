//! Checkpoints: one small JSON file per transfer, replaced atomically as the transfer advances.
//!
//! The file is named by a hash of what identifies the transfer (its kind, bucket, key and
//! local path), so the same transfer started again finds it, whatever the process. It is
//! rewritten whole after each finished part: written to a temp file, fsynced, renamed over the
//! old one, and the directory fsynced, so a crash at any moment leaves either the old or the
//! new checkpoint, never a torn one. What it records is only ever a subset of what is truly
//! done (it is written after the part is), so resuming from it is always safe.

use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The version of the checkpoint formats; checkpoints of another version are ignored.
pub(super) const FORMAT_VERSION: u32 = 1;

/// Where the checkpoint of the transfer of `local` to or from `bucket/key` lives in `dir`.
/// `kind` (`upload`, `download`) keeps the two directions of the same pair apart.
pub(super) fn path_for(dir: &Path, kind: &str, bucket: &str, key: &str, local: &Path) -> PathBuf {
    let mut hash = Sha256::new();
    // Length-prefixed, so that no two different tuples hash the same bytes.
    for part in [
        kind.as_bytes(),
        bucket.as_bytes(),
        key.as_bytes(),
        local.as_os_str().as_encoded_bytes(),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    dir.join(format!(
        "{kind}-{}.json",
        hex::encode(&hash.finalize()[..16])
    ))
}

/// Reads a checkpoint. A missing one is `None`; so is one that cannot be read or parsed (a
/// checkpoint is an optimisation: the transfer then starts over, and overwrites it).
pub(super) async fn load<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the checkpoint; starting over");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable checkpoint; starting over");
            None
        }
    }
}

/// Replaces the checkpoint at `path` with `value`, atomically and durably; creates the
/// checkpoint directory if needed.
pub(super) async fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let json = serde_json::to_vec(value)
        .map_err(|e| Error::io("cannot encode a checkpoint", std::io::Error::other(e)))?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_atomically(&path, &json))
        .await
        .map_err(|e| Error::io("cannot write a checkpoint", std::io::Error::other(e)))?
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let context = |what: &str| format!("cannot {what} the checkpoint {}", path.display());
    std::fs::create_dir_all(dir).map_err(|e| Error::io(context("create the directory of"), e))?;
    // The temporary name is unique: two processes resuming the same transfer share none.
    ossvault_fs::write_durably(path, data, ossvault_fs::MODE_SHARED)
        .map_err(|e| Error::io(context("write"), e))
}

/// Deletes a checkpoint, if there is one. Best effort: a stale checkpoint is harmless (the
/// next transfer finds it does not match, or its upload gone, and starts over).
pub(super) async fn remove(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete the checkpoint")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        n: u32,
    }

    #[tokio::test]
    async fn saves_loads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("sub"), "upload", "b", "k", Path::new("/f"));
        assert_eq!(load::<Sample>(&path).await, None);
        save(&path, &Sample { n: 1 }).await.unwrap();
        save(&path, &Sample { n: 2 }).await.unwrap();
        assert_eq!(load::<Sample>(&path).await, Some(Sample { n: 2 }));
        // Only the checkpoint itself is left: no temp file.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        std::fs::write(&path, b"{torn").unwrap();
        assert_eq!(load::<Sample>(&path).await, None);
        remove(&path).await;
        remove(&path).await;
        assert!(!path.exists());
    }

    #[test]
    fn names_differ_by_every_component() {
        let d = Path::new("/ck");
        let base = path_for(d, "upload", "b", "k", Path::new("/f"));
        assert_eq!(base, path_for(d, "upload", "b", "k", Path::new("/f")));
        for other in [
            path_for(d, "download", "b", "k", Path::new("/f")),
            path_for(d, "upload", "bk", "", Path::new("/f")),
            path_for(d, "upload", "b", "k2", Path::new("/f")),
            path_for(d, "upload", "b", "k", Path::new("/g")),
        ] {
            assert_ne!(base, other);
        }
    }
}

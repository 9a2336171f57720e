//! The queue on disk: one JSON file per transfer (`queue/<id>.json`), replaced durably
//! (temp file, fsync, rename, fsync of the directory) at each change of state, so that a crash
//! leaves each transfer in its old or its new state. Files are 0600, directories 0700: they
//! name local paths and buckets. A `lock` file keeps a second process from running the queue.

use super::{TransferId, TransferInfo};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Overrides [`default_state_dir`].
pub const ENV_TRANSFERS_DIR: &str = "OSSVAULT_TRANSFERS_DIR";

const VERSION: u32 = 1;

/// The queue of the app and the CLI: `$OSSVAULT_TRANSFERS_DIR`, else
/// `<data dir>/ossvault/transfers` (`~/.local/share` on Linux, `~/Library/Application Support`
/// on macOS, `%APPDATA%` on Windows).
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_TRANSFERS_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(dirs::data_dir()
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "no data directory on this system: set {ENV_TRANSFERS_DIR}"
            ))
        })?
        .join("ossvault")
        .join("transfers"))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    version: u32,
    transfer: TransferInfo,
}

fn queue_dir(dir: &Path) -> PathBuf {
    dir.join("queue")
}

fn record_path(dir: &Path, id: TransferId) -> PathBuf {
    queue_dir(dir).join(format!("{id:020}.json"))
}

/// Where transfer `id` keeps its checkpoints.
pub(super) fn checkpoint_dir(dir: &Path, id: TransferId) -> PathBuf {
    dir.join("checkpoints").join(id.to_string())
}

/// Removes the checkpoint directories that no unfinished transfer owns (left by a crash, or
/// by a checkpoint write still landing after a cancelled transfer was tidied).
pub(super) fn sweep_checkpoints(dir: &Path, owned: impl Fn(TransferId) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir.join("checkpoints")) else {
        return;
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_str().and_then(|n| n.parse().ok());
        if id.is_none_or(|id| !owned(id)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates the queue's directories, owner-only.
pub(super) fn prepare(dir: &Path) -> Result<()> {
    for d in [dir.to_owned(), queue_dir(dir), dir.join("checkpoints")] {
        ossvault_fs::create_private_dir_all(&d).map_err(Error::io(&d))?;
    }
    Ok(())
}

/// Locks the queue for this process (released when the file is closed).
pub(super) fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, ossvault_fs::MODE_OWNER_ONLY);
    let file = options.open(&path).map_err(Error::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InvalidInput(format!(
            "the transfer queue in {} is open in another process (the app, or `ossvault \
             transfers resume`)",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path)(e)),
    }
}

fn encode(info: &TransferInfo) -> Vec<u8> {
    let mut transfer = info.clone();
    // Live figures are not state.
    transfer.bytes_per_sec = 0;
    transfer.eta_secs = None;
    serde_json::to_vec_pretty(&Stored {
        version: VERSION,
        transfer,
    })
    .expect("a transfer encodes")
}

fn write(dir: &Path, info: &TransferInfo) -> std::io::Result<()> {
    ossvault_fs::write_durably(
        &record_path(dir, info.id),
        &encode(info),
        ossvault_fs::MODE_OWNER_ONLY,
    )
}

/// Stores one transfer.
pub(super) async fn save(dir: &Path, info: &TransferInfo) -> Result<()> {
    save_all(dir, std::slice::from_ref(info)).await
}

/// Stores transfers, several at once (their fsyncs overlap: a folder of many files is
/// queued at the disk's group-commit rate, not one sync after the other).
pub(super) async fn save_all(dir: &Path, infos: &[TransferInfo]) -> Result<()> {
    const AT_ONCE: usize = 16;
    for chunk in infos.chunks(AT_ONCE) {
        let mut writes = tokio::task::JoinSet::new();
        for info in chunk {
            let (dir, info) = (dir.to_owned(), info.clone());
            writes.spawn_blocking(move || {
                write(&dir, &info).map_err(Error::io(record_path(&dir, info.id)))
            });
        }
        while let Some(done) = writes.join_next().await {
            done.map_err(|e| Error::io(queue_dir(dir))(std::io::Error::other(e)))??;
        }
    }
    Ok(())
}

/// Deletes a transfer's file and checkpoints.
pub(super) async fn remove(dir: &Path, id: TransferId) -> Result<()> {
    let (path, checkpoints) = (record_path(dir, id), checkpoint_dir(dir, id));
    tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&checkpoints);
        match std::fs::remove_file(&path) {
            Ok(()) => ossvault_fs::sync_dir(path.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
        .map_err(Error::io(&path))
    })
    .await
    .map_err(|e| Error::io(queue_dir(dir))(std::io::Error::other(e)))?
}

/// Every stored transfer, oldest first. A file that cannot be parsed is skipped (and logged).
pub(super) fn load(dir: &Path) -> Result<Vec<TransferInfo>> {
    let queue = queue_dir(dir);
    let entries = match std::fs::read_dir(&queue) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&queue)(e)),
    };
    let mut transfers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(&queue))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // `.name.random.tmp` are the temp files of writes a crash interrupted.
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Stored>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(stored) if stored.version == VERSION => transfers.push(stored.transfer),
            Ok(stored) => {
                tracing::warn!(path = %path.display(), version = stored.version, "unknown transfer format; skipped")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable transfer; skipped")
            }
        }
    }
    transfers.sort_by_key(|t| t.id);
    Ok(transfers)
}

/// The transfers stored in `state_dir`, oldest first, read without opening the queue (a
/// process may be running it: what it is doing right now shows as queued).
pub fn stored_transfers(state_dir: &Path) -> Result<Vec<TransferInfo>> {
    load(state_dir)
}

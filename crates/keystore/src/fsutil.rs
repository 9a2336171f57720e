//! Private files: durable writes with mode 0600, a 0700 config dir, an inter-process lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` (and parents) if needed and makes it private to the user (0700 on Unix).
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(dir, e))?;
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content,
/// owner-only (0600 on Unix): [`ossvault_fs::write_durably`].
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ossvault_fs::write_durably(path, bytes, ossvault_fs::MODE_OWNER_ONLY)
        .map_err(|e| Error::io(path, e))
}

/// An exclusive advisory lock on `<config dir>/keys.lock`, held for the duration of every
/// change, so that the app and the CLI changing keys at once don't lose each other's updates.
///
/// `File::lock`: `flock(2)` on Unix, `LockFileEx` on Windows.
pub(crate) struct DirLock {
    _file: File,
    _path: PathBuf,
}

impl DirLock {
    pub(crate) fn acquire(config_dir: &Path) -> Result<Self> {
        let path = config_dir.join("keys.lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        // flock(2) on Unix, LockFileEx on Windows: the same exclusion on every platform.
        file.lock().map_err(|e| Error::io(&path, e))?;
        // The lock is released when the file is closed.
        Ok(DirLock {
            _file: file,
            _path: path,
        })
    }
}

/// Makes this process leave no core dump (`RLIMIT_CORE` = 0), so that keys in its memory are
/// not written to disk if it crashes. Call it early in processes that hold keys. No-op where
/// the platform has no such limit.
pub fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct we pass; no pointers are kept.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_private_dir_is_0700() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        let path = dir.join("f");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn lock_is_exclusive_across_handles() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let _second = DirLock::acquire(&path).unwrap();
            tx.send(()).unwrap();
        });
        #[cfg(unix)]
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(lock);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        handle.join().unwrap();
    }
}

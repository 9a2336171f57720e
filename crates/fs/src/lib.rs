//! Durable file replacement: after a crash a file is its old content or its new content, never
//! a torn mix, and a replacement that returned `Ok` survives the crash.
//!
//! The sequence is the one every crate of ossvault needs (checkpoints, key metadata, the
//! keystore file, TLS keys, downloads): write a temporary file beside the target, fsync it,
//! rename it over the target, fsync the directory. The last step is not optional: fsync of a
//! file does not persist its directory entry, so without it a rename can be lost by a crash
//! (ext4 and XFS both document this; `tempfile::NamedTempFile::persist` syncs neither).
//!
//! Permissions: `mode` is a Unix mode applied at creation (then masked by the umask, as
//! `open(2)` does); other platforms have no mode bits and ignore it. Directory fsync is
//! Unix-only: Windows cannot open a directory as a file, and its `MoveFileEx` (what
//! [`std::fs::rename`] uses) is a journaled metadata change, so [`sync_dir`] is a no-op there.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The mode of files anyone may read (before the umask), as [`File::create`] makes them.
pub const MODE_SHARED: u32 = 0o666;
/// The mode of files only their owner may read or write: keys, credentials, secrets.
pub const MODE_OWNER_ONLY: u32 = 0o600;

/// Replaces `path` with `bytes` durably (module documentation), creating it with `mode` if it
/// did not exist. The temporary file is removed on failure.
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = DurableFile::create(path, mode)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Renames `from` over `to` and makes the rename durable by syncing `to`'s directory. `from`
/// must already be synced (its content is not this function's to flush) and on the same
/// file system.
pub fn rename_durably(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(parent_dir(to))
}

/// Makes the creations, renames and removals in `dir` durable: fsync of the directory on
/// Unix; a no-op elsewhere (module documentation).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` and its missing parents, owner-only (0700 on Unix; the platform's default
/// elsewhere, where a user's profile directories are private already). An existing directory is
/// fine and keeps its mode.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates a new file that must not exist yet, owner-only (0600 on Unix): credentials, keys.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, MODE_OWNER_ONLY);
    options.open(path)
}

/// The directory a file path is in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A replacement of a file being written: a temporary file beside the target that
/// [`commit`](DurableFile::commit) fsyncs and renames over it. Dropped without a commit, the
/// temporary file is removed and the target is untouched. For content streamed in pieces;
/// [`write_durably`] is the one-call form.
#[derive(Debug)]
pub struct DurableFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl DurableFile {
    /// Starts replacing `target`: creates a temporary file with `mode` in its directory,
    /// under a name no other writer uses (`.<name>.<random>.tmp`).
    pub fn create(target: &Path, mode: u32) -> io::Result<DurableFile> {
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file", target.display()),
            )
        })?;
        let temp = parent_dir(target).join(format!(
            ".{}.{:016x}.tmp",
            name.to_string_lossy(),
            rand::random::<u64>()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = options.open(&temp)?;
        Ok(DurableFile {
            file: Some(file),
            temp,
            target: target.to_owned(),
        })
    }

    /// The temporary file, for writes and reads before the commit.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("present until commit")
    }

    /// The path of the temporary file.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Fsyncs the content, renames it over the target and fsyncs the directory. On failure
    /// the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("present until commit");
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)?;
        // Renamed: nothing left to clean up, whatever the directory sync says.
        self.temp = PathBuf::new();
        sync_dir(parent_dir(&self.target))
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_durably(&path, b"one", MODE_SHARED).unwrap();
        write_durably(&path, b"two", MODE_SHARED).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(entries(dir.path()), ["f.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn owner_only_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_durably(&path, b"k", MODE_OWNER_ONLY).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn private_dirs_and_new_private_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        create_private_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        create_new_private(&path).unwrap().write_all(b"s").unwrap();
        assert_eq!(
            create_new_private(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
    }

    #[test]
    fn an_uncommitted_replacement_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_durably(&path, b"old", MODE_SHARED).unwrap();
        {
            let mut f = DurableFile::create(&path, MODE_SHARED).unwrap();
            f.write_all(b"half of the new").unwrap();
            assert!(f.temp_path().exists());
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["f"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the target's place: the rename of a file over it fails.
        let path = dir.path().join("taken");
        std::fs::create_dir(path.join("")).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        assert!(write_durably(&path, b"new", MODE_SHARED).is_err());
        assert_eq!(entries(dir.path()), ["taken"]);
    }

    #[test]
    fn rename_durably_moves_a_finished_file() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.part"), dir.path().join("a"));
        std::fs::write(&from, b"done").unwrap();
        rename_durably(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"done");
        assert!(!from.exists());
        sync_dir(Path::new(".")).unwrap();
    }
}

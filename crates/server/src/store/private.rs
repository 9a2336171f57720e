//! Owner-only permissions for everything in the data directory. Objects stored without SSE are
//! plaintext on disk, so other local users must not reach them whatever the umask: directories
//! are created 0700 and files 0600. On platforms without Unix modes these are plain creations
//! (the data directory lives in the user's profile, private by default there).

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, owner-only.
pub use ossvault_fs::create_private_dir_all as create_dir_all;

/// Creates one directory, owner-only; an existing one is fine.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Makes `dir` and everything below it owner-only if `dir` is open to other users (a data
/// directory made by an earlier version, or by hand): directories 0700, files 0600. Symbolic
/// links are left alone and not followed. Returns how many entries were changed (0 when `dir`
/// was already private: then nothing below it is walked, so a big store opens fast).
#[cfg(unix)]
pub fn restrict_tree(dir: &Path) -> io::Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    if fs::metadata(dir)?.permissions().mode() & 0o077 == 0 {
        return Ok(0);
    }
    fn walk(path: &Path, changed: &mut u64) -> io::Result<()> {
        let meta = fs::symlink_metadata(path)?;
        let wanted = if meta.is_dir() {
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            return Ok(());
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode != wanted {
            fs::set_permissions(path, fs::Permissions::from_mode(wanted))?;
            *changed += 1;
        }
        if meta.is_dir() {
            for entry in fs::read_dir(path)? {
                walk(&entry?.path(), changed)?;
            }
        }
        Ok(())
    }
    let mut changed = 0;
    walk(dir, &mut changed)?;
    Ok(changed)
}

#[cfg(not(unix))]
pub fn restrict_tree(_dir: &Path) -> io::Result<u64> {
    Ok(0)
}

/// Makes one existing file owner-only (a file another library created, e.g. the database).
pub fn restrict_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

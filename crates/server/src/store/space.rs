//! Free space on the data directory's file system, and the reserve below which new content is
//! refused (so that metadata commits and deletes, which need a little room, still succeed on a
//! full disk).

use std::io;
use std::path::Path;

/// Bytes available to this (unprivileged) user on the file system holding `path`; `None` where
/// the platform gives no cheap answer (then no reserve is enforced; a real ENOSPC is still
/// reported as such).
#[cfg(unix)]
pub fn available(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path; statvfs fills `st` on success only.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn available(_path: &Path) -> Option<u64> {
    None
}

/// The error new content gets when writing it would eat into the reserve.
pub fn refused(free: u64, reserve: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!(
            "the data directory's disk has {free} bytes free, at or below the reserve of {reserve} \
             bytes kept for metadata and deletes"
        ),
    )
}

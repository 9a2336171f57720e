//! Content: small blobs inline in the metadata database, others as files written in `tmp/`,
//! fsynced, renamed into `blobs/`.
//!
//! The life of a blob: [`BlobWriter`] gathers the bytes in memory while they fit the store's
//! inline threshold and streams into `tmp/<hex>` beyond it; [`BlobWriter::finish`] yields a
//! [`NewBlob`]: inline bytes, or a file made durable. A `Store` write [`publish`]es a file blob
//! (rename into `blobs/<aa>/<hex>` plus a directory fsync, so the name is durable too) and only
//! then commits the metadata that references it; an inline blob's bytes go into that same
//! metadata commit (no file, no fsync of its own). Every stage cleans up after itself when
//! dropped early, so an error or a panic anywhere on the way leaves no file behind (a crash may:
//! `Store::open` removes those).

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size of the write buffer: small writes (a hyper body arrives in frames of a few KiB) are
/// gathered into large `write(2)` calls; writes at least this large bypass it.
const WRITE_BUFFER: usize = 1 << 20;
/// Start the kernel's writeback every this many bytes, so the disk works while the body is
/// still arriving and the final fsync only waits for the tail (as RocksDB's `bytes_per_sync`).
const WRITEBACK_STEP: u64 = 8 << 20;

/// A blob's random 128-bit id; its file is `blobs/<first two hex>/<32 hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobId(pub u128);

impl BlobId {
    /// A fresh random id.
    pub fn random() -> Self {
        BlobId(rand::random::<u128>())
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// Parses exactly 32 lowercase hex digits (the only spelling [`BlobId::to_hex`] produces, so
    /// that a file name maps to at most one id and back to the same name).
    pub fn from_hex(s: &str) -> Option<Self> {
        let canonical = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(BlobId)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A blob being written. Blocking I/O. Dropped unfinished: the temp file is removed.
pub struct BlobWriter {
    id: BlobId,
    path: PathBuf,
    /// `None` while the content fits `inline_max` (it is all in `buf`): no file yet.
    file: Option<File>,
    buf: Vec<u8>,
    len: u64,
    /// Bytes already handed to the kernel for writeback.
    written_back: u64,
    /// Cleared by `finish`, which hands the file over to a `NewBlob`.
    armed: bool,
    /// Free bytes to keep on the disk (0: none); checked every `WRITEBACK_STEP`.
    reserve: u64,
    /// Content of at most this many bytes stays inline (0: always a file).
    inline_max: usize,
}

impl BlobWriter {
    /// A writer for a fresh id. Its file `tmp_dir/<hex>` is created once the content outgrows
    /// `inline_max` (at once when it is 0), `create_new`, so a (vanishingly unlikely) id
    /// collision is an error instead of two writers sharing one file.
    pub(super) fn create(
        tmp_dir: &Path,
        reserve: u64,
        inline_max: usize,
    ) -> io::Result<BlobWriter> {
        let id = BlobId::random();
        let mut writer = BlobWriter {
            id,
            path: tmp_dir.join(id.to_hex()),
            file: None,
            buf: Vec::new(),
            len: 0,
            written_back: 0,
            armed: true,
            reserve,
            inline_max,
        };
        if inline_max == 0 {
            writer.open_file()?;
        }
        Ok(writer)
    }

    /// Creates the temp file (the content no longer fits inline); the buffer goes to it later.
    fn open_file(&mut self) -> io::Result<()> {
        self.file = Some(ossvault_fs::create_new_private(&self.path)?);
        failpoint!(BlobAfterCreate);
        Ok(())
    }

    pub fn id(&self) -> BlobId {
        self.id
    }

    /// Appends bytes (buffered; large writes go straight through).
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() && self.buf.len() + data.len() > self.inline_max {
            self.open_file()?;
        }
        if self.buf.len() + data.len() > WRITE_BUFFER {
            self.flush_buffer()?;
        }
        if data.len() >= WRITE_BUFFER {
            // Copying a large chunk into the buffer first would only cost a memcpy.
            write_file(self.file.as_mut().expect("opened above"), data)?;
        } else {
            // The buffer grows with what arrives, doubling up to WRITE_BUFFER: a small object's
            // writer holds a buffer its size, not a full one (a sync of many small files keeps
            // hundreds of writers open at once), and a writer that only sees large chunks none.
            let needed = self.buf.len() + data.len();
            if needed > self.buf.capacity() {
                let grown = needed.max(2 * self.buf.capacity()).min(WRITE_BUFFER);
                self.buf.reserve_exact(grown - self.buf.len());
            }
            self.buf.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        self.start_writeback()
    }

    /// Asks the kernel to begin writing out what reached the file since the last call, without
    /// waiting for it. Purely a throughput hint: durability still comes from `finish`.
    /// Also where a large blob checks that the disk keeps its reserve: a body growing into it
    /// is refused (`StorageFull`) rather than filling the disk.
    fn start_writeback(&mut self) -> io::Result<()> {
        let on_file = self.len - self.buf.len() as u64;
        if on_file - self.written_back < WRITEBACK_STEP {
            return Ok(());
        }
        if self.reserve > 0 {
            if let Some(free) = super::space::available(self.path.parent().unwrap_or(&self.path)) {
                if free <= self.reserve {
                    return Err(super::space::refused(free, self.reserve));
                }
            }
        }
        // Linux only; elsewhere the kernel writes back on its own schedule and `finish`'s fsync
        // does all the work (slower, equally durable).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::fd::AsRawFd;
            let fd = match &self.file {
                Some(file) => file.as_raw_fd(),
                None => return Ok(()),
            };
            // SAFETY: sync_file_range only reads its integer arguments; the fd is open for the
            // lifetime of `self.file`. An error (e.g. an unsupported filesystem) is harmless.
            unsafe {
                libc::sync_file_range(
                    fd,
                    self.written_back as libc::off64_t,
                    (on_file - self.written_back) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.written_back = on_file;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Flushes and fsyncs the temp file, or hands over the inline bytes. The blob is not yet
    /// visible to anyone: pass the result to a `Store` write, which publishes it.
    pub fn finish(mut self) -> std::io::Result<NewBlob> {
        if self.file.is_none() {
            self.armed = false;
            return Ok(NewBlob {
                id: self.id,
                len: self.len,
                place: Place::Inline(std::mem::take(&mut self.buf)),
            });
        }
        self.flush_buffer()?;
        failpoint!(BlobBeforeFsync);
        // Data and size must be on disk before any metadata can point at the file; the tmp/
        // directory entry need not be, the rename into blobs/ is what gets made durable.
        let file = self.file.as_ref().expect("a file blob");
        sync_content(file, &self.path)?;
        failpoint!(BlobAfterFsync);
        self.armed = false;
        Ok(NewBlob {
            id: self.id,
            len: self.len,
            place: Place::File {
                path: std::mem::take(&mut self.path),
                armed: true,
            },
        })
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if let (false, Some(file)) = (self.buf.is_empty(), self.file.as_mut()) {
            write_file(file, &self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// One `write(2)` (or a few) of content into a blob's temp file.
fn write_file(file: &mut File, data: &[u8]) -> io::Result<()> {
    failpoint!(BlobBeforeWrite);
    file.write_all(data)
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.armed && self.file.is_some() {
            remove_quietly(&self.path);
        }
    }
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("id", &self.id)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// A finished, not yet published blob: a durable file still in `tmp/` (dropped unpublished:
/// removed), or bytes to store inline.
#[derive(Debug)]
pub struct NewBlob {
    id: BlobId,
    len: u64,
    place: Place,
}

#[derive(Debug)]
enum Place {
    File { path: PathBuf, armed: bool },
    Inline(Vec<u8>),
}

impl NewBlob {
    pub fn id(&self) -> BlobId {
        self.id
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The blob holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the blob is stored inline in the metadata (it has no file).
    pub fn is_inline(&self) -> bool {
        matches!(self.place, Place::Inline(_))
    }
}

impl Drop for NewBlob {
    fn drop(&mut self) {
        if let Place::File { path, armed: true } = &self.place {
            remove_quietly(path);
        }
    }
}

/// A published blob opened for reading: its file, or its inline bytes.
#[derive(Debug)]
pub enum BlobContent {
    File(File),
    Inline(Bytes),
}

impl BlobContent {
    /// Reads exactly `len` bytes at `offset` into a fresh buffer; `UnexpectedEof` past the end.
    pub fn read_at(&self, len: usize, offset: u64) -> io::Result<BytesMut> {
        match self {
            BlobContent::File(file) => read_file_at(file, len, offset),
            BlobContent::Inline(bytes) => {
                let range = usize::try_from(offset)
                    .ok()
                    .and_then(|at| Some(at..at.checked_add(len)?))
                    .filter(|r| r.end <= bytes.len())
                    .ok_or(io::ErrorKind::UnexpectedEof)?;
                Ok(BytesMut::from(&bytes[range]))
            }
        }
    }
}

/// Reads exactly `len` bytes at `offset` into a fresh buffer, without first zeroing it (at
/// disk and decrypt speeds a memset of every buffer is a visible cost).
#[cfg(unix)]
fn read_file_at(file: &File, len: usize, offset: u64) -> io::Result<BytesMut> {
    use std::os::fd::AsRawFd;
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let (filled, want) = (buf.len(), len - buf.len());
        let spare = buf.spare_capacity_mut();
        // SAFETY: pread writes at most `want` bytes into the spare capacity, which has room
        // for them; only the bytes it reports written are then marked initialised.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                want,
                (offset + filled as u64) as libc::off_t,
            )
        };
        match n {
            // SAFETY: pread initialised these `n` bytes.
            n if n > 0 => unsafe { buf.set_len(filled + n as usize) },
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(buf)
}

/// Elsewhere: a positioned read through the platform's `FileExt` (Windows `seek_read`), into
/// a zeroed buffer.
#[cfg(not(unix))]
fn read_file_at(file: &File, len: usize, offset: u64) -> io::Result<BytesMut> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(
            file,
            &mut buf[filled..],
            offset + filled as u64,
        )?;
        #[cfg(not(windows))]
        let n = {
            use io::{Read, Seek, SeekFrom};
            let mut f = file;
            f.seek(SeekFrom::Start(offset + filled as u64))?;
            f.read(&mut buf[filled..])?
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
    }
    Ok(buf)
}

/// Where a published blob lives.
pub(super) fn blob_path(blobs_dir: &Path, id: BlobId) -> PathBuf {
    let hex = id.to_hex();
    blobs_dir.join(&hex[..2]).join(hex)
}

/// A blob renamed into `blobs/` whose metadata commit has not succeeded (yet). Dropped while
/// armed (the commit failed, or was refused by a check), it unlinks the file, so a refused
/// write leaks nothing.
#[derive(Debug)]
pub(super) struct Published {
    id: BlobId,
    path: PathBuf,
    armed: bool,
}

impl Published {
    pub(super) fn id(&self) -> BlobId {
        self.id
    }

    /// Leaves the file in place: either the metadata now references it, or the commit's outcome
    /// is unknown and `Store::open` will decide by the blob index.
    pub(super) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if self.armed {
            remove_quietly(&self.path);
        }
    }
}

/// What publishing a new blob gives the write: a file in place, or bytes for its commit.
pub(super) enum Staged {
    File(Published),
    Inline(BlobId, Vec<u8>),
}

/// Moves a finished file blob from `tmp/` to its final name and makes that name durable; an
/// inline blob's bytes are handed back for the metadata commit.
pub(super) fn publish(blobs_dir: &Path, mut blob: NewBlob) -> io::Result<Staged> {
    let src = match &mut blob.place {
        Place::Inline(bytes) => return Ok(Staged::Inline(blob.id, std::mem::take(bytes))),
        Place::File { path, .. } => path.clone(),
    };
    let dest = blob_path(blobs_dir, blob.id);
    let fanout = dest
        .parent()
        .expect("a blob path has a fan-out directory")
        .to_path_buf();
    failpoint!(BlobBeforeRename);
    if let Err(e) = fs::rename(&src, &dest) {
        // `Store::open` creates every fan-out directory (and makes them durable) before any
        // write can happen, so this is only a fallback for a directory removed behind our back;
        // anything else is a real error.
        if e.kind() != io::ErrorKind::NotFound || fanout.exists() {
            return Err(e);
        }
        create_fanout(blobs_dir, &fanout)?;
        fs::rename(&src, &dest)?;
    }
    // From here on the file lives at `dest`: the guard owns it.
    if let Place::File { armed, .. } = &mut blob.place {
        *armed = false;
    }
    let published = Published {
        id: blob.id,
        path: dest,
        armed: true,
    };
    failpoint!(BlobAfterRename);
    // fsync of the file persisted its content, not the new directory entry.
    sync_dir(&fanout)?;
    failpoint!(BlobAfterDirFsync);
    Ok(Staged::File(published))
}

/// Creates a fan-out directory (if absent) and makes its entry in `blobs/` durable. Also fsyncs
/// `blobs/` when someone else created it: we cannot know whether its creator's fsync is done, and
/// our blob must not be published into a directory entry that a crash could still take away.
pub(super) fn create_fanout(blobs_dir: &Path, fanout: &Path) -> io::Result<()> {
    super::private::create_dir(fanout)?;
    sync_dir(blobs_dir)
}

/// Removes published blobs whose metadata is gone (committed). Failures are only logged: the
/// worst case is an orphan, which the next `Store::open` removes.
pub(super) fn unlink(blobs_dir: &Path, ids: impl IntoIterator<Item = BlobId>) {
    for id in ids {
        #[cfg(feature = "failpoints")]
        if let Some(e) = crate::failpoints::eval(crate::failpoints::Failpoint::BlobBeforeUnlink) {
            tracing::warn!(blob = %id, error = %e, "could not remove blob file");
            continue;
        }
        remove_quietly(&blob_path(blobs_dir, id));
    }
}

/// fsyncs a content file's data. With the `failpoints` feature, the power-loss simulation of
/// the crash tests records it (or skips it, to show that the tests notice).
fn sync_content(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    if crate::failpoints::power::skips(crate::failpoints::power::Skip::FileData, path) {
        return Ok(());
    }
    file.sync_data()?;
    #[cfg(feature = "failpoints")]
    crate::failpoints::power::synced_file(path);
    #[cfg(not(feature = "failpoints"))]
    let _ = path;
    Ok(())
}

/// fsyncs a directory so that the entries created or renamed in it survive a crash. With the
/// `failpoints` feature, the power-loss simulation records it (or skips it).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    {
        use crate::failpoints::power;
        if power::skips(power::Skip::Directories, dir) {
            return Ok(());
        }
        let listing = power::list_dir(dir);
        ossvault_fs::sync_dir(dir)?;
        power::synced_dir(listing);
        Ok(())
    }
    #[cfg(not(feature = "failpoints"))]
    ossvault_fs::sync_dir(dir)
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove blob file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        for id in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        ] {
            let hex = BlobId(id).to_hex();
            assert_eq!(hex.len(), 32);
            assert_eq!(BlobId::from_hex(&hex), Some(BlobId(id)));
        }
        assert_eq!(BlobId::from_hex("0"), None);
        assert_eq!(BlobId::from_hex(&"A".repeat(32)), None);
        assert_eq!(BlobId::from_hex(&format!("+{}", "0".repeat(31))), None);
        assert_ne!(BlobId::random(), BlobId::random());
    }

    #[test]
    fn writer_buffer_grows_with_the_data_up_to_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlobWriter::create(dir.path(), 0, 0).unwrap();
        w.write(b"file 1 of pair 0\n").unwrap();
        assert!(w.buf.capacity() < 1024, "{}", w.buf.capacity());
        let chunk = vec![3u8; 60_000];
        let mut content = b"file 1 of pair 0\n".to_vec();
        for _ in 0..40 {
            w.write(&chunk).unwrap();
            content.extend_from_slice(&chunk);
            assert!(w.buf.capacity() <= WRITE_BUFFER, "{}", w.buf.capacity());
        }
        let path = dir.path().join(w.id().to_hex());
        let _blob = w.finish().unwrap();
        assert!(fs::read(&path).unwrap() == content);
    }

    #[test]
    fn writer_buffers_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlobWriter::create(dir.path(), 0, 0).unwrap();
        let small = vec![1u8; 1000];
        let big = vec![2u8; WRITE_BUFFER + 5];
        w.write(&small).unwrap();
        w.write(&big).unwrap();
        w.write(&small).unwrap();
        assert_eq!(w.len(), 2000 + big.len() as u64);
        let path = dir.path().join(w.id().to_hex());
        let blob = w.finish().unwrap();
        let data = fs::read(&path).unwrap();
        assert_eq!(data.len() as u64, blob.len());
        assert_eq!(&data[..1000], &small[..]);
        assert_eq!(&data[1000..1000 + big.len()], &big[..]);
        drop(blob);
        assert!(
            !path.exists(),
            "an unpublished blob is removed when dropped"
        );

        let w = BlobWriter::create(dir.path(), 0, 0).unwrap();
        let path = dir.path().join(w.id().to_hex());
        assert!(path.exists());
        drop(w);
        assert!(!path.exists(), "an unfinished writer removes its temp file");
    }
}

//! The storage engine: object content in blob files (or, when small, inline in the metadata),
//! metadata in redb.
//!
//! Layout of the data directory (keys never become paths: blobs are named by random ids):
//! ```text
//! meta.redb            buckets, objects, uploads, parts, blob index, inline content
//! blobs/ab/<32 hex>    published content files
//! tmp/<32 hex>         content being written; emptied at startup
//! ```
//! A blob of at most [`DEFAULT_INLINE_MAX`] bytes (see [`Store::set_inline_max`]) is written
//! into the metadata database by the very commit that makes it visible: one durable step, and
//! that commit is shared with the other requests of its batch. A larger write streams into
//! `tmp/`, is fsynced, renamed into `blobs/` (directory fsynced), and only then becomes visible
//! by a metadata commit. A crash before the commit leaves an unreferenced
//! blob that [`Store::open`] deletes; a crash after it leaves the new version complete. Replaced
//! blobs are unlinked after the commit that drops them (a crash in between leaves an orphan,
//! again removed at startup). Metadata commits from concurrent requests are grouped into one
//! redb transaction (group commit), so many small PUTs share one fsync.
//!
//! On a versioned bucket an overwrite or a delete keeps the replaced object as a noncurrent
//! version in the same commit that writes the new one, so its blobs are never unlinked: the
//! same durability steps cover every version ([`versions`]).

mod backup;
mod blobs;
mod list;
mod meta;
pub mod private;
pub mod records;
mod space;
#[cfg(test)]
mod tests;
pub mod versions;

pub use backup::BackupReport;
pub use blobs::{BlobContent, BlobId, BlobWriter, NewBlob};
pub use records::*;
pub use versions::{Deleted, VersionItem, VersionPage};

use blobs::{Published, Staged};
use meta::{
    bucket_base, object_key, part_base, part_key, successor_scoped, upload_key, JsonTable, Outcome,
    Writer, BLOBS, BUCKETS, OBJECTS, PARTS, UPLOADS, UPLOAD_IDS, VERSIONS,
};
use redb::{Database, ReadableTable};
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// What can go wrong in the store. Handlers map these onto OSS error codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified upload does not exist")]
    NoSuchUpload,
    /// A version id that names no version of the key.
    #[error("the specified version does not exist")]
    NoSuchVersion,
    /// The version addressed is a delete marker (carries its id), which has no content, ACL
    /// or tags.
    #[error("the version {0} is a delete marker")]
    DeleteMarker(String),
    /// `PutMode::ForbidOverwrite` and the key exists.
    #[error("the object already exists")]
    FileAlreadyExists,
    /// `PutMode::IfMatch` and the key is missing or has another ETag.
    #[error("the object's ETag does not match the condition")]
    PreconditionFailed,
    /// `PutMode::Append`: position differs from the current length; carries the current length.
    #[error("position is not equal to file length")]
    PositionNotEqualToLength { next_position: u64 },
    /// `PutMode::Append` on an object that is not appendable.
    #[error("the object is not appendable")]
    ObjectNotAppendable,
    /// A part changed (re-uploaded or gone) between validation and Complete.
    #[error("one or more of the specified parts could not be found or changed")]
    InvalidPart,
    /// A referenced blob file is gone (a concurrent overwrite unlinked it): re-read the metadata.
    #[error("blob {0} is missing")]
    BlobMissing(BlobId),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store error: {0}")]
    Meta(String),
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
    /// New content refused: the disk is down to the reserve kept for metadata and deletes.
    #[error("insufficient storage: {free} bytes free on the data directory's disk, at or below the reserve of {reserve} bytes")]
    InsufficientStorage { free: u64, reserve: u64 },
    /// Another process (a running server) holds the data directory's metadata database.
    #[error("the data directory {} is in use by another process (a running server?)", .0.display())]
    InUse(PathBuf),
}

/// How a write treats an existing object at the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Fail with `FileAlreadyExists` if the key exists (`x-oss-forbid-overwrite: true`).
    ForbidOverwrite,
    /// Fail with `PreconditionFailed` unless the key exists with this ETag condition
    /// (`If-Match`: one or more quoted ETags, or `*`).
    IfMatch(String),
}

impl PutMode {
    /// Whether a write in this mode may replace `old` (`None`: no object at the key).
    fn check(&self, old: Option<&ObjectRecord>) -> Result<(), StoreError> {
        match (self, old) {
            (PutMode::ForbidOverwrite, Some(_)) => Err(StoreError::FileAlreadyExists),
            (PutMode::IfMatch(_), None) => Err(StoreError::PreconditionFailed),
            (PutMode::IfMatch(cond), Some(old))
                if !ossvault_proto::etag::matches_condition(cond, &old.etag) =>
            {
                Err(StoreError::PreconditionFailed)
            }
            _ => Ok(()),
        }
    }
}

/// One entry of a listing page, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum ListEntry {
    Object {
        key: String,
        record: Box<ObjectRecord>,
    },
    /// A common prefix (rolled up by the delimiter), ending with the delimiter.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
    /// The bucket's listing token, taken before the page was read (see
    /// `ossvault_proto::headers::LISTING_TOKEN`).
    pub token: String,
}

/// A page of in-progress multipart uploads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UploadPage {
    /// Uploads in (key, upload id) order.
    pub uploads: Vec<UploadRecord>,
    /// Common prefixes rolled up by the delimiter, in order.
    pub prefixes: Vec<String>,
    pub truncated: bool,
}

/// One AppendObject write, for [`Store::append_object`].
#[derive(Debug)]
pub struct Append {
    /// The position the client says it appends at.
    pub position: u64,
    /// The object's record if this append creates it (headers, ACL, storage class); its
    /// size, CRC and segments are ignored.
    pub template: ObjectRecord,
    /// The appended bytes' segment (its blob is `blob`).
    pub segment: Segment,
    pub blob: NewBlob,
    /// The object's ETag after this append.
    pub etag: String,
    pub last_modified_ms: u64,
    /// The caller found no object and chose `template.sse` (a fresh data key, or none) for a
    /// new one. If another append created the object meanwhile and either side is encrypted,
    /// the append is refused with the object's length, so that the client retries under the
    /// object's own key instead of sealing under one the record does not hold.
    pub creates: bool,
}

/// Usage figures of a bucket (GetBucketStat).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketUsage {
    /// Bytes of every version, current or not.
    pub bytes: u64,
    /// Current objects.
    pub objects: u64,
    pub noncurrent_versions: u64,
    pub delete_markers: u64,
    pub uploads: u64,
    /// Bytes and objects per storage class (`Standard`, `IA`, …).
    pub by_class: std::collections::BTreeMap<String, (u64, u64)>,
    /// The newest object's last modification (ms since the epoch; 0 when empty).
    pub last_modified_ms: u64,
}

// redb's error types all become `Meta`: handlers only need to know it is an internal error.
macro_rules! meta_error_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Meta(e.to_string())
            }
        }
    )*};
}
meta_error_from!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
);

/// The metadata database file in the data directory.
const DB_FILE: &str = "meta.redb";

/// redb's page cache by default (redb's own default is 1 GiB). Metadata records are small and
/// the hot set (recent keys, upper B-tree levels) fits easily; the pages a commit writes stay
/// in it up to this size, so it ends up holding most of a database smaller than it. An
/// embedder that counts its memory (the desktop app) gives a smaller one to
/// [`Store::open_with_cache`]: a miss is a read the OS page cache usually answers.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// Blobs of at most this many bytes are stored inline in the metadata database by default:
/// a small object then costs its share of one group commit instead of a file, its fsync, a
/// rename and a directory fsync of its own.
pub const DEFAULT_INLINE_MAX: usize = 64 << 10;

/// The storage engine. Cheap to clone; all methods are blocking (call them from
/// `tokio::task::spawn_blocking` in async code) and safe to call from many threads at once.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    tmp_dir: PathBuf,
    blobs_dir: PathBuf,
    /// Shared with the writer thread; reads use it directly (MVCC read transactions).
    db: Arc<Database>,
    /// Dropped last among the users of `db`: joining the thread closes the database.
    writer: Writer,
    /// Free bytes to keep on the data directory's disk: new content is refused below it.
    min_free: AtomicU64,
    /// New blobs of at most this many bytes are stored inline.
    inline_max: AtomicUsize,
    /// Blob unlinks deferred while a backup copies a snapshot.
    pins: std::sync::Mutex<backup::Pins>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("writer", &self.inner.writer)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, empties `tmp/` and deletes blob files that
    /// no metadata references (leftovers of a crash).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a metadata page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        let dir = dir.to_path_buf();
        let tmp_dir = dir.join("tmp");
        let blobs_dir = dir.join("blobs");
        private::create_dir_all(&dir)?;
        let restricted = private::restrict_tree(&dir)?;
        if restricted > 0 {
            tracing::warn!(
                dir = %dir.display(),
                entries = restricted,
                "the data directory was open to other users: made it and its contents owner-only"
            );
        }
        private::create_dir(&tmp_dir)?;
        private::create_dir(&blobs_dir)?;
        // All 256 fan-out directories up front, made durable once: publishing then never
        // creates a directory, so no blob can land in a directory whose own entry is not yet
        // durable (which a concurrent first use of a fan-out directory would otherwise allow).
        for i in 0..=255u8 {
            private::create_dir(&blobs_dir.join(format!("{i:02x}")))?;
        }
        blobs::sync_dir(&blobs_dir)?;
        blobs::sync_dir(&dir)?;

        // `create` opens an existing database too, repairing it after an unclean shutdown. It
        // takes redb's exclusive file lock, so it comes before anything that removes files: a
        // second opener (a server, an offline scrub) must never sweep the first one's `tmp/`.
        // A store of this process that is shutting down (its last connections finishing) lets
        // go of the lock within moments: wait a little before calling the directory in use.
        let mut attempts = 0;
        let db = loop {
            match open_db(&dir.join(DB_FILE), cache_bytes) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(StoreError::InUse(dir))
                }
                Err(e) => return Err(e.into()),
            }
        };
        private::restrict_file(&dir.join(DB_FILE))?;
        // A database made just now: its directory entry must be as durable as its content.
        blobs::sync_dir(&dir)?;
        clear_dir(&tmp_dir)?;
        meta::create_tables(&db)?;
        remove_orphans(&db, &blobs_dir)?;

        let db = Arc::new(db);
        let writer = Writer::start(db.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir,
                tmp_dir,
                blobs_dir,
                db,
                writer,
                min_free: AtomicU64::new(0),
                inline_max: AtomicUsize::new(DEFAULT_INLINE_MAX),
                pins: Default::default(),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    // ---- buckets ----

    /// Creates a bucket; `BucketAlreadyExists` if the name is taken.
    pub fn create_bucket(&self, record: BucketRecord) -> Result<(), StoreError> {
        self.write_meta(move |t| {
            let key = record.name.as_bytes();
            if t.buckets.contains(key)? {
                return Err(StoreError::BucketAlreadyExists);
            }
            t.buckets.put_json(key, &record)
        })
    }

    /// A bucket's record, or `None`.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        let rtx = self.read()?;
        rtx.open_table(BUCKETS)?.get_json(name.as_bytes())
    }

    /// A server-wide setting by name.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rtx = self.read()?;
        let table = rtx.open_table(meta::SETTINGS)?;
        let value = table.get(name.as_bytes())?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Sets a server-wide setting, durably.
    pub fn put_setting(&self, name: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write_meta(move |t| t.settings.put_raw(name.as_bytes(), &value))
    }

    /// Every setting whose name starts with `prefix`, in name order.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rtx = self.read()?;
        let table = rtx.open_table(meta::SETTINGS)?;
        let start = prefix.as_bytes();
        let end = meta::successor(start.to_vec());
        let range = match &end {
            Some(end) => table.range::<&[u8]>(start..end.as_slice())?,
            None => table.range::<&[u8]>(start..)?,
        };
        let mut out = Vec::new();
        for item in range {
            let (k, v) = item?;
            let name = String::from_utf8(k.value().to_vec())
                .map_err(|_| StoreError::Corrupt("setting name".into()))?;
            out.push((name, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Removes a setting, durably; whether it was there.
    pub fn delete_setting(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write_meta(move |t| t.settings.remove(name.as_bytes()))
    }

    /// Objects of every bucket in (bucket, key) order, after `after`, at most `limit`: for
    /// jobs that visit every object (re-wrapping data keys) without holding them all.
    pub fn scan_objects(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String, ObjectRecord)>, StoreError> {
        let rtx = self.read()?;
        let table = rtx.open_table(OBJECTS)?;
        let start = match after {
            Some((b, k)) => {
                let mut key = meta::object_key(b, k);
                key.push(0);
                key
            }
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for item in table.range::<&[u8]>(start.as_slice()..)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let full = k.value();
            let split = full
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| StoreError::Corrupt("object key".into()))?;
            let bucket = String::from_utf8(full[..split].to_vec())
                .map_err(|_| StoreError::Corrupt("bucket".into()))?;
            let key = String::from_utf8(full[split + 1..].to_vec())
                .map_err(|_| StoreError::Corrupt("key".into()))?;
            out.push((bucket, key, meta::decode(v.value(), full)?));
        }
        Ok(out)
    }

    /// In-progress uploads of every bucket (for the same jobs; uploads are few).
    pub fn all_uploads(&self) -> Result<Vec<UploadRecord>, StoreError> {
        let rtx = self.read()?;
        let table = rtx.open_table(meta::UPLOADS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push(meta::decode(v.value(), k.value())?);
        }
        Ok(out)
    }

    /// Changes an in-progress upload's record (not its parts) atomically.
    pub fn update_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        change: impl FnOnce(&mut UploadRecord) + Send + 'static,
    ) -> Result<(), StoreError> {
        let upload = self.upload(bucket, upload_id)?;
        let key = meta::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
        self.write_meta(move |t| {
            let mut record: UploadRecord =
                t.uploads.get_json(&key)?.ok_or(StoreError::NoSuchUpload)?;
            change(&mut record);
            t.uploads.put_json(&key, &record)
        })
    }

    /// Changes a bucket's record atomically; `NoSuchBucket` if absent. Returns the new record.
    pub fn update_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut BucketRecord) + Send + 'static,
    ) -> Result<BucketRecord, StoreError> {
        let name = name.to_owned();
        self.write_meta(move |t| {
            let mut record: BucketRecord = t
                .buckets
                .get_json(name.as_bytes())?
                .ok_or(StoreError::NoSuchBucket)?;
            change(&mut record);
            // The name is the key: a change cannot rename a bucket.
            debug_assert_eq!(
                record.name, name,
                "update_bucket must not rename the bucket"
            );
            record.name = name;
            t.buckets.put_json(record.name.as_bytes(), &record)?;
            Ok(record)
        })
    }

    /// Deletes an empty bucket: `BucketNotEmpty` if it holds objects, noncurrent versions or
    /// delete markers, or in-progress uploads.
    pub fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write_meta(move |t| {
            if !t.buckets.contains(name.as_bytes())? {
                return Err(StoreError::NoSuchBucket);
            }
            // One seek each, whatever the bucket holds.
            let base = bucket_base(&name);
            if t.objects.any_with_prefix(&base)?
                || t.versions.any_with_prefix(&base)?
                || t.uploads.any_with_prefix(&base)?
            {
                return Err(StoreError::BucketNotEmpty);
            }
            t.buckets.remove(name.as_bytes())?;
            Ok(())
        })
    }

    /// Buckets in name order with `name > marker` and starting with `prefix`, at most `limit`;
    /// the bool says whether more follow.
    pub fn list_buckets(
        &self,
        prefix: &str,
        marker: &str,
        limit: usize,
    ) -> Result<(Vec<BucketRecord>, bool), StoreError> {
        let rtx = self.read()?;
        list::buckets(&rtx.open_table(BUCKETS)?, prefix, marker, limit)
    }

    /// Bytes, objects and in-progress uploads of a bucket (a scan; fine for a local server).
    pub fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError> {
        /// Only these fields of an object record are needed; serde skips the rest cheaply.
        #[derive(serde::Deserialize)]
        struct Size {
            size: u64,
            storage_class: String,
            last_modified_ms: u64,
        }
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(name.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        let base = bucket_base(name);
        let end = successor_scoped(base.clone());
        let mut usage = BucketUsage::default();
        let objects = rtx.open_table(OBJECTS)?;
        for item in objects.range::<&[u8]>(base.as_slice()..end.as_slice())? {
            let (k, v) = item?;
            let Size {
                size,
                storage_class,
                last_modified_ms,
            } = meta::decode(v.value(), k.value())?;
            usage.bytes += size;
            usage.objects += 1;
            let class = usage.by_class.entry(storage_class).or_default();
            class.0 += size;
            class.1 += 1;
            usage.last_modified_ms = usage.last_modified_ms.max(last_modified_ms);
        }
        // Noncurrent versions take space too (delete markers take none).
        let versions = rtx.open_table(VERSIONS)?;
        for item in versions.range::<&[u8]>(base.as_slice()..end.as_slice())? {
            let (k, v) = item?;
            match meta::decode::<VersionEntry>(v.value(), k.value())? {
                VersionEntry::Object(o) => {
                    usage.bytes += o.size;
                    usage.noncurrent_versions += 1;
                    usage.by_class.entry(o.storage_class).or_default().0 += o.size;
                }
                VersionEntry::DeleteMarker(_) => usage.delete_markers += 1,
            }
        }
        let uploads = rtx.open_table(UPLOADS)?;
        for item in uploads.range::<&[u8]>(base.as_slice()..end.as_slice())? {
            item?;
            usage.uploads += 1;
        }
        Ok(usage)
    }

    // ---- content ----

    /// Keeps `bytes` free on the data directory's disk: new content that would eat into them
    /// is refused (`InsufficientStorage`), while metadata commits and deletes go on. 0: no
    /// reserve (a full disk is then met by the writes themselves, as ENOSPC).
    pub fn set_min_free_space(&self, bytes: u64) {
        self.inner.min_free.store(bytes, Ordering::Relaxed);
    }

    /// Refuses with `InsufficientStorage` if writing `incoming` more bytes of content would
    /// leave less than the reserve free.
    pub fn check_space(&self, incoming: u64) -> Result<(), StoreError> {
        let reserve = self.inner.min_free.load(Ordering::Relaxed);
        if reserve == 0 {
            return Ok(());
        }
        match space::available(&self.inner.tmp_dir) {
            Some(free) if free.saturating_sub(incoming) <= reserve => {
                Err(StoreError::InsufficientStorage { free, reserve })
            }
            _ => Ok(()),
        }
    }

    /// Stores new blobs of at most `bytes` inline in the metadata database (0: every blob in
    /// a file of its own). Blobs already stored stay where they are.
    pub fn set_inline_max(&self, bytes: usize) {
        self.inner.inline_max.store(bytes, Ordering::Relaxed);
    }

    /// New blobs of at most this many bytes are stored inline.
    pub fn inline_max(&self) -> usize {
        self.inner.inline_max.load(Ordering::Relaxed)
    }

    /// Starts a new blob: inline while it fits the inline threshold, in `tmp/` beyond it.
    /// Dropping the writer without `finish` removes its temp file. Refused
    /// (`InsufficientStorage`) when the disk is down to its reserve; the writer itself checks
    /// again as the content grows.
    pub fn new_blob(&self) -> Result<BlobWriter, StoreError> {
        self.check_space(0)?;
        let reserve = self.inner.min_free.load(Ordering::Relaxed);
        Ok(BlobWriter::create(
            &self.inner.tmp_dir,
            reserve,
            self.inline_max(),
        )?)
    }

    /// Opens a published blob for reading; `BlobMissing` if it is gone (its file, or its
    /// inline bytes).
    pub fn open_blob(&self, id: BlobId) -> Result<BlobContent, StoreError> {
        {
            let rtx = self.read()?;
            if let Some(bytes) = meta::read_inline(&rtx.open_table(meta::INLINE)?, id.0)? {
                return Ok(BlobContent::Inline(bytes.into()));
            }
        }
        match fs::File::open(blobs::blob_path(&self.inner.blobs_dir, id)) {
            Ok(file) => Ok(BlobContent::File(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::BlobMissing(id)),
            Err(e) => Err(e.into()),
        }
    }

    // ---- objects ----

    /// An object's record; `NoSuchBucket` if the bucket is absent, `Ok(None)` if the key is.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(bucket.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        rtx.open_table(OBJECTS)?.get_json(&object_key(bucket, key))
    }

    /// A version of an object: `version` `None` for the newest (the current object, or a
    /// delete marker on top), `"null"` for the null version, else an id. `NoSuchBucket` if the
    /// bucket is absent, `Ok(None)` if there is no such version.
    pub fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<VersionEntry>, StoreError> {
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(bucket.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        let found = versions::find(
            &rtx.open_table(OBJECTS)?,
            &rtx.open_table(VERSIONS)?,
            &object_key(bucket, key),
            version,
        )?;
        Ok(found.map(|(_, entry)| entry))
    }

    /// Publishes `blobs` (the blobs `record.segments` refer to) and makes `record` the object at
    /// `key`, atomically, as the bucket's versioning says: on a bucket never versioned the
    /// object it replaces goes (its blobs unlinked); on a versioned one it stays as a noncurrent
    /// version (a Suspended bucket replaces the null version). Returns the new version's stamp
    /// and the object it replaced as current, if any.
    ///
    /// `record.segments` must refer to exactly the blobs in `blobs` (a blob belongs to one
    /// object: sharing would let one object's overwrite unlink another's content); anything
    /// else is refused with `Corrupt` before any file is touched.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        blobs: Vec<NewBlob>,
        mode: PutMode,
    ) -> Result<Written, StoreError> {
        let (op, published) = self.prepare_put(bucket, key, record, blobs, mode)?;
        let (written, dropped) = self.settle(self.inner.writer.run(op), published)?;
        self.unlink(dropped);
        Ok(written)
    }

    /// [`Store::put_object`] for async code. Inline content involves no blocking step: the
    /// task waits for the commit without holding a thread (a small PUT then costs no thread
    /// handoff besides the writer's); content in files is published on the blocking pool.
    pub async fn put_object_async(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        blobs: Vec<NewBlob>,
        mode: PutMode,
    ) -> Result<Written, StoreError> {
        if !blobs.iter().all(NewBlob::is_inline) {
            let (store, bucket, key) = (self.clone(), bucket.to_owned(), key.to_owned());
            return run_blocking(move || store.put_object(&bucket, &key, record, blobs, mode))
                .await;
        }
        let (op, published) = self.prepare_put(bucket, key, record, blobs, mode)?;
        let outcome = self.inner.writer.run_async(op).await;
        let (written, dropped) = self.settle(outcome, published)?;
        if !dropped.is_empty() {
            // The replaced object's files.
            let store = self.clone();
            run_blocking(move || {
                store.unlink(dropped);
                Ok(())
            })
            .await?;
        }
        Ok(written)
    }

    /// What a PUT does before its commit: checks the segments, publishes file blobs; returns
    /// the operation to commit and the published files.
    #[allow(clippy::type_complexity)]
    fn prepare_put(
        &self,
        bucket: &str,
        key: &str,
        mut record: ObjectRecord,
        blobs: Vec<NewBlob>,
        mode: PutMode,
    ) -> Result<
        (
            impl FnOnce(&mut meta::Tables<'_>) -> Result<(Written, Vec<BlobId>), StoreError>
                + Send
                + 'static,
            Vec<Published>,
        ),
        StoreError,
    > {
        let new_ids: Vec<BlobId> = blobs.iter().map(NewBlob::id).collect();
        check_segments(&record.segments, &new_ids)?;
        let (published, inline) = self.publish_all(blobs)?;
        let okey = object_key(bucket, key);
        let bucket = bucket.to_owned();
        let op = move |t: &mut meta::Tables<'_>| {
            let state = bucket_versioning(t, &bucket)?;
            let old: Option<ObjectRecord> = t.objects.get_json(&okey)?;
            mode.check(old.as_ref())?;
            // Checks done; writes from here on. The new blobs enter the index before the
            // replaced version's are weighed (they are never among them).
            add_blobs(t, &new_ids, &inline)?;
            let dropped = versions::install(t, &okey, state, old.as_ref(), &mut record)?;
            Ok((
                Written {
                    version: record.version,
                    replaced: old,
                },
                dropped,
            ))
        };
        Ok((op, published))
    }

    /// Makes a changed copy of the current object at `key` its newest version, sharing its
    /// content (CopyObject onto itself: new metadata, same bytes): on a versioned bucket the
    /// object before the change stays as a noncurrent version, on one never versioned it is
    /// changed in place. `NoSuchKey` if there is no current object. Returns the new record.
    pub fn renew_object(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectRecord) + Send + 'static,
    ) -> Result<ObjectRecord, StoreError> {
        let okey = object_key(bucket, key);
        let bucket = bucket.to_owned();
        let (record, dropped) = self.write_meta(move |t| {
            let state = bucket_versioning(t, &bucket)?;
            let old: ObjectRecord = t.objects.get_json(&okey)?.ok_or(StoreError::NoSuchKey)?;
            let mut record = old.clone();
            change(&mut record);
            record.segments = old.segments.clone();
            if state.is_none() {
                t.objects.put_json(&okey, &record)?;
                return Ok((record, Vec::new()));
            }
            let dropped = versions::install(t, &okey, state, Some(&old), &mut record)?;
            Ok((record, dropped))
        })?;
        self.unlink(dropped);
        Ok(record)
    }

    /// AppendObject: atomically checks that `key` is absent (then `append.position` must be 0
    /// and `append.template` becomes the object, typed Appendable) or Appendable with
    /// `size == position`, then adds `append.blob` as a new segment, updating size, CRC
    /// (combined with the segment's), ETag and mtime from `append`. Errors:
    /// `PositionNotEqualToLength`, `ObjectNotAppendable`. Returns the new record.
    pub fn append_object(
        &self,
        bucket: &str,
        key: &str,
        append: Append,
    ) -> Result<ObjectRecord, StoreError> {
        let Append {
            position,
            template,
            segment,
            blob,
            etag,
            last_modified_ms,
            creates,
        } = append;
        check_segments(std::slice::from_ref(&segment), &[blob.id()])?;
        let (published, inline) = self.publish_all(vec![blob])?;
        let okey = object_key(bucket, key);
        let bucket = bucket.to_owned();
        let outcome = self.inner.writer.run(move |t| {
            let state = bucket_versioning(t, &bucket)?;
            let current = t.objects.get_json::<ObjectRecord>(&okey)?;
            let is_new = current.is_none();
            let mut record = match current {
                None if position != 0 => {
                    return Err(StoreError::PositionNotEqualToLength { next_position: 0 })
                }
                None => ObjectRecord {
                    size: 0,
                    crc64: 0,
                    // Appendable objects have no whole-content MD5.
                    content_md5: None,
                    object_type: ObjectType::Appendable,
                    segments: Vec::new(),
                    ..template
                },
                Some(current) if current.object_type != ObjectType::Appendable => {
                    return Err(StoreError::ObjectNotAppendable)
                }
                Some(current)
                    if current.size != position
                        || (creates && (current.sse.is_some() || template.sse.is_some())) =>
                {
                    return Err(StoreError::PositionNotEqualToLength {
                        next_position: current.size,
                    })
                }
                Some(current) => current,
            };
            record.crc64 = ossvault_proto::crc64::combine(record.crc64, segment.crc64, segment.len);
            record.size += segment.len;
            let id = segment.blob;
            record.segments.push(segment);
            record.etag = etag;
            record.last_modified_ms = last_modified_ms;
            add_blobs(t, &[id], &inline)?;
            // Appending changes the current version in place (OSS keeps no version per
            // append); only the append that creates the object makes a new version.
            let dropped = if is_new {
                versions::install(t, &okey, state, None, &mut record)?
            } else {
                t.objects.put_json(&okey, &record)?;
                Vec::new()
            };
            Ok((record, dropped))
        });
        let (record, dropped) = self.settle(outcome, published)?;
        self.unlink(dropped);
        Ok(record)
    }

    /// Changes an existing object's metadata (not its content) atomically; `NoSuchKey` if
    /// absent. Returns the new record. (ACL changes, copy-to-self with metadata REPLACE.)
    ///
    /// `NoSuchBucket` if the bucket is absent. Changes to `segments` are ignored (content is
    /// not this method's business, and the blob index must stay in step with the segments).
    pub fn update_object(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectRecord) + Send + 'static,
    ) -> Result<ObjectRecord, StoreError> {
        self.update_version(bucket, key, None, change)
    }

    /// [`Store::update_object`] of one version (`None`: the current object) in place, as
    /// OSS changes ACLs, tags and restores of a version without making a new one.
    /// `NoSuchVersion` if the version is not there, `DeleteMarker` if it is one.
    pub fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: impl FnOnce(&mut ObjectRecord) + Send + 'static,
    ) -> Result<ObjectRecord, StoreError> {
        let okey = object_key(bucket, key);
        let bucket = bucket.to_owned();
        let version = version.map(str::to_owned);
        self.write_meta(move |t| {
            if !t.buckets.contains(bucket.as_bytes())? {
                return Err(StoreError::NoSuchBucket);
            }
            versions::update(t, &okey, version.as_deref(), change)
        })
    }

    /// Marks the object at `key` corrupt, if its record still references `mark.blob` (a
    /// concurrent overwrite replaced the damaged content: nothing to mark) and carries no mark
    /// yet. Returns whether it marked. The mark survives restarts and metadata updates; an
    /// overwrite or a delete drops it with the record.
    pub fn mark_corrupt(
        &self,
        bucket: &str,
        key: &str,
        mark: CorruptMark,
    ) -> Result<bool, StoreError> {
        let okey = object_key(bucket, key);
        self.write_meta(move |t| {
            // The damaged blob may be any version's (a noncurrent one read by version id).
            let mut holders = Vec::new();
            if let Some(current) = t.objects.get_json::<ObjectRecord>(&okey)? {
                holders.push((None, current));
            }
            for (k, entry) in versions::noncurrent(&*t.versions, &okey)? {
                if let VersionEntry::Object(o) = entry {
                    holders.push((Some(k), *o));
                }
            }
            let mut marked = false;
            for (place, mut record) in holders {
                if record.corrupt.is_some() || !record.segments.iter().any(|s| s.blob == mark.blob)
                {
                    continue;
                }
                record.corrupt = Some(mark.clone());
                match place {
                    None => t.objects.put_json(&okey, &record)?,
                    Some(k) => t
                        .versions
                        .put_json(&k, &VersionEntry::Object(Box::new(record)))?,
                }
                marked = true;
            }
            Ok(marked)
        })
    }

    /// Deletes an object (no error if absent) and unlinks its blobs; `NoSuchBucket` if the
    /// bucket is absent. Returns whether something was deleted.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.delete_version(bucket, key, None)?.existed)
    }

    /// DeleteObject, with or without a version id: without one, the object goes (a bucket never
    /// versioned) or a delete marker becomes its newest version (a versioned bucket); with one
    /// (`"null"` for the null version), that version (object or delete marker) goes for good
    /// and its blobs are unlinked. `NoSuchBucket` if the bucket is absent.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Deleted, StoreError> {
        let item = vec![(key.to_owned(), version.map(str::to_owned))];
        let mut done = self.delete_objects(bucket, &item)?;
        Ok(done.pop().unwrap_or_default())
    }

    /// Deletes many objects or versions (key, version id) in one transaction, each as
    /// [`Store::delete_version`] would (absent keys and versions are fine).
    ///
    /// `NoSuchBucket` if the bucket is absent.
    pub fn delete_objects(
        &self,
        bucket: &str,
        items: &[(String, Option<String>)],
    ) -> Result<Vec<Deleted>, StoreError> {
        let items: Vec<(Vec<u8>, Option<String>)> = items
            .iter()
            .map(|(k, v)| (object_key(bucket, k), v.clone()))
            .collect();
        let bucket = bucket.to_owned();
        let (done, dropped) = self.write_meta(move |t| {
            let state = bucket_versioning(t, &bucket)?;
            let mut done = Vec::with_capacity(items.len());
            let mut dropped = Vec::new();
            for (okey, version) in &items {
                let (deleted, gone) = match version {
                    None => versions::delete_latest(t, okey, state)?,
                    Some(id) => versions::delete_version(t, okey, id)?,
                };
                done.push(deleted);
                dropped.extend(gone);
            }
            Ok((done, dropped))
        })?;
        self.unlink(dropped);
        Ok(done)
    }

    /// One page of ListObjectVersions: every version and delete marker of the keys starting
    /// with `prefix`, keys in byte order and each key's versions newest first, with delimiter
    /// rollup as in [`Store::list_objects`]. Starts after `key_marker` or, with
    /// `version_id_marker`, at that key's versions older than that one. `NoSuchBucket` if the
    /// bucket is absent.
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        key_marker: &str,
        version_id_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionPage, StoreError> {
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(bucket.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        let objects = rtx.open_table(OBJECTS)?;
        let versions = rtx.open_table(VERSIONS)?;
        let marker_seq = match version_id_marker {
            Some(id) => Some(versions::marker_seq(
                &objects,
                &versions,
                &object_key(bucket, key_marker),
                id,
            )?),
            None => None,
        };
        versions::list(
            &objects, &versions, bucket, prefix, delimiter, key_marker, marker_seq, max,
        )
    }

    /// Noncurrent object versions of every bucket in (bucket, key, newest first) order, after
    /// `after` (the `position` of one this returned), at most `limit`: for the scrub, which
    /// checks every stored version.
    pub fn scan_versions(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let rtx = self.read()?;
        let table = rtx.open_table(VERSIONS)?;
        let start = after.map(|a| meta::concat(a, &[0])).unwrap_or_default();
        let mut out = Vec::new();
        for item in table.range::<&[u8]>(start.as_slice()..)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let full = k.value();
            let VersionEntry::Object(record) = meta::decode::<VersionEntry>(v.value(), full)?
            else {
                continue;
            };
            let bad = || StoreError::Corrupt(format!("version key {full:?}"));
            let okey = full.get(..full.len().saturating_sub(9)).ok_or_else(bad)?;
            let split = okey.iter().position(|&b| b == 0).ok_or_else(bad)?;
            let bucket = String::from_utf8(okey[..split].to_vec()).map_err(|_| bad())?;
            let key = String::from_utf8(okey[split + 1..].to_vec()).map_err(|_| bad())?;
            out.push(StoredVersion {
                position: full.to_vec(),
                bucket,
                key,
                record: *record,
            });
        }
        Ok(out)
    }

    /// Whether any version of `key` still references `blob` (a scrub that found a blob missing
    /// asks: a concurrent delete may have taken it).
    pub fn references_blob(
        &self,
        bucket: &str,
        key: &str,
        blob: BlobId,
    ) -> Result<bool, StoreError> {
        let rtx = self.read()?;
        versions::references(
            &rtx.open_table(OBJECTS)?,
            &rtx.open_table(VERSIONS)?,
            &object_key(bucket, key),
            blob,
        )
    }

    /// Sets a bucket's versioning (`NoSuchBucket` if absent). A bucket once versioned stays
    /// so: only Enabled and Suspended exist.
    pub fn set_versioning(&self, bucket: &str, state: Versioning) -> Result<(), StoreError> {
        self.update_bucket(bucket, move |b| b.versioning = Some(state))
            .map(|_| ())
    }

    /// One page of a listing by range scan: keys starting with `prefix` and greater than
    /// `after` (byte order), at most `max` entries where an entry is an object or a common
    /// prefix. With a non-empty `delimiter`, a key whose remainder after `prefix` contains it is
    /// rolled up into `prefix + remainder[..=delimiter]`, emitted once, and the scan seeks past
    /// every key under it (no per-key walk). `after` may itself be a common prefix returned by an
    /// earlier page (then all keys under it are skipped). Memory is bounded by `max`.
    ///
    /// `NoSuchBucket` if the bucket is absent.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let token = self.inner.writer.changes.token(bucket);
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(bucket.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        let page = list::objects(
            &rtx.open_table(OBJECTS)?,
            bucket,
            prefix,
            delimiter,
            after,
            max,
        )?;
        Ok(ListPage { token, ..page })
    }

    // ---- multipart ----

    /// Registers a new upload (its id is in the record).
    ///
    /// `NoSuchBucket` if `record.bucket` is absent; an id already in use is an internal error
    /// (`Meta`): ids are random.
    pub fn create_upload(&self, record: UploadRecord) -> Result<(), StoreError> {
        self.write_meta(move |t| {
            if !t.buckets.contains(record.bucket.as_bytes())? {
                return Err(StoreError::NoSuchBucket);
            }
            if record.upload_id.is_empty() || record.upload_id.contains('\0') {
                return Err(StoreError::Meta(format!(
                    "invalid upload id {:?}",
                    record.upload_id
                )));
            }
            if t.upload_ids.contains(record.upload_id.as_bytes())? {
                return Err(StoreError::Meta(format!(
                    "upload id {} is taken",
                    record.upload_id
                )));
            }
            let ukey = upload_key(&record.bucket, &record.key, &record.upload_id);
            t.uploads.put_json(&ukey, &record)?;
            t.upload_ids.put_raw(record.upload_id.as_bytes(), &ukey)?;
            Ok(())
        })
    }

    /// An upload of `bucket` by id, or `NoSuchUpload`.
    pub fn upload(&self, bucket: &str, upload_id: &str) -> Result<UploadRecord, StoreError> {
        let rtx = self.read()?;
        let (_, record) = find_upload(
            &rtx.open_table(UPLOAD_IDS)?,
            &rtx.open_table(UPLOADS)?,
            bucket,
            upload_id,
        )?;
        Ok(record)
    }

    /// Publishes `blob` and records `part` (replacing and unlinking an earlier part with the
    /// same number); `NoSuchUpload` if the upload is gone.
    ///
    /// `part.blob` must be `blob.id()` (else `Corrupt`, before any file is touched).
    pub fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: PartRecord,
        blob: NewBlob,
    ) -> Result<(), StoreError> {
        if part.blob != blob.id() {
            return Err(StoreError::Corrupt(format!(
                "part record refers to blob {}, not to the new blob {}",
                part.blob,
                blob.id()
            )));
        }
        let (published, inline) = self.publish_all(vec![blob])?;
        let bucket = bucket.to_owned();
        let upload_id = upload_id.to_owned();
        let outcome = self.inner.writer.run(move |t| {
            find_upload(&*t.upload_ids, &*t.uploads, &bucket, &upload_id)?;
            let pkey = part_key(&upload_id, part.part_number);
            let old: Option<PartRecord> = t.parts.get_json(&pkey)?;
            t.parts.put_json(&pkey, &part)?;
            add_blobs(t, &[part.blob], &inline)?;
            // The replaced part's file, if it has one, goes after the commit.
            match old {
                Some(old) => Ok(t.blobs.remove(old.blob)?.then_some(old.blob)),
                None => Ok(None),
            }
        });
        let replaced = self.settle(outcome, published)?;
        self.unlink(replaced);
        Ok(())
    }

    /// Parts with number > `marker`, in order, at most `max`; bool: more follow.
    pub fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> Result<(Vec<PartRecord>, bool), StoreError> {
        let rtx = self.read()?;
        find_upload(
            &rtx.open_table(UPLOAD_IDS)?,
            &rtx.open_table(UPLOADS)?,
            bucket,
            upload_id,
        )?;
        let Some(first) = marker.checked_add(1) else {
            return Ok((Vec::new(), false));
        };
        let start = part_key(upload_id, first);
        let end = successor_scoped(part_base(upload_id));
        let parts = rtx.open_table(PARTS)?;
        let mut out = Vec::new();
        for item in parts.range::<&[u8]>(start.as_slice()..end.as_slice())? {
            if out.len() >= max {
                return Ok((out, true));
            }
            let (k, v) = item?;
            out.push(meta::decode(v.value(), k.value())?);
        }
        Ok((out, false))
    }

    /// In-progress uploads in (key, upload id) order after (`key_marker`, `upload_id_marker`),
    /// with prefix/delimiter rollup as in `list_objects`.
    ///
    /// Markers are exclusive, as on OSS: `key_marker` alone lists keys after it;
    /// with `upload_id_marker`, uploads of `key_marker` with a greater id come first. A marker
    /// inside a rolled-up common prefix skips that whole prefix. `NoSuchBucket` if the bucket
    /// is absent.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        key_marker: &str,
        upload_id_marker: &str,
        max: usize,
    ) -> Result<UploadPage, StoreError> {
        let rtx = self.read()?;
        if !rtx.open_table(BUCKETS)?.contains(bucket.as_bytes())? {
            return Err(StoreError::NoSuchBucket);
        }
        list::uploads(
            &rtx.open_table(UPLOADS)?,
            bucket,
            prefix,
            delimiter,
            key_marker,
            upload_id_marker,
            max,
        )
    }

    /// Completes an upload: atomically checks the upload exists and that each part in `used`
    /// still has the blob it had when the caller validated it (else `InvalidPart`), makes
    /// `record` (whose segments are those parts' blobs, in order; no data is copied) the object
    /// at the upload's key under `mode`, removes the upload and its part records, and unlinks
    /// the blobs of parts not used and of the replaced object. Returns the replaced record.
    ///
    /// A segment referring to a blob that is not one of `used` is `InvalidPart` too.
    pub fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        used: &[PartRecord],
        record: ObjectRecord,
        mode: PutMode,
    ) -> Result<Written, StoreError> {
        let used: Vec<(u32, BlobId)> = used.iter().map(|p| (p.part_number, p.blob)).collect();
        let bucket = bucket.to_owned();
        let upload_id = upload_id.to_owned();
        let mut record = record;
        let (written, dropped) = self.write_meta(move |t| {
            let state = bucket_versioning(t, &bucket)?;
            let (ukey, upload) = find_upload(&*t.upload_ids, &*t.uploads, &bucket, &upload_id)?;
            let parts = upload_parts(&*t.parts, &upload_id)?;
            for &(number, blob) in &used {
                let current = parts.iter().find(|(_, p)| p.part_number == number);
                if current.is_none_or(|(_, p)| p.blob != blob) {
                    return Err(StoreError::InvalidPart);
                }
            }
            let used_blobs: BTreeSet<BlobId> = used.iter().map(|&(_, blob)| blob).collect();
            if record
                .segments
                .iter()
                .any(|s| !used_blobs.contains(&s.blob))
            {
                return Err(StoreError::InvalidPart);
            }
            let okey = object_key(&bucket, &upload.key);
            let old: Option<ObjectRecord> = t.objects.get_json(&okey)?;
            mode.check(old.as_ref())?;
            // Checks done; writes from here on. The used parts' blobs are in the blob index
            // already and simply change owner; everything else the upload held goes.
            let kept: BTreeSet<BlobId> = record.segments.iter().map(|s| s.blob).collect();
            let mut dropped: Vec<BlobId> = Vec::new();
            for (pkey, part) in &parts {
                t.parts.remove(pkey)?;
                if !kept.contains(&part.blob) && t.blobs.remove(part.blob)? {
                    dropped.push(part.blob);
                }
            }
            t.uploads.remove(&ukey)?;
            t.upload_ids.remove(upload_id.as_bytes())?;
            dropped.extend(versions::install(
                t,
                &okey,
                state,
                old.as_ref(),
                &mut record,
            )?);
            Ok((
                Written {
                    version: record.version,
                    replaced: old,
                },
                dropped,
            ))
        })?;
        self.unlink(dropped);
        Ok(written)
    }

    /// Aborts an upload, unlinking its parts' blobs; `NoSuchUpload` if absent.
    pub fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<(), StoreError> {
        let bucket = bucket.to_owned();
        let upload_id = upload_id.to_owned();
        let dropped = self.write_meta(move |t| {
            let (ukey, _) = find_upload(&*t.upload_ids, &*t.uploads, &bucket, &upload_id)?;
            let parts = upload_parts(&*t.parts, &upload_id)?;
            let mut dropped = Vec::with_capacity(parts.len());
            for (pkey, part) in parts {
                t.parts.remove(&pkey)?;
                if t.blobs.remove(part.blob)? {
                    dropped.push(part.blob);
                }
            }
            t.uploads.remove(&ukey)?;
            t.upload_ids.remove(upload_id.as_bytes())?;
            Ok(dropped)
        })?;
        self.unlink(dropped);
        Ok(())
    }

    // ---- internals ----

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.inner.db.begin_read()?)
    }

    /// A write that publishes no blob: an uncertain commit is just an error to report.
    fn write_meta<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut meta::Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.settle(self.inner.writer.run(op), Vec::new())
    }

    /// Publishes file blobs (rename into `blobs/`, directory fsync) ahead of their metadata
    /// commit, and sets the bytes of inline ones apart for it. On error, those already
    /// published are unlinked (their guards drop) and the rest removed from `tmp/` (the
    /// `NewBlob`s drop).
    fn publish_all(&self, blobs: Vec<NewBlob>) -> Result<(Vec<Published>, Inline), StoreError> {
        let mut published = Vec::new();
        let mut inline = Inline::new();
        for blob in blobs {
            match blobs::publish(&self.inner.blobs_dir, blob)? {
                Staged::File(p) => published.push(p),
                Staged::Inline(id, bytes) => {
                    inline.insert(id, bytes);
                }
            }
        }
        Ok((published, inline))
    }

    /// Decides the fate of blobs published for a write once its outcome is known: kept if the
    /// metadata now references them (or might: an uncertain commit is settled by the next
    /// startup's orphan removal), unlinked if the write was refused.
    fn settle<T>(&self, outcome: Outcome<T>, published: Vec<Published>) -> Result<T, StoreError> {
        match outcome {
            Outcome::Done(Ok(value)) => {
                published.into_iter().for_each(Published::keep);
                Ok(value)
            }
            Outcome::Done(Err(e)) => {
                drop(published);
                Err(e)
            }
            Outcome::Uncertain(e) => {
                tracing::error!(
                    blobs = ?published.iter().map(Published::id).collect::<Vec<_>>(),
                    "commit outcome unknown; blobs left for startup cleanup"
                );
                published.into_iter().for_each(Published::keep);
                Err(e)
            }
        }
    }

    /// Unlinks blobs that a committed write dropped from the blob index. Readers that opened
    /// them keep reading (POSIX unlink semantics); later opens see `BlobMissing`.
    fn unlink(&self, ids: impl IntoIterator<Item = BlobId>) {
        let now = self
            .inner
            .pins
            .lock()
            .expect("pins")
            .defer(ids.into_iter().collect());
        blobs::unlink(&self.inner.blobs_dir, now);
    }

    /// Writes `record` at every key in `keys` of `bucket`, with no blobs, in large
    /// transactions: for tests that need many objects fast. The bucket must exist.
    #[cfg(test)]
    pub(crate) fn bulk_insert_objects(
        &self,
        bucket: &str,
        keys: impl IntoIterator<Item = String>,
        record: &ObjectRecord,
    ) -> Result<(), StoreError> {
        assert!(
            record.segments.is_empty(),
            "bulk-inserted objects have no content"
        );
        let value = Arc::new(meta::encode(record)?);
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let chunk: Vec<Vec<u8>> = keys
                .by_ref()
                .take(100_000)
                .map(|k| object_key(bucket, &k))
                .collect();
            let value = value.clone();
            self.write_meta(move |t| {
                for k in &chunk {
                    t.objects.put_raw(k, &value)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Runs an arbitrary operation on the writer, for tests of the writer's guarantees.
    #[cfg(test)]
    fn write_raw<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut meta::Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_meta(op)
    }

    #[cfg(test)]
    fn writer_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.inner.writer.stats();
        (stats.commits.load(Relaxed), stats.operations.load(Relaxed))
    }
}

/// Runs blocking store work on the blocking pool (a panic in it is raised again here).
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Meta(format!("blocking task failed: {e}"))),
    }
}

/// The bytes of a write's inline blobs, by id.
type Inline = std::collections::BTreeMap<BlobId, Vec<u8>>;

/// Indexes a write's new blobs, storing the bytes of those that are inline.
fn add_blobs(t: &mut meta::Tables<'_>, ids: &[BlobId], inline: &Inline) -> Result<(), StoreError> {
    for id in ids {
        t.blobs.add(*id, inline.get(id).map(Vec::as_slice))?;
    }
    Ok(())
}

/// A bucket's versioning state inside a write; `NoSuchBucket` if it is absent.
fn bucket_versioning(t: &meta::Tables<'_>, bucket: &str) -> Result<Option<Versioning>, StoreError> {
    let record: BucketRecord = t
        .buckets
        .get_json(bucket.as_bytes())?
        .ok_or(StoreError::NoSuchBucket)?;
    Ok(record.versioning)
}

/// A noncurrent object version, as [`Store::scan_versions`] finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    /// Where the scan is: pass back as `after` to go on from here.
    pub position: Vec<u8>,
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
}

/// What a write made: the new version's stamp and the object it replaced as current.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub version: VersionStamp,
    pub replaced: Option<ObjectRecord>,
}

/// A write's segments must refer to exactly the blobs it publishes: a segment pointing
/// elsewhere would share (or dangle on) a blob outside the index's bookkeeping, and a published
/// blob no segment refers to would leak.
fn check_segments(segments: &[Segment], new_blobs: &[BlobId]) -> Result<(), StoreError> {
    let referenced: BTreeSet<BlobId> = segments.iter().map(|s| s.blob).collect();
    let published: BTreeSet<BlobId> = new_blobs.iter().copied().collect();
    if referenced != published {
        return Err(StoreError::Corrupt(
            "an object's segments must refer to exactly the blobs being published".to_owned(),
        ));
    }
    Ok(())
}

/// Looks an upload up by id and checks that it belongs to `bucket`: its uploads key and record.
fn find_upload(
    upload_ids: &impl JsonTable,
    uploads: &impl JsonTable,
    bucket: &str,
    upload_id: &str,
) -> Result<(Vec<u8>, UploadRecord), StoreError> {
    let ukey = match upload_ids.get(upload_id.as_bytes())? {
        Some(v) => v.value().to_vec(),
        None => return Err(StoreError::NoSuchUpload),
    };
    if !ukey.starts_with(&bucket_base(bucket)) {
        return Err(StoreError::NoSuchUpload);
    }
    let record = uploads.get_json(&ukey)?.ok_or_else(|| {
        StoreError::Corrupt(format!("upload {upload_id} is indexed but has no record"))
    })?;
    Ok((ukey, record))
}

/// All part records of an upload (at most 10,000 on OSS), with their keys.
fn upload_parts(
    parts: &impl JsonTable,
    upload_id: &str,
) -> Result<Vec<(Vec<u8>, PartRecord)>, StoreError> {
    let start = part_base(upload_id);
    let end = successor_scoped(start.clone());
    let mut out = Vec::new();
    for item in parts.range::<&[u8]>(start.as_slice()..end.as_slice())? {
        let (k, v) = item?;
        out.push((k.value().to_vec(), meta::decode(v.value(), k.value())?));
    }
    Ok(out)
}

/// Opens (creating) the metadata database. With the `failpoints` feature, a database in a
/// directory the power-loss simulation tracks has its syncs recorded.
fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(cache_bytes);
    #[cfg(feature = "failpoints")]
    if crate::failpoints::power::tracks(path.parent().unwrap_or(path)) {
        return builder.create_with_backend(crate::failpoints::power::TrackedFile::open(path)?);
    }
    builder.create(path)
}

/// Deletes everything inside `dir` (the previous run's unfinished temp files).
fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Deletes every file in `blobs/` whose id is not in the blob index: blobs published for a
/// write whose commit never happened, or replaced by a commit that the unlink did not follow.
/// Runs before the writer starts, so nothing is being published meanwhile.
fn remove_orphans(db: &Database, blobs_dir: &Path) -> Result<(), StoreError> {
    let rtx = db.begin_read()?;
    let index = rtx.open_table(BLOBS)?;
    let mut removed = 0u64;
    for fanout in fs::read_dir(blobs_dir)? {
        let fanout = fanout?;
        if !fanout.file_type()?.is_dir() {
            tracing::warn!(path = %fanout.path().display(), "unexpected file in blobs/, left alone");
            continue;
        }
        for file in fs::read_dir(fanout.path())? {
            let file = file?;
            let Some(id) = file.file_name().to_str().and_then(BlobId::from_hex) else {
                tracing::warn!(path = %file.path().display(), "unexpected file in blobs/, left alone");
                continue;
            };
            if index.get(id.0)?.is_none() {
                match fs::remove_file(file.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed orphan blobs left by an interrupted run");
    }
    Ok(())
}

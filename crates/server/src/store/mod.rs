//! The storage engine: object content in blob files, metadata in redb.
//!
//! Layout of the data directory (keys never become paths: blobs are named by random ids):
//! ```text
//! meta.redb            buckets, objects, uploads, parts, blob index
//! blobs/ab/<32 hex>    published content files
//! tmp/<32 hex>         content being written; emptied at startup
//! ```
//! A write streams into `tmp/`, is fsynced, renamed into `blobs/` (directory fsynced), and only
//! then becomes visible by a metadata commit. A crash before the commit leaves an unreferenced
//! blob that [`Store::open`] deletes; a crash after it leaves the new version complete. Replaced
//! blobs are unlinked after the commit that drops them (a crash in between leaves an orphan,
//! again removed at startup). Metadata commits from concurrent requests are grouped into one
//! redb transaction (group commit), so many small PUTs share one fsync.

mod blobs;
mod meta;
pub mod records;

pub use blobs::{BlobId, BlobWriter, NewBlob};
pub use records::*;

use std::path::Path;

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
    /// `PutMode::ForbidOverwrite` and the key exists.
    #[error("the object already exists")]
    FileAlreadyExists,
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
}

/// How a write treats an existing object at the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Fail with `FileAlreadyExists` if the key exists (`x-oss-forbid-overwrite: true`).
    ForbidOverwrite,
}

/// One entry of a listing page, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum ListEntry {
    Object { key: String, record: ObjectRecord },
    /// A common prefix (rolled up by the delimiter), ending with the delimiter.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
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
}

/// Usage figures of a bucket (GetBucketStat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketUsage {
    pub bytes: u64,
    pub objects: u64,
    pub uploads: u64,
}

/// The storage engine. Cheap to clone; all methods are blocking (call them from
/// `tokio::task::spawn_blocking` in async code) and safe to call from many threads at once.
#[derive(Clone)]
pub struct Store {
    // private: Arc<inner>
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, empties `tmp/` and deletes blob files that
    /// no metadata references (leftovers of a crash).
    pub fn open(dir: &Path) -> Result<Store, StoreError> { todo!() }

    /// The data directory.
    pub fn dir(&self) -> &Path { todo!() }

    // ---- buckets ----

    /// Creates a bucket; `BucketAlreadyExists` if the name is taken.
    pub fn create_bucket(&self, record: BucketRecord) -> Result<(), StoreError> { todo!() }
    /// A bucket's record, or `None`.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> { todo!() }
    /// Changes a bucket's record atomically; `NoSuchBucket` if absent. Returns the new record.
    pub fn update_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut BucketRecord) + Send + 'static,
    ) -> Result<BucketRecord, StoreError> { todo!() }
    /// Deletes an empty bucket: `BucketNotEmpty` if it holds objects or in-progress uploads.
    pub fn delete_bucket(&self, name: &str) -> Result<(), StoreError> { todo!() }
    /// Buckets in name order with `name > marker` and starting with `prefix`, at most `limit`;
    /// the bool says whether more follow.
    pub fn list_buckets(&self, prefix: &str, marker: &str, limit: usize) -> Result<(Vec<BucketRecord>, bool), StoreError> { todo!() }
    /// Bytes, objects and in-progress uploads of a bucket (a scan; fine for a local server).
    pub fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError> { todo!() }

    // ---- content ----

    /// Starts a new blob in `tmp/`. Dropping the writer without `finish` removes the temp file.
    pub fn new_blob(&self) -> Result<BlobWriter, StoreError> { todo!() }
    /// Opens a published blob for reading; `BlobMissing` if its file is gone.
    pub fn open_blob(&self, id: BlobId) -> Result<std::fs::File, StoreError> { todo!() }

    // ---- objects ----

    /// An object's record; `NoSuchBucket` if the bucket is absent, `Ok(None)` if the key is.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> { todo!() }

    /// Publishes `blobs` (the blobs `record.segments` refer to) and makes `record` the object at
    /// `key`, atomically; unlinks the blobs of the version it replaced. Returns the replaced
    /// record, if any.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        blobs: Vec<NewBlob>,
        mode: PutMode,
    ) -> Result<Option<ObjectRecord>, StoreError> { todo!() }

    /// AppendObject: atomically checks that `key` is absent (then `append.position` must be 0
    /// and `append.template` becomes the object, typed Appendable) or Appendable with
    /// `size == position`, then adds `append.blob` as a new segment, updating size, CRC
    /// (combined with the segment's), ETag and mtime from `append`. Errors:
    /// `PositionNotEqualToLength`, `ObjectNotAppendable`. Returns the new record.
    pub fn append_object(&self, bucket: &str, key: &str, append: Append) -> Result<ObjectRecord, StoreError> { todo!() }

    /// Changes an existing object's metadata (not its content) atomically; `NoSuchKey` if
    /// absent. Returns the new record. (ACL changes, copy-to-self with metadata REPLACE.)
    pub fn update_object(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectRecord) + Send + 'static,
    ) -> Result<ObjectRecord, StoreError> { todo!() }

    /// Deletes an object (no error if absent) and unlinks its blobs; `NoSuchBucket` if the
    /// bucket is absent. Returns whether something was deleted.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError> { todo!() }

    /// Deletes many objects in one transaction (absent keys are fine).
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<(), StoreError> { todo!() }

    /// One page of a listing by range scan: keys starting with `prefix` and greater than
    /// `after` (byte order), at most `max` entries where an entry is an object or a common
    /// prefix. With a non-empty `delimiter`, a key whose remainder after `prefix` contains it is
    /// rolled up into `prefix + remainder[..=delimiter]`, emitted once, and the scan seeks past
    /// every key under it (no per-key walk). `after` may itself be a common prefix returned by an
    /// earlier page (then all keys under it are skipped). Memory is bounded by `max`.
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        max: usize,
    ) -> Result<ListPage, StoreError> { todo!() }

    // ---- multipart ----

    /// Registers a new upload (its id is in the record).
    pub fn create_upload(&self, record: UploadRecord) -> Result<(), StoreError> { todo!() }
    /// An upload of `bucket` by id, or `NoSuchUpload`.
    pub fn upload(&self, bucket: &str, upload_id: &str) -> Result<UploadRecord, StoreError> { todo!() }
    /// Publishes `blob` and records `part` (replacing and unlinking an earlier part with the
    /// same number); `NoSuchUpload` if the upload is gone.
    pub fn put_part(&self, bucket: &str, upload_id: &str, part: PartRecord, blob: NewBlob) -> Result<(), StoreError> { todo!() }
    /// Parts with number > `marker`, in order, at most `max`; bool: more follow.
    pub fn list_parts(&self, bucket: &str, upload_id: &str, marker: u32, max: usize) -> Result<(Vec<PartRecord>, bool), StoreError> { todo!() }
    /// In-progress uploads in (key, upload id) order after (`key_marker`, `upload_id_marker`),
    /// with prefix/delimiter rollup as in `list_objects`.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        key_marker: &str,
        upload_id_marker: &str,
        max: usize,
    ) -> Result<UploadPage, StoreError> { todo!() }
    /// Completes an upload: atomically checks the upload exists and that each part in `used`
    /// still has the blob it had when the caller validated it (else `InvalidPart`), makes
    /// `record` (whose segments are those parts' blobs, in order; no data is copied) the object
    /// at the upload's key under `mode`, removes the upload and its part records, and unlinks
    /// the blobs of parts not used and of the replaced object. Returns the replaced record.
    pub fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        used: &[PartRecord],
        record: ObjectRecord,
        mode: PutMode,
    ) -> Result<Option<ObjectRecord>, StoreError> { todo!() }
    /// Aborts an upload, unlinking its parts' blobs; `NoSuchUpload` if absent.
    pub fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<(), StoreError> { todo!() }
}

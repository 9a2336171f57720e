//! Backups: a consistent copy of a live store into a new data directory.
//!
//! The copy is taken from one redb read transaction (a snapshot: writes go on meanwhile and are
//! simply not in it) and the blob files its blob index names (inline blobs come with the
//! metadata). Blob files are immutable once
//! published; the only way one disappears is an unlink after a commit that dropped it, and while
//! a backup runs those unlinks are deferred (to its end), so every blob of the snapshot is still
//! there to copy. The result is a data directory `ossvault serve` opens as it is: restoring is
//! pointing a server at it (or moving it into place).
//!
//! Not copied: the root secret (it never lives in the data directory; without it the copy's
//! master keys and KMS material, which are in the metadata wrapped by it, cannot be unwrapped),
//! and the plaintext secrets a server keeps beside its data (`credentials.json`, `tls/`), which
//! a restored server makes anew unless they are given.

use super::meta::{
    BLOBS, BUCKETS, INLINE, OBJECTS, PARTS, SETTINGS, UPLOADS, UPLOAD_IDS, VERSIONS,
};
use super::{blobs, private, BlobId, Store, StoreError, DB_FILE};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use serde::Serialize;
use std::fs;
use std::io;
use std::path::Path;

/// What a backup copied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupReport {
    pub objects: u64,
    /// Noncurrent versions and delete markers.
    pub versions: u64,
    /// Blobs copied as files, and their bytes.
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Blobs copied inline with the metadata, and their bytes.
    pub inline_blobs: u64,
    pub inline_bytes: u64,
}

/// Unlinks deferred while backups run.
#[derive(Debug, Default)]
pub(super) struct Pins {
    active: usize,
    deferred: Vec<BlobId>,
}

impl Pins {
    /// Takes the ids to unlink now, keeping them for later while a backup runs.
    pub(super) fn defer(&mut self, ids: Vec<BlobId>) -> Vec<BlobId> {
        if self.active == 0 {
            ids
        } else {
            self.deferred.extend(ids);
            Vec::new()
        }
    }
}

const BYTE_TABLES: [TableDefinition<'static, &'static [u8], &'static [u8]>; 7] = [
    BUCKETS, OBJECTS, UPLOADS, UPLOAD_IDS, PARTS, SETTINGS, VERSIONS,
];

impl Store {
    /// Copies a consistent snapshot of this store (metadata and every referenced blob, fsynced)
    /// into `out`, which must not exist yet. Safe while the store serves writes.
    pub fn backup(&self, out: &Path) -> Result<BackupReport, StoreError> {
        if out.exists() {
            return Err(StoreError::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", out.display()),
            )));
        }
        self.inner.pins.lock().expect("pins").active += 1;
        let result = self.copy_snapshot(out);
        let release = {
            let mut pins = self.inner.pins.lock().expect("pins");
            pins.active -= 1;
            if pins.active == 0 {
                std::mem::take(&mut pins.deferred)
            } else {
                Vec::new()
            }
        };
        blobs::unlink(&self.inner.blobs_dir, release);
        if result.is_err() {
            let _ = fs::remove_dir_all(out);
        }
        result
    }

    fn copy_snapshot(&self, out: &Path) -> Result<BackupReport, StoreError> {
        // Pinned before the snapshot: whatever it references stays on disk.
        let rtx = self.read()?;
        private::create_dir_all(out)?;
        let out_blobs = out.join("blobs");
        private::create_dir(&out.join("tmp"))?;
        private::create_dir(&out_blobs)?;
        for i in 0..=255u8 {
            private::create_dir(&out_blobs.join(format!("{i:02x}")))?;
        }
        let mut report = BackupReport::default();

        let ids = rtx.open_table(BLOBS)?;
        let inline = rtx.open_table(INLINE)?;
        for item in ids.iter()? {
            let id = BlobId(item?.0.value());
            if let Some(bytes) = super::meta::read_inline(&inline, id.0)? {
                report.inline_blobs += 1;
                report.inline_bytes += bytes.len() as u64;
                continue;
            }
            let from = blobs::blob_path(&self.inner.blobs_dir, id);
            let to = blobs::blob_path(&out_blobs, id);
            report.blob_bytes += copy_durably(&from, &to)?;
            report.blobs += 1;
        }
        for i in 0..=255u8 {
            blobs::sync_dir(&out_blobs.join(format!("{i:02x}")))?;
        }

        let db = redb::Database::create(out.join(DB_FILE))?;
        private::restrict_file(&out.join(DB_FILE))?;
        let wtx = db.begin_write()?;
        for def in BYTE_TABLES {
            let from = rtx.open_table(def)?;
            let mut to = wtx.open_table(def)?;
            if def.name() == OBJECTS.name() {
                report.objects = from.len()?;
            }
            if def.name() == VERSIONS.name() {
                report.versions = from.len()?;
            }
            for item in from.iter()? {
                let (k, v) = item?;
                to.insert(k.value(), v.value())?;
            }
        }
        {
            let mut to = wtx.open_table(BLOBS)?;
            for item in ids.iter()? {
                to.insert(item?.0.value(), ())?;
            }
            let mut to = wtx.open_table(INLINE)?;
            for item in inline.iter()? {
                let (k, v) = item?;
                to.insert(k.value(), v.value())?;
            }
        }
        wtx.commit()?;
        drop(db);
        blobs::sync_dir(&out_blobs)?;
        blobs::sync_dir(out)?;
        Ok(report)
    }
}

/// Copies a file and fsyncs the copy; returns its length.
fn copy_durably(from: &Path, to: &Path) -> Result<u64, StoreError> {
    let mut src = fs::File::open(from)?;
    let mut dst = ossvault_fs::create_new_private(to)?;
    let n = io::copy(&mut src, &mut dst)?;
    dst.sync_all()?;
    Ok(n)
}

//! The per-pair index: each path's last synced state, in a redb database. A restart compares
//! the folder against it by metadata alone: an unchanged file is neither read nor uploaded.

use crate::error::{Error, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");

/// redb's page cache per index (its default is 1 GiB, which a pass would fill with the pages it
/// streams through once). An app runs many pairs, and each pass or remote poll reads its index
/// through from start to end, so a cache holds the whole index (4.5 MiB for 5,000 files) for
/// nothing but memory: the OS caches the file anyway. (512 KiB before the listing tokens, when
/// every idle poll read each index through.)
const INDEX_CACHE_BYTES: usize = 128 << 10;

/// What was true of a path when it was last in sync on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Plaintext size.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The inode (Unix) or file index (elsewhere: 0 when unknown).
    pub inode: u64,
    /// [`crate::scan::content_hash`] of the plaintext.
    pub hash: String,
    /// The object key.
    pub key: String,
    /// The object's ETag (of the stored, possibly encrypted, bytes).
    pub etag: String,
    /// The fingerprint of the master key (`kms:ID` for a KMS key), empty when plain.
    pub key_fingerprint: String,
}

/// A pair's index database, open while it is used: an idle pair holds none (see
/// [`Index::release`]).
pub struct Index {
    path: PathBuf,
    /// Cloned (under the lock) by every operation and held until it has read or written: a
    /// transaction alone would not keep [`Index::release`] from closing it under a reader.
    db: Mutex<Option<Arc<Database>>>,
}

/// A change to the index.
#[derive(Debug, Clone)]
pub enum IndexUpdate {
    Put(String, IndexEntry),
    Remove(String),
}

impl Index {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<Index> {
        if let Some(dir) = path.parent() {
            ossvault_fs::create_private_dir_all(dir).map_err(Error::io(dir))?;
        }
        let db = builder().create(path)?;
        let w = db.begin_write()?;
        w.open_table(FILES)?;
        w.commit()?;
        Ok(Index {
            path: path.to_owned(),
            db: Mutex::new(Some(Arc::new(db))),
        })
    }

    /// The database, opened again if it was released (never created again: a pair removed
    /// meanwhile has no index).
    fn db(&self) -> Result<Arc<Database>> {
        let mut open = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = &*open {
            return Ok(db.clone());
        }
        let db = Arc::new(builder().open(&self.path)?);
        *open = Some(db.clone());
        Ok(db)
    }

    /// Closes the database if nothing uses it; the next operation opens it again. An open
    /// index holds its allocator's state and its page cache (ten pairs of 5,000 files: 5.3 MiB
    /// of allocator state and up to 1.3 MiB of cache, by heaptrack), so a pair releases its
    /// index whenever it goes idle. Closing writes the allocator state (one small commit);
    /// opening a cleanly closed index reads it back.
    pub fn release(&self) {
        let mut open = self.db.lock().unwrap_or_else(|p| p.into_inner());
        // Clones are taken under this lock only: a count of one means no reader or writer.
        if open.as_ref().is_some_and(|db| Arc::strong_count(db) == 1) {
            *open = None;
        }
    }

    /// Whether the database is open (for tests).
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.db.lock().unwrap().is_some()
    }

    /// The entry of `rel` (a `/`-separated relative path).
    pub fn get(&self, rel: &str) -> Result<Option<IndexEntry>> {
        let db = self.db()?;
        let r = db.begin_read()?;
        let t = r.open_table(FILES)?;
        match t.get(rel)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Applies updates in one transaction (one commit for many files).
    pub fn apply(&self, updates: &[IndexUpdate]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let db = self.db()?;
        let w = db.begin_write()?;
        {
            let mut t = w.open_table(FILES)?;
            for u in updates {
                match u {
                    IndexUpdate::Put(rel, e) => {
                        let bytes = serde_json::to_vec(e).expect("serializable");
                        t.insert(rel.as_str(), bytes.as_slice())?;
                    }
                    IndexUpdate::Remove(rel) => {
                        t.remove(rel.as_str())?;
                    }
                }
            }
        }
        w.commit()?;
        Ok(())
    }

    /// Number of indexed paths.
    pub fn len(&self) -> Result<u64> {
        let db = self.db()?;
        let r = db.begin_read()?;
        Ok(r.open_table(FILES)?.len()?)
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Calls `f` with every entry in path order, streamed from the database (never the whole
    /// index in memory).
    pub fn for_each(&self, mut f: impl FnMut(&str, IndexEntry) -> Result<()>) -> Result<()> {
        let db = self.db()?;
        let r = db.begin_read()?;
        let t = r.open_table(FILES)?;
        for item in t.iter()? {
            let (k, v) = item?;
            f(k.value(), decode(v.value())?)?;
        }
        Ok(())
    }

    /// At most `limit` entries in path order, starting after `after` (a page of the files
    /// list: the next page starts after the last path of this one).
    pub fn page(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, IndexEntry)>> {
        let db = self.db()?;
        let r = db.begin_read()?;
        let t = r.open_table(FILES)?;
        let range = match after {
            Some(a) => {
                t.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?
            }
            None => t.range::<&str>(..)?,
        };
        let mut out = Vec::new();
        for item in range.take(limit) {
            let (k, v) = item?;
            out.push((k.value().to_owned(), decode(v.value())?));
        }
        Ok(out)
    }

    /// A streaming cursor over the entries in path order, for a merge with sorted lists.
    pub fn cursor(&self) -> Result<IndexCursor> {
        let db = self.db()?;
        let t = db.begin_read()?.open_table(FILES)?;
        Ok(IndexCursor {
            table: t,
            _db: db,
            after: None,
            buffer: std::collections::VecDeque::new(),
            done: false,
        })
    }
}

/// Entries in path order, read in small batches (see [`Index::cursor`]).
pub struct IndexCursor {
    table: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    /// Keeps the database open while the cursor lives (dropped after `table`).
    _db: Arc<Database>,
    after: Option<String>,
    buffer: std::collections::VecDeque<(String, IndexEntry)>,
    done: bool,
}

impl IndexCursor {
    const BATCH: usize = 512;

    fn fill(&mut self) -> Result<()> {
        if self.done || !self.buffer.is_empty() {
            return Ok(());
        }
        let range = match &self.after {
            Some(a) => self.table.range::<&str>((
                std::ops::Bound::Excluded(a.as_str()),
                std::ops::Bound::Unbounded,
            ))?,
            None => self.table.range::<&str>(..)?,
        };
        for item in range.take(Self::BATCH) {
            let (k, v) = item?;
            self.buffer
                .push_back((k.value().to_owned(), decode(v.value())?));
        }
        match self.buffer.back() {
            Some((k, _)) => self.after = Some(k.clone()),
            None => self.done = true,
        }
        Ok(())
    }

    /// The next entry's path, without consuming it.
    pub fn peek(&mut self) -> Result<Option<&(String, IndexEntry)>> {
        self.fill()?;
        Ok(self.buffer.front())
    }

    /// The next entry.
    pub fn next_entry(&mut self) -> Result<Option<(String, IndexEntry)>> {
        self.fill()?;
        Ok(self.buffer.pop_front())
    }
}

fn builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(INDEX_CACHE_BYTES);
    builder
}

fn decode(bytes: &[u8]) -> Result<IndexEntry> {
    serde_json::from_slice(bytes).map_err(|e| Error::Index(format!("corrupt entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64) -> IndexEntry {
        IndexEntry {
            size,
            mtime_ns: 1,
            inode: 2,
            hash: "h".into(),
            key: "k".into(),
            etag: "e".into(),
            key_fingerprint: String::new(),
        }
    }

    #[test]
    fn cursor_streams_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("i.redb")).unwrap();
        let updates: Vec<IndexUpdate> = (0..1500u64)
            .map(|i| IndexUpdate::Put(format!("d/{i:05}"), entry(i)))
            .collect();
        index.apply(&updates).unwrap();
        index
            .apply(&[IndexUpdate::Remove("d/00007".into())])
            .unwrap();
        let mut c = index.cursor().unwrap();
        let mut seen = Vec::new();
        while let Some((k, e)) = c.next_entry().unwrap() {
            seen.push((k, e.size));
        }
        assert_eq!(seen.len(), 1499);
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(!seen.iter().any(|(k, _)| k == "d/00007"));
        assert_eq!(index.get("d/01499").unwrap().unwrap().size, 1499);
        let first = index.page(None, 2).unwrap();
        assert_eq!(
            first.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["d/00000", "d/00001"]
        );
        let next = index.page(Some("d/00006"), 2).unwrap();
        assert_eq!(
            next.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["d/00008", "d/00009"]
        );
        assert!(index.page(Some("d/01499"), 2).unwrap().is_empty());
    }

    #[test]
    fn a_released_index_closes_when_unused_and_opens_again_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.redb");
        let index = Index::open(&path).unwrap();
        index
            .apply(&[IndexUpdate::Put("a".into(), entry(1))])
            .unwrap();
        // A cursor in use keeps it open.
        let mut cursor = index.cursor().unwrap();
        index.release();
        assert!(index.is_open());
        assert_eq!(cursor.next_entry().unwrap().unwrap().0, "a");
        drop(cursor);
        index.release();
        assert!(!index.is_open());
        // Closed, the file is free: another handle can open it (and must let go again).
        drop(redb::Database::open(&path).unwrap());
        // The next use opens it again, with what was written.
        assert_eq!(index.get("a").unwrap().unwrap().size, 1);
        assert!(index.is_open());
        index
            .apply(&[IndexUpdate::Put("b".into(), entry(2))])
            .unwrap();
        index.release();
        assert_eq!(index.len().unwrap(), 2);
        // A release while an operation reads (another thread's) leaves it open for the rest.
        index
            .for_each(|_, _| {
                index.release();
                assert!(index.get("b")?.is_some());
                Ok(())
            })
            .unwrap();
        // A pair removed while its index was closed: not created again.
        index.release();
        std::fs::remove_file(&path).unwrap();
        assert!(index.get("a").is_err());
        assert!(!path.exists());
    }
}

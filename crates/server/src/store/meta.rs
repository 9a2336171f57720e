//! The redb metadata database and its group-commit writer.
//!
//! Schema (every value is a JSON record from [`super::records`], except the blob index):
//! ```text
//! buckets     name                                  → BucketRecord
//! objects     bucket 0x00 key                       → ObjectRecord
//! uploads     bucket 0x00 key 0x00 upload_id        → UploadRecord
//! upload_ids  upload_id                             → the uploads key above
//! parts       upload_id 0x00 part_number (u32 BE)   → PartRecord
//! versions    bucket 0x00 key 0x00 !seq (u64 BE)    → VersionEntry (noncurrent versions and
//!                                                     delete markers, newest first per key)
//! blobs       blob id (u128)                        → ()
//! inline      (piece (u8), blob id (u128))          → a piece of the blob's bytes (small
//!                                                     blobs only; see [`INLINE_PIECE`])
//! ```
//! Bucket names and upload ids never contain 0x00, so byte order of the composite keys is
//! (bucket, key) / (bucket, key, upload id) / (upload id, part number) order, and everything of
//! one bucket (or one upload) is a contiguous range. (A key containing 0x00 itself would sort
//! its uploads slightly out of (key, id) order; OSS keys cannot carry NUL through XML anyway.)
//! The blob index holds every blob that an object segment or a part references: startup deletes
//! every other file in `blobs/`. A blob also in `inline` has no file: its bytes were committed
//! with the record that first referenced it and leave the database with its index entry
//! ([`BlobTables::remove`]). Databases written before `inline` existed simply have none.
//!
//! All writes go through one thread ([`Writer`]) that runs whatever operations are queued in one
//! redb transaction and commits once, so N concurrent small requests share one commit fsync.

use super::StoreError;
use redb::{
    Database, Durability, Key, ReadableTable, Table, TableDefinition, Value, WriteTransaction,
};
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// Byte-string keys and values.
pub(super) type Bytes = &'static [u8];

pub(super) const BUCKETS: TableDefinition<Bytes, Bytes> = TableDefinition::new("buckets");
pub(super) const OBJECTS: TableDefinition<Bytes, Bytes> = TableDefinition::new("objects");
pub(super) const UPLOADS: TableDefinition<Bytes, Bytes> = TableDefinition::new("uploads");
pub(super) const UPLOAD_IDS: TableDefinition<Bytes, Bytes> = TableDefinition::new("upload_ids");
pub(super) const PARTS: TableDefinition<Bytes, Bytes> = TableDefinition::new("parts");
/// Every version of a key that is not its current object: see `super::versions`.
pub(super) const VERSIONS: TableDefinition<Bytes, Bytes> = TableDefinition::new("versions");
pub(super) const BLOBS: TableDefinition<u128, ()> = TableDefinition::new("blobs");
/// The content of small blobs, kept in the database instead of a file of their own, in pieces
/// ([`inline_pieces`]), keyed by (piece number, blob id).
pub(super) const INLINE: TableDefinition<(u8, u128), Bytes> = TableDefinition::new("inline");

/// redb stores each leaf in a page of 4 KiB times a power of two: one value of 16.1 KiB alone
/// takes 32 KiB. Inline content is therefore cut into pieces that each fill such a page (less
/// this allowance for the leaf's header, key and offsets), largest first, and a last piece of
/// less than a small page. Keyed by piece number first, the small last pieces of different
/// blobs share leaves (a blob's own pieces are never neighbours): a sealed 16 KiB file takes
/// one 16 KiB page and ~120 bytes of a shared one.
const INLINE_PAGE: usize = 4096;
const INLINE_LEAF_OVERHEAD: usize = 64;
/// Pieces of up to 16 pages: every inline blob has at most a handful.
const INLINE_MAX_ORDER: u32 = 4;

/// The lengths of the pieces `len` bytes of inline content are stored in (one empty piece for
/// no bytes: an inline blob always has a piece 0).
pub(super) fn inline_pieces(len: usize) -> Vec<usize> {
    let mut pieces = Vec::new();
    let mut left = len;
    loop {
        let piece = (0..=INLINE_MAX_ORDER)
            .rev()
            .map(|order| (INLINE_PAGE << order) - INLINE_LEAF_OVERHEAD)
            .find(|&fill| fill <= left)
            .unwrap_or(left);
        pieces.push(piece);
        left -= piece;
        if left == 0 {
            return pieces;
        }
    }
}

/// An inline blob's bytes, if it is one.
pub(super) fn read_inline(
    table: &impl ReadableTable<(u8, u128), Bytes>,
    id: u128,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut out: Option<Vec<u8>> = None;
    for piece in 0..=u8::MAX {
        let Some(v) = table.get((piece, id))? else {
            break;
        };
        out.get_or_insert_with(Vec::new)
            .extend_from_slice(v.value());
    }
    Ok(out)
}
/// Server-wide values by name (e.g. the wrapped SSE master keys).
pub(super) const SETTINGS: TableDefinition<Bytes, Bytes> = TableDefinition::new("settings");

/// At most this many operations share one transaction, so that one commit's latency (and the
/// damage of one failing operation, see [`Writer`]) stays bounded under a flood of requests.
const MAX_BATCH: usize = 512;

// ---- keys ----

/// `bucket 0x00`: the common prefix of a bucket's objects and uploads.
pub(super) fn bucket_base(bucket: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1);
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k
}

pub(super) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_base(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(super) fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// `upload_id 0x00`: the common prefix of an upload's parts.
pub(super) fn part_base(upload_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 5);
    k.extend_from_slice(upload_id.as_bytes());
    k.push(0);
    k
}

pub(super) fn part_key(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut k = part_base(upload_id);
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

/// `a ‖ b`.
pub(super) fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len());
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}

/// The smallest byte string greater than every string that starts with `prefix`: the last byte
/// below 0xFF incremented, everything after it dropped. `None` if there is none (all 0xFF, or
/// empty: the range is unbounded above).
pub(super) fn successor(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.last_mut() {
        if *last < 0xFF {
            *last += 1;
            return Some(prefix);
        }
        prefix.pop();
    }
    None
}

/// [`successor`] of a prefix that contains a 0x00 byte (every bucket-scoped or upload-scoped
/// key does), which therefore always has one.
pub(super) fn successor_scoped(prefix: Vec<u8>) -> Vec<u8> {
    successor(prefix).expect("a scoped key contains a 0x00 byte, so it has a successor")
}

// ---- records ----

pub(super) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Decodes a record; `what` names it in the error (a key, shown lossily).
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{:?}: {e}", String::from_utf8_lossy(what))))
}

/// Record-level reads, for read-only and write tables alike.
pub(super) trait JsonTable: ReadableTable<Bytes, Bytes> {
    fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            Some(v) => decode(v.value(), key).map(Some),
            None => Ok(None),
        }
    }

    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(key)?.is_some())
    }

    /// Whether any key starts with `prefix` (one seek, not a count).
    fn any_with_prefix(&self, prefix: &[u8]) -> Result<bool, StoreError> {
        let end = successor(prefix.to_vec());
        let mut range = match &end {
            Some(end) => self.range::<&[u8]>(prefix..end.as_slice())?,
            None => self.range::<&[u8]>(prefix..)?,
        };
        Ok(range.next().transpose()?.is_some())
    }
}

impl<T: ReadableTable<Bytes, Bytes>> JsonTable for T {}

// ---- the write side ----

/// A table of the batch's write transaction. Reads go through `Deref` (redb's `Table` needs
/// `&mut` for every mutation, which `Deref` does not give out); writes go through the methods
/// below, which record that the running operation has written something (see [`Writer`]).
pub(super) struct WTable<'t, K: Key + 'static, V: Value + 'static> {
    table: Table<'t, K, V>,
    dirty: &'t Cell<bool>,
    /// For the tables whose keys start with `bucket 0x00` and whose rows listings show
    /// (`objects`, `versions`): the buckets this batch writes, for [`Changes`].
    touched: Option<&'t RefCell<HashSet<Vec<u8>>>>,
}

impl<'t, K: Key + 'static, V: Value + 'static> Deref for WTable<'t, K, V> {
    type Target = Table<'t, K, V>;
    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl WTable<'_, Bytes, Bytes> {
    pub(super) fn put_json<T: Serialize>(
        &mut self,
        key: &[u8],
        record: &T,
    ) -> Result<(), StoreError> {
        // Encoded before the flag is set: an encoding failure has written nothing.
        let value = encode(record)?;
        self.put_raw(key, &value)
    }

    pub(super) fn put_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.dirty.set(true);
        self.touch(key);
        self.table.insert(key, value)?;
        Ok(())
    }

    /// Removes a key; whether it was there.
    pub(super) fn remove(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        self.dirty.set(true);
        self.touch(key);
        Ok(self.table.remove(key)?.is_some())
    }

    fn touch(&self, key: &[u8]) {
        if let Some(touched) = self.touched {
            let bucket = key.split(|&b| b == 0).next().unwrap_or_default();
            let mut touched = touched.borrow_mut();
            if !touched.contains(bucket) {
                touched.insert(bucket.to_vec());
            }
        }
    }
}

/// The blob index and the inline content, which change together.
pub(super) struct BlobTables<'t> {
    index: Table<'t, u128, ()>,
    inline: Table<'t, (u8, u128), Bytes>,
    dirty: &'t Cell<bool>,
}

impl BlobTables<'_> {
    /// Indexes a new blob; `inline` is its content when it has no file.
    pub(super) fn add(
        &mut self,
        id: super::BlobId,
        inline: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.dirty.set(true);
        self.index.insert(id.0, ())?;
        if let Some(bytes) = inline {
            self.put_inline(id, bytes)?;
        }
        Ok(())
    }

    fn put_inline(&mut self, id: super::BlobId, bytes: &[u8]) -> Result<(), StoreError> {
        let mut at = 0;
        for (i, len) in inline_pieces(bytes.len()).into_iter().enumerate() {
            let piece = u8::try_from(i)
                .map_err(|_| StoreError::Meta(format!("blob {id} is too large to be inline")))?;
            self.inline.insert((piece, id.0), &bytes[at..at + len])?;
            at += len;
        }
        Ok(())
    }

    /// Removes an inline blob's pieces; whether it had any.
    fn remove_inline(&mut self, id: super::BlobId) -> Result<bool, StoreError> {
        for piece in 0..=u8::MAX {
            if self.inline.remove((piece, id.0))?.is_none() {
                return Ok(piece > 0);
            }
        }
        Ok(true)
    }

    /// Drops a blob from the index, and its content if inline. Returns whether it has a file
    /// instead, which the caller unlinks after the commit.
    pub(super) fn remove(&mut self, id: super::BlobId) -> Result<bool, StoreError> {
        self.dirty.set(true);
        self.index.remove(id.0)?;
        Ok(!self.remove_inline(id)?)
    }

    /// Overwrites an inline blob's stored bytes, for tests that damage content.
    #[cfg(test)]
    pub(super) fn overwrite_inline(
        &mut self,
        id: super::BlobId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.dirty.set(true);
        self.remove_inline(id)?;
        self.put_inline(id, bytes)
    }
}

/// The tables of a batch's transaction, as an operation sees them.
pub(super) struct Tables<'t> {
    pub buckets: WTable<'t, Bytes, Bytes>,
    pub objects: WTable<'t, Bytes, Bytes>,
    pub uploads: WTable<'t, Bytes, Bytes>,
    pub upload_ids: WTable<'t, Bytes, Bytes>,
    pub parts: WTable<'t, Bytes, Bytes>,
    pub versions: WTable<'t, Bytes, Bytes>,
    pub blobs: BlobTables<'t>,
    pub settings: WTable<'t, Bytes, Bytes>,
}

impl<'t> Tables<'t> {
    fn open(
        txn: &'t WriteTransaction,
        dirty: &'t Cell<bool>,
        touched: &'t RefCell<HashSet<Vec<u8>>>,
    ) -> Result<Tables<'t>, StoreError> {
        fn open<'t, K: Key + 'static, V: Value + 'static>(
            txn: &'t WriteTransaction,
            def: TableDefinition<K, V>,
            dirty: &'t Cell<bool>,
            touched: Option<&'t RefCell<HashSet<Vec<u8>>>>,
        ) -> Result<WTable<'t, K, V>, StoreError> {
            Ok(WTable {
                table: txn.open_table(def)?,
                dirty,
                touched,
            })
        }
        // Opened once per batch, not per operation.
        Ok(Tables {
            buckets: open(txn, BUCKETS, dirty, None)?,
            objects: open(txn, OBJECTS, dirty, Some(touched))?,
            uploads: open(txn, UPLOADS, dirty, None)?,
            upload_ids: open(txn, UPLOAD_IDS, dirty, None)?,
            parts: open(txn, PARTS, dirty, None)?,
            versions: open(txn, VERSIONS, dirty, Some(touched))?,
            blobs: BlobTables {
                index: txn.open_table(BLOBS)?,
                inline: txn.open_table(INLINE)?,
                dirty,
            },
            settings: open(txn, SETTINGS, dirty, None)?,
        })
    }
}

/// Creates every table, so that read transactions can open them unconditionally.
pub(super) fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let dirty = Cell::new(false);
    drop(Tables::open(&txn, &dirty, &RefCell::default())?);
    txn.commit()?;
    Ok(())
}

/// How an operation submitted to the [`Writer`] ended.
pub(super) enum Outcome<T> {
    /// The operation's own result: `Ok` is committed; `Err` means nothing of it was committed.
    Done(Result<T, StoreError>),
    /// The operation succeeded but the commit failed: whether its writes are on disk is unknown
    /// (redb reports I/O errors of the commit, which may have reached the disk in part). Callers
    /// keep the blobs they published, and `Store::open` decides by the blob index.
    Uncertain(StoreError),
}

/// What the writer thread sends back.
enum Reply<T> {
    Outcome(Outcome<T>),
    /// The operation panicked; the caller re-raises the panic in its own thread.
    Panicked(Box<dyn Any + Send>),
}

/// The fate of a whole batch, told to each of its operations.
enum Fate<'a> {
    Committed,
    /// Nothing was committed (another operation failed half-way, or the transaction could not
    /// be started): the message says why.
    Aborted(&'a str),
    CommitFailed(&'a str),
}

/// A queued operation, type-erased.
trait Job: Send {
    /// Runs the operation against the batch's tables. `Err(message)` if it failed after writing
    /// something, so that the transaction must be thrown away.
    fn run(&mut self, tables: &mut Tables<'_>, dirty: &Cell<bool>) -> Result<(), String>;
    /// Reports to the caller once the batch's fate is known.
    fn deliver(self: Box<Self>, fate: &Fate<'_>);
}

struct TypedJob<T, F> {
    op: Option<F>,
    result: Option<Result<T, StoreError>>,
    panic: Option<Box<dyn Any + Send>>,
    reply: ReplyTo<T>,
}

/// Where a job's outcome goes: a blocked thread, or a task awaiting it.
enum ReplyTo<T> {
    Thread(mpsc::SyncSender<Reply<T>>),
    Task(tokio::sync::oneshot::Sender<Reply<T>>),
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&mut Tables<'_>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, tables: &mut Tables<'_>, dirty: &Cell<bool>) -> Result<(), String> {
        let op = self.op.take().expect("a job runs once");
        dirty.set(false);
        // A panic (in a caller's closure, typically) must neither kill the writer thread nor
        // leave a half-applied operation in the shared transaction.
        match panic::catch_unwind(AssertUnwindSafe(|| op(tables))) {
            Ok(result) => {
                let failed_dirty = match &result {
                    Err(e) if dirty.get() => Some(e.to_string()),
                    _ => None,
                };
                self.result = Some(result);
                failed_dirty.map_or(Ok(()), Err)
            }
            Err(payload) => {
                self.panic = Some(payload);
                if dirty.get() {
                    Err("an operation panicked".to_owned())
                } else {
                    Ok(())
                }
            }
        }
    }

    fn deliver(self: Box<Self>, fate: &Fate<'_>) {
        let reply = match (self.panic, self.result, fate) {
            (Some(payload), _, _) => Reply::Panicked(payload),
            // A failed operation wrote nothing (or its batch was thrown away): its error stands
            // whatever happened to the batch.
            (None, Some(Err(e)), _) => Reply::Outcome(Outcome::Done(Err(e))),
            (None, Some(Ok(v)), Fate::Committed) => Reply::Outcome(Outcome::Done(Ok(v))),
            (None, _, Fate::Aborted(why)) => Reply::Outcome(Outcome::Done(Err(StoreError::Meta(
                format!("transaction aborted: {why}"),
            )))),
            (None, _, Fate::CommitFailed(why)) => Reply::Outcome(Outcome::Uncertain(
                StoreError::Meta(format!("commit failed: {why}")),
            )),
            (None, None, Fate::Committed) => unreachable!("a committed job has run"),
        };
        // The caller may have gone away (a task dropped while it waited: the outcome stands, it
        // is simply not told; a blocked thread cannot go). Never panic here.
        match self.reply {
            ReplyTo::Thread(to) => {
                let _ = to.send(reply);
            }
            ReplyTo::Task(to) => {
                let _ = to.send(reply);
            }
        }
    }
}

/// A count of committed writes per bucket (rows of `objects` or `versions`), behind the
/// listing token ([`Changes::token`]): two equal tokens of a bucket mean that no listing of it
/// can differ between them. In memory only; a random epoch per opening keeps the tokens of
/// different runs apart.
#[derive(Debug)]
pub(super) struct Changes {
    epoch: u64,
    counts: Mutex<HashMap<Vec<u8>, u64>>,
}

impl Changes {
    fn new() -> Self {
        Changes {
            epoch: rand::random(),
            counts: Mutex::default(),
        }
    }

    fn bump(&self, buckets: HashSet<Vec<u8>>) {
        if buckets.is_empty() {
            return;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for bucket in buckets {
            *counts.entry(bucket).or_default() += 1;
        }
    }

    /// The bucket's token now. Taken before a listing's read transaction begins: a write that
    /// commits after the token was taken moves the next one (the count goes up after the
    /// commit, before the writer is answered), so a listing never looks newer than its token.
    pub(super) fn token(&self, bucket: &str) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.get(bucket.as_bytes()).copied().unwrap_or(0);
        format!("{:016x}-{count}", self.epoch)
    }
}

/// The group-commit writer: one thread owning all write transactions.
///
/// Each operation must do its checks (reads) before its first write, and fail only before it:
/// then an operation that returns an error has written nothing and the others in its batch
/// commit normally. Writes are tracked ([`WTable`]); an operation that fails (or panics) after
/// writing — only a storage error can do that — aborts the whole transaction: every operation
/// that ran in it gets an error, nothing is committed, and the operations queued behind it go
/// into the next batch. (redb savepoints cannot help here: they require a transaction with no
/// table opened yet.)
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WriterStats>,
    pub(super) changes: Arc<Changes>,
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Default)]
pub(super) struct WriterStats {
    pub commits: AtomicU64,
    pub operations: AtomicU64,
}

impl Writer {
    pub(super) fn start(db: Arc<Database>) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let changes = Arc::new(Changes::new());
        let thread_changes = changes.clone();
        let thread = std::thread::Builder::new()
            .name("ossvault-store-writer".to_owned())
            .spawn(move || writer_loop(&db, &jobs, &thread_stats, &thread_changes))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
            stats,
            changes,
        })
    }

    /// Runs `op` in the next batch and waits for the batch's commit (blocking).
    pub(super) fn run<T, F>(&self, op: F) -> Outcome<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        if !self.submit(op, ReplyTo::Thread(reply)) {
            return stopped();
        }
        received(answer.recv().ok())
    }

    /// [`Writer::run`] for async code: the task waits for the commit without holding a
    /// thread. (Dropping the future does not withdraw the operation.)
    pub(super) async fn run_async<T, F>(&self, op: F) -> Outcome<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if !self.submit(op, ReplyTo::Task(reply)) {
            return stopped();
        }
        received(answer.await.ok())
    }

    /// Queues a job; false if the writer has stopped.
    fn submit<T, F>(&self, op: F, reply: ReplyTo<T>) -> bool
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let job = Box::new(TypedJob {
            op: Some(op),
            result: None,
            panic: None,
            reply,
        });
        let queue = self
            .queue
            .as_ref()
            .expect("the queue lives as long as the writer");
        queue.send(job).is_ok()
    }

    #[cfg(test)]
    pub(super) fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

fn stopped<T>() -> Outcome<T> {
    Outcome::Done(Err(StoreError::Meta(
        "the metadata writer has stopped".into(),
    )))
}

/// The caller's side of a job's reply (`None`: the writer dropped the job unanswered).
fn received<T>(reply: Option<Reply<T>>) -> Outcome<T> {
    match reply {
        Some(Reply::Outcome(outcome)) => outcome,
        Some(Reply::Panicked(payload)) => panic::resume_unwind(payload),
        // The writer died with our job (a panic inside redb's commit): outcome unknown.
        None => Outcome::Uncertain(StoreError::Meta("the metadata writer has stopped".into())),
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread, which finishes the batch in flight, so that
    /// the database is closed (its file lock released) when the `Store` is gone.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn writer_loop(
    db: &Database,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    stats: &WriterStats,
    changes: &Changes,
) {
    let mut pending: VecDeque<Box<dyn Job>> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match jobs.recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => return, // every Store handle is gone
            }
        }
        // Whatever arrived while the previous commit was fsyncing rides along: that is the
        // whole group-commit mechanism, no timers needed.
        while pending.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        run_batch(db, &mut pending, stats, changes);
    }
}

/// Runs the queued operations in one transaction and commits once. Leaves in `pending` only
/// the operations it did not get to (after an aborting failure).
fn run_batch(
    db: &Database,
    pending: &mut VecDeque<Box<dyn Job>>,
    stats: &WriterStats,
    changes: &Changes,
) {
    let fail_all = |pending: &mut VecDeque<Box<dyn Job>>, why: &str| {
        for job in pending.drain(..) {
            job.deliver(&Fate::Aborted(why));
        }
    };
    let mut txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return fail_all(pending, &e.to_string()),
    };
    txn.set_durability(Durability::Immediate);
    let dirty = Cell::new(false);
    let touched = RefCell::default();
    let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(pending.len());
    let mut abort: Option<String> = None;
    {
        let mut tables = match Tables::open(&txn, &dirty, &touched) {
            Ok(tables) => tables,
            Err(e) => return fail_all(pending, &e.to_string()),
        };
        while let Some(mut job) = pending.pop_front() {
            let run = job.run(&mut tables, &dirty);
            ran.push(job);
            if let Err(why) = run {
                abort = Some(why);
                break;
            }
        }
    }
    stats
        .operations
        .fetch_add(ran.len() as u64, Ordering::Relaxed);
    if let Some(why) = abort {
        tracing::error!(error = %why, "metadata operation failed after writing; batch aborted");
        if let Err(e) = txn.abort() {
            tracing::error!(error = %e, "aborting the metadata transaction failed");
        }
        for job in ran {
            job.deliver(&Fate::Aborted(&why));
        }
        return;
    }
    // Failpoints: an error injected before the commit leaves nothing committed (as a failed
    // operation does); one injected after it is a failed commit whose writes did reach the
    // disk (the uncertain outcome).
    #[cfg(feature = "failpoints")]
    if let Some(e) = crate::failpoints::eval(crate::failpoints::Failpoint::MetaBeforeCommit) {
        let why = e.to_string();
        if let Err(e) = txn.abort() {
            tracing::error!(error = %e, "aborting the metadata transaction failed");
        }
        for job in ran {
            job.deliver(&Fate::Aborted(&why));
        }
        return;
    }
    let committed = txn.commit().map_err(|e| e.to_string());
    // Before anyone is answered, and also after a failed commit (its writes may have reached
    // the disk): listings taken from now on carry a new token.
    changes.bump(touched.take());
    #[cfg(feature = "failpoints")]
    let committed = committed.and_then(|()| {
        match crate::failpoints::eval(crate::failpoints::Failpoint::MetaAfterCommit) {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    });
    match committed {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            for job in ran {
                job.deliver(&Fate::Committed);
            }
        }
        Err(why) => {
            tracing::error!(error = %why, "metadata commit failed");
            for job in ran {
                job.deliver(&Fate::CommitFailed(&why));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_pieces_fill_pages_and_cover_the_bytes() {
        assert_eq!(inline_pieces(0), [0]);
        assert_eq!(inline_pieces(100), [100]);
        // A sealed 16 KiB file: one 16 KiB page and a small tail.
        assert_eq!(inline_pieces(16_432), [16_320, 112]);
        assert_eq!(inline_pieces(4_032), [4_032]);
        assert_eq!(inline_pieces(4_033), [4_032, 1]);
        for len in [1, 4_031, 8_127, 8_128, 65_536, 65_600, 300_000] {
            let pieces = inline_pieces(len);
            assert_eq!(pieces.iter().sum::<usize>(), len);
            // Every piece fills its page, but a last one of less than a small page.
            let fills = |piece: usize| {
                let stored = piece + INLINE_LEAF_OVERHEAD;
                stored.is_multiple_of(INLINE_PAGE) && (stored / INLINE_PAGE).is_power_of_two()
            };
            let (last, full) = pieces.split_last().unwrap();
            assert!(full.iter().all(|&p| fills(p)), "{len}: {pieces:?}");
            assert!(fills(*last) || *last < INLINE_PAGE - INLINE_LEAF_OVERHEAD);
        }
    }

    #[test]
    fn successor_of_prefixes() {
        assert_eq!(successor(b"abc".to_vec()), Some(b"abd".to_vec()));
        assert_eq!(successor(b"ab\xff".to_vec()), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff\xff".to_vec()), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff".to_vec()), None);
        assert_eq!(successor(Vec::new()), None);
        assert_eq!(successor(b"b\x00".to_vec()), Some(b"b\x01".to_vec()));
        // Every extension of the prefix sorts below the successor, the successor itself not.
        let p = b"a/\xff".to_vec();
        let s = successor(p.clone()).unwrap();
        for ext in [&b""[..], b"\x00", b"\xff\xff\xff", b"zzz"] {
            assert!(concat(&p, ext) < s);
        }
        assert!(!s.starts_with(&p));
    }

    #[test]
    fn composite_keys_sort_by_parts() {
        assert!(object_key("b", "a") < object_key("b", "a/"));
        assert!(object_key("b", "zzz") < object_key("b-", ""));
        assert!(object_key("b", "\u{10FFFF}") < successor_scoped(bucket_base("b")));
        assert!(part_key("u", 2) < part_key("u", 10));
        assert!(part_key("u", u32::MAX) < successor_scoped(part_base("u")));
        assert!(upload_key("b", "k", "1") < upload_key("b", "k", "2"));
        assert!(upload_key("b", "k", "zz") < upload_key("b", "k0", "0"));
    }
}

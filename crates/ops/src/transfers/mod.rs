//! The transfer queue of the desktop app and of `ossvault transfers`: uploads and downloads
//! that outlive the process.
//!
//! A [`TransferQueue`] runs its transfers first in, first out, `files_at_once` at a time (the
//! parts of one file in parallel through the client's own options). Each transfer is a small
//! JSON file under the queue's `state_dir` (`queue/<id>.json`, 0600 in a 0700 directory),
//! replaced durably whenever its state changes; its checkpoints live in
//! `checkpoints/<id>/`. After a crash or a kill, [`TransferQueue::open`] brings back every
//! unfinished transfer and runs it again: an upload continues from the parts its checkpoint
//! records (client-side encrypted ones too: the checkpoint keeps the wrapped content key), a
//! download from the ranges already written.
//!
//! Pause stops a transfer and keeps its checkpoint; cancel aborts its multipart upload on the
//! server and removes its temp files. Downloads are written to a temp file in the destination
//! folder and moved to their name only once complete, never over an existing file (`name (1).ext`
//! instead); keys that would leave the folder are refused. Progress, smoothed speed and ETA go
//! out on a broadcast channel at most every `progress_interval` per transfer.

mod meter;
mod run;
mod store;

use crate::copy::{as_directory, walk, KeystoreOpener};
use crate::error::{Error, Result};
use crate::location::{key_file_name, key_for_relative, safe_relative_path};
use crate::sse::ObjectSse;
use futures_util::TryStreamExt;
use meter::Meter;
use ossvault_client::transfer::{CancellationToken, RateLimiter};
use ossvault_client::{Client, ListRequest};
use ossvault_crypto::Format;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::DropGuard;

pub use store::{default_state_dir, stored_transfers, ENV_TRANSFERS_DIR};

/// A transfer's number in its queue: stable across restarts, increasing in the order of
/// arrival.
pub type TransferId = u64;

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Upload,
    Download,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TransferState {
    /// Waiting for a free slot.
    Queued,
    /// Moving bytes (stored as queued: a restart runs it again).
    Running,
    /// Stopped by the user; its checkpoint is kept, [`TransferQueue::resume`] continues it.
    Paused,
    Completed,
    /// Stopped for good: its multipart upload aborted, its temp files removed.
    Cancelled,
    /// What went wrong: the OSS code (or this crate's, see [`Error::code`]) and request id.
    Failed {
        code: String,
        message: String,
        request_id: Option<String>,
    },
}

impl TransferState {
    /// Completed, cancelled or failed: nothing runs it any more (until a retry).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            TransferState::Completed | TransferState::Cancelled | TransferState::Failed { .. }
        )
    }

    /// Queued or running.
    pub fn is_active(&self) -> bool {
        matches!(self, TransferState::Queued | TransferState::Running)
    }

    /// The failed state that `error` describes.
    pub fn failed(error: &Error) -> TransferState {
        TransferState::Failed {
            code: error.code().to_owned(),
            message: error.to_string(),
            request_id: error.request_id().map(str::to_owned),
        }
    }
}

/// Client-side encryption of an upload: the master key by name (resolved when the upload
/// starts, so no secret is ever stored with the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSideEncryption {
    /// A keystore key's name, or `kms:CMK_ID` (as `cp --encrypt` takes it).
    pub key: String,
    #[serde(with = "format_name")]
    pub format: Format,
    /// Compat format: the material description to record.
    #[serde(default)]
    pub matdesc: Vec<(String, String)>,
}

mod format_name {
    use ossvault_crypto::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One transfer as the queue knows it (also what is stored, minus the live figures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferInfo {
    pub id: TransferId,
    /// The id of the first transfer of the same request (a folder is one request).
    pub batch: TransferId,
    pub direction: Direction,
    /// The connection (profile) name the transfer runs on.
    pub connection: String,
    pub bucket: String,
    pub key: String,
    /// Upload: the file sent. Download: where the file goes; once completed, where it went
    /// (`name (1).ext` when the name was taken).
    pub local: PathBuf,
    /// Download: the folder the file is confined to.
    pub folder: Option<PathBuf>,
    /// Upload: its client-side encryption. (Downloads decrypt whatever they find.)
    pub encryption: Option<ClientSideEncryption>,
    /// Upload: the server-side encryption asked for, instead of the bucket's default.
    #[serde(default)]
    pub server_side: Option<ObjectSse>,
    pub state: TransferState,
    /// Bytes done (last known while stopped).
    pub done: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
    /// Smoothed speed while running, else 0.
    #[serde(default)]
    pub bytes_per_sec: u64,
    /// Seconds left at that speed, while running.
    #[serde(default)]
    pub eta_secs: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub finished_ms: Option<u64>,
    /// Parts (uploads) a resume found already sent, and parts sent by the last run.
    #[serde(default)]
    pub parts_resumed: u32,
    #[serde(default)]
    pub parts_sent: u32,
}

/// Upload a file, or every file of a folder.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub connection: String,
    /// A file or a folder.
    pub source: PathBuf,
    pub bucket: String,
    /// The object key for a file (a key ending in `/`, or empty, gets the file's name added);
    /// the prefix for a folder.
    pub key: String,
    pub encryption: Option<ClientSideEncryption>,
    /// Server-side encryption instead of the bucket's default.
    pub server_side: Option<ObjectSse>,
}

/// Download an object, or every object under a prefix, into a folder.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    pub connection: String,
    pub bucket: String,
    /// The object's key, or with `recursive` the prefix (`photos` means `photos/`).
    pub key: String,
    /// The folder to write into (created if missing); objects under a prefix keep their
    /// relative paths.
    pub folder: PathBuf,
    pub recursive: bool,
}

/// What the queue tells its listeners.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TransferEvent {
    Added {
        transfer: TransferInfo,
    },
    /// The state (or the final figures) changed.
    Changed {
        transfer: TransferInfo,
    },
    /// A running transfer advanced (at most once per `progress_interval`).
    Progress {
        id: TransferId,
        done: u64,
        total: Option<u64>,
        bytes_per_sec: u64,
        eta_secs: Option<u64>,
    },
    Removed {
        id: TransferId,
    },
}

/// A client for a connection (profile) name: `ossvault_ops::connection::client` with the
/// profile named, in the CLI and the app.
pub type ClientSource = Arc<dyn Fn(&str) -> Result<Client> + Send + Sync>;

/// How a queue runs.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Where the queue and its checkpoints are kept ([`default_state_dir`] for the app and the
    /// CLI).
    pub state_dir: PathBuf,
    /// Files moving at once.
    pub files_at_once: usize,
    /// Parts (uploads) or ranges (downloads) in flight for one file.
    pub parts_per_file: usize,
    /// Part size of multipart uploads and ranged downloads (`None`: the client's adaptive
    /// choice, see `ossvault_ops::copy`).
    pub part_size: Option<u64>,
    /// Files this big or bigger go in parts (`None`: the client's defaults).
    pub multipart_threshold: Option<u64>,
    /// Progress events of one transfer come at most this often.
    pub progress_interval: Duration,
    /// Run queued transfers (`false`: the queue only answers and tidies, e.g. to clear it).
    pub start: bool,
    /// Bytes per second all uploads together may send (`None`: unlimited).
    pub upload_limit: Option<u64>,
    /// Bytes per second all downloads together may receive (`None`: unlimited).
    pub download_limit: Option<u64>,
}

impl QueueSettings {
    pub fn new(state_dir: impl Into<PathBuf>) -> QueueSettings {
        QueueSettings {
            state_dir: state_dir.into(),
            files_at_once: 3,
            parts_per_file: 4,
            part_size: None,
            multipart_threshold: None,
            progress_interval: Duration::from_millis(250),
            start: true,
            upload_limit: None,
            download_limit: None,
        }
    }
}

/// The persistent upload and download queue. Cheap to clone; dropping the last clone stops
/// the running transfers as [`TransferQueue::shutdown`] does (they run again at the next
/// [`TransferQueue::open`]).
#[derive(Clone)]
pub struct TransferQueue {
    inner: Arc<Inner>,
    _stop_on_drop: Arc<DropGuard>,
}

/// Why a running transfer is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Pause,
    Cancel,
}

struct Running {
    cancel: CancellationToken,
    stop: Option<Stop>,
    /// Bytes done and in all, as the transfer reports them (0 in all: unknown yet).
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    meter: Meter,
}

struct Entry {
    info: TransferInfo,
    run: Option<Running>,
}

#[derive(Default)]
struct Table {
    entries: BTreeMap<TransferId, Entry>,
    /// The queued ids, in order (the next to start is the first).
    queued: BTreeSet<TransferId>,
    running: usize,
    next_id: TransferId,
}

impl Table {
    fn set_state(&mut self, id: TransferId, state: TransferState) {
        if let Some(entry) = self.entries.get_mut(&id) {
            if state == TransferState::Queued {
                self.queued.insert(id);
            } else {
                self.queued.remove(&id);
            }
            if state.is_finished() {
                entry.info.finished_ms = Some(now_ms());
            } else {
                entry.info.finished_ms = None;
            }
            if state != TransferState::Running {
                entry.info.bytes_per_sec = 0;
                entry.info.eta_secs = None;
            }
            entry.info.state = state;
        }
    }
}

struct Inner {
    settings: QueueSettings,
    clients: ClientSource,
    client_cache: Mutex<HashMap<String, Client>>,
    keystore: KeystoreOpener,
    table: Mutex<Table>,
    events: broadcast::Sender<TransferEvent>,
    /// Bumped on every change of state, for the calls that wait for one.
    changes: watch::Sender<u64>,
    /// Serialises the writes of the queue's files (each writes the latest state).
    disk: tokio::sync::Mutex<()>,
    /// Cancelled by shutdown (or the last handle's drop): transfers stop, states stay.
    closing: CancellationToken,
    /// Held while the queue is open: one process runs a queue at a time.
    lock: Mutex<Option<std::fs::File>>,
    /// Files moving at once (from the settings, changed by `set_files_at_once`).
    files_at_once: AtomicUsize,
    /// Pace all uploads together, and all downloads (changed by `set_bandwidth_limits`).
    pub(super) upload_limiter: Arc<RateLimiter>,
    pub(super) download_limiter: Arc<RateLimiter>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl TransferQueue {
    /// Opens the queue in `settings.state_dir` (created owner-only if missing) and starts its
    /// unfinished transfers. Call from within a Tokio runtime. Fails if another process has
    /// the queue open.
    pub fn open(
        settings: QueueSettings,
        clients: ClientSource,
        keystore: KeystoreOpener,
    ) -> Result<TransferQueue> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::InvalidInput(
                "the transfer queue needs a Tokio runtime".into(),
            ));
        }
        let dir = &settings.state_dir;
        store::prepare(dir)?;
        let lock = store::lock(dir)?;
        let mut table = Table::default();
        for mut info in store::load(dir)? {
            if info.state == TransferState::Running {
                info.state = TransferState::Queued;
            }
            table.next_id = table.next_id.max(info.id + 1);
            if info.state == TransferState::Queued {
                table.queued.insert(info.id);
            }
            table.entries.insert(info.id, Entry { info, run: None });
        }
        table.next_id = table.next_id.max(1);
        store::sweep_checkpoints(dir, |id| {
            table.entries.get(&id).is_some_and(|e| {
                !matches!(
                    e.info.state,
                    TransferState::Completed | TransferState::Cancelled
                )
            })
        });
        let closing = CancellationToken::new();
        let files_at_once = settings.files_at_once;
        let upload_limiter = Arc::new(RateLimiter::new(settings.upload_limit));
        let download_limiter = Arc::new(RateLimiter::new(settings.download_limit));
        let inner = Arc::new(Inner {
            settings,
            clients,
            client_cache: Mutex::new(HashMap::new()),
            keystore,
            table: Mutex::new(table),
            events: broadcast::channel(1024).0,
            changes: watch::channel(0).0,
            disk: tokio::sync::Mutex::new(()),
            closing: closing.clone(),
            lock: Mutex::new(Some(lock)),
            files_at_once: AtomicUsize::new(files_at_once),
            upload_limiter,
            download_limiter,
        });
        tokio::spawn(tick(Arc::downgrade(&inner)));
        inner.pump();
        Ok(TransferQueue {
            inner,
            _stop_on_drop: Arc::new(closing.drop_guard()),
        })
    }

    /// The queue's events. A receiver that falls behind loses the oldest (`Lagged`): call
    /// [`TransferQueue::list`] then.
    pub fn subscribe(&self) -> broadcast::Receiver<TransferEvent> {
        self.inner.events.subscribe()
    }

    /// Every transfer, oldest first.
    pub fn list(&self) -> Vec<TransferInfo> {
        let table = self.inner.table();
        table.entries.values().map(|e| e.info.clone()).collect()
    }

    pub fn get(&self, id: TransferId) -> Option<TransferInfo> {
        self.inner.table().entries.get(&id).map(|e| e.info.clone())
    }

    /// Queues the upload of a file, or of every regular file under a folder (one transfer
    /// each; entries that cannot be read are added as failed). Returns the new ids.
    pub async fn upload(&self, request: UploadRequest) -> Result<Vec<TransferId>> {
        check_bucket(&request.bucket)?;
        let source = request.source.clone();
        let meta = std::fs::metadata(&source).map_err(Error::io(&source))?;
        let template = |local: PathBuf, key: String, total: Option<u64>, state| TransferInfo {
            id: 0,
            batch: 0,
            direction: Direction::Upload,
            connection: request.connection.clone(),
            bucket: request.bucket.clone(),
            key,
            local,
            folder: None,
            encryption: request.encryption.clone(),
            server_side: request.server_side.clone(),
            state,
            done: 0,
            total,
            bytes_per_sec: 0,
            eta_secs: None,
            created_ms: now_ms(),
            finished_ms: None,
            parts_resumed: 0,
            parts_sent: 0,
        };
        if !meta.is_dir() {
            let mut key = request.key.clone();
            if key.is_empty() || key.ends_with('/') {
                let name = source.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    Error::InvalidInput(format!("{} has no UTF-8 file name", source.display()))
                })?;
                key.push_str(name);
            }
            let info = template(source, key, Some(meta.len()), TransferState::Queued);
            return self.inner.add(vec![info]).await;
        }
        let root = source.clone();
        let walked = tokio::task::spawn_blocking(move || {
            let mut failed = Vec::new();
            let files = walk(
                &root,
                &mut |source, error| failed.push((source, error)),
                &mut |source, reason| tracing::info!(%source, %reason, "not uploaded"),
            );
            (files, failed)
        })
        .await
        .map_err(|e| Error::io(&source)(std::io::Error::other(e)))?;
        let (files, failed) = walked;
        let prefix = as_directory(&request.key);
        let mut infos = Vec::new();
        for (path, error) in failed {
            let state = TransferState::failed(&error);
            infos.push(template(PathBuf::from(path), prefix.clone(), None, state));
        }
        for file in files {
            let (key, state) = match key_for_relative(&prefix, &file.rel) {
                Ok(key) => (key, TransferState::Queued),
                Err(e) => (
                    prefix.clone(),
                    TransferState::failed(&Error::InvalidInput(e)),
                ),
            };
            infos.push(template(file.path, key, Some(file.size), state));
        }
        self.inner.add(infos).await
    }

    /// Queues each path into the folder `prefix` of `bucket` keeping its name, as a file
    /// manager drops files: a file becomes `prefix + name`, a folder `prefix + name/…` with
    /// everything in it. Returns the new ids of all of them.
    pub async fn upload_into(
        &self,
        connection: &str,
        bucket: &str,
        prefix: &str,
        paths: Vec<PathBuf>,
        encryption: Option<ClientSideEncryption>,
        server_side: Option<ObjectSse>,
    ) -> Result<Vec<TransferId>> {
        if !(prefix.is_empty() || prefix.ends_with('/')) {
            return Err(Error::InvalidInput(format!(
                "the destination is a folder ending in '/': {prefix:?}"
            )));
        }
        if paths.is_empty() {
            return Err(Error::InvalidInput("nothing to upload".into()));
        }
        let mut ids = Vec::new();
        for source in paths {
            let key = if source.is_dir() {
                let name = source.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    Error::InvalidInput(format!("{} has no UTF-8 name", source.display()))
                })?;
                format!("{prefix}{name}/")
            } else {
                prefix.to_owned()
            };
            ids.extend(
                self.upload(UploadRequest {
                    connection: connection.to_owned(),
                    source,
                    bucket: bucket.to_owned(),
                    key,
                    encryption: encryption.clone(),
                    server_side: server_side.clone(),
                })
                .await?,
            );
        }
        Ok(ids)
    }

    /// Queues the download of each key into `folder`, as a file manager copies: an object
    /// becomes `folder/name`, a folder (a key with a trailing `/`) `folder/name/…` with
    /// everything under it. Returns the new ids of all of them.
    pub async fn download_into(
        &self,
        connection: &str,
        bucket: &str,
        keys: Vec<String>,
        folder: &Path,
    ) -> Result<Vec<TransferId>> {
        if keys.is_empty() {
            return Err(Error::InvalidInput("nothing to download".into()));
        }
        let mut ids = Vec::new();
        for key in keys {
            let (recursive, folder) = match key.strip_suffix('/') {
                Some(dir) => (
                    true,
                    folder.join(key_file_name(dir).map_err(Error::UnsafeKey)?),
                ),
                None => (false, folder.to_owned()),
            };
            ids.extend(
                self.download(DownloadRequest {
                    connection: connection.to_owned(),
                    bucket: bucket.to_owned(),
                    key,
                    folder,
                    recursive,
                })
                .await?,
            );
        }
        Ok(ids)
    }

    /// Queues the download of an object, or of every object under a prefix (one transfer
    /// each, added page by page as the listing comes; keys that would leave the folder are
    /// added as failed with code `UnsafeKey`). Returns the new ids.
    pub async fn download(&self, request: DownloadRequest) -> Result<Vec<TransferId>> {
        check_bucket(&request.bucket)?;
        let template = |key: String, local: PathBuf, total: Option<u64>, state| TransferInfo {
            id: 0,
            batch: 0,
            direction: Direction::Download,
            connection: request.connection.clone(),
            bucket: request.bucket.clone(),
            key,
            local,
            folder: Some(request.folder.clone()),
            encryption: None,
            server_side: None,
            state,
            done: 0,
            total,
            bytes_per_sec: 0,
            eta_secs: None,
            created_ms: now_ms(),
            finished_ms: None,
            parts_resumed: 0,
            parts_sent: 0,
        };
        if !request.recursive {
            let name = key_file_name(&request.key).map_err(Error::UnsafeKey)?;
            let local = request.folder.join(name);
            let info = template(request.key.clone(), local, None, TransferState::Queued);
            return self.inner.add(vec![info]).await;
        }
        let client = self.inner.client(&request.connection)?;
        let prefix = as_directory(&request.key);
        let listing = ListRequest {
            prefix: prefix.clone(),
            ..Default::default()
        };
        let mut pages = std::pin::pin!(client.list_pages(&request.bucket, listing));
        let mut ids = Vec::new();
        while let Some(page) = pages.try_next().await? {
            let mut infos = Vec::new();
            for object in page.objects {
                let rel = object
                    .key
                    .strip_prefix(prefix.as_str())
                    .unwrap_or(&object.key);
                if rel.is_empty() || object.key.ends_with('/') {
                    continue; // "directory" markers: folders are made for the files in them
                }
                let info = match safe_relative_path(rel) {
                    Ok(path) => template(
                        object.key.clone(),
                        request.folder.join(path),
                        Some(object.size),
                        TransferState::Queued,
                    ),
                    Err(e) => {
                        let error = Error::UnsafeKey(format!(
                            "refused: {e}; it would not stay inside {}",
                            request.folder.display()
                        ));
                        template(
                            object.key.clone(),
                            request.folder.clone(),
                            Some(object.size),
                            TransferState::failed(&error),
                        )
                    }
                };
                infos.push(info);
            }
            ids.extend(self.inner.add(infos).await?);
        }
        Ok(ids)
    }

    /// Pauses a transfer: a queued one is held back, a running one stops (returns once it
    /// has) and keeps its checkpoint.
    pub async fn pause(&self, id: TransferId) -> Result<()> {
        let running = {
            let mut table = self.inner.table();
            let entry = table.entries.get_mut(&id).ok_or_else(|| no_such(id))?;
            match &entry.info.state {
                TransferState::Queued => {
                    table.set_state(id, TransferState::Paused);
                    false
                }
                TransferState::Running => {
                    if let Some(run) = entry.run.as_mut() {
                        run.stop.get_or_insert(Stop::Pause);
                        run.cancel.cancel();
                    }
                    true
                }
                TransferState::Paused => return Ok(()),
                other => return Err(not_now(id, "paused", other)),
            }
        };
        if running {
            self.inner.until_stopped(id).await;
        } else {
            self.inner.changed(id).await;
        }
        Ok(())
    }

    /// Queues a paused transfer again; it continues from its checkpoint.
    pub async fn resume(&self, id: TransferId) -> Result<()> {
        self.requeue(id, |s| matches!(s, TransferState::Paused), "resumed")
            .await
    }

    /// Queues a failed or cancelled transfer again (a failed one continues from its
    /// checkpoint, a cancelled one starts over).
    pub async fn retry(&self, id: TransferId) -> Result<()> {
        self.requeue(
            id,
            |s| matches!(s, TransferState::Failed { .. } | TransferState::Cancelled),
            "retried",
        )
        .await
    }

    async fn requeue(
        &self,
        id: TransferId,
        allowed: impl Fn(&TransferState) -> bool,
        verb: &str,
    ) -> Result<()> {
        {
            let mut table = self.inner.table();
            let entry = table.entries.get(&id).ok_or_else(|| no_such(id))?;
            if entry.info.state.is_active() {
                return Ok(());
            }
            if !allowed(&entry.info.state) {
                return Err(not_now(id, verb, &entry.info.state));
            }
            table.set_state(id, TransferState::Queued);
        }
        self.inner.changed(id).await;
        self.inner.pump();
        Ok(())
    }

    /// Cancels a transfer: a running one stops; its multipart upload is aborted and its
    /// checkpoint and temp files removed (returns once done).
    pub async fn cancel(&self, id: TransferId) -> Result<()> {
        let info = {
            let mut table = self.inner.table();
            let entry = table.entries.get_mut(&id).ok_or_else(|| no_such(id))?;
            match &entry.info.state {
                TransferState::Running => {
                    if let Some(run) = entry.run.as_mut() {
                        run.stop = Some(Stop::Cancel);
                        run.cancel.cancel();
                    }
                    None
                }
                TransferState::Cancelled => return Ok(()),
                TransferState::Completed => {
                    return Err(not_now(id, "cancelled", &entry.info.state))
                }
                _ => {
                    let info = entry.info.clone();
                    // Out of the queue before the clean-up, so that nothing starts it.
                    table.queued.remove(&id);
                    Some(info)
                }
            }
        };
        match info {
            None => self.inner.until_stopped(id).await,
            Some(info) => {
                run::discard(&self.inner, &info).await;
                self.inner.table().set_state(id, TransferState::Cancelled);
                self.inner.changed(id).await;
            }
        }
        Ok(())
    }

    /// Removes the finished transfers (completed, cancelled, failed: a failed one's upload is
    /// aborted and its temp files removed first). Returns how many went.
    pub async fn clear_finished(&self) -> Result<usize> {
        let finished: Vec<TransferInfo> = self
            .inner
            .table()
            .entries
            .values()
            .filter(|e| e.info.state.is_finished())
            .map(|e| e.info.clone())
            .collect();
        for info in &finished {
            if matches!(info.state, TransferState::Failed { .. }) {
                run::discard(&self.inner, info).await;
            }
            self.inner.table().entries.remove(&info.id);
            self.inner.forget(info.id).await?;
        }
        Ok(finished.len())
    }

    /// Changes how many files move at once (at least 1). More start at once; when fewer, the
    /// running ones finish and no new one starts until below the new number.
    pub fn set_files_at_once(&self, n: usize) {
        self.inner.files_at_once.store(n.max(1), Ordering::Relaxed);
        self.inner.pump();
    }

    /// How many files move at once.
    pub fn files_at_once(&self) -> usize {
        self.inner.files_at_once.load(Ordering::Relaxed)
    }

    /// Limits the bytes per second of all uploads together and of all downloads together
    /// (`None`: unlimited); the transfers in flight slow down or speed up at once.
    pub fn set_bandwidth_limits(&self, upload: Option<u64>, download: Option<u64>) {
        self.inner.upload_limiter.set_rate(upload);
        self.inner.download_limiter.set_rate(download);
    }

    /// The limits in force, `(upload, download)` in bytes per second.
    pub fn bandwidth_limits(&self) -> (Option<u64>, Option<u64>) {
        (
            self.inner.upload_limiter.rate(),
            self.inner.download_limiter.rate(),
        )
    }

    /// Waits until no transfer is queued or running.
    pub async fn wait_idle(&self) {
        self.inner
            .wait_for(|t| t.queued.is_empty() && t.running == 0)
            .await;
    }

    /// Stops every running transfer without changing its stored state: the next
    /// [`TransferQueue::open`] runs them again, from their checkpoints. Returns once they
    /// have stopped; the queue starts nothing afterwards.
    pub async fn shutdown(&self) {
        self.inner.closing.cancel();
        self.inner.wait_for(|t| t.running == 0).await;
        // Another queue may open the directory now.
        self.inner
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

fn check_bucket(bucket: &str) -> Result<()> {
    if bucket.is_empty() {
        return Err(Error::InvalidInput("no bucket".into()));
    }
    Ok(())
}

fn no_such(id: TransferId) -> Error {
    Error::InvalidInput(format!("no transfer {id} in the queue"))
}

fn not_now(id: TransferId, verb: &str, state: &TransferState) -> Error {
    let name = serde_json::to_value(state)
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Error::InvalidInput(format!("transfer {id} is {name}: it cannot be {verb}"))
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn client(&self, connection: &str) -> Result<Client> {
        let mut cache = self.client_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = cache.get(connection) {
            return Ok(client.clone());
        }
        let client = (self.clients)(connection)?;
        cache.insert(connection.to_owned(), client.clone());
        Ok(client)
    }

    /// Numbers, stores and announces new transfers, then starts what may start.
    async fn add(self: &Arc<Self>, mut infos: Vec<TransferInfo>) -> Result<Vec<TransferId>> {
        if infos.is_empty() {
            return Ok(Vec::new());
        }
        let first = {
            let mut table = self.table();
            let first = table.next_id;
            table.next_id += infos.len() as u64;
            first
        };
        for (i, info) in infos.iter_mut().enumerate() {
            info.id = first + i as u64;
            info.batch = first;
            if info.state.is_finished() {
                info.finished_ms = Some(info.created_ms);
            }
        }
        {
            let _disk = self.disk.lock().await;
            store::save_all(&self.settings.state_dir, &infos).await?;
        }
        {
            let mut table = self.table();
            for info in &infos {
                if info.state == TransferState::Queued {
                    table.queued.insert(info.id);
                }
                table.entries.insert(
                    info.id,
                    Entry {
                        info: info.clone(),
                        run: None,
                    },
                );
            }
        }
        for info in &infos {
            let _ = self.events.send(TransferEvent::Added {
                transfer: info.clone(),
            });
        }
        self.changes.send_modify(|n| *n += 1);
        self.pump();
        Ok(infos.iter().map(|i| i.id).collect())
    }

    /// After a change of `id`'s state: stores it (the latest state, whatever happened since),
    /// announces it and wakes the waiters.
    async fn changed(&self, id: TransferId) {
        {
            let _disk = self.disk.lock().await;
            let info = self.table().entries.get(&id).map(|e| e.info.clone());
            if let Some(mut info) = info {
                // A running transfer is stored as queued: a restart runs it again.
                if info.state == TransferState::Running {
                    info.state = TransferState::Queued;
                }
                if let Err(e) = store::save(&self.settings.state_dir, &info).await {
                    tracing::warn!(id, error = %e, "cannot store the transfer's state");
                }
            }
        }
        if let Some(info) = self.table().entries.get(&id).map(|e| e.info.clone()) {
            let _ = self.events.send(TransferEvent::Changed { transfer: info });
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Deletes a removed transfer's file and announces it.
    async fn forget(&self, id: TransferId) -> Result<()> {
        {
            let _disk = self.disk.lock().await;
            store::remove(&self.settings.state_dir, id).await?;
        }
        let _ = self.events.send(TransferEvent::Removed { id });
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn wait_for(&self, done: impl Fn(&Table) -> bool) {
        let mut changes = self.changes.subscribe();
        loop {
            if done(&self.table()) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    async fn until_stopped(&self, id: TransferId) {
        self.wait_for(|t| {
            t.entries
                .get(&id)
                .is_none_or(|e| e.run.is_none() && e.info.state != TransferState::Running)
        })
        .await;
    }

    /// Starts queued transfers while there are free slots, oldest first.
    fn pump(self: &Arc<Self>) {
        if self.closing.is_cancelled() || !self.settings.start {
            return;
        }
        let mut started = Vec::new();
        {
            let mut table = self.table();
            while table.running < self.files_at_once.load(Ordering::Relaxed).max(1) {
                let Some(id) = table.queued.pop_first() else {
                    break;
                };
                let cancel = self.closing.child_token();
                let done = Arc::new(AtomicU64::new(0));
                let total = Arc::new(AtomicU64::new(0));
                let Some(entry) = table.entries.get_mut(&id) else {
                    continue;
                };
                entry.run = Some(Running {
                    cancel: cancel.clone(),
                    stop: None,
                    done: done.clone(),
                    total: total.clone(),
                    meter: Meter::default(),
                });
                table.set_state(id, TransferState::Running);
                table.running += 1;
                started.push((id, cancel, done, total));
            }
        }
        for (id, cancel, done, total) in started {
            if let Some(info) = self.table().entries.get(&id).map(|e| e.info.clone()) {
                let _ = self.events.send(TransferEvent::Changed { transfer: info });
            }
            let inner = self.clone();
            tokio::spawn(async move {
                inner.run(id, cancel, done, total).await;
            });
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Runs one transfer and settles its state.
    async fn run(
        self: Arc<Self>,
        id: TransferId,
        cancel: CancellationToken,
        done: Arc<AtomicU64>,
        total: Arc<AtomicU64>,
    ) {
        let Some(info) = self.table().entries.get(&id).map(|e| e.info.clone()) else {
            return;
        };
        let result = run::execute(&self, &info, &cancel, &done, &total).await;
        let stop = {
            let mut table = self.table();
            table
                .entries
                .get_mut(&id)
                .and_then(|e| e.run.as_ref().and_then(|r| r.stop))
        };
        if stop.is_none() && self.closing.is_cancelled() && result.is_err() {
            // Shut down: the stored state stays (queued), the next open runs it again.
            let mut table = self.table();
            if let Some(entry) = table.entries.get_mut(&id) {
                entry.run = None;
                entry.info.done = done.load(Ordering::Relaxed);
            }
            table.set_state(id, TransferState::Queued);
            table.queued.remove(&id);
            table.running -= 1;
            drop(table);
            self.changes.send_modify(|n| *n += 1);
            return;
        }
        if stop == Some(Stop::Cancel) {
            run::discard(&self, &info).await;
        }
        {
            let mut table = self.table();
            let done = done.load(Ordering::Relaxed);
            let state = match (&result, stop) {
                (Ok(_), _) => TransferState::Completed,
                (Err(_), Some(Stop::Cancel)) => TransferState::Cancelled,
                (Err(_), Some(Stop::Pause)) => TransferState::Paused,
                (Err(e), None) => TransferState::failed(e),
            };
            if let Some(entry) = table.entries.get_mut(&id) {
                entry.info.done = done;
                let known = total.load(Ordering::Relaxed);
                if known > 0 || entry.info.total.is_none() {
                    entry.info.total = Some(known);
                }
                if let Ok(finished) = &result {
                    entry.info.local = finished.local.clone();
                    entry.info.total = Some(finished.size);
                    entry.info.done = finished.size;
                    entry.info.parts_resumed = finished.parts_resumed;
                    entry.info.parts_sent = finished.parts_sent;
                }
            }
            table.set_state(id, state);
        }
        if let Err(e) = &result {
            if stop.is_none() {
                tracing::info!(id, error = %e, "transfer failed");
            }
        }
        // Stored before it counts as stopped: whoever waits for the stop reads it on disk.
        self.changed(id).await;
        if result.is_ok() {
            // Only now: until the completion is stored, they tell a restart what was done.
            let checkpoints = store::checkpoint_dir(&self.settings.state_dir, id);
            let _ = tokio::fs::remove_dir_all(checkpoints).await;
        }
        {
            let mut table = self.table();
            if let Some(entry) = table.entries.get_mut(&id) {
                entry.run = None;
            }
            table.running -= 1;
        }
        self.changes.send_modify(|n| *n += 1);
        self.pump();
    }
}

/// Samples the running transfers' progress every `progress_interval`: speed, ETA, events.
async fn tick(inner: std::sync::Weak<Inner>) {
    let Some(period) = inner.upgrade().map(|i| i.settings.progress_interval) else {
        return;
    };
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        // Holds no reference between ticks: the queue goes when its last handle does.
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.closing.is_cancelled() {
            return;
        }
        let now = Instant::now();
        let mut events = Vec::new();
        {
            let mut table = inner.table();
            for entry in table.entries.values_mut() {
                let Some(run) = entry.run.as_mut() else {
                    continue;
                };
                if entry.info.state != TransferState::Running {
                    continue; // settling
                }
                let done = run.done.load(Ordering::Relaxed);
                let total = match run.total.load(Ordering::Relaxed) {
                    0 => entry.info.total,
                    t => Some(t),
                };
                let speed = run.meter.sample(now, done);
                let eta = total.and_then(|t| Meter::eta(speed, done, t));
                let info = &mut entry.info;
                if (done, total, speed, eta)
                    == (info.done, info.total, info.bytes_per_sec, info.eta_secs)
                {
                    continue;
                }
                (info.done, info.total, info.bytes_per_sec, info.eta_secs) =
                    (done, total, speed, eta);
                events.push(TransferEvent::Progress {
                    id: info.id,
                    done,
                    total,
                    bytes_per_sec: speed,
                    eta_secs: eta,
                });
            }
        }
        for event in events {
            let _ = inner.events.send(event);
        }
    }
}

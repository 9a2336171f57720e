//! Running pairs: one pass (scan, list, plan, execute), and the watching loop around it
//! (file-system events, a periodic full rescan, remote polling, backoff on transient
//! failures, pause and resume). [`SyncEngine`] runs many pairs, each independent.

use crate::error::{Error, Result};
use crate::exec::{Exec, Outcome};
use crate::index::{Index, IndexUpdate};
use crate::pair::{Mode, Pair, PairLock, PairStore};
use crate::plan::{self, Action, RemoteObject};
use crate::scan::{self, builtin_ignored, Skipped};
use crate::status::{FileState, PairState, PairStatus, MAX_FILES};
use futures_util::{StreamExt, TryStreamExt};
use ossvault_client::transfer::CancellationToken;
use ossvault_client::transfer::RateLimiter;
use ossvault_client::{Client, ListRequest};
use ossvault_crypto::MasterKey;
use ossvault_ops::copy::KeystoreOpener;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};

/// How pairs are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Quiet time after the last file-system event before a pass (a burst of events that
    /// goes on is looked at after ten times this at the latest).
    pub debounce: Duration,
    /// A file modified more recently than this is still being written: it waits.
    pub settle: Duration,
    /// The full rescan (with a remote listing) that catches anything file-system events
    /// missed, while events arrive (a safety net: an overflow of the event queue already
    /// forces a rescan).
    pub rescan_interval: Duration,
    /// The full rescan's interval where no events can be had (the folder cannot be watched).
    pub rescan_without_events: Duration,
    /// How often two-way and download pairs list the remote side while things change; a
    /// remote that stays quiet is listed less and less often, down to once every
    /// `remote_poll × IDLE_POLL_FACTOR`, until a change on either side brings the pace back.
    pub remote_poll: Duration,
    /// Files of more than [`SMALL_FILE`] bytes in flight at once.
    pub jobs: usize,
    /// Actions in flight at once in all (small files, deletions, moves; `jobs` of them at
    /// most large files). Each small file is one short request: against a server that commits
    /// them in groups, more in flight means larger groups and fewer fsyncs per file.
    pub small_jobs: usize,
    /// Actions in flight at once across every pair run with clones of these options (an
    /// engine's pairs): ten pairs of 32 files each opened 320 connections to one server, more
    /// than it serves one address at once (256), and gained nothing on a few cores.
    pub shared_jobs: Arc<tokio::sync::Semaphore>,
    /// Plaintext part size of multipart uploads (a multiple of 4 MiB).
    pub part_size: u64,
    /// Files this big or bigger go up in parts (resumable).
    pub multipart_threshold: u64,
    /// Parts in flight for one file.
    pub part_jobs: usize,
    /// The longest wait between attempts after transient failures.
    pub max_backoff: Duration,
}

/// Files of at most this many bytes count as small for [`RunOptions::small_jobs`]: one request
/// each, read and sealed in memory.
pub const SMALL_FILE: u64 = 256 << 10;

/// How much slower than `remote_poll` an idle pair lists its remote side at the most (10 s
/// becomes 2 min): ten idle two-way pairs of 5,000 files took a whole core when each listed and
/// rescanned every 10 s.
const IDLE_POLL_FACTOR: u32 = 12;

/// The interval between remote listings of a pair: `base` while things change, doubling after
/// each listing that changed nothing, up to `base × IDLE_POLL_FACTOR`.
#[derive(Debug, Clone, Copy)]
struct RemotePace {
    base: Duration,
    every: Duration,
}

impl RemotePace {
    fn new(base: Duration) -> Self {
        RemotePace { base, every: base }
    }

    fn every(&self) -> Duration {
        self.every
    }

    fn after_pass(&mut self, listed: bool, changed: bool) {
        if changed {
            self.reset();
        } else if listed {
            self.every = (self.every * 2).min(self.base * IDLE_POLL_FACTOR);
        }
    }

    fn reset(&mut self) {
        self.every = self.base;
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            debounce: Duration::from_millis(200),
            settle: Duration::from_millis(150),
            rescan_interval: Duration::from_secs(15 * 60),
            rescan_without_events: Duration::from_secs(60),
            remote_poll: Duration::from_secs(10),
            jobs: 32,
            small_jobs: 128,
            shared_jobs: Arc::new(tokio::sync::Semaphore::new(128)),
            part_size: 8 << 20,
            multipart_threshold: 8 << 20,
            part_jobs: 4,
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PassReport {
    pub uploaded: u64,
    pub downloaded: u64,
    pub deleted_remote: u64,
    pub deleted_local: u64,
    /// Local moves carried out on the server (copied, not uploaded).
    pub renamed: u64,
    /// Conflict copies made (relative paths).
    pub conflicts: Vec<String>,
    /// Paths found identical on both sides and indexed.
    pub same: u64,
    pub touched: u64,
    /// Local files scanned, and how many of them the scan read (hashed): a restart with no
    /// change reads none.
    pub scanned: u64,
    pub hashed: u64,
    /// Actions left for the next pass (the file changed meanwhile, or is still being written).
    pub deferred: u64,
    /// Multipart parts found already uploaded (resumed uploads) and parts sent.
    pub parts_resumed: u64,
    pub parts_sent: u64,
    /// Failed paths: (path, code, message).
    pub failed: Vec<(String, String, String)>,
    /// Paths not synced, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Deletions the safety check refused, and why.
    pub refused_deletions: Option<String>,
    /// Whether the failures are all worth another try.
    pub transient_failures: bool,
}

impl PassReport {
    /// Adds a later pass of the same run: counts add up; failures, deferrals and refusals
    /// are the later pass's (what is still not done).
    pub fn absorb(&mut self, later: PassReport) {
        self.uploaded += later.uploaded;
        self.downloaded += later.downloaded;
        self.deleted_remote += later.deleted_remote;
        self.deleted_local += later.deleted_local;
        self.renamed += later.renamed;
        self.conflicts.extend(later.conflicts);
        self.same += later.same;
        self.touched += later.touched;
        self.scanned = later.scanned;
        self.hashed += later.hashed;
        self.parts_resumed += later.parts_resumed;
        self.parts_sent += later.parts_sent;
        self.deferred = later.deferred;
        self.failed = later.failed;
        self.skipped = later.skipped;
        self.refused_deletions = later.refused_deletions;
        self.transient_failures = later.transient_failures;
    }

    /// Whether the pass changed anything on either side.
    pub fn changed(&self) -> bool {
        self.uploaded + self.downloaded + self.deleted_remote + self.deleted_local + self.renamed
            > 0
            || !self.conflicts.is_empty()
    }
}

/// A record of a conflict (both versions kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub time_ms: u64,
    pub path: String,
    pub copy: String,
}

/// Makes the client of a pair (its profile, the environment).
pub type Connector = Arc<dyn Fn(&Pair) -> Result<Client> + Send + Sync>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The remote objects of a pair as they are listed, in key order.
type Listing = mpsc::Receiver<Result<RemoteObject>>;
/// Paths not synced, with the reason.
type Skips = Vec<(String, String)>;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// One pair being synced by this process (it holds the pair's lock).
pub struct PairSync {
    pair: Mutex<Pair>,
    store: PairStore,
    client: Client,
    index: Arc<Index>,
    state_dir: PathBuf,
    master: Option<MasterKey>,
    key_fingerprint: String,
    keystore: KeystoreOpener,
    limiter: RateLimiter,
    options: RunOptions,
    status: watch::Sender<PairStatus>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    status_written: Mutex<Option<Instant>>,
    /// Event-queue overflows and watcher errors seen (each triggered a full rescan).
    overflows: Arc<AtomicU64>,
    /// Walks of the folder (passes) so far.
    walks: AtomicU64,
    /// Full listings of the remote side so far.
    listings: AtomicU64,
    /// The listing token (ossvault's own server) under which the remote side last listed
    /// exactly as the index holds it; cleared by every pass. See [`PairSync::poll_remote`].
    matched_token: Mutex<Option<String>>,
    /// Cleared once the server answers a listing without a token (OSS): no more probes.
    server_has_tokens: std::sync::atomic::AtomicBool,
    _lock: PairLock,
}

impl PairSync {
    /// Takes the pair's lock, opens its index and resolves its master key.
    pub async fn open(
        store: &PairStore,
        name: &str,
        client: Client,
        keystore: KeystoreOpener,
        options: RunOptions,
    ) -> Result<PairSync> {
        let pair = store.get(name)?;
        let lock = store.lock(name)?;
        let state_dir = store.state_dir(name);
        ossvault_fs::create_private_dir_all(&state_dir).map_err(Error::io(&state_dir))?;
        let index = Arc::new(Index::open(&state_dir.join("index.redb"))?);
        let (master, key_fingerprint) = match &pair.key {
            None => (None, String::new()),
            Some(spec) => {
                let ks = keystore.clone();
                let master =
                    ossvault_ops::keys::encryption_key(&client, spec, move || ks()).await?;
                let fp = match spec.strip_prefix("kms:") {
                    Some(_) => match &master {
                        MasterKey::Kms(w) => format!("kms:{}", w.key_id()),
                        _ => spec.clone(),
                    },
                    None => master.fingerprint().to_hex(),
                };
                (Some(master), fp)
            }
        };
        let status = PairStatus {
            pair: pair.name.clone(),
            state: PairState::Idle,
            indexed: index.len()?,
            pid: std::process::id(),
            ..Default::default()
        };
        let paused = pair.paused;
        Ok(PairSync {
            limiter: RateLimiter::new(pair.bandwidth_limit),
            pair: Mutex::new(pair),
            store: store.clone(),
            client,
            index,
            state_dir,
            master,
            key_fingerprint,
            keystore,
            options,
            status: watch::Sender::new(status),
            paused: watch::Sender::new(paused),
            cancel: CancellationToken::new(),
            status_written: Mutex::new(None),
            overflows: Arc::new(AtomicU64::new(0)),
            walks: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            matched_token: Mutex::new(None),
            server_has_tokens: std::sync::atomic::AtomicBool::new(true),
            _lock: lock,
        })
    }

    pub fn pair(&self) -> Pair {
        self.pair.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The status now.
    pub fn status(&self) -> PairStatus {
        self.status.borrow().clone()
    }

    /// A stream of status changes.
    pub fn subscribe(&self) -> watch::Receiver<PairStatus> {
        self.status.subscribe()
    }

    /// Pauses the pair: transfers in flight finish, no new one starts.
    pub fn pause(&self) {
        self.set_paused(true);
    }

    pub fn resume(&self) {
        self.set_paused(false);
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Bytes per second up and down together (`None`: unlimited).
    pub fn set_bandwidth_limit(&self, limit: Option<u64>) {
        self.limiter.set_rate(limit);
    }

    /// Stops the pair's loop and its transfers (checkpoints are kept).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// How many event-queue overflows (or watcher errors) forced a full rescan so far.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// How many passes walked the folder so far (a remote poll that found nothing new does
    /// not).
    pub fn walks(&self) -> u64 {
        self.walks.load(Ordering::Relaxed)
    }

    /// Full listings of the remote side so far (a poll that a listing token settles makes
    /// none).
    pub fn listings(&self) -> u64 {
        self.listings.load(Ordering::Relaxed)
    }

    /// Forgets what the status says of a file (a conflict the person resolved).
    pub fn clear_file(&self, rel: &str) {
        self.set_file(rel, None);
    }

    /// The index (read-only use).
    pub fn index(&self) -> &Index {
        &self.index
    }

    fn publish(&self, change: impl FnOnce(&mut PairStatus)) {
        let mut state_changed = false;
        self.status.send_modify(|s| {
            let before = std::mem::discriminant(&s.state);
            change(s);
            state_changed = before != std::mem::discriminant(&s.state);
        });
        let due = {
            let mut last = self
                .status_written
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due =
                state_changed || last.is_none_or(|t| t.elapsed() > Duration::from_millis(500));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.write_status();
        }
    }

    fn write_status(&self) {
        let status = self.status();
        let path = self.state_dir.join("status.json");
        let Ok(bytes) = serde_json::to_vec_pretty(&status) else {
            return;
        };
        // Replaced atomically but not fsynced: a status is of the moment, and this runs on the
        // transfers' threads.
        let temp = self
            .state_dir
            .join(format!(".status.{:08x}.tmp", rand::random::<u32>()));
        let written = ossvault_fs::create_new_private(&temp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::debug!("cannot write {}: {e}", path.display());
        }
    }

    fn set_file(&self, rel: &str, state: Option<FileState>) {
        self.publish(|s| match state {
            None => {
                s.files.remove(rel);
            }
            Some(st) => {
                if s.files.len() < MAX_FILES || s.files.contains_key(rel) {
                    s.files.insert(rel.to_owned(), st);
                }
            }
        });
    }

    async fn wait_unpaused(&self) -> Result<()> {
        let mut rx = self.paused.subscribe();
        loop {
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            if !*rx.borrow_and_update() {
                return Ok(());
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = self.cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
    }

    /// Lists the objects under the prefix as they come, in key order (the trash left out;
    /// folders as `name/` objects), into a bounded channel: a listing is never held whole. The
    /// task ends with the keys that cannot be local files.
    fn stream_remote(&self, pair: &Pair) -> (Listing, tokio::task::JoinHandle<Skips>) {
        self.listings.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(1024);
        let client = self.client.clone();
        let (bucket, prefix, trash) = (
            pair.bucket.clone(),
            pair.prefix.clone(),
            pair.trash_prefix(),
        );
        let task = tokio::spawn(async move {
            let mut skipped = Vec::new();
            let request = ListRequest {
                prefix: prefix.clone(),
                ..Default::default()
            };
            let mut pages = std::pin::pin!(client.list_pages(&bucket, request));
            loop {
                let page = match pages.try_next().await {
                    Ok(Some(page)) => page,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        break;
                    }
                };
                for o in page.objects {
                    let rel = o.key[prefix.len()..].to_owned();
                    // The pair's own prefix is its root.
                    if o.key.starts_with(&trash) || rel.is_empty() {
                        continue;
                    }
                    if let Err(e) = ossvault_ops::location::safe_relative_path(&rel) {
                        skipped.push((o.key.clone(), format!("cannot be a local file: {e}")));
                        continue;
                    }
                    if rel.split('/').any(builtin_ignored) {
                        continue;
                    }
                    let object = RemoteObject {
                        rel,
                        etag: o.etag,
                        size: o.size,
                    };
                    if tx.send(Ok(object)).await.is_err() {
                        return skipped; // the pass stopped
                    }
                }
            }
            skipped
        });
        (rx, task)
    }

    /// A look at the remote side alone, for a pair whose folder has not changed (no events):
    /// the listing is compared with the index, and only a difference costs a pass (scan,
    /// plan, execute). An idle two-way pair thus never walks its folder to poll.
    ///
    /// Against ossvault's own server, a one-key listing first reads the bucket's listing
    /// token: if it is the one under which the last full listing matched the index, nothing
    /// in the bucket has been written since, and that is the whole poll (ten idle pairs of
    /// 5,000 files otherwise cost a second of CPU every round of polls, server and client).
    pub async fn poll_remote(&self, settle: Option<Duration>) -> Result<PassReport> {
        let pair = self.pair();
        let token = self.listing_token(&pair).await?;
        if token.is_some() && *self.matched_token.lock().unwrap_or_else(|p| p.into_inner()) == token
        {
            self.publish(|s| s.last_sync_ms = Some(now_ms()));
            return Ok(PassReport::default());
        }
        let (listing, lister) = self.stream_remote(&pair);
        let index = self.index.clone();
        let same = tokio::task::spawn_blocking(move || listing_matches_index(&index, listing))
            .await
            .map_err(|e| Error::Index(format!("the comparison failed: {e}")))?;
        lister.abort();
        if same? {
            // Taken before the listing began: a write since then moves the token.
            *self.matched_token.lock().unwrap_or_else(|p| p.into_inner()) = token;
            self.publish(|s| s.last_sync_ms = Some(now_ms()));
            return Ok(PassReport::default());
        }
        self.pass_with(Remote::List, settle).await
    }

    /// The bucket's listing token, from a one-key listing of the pair's prefix; `None` from a
    /// server that gives none (OSS), which is then not asked again.
    async fn listing_token(&self, pair: &Pair) -> Result<Option<String>> {
        if !self.server_has_tokens.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let request = ListRequest {
            prefix: pair.prefix.clone(),
            max_keys: Some(1),
            ..Default::default()
        };
        let token = self
            .client
            .list_objects(&pair.bucket, &request)
            .await?
            .listing_token;
        if token.is_none() {
            self.server_has_tokens.store(false, Ordering::Relaxed);
        }
        Ok(token)
    }

    /// One pass: scan, list the remote side (when `list_remote`; else the index stands for
    /// it), plan, check deletions, execute. `settle`: files modified more recently wait.
    pub async fn pass(&self, list_remote: bool, settle: Option<Duration>) -> Result<PassReport> {
        let remote = if list_remote {
            Remote::List
        } else {
            Remote::Index
        };
        self.pass_with(remote, settle).await
    }

    async fn pass_with(&self, remote: Remote, settle: Option<Duration>) -> Result<PassReport> {
        // A pass changes the index (and the remote side): the next poll lists in full.
        *self.matched_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let pair = {
            let mut p = self.pair.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(fresh) = self.store.get(&p.name) {
                self.limiter.set_rate(fresh.bandwidth_limit);
                *p = fresh;
            }
            p.clone()
        };
        self.publish(|s| {
            s.state = PairState::Scanning;
            s.files
                .retain(|_, f| !matches!(f, FileState::Pending | FileState::Transferring { .. }));
            s.files_done = 0;
            s.files_total = 0;
            s.bytes_done = 0;
            s.bytes_total = 0;
        });
        let started = Instant::now();
        let mut report = PassReport::default();
        let remote = match remote {
            Remote::Index if self.index.is_empty()? => Remote::List,
            r => r,
        };
        self.walks.fetch_add(1, Ordering::Relaxed);
        let (listing, lister) = match remote {
            Remote::Index => None,
            Remote::List => Some(self.stream_remote(&pair)),
        }
        .unzip();
        let recent_after = settle.map(|settle| now_ns() - settle.as_nanos() as i64);
        // The walk, the index and the listing meet in one streamed merge on a blocking thread:
        // memory follows the changes, not the size of the folder.
        let (mut planned, walked) = {
            let root = pair.local.clone();
            let index = self.index.clone();
            let mode = pair.mode;
            tokio::task::spawn_blocking(move || -> Result<_> {
                let mut walk = scan::walk(&root, Some(&index))?;
                let mut cursor = index.cursor()?;
                let remote = listing.map(|mut listing| {
                    let mut last: Option<String> = None;
                    move || -> Result<Option<RemoteObject>> {
                        let next = listing.blocking_recv().transpose()?;
                        if let Some(o) = &next {
                            if last.as_ref().is_some_and(|l| *l >= o.rel) {
                                return Err(Error::Index(format!(
                                    "the listing is out of key order at {}",
                                    o.rel
                                )));
                            }
                            last = Some(o.rel.clone());
                        }
                        Ok(next)
                    }
                });
                let planned = plan::plan(
                    mode,
                    || walk.next_file(),
                    || cursor.next_entry(),
                    remote,
                    recent_after,
                )?;
                Ok((planned, (walk.files, walk.hashed, walk.skipped)))
            })
            .await
            .map_err(|e| Error::Index(format!("the scan failed: {e}")))??
        };
        let planned_at = Instant::now();
        let (files, hashed, skipped) = walked;
        report.scanned = files;
        report.hashed = hashed;
        report.deferred += planned.deferred;
        for Skipped { path, reason } in skipped {
            report.skipped.push((path, reason));
        }
        if let Some(lister) = lister {
            report.skipped.extend(lister.await.unwrap_or_default());
        }

        let total = self.index.len()?.max(files);
        if let Err((deletes, limit)) = plan::check_deletions(
            planned.actions.iter().map(|(a, _)| a),
            total,
            pair.max_delete_share,
            pair.max_delete_count,
        ) {
            planned.actions.retain(|(a, _)| !a.deletes());
            let e = Error::DeletionRefused {
                deletes,
                total,
                limit,
            };
            tracing::warn!(pair = %pair.name, "{e}");
            report.refused_deletions = Some(e.to_string());
        }

        let actions = planned.actions;
        let bytes_total: u64 = actions.iter().map(|(_, size)| size).sum();
        let files_total = actions.len() as u64;
        // A pause lets the transfers in flight finish and starts no other: the pass waits
        // for the resume, and its status says paused meanwhile.
        let mut paused_rx = self.paused.subscribe();
        let busy = |paused: bool| {
            if paused {
                PairState::Paused
            } else {
                PairState::Syncing
            }
        };
        self.publish(|s| {
            s.state = if files_total > 0 {
                busy(*paused_rx.borrow_and_update())
            } else {
                PairState::Scanning
            };
            s.files_total = files_total;
            s.bytes_total = bytes_total;
            for (a, _) in actions
                .iter()
                .filter(|(a, _)| a.transfers())
                .take(MAX_FILES / 2)
            {
                s.files.insert(a.rel().to_owned(), FileState::Pending);
            }
            for (path, reason) in &report.skipped {
                if s.files.len() < MAX_FILES {
                    s.files.insert(
                        path.clone(),
                        FileState::Skipped {
                            reason: reason.clone(),
                        },
                    );
                }
            }
        });

        let bytes_done = AtomicU64::new(0);
        let on_bytes = |n: u64| {
            let done = bytes_done.fetch_add(n, Ordering::Relaxed) + n;
            self.status.send_modify(|s| s.bytes_done = done);
        };
        let checkpoint_dir = self.state_dir.join("uploads");
        let exec = Exec {
            pair: &pair,
            client: &self.client,
            master: self.master.as_ref(),
            key_fingerprint: &self.key_fingerprint,
            keystore: &self.keystore,
            checkpoint_dir: &checkpoint_dir,
            limiter: &self.limiter,
            cancel: self.cancel.clone(),
            on_bytes: &on_bytes,
            part_size: self.options.part_size,
            threshold: self.options.multipart_threshold,
            part_jobs: self.options.part_jobs,
            index: &self.index,
        };
        let exec = &exec;
        let large = tokio::sync::Semaphore::new(self.options.jobs.max(1));
        let large = &large;
        let run = |(action, size): (Action, u64)| async move {
            // Held for the whole action: at most `jobs` large files at once.
            let _large = if action.transfers() && size > SMALL_FILE {
                Some(
                    large
                        .acquire()
                        .await
                        .expect("the semaphore is never closed"),
                )
            } else {
                None
            };
            // A slot among every pair's actions, taken unpaused and not kept while paused
            // (never closed: the semaphore lives in the options).
            let _slot = loop {
                if let Err(e) = self.wait_unpaused().await {
                    return (action, Err(e));
                }
                let slot = self.options.shared_jobs.acquire().await;
                if !*self.paused.borrow() {
                    break slot;
                }
            };
            if action.transfers() {
                self.set_file(action.rel(), Some(FileState::Transferring { percent: 0 }));
            }
            // The file's percentage, published when it moves (at most a hundred times).
            let (moved, shown) = (AtomicU64::new(0), std::sync::atomic::AtomicU8::new(0));
            let on_file = |n: u64| {
                on_bytes(n);
                let done = moved.fetch_add(n, Ordering::Relaxed) + n;
                if let Some(percent) = (done.min(size) * 100).checked_div(size) {
                    let percent = percent as u8;
                    if shown.fetch_max(percent, Ordering::Relaxed) < percent {
                        self.set_file(action.rel(), Some(FileState::Transferring { percent }));
                    }
                }
            };
            let exec = Exec {
                on_bytes: &on_file,
                ..exec.clone()
            };
            let r = exec.run(&action).await;
            (action, r)
        };
        // Folder removals start once everything else is done: a folder whose files leave in
        // this pass is empty by then.
        let (last, first): (Vec<_>, Vec<_>) =
            actions.into_iter().partition(|(a, _)| a.removes_folder());
        let jobs = self.options.small_jobs.max(self.options.jobs).max(1);
        let mut results = futures_util::stream::iter(first)
            .map(run)
            .buffer_unordered(jobs)
            .chain(
                futures_util::stream::iter(last)
                    .map(run)
                    .buffer_unordered(jobs),
            );
        // Index commits run beside the transfers (a commit fsyncs: the transfers must not wait
        // for it).
        let (batches, mut batch_rx) = mpsc::unbounded_channel::<Vec<IndexUpdate>>();
        let index = self.index.clone();
        let writer = tokio::task::spawn_blocking(move || {
            while let Some(batch) = batch_rx.blocking_recv() {
                index.apply(&batch)?;
            }
            Ok::<(), Error>(())
        });
        let mut pending: Vec<IndexUpdate> = Vec::new();
        let mut all_transient = true;
        let mut conflicts = Vec::new();
        loop {
            let next = tokio::select! {
                next = results.next() => next,
                Ok(()) = paused_rx.changed() => {
                    let state = busy(*paused_rx.borrow_and_update());
                    self.publish(|s| s.state = state);
                    continue;
                }
            };
            let Some((action, result)) = next else { break };
            let rel = action.rel().to_owned();
            match result {
                Ok((outcome, updates)) => {
                    pending.extend(updates);
                    match &outcome {
                        Outcome::Uploaded {
                            parts_resumed,
                            parts_sent,
                        } => {
                            report.uploaded += 1;
                            report.parts_resumed += *parts_resumed as u64;
                            report.parts_sent += *parts_sent as u64;
                        }
                        Outcome::Downloaded => report.downloaded += 1,
                        Outcome::DeletedRemote => report.deleted_remote += 1,
                        Outcome::DeletedLocal => report.deleted_local += 1,
                        Outcome::Renamed => report.renamed += 1,
                        Outcome::Conflict { copy } => {
                            report.conflicts.push(copy.clone());
                            conflicts.push(ConflictRecord {
                                time_ms: now_ms(),
                                path: rel.clone(),
                                copy: copy.clone(),
                            });
                        }
                        Outcome::Same => report.same += 1,
                        Outcome::Touched => report.touched += 1,
                        Outcome::Forgot => {}
                        Outcome::Deferred => report.deferred += 1,
                    }
                    match outcome {
                        Outcome::Conflict { copy } => {
                            self.set_file(&rel, Some(FileState::Conflict { copy }))
                        }
                        _ => self.set_file(&rel, None),
                    }
                }
                Err(Error::Cancelled) => {}
                Err(e) => {
                    all_transient &= e.is_transient();
                    tracing::debug!(pair = %pair.name, path = %rel, "sync failed: {e}");
                    self.set_file(
                        &rel,
                        Some(FileState::Error {
                            code: e.code().to_owned(),
                            reason: e.to_string(),
                        }),
                    );
                    report
                        .failed
                        .push((rel, e.code().to_owned(), e.to_string()));
                }
            }
            self.publish(|s| s.files_done += 1);
            if pending.len() >= 256 {
                let _ = batches.send(std::mem::take(&mut pending));
            }
        }
        drop(results);
        let _ = batches.send(pending);
        drop(batches);
        writer
            .await
            .map_err(|e| Error::Index(format!("the index writer failed: {e}")))??;
        self.record_conflicts(&conflicts);
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        report.transient_failures = !report.failed.is_empty() && all_transient;
        tracing::debug!(
            pair = %pair.name,
            plan_ms = (planned_at - started).as_millis() as u64,
            execute_ms = planned_at.elapsed().as_millis() as u64,
            "pass done"
        );
        let indexed = self.index.len()?;
        self.publish(|s| {
            s.indexed = indexed;
            s.last_sync_ms = Some(now_ms());
            s.state = match (&report.refused_deletions, report.failed.first()) {
                (Some(reason), _) => PairState::Error {
                    code: "DeletionRefused".into(),
                    reason: reason.clone(),
                },
                (None, Some((_, code, msg))) if !report.transient_failures => PairState::Error {
                    code: code.clone(),
                    reason: msg.clone(),
                },
                _ if self.is_paused() => PairState::Paused,
                _ => PairState::Idle,
            };
        });
        Ok(report)
    }

    fn record_conflicts(&self, records: &[ConflictRecord]) {
        if records.is_empty() {
            return;
        }
        use std::io::Write as _;
        let path = self.state_dir.join("conflicts.jsonl");
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&path) {
            Ok(mut f) => {
                for r in records {
                    if let Ok(line) = serde_json::to_string(r) {
                        let _ = writeln!(f, "{line}");
                    }
                }
            }
            Err(e) => tracing::warn!("cannot record conflicts in {}: {e}", path.display()),
        }
    }

    /// Passes until one ends without transient failures or deferred work (at most
    /// `attempts`, backing off between them): `sync run` without `--watch`.
    pub async fn run_once(&self, attempts: u32) -> Result<PassReport> {
        let mut delay = Duration::from_millis(500);
        let mut total = PassReport::default();
        for attempt in 1..=attempts.max(1) {
            match self.pass(true, None).await {
                Ok(r) => {
                    // Conflict copies and deferred files need another pass; transient
                    // failures another try.
                    let again = r.transient_failures || r.deferred > 0 || !r.conflicts.is_empty();
                    total.absorb(r);
                    if !again || attempt == attempts {
                        return Ok(total);
                    }
                    if total.failed.is_empty() && total.deferred == 0 {
                        continue;
                    }
                }
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::info!("pass failed ({e}); retrying in {delay:?}");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.options.max_backoff);
        }
        Ok(total)
    }

    /// Watches the folder until [`PairSync::stop`]: a pass after each burst of events (and
    /// after an overflow of the event queue), a full rescan every `rescan_interval`
    /// (`rescan_without_events` where the folder cannot be watched), remote polling for
    /// two-way and download pairs (a listing compared with the index: the folder is walked
    /// only when the listing or an event says something changed), backoff on transient
    /// failures.
    pub async fn watch(&self) -> Result<()> {
        let pair = self.pair();
        // Events (`true`: the queue overflowed, rescan) from notify's thread, then debounced
        // into `rx`: one wake-up per burst, and none at all while nothing happens.
        let (raw_tx, raw_rx) = mpsc::unbounded_channel::<bool>();
        let (tx, mut rx) = mpsc::unbounded_channel::<bool>();
        tokio::spawn(debounce(raw_rx, tx, self.options.debounce));
        let root = pair.local.clone();
        let mut _watcher = None;
        let mut watch_root = || -> Result<()> {
            let root_for_filter = root.clone();
            let tx = raw_tx.clone();
            let overflows = self.overflows.clone();
            let mut watcher =
                notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                    Ok(event) => {
                        let rescan = event.need_rescan();
                        if rescan {
                            overflows.fetch_add(1, Ordering::Relaxed);
                        }
                        if rescan
                            || (changes_content(&event.kind)
                                && event.paths.iter().any(|p| relevant(&root_for_filter, p)))
                        {
                            let _ = tx.send(rescan);
                        }
                    }
                    Err(error) => {
                        tracing::debug!("watch error: {error}; rescanning");
                        overflows.fetch_add(1, Ordering::Relaxed);
                        let _ = tx.send(true);
                    }
                })
                .map_err(|e| {
                    Error::InvalidInput(format!("cannot watch {}: {e}", root.display()))
                })?;
            notify::Watcher::watch(&mut watcher, &root, notify::RecursiveMode::Recursive).map_err(
                |e| Error::InvalidInput(format!("cannot watch {}: {e}", root.display())),
            )?;
            _watcher = Some(watcher);
            Ok(())
        };
        let rescan_every = match watch_root() {
            Ok(()) => self.options.rescan_interval,
            Err(e) => {
                // No events (a missing folder, no inotify watches left): the periodic rescan
                // still syncs.
                tracing::warn!(pair = %pair.name, "{e}; falling back to periodic rescans");
                self.options.rescan_without_events
            }
        };
        let polls_remote = pair.mode != Mode::Upload;
        let mut next_list = Instant::now();
        let mut next_rescan = Instant::now();
        // Whether the folder may have changed since the last full pass (events, a retry, work
        // left over): only then is it walked; a remote poll alone compares a listing.
        let mut local_dirty = true;
        let mut pace = RemotePace::new(self.options.remote_poll);
        let mut backoff = Duration::from_secs(1);
        let mut next_purge = Instant::now();
        let mut paused_rx = self.paused.subscribe();
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            if *paused_rx.borrow_and_update() {
                // Closed before the state says so (see the idle case below).
                self.index.release();
                self.publish(|s| s.state = PairState::Paused);
                tokio::select! {
                    _ = paused_rx.changed() => {}
                    _ = self.cancel.cancelled() => return Ok(()),
                }
                local_dirty = true;
                continue;
            }
            while let Ok(rescan) = rx.try_recv() {
                local_dirty = true;
                if rescan {
                    next_rescan = Instant::now();
                }
            }
            let now = Instant::now();
            let rescan = now >= next_rescan;
            let list = now >= next_list || rescan;
            let outcome = if local_dirty || rescan {
                Some(self.pass(list, Some(self.options.settle)).await)
            } else if list && polls_remote {
                Some(self.poll_remote(Some(self.options.settle)).await)
            } else {
                None
            };
            let mut wait = None;
            match outcome {
                None => {}
                Some(Ok(report)) => {
                    local_dirty = false;
                    pace.after_pass(list, report.changed());
                    if report.changed() {
                        next_list = next_list.min(Instant::now() + pace.every());
                    }
                    if list {
                        let every = if polls_remote {
                            pace.every()
                        } else {
                            rescan_every
                        };
                        next_list = Instant::now() + every;
                    }
                    if rescan {
                        next_rescan = Instant::now() + rescan_every;
                    }
                    if Instant::now() >= next_purge {
                        // Versions past the retention period leave the trash.
                        let now = time::OffsetDateTime::now_utc();
                        match crate::restore::purge(&self.client, &self.pair(), now).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(pair = %pair.name, "purged {n} old versions"),
                            Err(e) => tracing::debug!(pair = %pair.name, "trash purge: {e}"),
                        }
                        next_purge = Instant::now() + Duration::from_secs(6 * 3600);
                    }
                    if report.transient_failures {
                        let reason = report
                            .failed
                            .first()
                            .map(|f| f.2.clone())
                            .unwrap_or_default();
                        self.publish(|s| {
                            s.state = PairState::Retrying {
                                retry_in_s: backoff.as_secs(),
                                reason,
                            }
                        });
                        wait = Some(backoff);
                        backoff = (backoff * 2).min(self.options.max_backoff);
                    } else {
                        backoff = Duration::from_secs(1);
                        if report.deferred > 0 {
                            wait = Some(self.options.settle);
                        } else if report.changed() {
                            // Conflict copies and downloads may need another pass.
                            wait = Some(Duration::from_millis(50));
                        }
                    }
                }
                Some(Err(Error::Cancelled)) => return Ok(()),
                Some(Err(e)) if e.is_transient() => {
                    let reason = e.to_string();
                    let secs = backoff.as_secs();
                    self.publish(|s| {
                        s.state = if e.is_offline() {
                            PairState::Offline {
                                retry_in_s: secs,
                                reason,
                            }
                        } else {
                            PairState::Retrying {
                                retry_in_s: secs,
                                reason,
                            }
                        }
                    });
                    wait = Some(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                    next_list = Instant::now();
                }
                Some(Err(e)) => {
                    let (code, reason) = (e.code().to_owned(), e.to_string());
                    self.publish(|s| s.state = PairState::Error { code, reason });
                    wait = Some(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
            // What comes after a wait (a retry, a file settling, another pass after changes)
            // walks the folder again.
            if wait.is_some() {
                local_dirty = true;
            } else {
                // Idle until an event or the next poll: its index need not stay open.
                self.index.release();
            }
            // Wait for events, the next listing or rescan, a retry, or a pause.
            let until = match wait {
                Some(w) => Instant::now() + w,
                None if polls_remote => next_list.min(next_rescan),
                None => next_rescan,
            };
            loop {
                if Instant::now() >= until {
                    break;
                }
                tokio::select! {
                    got = rx.recv() => {
                        if let Some(overflow) = got {
                            local_dirty = true;
                            if overflow {
                                next_rescan = Instant::now();
                            } else if polls_remote {
                                // The folder is in use: the remote side is looked at often
                                // again.
                                pace.reset();
                                next_list = next_list.min(Instant::now() + pace.every());
                            }
                        }
                        if wait.is_none() || got.is_some() {
                            break;
                        }
                    }
                    _ = tokio::time::sleep_until(until.into()) => break,
                    _ = paused_rx.changed() => break,
                    _ = self.cancel.cancelled() => return Ok(()),
                }
            }
        }
    }
}

/// Forwards each burst of events from `events` to `out` once it has been quiet for `quiet`
/// (at most `10 × quiet` after its first event, so that a file written for minutes is still
/// looked at); `true` when any event of the burst asked for a rescan. Ends with the watcher.
async fn debounce(
    mut events: mpsc::UnboundedReceiver<bool>,
    out: mpsc::UnboundedSender<bool>,
    quiet: Duration,
) {
    while let Some(first) = events.recv().await {
        let mut rescan = first;
        let latest = tokio::time::Instant::now() + quiet * 10;
        loop {
            let until = (tokio::time::Instant::now() + quiet).min(latest);
            match tokio::time::timeout_at(until, events.recv()).await {
                Ok(Some(more)) => rescan |= more,
                Ok(None) => {
                    let _ = out.send(rescan);
                    return;
                }
                Err(_) => break,
            }
        }
        if out.send(rescan).is_err() {
            return;
        }
    }
}

/// Where a pass learns the remote side from.
enum Remote {
    /// The index stands for it (nothing listed).
    Index,
    /// A listing now.
    List,
}

/// Whether `listing` shows the remote side exactly as the index last saw it (the same paths
/// with the same ETags; both in path order).
fn listing_matches_index(index: &Index, mut listing: Listing) -> Result<bool> {
    let mut cursor = index.cursor()?;
    while let Some(o) = listing.blocking_recv().transpose()? {
        match cursor.next_entry()? {
            Some((rel, e)) if rel == o.rel && e.etag == o.etag => {}
            _ => return Ok(false),
        }
    }
    Ok(cursor.next_entry()?.is_none())
}

/// Whether an event kind can mean a change: not a mere open or read (the sync's own walks
/// and uploads open every folder and file it looks at, and would wake it again).
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event path matters (not sync's own temp files and trash, nor ignored litter).
fn relevant(root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    !rel.components()
        .any(|c| c.as_os_str().to_str().is_some_and(builtin_ignored))
}

/// The status another process published for a pair (`Stopped` when no process syncs it).
pub fn read_status(store: &PairStore, name: &str) -> Result<PairStatus> {
    store.get(name)?;
    let path = store.state_dir(name).join("status.json");
    let mut status: PairStatus = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => PairStatus::default(),
    };
    status.pair = name.to_owned();
    if !store.is_locked(name) {
        status.state = PairState::Stopped;
        status.files.retain(|_, f| {
            matches!(
                f,
                FileState::Conflict { .. } | FileState::Error { .. } | FileState::Skipped { .. }
            )
        });
    }
    Ok(status)
}

/// The conflicts recorded for a pair, oldest first.
pub fn conflicts(store: &PairStore, name: &str) -> Result<Vec<ConflictRecord>> {
    store.get(name)?;
    let path = store.state_dir(name).join("conflicts.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Runs many pairs in one process, each independent (its own lock, index, loop and status).
pub struct SyncEngine {
    store: PairStore,
    connector: Connector,
    keystore: KeystoreOpener,
    options: RunOptions,
    running: Mutex<HashMap<String, Running>>,
    /// Why a pair could not start (shown as its status until it starts).
    failed: Mutex<HashMap<String, PairStatus>>,
    /// Bumped whenever pairs start, stop, fail or change: status watchers look again.
    changes: watch::Sender<u64>,
    /// Held while a pair starts, and while [`SyncEngine::remove`] stops and forgets one, so that
    /// following the store never starts a pair twice nor one being removed.
    starting: tokio::sync::Mutex<()>,
    /// Set by [`SyncEngine::stop_all`]: no pair starts afterwards.
    closed: std::sync::atomic::AtomicBool,
}

/// Which pairs [`SyncEngine::follow_store`] looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Every pair of the store: new ones start (the app).
    All,
    /// Only the pairs this engine runs already (`ossvault sync run --watch PAIR`): they pause,
    /// resume and stop as the store says; no other starts.
    Started,
}

/// How often pairs that another process syncs are tried again (taken over once it lets go).
const HELD_RETRY: Duration = Duration::from_secs(5);
/// How often the pairs file is read where it cannot be watched.
const STORE_POLL: Duration = Duration::from_secs(2);

/// A pair and its status, as the Sync screen lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairOverview {
    pub pair: Pair,
    pub status: PairStatus,
}

/// One file of a pair, as the files list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRow {
    pub path: String,
    /// Plaintext size, when indexed.
    pub size: Option<u64>,
    #[serde(flatten)]
    pub state: FileState,
}

/// A page of a pair's files: the files in flight or in trouble first (on the first page),
/// then the index in path order. `next`: the path to continue after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilesPage {
    pub files: Vec<FileRow>,
    pub next: Option<String>,
}

/// A started pair: its handle and its loop's task.
type Running = (Arc<PairSync>, tokio::task::JoinHandle<Result<()>>);

impl SyncEngine {
    pub fn new(
        store: PairStore,
        connector: Connector,
        keystore: KeystoreOpener,
        options: RunOptions,
    ) -> SyncEngine {
        SyncEngine {
            store,
            connector,
            keystore,
            options,
            running: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            starting: tokio::sync::Mutex::new(()),
            closed: Default::default(),
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn store(&self) -> &PairStore {
        &self.store
    }

    /// Opens a pair (taking its lock) without starting its loop.
    pub async fn open(&self, name: &str) -> Result<Arc<PairSync>> {
        let pair = self.store.get(name)?;
        let client = (self.connector)(&pair)?;
        Ok(Arc::new(
            PairSync::open(
                &self.store,
                name,
                client,
                self.keystore.clone(),
                self.options.clone(),
            )
            .await?,
        ))
    }

    /// Starts watching a pair in the background; returns its handle.
    pub async fn start(&self, name: &str) -> Result<Arc<PairSync>> {
        let _starting = self.starting.lock().await;
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if let Some((p, _)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(p.clone());
        }
        let sync = match self.open(name).await {
            Ok(s) => s,
            Err(e @ Error::Locked(_)) => {
                // Another process syncs it: shown as not running here.
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name);
                self.changed();
                return Err(e);
            }
            Err(e) => {
                let status = PairStatus {
                    pair: name.to_owned(),
                    state: PairState::Error {
                        code: e.code().to_owned(),
                        reason: e.to_string(),
                    },
                    ..Default::default()
                };
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_owned(), status);
                self.changed();
                return Err(e);
            }
        };
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        let task = {
            let sync = sync.clone();
            tokio::spawn(async move { sync.watch().await })
        };
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), (sync.clone(), task));
        self.changed();
        Ok(sync)
    }

    /// Starts every pair that is not paused; returns the failures (e.g. a pair another
    /// process syncs) by name.
    pub async fn start_all(&self) -> Result<Vec<(String, Error)>> {
        let mut failed = Vec::new();
        for pair in self.store.list()? {
            if let Err(e) = self.start(&pair.name).await {
                failed.push((pair.name, e));
            }
        }
        Ok(failed)
    }

    /// Deletes the state of a pair that is no longer in the store
    /// ([`PairStore::clear_state`]) once this process lets go of it: a pair stopped by
    /// [`SyncEngine::follow_store`] leaves the running set before its task has ended, and
    /// the task holds the pair's lock until then. Waits up to 10 s; whether it was deleted
    /// (not when another process still syncs the pair).
    pub async fn clear_removed_state(&self, name: &str) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.store.clear_state(name)? {
                return Ok(true);
            }
            if Instant::now() >= deadline || self.store.get(name).is_ok() {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The names of the pairs running now.
    fn running_names(&self) -> Vec<String> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The handle of a running pair.
    pub fn get(&self, name: &str) -> Option<Arc<PairSync>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|(p, _)| p.clone())
    }

    /// Stops a pair and waits for its loop to end (releasing its lock).
    pub async fn stop(&self, name: &str) -> Result<()> {
        let entry = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some((sync, task)) = entry {
            sync.stop();
            // Not held while the task ends: the last handle lets go of the pair's lock.
            drop(sync);
            self.changed();
            match task.await {
                Ok(r) => r?,
                Err(e) => return Err(Error::Index(format!("the pair's task failed: {e}"))),
            }
        }
        Ok(())
    }

    /// Stops every pair, for good (the process is exiting): none starts afterwards, and
    /// [`SyncEngine::follow_store`] ends.
    pub async fn stop_all(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // A start under way finishes first (and is stopped below).
        drop(self.starting.lock().await);
        for n in self.running_names() {
            let _ = self.stop(&n).await;
        }
    }

    /// The status of every pair of the store, in name order: a running pair's own, why a
    /// pair could not start, or `Stopped`.
    pub fn statuses(&self) -> Vec<PairStatus> {
        let pairs = self.store.list().unwrap_or_default();
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        pairs
            .into_iter()
            .map(|p| match (running.get(&p.name), failed.get(&p.name)) {
                (Some((sync, _)), _) => sync.status(),
                (None, Some(status)) => status.clone(),
                (None, None) => PairStatus {
                    pair: p.name,
                    ..Default::default()
                },
            })
            .collect()
    }

    /// Every pair with its status, in name order.
    pub fn overview(&self) -> Vec<PairOverview> {
        let pairs = self.store.list().unwrap_or_default();
        let mut statuses = self.statuses().into_iter();
        pairs
            .into_iter()
            .map(|mut pair| {
                // A running pair's own state is the truth (a pause is applied before the
                // file records it).
                if let Some(s) = self.get(&pair.name) {
                    pair.paused = s.is_paused();
                }
                let status = statuses
                    .find(|s| s.pair == pair.name)
                    .unwrap_or_else(|| PairStatus {
                        pair: pair.name.clone(),
                        ..Default::default()
                    });
                PairOverview { pair, status }
            })
            .collect()
    }

    /// Follows the pairs file as other processes change it (`ossvault sync add`, `rm`,
    /// `pause`, `resume`, a bandwidth limit), until the returned future is dropped: a new pair
    /// starts (with [`Follow::All`]), a removed one stops (and its index and checkpoints go),
    /// a pause or a limit reaches the running pair at once. A pair another process syncs is
    /// shown stopped and tried again every few seconds, so it is taken over once that process
    /// lets go. The file is watched (`notify`); where it cannot be, it is read every 2 s.
    /// Ends after [`SyncEngine::stop_all`] (at its next wake-up).
    pub async fn follow_store(&self, scope: Follow) {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let watcher = self.watch_pairs_file(tx);
        if let Err(e) = &watcher {
            tracing::warn!("{e}; reading the pairs every {STORE_POLL:?}");
        }
        while !self.closed.load(Ordering::Relaxed) {
            let held = self.follow_once(scope).await;
            let retry = if watcher.is_err() {
                Some(STORE_POLL)
            } else {
                held.then_some(HELD_RETRY)
            };
            // Without a watch the channel is closed: only the timer wakes.
            tokio::select! {
                _ = rx.recv(), if watcher.is_ok() => {
                    // The rest of the save's events.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ = tokio::time::sleep(retry.unwrap_or(Duration::MAX)), if retry.is_some() => {}
            }
            while rx.try_recv().is_ok() {}
        }
    }

    /// A watch of the sync directory that sends on every change of the pairs file (a save
    /// is a few events: the loop takes them together).
    fn watch_pairs_file(
        &self,
        tx: mpsc::UnboundedSender<()>,
    ) -> Result<notify::RecommendedWatcher> {
        let dir = self.store.dir().to_owned();
        ossvault_fs::create_private_dir_all(&dir).map_err(Error::io(&dir))?;
        let cannot =
            |e: notify::Error| Error::InvalidInput(format!("cannot watch {}: {e}", dir.display()));
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = match res {
                Ok(e) => {
                    e.need_rescan()
                        || (changes_content(&e.kind)
                            && e.paths.iter().any(|p| {
                                p.file_name().is_some_and(|n| n == crate::pair::PAIRS_FILE)
                            }))
                }
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        })
        .map_err(cannot)?;
        notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive)
            .map_err(cannot)?;
        Ok(watcher)
    }

    /// Brings the running pairs in line with the store once; returns whether a pair is left
    /// to another process (worth trying again later).
    async fn follow_once(&self, scope: Follow) -> bool {
        let pairs = match self.store.list() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "the sync pairs cannot be read");
                return false;
            }
        };
        let listed = |name: &str| pairs.iter().any(|p| p.name == name);
        let running = self.running_names();
        for name in running.iter().filter(|n| !listed(n)) {
            tracing::info!(pair = %name, "removed by another process: stopping");
            if let Err(e) = self.stop(name).await {
                tracing::warn!(pair = %name, error = %e, "the removed pair stopped badly");
            }
            if let Err(e) = self.store.clear_state(name) {
                tracing::warn!(pair = %name, error = %e, "the removed pair's state stays");
            }
        }
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| listed(name));
        let mut held = false;
        for p in &pairs {
            if let Some(sync) = self.get(&p.name) {
                if sync.is_paused() != p.paused {
                    sync.set_paused(p.paused);
                }
                sync.set_bandwidth_limit(p.bandwidth_limit);
                continue;
            }
            let failed = self
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&p.name);
            if scope == Follow::All && !failed {
                match self.start(&p.name).await {
                    Ok(_) => tracing::info!(pair = %p.name, "added by another process: started"),
                    Err(Error::Locked(_)) => held = true,
                    Err(e) => tracing::warn!(pair = %p.name, error = %e, "sync pair not started"),
                }
            }
        }
        // Paused flags and limits are part of what watchers are sent.
        self.changed();
        held
    }

    /// Calls `send` with every pair and its status now and after each change (pairs added,
    /// removed, paused, resumed, any status changed), only when something differs from what
    /// was sent; ends when `send` returns false. A change made by a command (pause, resume,
    /// add, remove…) goes out at once, so a click is answered without waiting; the statuses of
    /// busy pairs are coalesced to at most one update per `min_interval`.
    pub async fn watch_statuses(
        &self,
        min_interval: Duration,
        mut send: impl FnMut(&[PairOverview]) -> bool,
    ) {
        let mut changes = self.changes.subscribe();
        let mut last: Option<Vec<PairOverview>> = None;
        let mut sent_at: Option<Instant> = None;
        loop {
            changes.mark_unchanged();
            let mut receivers: Vec<watch::Receiver<PairStatus>> = self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .map(|(s, _)| s.subscribe())
                .collect();
            let now = self.overview();
            if last.as_ref() != Some(&now) {
                if !send(&now) {
                    return;
                }
                last = Some(now);
                sent_at = Some(Instant::now());
            }
            let any_status = async {
                if receivers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let waits = receivers.iter_mut().map(|r| Box::pin(r.changed()));
                let _ = futures_util::future::select_all(waits).await;
            };
            tokio::select! {
                _ = changes.changed() => continue,
                _ = any_status => {}
            }
            // Coalesce a burst of status changes into one update, unless a command changes
            // something meanwhile.
            let due = sent_at.map_or_else(Instant::now, |t| t + min_interval);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = changes.changed() => {}
            }
        }
    }

    /// Pairs a folder ([`PairStore::create`]: the folder exists and is in no pair, the key is
    /// in the keystore) and starts it. A pair that cannot start stays, with the reason as
    /// its status.
    pub async fn add(&self, new: crate::pair::NewPair) -> Result<Pair> {
        let keystore = self.keystore.clone();
        let pair = self.store.create(new, move |key| {
            keystore()?
                .get(key)
                .map(|_| ())
                .map_err(|e| Error::Ops(e.into()))
        })?;
        let _ = self.start(&pair.name).await;
        self.changed();
        Ok(pair)
    }

    /// Pauses a pair (remembered across restarts): transfers in flight finish, no new one
    /// starts.
    pub fn pause(&self, name: &str) -> Result<()> {
        self.set_paused(name, true)
    }

    pub fn resume(&self, name: &str) -> Result<()> {
        self.set_paused(name, false)
    }

    /// A running pair is paused or resumed, and watchers told, before the pairs file records
    /// it (a durable write that can take a while on a busy disk): a click is answered at once.
    /// If the file cannot record it, the pair goes back as it was and the error is returned.
    fn set_paused(&self, name: &str, paused: bool) -> Result<()> {
        let running = self.get(name);
        let was = running.as_ref().map(|s| s.is_paused());
        if let Some(s) = &running {
            s.set_paused(paused);
            self.changed();
        }
        let recorded = self.store.update(name, |p| p.paused = paused);
        if let (Err(_), Some(s), Some(was)) = (&recorded, &running, was) {
            s.set_paused(was);
        }
        self.changed();
        recorded.map(|_| ())
    }

    /// Pauses (or resumes) every pair.
    pub fn set_all_paused(&self, paused: bool) -> Result<()> {
        for p in self.store.list()? {
            if paused {
                self.pause(&p.name)?;
            } else {
                self.resume(&p.name)?;
            }
        }
        Ok(())
    }

    /// Stops a pair and forgets it (its index and checkpoints): the local folder and the
    /// remote objects stay as they are.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let _starting = self.starting.lock().await;
        self.store.get(name)?;
        self.stop(name).await?;
        self.store.remove(name)?;
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.changed();
        Ok(())
    }

    /// Bytes per second, up and down together (`None`: unlimited), remembered with the pair.
    pub fn set_bandwidth_limit(&self, name: &str, limit: Option<u64>) -> Result<Pair> {
        let limit = limit.filter(|l| *l > 0);
        let pair = self.store.update(name, |p| p.bandwidth_limit = limit)?;
        if let Some(s) = self.get(name) {
            s.set_bandwidth_limit(limit);
        }
        Ok(pair)
    }

    /// A page of the pair's files (see [`FilesPage`]), from its index and its status.
    pub fn files(&self, name: &str, after: Option<&str>, limit: usize) -> Result<FilesPage> {
        self.store.get(name)?;
        let limit = limit.clamp(1, 1000);
        let (entries, status) = match self.get(name) {
            Some(sync) => (sync.index().page(after, limit)?, sync.status()),
            None => {
                let index = Index::open(&self.store.state_dir(name).join("index.redb"))?;
                (index.page(after, limit)?, read_status(&self.store, name)?)
            }
        };
        let mut files = Vec::new();
        if after.is_none() {
            for (path, state) in &status.files {
                let indexed = entries
                    .binary_search_by(|(p, _)| p.as_str().cmp(path))
                    .is_ok();
                if !indexed {
                    files.push(FileRow {
                        path: path.clone(),
                        size: None,
                        state: state.clone(),
                    });
                }
            }
        }
        let next = (entries.len() == limit).then(|| entries[entries.len() - 1].0.clone());
        for (path, e) in entries {
            let state = status
                .files
                .get(&path)
                .cloned()
                .unwrap_or(FileState::Synced);
            files.push(FileRow {
                path,
                size: Some(e.size),
                state,
            });
        }
        Ok(FilesPage { files, next })
    }

    /// The pair's open conflicts, newest first.
    pub fn conflicts(&self, name: &str) -> Result<Vec<crate::conflict::OpenConflict>> {
        crate::conflict::open_conflicts(&self.store, &self.store.get(name)?)
    }

    /// Resolves a conflict ([`crate::conflict::resolve`]); the pair's next pass carries the
    /// choice to the other side.
    pub fn resolve_conflict(
        &self,
        name: &str,
        copy: &str,
        resolution: crate::conflict::Resolution,
    ) -> Result<crate::conflict::OpenConflict> {
        let pair = self.store.get(name)?;
        let resolved = crate::conflict::resolve(&self.store, &pair, copy, resolution)?;
        if let Some(s) = self.get(name) {
            s.clear_file(&resolved.path);
        }
        self.changed();
        Ok(resolved)
    }

    /// The local file of one version of a conflict (`remote`: the remote version's).
    pub fn conflict_file(&self, name: &str, copy: &str, remote: bool) -> Result<PathBuf> {
        let pair = self.store.get(name)?;
        Ok(crate::conflict::find(&self.store, &pair, copy)?.file(&pair, remote))
    }

    /// The pair's ignore rules ([`crate::scan::ignore_rules`]).
    pub fn ignore_rules(&self, name: &str) -> Result<String> {
        crate::scan::ignore_rules(&self.store.get(name)?.local)
    }

    /// Saves the pair's ignore rules; the watcher sees the file change and rescans.
    pub fn set_ignore_rules(&self, name: &str, rules: &str) -> Result<()> {
        crate::scan::set_ignore_rules(&self.store.get(name)?.local, rules)
    }

    /// The pair's recently deleted and overwritten versions, newest first.
    pub async fn trash(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<crate::restore::TrashVersion>> {
        let pair = self.store.get(name)?;
        let client = (self.connector)(&pair)?;
        crate::restore::trash(&client, &pair, limit).await
    }

    /// Restores one kept version (`key` as it was, its `stamp`) into the pair's folder: at
    /// its place, or beside it as `name.restored-STAMP.ext` when the name is taken.
    pub async fn restore(
        &self,
        name: &str,
        key: &str,
        stamp: &str,
    ) -> Result<crate::restore::Restored> {
        let pair = self.store.get(name)?;
        let at = crate::restore::parse_stamp(stamp)
            .ok_or_else(|| Error::InvalidInput(format!("not a version stamp: {stamp:?}")))?;
        if pair.bucket.is_empty() || !key.starts_with(&pair.prefix) {
            return Err(Error::InvalidInput(format!(
                "{key:?} is not in the pair {name:?}"
            )));
        }
        let client = (self.connector)(&pair)?;
        let pairs = [pair.clone()];
        crate::restore::restore(
            &client,
            &self.keystore,
            &pairs,
            &pair.bucket,
            key,
            Some(at),
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_is_one_wake_up_and_a_stream_of_them_is_not_held_forever() {
        let quiet = Duration::from_millis(200);
        let (events, raw) = mpsc::unbounded_channel();
        let (out, mut woken) = mpsc::unbounded_channel();
        tokio::spawn(debounce(raw, out, quiet));
        // A burst (an editor's save: several events in a few ms), one of them an overflow.
        let start = tokio::time::Instant::now();
        for overflow in [false, true, false] {
            events.send(overflow).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(woken.recv().await, Some(true));
        let after = start.elapsed();
        assert!(after >= quiet && after < quiet * 2, "{after:?}");
        assert!(woken.try_recv().is_err(), "one wake-up per burst");
        // A file written on and on (an event every 50 ms): looked at after 10 × quiet.
        let start = tokio::time::Instant::now();
        let writer = tokio::spawn(async move {
            loop {
                if events.send(false).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let got = tokio::time::timeout(quiet * 20, woken.recv()).await;
        assert_eq!(
            got,
            Ok(Some(false)),
            "a stream of events held the wake-up back"
        );
        let after = start.elapsed();
        assert!(after >= quiet * 10 && after < quiet * 11, "{after:?}");
        writer.abort();
    }

    #[test]
    fn an_idle_remote_is_listed_less_often_until_something_changes() {
        let base = Duration::from_secs(10);
        let mut pace = RemotePace::new(base);
        for expected in [20, 40, 80, 120, 120] {
            pace.after_pass(true, false);
            assert_eq!(pace.every(), Duration::from_secs(expected));
        }
        // A pass without a listing that changed nothing says nothing of the remote side.
        pace.after_pass(false, false);
        assert_eq!(pace.every(), Duration::from_secs(120));
        pace.after_pass(false, true);
        assert_eq!(pace.every(), base);
        pace.after_pass(true, false);
        pace.reset();
        assert_eq!(pace.every(), base);
    }
}

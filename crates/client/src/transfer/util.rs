//! Pieces shared by uploads and downloads: progress accounting, the retries a transfer adds on
//! top of [`Client::send`](crate::Client)'s, file identity, directory fsync.

use super::{OnProgress, TransferProgress};
use crate::{Client, Error};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::task::JoinError;

/// Bytes done of one transfer, shared by its tasks, reported to the caller's callback.
pub(super) struct Progress {
    done: AtomicU64,
    total: u64,
    callback: Option<OnProgress>,
}

impl Progress {
    pub fn new(total: u64, callback: Option<OnProgress>) -> Arc<Self> {
        Arc::new(Progress {
            done: AtomicU64::new(0),
            total,
            callback,
        })
    }

    /// Sets the bytes done (at the start: what a checkpoint already holds) and reports it.
    pub fn start_at(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.report(done);
    }

    /// Counts `n` more bytes done and reports the new total.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.report(done);
    }

    fn report(&self, done: u64) {
        if let Some(callback) = &self.callback {
            callback(TransferProgress {
                done,
                total: self.total,
            });
        }
    }
}

/// Which failures a transfer repeats itself, on top of the retries of `Client::send`.
///
/// `send` retries what it can see and may safely repeat: connection errors, 5xx and 429
/// answers, for idempotent requests only, and only until the response headers arrive. Two
/// gaps remain, which a transfer must close to survive a flaky network, without multiplying
/// the attempts `send` already made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// An idempotent request whose response body was cut short while being read: `send` had
    /// already returned, so it never saw the failure.
    BodyCut,
    /// A POST (Initiate, Complete), which `send` does not repeat: a 5xx or 429 answer, or a
    /// network failure after the connection was made (connect errors `send` did retry).
    Post,
}

/// Whether `e` is a transient failure that a retry of kind `kind` repeats.
pub(super) fn is_transient(e: &Error, kind: Retry) -> bool {
    match (e, kind) {
        // reqwest reports a failure while reading a response body as a decode error.
        (Error::Transport(t), Retry::BodyCut) => t.is_decode(),
        (Error::Transport(t), Retry::Post) => !t.is_connect() && !t.is_builder(),
        (Error::Service(s), Retry::Post) => s.status >= 500 || s.status == 429,
        _ => false,
    }
}

/// Runs `op` until it succeeds, fails for good, or has been tried `max_attempts` times, with
/// the client's backoff between attempts.
pub(super) async fn retrying<T, F, Fut>(client: &Client, kind: Retry, mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let policy = &client.config().retry;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < policy.max_attempts && is_transient(&e, kind) => {
                tracing::debug!(error = %e, attempt, "retrying a transfer step");
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// What identifies a version of a local file: a checkpoint is only valid for the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileVersion {
    pub size: u64,
    /// Modification time, in nanoseconds since the Unix epoch (negative before it).
    pub mtime_ns: i64,
}

/// The size and modification time of the regular file at `path`.
pub(super) async fn file_version(path: &Path) -> Result<FileVersion, Error> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    if !meta.is_file() {
        return Err(Error::io(
            format!("cannot upload {}", path.display()),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let mtime = meta
        .modified()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mtime_ns = match mtime.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    };
    Ok(FileVersion {
        size: meta.len(),
        mtime_ns,
    })
}

/// Fails if the file at `path` is no longer `version`: what was sent may mix two versions.
pub(super) async fn ensure_unchanged(path: &Path, version: FileVersion) -> Result<(), Error> {
    if file_version(path).await? != version {
        return Err(Error::io(
            format!("{} changed while it was being uploaded", path.display()),
            std::io::Error::other("its size or modification time changed"),
        ));
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The result of a joined task; a panic in the task is resumed here.
pub(super) fn joined<T>(result: Result<Result<T, Error>, JoinError>) -> Result<T, Error> {
    match result {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Tasks are only aborted by `JoinSet::shutdown`, after which nothing is joined.
        Err(_) => Err(Error::Cancelled),
    }
}

//! Downloads: into a temp file beside the target (`.<name>.ossvault-part`), by one streaming
//! GET below the parallel threshold, by `jobs` ranged GETs in flight above it (resumable from a
//! checkpoint); then the temp file is checked against the object's CRC-64, fsynced and renamed
//! over the target. The target name only ever holds a complete, verified file.

use super::checkpoint;
use super::util::{joined, parent_dir, Progress};
use super::{DownloadOptions, DownloadOutcome};
use crate::{Client, Error, ObjectMeta, RangeSpec};
use futures_util::StreamExt;
use ossvault_fs::sync_dir;
use ossvault_proto::crc64::Crc64;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::task::JoinSet;

/// What a parallel download's checkpoint records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct DownloadCheckpoint {
    version: u32,
    bucket: String,
    key: String,
    /// The absolute target path (informative: the checkpoint's name already hashes it).
    target: String,
    /// The object version the temp file holds parts of: another ETag or size starts over.
    etag: String,
    size: u64,
    part_size: u64,
    /// Indices of the ranges written (and fsynced) to the temp file, ascending.
    done: Vec<u64>,
}

/// What every range fetch of one download shares.
struct Fetch {
    client: Client,
    bucket: String,
    key: String,
    /// The object as HEAD saw it; a GET answering another version fails the download.
    etag: String,
    size: u64,
    temp: PathBuf,
    progress: Arc<Progress>,
    /// Fsync each finished range, so a checkpoint never claims bytes a power cut could lose.
    durable: bool,
    limiter: Option<Arc<super::RateLimiter>>,
}

/// What a download leaves behind, for the clean-up after a failure or cancellation.
struct Session {
    checkpoint: Option<PathBuf>,
    /// The absolute target path, recorded in the checkpoint.
    abs_target: Option<PathBuf>,
    /// Whether the checkpoint on disk describes the temp file: only then is the temp file
    /// kept after a failure, for a later call to resume.
    resumable: bool,
    /// The ranges in flight, outside the download's future so they can be stopped and waited
    /// for before the temp file is removed.
    tasks: JoinSet<Result<u64, Error>>,
}

/// Downloads `bucket/key` to `path`: into a temp file beside it, verified, then renamed, so a
/// failure never leaves a partial file under the target name.
pub async fn download_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadOutcome, Error> {
    if opts.cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    if opts.part_size == 0 {
        return Err(Error::InvalidInput("the part size must not be 0".into()));
    }
    let Some(name) = path.file_name() else {
        return Err(Error::InvalidInput(format!(
            "{} does not name a file",
            path.display()
        )));
    };
    let dir = parent_dir(path);
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(".ossvault-part");
    let temp = dir.join(temp_name);

    let meta = match &opts.known_meta {
        Some(meta) => meta.clone(),
        None => tokio::select! {
            biased;
            _ = opts.cancel.cancelled() => return Err(Error::Cancelled),
            meta = client.head_object(bucket, key) => meta?,
        },
    };
    let parallel = meta.size > 0 && meta.size >= opts.parallel_threshold;
    let checkpoint = match (&opts.checkpoint_dir, parallel) {
        (Some(checkpoint_dir), true) => {
            let abs_dir = tokio::fs::canonicalize(dir)
                .await
                .map_err(|e| Error::io(format!("cannot resolve {}", dir.display()), e))?;
            Some((
                checkpoint::path_for(checkpoint_dir, "download", bucket, key, &abs_dir.join(name)),
                abs_dir.join(name),
            ))
        }
        _ => None,
    };
    let fetch = Arc::new(Fetch {
        client: client.clone(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag: meta.etag.clone(),
        size: meta.size,
        temp,
        progress: Progress::new(meta.size, opts.progress.clone()),
        durable: checkpoint.is_some(),
        limiter: opts.limiter.clone(),
    });
    let mut session = Session {
        checkpoint: checkpoint.as_ref().map(|(c, _)| c.clone()),
        abs_target: checkpoint.map(|(_, t)| t),
        resumable: false,
        tasks: JoinSet::new(),
    };
    let result = tokio::select! {
        biased;
        _ = opts.cancel.cancelled() => Err(Error::Cancelled),
        result = run(&fetch, path, &meta, parallel, opts, &mut session) => result,
    };
    session.tasks.shutdown().await;
    if let Err(e) = &result {
        // With a checkpoint, what was fetched is kept for a resume; a CRC mismatch means
        // it cannot be trusted, so it goes too.
        if !session.resumable || matches!(e, Error::Crc { .. }) {
            remove_quietly(&fetch.temp).await;
            if let Some(path) = &session.checkpoint {
                checkpoint::remove(path).await;
            }
        }
    }
    result
}

async fn run(
    fetch: &Arc<Fetch>,
    target: &Path,
    meta: &ObjectMeta,
    parallel: bool,
    opts: &DownloadOptions,
    session: &mut Session,
) -> Result<DownloadOutcome, Error> {
    let bytes_resumed = if parallel {
        download_ranges(fetch, opts, session).await?
    } else {
        create_temp(&fetch.temp, 0).await?;
        fetch.progress.start_at(0);
        if fetch.size > 0 {
            fetch_range(fetch, 0, fetch.size).await?;
        }
        0
    };
    commit(fetch, target, meta.crc64).await?;
    if let Some(path) = &session.checkpoint {
        checkpoint::remove(path).await;
    }
    Ok(DownloadOutcome {
        size: fetch.size,
        etag: fetch.etag.clone(),
        bytes_resumed,
    })
}

/// Fetches every range not yet in the checkpoint, `jobs` at a time; returns the bytes the
/// checkpoint already held.
async fn download_ranges(
    fetch: &Arc<Fetch>,
    opts: &DownloadOptions,
    session: &mut Session,
) -> Result<u64, Error> {
    let part_size = opts.part_size;
    let count = fetch.size.div_ceil(part_size);
    let range = |i: u64| (i * part_size, ((i + 1) * part_size).min(fetch.size));
    let mut state = DownloadCheckpoint {
        version: checkpoint::FORMAT_VERSION,
        bucket: fetch.bucket.clone(),
        key: fetch.key.clone(),
        target: session
            .abs_target
            .as_deref()
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default(),
        etag: fetch.etag.clone(),
        size: fetch.size,
        part_size,
        done: Vec::new(),
    };
    let mut done: BTreeSet<u64> = match resumable_ranges(fetch, session, &state).await {
        Some(done) => {
            // The checkpoint on disk already describes the temp file: keep both on failure.
            session.resumable = true;
            done.into_iter().filter(|&i| i < count).collect()
        }
        None => {
            // A stale checkpoint goes first: were it left beside the new, zeroed temp file,
            // a crash before the next save could have it vouch for ranges never written.
            if let Some(path) = &session.checkpoint {
                checkpoint::remove(path).await;
            }
            // Full length from the start (sparse), so each range writes at its own offset
            // and a resume can check the file is the one the checkpoint describes.
            create_temp(&fetch.temp, fetch.size).await?;
            BTreeSet::new()
        }
    };
    if let Some(path) = &session.checkpoint {
        state.done = done.iter().copied().collect();
        checkpoint::save(path, &state).await?;
        session.resumable = true;
    }
    let bytes_resumed = done
        .iter()
        .map(|&i| {
            let (start, end) = range(i);
            end - start
        })
        .sum();
    fetch.progress.start_at(bytes_resumed);

    let pending: Vec<u64> = (0..count).filter(|i| !done.contains(i)).collect();
    let mut pending = pending.into_iter();
    loop {
        while session.tasks.len() < opts.jobs.max(1) {
            let Some(index) = pending.next() else { break };
            let (start, end) = range(index);
            let fetch = fetch.clone();
            session.tasks.spawn(async move {
                fetch_range(&fetch, start, end).await?;
                Ok(index)
            });
        }
        let Some(finished) = session.tasks.join_next().await else {
            break;
        };
        done.insert(joined(finished)?);
        if let Some(path) = &session.checkpoint {
            state.done = done.iter().copied().collect();
            checkpoint::save(path, &state).await?;
        }
    }
    Ok(bytes_resumed)
}

/// The ranges already fetched, when the checkpoint describes this object version and part
/// size and the temp file is still there, at full length.
async fn resumable_ranges(
    fetch: &Fetch,
    session: &Session,
    fresh: &DownloadCheckpoint,
) -> Option<Vec<u64>> {
    let saved: DownloadCheckpoint = checkpoint::load(session.checkpoint.as_ref()?).await?;
    let same = saved.version == fresh.version
        && saved.bucket == fresh.bucket
        && saved.key == fresh.key
        && saved.etag == fresh.etag
        && saved.size == fresh.size
        && saved.part_size == fresh.part_size;
    let temp_len = tokio::fs::metadata(&fetch.temp).await.ok()?.len();
    if !same || temp_len != fetch.size {
        tracing::info!(key = %fetch.key, "the object or the temp file changed; starting the download over");
        return None;
    }
    Some(saved.done)
}

/// Creates (or truncates) the temp file, `len` bytes long.
async fn create_temp(temp: &Path, len: u64) -> Result<(), Error> {
    let context = || format!("cannot create {}", temp.display());
    let file = tokio::fs::File::create(temp)
        .await
        .map_err(|e| Error::io(context(), e))?;
    if len > 0 {
        file.set_len(len)
            .await
            .map_err(|e| Error::io(context(), e))?;
    }
    Ok(())
}

/// Why reading one response body stopped early.
enum Stop {
    /// The body was cut short (network): fetching the rest again may well work.
    Cut(Error),
    /// Anything else (a local write failure, a wrong answer): fails the download.
    Fatal(Error),
}

/// Fetches bytes `start..end` of the object into the temp file at the same offsets.
///
/// `Client::send` retries a request until its response headers arrive; a body cut short
/// after that is retried here, asking only for the bytes still missing. Attempts are counted
/// as `send` counts them, but the count restarts whenever an attempt brought bytes, so a long
/// range over a flaky link is not failed for cuts it recovered from.
async fn fetch_range(fetch: &Fetch, start: u64, end: u64) -> Result<(), Error> {
    let context = || format!("cannot write {}", fetch.temp.display());
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&fetch.temp)
        .await
        .map_err(|e| Error::io(context(), e))?;
    let policy = &fetch.client.config().retry;
    // The whole object is asked for without a Range, as a plain GET (the simple download).
    let whole = start == 0 && end == fetch.size;
    let mut pos = start;
    let mut failures = 0;
    while pos < end {
        let range = (!(whole && pos == 0)).then_some(RangeSpec::From {
            start: pos,
            end: Some(end - 1),
        });
        let (meta, response) = fetch
            .client
            .get_object(&fetch.bucket, &fetch.key, range)
            .await?;
        check_answer(fetch, &meta, &response, range.map(|_| pos))?;
        file.seek(SeekFrom::Start(pos))
            .await
            .map_err(|e| Error::io(context(), e))?;
        let before = pos;
        match copy_body(fetch, response, &mut file, &mut pos, end).await {
            Ok(()) => {}
            Err(Stop::Fatal(e)) => return Err(e),
            Err(Stop::Cut(e)) => {
                failures = if pos > before { 1 } else { failures + 1 };
                if failures >= policy.max_attempts {
                    return Err(e);
                }
                tracing::debug!(error = %e, pos, "download cut short; fetching the rest");
                // Let the bytes written so far land before seeking elsewhere.
                file.flush().await.map_err(|e| Error::io(context(), e))?;
                tokio::time::sleep(policy.delay(failures)).await;
            }
        }
    }
    file.flush().await.map_err(|e| Error::io(context(), e))?;
    if fetch.durable {
        file.sync_data()
            .await
            .map_err(|e| Error::io(context(), e))?;
    }
    Ok(())
}

/// Checks that a GET answered the version HEAD saw, and the bytes asked for (`range_start`
/// when a Range was sent): a server ignoring the Range would otherwise have the whole object
/// written at the range's offset.
fn check_answer(
    fetch: &Fetch,
    meta: &ObjectMeta,
    response: &reqwest::Response,
    range_start: Option<u64>,
) -> Result<(), Error> {
    if meta.etag != fetch.etag || meta.size != fetch.size {
        return Err(Error::InvalidResponse(format!(
            "{} changed during the download (ETag {} → {}, size {} → {})",
            fetch.key, fetch.etag, meta.etag, fetch.size, meta.size
        )));
    }
    let status = response.status().as_u16();
    let answered_start = meta
        .header("content-range")
        .and_then(|r| r.strip_prefix("bytes "))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<u64>().ok());
    let as_asked = match range_start {
        None => status == 200,
        Some(start) => status == 206 && answered_start == Some(start),
    };
    if !as_asked {
        return Err(Error::InvalidResponse(format!(
            "asked {} for bytes from {}, got HTTP {status} ({})",
            fetch.key,
            range_start.unwrap_or(0),
            meta.header("content-range").unwrap_or("no Content-Range")
        )));
    }
    Ok(())
}

/// Streams one response body into `file` (positioned at `*pos`), advancing `*pos` and the
/// progress with every chunk written.
async fn copy_body(
    fetch: &Fetch,
    response: reqwest::Response,
    file: &mut tokio::fs::File,
    pos: &mut u64,
    end: u64,
) -> Result<(), Stop> {
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Stop::Cut(e.into()))?;
        let len = chunk.len() as u64;
        if let Some(limiter) = &fetch.limiter {
            limiter.acquire(len).await;
        }
        if len > end - *pos {
            return Err(Stop::Fatal(Error::InvalidResponse(format!(
                "the answer for {} is longer than the bytes asked for",
                fetch.key
            ))));
        }
        file.write_all(&chunk).await.map_err(|e| {
            Stop::Fatal(Error::io(
                format!("cannot write {}", fetch.temp.display()),
                e,
            ))
        })?;
        *pos += len;
        fetch.progress.add(len);
    }
    if *pos < end {
        return Err(Stop::Cut(Error::InvalidResponse(format!(
            "the answer for {} ended {} bytes early",
            fetch.key,
            end - *pos
        ))));
    }
    Ok(())
}

/// Checks the temp file (length, and CRC-64 when the object has one), fsyncs it and renames
/// it over the target, then fsyncs the directory so the rename survives a crash.
async fn commit(fetch: &Fetch, target: &Path, expected_crc: Option<u64>) -> Result<(), Error> {
    let temp = fetch.temp.clone();
    let target = target.to_owned();
    let (key, size) = (fetch.key.clone(), fetch.size);
    tokio::task::spawn_blocking(move || {
        let context = |what: &str| format!("cannot {what} {}", temp.display());
        // Writable: Windows cannot flush a file opened read-only.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&temp)
            .map_err(|e| Error::io(context("open"), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(context("read"), e))?
            .len();
        if len != size {
            return Err(Error::io(
                context("use"),
                std::io::Error::other(format!("it has {len} bytes, the object {size}")),
            ));
        }
        if let Some(expected) = expected_crc {
            let actual = crc64_of(&mut file).map_err(|e| Error::io(context("read"), e))?;
            if actual != expected {
                return Err(Error::Crc {
                    what: key,
                    expected,
                    actual,
                });
            }
        }
        file.sync_all().map_err(|e| Error::io(context("sync"), e))?;
        drop(file);
        std::fs::rename(&temp, &target).map_err(|e| {
            Error::io(
                format!("cannot rename {} to {}", temp.display(), target.display()),
                e,
            )
        })?;
        let dir = parent_dir(&target);
        sync_dir(dir).map_err(|e| Error::io(format!("cannot sync {}", dir.display()), e))
    })
    .await
    .map_err(|e| Error::io("cannot finish the download", std::io::Error::other(e)))?
}

/// The CRC-64 of a whole file, read in bounded chunks.
fn crc64_of(file: &mut std::fs::File) -> std::io::Result<u64> {
    let mut crc = Crc64::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(crc.finish()),
            Ok(n) => crc.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete the temp file"),
    }
}

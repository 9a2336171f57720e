//! Uploads: one PutObject below the multipart threshold; above it, a multipart upload with
//! `jobs` parts in flight, each streamed from its range of the file (never buffered whole),
//! and resumable from a checkpoint.

use super::checkpoint;
use super::util::{
    ensure_unchanged, file_version, is_transient, joined, retrying, FileVersion, Progress, Retry,
};
use super::{OnCancel, UploadOptions, UploadOutcome};
use crate::{Client, CompleteResult, Error, PartInfo, PutOptions, RequestBody};
use ossvault_proto::limits::{self, MAX_PART_SIZE, MIN_PART_SIZE};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinSet;

/// [`limits::MAX_PARTS`] as the byte arithmetic of part sizes wants it.
const MAX_PARTS: u64 = limits::MAX_PARTS as u64;

/// What a multipart upload's checkpoint records: enough to tell whether it still describes
/// the same file and upload, and the parts known to be uploaded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct UploadCheckpoint {
    version: u32,
    bucket: String,
    key: String,
    /// The absolute path of the file (informative: the checkpoint's name already hashes it).
    path: String,
    file_size: u64,
    file_mtime_ns: i64,
    part_size: u64,
    /// A digest of the upload's [`PutOptions`]: Initiate fixed the object's metadata, so an
    /// upload started with other options cannot be resumed into the object now asked for.
    put_options: String,
    upload_id: String,
    /// Finished parts, ascending.
    parts: Vec<PartInfo>,
}

/// One upload's fixed inputs.
struct Job<'a> {
    client: &'a Client,
    /// Canonical (absolute) for multipart uploads, so the checkpoint is found from any cwd.
    path: &'a Path,
    bucket: &'a str,
    key: &'a str,
    opts: &'a UploadOptions,
    file: FileVersion,
}

/// What a multipart upload leaves behind, for the clean-up after a failure or cancellation.
struct Session {
    upload_id: Option<String>,
    checkpoint: Option<PathBuf>,
    /// Whether the checkpoint on disk names `upload_id`: only then can a later call resume
    /// it (a failed first save must not leave an upload nothing refers to).
    resumable: bool,
    /// The parts in flight. Kept outside the upload's future so that they can be stopped and
    /// waited for (`shutdown`) before an Abort, which they would otherwise race.
    tasks: JoinSet<Result<PartInfo, Error>>,
}

/// Uploads `path` to `bucket/key` (simple PUT below the threshold, resumable multipart above).
pub async fn upload_file(
    client: &Client,
    path: &Path,
    bucket: &str,
    key: &str,
    opts: &UploadOptions,
) -> Result<UploadOutcome, Error> {
    if opts.cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&opts.part_size) {
        return Err(Error::InvalidInput(format!(
            "the part size must be between 100 KiB and 5 GiB, not {} bytes",
            opts.part_size
        )));
    }
    let file = file_version(path).await?;
    // An empty file cannot go multipart: Complete wants at least one part.
    if file.size == 0 || file.size < opts.multipart_threshold {
        let job = Job {
            client,
            path,
            bucket,
            key,
            opts,
            file,
        };
        return upload_simple(&job).await;
    }
    let path = tokio::fs::canonicalize(path)
        .await
        .map_err(|e| Error::io(format!("cannot resolve {}", path.display()), e))?;
    let job = Job {
        client,
        path: &path,
        bucket,
        key,
        opts,
        file,
    };
    upload_multipart(&job).await
}

/// One PutObject streaming the whole file.
async fn upload_simple(job: &Job<'_>) -> Result<UploadOutcome, Error> {
    let size = job.file.size;
    let progress = Progress::new(size, job.opts.progress.clone());
    progress.start_at(0);
    let body = RequestBody::File {
        path: job.path.to_owned(),
        offset: 0,
        len: size,
    };
    let put = async {
        if let Some(limiter) = &job.opts.limiter {
            limiter.acquire(size).await;
        }
        job.client
            .put_object(job.bucket, job.key, body, &job.opts.put)
            .await
    };
    let put = tokio::select! {
        biased;
        _ = job.opts.cancel.cancelled() => return Err(Error::Cancelled),
        put = put => put?,
    };
    ensure_unchanged(job.path, job.file).await?;
    progress.add(size);
    discard_stale_checkpoint(job).await;
    Ok(UploadOutcome {
        size,
        etag: put.etag,
        crc64: put.crc64,
        parts_resumed: 0,
        parts_sent: 1,
    })
}

/// After a simple upload replaced the object, a checkpoint left by an earlier multipart
/// attempt (with a higher threshold) names an upload nobody will finish: abort and forget it.
async fn discard_stale_checkpoint(job: &Job<'_>) {
    let Some(dir) = &job.opts.checkpoint_dir else {
        return;
    };
    let Ok(abs) = tokio::fs::canonicalize(job.path).await else {
        return;
    };
    let path = checkpoint::path_for(dir, "upload", job.bucket, job.key, &abs);
    if let Some(stale) = checkpoint::load::<UploadCheckpoint>(&path).await {
        if stale.bucket == job.bucket && stale.key == job.key {
            abort_quietly(job, &stale.upload_id).await;
        }
        checkpoint::remove(&path).await;
    }
}

async fn upload_multipart(job: &Job<'_>) -> Result<UploadOutcome, Error> {
    let mut session = Session {
        upload_id: None,
        resumable: false,
        checkpoint: job
            .opts
            .checkpoint_dir
            .as_ref()
            .map(|dir| checkpoint::path_for(dir, "upload", job.bucket, job.key, job.path)),
        tasks: JoinSet::new(),
    };
    // Cancellation drops the upload's future at its current await: requests in flight in
    // this task are dropped with it; the part tasks are aborted just below.
    let result = tokio::select! {
        biased;
        _ = job.opts.cancel.cancelled() => Err(Error::Cancelled),
        result = run_multipart(job, &mut session) => result,
    };
    session.tasks.shutdown().await;
    if let Err(e) = &result {
        clean_up(job, &session, e).await;
    }
    result
}

/// After a failure: keep the upload and its checkpoint for a later resume when there is a
/// checkpoint (unless the caller cancelled with [`OnCancel::Abort`]); otherwise nothing could
/// ever resume the upload, so abort it rather than leave its parts stored.
async fn clean_up(job: &Job<'_>, session: &Session, error: &Error) {
    let abort_requested =
        matches!(error, Error::Cancelled) && job.opts.on_cancel == OnCancel::Abort;
    if session.resumable && !abort_requested {
        tracing::debug!(error = %error, "upload interrupted; kept for resuming");
        return;
    }
    if let Some(upload_id) = &session.upload_id {
        abort_quietly(job, upload_id).await;
    }
    if let Some(path) = &session.checkpoint {
        checkpoint::remove(path).await;
    }
}

async fn run_multipart(job: &Job<'_>, session: &mut Session) -> Result<UploadOutcome, Error> {
    let part_size = effective_part_size(job.file.size, job.opts.part_size)?;
    let parts_total = job.file.size.div_ceil(part_size) as u32;
    let mut state = match resume(job, session, part_size).await? {
        Some(state) => state,
        None => {
            let upload_id = retrying(job.client, Retry::Post, || {
                job.client
                    .initiate_multipart(job.bucket, job.key, &job.opts.put)
            })
            .await?;
            session.upload_id = Some(upload_id.clone());
            UploadCheckpoint {
                version: checkpoint::FORMAT_VERSION,
                bucket: job.bucket.to_owned(),
                key: job.key.to_owned(),
                path: job.path.to_string_lossy().into_owned(),
                file_size: job.file.size,
                file_mtime_ns: job.file.mtime_ns,
                part_size,
                put_options: put_options_digest(&job.opts.put),
                upload_id,
                parts: Vec::new(),
            }
        }
    };
    // Saved even before the first part: it is what lets a crash right now resume (or at
    // least abort) this upload rather than leave it orphaned.
    if let Some(path) = &session.checkpoint {
        checkpoint::save(path, &state).await?;
        session.resumable = true;
    }
    let mut done: BTreeMap<u32, PartInfo> = state.parts.drain(..).map(|p| (p.number, p)).collect();
    let parts_resumed = done.len() as u32;
    let progress = Progress::new(job.file.size, job.opts.progress.clone());
    progress.start_at(done.values().map(|p| p.size).sum());

    let bucket: Arc<str> = job.bucket.into();
    let key: Arc<str> = job.key.into();
    let upload_id: Arc<str> = state.upload_id.as_str().into();
    let path: Arc<Path> = job.path.into();
    let pending: Vec<u32> = (1..=parts_total)
        .filter(|n| !done.contains_key(n))
        .collect();
    let mut pending = pending.into_iter();
    let mut parts_sent = 0u32;
    loop {
        while session.tasks.len() < job.opts.jobs.max(1) {
            let Some(number) = pending.next() else { break };
            let offset = u64::from(number - 1) * part_size;
            let body = RequestBody::File {
                path: path.to_path_buf(),
                offset,
                len: part_size.min(job.file.size - offset),
            };
            let (client, bucket, key, upload_id, limiter) = (
                job.client.clone(),
                bucket.clone(),
                key.clone(),
                upload_id.clone(),
                job.opts.limiter.clone(),
            );
            session.tasks.spawn(async move {
                if let Some(limiter) = limiter {
                    limiter.acquire(body.len()).await;
                }
                client
                    .upload_part(&bucket, &key, &upload_id, number, body)
                    .await
            });
        }
        let Some(finished) = session.tasks.join_next().await else {
            break;
        };
        // A part that failed after the client's retries fails the upload; the parts already
        // done stay in the checkpoint.
        let part = joined(finished)?;
        parts_sent += 1;
        let size = part.size;
        done.insert(part.number, part);
        if let Some(path) = &session.checkpoint {
            state.parts = done.values().cloned().collect();
            checkpoint::save(path, &state).await?;
        }
        // Reported after the checkpoint is saved, so a caller cancelling from the callback
        // knows every byte reported done will be resumed.
        progress.add(size);
    }

    ensure_unchanged(job.path, job.file).await?;
    let parts: Vec<PartInfo> = done.into_values().collect();
    let completed = complete(job, &state.upload_id, &parts).await?;
    if let Some(path) = &session.checkpoint {
        checkpoint::remove(path).await;
    }
    Ok(UploadOutcome {
        size: job.file.size,
        etag: completed.etag,
        crc64: completed.crc64,
        parts_resumed,
        parts_sent,
    })
}

/// The part size to use for a file of `size` bytes: the one asked for, grown (to a whole
/// number of MiB) when the file would need more than 10000 parts.
pub(super) fn effective_part_size(size: u64, requested: u64) -> Result<u64, Error> {
    if requested.saturating_mul(MAX_PARTS) >= size {
        return Ok(requested);
    }
    let grown = size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    if grown > MAX_PART_SIZE {
        return Err(Error::InvalidInput(format!(
            "a file of {size} bytes is too large for one object (10000 parts of 5 GiB)"
        )));
    }
    Ok(grown)
}

/// The upload state to continue from, when the checkpoint describes this very file and its
/// upload still exists; `None` to start over (after aborting a stale upload).
async fn resume(
    job: &Job<'_>,
    session: &mut Session,
    part_size: u64,
) -> Result<Option<UploadCheckpoint>, Error> {
    let Some(path) = &session.checkpoint else {
        return Ok(None);
    };
    let Some(mut saved) = checkpoint::load::<UploadCheckpoint>(path).await else {
        return Ok(None);
    };
    let same_transfer = saved.bucket == job.bucket && saved.key == job.key;
    let same_file = saved.version == checkpoint::FORMAT_VERSION
        && saved.file_size == job.file.size
        && saved.file_mtime_ns == job.file.mtime_ns
        && saved.part_size == part_size
        && saved.put_options == put_options_digest(&job.opts.put);
    if !(same_transfer && same_file) {
        tracing::info!(upload_id = %saved.upload_id, "the file or options changed; starting the upload over");
        if same_transfer {
            abort_quietly(job, &saved.upload_id).await;
        }
        return Ok(None);
    }
    // From here, a failure keeps this upload for later, and cancelling with OnCancel::Abort
    // aborts it.
    session.upload_id = Some(saved.upload_id.clone());
    session.resumable = true;
    let listed = match retrying(job.client, Retry::BodyCut, || {
        job.client.list_parts(job.bucket, job.key, &saved.upload_id)
    })
    .await
    {
        Ok(listed) => listed,
        // NoSuchUpload: completed or aborted meanwhile, or expired.
        Err(Error::Service(e)) if e.status == 404 => {
            tracing::info!(upload_id = %saved.upload_id, "the checkpointed upload is gone; starting over");
            (session.upload_id, session.resumable) = (None, false);
            return Ok(None);
        }
        // Refused for some other reason that no retry would cure: try a fresh upload.
        Err(Error::Service(e)) if e.status < 500 => {
            tracing::info!(upload_id = %saved.upload_id, error = %e, "cannot resume the upload; starting over");
            abort_quietly(job, &saved.upload_id).await;
            (session.upload_id, session.resumable) = (None, false);
            return Ok(None);
        }
        // A network or server failure: the upload may well be resumable later, keep it.
        Err(e) => return Err(e),
    };
    let on_server: HashMap<u32, _> = listed.iter().map(|p| (p.part_number, p)).collect();
    let parts_total = job.file.size.div_ceil(part_size) as u32;
    let checkpointed = saved.parts.len();
    saved.parts.retain_mut(|part| {
        if !(1..=parts_total).contains(&part.number) {
            return false;
        }
        let expected_size = part_size.min(job.file.size - u64::from(part.number - 1) * part_size);
        let Some(listed) = on_server.get(&part.number) else {
            return false;
        };
        let valid = part.size == expected_size
            && listed.size == part.size
            && same_etag(&listed.etag, &part.etag)
            && part.crc64.is_none_or(|crc| crc == listed.hash_crc64ecma);
        // Complete checks the object's CRC by combining the parts': fill in any unknown.
        part.crc64 = part.crc64.or(Some(listed.hash_crc64ecma));
        valid
    });
    if saved.parts.len() < checkpointed {
        tracing::info!(
            kept = saved.parts.len(),
            dropped = checkpointed - saved.parts.len(),
            "some checkpointed parts do not match the server's; sending them again"
        );
    }
    Ok(Some(saved))
}

/// CompleteMultipartUpload, repeated on transient failures. `Client::complete_multipart` does
/// not repeat it, as a lost answer is ambiguous; here the ambiguity is resolved: if a retry
/// finds the upload gone, the object is checked to be the one these parts make.
async fn complete(
    job: &Job<'_>,
    upload_id: &str,
    parts: &[PartInfo],
) -> Result<CompleteResult, Error> {
    let policy = &job.client.config().retry;
    let mut attempt = 1;
    let mut maybe_done = false;
    loop {
        match job
            .client
            .complete_multipart(job.bucket, job.key, upload_id, parts)
            .await
        {
            Ok(result) => return Ok(result),
            Err(e) if maybe_done && e.code() == Some("NoSuchUpload") => {
                return match completed_earlier(job, parts).await {
                    Some(result) => Ok(result),
                    None => Err(e),
                };
            }
            Err(e) if attempt < policy.max_attempts && is_transient(&e, Retry::Post) => {
                tracing::debug!(error = %e, attempt, "retrying CompleteMultipartUpload");
                maybe_done = true;
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The object, if it is what completing `parts` produces (same size and CRC-64): then an
/// earlier Complete whose answer was lost did succeed.
async fn completed_earlier(job: &Job<'_>, parts: &[PartInfo]) -> Option<CompleteResult> {
    let expected = parts.iter().try_fold(0u64, |acc, p| {
        p.crc64
            .map(|c| ossvault_proto::crc64::combine(acc, c, p.size))
    })?;
    let meta = job.client.head_object(job.bucket, job.key).await.ok()?;
    (meta.size == job.file.size && meta.crc64 == Some(expected)).then_some(CompleteResult {
        etag: meta.etag,
        crc64: meta.crc64,
    })
}

/// Aborts an upload, logging rather than failing: it is clean-up, after the real outcome.
async fn abort_quietly(job: &Job<'_>, upload_id: &str) {
    match job
        .client
        .abort_multipart(job.bucket, job.key, upload_id)
        .await
    {
        Ok(()) => tracing::debug!(upload_id, "aborted the multipart upload"),
        Err(e) if e.code() == Some("NoSuchUpload") => {}
        Err(e) => tracing::warn!(upload_id, error = %e, "cannot abort the multipart upload"),
    }
}

/// ETags compare without their quotes and case-insensitively (OSS's own rule in Complete).
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"')
        .eq_ignore_ascii_case(b.trim_matches('"'))
}

/// A stable digest of the options Initiate applies to the object.
fn put_options_digest(put: &PutOptions) -> String {
    let mut hash = Sha256::new();
    // `content_md5` is left out: it does not apply to file bodies.
    let mut fields = vec![
        put.content_type.clone().unwrap_or_default(),
        put.forbid_overwrite.to_string(),
    ];
    for (name, value) in &put.headers {
        fields.push(format!("{}:{value}", name.to_ascii_lowercase()));
    }
    for field in fields {
        hash.update((field.len() as u64).to_le_bytes());
        hash.update(field.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_past_10000_parts() {
        let kib = 1 << 10;
        assert_eq!(effective_part_size(1, 100 * kib).unwrap(), 100 * kib);
        assert_eq!(
            effective_part_size(MAX_PARTS * 100 * kib, 100 * kib).unwrap(),
            100 * kib
        );
        let grown = effective_part_size(MAX_PARTS * 100 * kib + 1, 100 * kib).unwrap();
        assert_eq!(grown, 1 << 20);
        let huge = 40u64 << 40;
        let grown = effective_part_size(huge, 8 << 20).unwrap();
        assert!(huge.div_ceil(grown) <= MAX_PARTS);
        assert_eq!(grown % (1 << 20), 0);
        assert!(effective_part_size(MAX_PARTS * MAX_PART_SIZE, MAX_PART_SIZE).is_ok());
        assert!(matches!(
            effective_part_size(MAX_PARTS * MAX_PART_SIZE + 1, 8 << 20),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn etags_compare_like_oss() {
        assert!(same_etag("\"ABC\"", "abc"));
        assert!(!same_etag("\"ABC\"", "abd"));
    }

    #[test]
    fn options_digest_tracks_what_initiate_applies() {
        let base = PutOptions::default();
        let with_type = PutOptions {
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        let with_md5 = PutOptions {
            content_md5: true,
            ..Default::default()
        };
        assert_ne!(put_options_digest(&base), put_options_digest(&with_type));
        assert_eq!(put_options_digest(&base), put_options_digest(&with_md5));
    }
}

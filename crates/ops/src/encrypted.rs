//! Encrypted transfers: uploads stream a file through the crypto crate's encryptor (a small
//! file is one PutObject, a large one a multipart upload whose parts are read, encrypted and
//! sent one part per job: memory is jobs × part size); downloads stream the body through the
//! decryptor into a temp file renamed over the target only once the whole object decrypted
//! (and, for the sealed format, authenticated).
//!
//! A multipart upload given a checkpoint file is resumable: the checkpoint keeps the upload id,
//! the parts done and the envelope's headers, whose wrapped content key the master key opens
//! again, so the parts sent after a resume are encrypted under the same content key as those
//! sent before (the compat format's counter of a part depends only on its offset, the sealed
//! format's chunk indices too: the assembled object is the one a single run makes).

use crate::error::{Error, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use ossvault_client::transfer::{
    CancellationToken, OnProgress, RateLimiter, TransferProgress, UploadOutcome,
};
use ossvault_client::{Client, ObjectMeta, PartInfo, PutOptions, RangeSpec, RequestBody};
use ossvault_crypto::{
    decrypt_to_file, CipherReader, EncryptOptions, Envelope, Format, MasterKey, PlainBuf,
};
use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Files up to this size are encrypted in memory and sent as one retryable body.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// How to encrypt and upload files.
pub struct EncryptedUpload<'a> {
    pub client: &'a Client,
    pub master: &'a MasterKey,
    pub format: Format,
    /// Compat: the material description to record.
    pub matdesc: Vec<(String, String)>,
    pub part_size: u64,
    pub threshold: u64,
    pub jobs: usize,
    pub put: PutOptions,
    pub progress: OnProgress,
    pub cancel: CancellationToken,
    /// Paces the bytes sent (an object or part waits for its bytes before it goes).
    pub limiter: Option<Arc<RateLimiter>>,
    /// Where a multipart upload keeps its checkpoint (a file, written owner-only): with one, a
    /// failed or cancelled upload is kept for a later call to resume; without, it is aborted.
    pub checkpoint: Option<PathBuf>,
}

/// The checkpoint of a resumable encrypted multipart upload.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct EncryptedCheckpoint {
    version: u32,
    bucket: String,
    key: String,
    file_size: u64,
    file_mtime_ns: i64,
    /// Plaintext part size (aligned to the envelope's unit).
    part_size: u64,
    upload_id: String,
    /// The envelope's headers: the content key wrapped under the master key.
    envelope: Vec<(String, String)>,
    /// Parts done, ascending.
    parts: Vec<PartInfo>,
}

const CHECKPOINT_VERSION: u32 = 1;

/// A multipart upload to continue: its envelope, id, part size and the parts already sent.
struct Resumed {
    envelope: Envelope,
    upload_id: String,
    part_size: u64,
    parts: Vec<PartInfo>,
}

/// Size and modification time of a file: a resumed upload must read the same file.
fn file_version(path: &Path) -> Result<(u64, i64)> {
    let meta = std::fs::metadata(path).map_err(Error::io(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((meta.len(), mtime))
}

/// Writes a checkpoint durably, owner-only (it names the upload and holds the wrapped key).
async fn save_checkpoint(path: &Path, checkpoint: &EncryptedCheckpoint) -> Result<()> {
    let json = serde_json::to_vec(checkpoint).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = owned.parent() {
            ossvault_fs::create_private_dir_all(dir)?;
        }
        ossvault_fs::write_durably(&owned, &json, ossvault_fs::MODE_OWNER_ONLY)
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r)
    .map_err(Error::io(path))
}

fn remove_checkpoint(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete the checkpoint")
        }
    }
}

/// The upload a checkpoint file names, `(bucket, key, upload_id)`, if it names one: the
/// checkpoints of this module and those of `ossvault_client::transfer`'s uploads both do.
pub(crate) fn checkpointed_upload(path: &Path) -> Option<(String, String, String)> {
    #[derive(serde::Deserialize)]
    struct Named {
        bucket: String,
        key: String,
        upload_id: Option<String>,
    }
    let named: Named = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some((named.bucket, named.key, named.upload_id?))
}

impl EncryptedUpload<'_> {
    /// Encrypts `path` into `bucket/key`: one PutObject below the threshold, else a multipart
    /// upload (aborted on failure or cancellation, unless a checkpoint keeps it to resume).
    pub async fn upload(&self, path: &Path, bucket: &str, key: &str) -> Result<UploadOutcome> {
        let (size, mtime) = file_version(path)?;
        let mut options = EncryptOptions {
            format: self.format,
            ..EncryptOptions::default()
        };
        if self.format == Format::Compat {
            options.plaintext_len = Some(size);
            options.matdesc = self.matdesc.clone();
        }
        let report = |done| {
            (self.progress)(TransferProgress { done, total: size });
        };
        report(0);
        if size < self.threshold.max(1) {
            let envelope = Envelope::new(self.master, &options).await?;
            let mut put = self.put.clone();
            put.headers.extend(envelope.headers().iter().cloned());
            let body = if size <= IN_MEMORY_MAX {
                let plain = PlainBuf::from(tokio::fs::read(path).await.map_err(Error::io(path))?);
                if plain.len() as u64 != size {
                    return Err(Error::Io {
                        path: path.to_owned(),
                        source: io::Error::other("the file changed while it was read"),
                    });
                }
                RequestBody::Bytes(envelope.encrypt_to_vec(&plain)?.into())
            } else {
                let file = tokio::fs::File::open(path).await.map_err(Error::io(path))?;
                let reader = CipherReader::new(file, envelope.encryptor());
                RequestBody::Stream {
                    body: reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(reader)),
                    len: envelope.ciphertext_len(size),
                }
            };
            let put_object = async {
                if let Some(limiter) = &self.limiter {
                    limiter.acquire(body.len()).await;
                }
                self.client.put_object(bucket, key, body, &put).await
            };
            let result = tokio::select! {
                r = put_object => r?,
                _ = self.cancel.cancelled() => return Err(Error::Cancelled),
            };
            report(size);
            return Ok(UploadOutcome {
                size,
                etag: result.etag,
                crc64: result.crc64,
                parts_resumed: 0,
                parts_sent: 1,
            });
        }
        let resumed = match &self.checkpoint {
            Some(checkpoint) => self.resume(checkpoint, bucket, key, size, mtime).await?,
            None => None,
        };
        let client = self.client;
        let (envelope, upload_id, part, done_before) = match resumed {
            Some(r) => (r.envelope, r.upload_id, r.part_size, r.parts),
            None => {
                let envelope = Envelope::new(self.master, &options).await?;
                let part = envelope.align_part_size(
                    self.part_size
                        .max(size.div_ceil(ossvault_proto::limits::MAX_PARTS as u64)),
                );
                let plan = envelope.multipart(part, Some(size))?;
                let mut put = self.put.clone();
                put.headers.extend(plan.initiate_headers());
                let upload_id = client.initiate_multipart(bucket, key, &put).await?;
                (envelope, upload_id, part, Vec::new())
            }
        };
        let plan = envelope.multipart(part, Some(size))?;
        let count = plan.part_count(size);
        let part_headers = plan.part_headers();
        let parts_resumed = done_before.len() as u32;
        let already: u64 = done_before.iter().map(|p| p.size).sum();
        report(already);
        // The checkpoint is saved before any part is sent: a crash from here on leaves an
        // upload that a later call resumes (or a cancellation aborts), never an orphan.
        let state = tokio::sync::Mutex::new(EncryptedCheckpoint {
            version: CHECKPOINT_VERSION,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            file_size: size,
            file_mtime_ns: mtime,
            part_size: part,
            upload_id: upload_id.clone(),
            envelope: envelope.headers().to_vec(),
            parts: done_before.clone(),
        });
        if let Some(checkpoint) = &self.checkpoint {
            save_checkpoint(checkpoint, &*state.lock().await).await?;
        }
        let sent_before: std::collections::BTreeSet<u32> =
            done_before.iter().map(|p| p.number).collect();
        let pending: Vec<u32> = (1..=count).filter(|n| !sent_before.contains(n)).collect();
        let done = AtomicU64::new(already);
        // Stops the parts still to come or in flight, on cancellation or at the first failure.
        // A part stops at its request, never in the middle of its checkpoint write: once this
        // returns, no write of this upload is still landing (a cancel that tidies up after it
        // is not undone).
        let stop = self.cancel.child_token();
        let (plan, part_headers, done, upload_id_ref, state, stop) =
            (&plan, &part_headers, &done, &upload_id, &state, &stop);
        let send_part = |n: u32| async move {
            if stop.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let offset = plan.part_offset(n);
            let len = part.min(size - offset);
            let plain = read_at(path, offset, len).await?;
            let mut encryptor = plan.part_encryptor(n, n == count)?;
            let mut sealed = Vec::with_capacity(plan.part_ciphertext_len(len) as usize);
            encryptor.update(&plain, &mut sealed)?;
            encryptor.finish(&mut sealed)?;
            drop(plain);
            if let Some(limiter) = &self.limiter {
                limiter.acquire(sealed.len() as u64).await;
            }
            let upload = client.upload_part_with_headers(
                bucket,
                key,
                upload_id_ref,
                n,
                RequestBody::Bytes(sealed.into()),
                part_headers,
            );
            let info = tokio::select! {
                r = upload => r?,
                _ = stop.cancelled() => return Err(Error::Cancelled),
            };
            if let Some(checkpoint) = &self.checkpoint {
                let mut state = state.lock().await;
                state.parts.push(info.clone());
                state.parts.sort_by_key(|p| p.number);
                save_checkpoint(checkpoint, &state).await?;
            }
            report(done.fetch_add(len, Ordering::Relaxed) + len);
            Ok::<PartInfo, Error>(info)
        };
        let results: Vec<Result<PartInfo>> = stream::iter(pending)
            .map(|n| async move {
                let result = send_part(n).await;
                if result.is_err() {
                    stop.cancel();
                }
                result
            })
            .buffer_unordered(self.jobs.max(1))
            .collect()
            .await;
        // The first real failure, else the cancellation, else every part.
        let mut parts = Ok(Vec::with_capacity(results.len()));
        for result in results {
            match (result, &mut parts) {
                (Ok(info), Ok(all)) => all.push(info),
                (Ok(_), Err(_)) => {}
                (Err(e), Ok(_)) => parts = Err(e),
                (Err(e), Err(Error::Cancelled)) if !matches!(e, Error::Cancelled) => parts = Err(e),
                (Err(_), Err(_)) => {}
            }
        }
        if self.cancel.is_cancelled() {
            parts = Err(Error::Cancelled);
        }
        let completed = match parts {
            Ok(sent) => {
                let parts_sent = sent.len() as u32;
                let mut parts = done_before;
                parts.extend(sent);
                parts.sort_by_key(|p| p.number);
                client
                    .complete_multipart(bucket, key, &upload_id, &parts)
                    .await
                    .map(|r| (r, parts_sent))
                    .map_err(Error::from)
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok((result, sent)) => {
                if let Some(checkpoint) = &self.checkpoint {
                    remove_checkpoint(checkpoint);
                }
                Ok(UploadOutcome {
                    size,
                    etag: result.etag,
                    crc64: result.crc64,
                    parts_resumed,
                    parts_sent: sent,
                })
            }
            // Kept for a resume: the checkpoint names the upload.
            Err(e) if self.checkpoint.is_some() => Err(e),
            Err(e) => {
                if let Err(abort) = client.abort_multipart(bucket, key, &upload_id).await {
                    tracing::warn!("cannot abort the multipart upload of {key}: {abort}");
                }
                Err(e)
            }
        }
    }

    /// The upload a checkpoint describes, if it is this file's and still on the server, with
    /// the parts the server confirms; `None` to start over (a stale upload is aborted first).
    async fn resume(
        &self,
        checkpoint: &Path,
        bucket: &str,
        key: &str,
        size: u64,
        mtime: i64,
    ) -> Result<Option<Resumed>> {
        let Ok(bytes) = std::fs::read(checkpoint) else {
            return Ok(None);
        };
        let Ok(saved) = serde_json::from_slice::<EncryptedCheckpoint>(&bytes) else {
            tracing::warn!(path = %checkpoint.display(), "unreadable checkpoint; starting over");
            return Ok(None);
        };
        let same_object = saved.bucket == bucket && saved.key == key;
        let abort = || async {
            if same_object {
                let _ = self
                    .client
                    .abort_multipart(bucket, key, &saved.upload_id)
                    .await;
            }
            remove_checkpoint(checkpoint);
        };
        if !same_object
            || saved.version != CHECKPOINT_VERSION
            || saved.file_size != size
            || saved.file_mtime_ns != mtime
        {
            tracing::info!(upload_id = %saved.upload_id, "the file changed; starting the upload over");
            abort().await;
            return Ok(None);
        }
        // The same content key again: the master key must open the recorded envelope.
        let headers = ossvault_crypto::ObjectHeaders::parse(&saved.envelope)?;
        let envelope = match headers.open(self.master).await {
            Ok(e) => e,
            Err(e) => {
                tracing::info!(error = %e, "the master key changed; starting the upload over");
                abort().await;
                return Ok(None);
            }
        };
        let listed = match self.client.list_parts(bucket, key, &saved.upload_id).await {
            Ok(listed) => listed,
            Err(ossvault_client::Error::Service(e)) if e.status < 500 => {
                tracing::info!(error = %e, "the checkpointed upload cannot be resumed; starting over");
                abort().await;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let on_server: BTreeMap<u32, _> = listed.iter().map(|p| (p.part_number, p)).collect();
        let parts = saved
            .parts
            .into_iter()
            .filter(|p| {
                on_server.get(&p.number).is_some_and(|l| {
                    l.size == p.size
                        && l.etag
                            .trim_matches('"')
                            .eq_ignore_ascii_case(p.etag.trim_matches('"'))
                })
            })
            .collect();
        Ok(Some(Resumed {
            envelope,
            upload_id: saved.upload_id,
            part_size: saved.part_size,
            parts,
        }))
    }
}

/// `len` bytes of `path` from `offset`, read off the async threads.
async fn read_at(path: &Path, offset: u64, len: u64) -> Result<PlainBuf> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        let mut buf = PlainBuf::zeroed(len as usize);
        // Seek + read works everywhere (`pread` is Unix-only); each part opens its own handle.
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        io::Read::read_exact(&mut file, &mut buf)?;
        Ok::<_, io::Error>(buf)
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r)
    .map_err(Error::io(path))
}

/// The plaintext bytes a `--range` asks for, of an object of `total` plaintext bytes.
pub fn plain_range(range: RangeSpec, total: u64) -> Result<Range<u64>> {
    let r = match range {
        RangeSpec::From { start, end } => {
            start..end.map_or(total, |e| e.saturating_add(1)).min(total)
        }
        RangeSpec::Last(n) => total.saturating_sub(n)..total,
    };
    if r.start >= total && total > 0 {
        return Err(Error::InvalidInput(format!(
            "the range is outside the object ({total} bytes decrypted)"
        )));
    }
    Ok(r)
}

/// Downloads and decrypts an object (or a plaintext range of it) into `target`, atomically,
/// paced by `limiter` if given. Returns the plaintext bytes written.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    client: &Client,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    envelope: &Envelope,
    target: &Path,
    range: Option<RangeSpec>,
    limiter: Option<&RateLimiter>,
    progress: impl Fn(u64) + Send + Sync,
) -> Result<u64> {
    let (stream, request) = match range {
        None => (envelope.decryptor(), None),
        Some(r) => {
            let total = envelope.plaintext_len(meta.size)?;
            let read = envelope.range(plain_range(r, total)?, meta.size)?;
            let request = read.http_range().map(|_| {
                let s = read.stored_range();
                RangeSpec::From {
                    start: s.start,
                    end: Some(s.end - 1),
                }
            });
            if request.is_none() {
                let empty: &[u8] = &[];
                return Ok(decrypt_to_file(empty, read.into_decryptor(), target).await?);
            }
            (read.into_decryptor(), request)
        }
    };
    let (_, response) = client.get_object(bucket, key, request).await?;
    let body = response
        .bytes_stream()
        .map_err(io::Error::other)
        .and_then(|chunk| async move {
            if let Some(limiter) = limiter {
                limiter.acquire(chunk.len() as u64).await;
            }
            Ok(chunk)
        })
        .inspect_ok(|chunk| progress(chunk.len() as u64));
    let reader = tokio_util::io::StreamReader::new(Box::pin(body));
    Ok(decrypt_to_file(reader, stream, target).await?)
}

//! Encrypted transfers: uploads stream a file through the crypto crate's encryptor (a small
//! file is one PutObject, a large one a multipart upload whose parts are read, encrypted and
//! sent one part per job: memory is jobs × part size); downloads stream the body through the
//! decryptor into a temp file renamed over the target only once the whole object decrypted
//! (and, for the sealed format, authenticated).

use crate::error::{Error, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use ossvault_client::transfer::{CancellationToken, OnProgress, TransferProgress, UploadOutcome};
use ossvault_client::{Client, ObjectMeta, PartInfo, PutOptions, RangeSpec, RequestBody};
use ossvault_crypto::{decrypt_to_file, CipherReader, EncryptOptions, Envelope, Format, MasterKey};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

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
}

impl EncryptedUpload<'_> {
    /// Encrypts `path` into `bucket/key`: one PutObject below the threshold, else a multipart
    /// upload (aborted on failure or cancellation: encrypted uploads do not resume).
    pub async fn upload(&self, path: &Path, bucket: &str, key: &str) -> Result<UploadOutcome> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(Error::io(path))?
            .len();
        let mut options = EncryptOptions {
            format: self.format,
            ..EncryptOptions::default()
        };
        if self.format == Format::Compat {
            options.plaintext_len = Some(size);
            options.matdesc = self.matdesc.clone();
        }
        let envelope = Envelope::new(self.master, &options).await?;
        let report = |done| {
            (self.progress)(TransferProgress { done, total: size });
        };
        report(0);
        if size < self.threshold.max(1) {
            let mut put = self.put.clone();
            put.headers.extend(envelope.headers().iter().cloned());
            let body = if size <= IN_MEMORY_MAX {
                let plain = Zeroizing::new(tokio::fs::read(path).await.map_err(Error::io(path))?);
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
            let put_object = self.client.put_object(bucket, key, body, &put);
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
        let part = envelope.align_part_size(
            self.part_size
                .max(size.div_ceil(ossvault_proto::limits::MAX_PARTS as u64)),
        );
        let plan = envelope.multipart(part, Some(size))?;
        let mut put = self.put.clone();
        put.headers.extend(plan.initiate_headers());
        let client = self.client;
        let upload_id = client.initiate_multipart(bucket, key, &put).await?;
        let count = plan.part_count(size);
        let part_headers = plan.part_headers();
        let done = AtomicU64::new(0);
        let (plan, part_headers, done, upload_id_ref) = (&plan, &part_headers, &done, &upload_id);
        let parts = stream::iter(1..=count)
            .map(|n| async move {
                let offset = plan.part_offset(n);
                let len = part.min(size - offset);
                let plain = read_at(path, offset, len).await?;
                let mut encryptor = plan.part_encryptor(n, n == count)?;
                let mut sealed = Vec::with_capacity(plan.part_ciphertext_len(len) as usize);
                encryptor.update(&plain, &mut sealed)?;
                encryptor.finish(&mut sealed)?;
                drop(plain);
                let info = client
                    .upload_part_with_headers(
                        bucket,
                        key,
                        upload_id_ref,
                        n,
                        RequestBody::Bytes(sealed.into()),
                        part_headers,
                    )
                    .await?;
                report(done.fetch_add(len, Ordering::Relaxed) + len);
                Ok::<PartInfo, Error>(info)
            })
            .buffer_unordered(self.jobs.max(1))
            .try_collect::<Vec<PartInfo>>();
        let parts = tokio::select! {
            r = parts => r,
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
        };
        let completed = match parts {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.number);
                client
                    .complete_multipart(bucket, key, &upload_id, &parts)
                    .await
                    .map(|r| (r, parts.len() as u32))
                    .map_err(Error::from)
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok((result, sent)) => Ok(UploadOutcome {
                size,
                etag: result.etag,
                crc64: result.crc64,
                parts_resumed: 0,
                parts_sent: sent,
            }),
            Err(e) => {
                if let Err(abort) = client.abort_multipart(bucket, key, &upload_id).await {
                    tracing::warn!("cannot abort the multipart upload of {key}: {abort}");
                }
                Err(e)
            }
        }
    }
}

/// `len` bytes of `path` from `offset`, read off the async threads.
async fn read_at(path: &Path, offset: u64, len: u64) -> Result<Zeroizing<Vec<u8>>> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        let mut buf = Zeroizing::new(vec![0u8; len as usize]);
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

/// Downloads and decrypts an object (or a plaintext range of it) into `target`, atomically.
/// Returns the plaintext bytes written.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    client: &Client,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    envelope: &Envelope,
    target: &Path,
    range: Option<RangeSpec>,
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
        .inspect_ok(|chunk| progress(chunk.len() as u64));
    let reader = tokio_util::io::StreamReader::new(Box::pin(body));
    Ok(decrypt_to_file(reader, stream, target).await?)
}

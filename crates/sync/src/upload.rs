//! Uploads of one file, conditional and resumable, client-side encrypted or plain.
//!
//! - A new object is written with `x-oss-forbid-overwrite: true`; a replacement with
//!   `If-Match` on the ETag the caller believes current (PutObject and
//!   CompleteMultipartUpload alike), so a concurrent writer is never silently overwritten.
//! - A small file is read whole, between two `stat`s that must agree: the object is always one
//!   state of the file. A large file goes multipart; its file metadata is checked again before
//!   Complete, and a file that changed meanwhile aborts the upload (no torn object becomes
//!   visible) and is planned again.
//! - A multipart upload keeps a checkpoint (upload id, parts done, their block hashes, and for
//!   encrypted uploads the envelope's headers, which hold only the *wrapped* content key), so
//!   that after a crash the same upload resumes instead of starting over.

use crate::error::{Error, Result};
use crate::plan::{Stamp, Write};
use crate::scan::{combine, inode, mtime_ns, BlockHasher, HASH_BLOCK};
use futures_util::{stream, StreamExt, TryStreamExt};
use ossvault_client::transfer::CancellationToken;
use ossvault_client::transfer::RateLimiter;
use ossvault_client::{Client, PartInfo, PutOptions, RequestBody};
use ossvault_crypto::{EncryptOptions, Envelope, MasterKey, ObjectHeaders, PlainBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What an upload wrote.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub etag: String,
    /// The file as uploaded (checked unchanged across the upload).
    pub stamp: Stamp,
    pub hash: String,
    pub parts_resumed: u32,
    pub parts_sent: u32,
}

/// How uploads are made.
pub struct Uploader<'a> {
    pub client: &'a Client,
    /// `None`: plain objects.
    pub master: Option<&'a MasterKey>,
    pub checkpoint_dir: &'a Path,
    /// Plaintext part size, a multiple of [`HASH_BLOCK`].
    pub part_size: u64,
    /// Files this big or bigger go multipart.
    pub threshold: u64,
    pub jobs: usize,
    pub limiter: &'a RateLimiter,
    pub progress: &'a (dyn Fn(u64) + Send + Sync),
    pub cancel: CancellationToken,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DonePart {
    info: PartInfo,
    /// Hex SHA-256 of each [`HASH_BLOCK`] of the part's plaintext.
    blocks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    bucket: String,
    key: String,
    size: u64,
    mtime_ns: i64,
    inode: u64,
    part_size: u64,
    upload_id: String,
    /// The envelope's object headers (wrapped content key, IVs…); empty when plain.
    envelope_headers: Vec<(String, String)>,
    parts: Vec<DonePart>,
}

/// Files up to this size are read without leaving the task.
const READ_ON_TASK: u64 = 64 << 10;

fn stamp_of(path: &Path) -> Result<Stamp> {
    let m = std::fs::metadata(path).map_err(Error::io(path))?;
    Ok(Stamp {
        size: m.len(),
        mtime_ns: mtime_ns(&m),
        inode: inode(&m),
    })
}

/// The headers that make a write conditional.
pub fn condition_headers(write: &Write) -> Vec<(String, String)> {
    match write {
        Write::Create => vec![(
            ossvault_proto::headers::FORBID_OVERWRITE.to_owned(),
            "true".to_owned(),
        )],
        Write::Replace { etag } => vec![("if-match".to_owned(), etag.clone())],
    }
}

/// Whether an error says the condition of a write failed (the object changed or appeared).
pub fn lost_race(e: &ossvault_client::Error) -> bool {
    matches!(e.code(), Some("PreconditionFailed" | "FileAlreadyExists"))
}

impl Uploader<'_> {
    fn put_options(&self) -> PutOptions {
        PutOptions {
            // The type of an encrypted object would tell what the file is.
            content_type: Some("application/octet-stream".into()),
            ..Default::default()
        }
    }

    /// Uploads `path` to `bucket/key` under the condition `write`.
    pub async fn upload(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        write: &Write,
    ) -> Result<Uploaded> {
        let before = stamp_of(path)?;
        if before.size < self.threshold.max(1) {
            self.upload_small(path, bucket, key, write, before).await
        } else {
            self.upload_parts(path, bucket, key, write, before).await
        }
    }

    async fn upload_small(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        write: &Write,
        before: Stamp,
    ) -> Result<Uploaded> {
        // A small file is read on the task (as its metadata is): a handoff to the blocking
        // pool and back would cost more than the read.
        let plain = if before.size <= READ_ON_TASK {
            std::fs::read(path)
        } else {
            tokio::fs::read(path).await
        };
        let plain = PlainBuf::from(plain.map_err(Error::io(path))?);
        let after = stamp_of(path)?;
        if after != before || plain.len() as u64 != before.size {
            return Err(Error::Changed(path.display().to_string()));
        }
        let mut hasher = BlockHasher::default();
        hasher.update(&plain);
        let hash = hasher.finish();
        let mut put = self.put_options();
        put.headers.extend(condition_headers(write));
        let body = match self.master {
            Some(master) => {
                let envelope = Envelope::new(master, &EncryptOptions::default())
                    .await
                    .map_err(ossvault_ops::Error::from)?;
                put.headers.extend(envelope.headers().iter().cloned());
                envelope
                    .encrypt_to_vec(&plain)
                    .map_err(ossvault_ops::Error::from)?
            }
            None => plain.to_vec(),
        };
        self.limiter.acquire(body.len() as u64).await;
        let sending = self
            .client
            .put_object(bucket, key, RequestBody::Bytes(body.into()), &put);
        let result = tokio::select! {
            r = sending => r,
            _ = self.cancel.cancelled() => return Err(Error::Cancelled),
        };
        let result = match result {
            Ok(r) => r,
            Err(e) if lost_race(&e) => return Err(Error::Changed(key.to_owned())),
            Err(e) => return Err(e.into()),
        };
        (self.progress)(before.size);
        Ok(Uploaded {
            etag: result.etag,
            stamp: before,
            hash,
            parts_resumed: 0,
            parts_sent: 1,
        })
    }

    fn checkpoint_path(&self, bucket: &str, key: &str) -> PathBuf {
        let digest = Sha256::digest(format!("{bucket}/{key}").as_bytes());
        self.checkpoint_dir
            .join(format!("{}.json", hex::encode(&digest[..16])))
    }

    fn save(&self, path: &Path, cp: &Checkpoint) -> Result<()> {
        ossvault_fs::create_private_dir_all(self.checkpoint_dir)
            .map_err(Error::io(self.checkpoint_dir))?;
        let bytes = serde_json::to_vec(cp).expect("serializable");
        ossvault_fs::write_durably(path, &bytes, ossvault_fs::MODE_OWNER_ONLY)
            .map_err(Error::io(path))
    }

    /// The checkpoint of an earlier attempt at this very upload, if one is usable: same file
    /// state, same part size, the upload still there (its parts as the server lists them).
    async fn resumable(
        &self,
        cp_path: &Path,
        bucket: &str,
        key: &str,
        before: Stamp,
        part: u64,
    ) -> Option<Checkpoint> {
        let bytes = std::fs::read(cp_path).ok()?;
        let mut cp: Checkpoint = serde_json::from_slice(&bytes).ok()?;
        let same = cp.bucket == bucket
            && cp.key == key
            && cp.size == before.size
            && cp.mtime_ns == before.mtime_ns
            && cp.inode == before.inode
            && cp.part_size == part
            && cp.envelope_headers.is_empty() == self.master.is_none();
        if !same {
            let _ = self
                .client
                .abort_multipart(&cp.bucket, &cp.key, &cp.upload_id)
                .await;
            let _ = std::fs::remove_file(cp_path);
            return None;
        }
        let listed = match self.client.list_parts(bucket, key, &cp.upload_id).await {
            Ok(l) => l,
            Err(_) => {
                let _ = std::fs::remove_file(cp_path);
                return None;
            }
        };
        cp.parts.retain(|p| {
            listed.iter().any(|l| {
                l.part_number == p.info.number
                    && l.etag.trim_matches('"') == p.info.etag.trim_matches('"')
            })
        });
        Some(cp)
    }

    async fn upload_parts(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        write: &Write,
        before: Stamp,
    ) -> Result<Uploaded> {
        let size = before.size;
        let mut part = self
            .part_size
            .max(size.div_ceil(ossvault_proto::limits::MAX_PARTS as u64));
        part = part.div_ceil(HASH_BLOCK) * HASH_BLOCK;
        let cp_path = self.checkpoint_path(bucket, key);
        let (cp, envelope) = match self.resumable(&cp_path, bucket, key, before, part).await {
            Some(cp) => {
                let envelope = match self.master {
                    Some(master) => Some(
                        ObjectHeaders::parse(&cp.envelope_headers)
                            .map_err(ossvault_ops::Error::from)?
                            .open(master)
                            .await
                            .map_err(ossvault_ops::Error::from)?,
                    ),
                    None => None,
                };
                (cp, envelope)
            }
            None => {
                let envelope = match self.master {
                    Some(master) => Some(
                        Envelope::new(master, &EncryptOptions::default())
                            .await
                            .map_err(ossvault_ops::Error::from)?,
                    ),
                    None => None,
                };
                let mut put = self.put_options();
                if let Some(env) = &envelope {
                    let plan = env
                        .multipart(part, Some(size))
                        .map_err(ossvault_ops::Error::from)?;
                    put.headers.extend(plan.initiate_headers());
                }
                let upload_id = self.client.initiate_multipart(bucket, key, &put).await?;
                let cp = Checkpoint {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    size,
                    mtime_ns: before.mtime_ns,
                    inode: before.inode,
                    part_size: part,
                    upload_id,
                    envelope_headers: envelope
                        .as_ref()
                        .map(|e| e.headers().to_vec())
                        .unwrap_or_default(),
                    parts: Vec::new(),
                };
                self.save(&cp_path, &cp)?;
                (cp, envelope)
            }
        };
        let plan = match &envelope {
            Some(env) => Some(
                env.multipart(part, Some(size))
                    .map_err(ossvault_ops::Error::from)?,
            ),
            None => None,
        };
        let part_headers = plan.as_ref().map(|p| p.part_headers()).unwrap_or_default();
        let count = size.div_ceil(part).max(1) as u32;
        let resumed = cp.parts.len() as u32;
        let done_numbers: Vec<u32> = cp.parts.iter().map(|p| p.info.number).collect();
        for p in &cp.parts {
            (self.progress)(p.info.size.min(part));
        }
        let upload_id = cp.upload_id.clone();
        let state = Arc::new(Mutex::new(cp));
        let todo: Vec<u32> = (1..=count).filter(|n| !done_numbers.contains(n)).collect();
        let sent = todo.len() as u32;
        let (plan_ref, headers_ref, upload_ref, state_ref, cp_ref) =
            (&plan, &part_headers, &upload_id, &state, &cp_path);
        let run_parts = stream::iter(todo)
            .map(|n| async move {
                let offset = (n as u64 - 1) * part;
                let len = part.min(size - offset);
                let encryptor = match plan_ref {
                    Some(plan) => Some((
                        plan.part_encryptor(n, n == count)
                            .map_err(ossvault_ops::Error::from)?,
                        plan.part_ciphertext_len(len) as usize,
                    )),
                    None => None,
                };
                // Reading, hashing and sealing a part are CPU work of milliseconds: on a
                // blocking thread, so the runtime's threads keep the other parts' bytes moving.
                let owned = path.to_owned();
                let (body, blocks) = tokio::task::spawn_blocking(move || -> Result<_> {
                    let read = || -> std::io::Result<PlainBuf> {
                        let mut f = std::fs::File::open(&owned)?;
                        f.seek(SeekFrom::Start(offset))?;
                        let mut buf = PlainBuf::zeroed(len as usize);
                        f.read_exact(&mut buf)?;
                        Ok(buf)
                    };
                    let plain = read().map_err(Error::io(&owned))?;
                    let blocks: Vec<String> = plain
                        .chunks(HASH_BLOCK as usize)
                        .map(|c| hex::encode(Sha256::digest(c)))
                        .collect();
                    let body = match encryptor {
                        Some((mut enc, capacity)) => {
                            let mut sealed = Vec::with_capacity(capacity);
                            enc.update(&plain, &mut sealed)
                                .map_err(ossvault_ops::Error::from)?;
                            enc.finish(&mut sealed).map_err(ossvault_ops::Error::from)?;
                            sealed
                        }
                        None => plain.to_vec(),
                    };
                    Ok((body, blocks))
                })
                .await
                .map_err(|e| Error::Io {
                    path: path.to_owned(),
                    source: std::io::Error::other(e),
                })??;
                self.limiter.acquire(body.len() as u64).await;
                let info = self
                    .client
                    .upload_part_with_headers(
                        bucket,
                        key,
                        upload_ref,
                        n,
                        RequestBody::Bytes(body.into()),
                        headers_ref,
                    )
                    .await?;
                (self.progress)(len);
                let snapshot = {
                    let mut cp = state_ref.lock().unwrap_or_else(|p| p.into_inner());
                    cp.parts.push(DonePart { info, blocks });
                    cp.clone()
                };
                self.save(cp_ref, &snapshot)?;
                Ok::<(), Error>(())
            })
            .buffer_unordered(self.jobs.max(1))
            .try_collect::<Vec<()>>();
        tokio::select! {
            r = run_parts => { r?; }
            _ = self.cancel.cancelled() => return Err(Error::Cancelled),
        }
        let mut cp = state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        cp.parts.sort_by_key(|p| p.info.number);
        // The file must be what it was when the parts were read: else the object would be
        // a torn mix of two versions. Abort; the next pass uploads the new state.
        let after = stamp_of(path)?;
        if after != before {
            let _ = self.client.abort_multipart(bucket, key, &upload_id).await;
            let _ = std::fs::remove_file(&cp_path);
            return Err(Error::Changed(path.display().to_string()));
        }
        let infos: Vec<PartInfo> = cp.parts.iter().map(|p| p.info.clone()).collect();
        let completed = self
            .client
            .complete_multipart_with_headers(
                bucket,
                key,
                &upload_id,
                &infos,
                &condition_headers(write),
            )
            .await;
        let result = match completed {
            Ok(r) => r,
            Err(e) if lost_race(&e) => {
                let _ = self.client.abort_multipart(bucket, key, &upload_id).await;
                let _ = std::fs::remove_file(&cp_path);
                return Err(Error::Changed(key.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let _ = std::fs::remove_file(&cp_path);
        let mut digests = Vec::new();
        for p in &cp.parts {
            for b in &p.blocks {
                let mut d = [0u8; 32];
                hex::decode_to_slice(b, &mut d).map_err(|e| Error::Index(e.to_string()))?;
                digests.push(d);
            }
        }
        Ok(Uploaded {
            etag: result.etag,
            stamp: before,
            hash: combine(&digests, size),
            parts_resumed: resumed,
            parts_sent: sent,
        })
    }
}

//! Running one transfer: an upload (plain and resumable through the client's checkpoints, or
//! client-side encrypted and resumable through `ops::encrypted`'s), a download (into a temp
//! file in the destination folder, then moved to a free name), and the clean-up of a
//! cancelled one.

use super::{store, Direction, Inner, TransferInfo};
use crate::copy::{fit_part_size, Copier, CopySettings, Encryption};
use crate::encrypted::{self, checkpointed_upload};
use crate::error::{Error, Result};
use crate::keys::encryption_key;
use crate::location::OssUrl;
use ossvault_client::transfer::{self, CancellationToken, OnProgress, TransferProgress};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The checkpoint of a client-side encrypted upload, in the transfer's checkpoint directory.
const ENCRYPTED_CHECKPOINT: &str = "encrypted-upload.json";

/// Part size of client-side encrypted multipart uploads when the settings name none.
const ENCRYPTED_PART_SIZE: u64 = 8 << 20;

/// What a completed transfer did.
pub(super) struct Finished {
    /// Where the file is (a download may have landed under `name (1).ext`).
    pub local: PathBuf,
    pub size: u64,
    pub parts_resumed: u32,
    pub parts_sent: u32,
}

pub(super) async fn execute(
    inner: &Inner,
    info: &TransferInfo,
    cancel: &CancellationToken,
    done: &Arc<AtomicU64>,
    total: &Arc<AtomicU64>,
) -> Result<Finished> {
    let client = inner.client(&info.connection)?;
    let settings = &inner.settings;
    let copier = Copier {
        client: &client,
        settings: CopySettings {
            part_size: settings.part_size,
            bigfile_threshold: settings.multipart_threshold,
            jobs: Some(settings.parts_per_file.max(1)),
            checkpoint_dir: Some(store::checkpoint_dir(&settings.state_dir, info.id)),
            sse_headers: info
                .server_side
                .as_ref()
                .map(|sse| sse.headers())
                .unwrap_or_default(),
            upload_limiter: Some(inner.upload_limiter.clone()),
            download_limiter: Some(inner.download_limiter.clone()),
            ..Default::default()
        },
        cancel: cancel.clone(),
        keystore: inner.keystore.clone(),
    };
    let progress: OnProgress = {
        let (done, total) = (done.clone(), total.clone());
        Arc::new(move |p: TransferProgress| {
            done.store(p.done, Ordering::Relaxed);
            total.store(p.total, Ordering::Relaxed);
        })
    };
    let url = OssUrl::new(info.bucket.clone(), info.key.clone());
    match info.direction {
        Direction::Upload => upload(inner, &copier, info, &url, progress).await,
        Direction::Download => download(&copier, info, &url, progress, done, total).await,
    }
}

async fn upload(
    inner: &Inner,
    copier: &Copier<'_>,
    info: &TransferInfo,
    url: &OssUrl,
    progress: OnProgress,
) -> Result<Finished> {
    let path = &info.local;
    let outcome = match &info.encryption {
        None => copier.upload_file(path, url, progress).await?,
        Some(spec) => {
            let keystore = inner.keystore.clone();
            let master = encryption_key(copier.client, &spec.key, move || keystore()).await?;
            let encryption = Encryption {
                master,
                format: spec.format,
                matdesc: spec.matdesc.clone(),
            };
            let size = std::fs::metadata(path).map_err(Error::io(path))?.len();
            let mut opts = copier.upload_options(size, progress);
            // Encrypted parts are held in memory (to be retried): a fixed part size keeps a
            // file's memory at parts in flight × 2 × 8 MiB whatever its size, where the
            // adaptive size of plain uploads (streamed from the file) grows to 32 MiB.
            if copier.settings.part_size.is_none() {
                opts.part_size = fit_part_size(ENCRYPTED_PART_SIZE, size);
            }
            opts.put.content_type = mime_guess::from_path(path)
                .first()
                .map(|m| m.essence_str().to_owned());
            let checkpoint = copier
                .settings
                .checkpoint_dir
                .as_ref()
                .map(|d| d.join(ENCRYPTED_CHECKPOINT));
            copier
                .encrypted_upload(&encryption, opts, checkpoint)
                .upload(path, &url.bucket, &url.key)
                .await?
        }
    };
    Ok(Finished {
        local: path.clone(),
        size: outcome.size,
        parts_resumed: outcome.parts_resumed,
        parts_sent: outcome.parts_sent,
    })
}

async fn download(
    copier: &Copier<'_>,
    info: &TransferInfo,
    url: &OssUrl,
    progress: OnProgress,
    done: &Arc<AtomicU64>,
    total: &Arc<AtomicU64>,
) -> Result<Finished> {
    let target = &info.local;
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let staged = staging_path(target, info.id);
    let marker = copier
        .settings
        .checkpoint_dir
        .as_ref()
        .map(|d| d.join(PUBLISHED_MARKER));
    // Published before a crash, but not yet recorded as completed: done already.
    if let Some(published) = marker.as_deref().and_then(published_file) {
        let size = std::fs::metadata(&published)
            .map_err(Error::io(&published))?
            .len();
        let _ = std::fs::remove_file(&staged);
        return Ok(Finished {
            local: published,
            size,
            parts_resumed: 0,
            parts_sent: 0,
        });
    }
    let (meta, opened) = copier.inspect(url).await?;
    total.store(meta.size, Ordering::Relaxed);
    let size = match opened {
        Some(opened) => {
            let done = done.clone();
            let decrypting = encrypted::download(
                copier.client,
                &url.bucket,
                &url.key,
                &meta,
                &opened.envelope,
                &staged,
                None,
                copier.settings.download_limiter.as_deref(),
                move |n| {
                    done.fetch_add(n, Ordering::Relaxed);
                },
            );
            tokio::select! {
                r = decrypting => r?,
                _ = copier.cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
        None => {
            let mut opts = copier.download_options(progress);
            opts.known_meta = Some(meta);
            transfer::download_file(copier.client, &url.bucket, &url.key, &staged, &opts)
                .await?
                .size
        }
    };
    let (from, to) = (staged.clone(), target.clone());
    let local = tokio::task::spawn_blocking(move || publish(&from, &to, marker.as_deref()))
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(Error::io(target))?;
    Ok(Finished {
        local,
        size,
        parts_resumed: 0,
        parts_sent: 0,
    })
}

/// Records in the checkpoint directory where a download was published, until the queue has
/// stored it completed: a crash in between must not download it again to `name (1)`.
const PUBLISHED_MARKER: &str = "published";

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The file a marker names, if it is still there.
fn published_file(marker: &Path) -> Option<PathBuf> {
    let path = PathBuf::from(std::fs::read_to_string(marker).ok()?);
    path.is_file().then_some(path)
}

/// Where a download is assembled before it gets its name: a hidden file beside the target,
/// fixed by the transfer's id so that a resumed download finds it (and the client's own
/// `.<name>.ossvault-part` beside it).
fn staging_path(target: &Path, id: u64) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".ossvault-{id}"));
    target.with_file_name(name)
}

/// The client's temp file of a download to `staged`.
fn client_temp_path(staged: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(staged.file_name().unwrap_or_default());
    name.push(".ossvault-part");
    staged.with_file_name(name)
}

/// `report.pdf` → `report (n).pdf`; `archive.tar.gz` → `archive (n).tar.gz`; `.env` →
/// `.env (n)`.
fn numbered(target: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return target.to_owned();
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let split = name
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '.')
        .map_or(name.len(), |(i, _)| i);
    let (stem, ext) = name.split_at(split);
    target.with_file_name(format!("{stem} ({n}){ext}"))
}

/// Moves the complete download to the first free name of `target`, `target (1)`, … without
/// ever replacing a file: a hard link fails if the name exists (where the file system has no
/// hard links, a check then a rename). Writes the name it got to `marker` (durably, before the
/// staged name goes) and returns it.
fn publish(staged: &Path, target: &Path, marker: Option<&Path>) -> io::Result<PathBuf> {
    // A marker that cannot be written only loses the crash protection: logged, not fatal
    // (the file is in place by then). A name that is not Unicode is written lossily: not
    // found again, the download is then made again after a crash (never over a file).
    let record = |published: &Path| {
        let Some(marker) = marker else {
            return;
        };
        let written = ossvault_fs::create_private_dir_all(parent_of(marker)).and_then(|()| {
            ossvault_fs::write_durably(
                marker,
                published.to_string_lossy().as_bytes(),
                ossvault_fs::MODE_OWNER_ONLY,
            )
        });
        if let Err(e) = written {
            tracing::warn!(marker = %marker.display(), error = %e, "cannot record the download's name");
        }
    };
    for n in 0..10_000 {
        let candidate = numbered(target, n);
        match std::fs::hard_link(staged, &candidate) {
            Ok(()) => {
                ossvault_fs::sync_dir(parent_of(&candidate))?;
                record(&candidate);
                std::fs::remove_file(staged)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                if candidate.symlink_metadata().is_ok() {
                    continue;
                }
                ossvault_fs::rename_durably(staged, &candidate)?;
                record(&candidate);
                return Ok(candidate);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {}", target.display()),
    ))
}

/// Undoes what a stopped transfer left: aborts the multipart uploads its checkpoints name,
/// removes its download temp files and its checkpoints. Best effort (logged).
pub(super) async fn discard(inner: &Inner, info: &TransferInfo) {
    let dir = store::checkpoint_dir(&inner.settings.state_dir, info.id);
    let uploads: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| checkpointed_upload(&e.path()))
        .collect();
    if !uploads.is_empty() {
        match inner.client(&info.connection) {
            Ok(client) => {
                for (bucket, key, upload_id) in uploads {
                    match client.abort_multipart(&bucket, &key, &upload_id).await {
                        Ok(()) => {}
                        Err(e) if e.code() == Some("NoSuchUpload") => {}
                        Err(e) => {
                            tracing::warn!(%bucket, %key, error = %e, "cannot abort the upload")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot abort the transfer's upload"),
        }
    }
    if info.direction == Direction::Download {
        let staged = staging_path(&info.local, info.id);
        for temp in [client_temp_path(&staged), staged] {
            let _ = std::fs::remove_file(temp);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        let p = Path::new("/d/report.pdf");
        assert_eq!(numbered(p, 0), Path::new("/d/report.pdf"));
        assert_eq!(numbered(p, 1), Path::new("/d/report (1).pdf"));
        assert_eq!(
            numbered(Path::new("/d/a.tar.gz"), 2),
            Path::new("/d/a (2).tar.gz")
        );
        assert_eq!(numbered(Path::new("/d/.env"), 1), Path::new("/d/.env (1)"));
        assert_eq!(
            numbered(Path::new("/d/noext"), 3),
            Path::new("/d/noext (3)")
        );
    }

    #[test]
    fn publish_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        std::fs::write(&target, b"mine").unwrap();
        std::fs::write(dir.path().join("a (1).txt"), b"mine too").unwrap();
        let staged = staging_path(&target, 7);
        std::fs::write(&staged, b"downloaded").unwrap();
        let marker = dir.path().join("published");
        let got = publish(&staged, &target, Some(&marker)).unwrap();
        assert_eq!(published_file(&marker), Some(got.clone()));
        assert_eq!(got, dir.path().join("a (2).txt"));
        assert_eq!(std::fs::read(&target).unwrap(), b"mine");
        assert_eq!(std::fs::read(&got).unwrap(), b"downloaded");
        assert!(!staged.exists());
    }
}

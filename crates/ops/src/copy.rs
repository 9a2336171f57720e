//! Copies of files and trees: local → OSS (plain and resumable, or client-side encrypted),
//! OSS → local (decrypted when encrypted, else parallel and resumable), OSS → OSS (server-side:
//! CopyObject, or UploadPartCopy in parts for large objects). Trees are streamed: a download or
//! copy works on listing pages as they arrive, never holding the whole listing.
//!
//! Every failed item of a tree is reported and the others go on; keys that would land outside
//! the target directory are refused item by item. Cancellation stops new items and the
//! transfers in flight (their checkpoints are kept: the same copy resumes them).

use crate::encrypted::{download, EncryptedUpload};
use crate::error::{Error, Result};
use crate::keys::{open_object, Opened};
use crate::location::{key_for_relative, safe_relative_path, OssUrl};
use futures_util::{stream, Stream, StreamExt, TryStreamExt};
use ossvault_client::transfer::{
    self, CancellationToken, DownloadOptions, OnCancel, OnProgress, RateLimiter, TransferProgress,
    UploadOptions, UploadOutcome,
};
use ossvault_client::{
    Client, ListRequest, ObjectEntry, ObjectMeta, PartInfo, PutOptions, RangeSpec,
};
use ossvault_crypto::{Format, MasterKey, ObjectHeaders};
use ossvault_fs::DurableFile;
use ossvault_keystore::Keystore;
use ossvault_proto::limits::{MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// Objects this big or bigger are copied oss→oss with UploadPartCopy (CopyObject's limit).
const DEFAULT_COPY_THRESHOLD: u64 = 1 << 30;
const DEFAULT_COPY_PART: u64 = 64 << 20;

/// The metadata a copy keeps (user metadata and content headers), as write options.
pub fn carried_metadata(meta: &ObjectMeta) -> PutOptions {
    const KEPT: [&str; 4] = [
        "cache-control",
        "content-disposition",
        "content-encoding",
        "expires",
    ];
    let headers = meta
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-oss-meta-") || KEPT.contains(&n.as_str()))
        .cloned()
        .collect();
    PutOptions {
        content_type: meta.content_type.clone(),
        headers,
        ..Default::default()
    }
}

/// A part size that keeps within the 10,000 parts of a multipart upload.
pub fn fit_part_size(part: u64, size: u64) -> u64 {
    part.max(size.div_ceil(u64::from(MAX_PARTS)))
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// A prefix copied recursively is a directory: `photos` means `photos/`.
pub fn as_directory(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// Client-side encryption of uploads.
pub struct Encryption {
    pub master: MasterKey,
    pub format: Format,
    /// Compat: the material description to record.
    pub matdesc: Vec<(String, String)>,
}

/// How copies are made; `None` fields take the defaults measured for each kind of transfer.
#[derive(Default)]
pub struct CopySettings {
    /// Part size of multipart uploads, ranged downloads and part copies.
    pub part_size: Option<u64>,
    /// Size from which files go up in parts, objects come down in ranges and are copied in
    /// parts.
    pub bigfile_threshold: Option<u64>,
    /// Files in flight in a tree, and parts in flight for one file.
    pub jobs: Option<usize>,
    /// Where resumable transfers keep their checkpoints (`None`: not resumable).
    pub checkpoint_dir: Option<PathBuf>,
    /// Server-side encryption headers for what is written (none: the bucket's default).
    pub sse_headers: Vec<(String, String)>,
    /// Client-side encryption of uploads.
    pub encrypt: Option<Encryption>,
    /// Paces what is sent (the transfer queue's upload limit).
    pub upload_limiter: Option<Arc<RateLimiter>>,
    /// Paces what is received (the transfer queue's download limit).
    pub download_limiter: Option<Arc<RateLimiter>>,
}

/// Opens the keystore when an encrypted object needs a key (only then).
pub type KeystoreOpener = Arc<dyn Fn() -> Result<Keystore> + Send + Sync>;

/// Bytes moved, as they move (for one progress figure over a whole tree).
pub type OnBytes = Arc<dyn Fn(u64) + Send + Sync>;

/// One item of a tree, done or not.
#[derive(Debug)]
pub enum TreeItem {
    /// What an upload will send, once the local tree is walked (before any item).
    Total {
        files: u64,
        bytes: u64,
    },
    Done {
        source: String,
        destination: String,
        bytes: u64,
    },
    Failed {
        source: String,
        error: Error,
    },
    /// Not copied, and not an error: a symbolic link to a directory, a special file.
    Skipped {
        source: String,
        reason: String,
    },
}

/// Called once per item of a tree (keep it quick: items wait on it).
pub type OnItem<'a> = &'a (dyn Fn(TreeItem) + Sync);

/// What a tree copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeSummary {
    pub files: u64,
    pub bytes: u64,
    pub failed: u64,
}

/// A server-side copy's result.
#[derive(Debug, Clone)]
pub struct CopyOutcome {
    pub size: u64,
    pub etag: String,
    /// Parts of an UploadPartCopy (0 for CopyObject).
    pub parts: u32,
}

/// What one object's download wrote.
pub struct Downloaded {
    /// Bytes written to the target (plaintext for an encrypted object).
    pub written: u64,
    /// The object's metadata.
    pub meta: ObjectMeta,
    /// The object's opened envelope, when it is client-side encrypted.
    pub opened: Option<Opened>,
    /// Bytes a resumed plain download did not fetch again.
    pub bytes_resumed: u64,
}

/// Copies with shared settings and one cancellation token.
pub struct Copier<'a> {
    pub client: &'a Client,
    pub settings: CopySettings,
    pub cancel: CancellationToken,
    pub keystore: KeystoreOpener,
}

/// Counts of a tree run, and the per-item report.
struct Tally<'a> {
    files: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    on_item: OnItem<'a>,
}

impl<'a> Tally<'a> {
    fn new(on_item: OnItem<'a>) -> Self {
        Tally {
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            on_item,
        }
    }

    fn done(&self, source: String, destination: String, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        (self.on_item)(TreeItem::Done {
            source,
            destination,
            bytes,
        });
    }

    fn fail(&self, source: String, error: Error) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        (self.on_item)(TreeItem::Failed { source, error });
    }

    fn summary(&self) -> TreeSummary {
        TreeSummary {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// One local file of a tree.
pub(crate) struct LocalFile {
    pub path: PathBuf,
    pub rel: PathBuf,
    pub size: u64,
}

/// A progress callback adding one transfer's advance to `on_bytes`.
fn advance(on_bytes: &OnBytes) -> OnProgress {
    let on_bytes = on_bytes.clone();
    let last = AtomicU64::new(0);
    Arc::new(move |p: TransferProgress| {
        let before = last.fetch_max(p.done, Ordering::Relaxed);
        if p.done > before {
            on_bytes(p.done - before);
        }
    })
}

impl Copier<'_> {
    /// Files in flight in a tree: small files are bound by the server's per-object fsyncs,
    /// which many concurrent writers share (group commit), so more is faster.
    fn tree_jobs(&self) -> usize {
        self.settings.jobs.unwrap_or(16)
    }

    /// Parts in flight for one large upload or copy (each may hold a part in memory when
    /// encrypting).
    fn part_jobs(&self) -> usize {
        self.settings.jobs.unwrap_or(4)
    }

    /// Upload options for a file of `size` bytes.
    pub fn upload_options(&self, size: u64, progress: OnProgress) -> UploadOptions {
        let mut o = UploadOptions::default();
        // Without a part size, big files get bigger parts (up to 32 MiB): every part costs the
        // server a durable commit, and plaintext parts stream from the file, not from memory.
        let adaptive = (size / 32).clamp(o.part_size, 32 << 20).div_ceil(1 << 20) << 20;
        o.part_size = fit_part_size(self.settings.part_size.unwrap_or(adaptive), size);
        if let Some(t) = self.settings.bigfile_threshold {
            o.multipart_threshold = t;
        }
        o.jobs = self.part_jobs();
        o.checkpoint_dir = self.settings.checkpoint_dir.clone();
        o.progress = Some(progress);
        o.cancel = self.cancel.clone();
        o.on_cancel = OnCancel::KeepForResume;
        o.limiter = self.settings.upload_limiter.clone();
        o.put
            .headers
            .extend(self.settings.sse_headers.iter().cloned());
        o
    }

    /// Download options for plain objects.
    pub fn download_options(&self, progress: OnProgress) -> DownloadOptions {
        let mut o = DownloadOptions::default();
        if let Some(p) = self.settings.part_size {
            o.part_size = p;
        }
        if let Some(t) = self.settings.bigfile_threshold {
            o.parallel_threshold = t;
        }
        // Ranges stream to the file (nothing held per range), and more of them in flight hide
        // the per-range fsync that keeps the checkpoint truthful.
        o.jobs = self.settings.jobs.unwrap_or(8);
        o.checkpoint_dir = self.settings.checkpoint_dir.clone();
        o.progress = Some(progress);
        o.cancel = self.cancel.clone();
        o.limiter = self.settings.download_limiter.clone();
        o
    }

    /// Uploads one file to `url`: client-side encrypted when the settings say so, else the
    /// plain resumable transfer. The content type is guessed from the file name.
    pub async fn upload_file(
        &self,
        path: &Path,
        url: &OssUrl,
        progress: OnProgress,
    ) -> Result<UploadOutcome> {
        let size = fs::metadata(path).map_err(Error::io(path))?.len();
        let mut opts = self.upload_options(size, progress);
        opts.put.content_type = mime_guess::from_path(path)
            .first()
            .map(|m| m.essence_str().to_owned());
        if let Some(e) = &self.settings.encrypt {
            let upload = self.encrypted_upload(e, opts, None);
            return upload.upload(path, &url.bucket, &url.key).await;
        }
        Ok(transfer::upload_file(self.client, path, &url.bucket, &url.key, &opts).await?)
    }

    /// The encrypted upload that `opts` describe (resumable with a `checkpoint` file).
    pub fn encrypted_upload<'e>(
        &'e self,
        encryption: &'e Encryption,
        opts: UploadOptions,
        checkpoint: Option<PathBuf>,
    ) -> EncryptedUpload<'e> {
        EncryptedUpload {
            client: self.client,
            master: &encryption.master,
            format: encryption.format,
            matdesc: encryption.matdesc.clone(),
            part_size: opts.part_size,
            threshold: opts.multipart_threshold,
            jobs: opts.jobs,
            put: opts.put,
            progress: opts.progress.unwrap_or_else(|| Arc::new(|_| {})),
            cancel: opts.cancel,
            limiter: opts.limiter,
            checkpoint,
        }
    }

    /// Uploads every regular file under `root` to `dst` (a prefix), `jobs` files at a time.
    pub async fn upload_tree(
        &self,
        root: &Path,
        dst: &OssUrl,
        on_bytes: OnBytes,
        on_item: OnItem<'_>,
    ) -> Result<TreeSummary> {
        let tally = Tally::new(on_item);
        let files = walk(
            root,
            &mut |source, error| tally.fail(source, error),
            &mut |source, reason| on_item(TreeItem::Skipped { source, reason }),
        );
        on_item(TreeItem::Total {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.size).sum(),
        });
        let prefix = as_directory(&dst.key);
        stream::iter(files)
            .map(|file| {
                let (tally, prefix, on_bytes) = (&tally, &prefix, &on_bytes);
                async move {
                    if self.cancel.is_cancelled() {
                        return;
                    }
                    let source = file.path.display().to_string();
                    let key = match key_for_relative(prefix, &file.rel) {
                        Ok(k) => k,
                        Err(e) => return tally.fail(source, Error::InvalidInput(e)),
                    };
                    let url = dst.with_key(key);
                    match self.upload_file(&file.path, &url, advance(on_bytes)).await {
                        Ok(outcome) => tally.done(source, url.to_string(), outcome.size),
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => tally.fail(source, e),
                    }
                }
            })
            .buffer_unordered(self.tree_jobs())
            .collect::<()>()
            .await;
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(tally.summary())
    }

    /// An object's metadata, and its opened envelope if it is client-side encrypted (`None`:
    /// the plain fast path, which reuses the metadata instead of a second HEAD).
    pub async fn inspect(&self, src: &OssUrl) -> Result<(ObjectMeta, Option<Opened>)> {
        let meta = self.client.head_object(&src.bucket, &src.key).await?;
        let headers = ObjectHeaders::parse(&meta.headers)?;
        if !headers.is_encrypted() {
            return Ok((meta, None));
        }
        let keystore = self.keystore.clone();
        let opened = open_object(self.client, &headers, move || keystore()).await?;
        Ok((meta, Some(opened)))
    }

    /// Downloads one object to `target`: decrypted if it is client-side encrypted, else
    /// through the plain (resumable, parallel) transfer. Returns the bytes written.
    pub async fn download_object(
        &self,
        url: &OssUrl,
        target: &Path,
        on_bytes: &OnBytes,
    ) -> Result<u64> {
        let inspected = self.inspect(url).await?;
        Ok(self
            .download_inspected(url, target, inspected, None, on_bytes)
            .await?
            .written)
    }

    /// Downloads an object that [`Copier::inspect`] looked at, or a `range` of it, to
    /// `target`. A client-side encrypted object is decrypted (the range is then one of the
    /// plaintext) into a temporary file renamed once all of it decrypted; a whole plain object
    /// goes through the resumable parallel transfer; a plain range into a temporary file beside
    /// the target, fsynced and renamed. The target never holds a partial download.
    pub async fn download_inspected(
        &self,
        url: &OssUrl,
        target: &Path,
        (meta, opened): (ObjectMeta, Option<Opened>),
        range: Option<RangeSpec>,
        on_bytes: &OnBytes,
    ) -> Result<Downloaded> {
        if let Some(opened) = opened {
            let on_bytes = on_bytes.clone();
            let decrypting = download(
                self.client,
                &url.bucket,
                &url.key,
                &meta,
                &opened.envelope,
                target,
                range,
                self.settings.download_limiter.as_deref(),
                move |n| on_bytes(n),
            );
            let written = tokio::select! {
                r = decrypting => r?,
                _ = self.cancel.cancelled() => return Err(Error::Cancelled),
            };
            return Ok(Downloaded {
                written,
                meta,
                opened: Some(opened),
                bytes_resumed: 0,
            });
        }
        if let Some(range) = range {
            return self
                .download_plain_range(url, target, range, on_bytes)
                .await;
        }
        let mut opts = self.download_options(advance(on_bytes));
        opts.known_meta = Some(meta.clone());
        let outcome =
            transfer::download_file(self.client, &url.bucket, &url.key, target, &opts).await?;
        Ok(Downloaded {
            written: outcome.size,
            meta,
            opened: None,
            bytes_resumed: outcome.bytes_resumed,
        })
    }

    /// A range of a plain object, through a [`DurableFile`] beside the target.
    async fn download_plain_range(
        &self,
        url: &OssUrl,
        target: &Path,
        range: RangeSpec,
        on_bytes: &OnBytes,
    ) -> Result<Downloaded> {
        // Mode 0666 less the umask, as for any new file.
        let mut durable = DurableFile::create(target, 0o666).map_err(Error::io(target))?;
        let temp = durable.temp_path().to_owned();
        let copy = durable.file().try_clone().map_err(Error::io(&temp))?;
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(copy));
        let mut written = 0u64;
        let download = self.client.download(
            &url.bucket,
            &url.key,
            Some(range),
            &mut file,
            self.settings.download_limiter.as_deref(),
            |n| {
                written += n;
                on_bytes(n);
            },
        );
        let meta = tokio::select! {
            r = download => r?,
            _ = self.cancel.cancelled() => return Err(Error::Cancelled),
        };
        file.flush().await.map_err(Error::io(&temp))?;
        drop(file);
        durable.commit().map_err(Error::io(target))?;
        Ok(Downloaded {
            written,
            meta,
            opened: None,
            bytes_resumed: 0,
        })
    }

    /// The objects under a prefix, as the listing pages arrive.
    fn objects<'s>(
        &'s self,
        bucket: &str,
        prefix: &str,
    ) -> impl Stream<Item = Result<ObjectEntry, ossvault_client::Error>> + 's {
        let request = ListRequest {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        self.client
            .list_pages(bucket, request)
            .map_ok(|page| stream::iter(page.objects.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The next listed object to work on: `None` once the run is cancelled, or when the
    /// listing failed (the error is kept for [`Copier::end_listed_run`]).
    fn take_entry(
        &self,
        entry: Result<ObjectEntry, ossvault_client::Error>,
        listing_error: &Mutex<Option<ossvault_client::Error>>,
    ) -> Option<ObjectEntry> {
        match entry {
            Err(e) => {
                *listing_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                None
            }
            Ok(_) if self.cancel.is_cancelled() => None,
            Ok(e) => Some(e),
        }
    }

    /// The end of a tree run driven by a listing: cancellation wins, then a listing failure
    /// (the run saw only part of the prefix), then the summary.
    fn end_listed_run(
        &self,
        listing_error: Mutex<Option<ossvault_client::Error>>,
        tally: &Tally<'_>,
    ) -> Result<TreeSummary> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(e) = listing_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(e.into());
        }
        Ok(tally.summary())
    }

    /// Downloads every object under `src` (a prefix) into `root`, confined to it: a key with
    /// a `..` segment, an absolute path, a NUL, a backslash or a drive letter is refused and
    /// reported, the others are downloaded.
    pub async fn download_tree(
        &self,
        src: &OssUrl,
        root: &Path,
        on_bytes: OnBytes,
        on_item: OnItem<'_>,
    ) -> Result<TreeSummary> {
        let prefix = as_directory(&src.key);
        fs::create_dir_all(root).map_err(Error::io(root))?;
        let tally = Tally::new(on_item);
        let listing_error = Mutex::new(None);
        self.objects(&src.bucket, &prefix)
            .map(|entry| {
                let (tally, prefix, listing_error, on_bytes) =
                    (&tally, &prefix, &listing_error, &on_bytes);
                async move {
                    let Some(entry) = self.take_entry(entry, listing_error) else {
                        return;
                    };
                    let url = src.with_key(entry.key.clone());
                    let source = url.to_string();
                    let rel = entry
                        .key
                        .strip_prefix(prefix.as_str())
                        .unwrap_or(&entry.key);
                    if rel.is_empty() {
                        return; // the "directory" object of the prefix itself
                    }
                    let rel_path = match safe_relative_path(rel) {
                        Ok(p) => p,
                        Err(e) => {
                            return tally.fail(
                                source,
                                Error::UnsafeKey(format!(
                                    "refused: {e}; it would not stay inside {}",
                                    root.display()
                                )),
                            )
                        }
                    };
                    let target = root.join(rel_path);
                    let dir = if entry.key.ends_with('/') {
                        Some(target.as_path())
                    } else {
                        target.parent()
                    };
                    if let Some(dir) = dir {
                        if let Err(e) = fs::create_dir_all(dir) {
                            return tally.fail(source, Error::io(dir)(e));
                        }
                    }
                    if entry.key.ends_with('/') {
                        return;
                    }
                    match self.download_object(&url, &target, on_bytes).await {
                        Ok(size) => tally.done(source, target.display().to_string(), size),
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => tally.fail(source, e),
                    }
                }
            })
            .buffer_unordered(self.tree_jobs())
            .collect::<()>()
            .await;
        self.end_listed_run(listing_error, &tally)
    }

    /// A server-side copy: CopyObject, or UploadPartCopy in parts for large objects.
    pub async fn copy_object(
        &self,
        src: &OssUrl,
        dst: &OssUrl,
        on_bytes: &OnBytes,
    ) -> Result<CopyOutcome> {
        let meta = self.client.head_object(&src.bucket, &src.key).await?;
        let threshold = self
            .settings
            .bigfile_threshold
            .unwrap_or(DEFAULT_COPY_THRESHOLD);
        if meta.size >= threshold {
            return self.copy_parts(src, dst, &meta, on_bytes).await;
        }
        // With SSE headers the copy must carry them, which only a REPLACE copy takes: it
        // replaces the metadata with the source's own.
        let replace = (!self.settings.sse_headers.is_empty()).then(|| {
            let mut opts = carried_metadata(&meta);
            opts.headers
                .extend(self.settings.sse_headers.iter().cloned());
            opts
        });
        let copy = self.client.copy_object(
            &src.bucket,
            &src.key,
            &dst.bucket,
            &dst.key,
            replace.as_ref(),
        );
        let result = tokio::select! {
            r = copy => r?,
            _ = self.cancel.cancelled() => return Err(Error::Cancelled),
        };
        on_bytes(meta.size);
        Ok(CopyOutcome {
            size: meta.size,
            etag: result.etag,
            parts: 0,
        })
    }

    async fn copy_parts(
        &self,
        src: &OssUrl,
        dst: &OssUrl,
        meta: &ObjectMeta,
        on_bytes: &OnBytes,
    ) -> Result<CopyOutcome> {
        let part = fit_part_size(
            self.settings.part_size.unwrap_or(DEFAULT_COPY_PART),
            meta.size,
        );
        // CopyObject would keep the metadata: carry it over by hand.
        let mut opts = carried_metadata(meta);
        opts.headers
            .extend(self.settings.sse_headers.iter().cloned());
        let c = self.client;
        let upload_id = c.initiate_multipart(&dst.bucket, &dst.key, &opts).await?;
        let ranges: Vec<(u32, (u64, u64))> = (0..meta.size.div_ceil(part))
            .map(|i| {
                let start = i * part;
                let end = (start + part).min(meta.size) - 1;
                (i as u32 + 1, (start, end))
            })
            .collect();
        let id = upload_id.as_str();
        let copy_parts = stream::iter(ranges)
            .map(|(number, range)| async move {
                let info = c
                    .upload_part_copy(
                        &src.bucket,
                        &src.key,
                        &dst.bucket,
                        &dst.key,
                        id,
                        number,
                        range,
                    )
                    .await?;
                on_bytes(info.size);
                Ok::<PartInfo, Error>(info)
            })
            .buffer_unordered(self.part_jobs())
            .try_collect::<Vec<PartInfo>>();
        let parts = tokio::select! {
            r = copy_parts => r,
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
        };
        let completed = match parts {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.number);
                c.complete_multipart(&dst.bucket, &dst.key, &upload_id, &parts)
                    .await
                    .map(|r| (r.etag, parts.len() as u32))
                    .map_err(Error::from)
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok((etag, parts)) => Ok(CopyOutcome {
                size: meta.size,
                etag,
                parts,
            }),
            Err(e) => {
                if let Err(abort) = c.abort_multipart(&dst.bucket, &dst.key, &upload_id).await {
                    tracing::warn!("cannot abort the multipart copy to {dst}: {abort}");
                }
                Err(e)
            }
        }
    }

    /// Copies every object under `src` (a prefix) to the same relative keys under `dst`.
    pub async fn copy_tree(
        &self,
        src: &OssUrl,
        dst: &OssUrl,
        on_bytes: OnBytes,
        on_item: OnItem<'_>,
    ) -> Result<TreeSummary> {
        let src_prefix = as_directory(&src.key);
        let dst_prefix = as_directory(&dst.key);
        let tally = Tally::new(on_item);
        let listing_error = Mutex::new(None);
        let nothing: OnBytes = Arc::new(|_| {});
        self.objects(&src.bucket, &src_prefix)
            .map(|entry| {
                let (tally, listing_error, on_bytes, nothing) =
                    (&tally, &listing_error, &on_bytes, &nothing);
                let (src_prefix, dst_prefix) = (&src_prefix, &dst_prefix);
                async move {
                    let Some(entry) = self.take_entry(entry, listing_error) else {
                        return;
                    };
                    let rel = entry
                        .key
                        .strip_prefix(src_prefix.as_str())
                        .unwrap_or(&entry.key);
                    let from = src.with_key(entry.key.clone());
                    let to = dst.with_key(format!("{dst_prefix}{rel}"));
                    match self.copy_object(&from, &to, nothing).await {
                        Ok(outcome) => {
                            on_bytes(outcome.size);
                            tally.done(from.to_string(), to.to_string(), outcome.size);
                        }
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => tally.fail(from.to_string(), e),
                    }
                }
            })
            .buffer_unordered(self.tree_jobs())
            .collect::<()>()
            .await;
        self.end_listed_run(listing_error, &tally)
    }
}

/// Every regular file under `root` (symlinks to files followed, symlinked directories skipped
/// so that no loop is walked), in name order. Unreadable entries go to `failed`, entries that
/// are not regular files to `skipped` (with the reason).
pub(crate) fn walk(
    root: &Path,
    failed: &mut dyn FnMut(String, Error),
    skipped: &mut dyn FnMut(String, String),
) -> Vec<LocalFile> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel_dir) = dirs.pop() {
        let dir = root.join(&rel_dir);
        let mut entries: Vec<fs::DirEntry> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
            Err(e) => {
                failed(dir.display().to_string(), Error::io(&dir)(e));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        // Pushed in reverse so that directories are walked in name order.
        for entry in entries.into_iter().rev() {
            let path = entry.path();
            let rel = rel_dir.join(entry.file_name());
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(rel);
                continue;
            }
            let source = path.display().to_string();
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => files.push(LocalFile {
                    path,
                    rel,
                    size: m.len(),
                }),
                Ok(m) if m.is_dir() => skipped(source, "a symbolic link to a directory".into()),
                Ok(_) => skipped(source, "not a regular file".into()),
                Err(e) => failed(source, Error::io(&path)(e)),
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_fit_ten_thousand_parts() {
        assert_eq!(fit_part_size(5 << 20, 64 << 20), 5 << 20);
        assert_eq!(fit_part_size(5 << 20, 100_000 << 20), 10 << 20);
        assert_eq!(fit_part_size(1, 10), MIN_PART_SIZE);
    }

    #[test]
    fn prefixes() {
        assert_eq!(as_directory(""), "");
        assert_eq!(as_directory("a"), "a/");
        assert_eq!(as_directory("a/"), "a/");
    }
}

//! `ossvault cp`: uploads, downloads and server-side copies, single or recursive, resumable,
//! with progress, and cancelled cleanly by Ctrl-C (exit 130, checkpoints kept).

use crate::cse;
use crate::output::{Cancelled, Output, PartialFailure};
use crate::units::human_bytes;
use crate::urls::{key_file_name, key_for_relative, safe_relative_path, Location, OssUrl};
use crate::{CpArgs, FormatArg};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{stream, Stream, StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use ossvault_client::transfer::{
    self, CancellationToken, DownloadOptions, OnCancel, OnProgress, TransferProgress, UploadOptions,
};
use ossvault_client::{Client, Error as ClientError, ListRequest, ObjectEntry, RangeSpec};
use ossvault_client::{ObjectMeta, PartInfo, PutOptions};
use ossvault_crypto::{Format, MasterKey, ObjectHeaders};
use ossvault_proto::limits::{MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Objects this big or bigger are copied oss→oss with UploadPartCopy (CopyObject's limit).
const DEFAULT_COPY_THRESHOLD: u64 = 1 << 30;
const DEFAULT_COPY_PART: u64 = 64 << 20;

pub async fn run(client: &Client, out: &Output, args: &CpArgs) -> Result<()> {
    let src = Location::parse(&args.source).map_err(|e| anyhow!(e))?;
    let dst = Location::parse(&args.destination).map_err(|e| anyhow!(e))?;
    if let Some(p) = args.part_size {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p) {
            bail!("--part-size must be between 100KiB and 5GiB");
        }
    }
    if args.range.is_some()
        && (args.recursive || !matches!((&src, &dst), (Location::Oss(_), Location::Local(_))))
    {
        bail!("--range applies to the download of one object (oss://bucket/key to a local file)");
    }
    let encrypt = match (&args.encrypt, &src, &dst) {
        (None, _, _) => None,
        (Some(spec), Location::Local(_), Location::Oss(_)) => {
            Some(cse::encryption_key(client, spec, &args.keystore).await?)
        }
        (Some(_), _, _) => {
            bail!("--encrypt applies to uploads (local to oss://); downloads decrypt without it")
        }
    };
    let format = match args.format {
        Some(FormatArg::Compat) => Format::Compat,
        _ => Format::Sealed,
    };
    let mut matdesc = Vec::new();
    for entry in &args.matdesc {
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| anyhow!("--matdesc {entry:?}: expected KEY=VALUE"))?;
        matdesc.push((k.to_owned(), v.to_owned()));
    }
    if !matdesc.is_empty() && format != Format::Compat {
        bail!("--matdesc applies to --format compat (the OSS SDKs' format)");
    }
    let cancel = CancellationToken::new();
    watch_interrupt(cancel.clone())?;
    let job = Job {
        client,
        out,
        args,
        checkpoint_dir: checkpoint_dir(args, out),
        cancel: cancel.clone(),
        encrypt,
        format,
        matdesc,
    };
    let result = match (src, dst) {
        (Location::Local(_), Location::Local(_)) => {
            bail!("one of SRC and DST must be an oss:// URL (use your shell's cp for local copies)")
        }
        (Location::Local(path), Location::Oss(url)) => {
            if args.recursive && path.is_dir() {
                job.upload_tree(&path, &url).await
            } else {
                job.upload_one(&path, &url).await
            }
        }
        (Location::Oss(url), Location::Local(path)) => {
            if args.recursive {
                job.download_tree(&url, &path).await
            } else {
                job.download_one(&url, &path).await
            }
        }
        (Location::Oss(from), Location::Oss(to)) => {
            if args.recursive {
                job.copy_tree(&from, &to).await
            } else {
                job.copy_single(&from, &to).await
            }
        }
    };
    if cancel.is_cancelled() {
        return Err(Cancelled.into());
    }
    result
}

/// The first SIGINT cancels the transfers (they stop and keep their checkpoints); a second
/// one exits at once.
fn watch_interrupt(cancel: CancellationToken) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered now, before any transfer starts, so that no SIGINT is missed.
    let mut interrupts = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        if interrupts.recv().await.is_some() {
            cancel.cancel();
        }
        if interrupts.recv().await.is_some() {
            std::process::exit(130);
        }
    });
    Ok(())
}

fn checkpoint_dir(args: &CpArgs, out: &Output) -> Option<PathBuf> {
    let dir = args
        .checkpoint_dir
        .clone()
        .or_else(|| dirs::cache_dir().map(|d| d.join("ossvault").join("checkpoints")))?;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
    {
        Ok(()) => Some(dir),
        Err(e) => {
            out.warn(format!(
                "cannot create the checkpoint directory {}: {e}; transfers will not be resumable",
                dir.display()
            ));
            None
        }
    }
}

/// `a-b`, `a-` or `-n`.
pub fn parse_range(s: &str) -> Result<RangeSpec> {
    let bad = || anyhow!("invalid --range {s:?}: expected a-b, a- or -n (bytes, inclusive)");
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match num(b)? {
            0 => Err(bad()),
            n => Ok(RangeSpec::Last(n)),
        },
        (false, true) => Ok(RangeSpec::From {
            start: num(a)?,
            end: None,
        }),
        (false, false) => {
            let (start, end) = (num(a)?, num(b)?);
            if end < start {
                return Err(bad());
            }
            Ok(RangeSpec::From {
                start,
                end: Some(end),
            })
        }
        (true, true) => Err(bad()),
    }
}

/// A part size that keeps within the 10,000 parts of a multipart upload.
fn fit_part_size(part: u64, size: u64) -> u64 {
    part.max(size.div_ceil(u64::from(MAX_PARTS)))
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// A destination key ending with `/` (or empty) means "into this prefix".
fn into_prefix(key: &str) -> bool {
    key.is_empty() || key.ends_with('/')
}

/// A prefix copied recursively is a directory: `photos` means `photos/`.
fn as_directory(prefix: &str) -> String {
    if into_prefix(prefix) {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

fn fmt_crc(crc: Option<u64>) -> Value {
    crc.map_or(Value::Null, |c| Value::String(c.to_string()))
}

/// Counts for recursive commands.
#[derive(Default)]
struct Tally {
    files: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<Vec<Value>>,
}

impl Tally {
    fn ok(&self, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn fail(&self, out: &Output, what: &str, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        out.warn(format!("{what}: {error}"));
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(json!({ "source": what, "error": error }));
        }
    }

    /// The summary document, and the failure that sets the exit code.
    fn finish(&self, out: &Output, operation: &str, src: &str, dst: &str) -> Result<()> {
        let files = self.files.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        if out.json {
            let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
            out.json(&json!({
                "operation": operation,
                "source": src,
                "destination": dst,
                "files": files,
                "bytes": bytes,
                "failed": failed,
                "errors": errors,
            }))?;
        } else {
            let verb = match operation {
                "upload" => "uploaded",
                "download" => "downloaded",
                _ => "copied",
            };
            out.line(format!(
                "{verb} {files} files ({}){}",
                human_bytes(bytes),
                if failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                }
            ))?;
        }
        if failed > 0 {
            return Err(PartialFailure {
                failed,
                total: files + failed,
            }
            .into());
        }
        Ok(())
    }
}

/// A progress callback moving `bar` to one transfer's position.
fn single_progress(bar: &ProgressBar) -> OnProgress {
    let bar = bar.clone();
    Arc::new(move |p: TransferProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })
}

/// A progress callback adding one transfer's advance to a shared `bar`.
fn shared_progress(bar: &ProgressBar) -> OnProgress {
    let bar = bar.clone();
    let last = AtomicU64::new(0);
    Arc::new(move |p: TransferProgress| {
        let before = last.fetch_max(p.done, Ordering::Relaxed);
        if p.done > before {
            bar.inc(p.done - before);
        }
    })
}

struct Job<'a> {
    client: &'a Client,
    out: &'a Output,
    args: &'a CpArgs,
    checkpoint_dir: Option<PathBuf>,
    cancel: CancellationToken,
    /// `--encrypt`: the master key of client-side encrypted uploads.
    encrypt: Option<MasterKey>,
    format: Format,
    /// `--matdesc` of compat uploads.
    matdesc: Vec<(String, String)>,
}

/// One local file of a tree.
struct LocalFile {
    path: PathBuf,
    rel: PathBuf,
    size: u64,
}

impl Job<'_> {
    /// Files in flight with -r: small files are bound by the server's per-object fsyncs,
    /// which many concurrent writers share (group commit), so more is faster.
    fn jobs(&self) -> usize {
        self.args.jobs.unwrap_or(16) as usize
    }

    /// Parts in flight for one large upload or copy (each may hold a part in memory when
    /// encrypting).
    fn part_jobs(&self) -> usize {
        self.args.jobs.unwrap_or(4) as usize
    }

    fn upload_options(&self, size: u64, progress: OnProgress) -> UploadOptions {
        let mut o = UploadOptions::default();
        // Without --part-size, big files get bigger parts (up to 32 MiB): every part costs the
        // server a durable commit, and plaintext parts stream from the file, not from memory.
        let adaptive = (size / 32).clamp(o.part_size, 32 << 20).div_ceil(1 << 20) << 20;
        o.part_size = fit_part_size(self.args.part_size.unwrap_or(adaptive), size);
        if let Some(t) = self.args.bigfile_threshold {
            o.multipart_threshold = t;
        }
        o.jobs = self.part_jobs();
        o.checkpoint_dir = self.checkpoint_dir.clone();
        o.progress = Some(progress);
        o.cancel = self.cancel.clone();
        o.on_cancel = OnCancel::KeepForResume;
        o.put.headers.extend(self.sse_headers());
        o
    }

    /// The SSE headers `--sse` asks for (none: the bucket's default applies).
    fn sse_headers(&self) -> Vec<(String, String)> {
        self.args
            .sse
            .map(|s| s.headers(self.args.kms_key_id.as_deref()))
            .unwrap_or_default()
    }

    fn download_options(&self, progress: OnProgress) -> DownloadOptions {
        let mut o = DownloadOptions::default();
        if let Some(p) = self.args.part_size {
            o.part_size = p;
        }
        if let Some(t) = self.args.bigfile_threshold {
            o.parallel_threshold = t;
        }
        // Ranges stream to the file (nothing held per range), and more of them in flight hide
        // the per-range fsync that keeps the checkpoint truthful.
        o.jobs = self.args.jobs.unwrap_or(8) as usize;
        o.checkpoint_dir = self.checkpoint_dir.clone();
        o.progress = Some(progress);
        o.cancel = self.cancel.clone();
        o
    }

    // ---- local → oss ----

    async fn upload_one(&self, path: &Path, dst: &OssUrl) -> Result<()> {
        let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            bail!("{} is a directory (add -r to copy a tree)", path.display());
        }
        let key = if into_prefix(&dst.key) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| anyhow!("{} has no UTF-8 file name", path.display()))?;
            format!("{}{name}", dst.key)
        } else {
            dst.key.clone()
        };
        let url = dst.with_key(key);
        let bar = self.out.bar(Some(meta.len()), path.display().to_string());
        let opts = self.upload_options(meta.len(), single_progress(&bar));
        let outcome = self.upload(path, &url, opts).await;
        bar.finish_and_clear();
        let outcome = outcome.with_context(|| format!("upload {} to {url}", path.display()))?;
        if self.out.json {
            self.out.json(&json!({
                "operation": "upload",
                "source": path.display().to_string(),
                "destination": url.to_string(),
                "size": outcome.size,
                "etag": outcome.etag.trim_matches('"'),
                "crc64": fmt_crc(outcome.crc64),
                "parts_sent": outcome.parts_sent,
                "parts_resumed": outcome.parts_resumed,
            }))?;
        } else {
            let resumed = if outcome.parts_resumed > 0 {
                format!(", {} parts resumed", outcome.parts_resumed)
            } else {
                String::new()
            };
            self.out.line(format!(
                "upload: {} -> {url} ({}, {} part{} sent{resumed})",
                path.display(),
                human_bytes(outcome.size),
                outcome.parts_sent,
                if outcome.parts_sent == 1 { "" } else { "s" }
            ))?;
        }
        Ok(())
    }

    async fn upload(
        &self,
        path: &Path,
        url: &OssUrl,
        mut opts: UploadOptions,
    ) -> Result<transfer::UploadOutcome> {
        opts.put.content_type = mime_guess::from_path(path)
            .first()
            .map(|m| m.essence_str().to_owned());
        if let Some(master) = &self.encrypt {
            let upload = cse::EncryptedUpload {
                client: self.client,
                master,
                format: self.format,
                matdesc: self.matdesc.clone(),
                part_size: opts.part_size,
                threshold: opts.multipart_threshold,
                jobs: opts.jobs,
                put: opts.put,
                progress: opts.progress.unwrap_or_else(|| Arc::new(|_| {})),
                cancel: opts.cancel,
            };
            return upload.upload(path, &url.bucket, &url.key).await;
        }
        Ok(transfer::upload_file(self.client, path, &url.bucket, &url.key, &opts).await?)
    }

    async fn upload_tree(&self, root: &Path, dst: &OssUrl) -> Result<()> {
        let tally = Tally::default();
        let files = walk(root, self.out, &tally);
        let prefix = as_directory(&dst.key);
        let total: u64 = files.iter().map(|f| f.size).sum();
        let bar = self.out.bar(Some(total), format!("{} files", files.len()));
        stream::iter(files)
            .map(|file| {
                let (bar, tally, prefix) = (&bar, &tally, &prefix);
                async move {
                    if self.cancel.is_cancelled() {
                        return;
                    }
                    let what = file.path.display().to_string();
                    let key = match key_for_relative(prefix, &file.rel) {
                        Ok(k) => k,
                        Err(e) => return tally.fail(self.out, &what, e),
                    };
                    let url = dst.with_key(key);
                    let opts = self.upload_options(file.size, shared_progress(bar));
                    match self.upload(&file.path, &url, opts).await {
                        Ok(outcome) => {
                            tally.ok(outcome.size);
                            if !self.out.json {
                                let _ = self.out.line(format!(
                                    "upload: {what} -> {url} ({})",
                                    human_bytes(outcome.size)
                                ));
                            }
                        }
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => tally.fail(self.out, &what, crate::output::render_error(&e)),
                    }
                }
            })
            .buffer_unordered(self.jobs())
            .collect::<()>()
            .await;
        bar.finish_and_clear();
        if self.cancel.is_cancelled() {
            return Err(Cancelled.into());
        }
        tally.finish(
            self.out,
            "upload",
            &root.display().to_string(),
            &dst.with_key(prefix.clone()).to_string(),
        )
    }

    // ---- oss → local ----

    async fn download_one(&self, src: &OssUrl, dst: &Path) -> Result<()> {
        if into_prefix(&src.key) {
            bail!("{src} is not an object (add -r to download everything under a prefix)");
        }
        let dst_text = self.args.destination.as_str();
        let target = if dst.is_dir() || dst_text.ends_with('/') {
            dst.join(key_file_name(&src.key).map_err(|e| anyhow!("refused {src}: {e}"))?)
        } else {
            dst.to_path_buf()
        };
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let (meta, opened) = self.inspect(src).await?;
        if let Some(opened) = opened {
            return self.download_encrypted(src, &target, &meta, &opened).await;
        }
        if let Some(range) = &self.args.range {
            return self.download_range(src, &target, parse_range(range)?).await;
        }
        let bar = self.out.bar(Some(0), src.to_string());
        let mut opts = self.download_options(single_progress(&bar));
        opts.known_meta = Some(meta);
        let outcome =
            transfer::download_file(self.client, &src.bucket, &src.key, &target, &opts).await;
        bar.finish_and_clear();
        let outcome = outcome.with_context(|| format!("download {src} to {}", target.display()))?;
        if self.out.json {
            self.out.json(&json!({
                "operation": "download",
                "source": src.to_string(),
                "destination": target.display().to_string(),
                "size": outcome.size,
                "etag": outcome.etag.trim_matches('"'),
                "bytes_resumed": outcome.bytes_resumed,
            }))?;
        } else {
            self.out.line(format!(
                "download: {src} -> {} ({})",
                target.display(),
                human_bytes(outcome.size)
            ))?;
        }
        Ok(())
    }

    /// An object's metadata, and its opened envelope if it is client-side encrypted (`None`:
    /// the plain fast path, which reuses the metadata instead of a second HEAD).
    async fn inspect(&self, src: &OssUrl) -> Result<(ObjectMeta, Option<cse::Opened>)> {
        let meta = self
            .client
            .head_object(&src.bucket, &src.key)
            .await
            .with_context(|| format!("{src}"))?;
        let headers = ObjectHeaders::parse(&meta.headers).with_context(|| format!("{src}"))?;
        if !headers.is_encrypted() {
            return Ok((meta, None));
        }
        let opened = cse::open_object(self.client, &headers, &self.args.keystore).await?;
        Ok((meta, Some(opened)))
    }

    /// A client-side encrypted download (whole, or `--range` of the plaintext): decrypted into
    /// a temp file beside the target, renamed only once everything decrypted.
    async fn download_encrypted(
        &self,
        src: &OssUrl,
        target: &Path,
        meta: &ObjectMeta,
        opened: &cse::Opened,
    ) -> Result<()> {
        let range = self.args.range.as_deref().map(parse_range).transpose()?;
        let bar = self.out.bar(Some(meta.size), src.to_string());
        let download = cse::download(
            self.client,
            &src.bucket,
            &src.key,
            meta,
            &opened.envelope,
            target,
            range,
            |n| bar.inc(n),
        );
        let written = tokio::select! {
            r = download => r.with_context(|| format!("download {src} to {}", target.display()))?,
            _ = self.cancel.cancelled() => return Err(Cancelled.into()),
        };
        bar.finish_and_clear();
        if self.out.json {
            self.out.json(&json!({
                "operation": "download",
                "source": src.to_string(),
                "destination": target.display().to_string(),
                "range": self.args.range,
                "size": written,
                "etag": meta.etag.trim_matches('"'),
                "client_side_encryption": opened.envelope.format().to_string(),
                "key": opened.key_label,
            }))?;
        } else {
            self.out.line(format!(
                "download: {src}{} -> {} ({}, decrypted with {})",
                self.args
                    .range
                    .as_deref()
                    .map(|r| format!(" [{r}]"))
                    .unwrap_or_default(),
                target.display(),
                human_bytes(written),
                opened.key_label
            ))?;
        }
        Ok(())
    }

    /// Downloads one object of a tree: decrypting it if it is client-side encrypted, else
    /// through the plain (resumable, parallel) transfer. Returns the bytes written.
    async fn download_entry(&self, url: &OssUrl, target: &Path, bar: &ProgressBar) -> Result<u64> {
        let (meta, opened) = self.inspect(url).await?;
        if let Some(opened) = opened {
            let bar = bar.clone();
            return cse::download(
                self.client,
                &url.bucket,
                &url.key,
                &meta,
                &opened.envelope,
                target,
                None,
                move |n| bar.inc(n),
            )
            .await;
        }
        let mut opts = self.download_options(shared_progress(bar));
        opts.known_meta = Some(meta);
        let outcome =
            transfer::download_file(self.client, &url.bucket, &url.key, target, &opts).await?;
        Ok(outcome.size)
    }

    /// A ranged download: into a temp file beside the target, synced, then renamed.
    async fn download_range(&self, src: &OssUrl, target: &Path, range: RangeSpec) -> Result<()> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Mode 0666 less the umask, as for any new file (tempfile's default is 0600).
        let tmp = tempfile::Builder::new()
            .prefix(".ossvault-")
            .suffix(".part")
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(tmp.reopen()?));
        let bar = self.out.bar(None, src.to_string());
        let mut written = 0u64;
        let download = self
            .client
            .download(&src.bucket, &src.key, Some(range), &mut file, |n| {
                written += n;
                bar.inc(n);
            });
        let meta: ObjectMeta = tokio::select! {
            r = download => r.with_context(|| format!("download {src}"))?,
            _ = self.cancel.cancelled() => return Err(Cancelled.into()),
        };
        bar.finish_and_clear();
        file.into_inner().sync_all().await?;
        tmp.persist(target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        fs::File::open(&dir).and_then(|d| d.sync_all()).ok();
        if self.out.json {
            self.out.json(&json!({
                "operation": "download",
                "source": src.to_string(),
                "destination": target.display().to_string(),
                "range": self.args.range,
                "size": written,
                "object_size": meta.size,
                "etag": meta.etag.trim_matches('"'),
            }))?;
        } else {
            self.out.line(format!(
                "download: {src} [{}] -> {} ({})",
                self.args.range.as_deref().unwrap_or_default(),
                target.display(),
                human_bytes(written)
            ))?;
        }
        Ok(())
    }

    /// The objects under a prefix, as the listing pages arrive.
    fn objects<'s>(
        &'s self,
        bucket: &str,
        prefix: &str,
    ) -> impl Stream<Item = Result<ObjectEntry, ClientError>> + 's {
        let request = ListRequest {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        self.client
            .list_pages(bucket, request)
            .map_ok(|page| stream::iter(page.objects.into_iter().map(Ok)))
            .try_flatten()
    }

    async fn download_tree(&self, src: &OssUrl, root: &Path) -> Result<()> {
        let prefix = as_directory(&src.key);
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let tally = Tally::default();
        let bar = self.out.bar(None, format!("{src}"));
        let listing_error: Mutex<Option<ClientError>> = Mutex::new(None);
        self.objects(&src.bucket, &prefix)
            .map(|entry| {
                let (bar, tally, prefix, listing_error) = (&bar, &tally, &prefix, &listing_error);
                async move {
                    let Some(entry) = self.take_entry(entry, listing_error) else {
                        return;
                    };
                    let url = src.with_key(entry.key.clone());
                    let what = url.to_string();
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
                                self.out,
                                &what,
                                format!(
                                    "refused: {e}; it would not stay inside {}",
                                    root.display()
                                ),
                            )
                        }
                    };
                    let target = root.join(rel_path);
                    if entry.key.ends_with('/') {
                        return match fs::create_dir_all(&target) {
                            Ok(()) => {}
                            Err(e) => tally.fail(
                                self.out,
                                &what,
                                format!("cannot create {}: {e}", target.display()),
                            ),
                        };
                    }
                    if let Some(parent) = target.parent() {
                        if let Err(e) = fs::create_dir_all(parent) {
                            return tally.fail(
                                self.out,
                                &what,
                                format!("cannot create {}: {e}", parent.display()),
                            );
                        }
                    }
                    match self.download_entry(&url, &target, bar).await {
                        Ok(size) => {
                            tally.ok(size);
                            if !self.out.json {
                                let _ = self.out.line(format!(
                                    "download: {what} -> {} ({})",
                                    target.display(),
                                    human_bytes(size)
                                ));
                            }
                        }
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => tally.fail(self.out, &what, crate::output::render_error(&e)),
                    }
                }
            })
            .buffer_unordered(self.jobs())
            .collect::<()>()
            .await;
        self.end_listed_run(
            &bar,
            listing_error,
            &tally,
            src,
            "download",
            &src.with_key(prefix.clone()).to_string(),
            &root.display().to_string(),
        )
    }

    /// The next listed object to work on: `None` once the run is cancelled, or when the
    /// listing failed (the error is kept for `end_listed_run`).
    fn take_entry(
        &self,
        entry: Result<ObjectEntry, ClientError>,
        listing_error: &Mutex<Option<ClientError>>,
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

    /// The end of a recursive run driven by a listing: cancellation wins, then a listing
    /// failure (the run saw only part of the prefix), then the tally's verdict.
    #[allow(clippy::too_many_arguments)]
    fn end_listed_run(
        &self,
        bar: &ProgressBar,
        listing_error: Mutex<Option<ClientError>>,
        tally: &Tally,
        listed: &OssUrl,
        operation: &str,
        from: &str,
        to: &str,
    ) -> Result<()> {
        bar.finish_and_clear();
        if self.cancel.is_cancelled() {
            return Err(Cancelled.into());
        }
        if let Some(e) = listing_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(anyhow::Error::new(e).context(format!("listing {listed}")));
        }
        tally.finish(self.out, operation, from, to)
    }

    // ---- oss → oss ----

    async fn copy_single(&self, src: &OssUrl, dst: &OssUrl) -> Result<()> {
        if into_prefix(&src.key) {
            bail!("{src} is not an object (add -r to copy everything under a prefix)");
        }
        let key = if into_prefix(&dst.key) {
            let name = src.key.rsplit('/').next().unwrap_or(&src.key);
            format!("{}{name}", dst.key)
        } else {
            dst.key.clone()
        };
        let dst = dst.with_key(key);
        let bar = self.out.bar(Some(0), src.to_string());
        let copied = self.copy(src, &dst, &bar).await;
        bar.finish_and_clear();
        let (size, etag, parts) = copied.with_context(|| format!("copy {src} to {dst}"))?;
        if self.out.json {
            self.out.json(&json!({
                "operation": "copy",
                "source": src.to_string(),
                "destination": dst.to_string(),
                "size": size,
                "etag": etag.trim_matches('"'),
                "parts": parts,
            }))?;
        } else {
            self.out
                .line(format!("copy: {src} -> {dst} ({})", human_bytes(size)))?;
        }
        Ok(())
    }

    /// A server-side copy: CopyObject, or UploadPartCopy in parts for large objects.
    /// Returns the size, the ETag and the number of parts (0 for CopyObject).
    async fn copy(
        &self,
        src: &OssUrl,
        dst: &OssUrl,
        bar: &ProgressBar,
    ) -> Result<(u64, String, u32), ClientError> {
        let meta = self.client.head_object(&src.bucket, &src.key).await?;
        let threshold = self
            .args
            .bigfile_threshold
            .unwrap_or(DEFAULT_COPY_THRESHOLD);
        bar.set_length(meta.size);
        if meta.size < threshold {
            // With --sse the copy must carry SSE headers, which only a REPLACE copy takes: it
            // replaces the metadata with the source's own.
            let replace = self.args.sse.map(|_| {
                let mut opts = carried_metadata(&meta);
                opts.headers.extend(self.sse_headers());
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
                _ = self.cancel.cancelled() => return Err(ClientError::Cancelled),
            };
            bar.inc(meta.size);
            return Ok((meta.size, result.etag, 0));
        }
        self.copy_parts(src, dst, &meta, bar).await
    }

    async fn copy_parts(
        &self,
        src: &OssUrl,
        dst: &OssUrl,
        meta: &ObjectMeta,
        bar: &ProgressBar,
    ) -> Result<(u64, String, u32), ClientError> {
        let part = fit_part_size(self.args.part_size.unwrap_or(DEFAULT_COPY_PART), meta.size);
        // CopyObject would keep the metadata: carry it over by hand.
        let mut opts = carried_metadata(meta);
        opts.headers.extend(self.sse_headers());
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
                bar.inc(info.size);
                Ok::<PartInfo, ClientError>(info)
            })
            .buffer_unordered(self.part_jobs())
            .try_collect::<Vec<PartInfo>>();
        let parts = tokio::select! {
            r = copy_parts => r,
            _ = self.cancel.cancelled() => Err(ClientError::Cancelled),
        };
        let completed = match parts {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.number);
                c.complete_multipart(&dst.bucket, &dst.key, &upload_id, &parts)
                    .await
                    .map(|r| (r.etag, parts.len() as u32))
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok((etag, n)) => Ok((meta.size, etag, n)),
            Err(e) => {
                if let Err(abort) = c.abort_multipart(&dst.bucket, &dst.key, &upload_id).await {
                    tracing::warn!("cannot abort the multipart copy to {dst}: {abort}");
                }
                Err(e)
            }
        }
    }

    async fn copy_tree(&self, src: &OssUrl, dst: &OssUrl) -> Result<()> {
        let src_prefix = as_directory(&src.key);
        let dst_prefix = as_directory(&dst.key);
        let tally = Tally::default();
        let bar = self.out.bar(None, src.to_string());
        let listing_error: Mutex<Option<ClientError>> = Mutex::new(None);
        self.objects(&src.bucket, &src_prefix)
            .map(|entry| {
                let (bar, tally, listing_error) = (&bar, &tally, &listing_error);
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
                    let what = from.to_string();
                    match self.copy(&from, &to, &ProgressBar::hidden()).await {
                        Ok((size, _, _)) => {
                            bar.inc(size);
                            tally.ok(size);
                            if !self.out.json {
                                let _ = self
                                    .out
                                    .line(format!("copy: {from} -> {to} ({})", human_bytes(size)));
                            }
                        }
                        Err(_) if self.cancel.is_cancelled() => {}
                        Err(e) => {
                            tally.fail(self.out, &what, crate::output::render_client_error(&e))
                        }
                    }
                }
            })
            .buffer_unordered(self.jobs())
            .collect::<()>()
            .await;
        self.end_listed_run(
            &bar,
            listing_error,
            &tally,
            src,
            "copy",
            &src.with_key(src_prefix.clone()).to_string(),
            &dst.with_key(dst_prefix.clone()).to_string(),
        )
    }
}

/// Every regular file under `root` (symlinks to files followed, symlinked directories skipped
/// so that no loop is walked), in name order.
fn walk(root: &Path, out: &Output, tally: &Tally) -> Vec<LocalFile> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel_dir) = dirs.pop() {
        let dir = root.join(&rel_dir);
        let mut entries: Vec<fs::DirEntry> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
            Err(e) => {
                tally.fail(out, &dir.display().to_string(), format!("cannot read: {e}"));
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
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => files.push(LocalFile {
                    path,
                    rel,
                    size: m.len(),
                }),
                Ok(m) if m.is_dir() => {
                    out.warn(format!(
                        "skipping {}: a symbolic link to a directory",
                        path.display()
                    ));
                }
                Ok(_) => {
                    out.warn(format!("skipping {}: not a regular file", path.display()));
                }
                Err(e) => tally.fail(
                    out,
                    &path.display().to_string(),
                    format!("cannot read: {e}"),
                ),
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

/// The metadata a copy keeps (user metadata and content headers), as write options.
pub(crate) fn carried_metadata(meta: &ObjectMeta) -> PutOptions {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("0-99").unwrap(),
            RangeSpec::From {
                start: 0,
                end: Some(99)
            }
        );
        assert_eq!(
            parse_range("100-").unwrap(),
            RangeSpec::From {
                start: 100,
                end: None
            }
        );
        assert_eq!(parse_range("-5").unwrap(), RangeSpec::Last(5));
        for bad in ["", "-", "5", "9-3", "a-b", "-0"] {
            assert!(parse_range(bad).is_err(), "{bad:?}");
        }
    }

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

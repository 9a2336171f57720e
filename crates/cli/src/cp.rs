//! `ossvault cp`: uploads, downloads and server-side copies, single or recursive, resumable,
//! with progress, and cancelled cleanly by Ctrl-C (exit 130, checkpoints kept). The copies
//! themselves are `ossvault_ops::copy`; this prints them.

use crate::cse;
use crate::output::{Cancelled, Output, PartialFailure};
use crate::units::human_bytes;
use crate::{CpArgs, FormatArg};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use ossvault_client::transfer::{CancellationToken, OnProgress, TransferProgress};
use ossvault_client::{Client, RangeSpec};
use ossvault_crypto::Format;
use ossvault_ops::copy::{
    as_directory, Copier, CopySettings, Encryption, OnBytes, TreeItem, TreeSummary,
};
use ossvault_ops::location::{key_file_name, Location, OssUrl};
use ossvault_proto::limits::{MAX_PART_SIZE, MIN_PART_SIZE};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    let sse_headers = match args.sse {
        Some(sse) => sse
            .object_sse(args.kms_key_id.as_deref(), args.sse_data_encryption)?
            .headers(),
        None => Vec::new(),
    };
    let cancel = CancellationToken::new();
    watch_interrupt(cancel.clone())?;
    let keystore_args = args.keystore.clone();
    let job = Job {
        out,
        args,
        copier: Copier {
            client,
            settings: CopySettings {
                part_size: args.part_size,
                bigfile_threshold: args.bigfile_threshold,
                jobs: args.jobs.map(|j| j as usize),
                checkpoint_dir: checkpoint_dir(args, out),
                sse_headers,
                encrypt: encrypt.map(|master| Encryption {
                    master,
                    format,
                    matdesc,
                }),
                ..Default::default()
            },
            cancel: cancel.clone(),
            keystore: Arc::new(move || {
                cse::open_keystore(&keystore_args)
                    .map_err(|e| ossvault_ops::Error::InvalidInput(e.to_string()))
            }),
        },
    };
    if let Some(version) = &args.version_id {
        return copy_version(client, out, args, version, src, dst).await;
    }
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

/// `cp --version-id`: one version of an object, downloaded (whole or a range, CRC-checked,
/// written beside the target and renamed once complete) or copied server-side (CopyObject
/// with `?versionId=` in its source; onto its own key this restores the version).
async fn copy_version(
    client: &Client,
    out: &Output,
    args: &CpArgs,
    version: &str,
    src: Location,
    dst: Location,
) -> Result<()> {
    let Location::Oss(src) = src else {
        bail!("--version-id names a version of the source object: give oss://bucket/key as SRC");
    };
    if into_prefix(&src.key) {
        bail!("{src} is not an object");
    }
    match dst {
        Location::Local(path) => {
            let meta = client
                .head_object_version(&src.bucket, &src.key, Some(version))
                .await
                .with_context(|| format!("{src} version {version}"))?;
            if meta
                .header("x-oss-meta-client-side-encryption-key")
                .is_some()
            {
                bail!(
                    "{src} version {version} is client-side encrypted: restore it first \
                     (ossvault cp --version-id {version} {src} {src}), then download it"
                );
            }
            let target = if path.is_dir() || args.destination.ends_with('/') {
                path.join(key_file_name(&src.key).map_err(|e| anyhow!("refused {src}: {e}"))?)
            } else {
                path
            };
            let range = args.range.as_deref().map(parse_range).transpose()?;
            let partial = target.with_file_name(format!(
                ".{}.ossvault-part",
                target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("download")
            ));
            let mut file = tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let bar = out.bar(Some(meta.size), src.to_string());
            let mut written = 0u64;
            let done = client
                .download_version(
                    &src.bucket,
                    &src.key,
                    Some(version),
                    range,
                    &mut file,
                    None,
                    |n| {
                        written += n;
                        bar.inc(n);
                    },
                )
                .await;
            bar.finish_and_clear();
            let synced = file.sync_all().await;
            drop(file);
            if let Err(e) = done
                .map_err(anyhow::Error::from)
                .and(synced.map_err(Into::into))
            {
                let _ = fs::remove_file(&partial);
                return Err(e.context(format!("download {src} version {version}")));
            }
            fs::rename(&partial, &target)
                .with_context(|| format!("cannot move the download to {}", target.display()))?;
            if out.json {
                out.json(&json!({
                    "operation": "download",
                    "source": src.to_string(),
                    "version_id": version,
                    "destination": target.display().to_string(),
                    "size": written,
                }))?;
            } else {
                out.line(format!(
                    "download: {src} (version {version}) -> {} ({})",
                    target.display(),
                    human_bytes(written)
                ))?;
            }
        }
        Location::Oss(to) => {
            let key = if into_prefix(&to.key) {
                let name = src.key.rsplit('/').next().unwrap_or(&src.key);
                format!("{}{name}", to.key)
            } else {
                to.key.clone()
            };
            let to = to.with_key(key);
            let copied = client
                .copy_object_version(
                    &src.bucket,
                    &src.key,
                    Some(version),
                    &to.bucket,
                    &to.key,
                    None,
                )
                .await
                .with_context(|| format!("copy {src} version {version} to {to}"))?;
            if out.json {
                out.json(&json!({
                    "operation": "copy",
                    "source": src.to_string(),
                    "source_version_id": version,
                    "destination": to.to_string(),
                    "version_id": copied.version_id,
                    "etag": copied.etag.trim_matches('"'),
                }))?;
            } else {
                out.line(format!(
                    "copy: {src} (version {version}) -> {to}{}",
                    copied
                        .version_id
                        .map(|v| format!(" (version {v})"))
                        .unwrap_or_default()
                ))?;
            }
        }
    }
    Ok(())
}

/// The first SIGINT cancels the transfers (they stop and keep their checkpoints); a second
/// one exits at once.
fn watch_interrupt(cancel: CancellationToken) -> Result<()> {
    #[cfg(unix)]
    {
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
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
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
    match ossvault_fs::create_private_dir_all(&dir) {
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

/// `a-b`, `a-` or `-n` (`proto::range`'s spec without `bytes=`); `-0` selects nothing and is
/// refused here rather than at the server.
pub fn parse_range(s: &str) -> Result<RangeSpec> {
    match ossvault_proto::range::parse_range_spec(s) {
        Ok(RangeSpec::Last(0)) | Err(_) => Err(anyhow!(
            "invalid --range {s:?}: expected a-b, a- or -n (bytes, inclusive)"
        )),
        Ok(spec) => Ok(spec),
    }
}

/// A destination key ending with `/` (or empty) means "into this prefix".
fn into_prefix(key: &str) -> bool {
    key.is_empty() || key.ends_with('/')
}

fn fmt_crc(crc: Option<u64>) -> Value {
    crc.map_or(Value::Null, |c| Value::String(c.to_string()))
}

/// Counts and failures of a tree run, for the summary (the items are printed as they end).
#[derive(Default)]
struct Report {
    failed: AtomicU64,
    errors: Mutex<Vec<Value>>,
}

impl Report {
    /// Prints one item of a tree as it ends; keeps failures for the summary.
    fn item(&self, out: &Output, verb: &str, bar: &ProgressBar, item: TreeItem) {
        match item {
            TreeItem::Total { files, bytes } => {
                bar.set_length(bytes);
                bar.set_message(format!("{files} files"));
            }
            TreeItem::Done {
                source,
                destination,
                bytes,
            } => {
                if !out.json {
                    let _ = out.line(format!(
                        "{verb}: {source} -> {destination} ({})",
                        human_bytes(bytes)
                    ));
                }
            }
            TreeItem::Failed { source, error } => {
                let error = crate::output::render_error(&error.into());
                self.failed.fetch_add(1, Ordering::Relaxed);
                out.warn(format!("{source}: {error}"));
                if let Ok(mut errors) = self.errors.lock() {
                    errors.push(json!({ "source": source, "error": error }));
                }
            }
            TreeItem::Skipped { source, reason } => {
                out.warn(format!("skipping {source}: {reason}"))
            }
        }
    }

    /// The summary document, and the failure that sets the exit code.
    fn finish(
        &self,
        out: &Output,
        operation: &str,
        src: &str,
        dst: &str,
        summary: TreeSummary,
    ) -> Result<()> {
        let TreeSummary { files, bytes, .. } = summary;
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

/// Bytes of a tree moving `bar` on.
fn bar_bytes(bar: &ProgressBar) -> OnBytes {
    let bar = bar.clone();
    Arc::new(move |n| bar.inc(n))
}

struct Job<'a> {
    out: &'a Output,
    args: &'a CpArgs,
    copier: Copier<'a>,
}

impl Job<'_> {
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
        let outcome = self
            .copier
            .upload_file(path, &url, single_progress(&bar))
            .await;
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

    async fn upload_tree(&self, root: &Path, dst: &OssUrl) -> Result<()> {
        let report = Report::default();
        let bar = self.out.bar(Some(0), root.display().to_string());
        let on_item = |item| report.item(self.out, "upload", &bar, item);
        let summary = self
            .copier
            .upload_tree(root, dst, bar_bytes(&bar), &on_item)
            .await;
        bar.finish_and_clear();
        let prefix = as_directory(&dst.key);
        report.finish(
            self.out,
            "upload",
            &root.display().to_string(),
            &dst.with_key(prefix).to_string(),
            summary?,
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
        // A failed read of the object names it; a missing key says all by itself.
        let inspected = self.copier.inspect(src).await.map_err(|e| match e {
            e @ ossvault_ops::Error::Client(_) => anyhow::Error::new(e).context(src.to_string()),
            e => e.into(),
        })?;
        let range = self.args.range.as_deref().map(parse_range).transpose()?;
        let length = range.is_none().then_some(inspected.0.size);
        let bar = self.out.bar(length, src.to_string());
        let done = self
            .copier
            .download_inspected(src, &target, inspected, range, &bar_bytes(&bar))
            .await;
        bar.finish_and_clear();
        let done = done.with_context(|| format!("download {src} to {}", target.display()))?;
        let ranged = self.args.range.as_deref();
        if self.out.json {
            let mut report = json!({
                "operation": "download",
                "source": src.to_string(),
                "destination": target.display().to_string(),
                "size": done.written,
                "etag": done.meta.etag.trim_matches('"'),
            });
            if let Some(r) = ranged {
                report["range"] = json!(r);
            }
            match &done.opened {
                Some(opened) => {
                    report["client_side_encryption"] = json!(opened.envelope.format().to_string());
                    report["key"] = json!(opened.key_label);
                }
                None if ranged.is_some() => report["object_size"] = json!(done.meta.size),
                None => report["bytes_resumed"] = json!(done.bytes_resumed),
            }
            self.out.json(&report)?;
        } else {
            self.out.line(format!(
                "download: {src}{} -> {} ({}{})",
                ranged.map(|r| format!(" [{r}]")).unwrap_or_default(),
                target.display(),
                human_bytes(done.written),
                done.opened
                    .map(|o| format!(", decrypted with {}", o.key_label))
                    .unwrap_or_default()
            ))?;
        }
        Ok(())
    }

    async fn download_tree(&self, src: &OssUrl, root: &Path) -> Result<()> {
        let report = Report::default();
        let bar = self.out.bar(None, src.to_string());
        let on_item = |item| report.item(self.out, "download", &bar, item);
        let summary = self
            .copier
            .download_tree(src, root, bar_bytes(&bar), &on_item)
            .await
            .with_context(|| format!("listing {src}"));
        bar.finish_and_clear();
        let prefix = as_directory(&src.key);
        report.finish(
            self.out,
            "download",
            &src.with_key(prefix).to_string(),
            &root.display().to_string(),
            summary?,
        )
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
        let copied = self.copier.copy_object(src, &dst, &bar_bytes(&bar)).await;
        bar.finish_and_clear();
        let copied = copied.with_context(|| format!("copy {src} to {dst}"))?;
        if self.out.json {
            self.out.json(&json!({
                "operation": "copy",
                "source": src.to_string(),
                "destination": dst.to_string(),
                "size": copied.size,
                "etag": copied.etag.trim_matches('"'),
                "parts": copied.parts,
            }))?;
        } else {
            self.out.line(format!(
                "copy: {src} -> {dst} ({})",
                human_bytes(copied.size)
            ))?;
        }
        Ok(())
    }

    async fn copy_tree(&self, src: &OssUrl, dst: &OssUrl) -> Result<()> {
        let report = Report::default();
        let bar = self.out.bar(None, src.to_string());
        let on_item = |item| report.item(self.out, "copy", &bar, item);
        let summary = self
            .copier
            .copy_tree(src, dst, bar_bytes(&bar), &on_item)
            .await
            .with_context(|| format!("listing {src}"));
        bar.finish_and_clear();
        report.finish(
            self.out,
            "copy",
            &src.with_key(as_directory(&src.key)).to_string(),
            &dst.with_key(as_directory(&dst.key)).to_string(),
            summary?,
        )
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
}

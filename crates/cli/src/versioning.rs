//! Versioning on the command line, as ossutil spells it: `ossvault bucket-versioning
//! oss://bucket [enabled|suspended]`, `ossvault ls --all-versions`, and the version-aware
//! parts of `rm` (`--version-id`, `--all-versions`).

use crate::output::{time_json, time_text, Output};
use crate::{BucketVersioningArgs, VersioningArg};
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use ossvault_client::{
    Client, DeletedVersion, ObjectVersionEntry, VersionListRequest, VersioningStatus,
};
use ossvault_ops::location::{parse_bucket_url, OssUrl};
use ossvault_proto::limits::MAX_LIST_PAGE;
use serde_json::json;

pub async fn bucket_versioning(
    client: &Client,
    out: &Output,
    args: &BucketVersioningArgs,
) -> Result<()> {
    let url = parse_bucket_url(&args.bucket).map_err(|e| anyhow!(e))?;
    if !url.key.is_empty() {
        bail!("give a bucket (oss://bucket), not an object");
    }
    if let Some(wanted) = args.status {
        let status = match wanted {
            VersioningArg::Enabled => VersioningStatus::Enabled,
            VersioningArg::Suspended => VersioningStatus::Suspended,
        };
        client.set_bucket_versioning(&url.bucket, status).await?;
    }
    let status = client.bucket_versioning(&url.bucket).await?;
    if out.json {
        out.json(&json!({
            "bucket": url.bucket,
            "versioning": status.map(VersioningStatus::as_str),
        }))?;
    } else {
        out.line(format!(
            "bucket versioning status: {}",
            status.map_or("(never enabled)", VersioningStatus::as_str)
        ))?;
    }
    Ok(())
}

/// `ls --all-versions`: every version and delete marker under the prefix, page by page.
pub async fn list_versions(
    client: &Client,
    out: &Output,
    url: &OssUrl,
    directory: bool,
    limit: Option<u64>,
) -> Result<()> {
    let request = VersionListRequest {
        prefix: url.key.clone(),
        delimiter: if directory { "/".into() } else { String::new() },
        max_keys: limit.map(|l| l.clamp(1, MAX_LIST_PAGE as u64) as u32),
        ..Default::default()
    };
    let mut pages = Box::pin(client.version_pages(&url.bucket, request));
    let (mut shown, mut prefixes, mut first) = (0u64, 0u64, true);
    'pages: while let Some(page) = pages.next().await {
        let page = page?;
        if std::mem::take(&mut first) && !out.json {
            out.line(format!(
                "{:<23}  {:>12}  {:<12}  {:<34}  {:<6}  {:<24}  ObjectName",
                "LastModifiedTime", "Size(B)", "StorageClass", "ETAG", "Latest", "VersionId"
            ))?;
        }
        for p in page.prefixes {
            if limit.is_some_and(|l| shown >= l) {
                break 'pages;
            }
            shown += 1;
            prefixes += 1;
            let name = url.with_key(p.clone());
            if out.json {
                out.json(&json!({"type": "prefix", "prefix": p, "url": name.to_string()}))?;
            } else {
                out.line(format!("{:<23}  {:>12}  {name}", "", "DIR"))?;
            }
        }
        for v in page.versions {
            if limit.is_some_and(|l| shown >= l) {
                break 'pages;
            }
            shown += 1;
            print_version(out, url, &v)?;
        }
        out.flush()?;
    }
    if !out.json {
        out.line(format!(
            "\nVersion Number is: {}",
            shown.saturating_sub(prefixes)
        ))?;
        if directory {
            out.line(format!("Directory Number is: {prefixes}"))?;
        }
    }
    Ok(())
}

fn print_version(out: &Output, url: &OssUrl, v: &ObjectVersionEntry) -> Result<()> {
    let name = url.with_key(v.key.clone());
    if out.json {
        out.json(&json!({
            "type": if v.delete_marker { "delete_marker" } else { "version" },
            "key": v.key,
            "url": name.to_string(),
            "version_id": v.version_id,
            "is_latest": v.is_latest,
            "size": v.size,
            "etag": v.etag.trim_matches('"'),
            "last_modified": time_json(v.last_modified),
            "storage_class": v.storage_class,
        }))?;
    } else {
        let (size, class) = if v.delete_marker {
            ("-".to_owned(), "DeleteMarker")
        } else {
            (v.size.to_string(), v.storage_class.as_str())
        };
        out.line(format!(
            "{:<23}  {:>12}  {:<12}  {:<34}  {:<6}  {:<24}  {name}",
            time_text(v.last_modified),
            size,
            class,
            v.etag.trim_matches('"'),
            if v.is_latest { "true" } else { "false" },
            v.version_id,
        ))?;
    }
    Ok(())
}

/// Prints what a versioned delete did.
pub fn report_delete(out: &Output, url: &OssUrl, d: &DeletedVersion) -> Result<()> {
    if out.json {
        Ok(out.json(&json!({
            "deleted": url.to_string(),
            "version_id": d.version_id,
            "delete_marker": d.delete_marker,
        }))?)
    } else {
        let what = match (&d.version_id, d.delete_marker) {
            (Some(v), true) => format!(" (delete marker {v})"),
            (Some(v), false) => format!(" (version {v})"),
            (None, _) => String::new(),
        };
        Ok(out.line(format!("deleted {url}{what}"))?)
    }
}

//! `ossvault ls`: buckets, or the objects under a prefix, printed page by page as they arrive.

use crate::output::{time_json, time_text, Output};
use crate::LsArgs;
use anyhow::{anyhow, Result};
use futures_util::StreamExt;
use ossvault_client::{Client, ListRequest, ObjectEntry};
use ossvault_ops::location::{parse_oss, OssUrl};
use ossvault_proto::limits::MAX_LIST_PAGE;
use ossvault_proto::time::parse_iso8601;
use serde_json::json;

pub async fn run(client: &Client, out: &Output, args: &LsArgs) -> Result<()> {
    let url = match &args.url {
        Some(u) => parse_oss(u).map_err(|e| anyhow!(e))?,
        None => OssUrl::new("", ""),
    };
    if url.bucket.is_empty() {
        if args.all_versions {
            anyhow::bail!(
                "--all-versions lists the versions in a bucket: give oss://bucket[/prefix]"
            );
        }
        list_buckets(client, out, args.limit).await
    } else if args.all_versions {
        crate::versioning::list_versions(client, out, &url, args.directory, args.limit).await
    } else {
        list_objects(client, out, &url, args.directory, args.limit).await
    }
}

async fn list_buckets(client: &Client, out: &Output, limit: Option<u64>) -> Result<()> {
    let mut buckets = client.all_buckets().await?;
    if let Some(limit) = limit {
        buckets.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    if !out.json {
        out.line(format!(
            "{:<23}  {:<20}  {:<12}  BucketName",
            "CreationTime", "Region", "StorageClass"
        ))?;
    }
    for b in &buckets {
        let created = parse_iso8601(&b.creation_date);
        if out.json {
            out.json(&json!({
                "type": "bucket",
                "name": b.name,
                "url": format!("oss://{}", b.name),
                "creation_date": time_json(created),
                "region": b.region,
                "location": b.location,
                "storage_class": b.storage_class,
                "extranet_endpoint": b.extranet_endpoint,
                "intranet_endpoint": b.intranet_endpoint,
            }))?;
        } else {
            let region = if b.location.is_empty() {
                &b.region
            } else {
                &b.location
            };
            out.line(format!(
                "{:<23}  {:<20}  {:<12}  oss://{}",
                time_text(created),
                region,
                b.storage_class,
                b.name
            ))?;
        }
    }
    if !out.json {
        out.line(format!("\nBucket Number is: {}", buckets.len()))?;
    }
    Ok(())
}

/// A row of a listing: an object, or (with `-d`) a common prefix.
enum Row {
    Object(ObjectEntry),
    Prefix(String),
}

impl Row {
    fn name(&self) -> &str {
        match self {
            Row::Object(o) => &o.key,
            Row::Prefix(p) => p,
        }
    }
}

async fn list_objects(
    client: &Client,
    out: &Output,
    url: &OssUrl,
    directory: bool,
    limit: Option<u64>,
) -> Result<()> {
    let request = ListRequest {
        prefix: url.key.clone(),
        delimiter: if directory { "/".into() } else { String::new() },
        max_keys: limit.map(|l| l.clamp(1, MAX_LIST_PAGE as u64) as u32),
        ..Default::default()
    };
    let header = || {
        out.line(format!(
            "{:<23}  {:>12}  {:<12}  {:<34}  ObjectName",
            "LastModifiedTime", "Size(B)", "StorageClass", "ETAG"
        ))
    };
    let (mut objects, mut prefixes) = (0u64, 0u64);
    let mut pages = Box::pin(client.list_pages(&url.bucket, request));
    let mut first = true;
    'pages: while let Some(page) = pages.next().await {
        let page = page?;
        // The header waits for the first answer: a failure prints only its error line.
        if std::mem::take(&mut first) && !out.json {
            header()?;
        }
        let mut rows: Vec<Row> = page.objects.into_iter().map(Row::Object).collect();
        rows.extend(page.prefixes.into_iter().map(Row::Prefix));
        // The service lists objects and prefixes in one key order: keep it.
        rows.sort_by(|a, b| a.name().cmp(b.name()));
        for row in rows {
            if limit.is_some_and(|l| objects + prefixes >= l) {
                break 'pages;
            }
            match row {
                Row::Object(o) => {
                    objects += 1;
                    print_object(out, url, &o)?;
                }
                Row::Prefix(p) => {
                    prefixes += 1;
                    let name = url.with_key(p.clone());
                    if out.json {
                        out.json(&json!({
                            "type": "prefix",
                            "prefix": p,
                            "url": name.to_string(),
                        }))?;
                    } else {
                        out.line(format!(
                            "{:<23}  {:>12}  {:<12}  {:<34}  {name}",
                            "", "DIR", "", ""
                        ))?;
                    }
                }
            }
        }
        out.flush()?;
    }
    if !out.json {
        if directory {
            out.line(format!("\nDirectory Number is: {prefixes}"))?;
            out.line(format!("Object Number is: {objects}"))?;
        } else {
            out.line(format!("\nObject Number is: {objects}"))?;
        }
    }
    Ok(())
}

fn print_object(out: &Output, url: &OssUrl, o: &ObjectEntry) -> Result<()> {
    let name = url.with_key(o.key.clone());
    if out.json {
        out.json(&json!({
            "type": "object",
            "key": o.key,
            "url": name.to_string(),
            "size": o.size,
            "etag": o.etag.trim_matches('"'),
            "last_modified": time_json(o.last_modified),
            "storage_class": o.storage_class,
            "object_type": o.object_type,
        }))?;
    } else {
        out.line(format!(
            "{:<23}  {:>12}  {:<12}  {:<34}  {name}",
            time_text(o.last_modified),
            o.size,
            o.storage_class,
            o.etag.trim_matches('"'),
        ))?;
    }
    Ok(())
}

//! `ossvault rm`: one object, or with -r everything under a prefix (listed and deleted page by
//! page, in batches of at most 1000 keys).

use crate::output::Output;
use crate::urls::parse_bucket_url;
use crate::RmArgs;
use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use ossvault_client::{Client, ListRequest};
use ossvault_proto::limits::MAX_DELETE_KEYS;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

pub async fn run(client: &Client, out: &Output, args: &RmArgs) -> Result<()> {
    let url = parse_bucket_url(&args.url).map_err(|e| anyhow!(e))?;
    if !args.recursive {
        if url.key.is_empty() {
            bail!(
                "{}: give an object (oss://bucket/key), or -r to delete everything under a prefix",
                args.url
            );
        }
        client.delete_object(&url.bucket, &url.key).await?;
        if out.json {
            out.json(&json!({ "url": url.to_string(), "deleted": 1 }))?;
        } else {
            out.line(format!("deleted {url}"))?;
        }
        return Ok(());
    }
    if !args.force && !confirm(&format!("delete every object under {url}?"))? {
        bail!("not confirmed: nothing deleted");
    }
    let deleted = delete_prefix(client, out, &url.bucket, &url.key).await?;
    if out.json {
        out.json(&json!({ "url": url.to_string(), "deleted": deleted }))?;
    } else {
        out.line(format!("deleted {deleted} objects under {url}"))?;
    }
    Ok(())
}

/// Asks on the terminal; refuses when stdin is not one.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to delete recursively without confirmation: stdin is not a terminal (add -f)"
        );
    }
    eprint!("{question} (y/N) ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

/// Deletes every object under `prefix` as the listing pages arrive; returns how many.
pub async fn delete_prefix(
    client: &Client,
    out: &Output,
    bucket: &str,
    prefix: &str,
) -> Result<u64> {
    let bar = out.counter(format!("deleting oss://{bucket}/{prefix}"));
    let request = ListRequest {
        prefix: prefix.to_owned(),
        ..Default::default()
    };
    let mut pages = Box::pin(client.list_pages(bucket, request));
    let mut deleted = 0u64;
    while let Some(page) = pages.next().await {
        let keys: Vec<String> = page?.objects.into_iter().map(|o| o.key).collect();
        // A page holds at most 1000 keys, the most one DeleteObjects takes.
        for batch in keys.chunks(MAX_DELETE_KEYS) {
            let done = client
                .delete_objects(bucket, batch)
                .await
                .with_context(|| format!("deleting under oss://{bucket}/{prefix}"))?;
            if done.len() < batch.len() {
                out.warn(format!(
                    "{} of {} objects of a batch were not reported deleted",
                    batch.len() - done.len(),
                    batch.len()
                ));
            }
            deleted += done.len() as u64;
            bar.inc(done.len() as u64);
        }
    }
    bar.finish_and_clear();
    Ok(deleted)
}

/// Aborts every unfinished multipart upload under `prefix`; returns how many.
pub async fn abort_uploads(client: &Client, bucket: &str, prefix: &str) -> Result<u64> {
    let mut aborted = 0;
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let (uploads, next) = client
            .list_multipart_uploads(bucket, prefix, &key_marker, &id_marker)
            .await?;
        for upload in uploads {
            client
                .abort_multipart(bucket, &upload.key, &upload.upload_id)
                .await?;
            aborted += 1;
        }
        match next {
            Some((k, u)) => (key_marker, id_marker) = (k, u),
            None => return Ok(aborted),
        }
    }
}

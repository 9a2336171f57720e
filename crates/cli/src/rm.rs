//! `ossvault rm`: one object, or with -r everything under a prefix (listed and deleted page by
//! page, in batches of at most 1000 keys).

use crate::output::Output;
use crate::RmArgs;
use anyhow::{anyhow, bail, Context, Result};
use ossvault_client::transfer::CancellationToken;
use ossvault_client::Client;
use ossvault_ops::location::parse_bucket_url;
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
        if args.all_versions {
            let removed =
                ossvault_ops::delete::delete_all_versions(client, &url.bucket, &url.key, true)
                    .await?;
            return report_versions(out, &url, removed);
        }
        let deleted = client
            .delete_object_version(&url.bucket, &url.key, args.version_id.as_deref())
            .await?;
        if deleted.version_id.is_some() {
            return crate::versioning::report_delete(out, &url, &deleted);
        }
        if out.json {
            out.json(&json!({ "url": url.to_string(), "deleted": 1 }))?;
        } else {
            out.line(format!("deleted {url}"))?;
        }
        return Ok(());
    }
    if args.all_versions {
        if !args.force
            && !confirm(&format!(
                "delete every version of every object under {url}?"
            ))?
        {
            bail!("not confirmed: nothing deleted");
        }
        let removed =
            ossvault_ops::delete::delete_all_versions(client, &url.bucket, &url.key, false).await?;
        return report_versions(out, &url, removed);
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

fn report_versions(out: &Output, url: &ossvault_ops::location::OssUrl, removed: u64) -> Result<()> {
    if out.json {
        Ok(out.json(&json!({ "url": url.to_string(), "versions_deleted": removed }))?)
    } else {
        Ok(out.line(format!(
            "deleted {removed} versions and delete markers of {url}"
        ))?)
    }
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

/// Deletes every object under `prefix` with a counter on the terminal; returns how many.
pub async fn delete_prefix(
    client: &Client,
    out: &Output,
    bucket: &str,
    prefix: &str,
) -> Result<u64> {
    let bar = out.counter(format!("deleting oss://{bucket}/{prefix}"));
    let summary = ossvault_ops::delete::delete_prefix(
        client,
        bucket,
        prefix,
        &|n| bar.inc(n),
        &CancellationToken::new(),
    )
    .await
    .with_context(|| format!("deleting under oss://{bucket}/{prefix}"));
    bar.finish_and_clear();
    let summary = summary?;
    if summary.not_deleted > 0 {
        out.warn(format!(
            "{} objects under oss://{bucket}/{prefix} were not reported deleted",
            summary.not_deleted
        ));
    }
    Ok(summary.deleted)
}

//! `ossvault mb` and `ossvault rb`.

use crate::output::Output;
use crate::{rm, MbArgs, RbArgs};
use anyhow::{anyhow, bail, Result};
use ossvault_client::Client;
use ossvault_ops::location::{parse_bucket_url, OssUrl};
use serde_json::json;

fn bucket_only(s: &str) -> Result<OssUrl> {
    let url = parse_bucket_url(s).map_err(|e| anyhow!(e))?;
    if !url.key.is_empty() {
        bail!("{s:?}: give a bucket (oss://bucket), not an object");
    }
    Ok(url)
}

pub async fn make(client: &Client, out: &Output, args: &MbArgs) -> Result<()> {
    let url = bucket_only(&args.bucket)?;
    client
        .create_bucket_of_class(
            &url.bucket,
            args.acl.as_deref(),
            args.storage_class.as_deref(),
        )
        .await?;
    if out.json {
        out.json(&json!({ "bucket": url.bucket, "created": true }))?;
    } else {
        out.line(format!("created oss://{}", url.bucket))?;
    }
    Ok(())
}

pub async fn remove(client: &Client, out: &Output, args: &RbArgs) -> Result<()> {
    let url = bucket_only(&args.bucket)?;
    let mut emptied = None;
    if args.force {
        let mut deleted = rm::delete_prefix(client, out, &url.bucket, "").await?;
        // A versioned bucket keeps noncurrent versions and the delete markers just added.
        if client.bucket_versioning(&url.bucket).await?.is_some() {
            deleted +=
                ossvault_ops::delete::delete_all_versions(client, &url.bucket, "", false).await?;
        }
        let aborted = ossvault_ops::delete::abort_uploads(client, &url.bucket, "").await?;
        emptied = Some((deleted, aborted));
    }
    client.delete_bucket(&url.bucket).await?;
    if out.json {
        let mut doc = json!({ "bucket": url.bucket, "removed": true });
        if let Some((deleted, aborted)) = emptied {
            doc["objects_deleted"] = deleted.into();
            doc["uploads_aborted"] = aborted.into();
        }
        out.json(&doc)?;
    } else {
        if let Some((deleted, aborted)) = emptied {
            out.line(format!(
                "deleted {deleted} objects and aborted {aborted} multipart uploads"
            ))?;
        }
        out.line(format!("removed oss://{}", url.bucket))?;
    }
    Ok(())
}

//! `ossvault object-tagging`, `create-symlink`, `read-symlink`, `restore-object` and
//! `public-access-block`: an object's tags, symlinks to objects of the same bucket, restores of
//! archived objects, and Block Public Access.

use crate::output::Output;
use crate::{
    CreateSymlinkArgs, ObjectTaggingArgs, PublicAccessBlockArgs, ReadSymlinkArgs, RestoreObjectArgs,
};
use anyhow::{anyhow, bail, Result};
use ossvault_client::Client;
use ossvault_ops::location::{parse_bucket_url, parse_object_url, OssUrl};
use serde_json::json;

fn object_of(url: &str) -> Result<OssUrl> {
    parse_object_url(url).map_err(|e| anyhow!(e))
}

/// `KEY=VALUE` (the value may be empty, or hold `=`).
pub fn parse_tag(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{arg:?} is not KEY=VALUE")),
    }
}

pub async fn tagging(client: &Client, out: &Output, args: &ObjectTaggingArgs) -> Result<()> {
    let url = object_of(&args.object)?;
    if args.delete {
        client.delete_object_tagging(&url.bucket, &url.key).await?;
    } else if !args.set.is_empty() {
        client
            .set_object_tagging(&url.bucket, &url.key, &args.set)
            .await?;
    }
    let tags = client.object_tagging(&url.bucket, &url.key).await?;
    if out.json {
        let map: serde_json::Map<_, _> = tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        return Ok(out.json(&json!({
            "object": format!("oss://{}/{}", url.bucket, url.key),
            "tags": map,
        }))?);
    }
    if tags.is_empty() {
        out.line(format!("oss://{}/{}: no tags", url.bucket, url.key))?;
    }
    for (k, v) in tags {
        out.line(format!("{k}={v}"))?;
    }
    Ok(())
}

pub async fn create_symlink(client: &Client, out: &Output, args: &CreateSymlinkArgs) -> Result<()> {
    let (link, target) = (object_of(&args.link)?, object_of(&args.target)?);
    if link.bucket != target.bucket {
        bail!(
            "a symlink points into its own bucket: give oss://{}/KEY as the target",
            link.bucket
        );
    }
    client
        .put_symlink(&link.bucket, &link.key, &target.key)
        .await?;
    report(out, &link, &target.key)
}

pub async fn read_symlink(client: &Client, out: &Output, args: &ReadSymlinkArgs) -> Result<()> {
    let link = object_of(&args.link)?;
    let target = client.symlink_target(&link.bucket, &link.key).await?;
    report(out, &link, &target)
}

pub async fn restore_object(client: &Client, out: &Output, args: &RestoreObjectArgs) -> Result<()> {
    let url = object_of(&args.object)?;
    let started = client
        .restore_object(&url.bucket, &url.key, args.days, args.tier.as_deref())
        .await?;
    let state = client.restore_state(&url.bucket, &url.key).await?;
    let object = format!("oss://{}/{}", url.bucket, url.key);
    if out.json {
        return Ok(out.json(&json!({
            "object": object,
            "started": started,
            "restore": state,
        }))?);
    }
    let what = if started {
        "restore started"
    } else {
        "already restored; its days start again"
    };
    Ok(out.line(format!(
        "{object}: {what} ({})",
        state.as_deref().unwrap_or("no restore state")
    ))?)
}

pub async fn public_access_block(
    client: &Client,
    out: &Output,
    args: &PublicAccessBlockArgs,
) -> Result<()> {
    let bucket = match &args.bucket {
        Some(b) => {
            let url = parse_bucket_url(b).map_err(|e| anyhow!(e))?;
            if !url.key.is_empty() {
                bail!("give a bucket (oss://bucket), not an object");
            }
            Some(url.bucket)
        }
        None => None,
    };
    if args.on || args.off {
        client
            .set_public_access_block(bucket.as_deref(), args.on)
            .await?;
    }
    let on = client.public_access_block(bucket.as_deref()).await?;
    let scope = bucket
        .as_ref()
        .map_or("the server".to_owned(), |b| format!("oss://{b}"));
    if out.json {
        return Ok(out.json(&json!({ "bucket": bucket, "block_public_access": on }))?);
    }
    Ok(out.line(format!(
        "{scope}: public access {}",
        if on { "blocked" } else { "not blocked" }
    ))?)
}

fn report(out: &Output, link: &OssUrl, target: &str) -> Result<()> {
    let (link, target) = (
        format!("oss://{}/{}", link.bucket, link.key),
        format!("oss://{}/{target}", link.bucket),
    );
    if out.json {
        return Ok(out.json(&json!({ "link": link, "target": target }))?);
    }
    Ok(out.line(format!("{link} -> {target}"))?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(super::parse_tag("k=v"), Ok(("k".into(), "v".into())));
        assert_eq!(super::parse_tag("k="), Ok(("k".into(), "".into())));
        assert_eq!(super::parse_tag("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(super::parse_tag("=v").is_err());
        assert!(super::parse_tag("k").is_err());
    }
}

//! `ossvault object-tagging`, `create-symlink` and `read-symlink` (ossutil's names): an
//! object's tags, and symlinks to objects of the same bucket.

use crate::output::Output;
use crate::{CreateSymlinkArgs, ObjectTaggingArgs, ReadSymlinkArgs};
use anyhow::{anyhow, bail, Result};
use ossvault_client::Client;
use ossvault_ops::location::{parse_object_url, OssUrl};
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

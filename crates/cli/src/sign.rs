//! `ossvault sign`: a presigned URL for an object.

use crate::output::{time_json, Output};
use crate::{SignArgs, SignMethod};
use anyhow::{anyhow, bail, Result};
use ossvault_client::{Client, SignVersion};
use ossvault_ops::location::parse_object_url;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// The longest validity a V4 presigned URL may have.
const MAX_V4_EXPIRES: u64 = 7 * 24 * 3600;

pub fn run(client: &Client, out: &Output, args: &SignArgs) -> Result<()> {
    let url = parse_object_url(&args.url).map_err(|e| anyhow!(e))?;
    let v4 = client.config().sign_version == SignVersion::V4;
    if args.expires == 0 || (v4 && args.expires > MAX_V4_EXPIRES) {
        bail!(
            "--expires must be 1..={MAX_V4_EXPIRES} seconds with V4 signatures (use \
             --sign-version {} for longer)",
            "v1"
        );
    }
    let method = match args.method {
        SignMethod::Get => "GET",
        SignMethod::Put => "PUT",
    };
    let expires = Duration::from_secs(args.expires);
    let signed = client.presign(method, &url.bucket, &url.key, expires)?;
    if out.json {
        out.json(&json!({
            "url": signed,
            "object": url.to_string(),
            "method": method,
            "expires_at": time_json(Some(SystemTime::now() + expires)),
        }))?;
    } else {
        out.line(signed)?;
    }
    Ok(())
}

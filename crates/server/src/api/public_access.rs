//! Block Public Access (`?publicAccessBlock`), for the whole server (`/`, OSS's account-level
//! setting) and per bucket. While either is on, anonymous requests get nothing from public
//! ACLs (`public-read`, `public-read-write` on a bucket or object) nor from bucket policies
//! that allow anonymous access: `403 AccessDenied` (checked in `auth.rs`). And, as OSS
//! documents it ("existing public access permissions are ignored and you cannot configure
//! public access permissions"), no new public grant is taken: PutBucketAcl and PutObjectAcl
//! with a public ACL and PutBucketPolicy with a public policy are refused, `403 AccessDenied`
//! ([`refuse_public_grant`]).

use super::bucket::load_bucket;
use super::{empty, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::BucketRecord;
use http::{Response, StatusCode};
use ossvault_proto::xml::{self, PublicAccessBlockConfiguration};
use ossvault_proto::ErrorCode;
use std::sync::atomic::Ordering;

/// The server-wide setting's name in the store.
pub const SETTING: &str = "public-access-block";

fn document(on: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration {
        block_public_access: on.to_string(),
    }
}

/// The requested state, from the body (`True`/`true`, as the SDKs write it; an empty body is
/// `false`).
async fn requested(ctx: &mut Ctx) -> Result<bool, ApiError> {
    let raw = ctx.small_body().await?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
    let doc: PublicAccessBlockConfiguration =
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
    match doc.block_public_access.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        v => Err(ApiError::msg(
            ErrorCode::MalformedXML,
            format!("BlockPublicAccess must be true or false, not '{v}'."),
        )),
    }
}

pub async fn get(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let on = ctx.state.public_access_block.load(Ordering::Acquire);
    Ok(xml_ok("PublicAccessBlockConfiguration", &document(on)))
}

pub async fn put(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let on = requested(&mut ctx).await?;
    set(&ctx, on).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    set(&ctx, false).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn set(ctx: &Ctx, on: bool) -> Result<(), ApiError> {
    let state = ctx.state.clone();
    blocking(ctx.store(), move |s| {
        s.put_setting(SETTING, on.to_string().into_bytes())?;
        // Published once durable; requests read it without touching the store.
        state.public_access_block.store(on, Ordering::Release);
        Ok(())
    })
    .await
}

pub async fn get_bucket(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let bucket = load_bucket(&ctx).await?;
    Ok(xml_ok(
        "PublicAccessBlockConfiguration",
        &document(bucket.public_access_block),
    ))
}

pub async fn put_bucket(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let on = requested(&mut ctx).await?;
    set_bucket(&ctx, on).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_bucket(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    set_bucket(&ctx, false).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn set_bucket(ctx: &Ctx, on: bool) -> Result<(), ApiError> {
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, move |b| b.public_access_block = on)
    })
    .await?;
    Ok(())
}

/// Block Public Access is on for `bucket`, by its own switch or the server's.
pub fn blocks(ctx: &Ctx, bucket: &BucketRecord) -> bool {
    bucket.public_access_block || ctx.state.public_access_block.load(Ordering::Acquire)
}

/// `403 AccessDenied` for a public grant (`what`: "a public ACL", "a public bucket policy")
/// while Block Public Access is on for `bucket`.
pub fn refuse_public_grant(ctx: &Ctx, bucket: &BucketRecord, what: &str) -> Result<(), ApiError> {
    if !blocks(ctx, bucket) {
        return Ok(());
    }
    let scope = if bucket.public_access_block {
        "this bucket"
    } else {
        "this server"
    };
    Err(ApiError::msg(
        ErrorCode::AccessDenied,
        format!(
            "Block Public Access is on for {scope}: {what} cannot be set. \
             Turn Block Public Access off first."
        ),
    ))
}

/// An ACL that grants access to everyone.
pub fn is_public_acl(acl: &str) -> bool {
    matches!(acl, "public-read" | "public-read-write")
}

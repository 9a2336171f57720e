//! Symlinks: PutSymlink and GetSymlink (`?symlink`), and how GET/HEAD read through one.
//!
//! A symlink is an object record of type `Symlink` with no content and a target key in the
//! same bucket (which need not exist when the link is made). Its ACL, tags and user metadata
//! are its own; GET and HEAD of it answer the target's content with the target's size, ETag
//! and content headers, the symlink's user metadata and `x-oss-object-type: Symlink`, or 404
//! SymlinkTargetNotExist when the target is gone. A read through a link is authorised for the
//! link (as every request) and for the target as a GET of it would be, so a public-read link
//! never exposes a private object.

use super::bucket::load_bucket;
use super::object::{
    load_object, object_acl, put_mode, storage_class, stored_headers, write_response,
};
use super::{now_ms, tagging, time_of, ApiError, Ctx, Endpoint};
use crate::auth;
use crate::body::{self, blocking, Body};
use crate::store::{ObjectRecord, ObjectType};
use http::{header, Response};
use md5::{Digest, Md5};
use ossvault_proto::headers::SYMLINK_TARGET;
use ossvault_proto::time::http_date;
use ossvault_proto::{encode, etag, headers, names, ErrorCode};

pub async fn put_symlink(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let bucket_record = load_bucket(&ctx).await?;
    let target = ctx
        .header(SYMLINK_TARGET)
        .and_then(encode::percent_decode)
        .filter(|t| names::is_valid_object_key(t))
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "PutSymlink needs x-oss-symlink-target: a valid, percent-encoded object key.",
            )
        })?;
    // The link's own ETag: it changes with the target it names.
    let record = ObjectRecord {
        size: 0,
        etag: etag::from_md5(&Md5::digest(target.as_bytes()).into()),
        crc64: 0,
        content_md5: None,
        last_modified_ms: now_ms(),
        object_type: ObjectType::Symlink,
        storage_class: storage_class(&ctx, &bucket_record)?,
        acl: object_acl(&ctx)?,
        headers: stored_headers(&ctx.headers)?,
        segments: Vec::new(),
        sse: None,
        corrupt: None,
        tags: tagging::from_header(&ctx)?,
        symlink_target: Some(target),
        restore: None,
        version: Default::default(),
    };
    let mut response = write_response(&record);
    // A link has no content: no CRC or MD5 to announce.
    response.headers_mut().remove(headers::HASH_CRC64);
    let (bucket, key, mode) = (
        ctx.bucket().to_owned(),
        ctx.key().to_owned(),
        put_mode(&ctx),
    );
    let written = blocking(ctx.store(), move |s| {
        s.put_object(&bucket, &key, record, Vec::new(), mode)
    })
    .await?;
    Ok(super::object::written_version(
        response,
        &bucket_record,
        &written.version,
    ))
}

pub async fn get_symlink(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = load_object(&ctx).await?;
    let target = record
        .symlink_target
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::NotSymlink))?;
    let mut b = Response::builder()
        .header(SYMLINK_TARGET, header_encode(target))
        .header(header::ETAG, &record.etag)
        .header(
            header::LAST_MODIFIED,
            http_date(time_of(record.last_modified_ms)),
        )
        .header(header::CONTENT_LENGTH, 0);
    if let Some(v) = super::versioning::answered(&ctx, &record) {
        b = b.header(headers::VERSION_ID, v);
    }
    for (name, value) in record.headers.iter().filter(|(n, _)| is_user_meta(n)) {
        if let Ok(v) = http::HeaderValue::from_bytes(value.as_bytes()) {
            b = b.header(name.as_str(), v);
        }
    }
    b.body(body::empty())
        .map_err(|e| ApiError::internal(format!("bad response: {e}")))
}

/// What GET and HEAD serve for `record` (at the request's key): the key whose content is
/// read and the record to answer with. That is the object itself, or for a symlink its target
/// with the target's content headers and the link's user metadata, tags and ACL. A missing
/// target (or one that is itself a symlink: links are followed one level) is
/// SymlinkTargetNotExist.
pub async fn resolve(ctx: &Ctx, record: ObjectRecord) -> Result<(String, ObjectRecord), ApiError> {
    let Some(target) = record.symlink_target.clone() else {
        return Ok((ctx.key().to_owned(), record));
    };
    let target_key = target.clone();
    let bucket = ctx.bucket().to_owned();
    let found = blocking(ctx.store(), move |s| s.object(&bucket, &target)).await?;
    let Some(mut resolved) = found.filter(|t| t.symlink_target.is_none()) else {
        return Err(ApiError::new(ErrorCode::SymlinkTargetNotExist));
    };
    let bucket_record = load_bucket(ctx).await?;
    auth::authorize_as(
        ctx,
        Endpoint::GetObject,
        &bucket_record,
        &target_key,
        Some(&resolved),
    )?;
    resolved.headers.retain(|(n, _)| !is_user_meta(n));
    resolved
        .headers
        .extend(record.headers.into_iter().filter(|(n, _)| is_user_meta(n)));
    resolved.object_type = ObjectType::Symlink;
    resolved.last_modified_ms = resolved.last_modified_ms.max(record.last_modified_ms);
    resolved.tags = record.tags;
    resolved.acl = record.acl;
    Ok((target_key, resolved))
}

/// The target as GetSymlink answers it: percent-encoded where a header value needs it (bytes
/// outside visible ASCII, space, `%`), the rest as is. oss2 percent-decodes the header, v2
/// reads it verbatim: both get the key back for any key that is ASCII without `%`.
fn header_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_user_meta(name: &str) -> bool {
    name.starts_with(headers::META_PREFIX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_header_keeps_ascii_and_encodes_the_rest() {
        assert_eq!(super::header_encode("dir/a+b=c"), "dir/a+b=c");
        assert_eq!(super::header_encode("a b%"), "a%20b%25");
        assert_eq!(super::header_encode("中"), "%E4%B8%AD");
    }
}

//! Versioning: PutBucketVersioning / GetBucketVersioning (`?versioning`), ListObjectVersions
//! (`GET /?versions`), and the `versionId` parameter and version headers every object
//! operation shares.

use super::bucket::load_bucket;
use super::{empty, time_of, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::versions::is_valid_id;
use crate::store::{BucketRecord, ObjectRecord, VersionEntry, VersionItem, Versioning};
use http::{HeaderValue, Response, StatusCode};
use ossvault_proto::encode::uri_encode;
use ossvault_proto::limits::{DEFAULT_LIST_KEYS, MAX_LIST_PAGE};
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{
    self, CommonPrefix, DeleteMarkerEntry, ListVersionsResult, ObjectVersion, VersionListing,
    VersioningConfiguration,
};
use ossvault_proto::{headers, ErrorCode};

/// Longest prefix, marker or delimiter ListObjectVersions takes (OSS: under 1024 bytes).
const MAX_PARAM_BYTES: usize = 1023;

/// The `versionId` a request names: `None` without the parameter; an empty or malformed one is
/// InvalidArgument (a well-formed id that names nothing is the operation's own NoSuchVersion).
pub fn requested(ctx: &Ctx) -> Result<Option<String>, ApiError> {
    match ctx.query.get("versionId") {
        None => Ok(None),
        Some(id) => checked_id(id).map(Some),
    }
}

/// A version id from a request (query, copy source, multiple delete body), checked.
pub fn checked_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid_argument(
            "The version id must not be empty.",
        ));
    }
    if !is_valid_id(id) {
        return Err(ApiError::invalid_argument(format!(
            "The version id '{id}' is not valid."
        )));
    }
    Ok(id.to_owned())
}

/// The current object or the requested version of the request's key, for operations that act
/// on an object's content or metadata. No such key: NoSuchKey (with the delete marker's headers
/// when one is on top); no such version: NoSuchVersion; a version that is a delete marker: 405
/// MethodNotAllowed with `x-oss-delete-marker: true`.
pub async fn load(ctx: &Ctx) -> Result<ObjectRecord, ApiError> {
    let version = requested(ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let wanted = version.clone();
    let found = blocking(ctx.store(), move |s| {
        s.object_version(&bucket, &key, wanted.as_deref())
    })
    .await?;
    match (found, version) {
        (Some(VersionEntry::Object(record)), _) => Ok(*record),
        (Some(VersionEntry::DeleteMarker(m)), None) => Err(ApiError::new(ErrorCode::NoSuchKey)
            .with_header(headers::DELETE_MARKER, "true")
            .with_header(headers::VERSION_ID, m.version.shown())),
        (Some(VersionEntry::DeleteMarker(m)), Some(_)) => {
            Err(crate::store::StoreError::DeleteMarker(m.version.shown().to_owned()).into())
        }
        (None, None) => Err(ApiError::new(ErrorCode::NoSuchKey)),
        (None, Some(_)) => Err(ApiError::new(ErrorCode::NoSuchVersion)),
    }
}

/// Whether responses about this bucket's objects carry `x-oss-version-id` (as on OSS: once
/// versioning was ever configured).
pub fn shows_versions(bucket: &BucketRecord) -> bool {
    bucket.versioning.is_some()
}

/// Adds `x-oss-version-id: id` to a response.
pub fn with_version(mut response: Response<Body>, id: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(id) {
        response.headers_mut().insert(headers::VERSION_ID, v);
    }
    response
}

/// The `x-oss-version-id` an answer about `record` carries: on a bucket that shows versions,
/// or when the request named a version.
pub fn answered(ctx: &Ctx, record: &ObjectRecord) -> Option<String> {
    let shown =
        ctx.bucket_record.as_ref().is_some_and(shows_versions) || ctx.query.has("versionId");
    shown.then(|| record.version.shown().to_owned())
}

/// `response` with [`answered`]'s header for `record`.
pub fn with_answered(ctx: &Ctx, response: Response<Body>, record: &ObjectRecord) -> Response<Body> {
    match answered(ctx, record) {
        Some(v) => with_version(response, &v),
        None => response,
    }
}

pub async fn put_bucket_versioning(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let raw = ctx.small_body().await?;
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
    let config: VersioningConfiguration =
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
    let state = match config.status.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => {
            return Err(ApiError::msg(
                ErrorCode::MalformedXML,
                "The versioning status must be Enabled or Suspended.",
            ))
        }
    };
    let bucket = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| s.set_versioning(&bucket, state)).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_bucket_versioning(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let bucket = load_bucket(&ctx).await?;
    let config = VersioningConfiguration {
        status: bucket.versioning.map(|v| v.as_str().to_owned()),
    };
    Ok(xml_ok("VersioningConfiguration", &config))
}

/// A ListObjectVersions parameter, at most [`MAX_PARAM_BYTES`] long.
fn param<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a str, ApiError> {
    let value = ctx.query.non_empty(name).unwrap_or_default();
    if value.len() > MAX_PARAM_BYTES {
        return Err(ApiError::invalid_argument(format!(
            "{name} must be shorter than 1024 bytes."
        )));
    }
    Ok(value)
}

pub async fn list_object_versions(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let prefix = param(&ctx, "prefix")?.to_owned();
    let delimiter = param(&ctx, "delimiter")?.to_owned();
    let key_marker = param(&ctx, "key-marker")?.to_owned();
    let version_id_marker = param(&ctx, "version-id-marker")?.to_owned();
    let max_keys = match ctx.query.non_empty("max-keys") {
        None => DEFAULT_LIST_KEYS,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_PAGE).contains(n))
            .ok_or_else(|| ApiError::invalid_argument("max-keys must be between 1 and 1000."))?,
    };
    let id_marker = if version_id_marker.is_empty() {
        None
    } else {
        if key_marker.is_empty() {
            return Err(ApiError::invalid_argument(
                "version-id-marker needs key-marker.",
            ));
        }
        Some(checked_id(&version_id_marker)?)
    };
    let url = ctx.query.url_encoded();
    let enc = |s: &str| if url { uri_encode(s) } else { s.to_owned() };
    let (bucket, p, d, k) = (
        ctx.bucket().to_owned(),
        prefix.clone(),
        delimiter.clone(),
        key_marker.clone(),
    );
    let page = blocking(ctx.store(), move |s| {
        s.list_versions(&bucket, &p, &d, &k, id_marker.as_deref(), max_keys)
    })
    .await?;
    let owner = ctx.state.owner();
    let mut result = ListVersionsResult {
        name: ctx.bucket().to_owned(),
        prefix: enc(&prefix),
        key_marker: enc(&key_marker),
        version_id_marker,
        max_keys: max_keys as u32,
        delimiter: enc(&delimiter),
        encoding_type: url.then(|| "url".to_owned()),
        is_truncated: page.truncated,
        next_key_marker: page
            .truncated
            .then(|| page.next_key_marker.as_deref().map(enc))
            .flatten(),
        next_version_id_marker: page
            .truncated
            .then(|| page.next_version_id_marker.clone())
            .flatten(),
        ..Default::default()
    };
    for item in page.items {
        match item {
            VersionItem::Prefix(p) => result
                .common_prefixes
                .push(CommonPrefix { prefix: enc(&p) }),
            VersionItem::Version {
                key,
                entry,
                is_latest,
            } => match entry {
                VersionEntry::Object(o) => {
                    result.entries.push(VersionListing::Version(ObjectVersion {
                        key: enc(&key),
                        version_id: o.version.shown().to_owned(),
                        is_latest,
                        last_modified: iso8601(time_of(o.last_modified_ms)),
                        etag: o.etag.clone(),
                        object_type: o.object_type.as_str().to_owned(),
                        size: o.size,
                        storage_class: o.storage_class.clone(),
                        restore_info: super::restore::restore_info(&o),
                        owner: owner.clone(),
                    }))
                }
                VersionEntry::DeleteMarker(m) => {
                    result
                        .entries
                        .push(VersionListing::DeleteMarker(DeleteMarkerEntry {
                            key: enc(&key),
                            version_id: m.version.shown().to_owned(),
                            is_latest,
                            last_modified: iso8601(time_of(m.last_modified_ms)),
                            owner: owner.clone(),
                        }))
                }
            },
        }
    }
    Ok(xml_ok("ListVersionsResult", &result))
}

//! Object operations: put, get/head, meta, delete (one and many), append, ACL.

use super::bucket::{acl_policy, load_bucket};
use super::encryption;
use super::{empty, now_ms, parse_acl, time_of, xml_ok, ApiError, Ctx};
use super::{restore, symlink, tagging, versioning};
use crate::auth;
use crate::body::{self, blocking, plan_range, Body, Received};
use crate::integrity;
use crate::sse::{self, DataKey};
use crate::store::{
    Append, BucketRecord, Codec, ObjectRecord, ObjectType, PutMode, Segment, SseRecord, StoreError,
};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};
use ossvault_proto::limits::{MAX_DELETE_KEYS, MAX_USER_META_BYTES};
use ossvault_proto::range::{self, ByteRange};
use ossvault_proto::time::{http_date, parse_http_date};
use ossvault_proto::xml::{self, Delete, DeleteError, DeleteResult, DeletedEntry};
use ossvault_proto::{encode, etag, headers, names, ErrorCode};

/// Request headers kept with an object and returned verbatim on GET/HEAD.
const STORED_HEADERS: &[&str] = &[
    "content-type",
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
];
/// Attempts at reading an object whose blob a concurrent overwrite just unlinked.
const READ_ATTEMPTS: usize = 3;

/// The headers an object keeps, from a write request: the standard content headers and every
/// `x-oss-meta-*`, verbatim. Content-Type defaults to `application/octet-stream`.
pub fn stored_headers(request: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let mut kept = Vec::new();
    let mut meta_bytes = 0;
    for (name, value) in request {
        let name = name.as_str();
        let is_meta = name.starts_with(headers::META_PREFIX);
        if !is_meta && !STORED_HEADERS.contains(&name) {
            continue;
        }
        // User metadata may be UTF-8 (OSS keeps and answers the bytes as sent); the standard
        // headers must be visible ASCII.
        let value = if is_meta {
            std::str::from_utf8(value.as_bytes()).ok()
        } else {
            value.to_str().ok()
        }
        .ok_or_else(|| {
            ApiError::invalid_argument(format!("The header {name} is not valid text."))
        })?;
        if is_meta {
            meta_bytes += name.len() + value.len();
        }
        kept.push((name.to_owned(), value.to_owned()));
    }
    if meta_bytes > MAX_USER_META_BYTES {
        return Err(ApiError::invalid_argument("User metadata exceeds 8 KiB."));
    }
    if !kept.iter().any(|(n, _)| n == "content-type") {
        kept.push((
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ));
    }
    Ok(kept)
}

/// The headers a CopyObject with `x-oss-metadata-directive: REPLACE` stores: the request's, as
/// [`stored_headers`] keeps them, but, as OSS does (alibabacloud-oss-v2's suite, written against
/// OSS, checks both), the source's Content-Type when the request names none, and the source's
/// client-side encryption metadata (`x-oss-meta-client-side-encryption-*`: the wrapped key and
/// IV the copied ciphertext cannot be read without) unless the request sets that name itself.
pub fn replaced_headers(
    request: &HeaderMap,
    source: &[(String, String)],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut kept = stored_headers(request)?;
    if !request.contains_key(http::header::CONTENT_TYPE) {
        if let Some((_, source_type)) = source.iter().find(|(n, _)| n == "content-type") {
            if let Some(slot) = kept.iter_mut().find(|(n, _)| n == "content-type") {
                slot.1 = source_type.clone();
            }
        }
    }
    for (name, value) in source {
        if name.starts_with(CSE_META_PREFIX) && !kept.iter().any(|(n, _)| n == name) {
            kept.push((name.clone(), value.clone()));
        }
    }
    Ok(kept)
}

/// The metadata of client-side encryption (the SDKs' envelope: wrapped key, IV, algorithms).
const CSE_META_PREFIX: &str = "x-oss-meta-client-side-encryption-";

/// The `Content-MD5` a request promises, if any; malformed is InvalidDigest.
pub fn expected_md5(ctx: &Ctx) -> Result<Option<[u8; 16]>, ApiError> {
    let Some(v) = ctx.header(headers::CONTENT_MD5) else {
        return Ok(None);
    };
    BASE64
        .decode(v.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::msg(
                ErrorCode::InvalidDigest,
                "The Content-MD5 you specified is not valid.",
            )
        })
}

/// Fails with InvalidDigest if the received content does not match the promised MD5.
pub fn check_md5(expected: Option<[u8; 16]>, received: &Received) -> Result<(), ApiError> {
    match expected {
        Some(m) if m != received.md5 => Err(ApiError::msg(
            ErrorCode::InvalidDigest,
            "The Content-MD5 you specified did not match what we received.",
        )),
        _ => Ok(()),
    }
}

/// PutObject's and CompleteMultipartUpload's mode: `If-Match` makes the write fail with
/// PreconditionFailed unless the key exists with a matching ETag (checked in the write's own
/// transaction, so no other write slips in between), else as [`put_mode`].
pub fn conditional_put_mode(ctx: &Ctx) -> PutMode {
    match ctx.header("if-match") {
        Some(cond) => PutMode::IfMatch(cond.to_owned()),
        None => put_mode(ctx),
    }
}

/// `x-oss-forbid-overwrite: true` makes a write fail if the key exists.
pub fn put_mode(ctx: &Ctx) -> PutMode {
    match ctx.header(headers::FORBID_OVERWRITE) {
        Some(v) if v.eq_ignore_ascii_case("true") => PutMode::ForbidOverwrite,
        _ => PutMode::Overwrite,
    }
}

pub fn object_acl(ctx: &Ctx) -> Result<String, ApiError> {
    parse_acl(ctx.header(headers::OBJECT_ACL).unwrap_or("default"), true)
}

/// A new object's storage class: `x-oss-storage-class`, else its bucket's (as on OSS).
pub fn storage_class(ctx: &Ctx, bucket: &BucketRecord) -> Result<String, ApiError> {
    let class = ctx
        .header(headers::STORAGE_CLASS)
        .unwrap_or(&bucket.storage_class);
    match class {
        "Standard" | "IA" | "Archive" | "ColdArchive" | "DeepColdArchive" => Ok(class.to_owned()),
        _ => Err(ApiError::invalid_argument(format!(
            "Unsupported storage class '{class}'."
        ))),
    }
}

/// Receives the request body into a new blob (sealed under `seal`), enforcing the size limit,
/// Content-MD5 and a declared `x-oss-content-sha256`.
pub async fn receive_content(ctx: &mut Ctx, seal: Option<&DataKey>) -> Result<Received, ApiError> {
    let expected = expected_md5(ctx)?;
    let sha256 = crate::payload::declared(&ctx.headers)?;
    let declared = ctx.content_length()?;
    let incoming = ctx
        .take_body()
        .ok_or_else(|| ApiError::internal("request body already taken"))?;
    let received = body::receive(
        &ctx.store(),
        incoming,
        declared,
        ctx.state.config.max_object_size,
        seal,
        sha256,
    )
    .await?;
    check_md5(expected, &received)?;
    Ok(received)
}

pub async fn put_object(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let bucket = load_bucket(&ctx).await?;
    let stored = stored_headers(&ctx.headers)?;
    let acl = object_acl(&ctx)?;
    let storage_class = storage_class(&ctx, &bucket)?;
    let mode = conditional_put_mode(&ctx);
    let tags = tagging::from_header(&ctx)?;
    let (key, sse) = encryption::choose(&ctx, &bucket)?.unzip();
    let received = receive_content(&mut ctx, key.as_ref()).await?;
    let record = ObjectRecord {
        size: received.len,
        etag: etag::from_md5(&received.md5),
        crc64: received.crc64,
        content_md5: Some(BASE64.encode(received.md5)),
        last_modified_ms: now_ms(),
        object_type: ObjectType::Normal,
        storage_class,
        acl,
        headers: stored,
        segments: vec![Segment {
            blob: received.blob.id(),
            len: received.len,
            crc64: received.crc64,
            codec: codec_for(sse.as_ref()),
        }],
        sse,
        corrupt: None,
        tags,
        symlink_target: None,
        restore: None,
        version: Default::default(),
    };
    let response = write_response(&record);
    let (name, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let written = ctx
        .store()
        .put_object_async(&name, &key, record, vec![received.blob], mode)
        .await?;
    Ok(written_version(response, &bucket, &written.version))
}

/// Adds `x-oss-version-id` to a write's answer on a bucket that shows versions.
pub fn written_version(
    response: Response<Body>,
    bucket: &BucketRecord,
    version: &crate::store::VersionStamp,
) -> Response<Body> {
    if versioning::shows_versions(bucket) {
        versioning::with_version(response, version.shown())
    } else {
        response
    }
}

/// How a segment of an object with this encryption is stored.
pub fn codec_for(sse: Option<&SseRecord>) -> Codec {
    if sse.is_some() {
        Codec::Sealed
    } else {
        Codec::Plain
    }
}

/// The response to a successful write: ETag, CRC, Content-MD5 where known, SSE headers.
pub fn write_response(record: &ObjectRecord) -> Response<Body> {
    let mut b = Response::builder()
        .header(header::ETAG, &record.etag)
        .header(headers::HASH_CRC64, record.crc64.to_string())
        .header(header::CONTENT_LENGTH, 0);
    if let Some(md5) = &record.content_md5 {
        b = b.header(headers::CONTENT_MD5, md5);
    }
    for (name, value) in sse::response_headers(record.sse.as_ref()) {
        b = b.header(name, value);
    }
    b.body(body::empty()).expect("valid response")
}

/// The object the request addresses: its current version, or the one `versionId` names
/// (see [`versioning::load`] for the errors).
pub async fn load_object(ctx: &Ctx) -> Result<ObjectRecord, ApiError> {
    versioning::load(ctx).await
}

/// Resolves a `Range` header. `Ok(None)` means serve the whole object: no range, or (as OSS
/// does without `x-oss-range-behavior: standard`) an invalid or unsatisfiable one. With
/// `standard`, an end past EOF is clamped and a start past EOF is 416 InvalidRange; a
/// malformed header still serves the whole object.
pub fn resolve_range(
    header: Option<&str>,
    size: u64,
    standard: bool,
) -> Result<Option<ByteRange>, ApiError> {
    let Some(spec) = header.and_then(|h| range::parse_range_header(h).ok()) else {
        return Ok(None);
    };
    // OSS's default: a range reaching past the object is ignored rather than clamped.
    if !standard && spec.ends_past(size) {
        return Ok(None);
    }
    match spec.resolve(size) {
        Ok(r) => Ok(Some(r)),
        Err(_) if standard => Err(ApiError::msg(
            ErrorCode::InvalidRange,
            "The requested range cannot be satisfied.",
        )),
        Err(_) => Ok(None),
    }
}

/// Evaluates If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304).
pub fn check_conditions(
    request: &HeaderMap,
    names: [&str; 4],
    record: &ObjectRecord,
    not_modified: ErrorCode,
) -> Result<(), ApiError> {
    let get = |n: &str| request.get(n).and_then(|v| v.to_str().ok());
    let [if_match, if_none_match, if_modified_since, if_unmodified_since] = names;
    let modified_secs = record.last_modified_ms / 1000;
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    if let Some(v) = get(if_match) {
        if !etag::matches_condition(v, &record.etag) {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
    } else if let Some(t) = get(if_unmodified_since).and_then(parse_http_date) {
        if modified_secs > secs(t) {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
    }
    if let Some(v) = get(if_none_match) {
        if etag::matches_condition(v, &record.etag) {
            return Err(ApiError::new(not_modified));
        }
    } else if let Some(t) = get(if_modified_since).and_then(parse_http_date) {
        if modified_secs <= secs(t) {
            return Err(ApiError::new(not_modified));
        }
    }
    Ok(())
}

/// Why the first piece of an object could not be read.
enum ReadFailure {
    /// Its blob is gone: overwritten since the metadata was read.
    Missing,
    /// Unreadable.
    Content(String),
    /// Damaged (the object is now marked corrupt).
    Damaged(crate::store::CorruptMark),
}

/// A first segment up to this size is read and checked whole before a GET answers (a second
/// read from the page cache, cheap at this size), so damage in a small object is an error
/// status, not a cut-off body.
const PROBE_WHOLE: u64 = 1 << 20;

/// GetObject (`with_body`) and HeadObject.
pub async fn get_object(ctx: Ctx, with_body: bool) -> Result<Response<Body>, ApiError> {
    let overrides = response_overrides(&ctx)?;
    let store = ctx.store();
    for attempt in 1..=READ_ATTEMPTS {
        // Through a symlink: `read_key` is its target, whose content is served; the version
        // answered is the link's.
        let addressed = load_object(&ctx).await?;
        let version = versioning::answered(&ctx, &addressed);
        let (read_key, record) = symlink::resolve(&ctx, addressed).await?;
        check_conditions(
            &ctx.headers,
            [
                "if-match",
                "if-none-match",
                "if-modified-since",
                "if-unmodified-since",
            ],
            &record,
            ErrorCode::NotModified,
        )?;
        let standard = ctx
            .header(headers::RANGE_BEHAVIOR)
            .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
        let range = resolve_range(ctx.header(header::RANGE.as_str()), record.size, standard)?;
        let (start, end) = range.map_or((0, record.size), |r| (r.start, r.end));
        let plan = plan_range(&record.segments, start, end);
        if let Some(mark) = record.corrupt.as_ref() {
            // A HEAD, a whole GET or a range over the damage answers the error; a range of an
            // intact segment (or sealed chunk) is still served.
            if !with_body || range.is_none() || integrity::touches_damage(&record, &plan) {
                return Err(integrity::corrupt_error(mark));
            }
        }
        let key = if with_body {
            restore::check_readable(&record)?;
            encryption::open(&ctx, record.sse.as_ref())?
        } else {
            None
        };
        let first = match (with_body, plan.first()) {
            (true, Some((seg, offset, _))) => {
                let (seg, offset, probe_key, store) =
                    (seg.clone(), *offset, key.clone(), store.clone());
                let (bucket, object) = (ctx.bucket().to_owned(), read_key.clone());
                let opened = tokio::task::spawn_blocking(move || {
                    let file = store.open_blob(seg.blob).map_err(|e| match e {
                        StoreError::BlobMissing(_) => ReadFailure::Missing,
                        other => ReadFailure::Content(other.to_string()),
                    })?;
                    // Check a small first segment whole, or else a sealed one's first chunk,
                    // before answering, so that damage there is an error status rather than a
                    // cut-off body.
                    let probe = match seg.codec {
                        _ if seg.len <= PROBE_WHOLE => Some((0, seg.len)),
                        Codec::Sealed => Some((offset, 1)),
                        Codec::Plain => None,
                    };
                    if let Some((from, n)) = probe {
                        let plain = seg.codec == Codec::Plain;
                        let checked =
                            body::read_segment(&file, &seg, probe_key.as_ref(), from, n, |_| plain);
                        if let Err(e) = checked {
                            return Err(match integrity::damage_of(&e) {
                                Some(damage) => {
                                    integrity::quarantine(&store, &bucket, &object, damage);
                                    ReadFailure::Damaged(damage.mark())
                                }
                                None => ReadFailure::Content(e.to_string()),
                            });
                        }
                    }
                    Ok(file)
                });
                match opened
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                {
                    Ok(f) => Some(f),
                    // Overwritten between reading the metadata and opening: read it again.
                    Err(ReadFailure::Missing) if attempt < READ_ATTEMPTS => continue,
                    Err(ReadFailure::Missing) => {
                        return Err(ApiError::internal("the object's content is missing"))
                    }
                    Err(ReadFailure::Content(e)) => return Err(ApiError::internal(e)),
                    Err(ReadFailure::Damaged(mark)) => return Err(integrity::corrupt_error(&mark)),
                }
            }
            _ => None,
        };
        let gzip = with_body && range.is_none() && gzip_wanted(&ctx.headers, &record);
        let mut b = Response::builder()
            .status(if range.is_some() {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            })
            .header(header::ACCEPT_RANGES, "bytes");
        b = if gzip {
            // Compressed as it streams: no length known, so the body goes chunked.
            b.header(header::CONTENT_ENCODING, "gzip")
                .header(header::VARY, "Accept-Encoding")
        } else {
            b.header(header::CONTENT_LENGTH, end - start)
        };
        if range.is_some() {
            b = b.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", start, end.saturating_sub(1), record.size),
            );
        } else {
            // The whole-object CRC only where the body is the whole object (SDKs check it).
            b = b.header(headers::HASH_CRC64, record.crc64.to_string());
        }
        b = object_headers(b, &record, &overrides);
        if let Some(v) = &version {
            b = b.header(headers::VERSION_ID, v);
        }
        let body = if with_body && end > start {
            let object = (ctx.bucket().to_owned(), read_key);
            let content = body::content_stream(store.clone(), object, plan, first, key);
            if gzip {
                body::gzip(content)
            } else {
                content
            }
        } else {
            body::empty()
        };
        return b
            .body(body)
            .map_err(|e| ApiError::internal(format!("bad response: {e}")));
    }
    Err(ApiError::internal(
        "the object kept changing while being read",
    ))
}

/// Content types OSS compresses for a client that accepts gzip (besides every `text/*`).
const COMPRESSIBLE: &[&str] = &[
    "application/javascript",
    "application/x-javascript",
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "image/svg+xml",
];
/// Smaller objects are sent as they are (OSS: 1 KB).
const GZIP_MIN_SIZE: u64 = 1024;

/// Whether a whole-object GET is answered gzip-compressed, as OSS does: the client accepts
/// gzip, the object is at least 1 KB of a text-like type and carries no Content-Encoding of
/// its own.
fn gzip_wanted(request: &HeaderMap, record: &ObjectRecord) -> bool {
    let accepts = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        });
    let stored = |n: &str| {
        record
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let kind = stored("content-type")
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    accepts
        && record.size >= GZIP_MIN_SIZE
        && stored("content-encoding").is_none()
        && (kind.starts_with("text/") || COMPRESSIBLE.contains(&kind.as_str()))
}

/// The headers a GET may override with `response-<name>` query parameters.
const OVERRIDABLE: [&str; 6] = [
    "content-type",
    "content-language",
    "expires",
    "cache-control",
    "content-disposition",
    "content-encoding",
];

/// The `response-*` overrides of a GET, validated as header values: the query string is the
/// client's, and a control character in it is a bad request, not a response that cannot be
/// built.
fn response_overrides(ctx: &Ctx) -> Result<Vec<(&'static str, HeaderValue)>, ApiError> {
    let mut overrides = Vec::new();
    for name in OVERRIDABLE {
        if let Some(v) = ctx.query.get(&format!("response-{name}")) {
            let value = HeaderValue::from_str(v).map_err(|_| {
                ApiError::invalid_argument(format!(
                    "The value of response-{name} is not a valid header value."
                ))
            })?;
            overrides.push((name, value));
        }
    }
    Ok(overrides)
}

/// Headers describing a stored object on GET/HEAD, with `response-*` overrides applied.
fn object_headers(
    mut b: http::response::Builder,
    record: &ObjectRecord,
    overrides: &[(&'static str, HeaderValue)],
) -> http::response::Builder {
    b = b
        .header(header::ETAG, &record.etag)
        .header(
            header::LAST_MODIFIED,
            http_date(time_of(record.last_modified_ms)),
        )
        .header(headers::OBJECT_TYPE, record.object_type.as_str())
        .header(headers::STORAGE_CLASS, &record.storage_class);
    if !record.tags.is_empty() {
        b = b.header(headers::TAGGING_COUNT, record.tags.len());
    }
    if let Some(info) = restore::restore_info(record) {
        b = b.header(restore::RESTORE, info);
    }
    if record.object_type == ObjectType::Normal {
        if let Some(md5) = &record.content_md5 {
            b = b.header(headers::CONTENT_MD5, md5);
        }
    }
    for (name, value) in sse::response_headers(record.sse.as_ref()) {
        b = b.header(name, value);
    }
    for (name, value) in &record.headers {
        if !overrides.iter().any(|(n, _)| n == name) {
            // Bytes as stored: UTF-8 metadata goes out as the client sent it (it came in as a
            // header value, so it is one).
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                b = b.header(name.as_str(), v);
            }
        }
    }
    for (name, value) in overrides {
        b = b.header(*name, value);
    }
    b
}

pub async fn get_object_meta(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let addressed = load_object(&ctx).await?;
    let version = versioning::answered(&ctx, &addressed);
    let (_, record) = symlink::resolve(&ctx, addressed).await?;
    if let Some(mark) = &record.corrupt {
        return Err(integrity::corrupt_error(mark));
    }
    let modified = http_date(time_of(record.last_modified_ms));
    let mut b = Response::builder();
    if let Some(v) = &version {
        b = b.header(headers::VERSION_ID, v);
    }
    Ok(b.header(header::ETAG, &record.etag)
        .header(header::CONTENT_LENGTH, record.size)
        .header(header::LAST_MODIFIED, &modified)
        .header(headers::HASH_CRC64, record.crc64.to_string())
        .header(headers::LAST_ACCESS_TIME, &modified)
        .body(body::empty())
        .expect("valid response"))
}

pub async fn delete_object(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let version = versioning::requested(&ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let deleted = blocking(ctx.store(), move |s| {
        s.delete_version(&bucket, &key, version.as_deref())
    })
    .await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    if deleted.delete_marker {
        response
            .headers_mut()
            .insert(headers::DELETE_MARKER, HeaderValue::from_static("true"));
    }
    if let Some(id) = &deleted.version_id {
        response = versioning::with_version(response, id);
    }
    Ok(response)
}

pub async fn delete_multiple(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let expected = expected_md5(&ctx)?;
    let raw = ctx.small_body().await?;
    if let Some(m) = expected {
        if <[u8; 16]>::from(Md5::digest(&raw)) != m {
            return Err(ApiError::msg(
                ErrorCode::InvalidDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
    let request: Delete =
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
    if request.object.is_empty() || request.object.len() > MAX_DELETE_KEYS {
        return Err(ApiError::msg(
            ErrorCode::MalformedXML,
            "Delete takes between 1 and 1000 keys.",
        ));
    }
    let mut keys = Vec::with_capacity(request.object.len());
    let mut versions = Vec::with_capacity(request.object.len());
    for o in request.object {
        if !names::is_valid_object_key(&o.key) {
            return Err(ApiError::msg(
                ErrorCode::InvalidObjectName,
                format!("The key '{}' is not valid.", o.key),
            ));
        }
        versions.push(
            o.version_id
                .as_deref()
                .map(versioning::checked_id)
                .transpose()?,
        );
        keys.push(o.key);
    }
    let bucket = load_bucket(&ctx).await?;
    // Each key is authorised as its own DELETE would be; a refused key is reported and the
    // others are deleted.
    let records = if ctx.principal.is_none() {
        let (name, keys) = (bucket.name.clone(), keys.clone());
        blocking(ctx.store(), move |s| {
            keys.iter().map(|k| s.object(&name, k)).collect()
        })
        .await?
    } else {
        vec![None; keys.len()]
    };
    let mut allowed = Vec::with_capacity(keys.len());
    let mut refused = Vec::new();
    for ((key, version), record) in keys.into_iter().zip(versions).zip(&records) {
        match auth::authorize_key(&ctx, &bucket, &key, record.as_ref()) {
            Ok(()) => allowed.push((key, version)),
            Err(e) => refused.push((key, e)),
        }
    }
    let (name, items) = (bucket.name.clone(), allowed.clone());
    let done = blocking(ctx.store(), move |s| s.delete_objects(&name, &items)).await?;
    let url = ctx.query.url_encoded();
    let shown = |k: &str| {
        if url {
            encode::uri_encode(k)
        } else {
            k.to_owned()
        }
    };
    let result = DeleteResult {
        encoding_type: url.then(|| "url".to_owned()),
        deleted: if request.quiet == Some(true) {
            Vec::new()
        } else {
            allowed
                .iter()
                .zip(&done)
                .map(|((k, asked), d)| deleted_entry(shown(k), asked.is_some(), d))
                .collect()
        },
        error: refused
            .into_iter()
            .map(|(k, e)| DeleteError {
                key: shown(&k),
                code: e.code.as_str().to_owned(),
                message: e.message,
            })
            .collect(),
    };
    Ok(xml_ok("DeleteResult", &result))
}

/// A multiple delete's `<Deleted>` entry, as OSS writes it: with a version id asked, that
/// version (and `DeleteMarker` if it was one); without, on a versioned bucket, the delete
/// marker added.
fn deleted_entry(key: String, asked_version: bool, d: &crate::store::Deleted) -> DeletedEntry {
    let mut entry = DeletedEntry {
        key,
        ..Default::default()
    };
    if asked_version {
        entry.version_id = d.version_id.clone();
        entry.delete_marker = d.delete_marker.then_some(true);
    } else if d.delete_marker {
        entry.delete_marker = Some(true);
        entry.delete_marker_version_id = d.version_id.clone();
    }
    entry
}

pub async fn append_object(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    if ctx.query.has("versionId") {
        // OSS appends only to the current version (EC 0016-00000504).
        return Err(ApiError::invalid_argument(
            "AppendObject does not take a versionId: it appends to the current version.",
        ));
    }
    let position: u64 = ctx
        .query
        .non_empty("position")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ApiError::invalid_argument("AppendObject needs a numeric position."))?;
    let bucket = load_bucket(&ctx).await?;
    // The first append decides the encryption; later ones continue under the object's key.
    let (b, k) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let existing = blocking(ctx.store(), move |s| s.object(&b, &k)).await?;
    // An existing object keeps its encryption (or its lack of one) whatever the bucket
    // default says now; only a new object chooses.
    let creates = existing.is_none();
    let (key, sse) = match existing {
        Some(o) => (encryption::open(&ctx, o.sse.as_ref())?, o.sse),
        None => encryption::choose(&ctx, &bucket)?.unzip(),
    };
    let template = ObjectRecord {
        size: 0,
        etag: String::new(),
        crc64: 0,
        content_md5: None,
        last_modified_ms: 0,
        object_type: ObjectType::Appendable,
        storage_class: storage_class(&ctx, &bucket)?,
        acl: object_acl(&ctx)?,
        headers: stored_headers(&ctx.headers)?,
        segments: Vec::new(),
        sse: sse.clone(),
        corrupt: None,
        // Only the append that creates the object sets its tags; later ones ignore the header.
        tags: if creates {
            tagging::from_header(&ctx)?
        } else {
            Vec::new()
        },
        symlink_target: None,
        restore: None,
        version: Default::default(),
    };
    let received = receive_content(&mut ctx, key.as_ref()).await?;
    // Appendable objects have no whole-content MD5; the ETag only has to change with the
    // content, so it hashes the position with the appended bytes' MD5.
    let mut h = Md5::new();
    h.update(position.to_be_bytes());
    h.update(received.md5);
    let append = Append {
        position,
        template,
        segment: Segment {
            blob: received.blob.id(),
            len: received.len,
            crc64: received.crc64,
            codec: codec_for(sse.as_ref()),
        },
        blob: received.blob,
        etag: etag::from_md5(&h.finalize().into()),
        last_modified_ms: now_ms(),
        creates,
    };
    let (bucket_name, name) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let record = blocking(ctx.store(), move |s| {
        s.append_object(&bucket_name, &name, append)
    })
    .await?;
    if !same_data_key(&ctx, record.sse.as_ref(), sse.as_ref(), key.as_ref())? {
        // A concurrent first append chose differently; the position check let only one win.
        return Err(ApiError::internal(
            "the object's encryption changed during the append",
        ));
    }
    let mut b = Response::builder();
    for (name, value) in sse::response_headers(record.sse.as_ref()) {
        b = b.header(name, value);
    }
    if versioning::shows_versions(&bucket) {
        b = b.header(headers::VERSION_ID, record.version.shown());
    }
    Ok(b.header(header::ETAG, &record.etag)
        .header(headers::HASH_CRC64, record.crc64.to_string())
        .header(headers::NEXT_APPEND_POSITION, record.size.to_string())
        .header(header::CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid response"))
}

/// Whether an object's encryption after an append is still the data key the appended content
/// was sealed under: the record read before, or the same key wrapped anew (a master key
/// rotation re-wraps data keys at any time, which changes the record but not the key).
fn same_data_key(
    ctx: &Ctx,
    now: Option<&SseRecord>,
    before: Option<&SseRecord>,
    sealed_with: Option<&DataKey>,
) -> Result<bool, ApiError> {
    match (now, before, sealed_with) {
        (None, None, _) => Ok(true),
        (Some(a), Some(b), _) if a == b => Ok(true),
        (Some(a), Some(b), Some(key))
            if (&a.algorithm, &a.kms_key_id, &a.data_encryption)
                == (&b.algorithm, &b.kms_key_id, &b.data_encryption) =>
        {
            let current = encryption::open(ctx, Some(a))?;
            Ok(current.is_some_and(|c| c.bytes() == key.bytes()))
        }
        _ => Ok(false),
    }
}

pub async fn get_object_acl(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = load_object(&ctx).await?;
    let response = xml_ok("AccessControlPolicy", &acl_policy(&ctx, record.acl.clone()));
    Ok(versioning::with_answered(&ctx, response, &record))
}

pub async fn put_object_acl(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let acl = parse_acl(
        ctx.header(headers::OBJECT_ACL).ok_or_else(|| {
            ApiError::invalid_argument("The x-oss-object-acl header is required.")
        })?,
        true,
    )?;
    if super::public_access::is_public_acl(&acl) {
        let bucket = super::bucket::load_bucket(&ctx).await?;
        super::public_access::refuse_public_grant(&ctx, &bucket, "a public ACL")?;
    }
    let version = versioning::requested(&ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let v = version.clone();
    let record = blocking(ctx.store(), move |s| {
        s.update_version(&bucket, &key, v.as_deref(), move |o| o.acl = acl)
    })
    .await?;
    Ok(versioning::with_answered(
        &ctx,
        empty(StatusCode::OK),
        &record,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_oss_rules() {
        let r = |h: &str, std| resolve_range(Some(h), 100, std).map_err(|e| e.code);
        assert_eq!(
            r("bytes=0-9", false),
            Ok(Some(ByteRange { start: 0, end: 10 }))
        );
        assert_eq!(
            r("bytes=90-", false),
            Ok(Some(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            r("bytes=-10", false),
            Ok(Some(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            r("bytes=-1000", false),
            Ok(Some(ByteRange { start: 0, end: 100 }))
        );
        assert_eq!(
            r("bytes=0-1,5-6", false),
            Ok(Some(ByteRange { start: 0, end: 2 }))
        );
        // Without `standard`, out-of-range and malformed ranges serve the whole object.
        assert_eq!(r("bytes=50-200", false), Ok(None));
        assert_eq!(r("bytes=100-", false), Ok(None));
        assert_eq!(r("bytes=9-3", false), Ok(None));
        assert_eq!(r("items=0-3", false), Ok(None));
        // With `standard`, the end is clamped and a start past EOF is refused.
        assert_eq!(
            r("bytes=50-200", true),
            Ok(Some(ByteRange {
                start: 50,
                end: 100
            }))
        );
        assert_eq!(r("bytes=100-", true), Err(ErrorCode::InvalidRange));
        assert_eq!(resolve_range(None, 100, false).unwrap(), None);
    }
}

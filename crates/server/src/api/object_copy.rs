//! CopyObject and UploadPartCopy: server-side copies, read from the source's blobs and
//! written into a new blob (a copy onto itself only rewrites metadata).

use super::multipart::{load_upload, part_number};
use super::object::{
    check_conditions, codec_for, object_acl, put_mode, replaced_headers, storage_class,
};
use super::{encryption, now_ms, time_of, with_sse, xml_ok_with_etag, ApiError, Ctx};
use crate::auth::CopySource;
use crate::body::{blocking, plan_range, Body};
use crate::body::{read_segment, ContentWriter};
use crate::sse::{DataKey, SseRequest};
use crate::store::{NewBlob, ObjectRecord, ObjectType, PartRecord, Segment, Store, StoreError};
use http::Response;
use md5::{Digest, Md5};
use ossvault_proto::crc64::Crc64;
use ossvault_proto::range::{self, ByteRange, RangeSpec};
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{CopyObjectResult, CopyPartResult};
use ossvault_proto::{etag, headers, ErrorCode};

/// The copy source authorisation read and allowed (never read here again: a source can only
/// come from there), with the `x-oss-copy-source-if-*` conditions checked and its data key
/// opened (a disabled or deleted KMS key refuses the copy as it refuses a GET).
fn take_source(ctx: &mut Ctx) -> Result<(CopySource, Option<DataKey>), ApiError> {
    let source = ctx
        .copy_source
        .take()
        .ok_or_else(|| ApiError::internal("the copy source was not authorised"))?;
    // A quarantined source is not copied (a ranged part copy could not check what it reads).
    if let Some(mark) = &source.record.corrupt {
        return Err(crate::integrity::corrupt_error(mark));
    }
    // Nor is a frozen archive: its content must be restored first, as for a GET.
    super::restore::check_readable(&source.record)?;
    check_conditions(
        &ctx.headers,
        [
            headers::COPY_SOURCE_IF_MATCH,
            headers::COPY_SOURCE_IF_NONE_MATCH,
            headers::COPY_SOURCE_IF_MODIFIED_SINCE,
            headers::COPY_SOURCE_IF_UNMODIFIED_SINCE,
        ],
        &source.record,
        ErrorCode::NotModified,
    )?;
    let key = encryption::open(ctx, source.record.sse.as_ref())?;
    Ok((source, key))
}

/// Adds `x-oss-copy-source-version-id` (see [`CopySource::shown_version`]).
fn with_source_version(mut response: Response<Body>, shown: Option<String>) -> Response<Body> {
    if let Some(v) = shown.and_then(|v| v.parse().ok()) {
        response
            .headers_mut()
            .insert(headers::COPY_SOURCE_VERSION_ID, v);
    }
    response
}

/// What a copy wrote: a durable blob with the bytes' MD5 and CRC.
struct Copied {
    blob: NewBlob,
    len: u64,
    md5: [u8; 16],
    crc64: u64,
}

/// Copies `range` of `source` (opened with `source_key` if encrypted) into a new blob, sealed
/// under `target_key` if given (blocking). Hashes the plaintext on the way.
fn copy_range(
    store: &Store,
    source: &ObjectRecord,
    range: ByteRange,
    source_key: Option<&DataKey>,
    target_key: Option<&DataKey>,
) -> Result<Copied, StoreError> {
    let mut writer = ContentWriter::new(store.new_blob()?, target_key);
    let mut md5 = Md5::new();
    let mut crc = Crc64::new();
    let mut len = 0u64;
    for (segment, offset, n) in plan_range(&source.segments, range.start, range.end) {
        let file = store.open_blob(segment.blob)?;
        let mut failed = None;
        read_segment(&file, &segment, source_key, offset, n, |data| {
            md5.update(&data);
            crc.update(&data);
            len += data.len() as u64;
            match writer.write(&data) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    Ok(Copied {
        blob: writer.finish()?,
        len,
        md5: md5.finalize().into(),
        crc64: crc.finish(),
    })
}

pub async fn copy_object(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let (copy_source, source_key) = take_source(&mut ctx)?;
    let src_shown = copy_source.shown_version();
    let CopySource {
        bucket: src_bucket,
        key: src_key,
        version: src_version,
        record: source,
        ..
    } = copy_source;
    let target_bucket = super::bucket::load_bucket(&ctx).await?;
    // The copy's encryption is the request's, else the target bucket's default: never the
    // source's (as on OSS).
    let wanted = SseRequest::effective(&ctx.headers, target_bucket.encryption.as_ref())?;
    let replace = match ctx.header(headers::METADATA_DIRECTIVE).unwrap_or("COPY") {
        d if d.eq_ignore_ascii_case("COPY") => false,
        d if d.eq_ignore_ascii_case("REPLACE") => true,
        d => {
            return Err(ApiError::invalid_argument(format!(
                "Unknown metadata directive '{d}'."
            )))
        }
    };
    let stored = if replace {
        replaced_headers(&ctx.headers, &source.headers)?
    } else {
        source.headers.clone()
    };
    let acl = object_acl(&ctx)?;
    let class = storage_class(&ctx, &target_bucket)?;
    let tags = super::tagging::for_copy(&ctx, &source.tags)?;
    let mode = put_mode(&ctx);
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    let modified = now_ms();

    // Onto itself and from the current version (a named older version is a real copy: that
    // is how a previous version is restored).
    let onto_itself = (src_bucket.as_str(), src_key.as_str()) == (bucket.as_str(), key.as_str())
        && src_version.is_none();
    // Onto itself without an SSE header (oss2's update_object_meta) keeps the content and its
    // encryption: a metadata update must never quietly decrypt an object.
    let asked = SseRequest::from_headers(&ctx.headers)?;
    let keeps_encryption =
        asked.is_none() || SseRequest::satisfied_by(asked.as_ref(), source.sse.as_ref());
    let record = if onto_itself && keeps_encryption {
        // The content stays, only metadata changes (a new version of the same bytes on a
        // versioned bucket).
        blocking(ctx.store(), move |s| {
            s.renew_object(&bucket, &key, move |o| {
                o.headers = stored;
                o.tags = tags;
                o.acl = acl;
                o.storage_class = class;
                o.last_modified_ms = modified;
            })
        })
        .await?
    } else {
        let (target_key, sse) = match &wanted {
            Some(request) => Some(ctx.sse()?.new_key(request)?).unzip(),
            None => (None, None),
        };
        let src = source.clone();
        let copied = blocking(ctx.store(), move |s| {
            let range = ByteRange {
                start: 0,
                end: src.size,
            };
            copy_range(s, &src, range, source_key.as_ref(), target_key.as_ref())
        })
        .await?;
        if copied.crc64 != source.crc64 {
            return Err(ApiError::internal("the copy source failed its CRC check"));
        }
        let record = ObjectRecord {
            size: copied.len,
            etag: source.etag.clone(),
            crc64: copied.crc64,
            content_md5: (source.object_type == ObjectType::Normal)
                .then(|| source.content_md5.clone())
                .flatten(),
            last_modified_ms: modified,
            object_type: ObjectType::Normal,
            storage_class: class,
            acl,
            headers: stored,
            segments: vec![Segment {
                blob: copied.blob.id(),
                len: copied.len,
                crc64: copied.crc64,
                codec: codec_for(sse.as_ref()),
            }],
            sse,
            corrupt: None,
            tags,
            symlink_target: None,
            restore: None,
            version: Default::default(),
        };
        let r = record.clone();
        let written = blocking(ctx.store(), move |s| {
            s.put_object(&bucket, &key, r, vec![copied.blob], mode)
        })
        .await?;
        ObjectRecord {
            version: written.version,
            ..record
        }
    };
    let result = CopyObjectResult {
        etag: record.etag.clone(),
        last_modified: iso8601(time_of(record.last_modified_ms)),
    };
    let response = xml_ok_with_etag("CopyObjectResult", &result, &record.etag, record.crc64)?;
    let response = with_source_version(response, src_shown);
    let response = super::object::written_version(response, &target_bucket, &record.version);
    Ok(with_sse(response, record.sse.as_ref()))
}

/// Parses `x-oss-copy-source-range: bytes=a-b` (or `bytes=a-`) against the source size. Unlike
/// `Range`, it is strict: one range, within the source, else InvalidArgument.
fn copy_range_header(ctx: &Ctx, size: u64) -> Result<ByteRange, ApiError> {
    let Some(spec) = ctx.header(headers::COPY_SOURCE_RANGE) else {
        return Ok(ByteRange {
            start: 0,
            end: size,
        });
    };
    let bad = || {
        ApiError::invalid_argument(format!(
            "The copy range '{spec}' is not valid for a {size}-byte source."
        ))
    };
    let (start, end) = match spec
        .trim()
        .strip_prefix("bytes=")
        .map(range::parse_range_spec)
    {
        Some(Ok(RangeSpec::From { start, end })) => (start, end.unwrap_or(size.saturating_sub(1))),
        _ => return Err(bad()),
    };
    if start > end || end >= size {
        return Err(bad());
    }
    Ok(ByteRange {
        start,
        end: end + 1,
    })
}

pub async fn upload_part_copy(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let number = part_number(&ctx)?;
    let upload = load_upload(&ctx).await?;
    let (copy_source, source_key) = take_source(&mut ctx)?;
    let src_shown = copy_source.shown_version();
    let source = copy_source.record;
    let range = copy_range_header(&ctx, source.size)?;
    let target_key = encryption::open(&ctx, upload.sse.as_ref())?;
    let copied = blocking(ctx.store(), move |s| {
        copy_range(s, &source, range, source_key.as_ref(), target_key.as_ref())
    })
    .await?;
    let part = PartRecord {
        part_number: number,
        blob: copied.blob.id(),
        size: copied.len,
        etag: etag::from_md5(&copied.md5),
        crc64: copied.crc64,
        last_modified_ms: now_ms(),
    };
    let result = CopyPartResult {
        last_modified: iso8601(time_of(part.last_modified_ms)),
        etag: part.etag.clone(),
    };
    let sse = upload.sse.clone();
    let (bucket, upload_id, etag_value, crc) = (
        ctx.bucket().to_owned(),
        upload.upload_id,
        part.etag.clone(),
        part.crc64,
    );
    blocking(ctx.store(), move |s| {
        s.put_part(&bucket, &upload_id, part, copied.blob)
    })
    .await?;
    // Like UploadPart, the part's answer echoes the upload's encryption.
    let response = xml_ok_with_etag("CopyPartResult", &result, &etag_value, crc)?;
    Ok(with_sse(
        with_source_version(response, src_shown),
        sse.as_ref(),
    ))
}

//! Multipart upload: initiate, upload part, complete, abort, list parts and uploads.
//! Complete stitches the parts' blobs into the object; no byte is copied again.

use super::bucket::load_bucket;
use super::object::{
    codec_for, conditional_put_mode, object_acl, receive_content, storage_class, stored_headers,
};
use super::{empty, now_ms, time_of, with_sse, xml_ok, xml_ok_with_etag, ApiError, Ctx};
use crate::body::{self, blocking, Body};
use crate::store::{ObjectRecord, ObjectType, PartRecord, Segment, UploadRecord};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::{header, Response, StatusCode};
use ossvault_proto::crc64;
use ossvault_proto::encode::uri_encode;
use ossvault_proto::limits::{MAX_LIST_PAGE, MAX_PARTS, MIN_PART_SIZE};
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{
    self, CommonPrefix, CompleteMultipartUpload, CompleteMultipartUploadResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, PartSummary,
    UploadSummary,
};
use ossvault_proto::{etag, headers, ErrorCode};

const CSE_PREFIX: &str = "x-oss-meta-client-side-encryption-";

/// Server-side encryption is chosen at Initiate; parts and Complete may not name it.
fn refuse_sse_headers(ctx: &Ctx) -> Result<(), ApiError> {
    for name in [
        headers::SERVER_SIDE_ENCRYPTION,
        headers::SERVER_SIDE_ENCRYPTION_KEY_ID,
        headers::SERVER_SIDE_DATA_ENCRYPTION,
    ] {
        if ctx.headers.contains_key(name) {
            return Err(ApiError::invalid_argument(format!(
                "{name} is only allowed on InitiateMultipartUpload."
            )));
        }
    }
    Ok(())
}

fn enc(ctx: &Ctx, s: &str) -> String {
    if ctx.query.url_encoded() {
        uri_encode(s)
    } else {
        s.to_owned()
    }
}

/// `partNumber` in 1..=10000.
pub fn part_number(ctx: &Ctx) -> Result<u32, ApiError> {
    ctx.query
        .non_empty("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| ApiError::invalid_argument("partNumber must be between 1 and 10000."))
}

/// The upload named by `uploadId`, which must belong to the request's key.
pub async fn load_upload(ctx: &Ctx) -> Result<UploadRecord, ApiError> {
    let id = ctx.query.get("uploadId").unwrap_or_default().to_owned();
    let bucket = ctx.bucket().to_owned();
    let upload = blocking(ctx.store(), move |s| s.upload(&bucket, &id)).await?;
    if upload.key != ctx.key() {
        return Err(ApiError::new(ErrorCode::NoSuchUpload));
    }
    Ok(upload)
}

pub async fn initiate(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let bucket = load_bucket(&ctx).await?;
    // Chosen once for the whole upload: every part is sealed under this data key.
    let sse = super::encryption::choose(&ctx, &bucket)?.map(|(_, record)| record);
    let upload_id = hex::encode_upper(rand::random::<[u8; 16]>());
    let record = UploadRecord {
        upload_id: upload_id.clone(),
        bucket: bucket.name.clone(),
        key: ctx.key().to_owned(),
        initiated_ms: now_ms(),
        storage_class: storage_class(&ctx, &bucket)?,
        acl: object_acl(&ctx)?,
        headers: stored_headers(&ctx.headers)?,
        sse: sse.clone(),
        tags: super::tagging::from_header(&ctx)?,
    };
    blocking(ctx.store(), move |s| s.create_upload(record)).await?;
    let result = InitiateMultipartUploadResult {
        bucket: bucket.name,
        key: enc(&ctx, ctx.key()),
        upload_id,
        encoding_type: ctx.query.url_encoded().then(|| "url".to_owned()),
    };
    Ok(with_sse(
        xml_ok("InitiateMultipartUploadResult", &result),
        sse.as_ref(),
    ))
}

pub async fn upload_part(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    refuse_sse_headers(&ctx)?;
    let number = part_number(&ctx)?;
    let upload = load_upload(&ctx).await?;
    let key = super::encryption::open(&ctx, upload.sse.as_ref())?;
    let received = receive_content(&mut ctx, key.as_ref()).await?;
    let part = PartRecord {
        part_number: number,
        blob: received.blob.id(),
        size: received.len,
        etag: etag::from_md5(&received.md5),
        crc64: received.crc64,
        last_modified_ms: now_ms(),
    };
    let response = Response::builder()
        .header(header::ETAG, &part.etag)
        .header(headers::HASH_CRC64, part.crc64.to_string())
        .header(headers::CONTENT_MD5, BASE64.encode(received.md5))
        .header(header::CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid response");
    // The upload's encryption is echoed on every part (as real OSS does: oss2
    // `tests/test_server_side_encryotion.py`).
    let response = with_sse(response, upload.sse.as_ref());
    let bucket = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.put_part(&bucket, &upload.upload_id, part, received.blob)
    })
    .await?;
    Ok(response)
}

pub async fn complete(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    refuse_sse_headers(&ctx)?;
    let upload = load_upload(&ctx).await?;
    let complete_all = ctx
        .header(headers::COMPLETE_ALL)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let raw = ctx.small_body().await?;
    let (bucket, id) = (ctx.bucket().to_owned(), upload.upload_id.clone());
    let (uploaded, _) = blocking(ctx.store(), move |s| {
        s.list_parts(&bucket, &id, 0, MAX_PARTS as usize)
    })
    .await?;

    let used: Vec<PartRecord> = if complete_all {
        if !raw.is_empty() {
            return Err(ApiError::invalid_argument(
                "x-oss-complete-all: yes takes no body.",
            ));
        }
        uploaded
    } else {
        let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
        let request: CompleteMultipartUpload = xml::from_xml(text)
            .map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
        select_parts(&request, &uploaded)?
    };
    if used.is_empty() {
        return Err(ApiError::msg(
            ErrorCode::MalformedXML,
            "CompleteMultipartUpload names no part.",
        ));
    }
    if let Some(small) = used[..used.len() - 1]
        .iter()
        .find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(ApiError::msg(
            ErrorCode::EntityTooSmall,
            format!(
                "Part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE}.",
                small.part_number, small.size
            ),
        ));
    }
    let size = used.iter().map(|p| p.size).sum();
    let crc = used
        .iter()
        .fold(0u64, |acc, p| crc64::combine(acc, p.crc64, p.size));
    let acl = match ctx.header(headers::OBJECT_ACL) {
        Some(_) => object_acl(&ctx)?,
        None => upload.acl.clone(),
    };
    let record = ObjectRecord {
        size,
        etag: etag::multipart(used.iter().map(|p| p.etag.as_str())),
        crc64: crc,
        content_md5: None,
        last_modified_ms: now_ms(),
        object_type: ObjectType::Multipart,
        storage_class: upload.storage_class.clone(),
        acl,
        headers: upload.headers.clone(),
        segments: used
            .iter()
            .map(|p| Segment {
                blob: p.blob,
                len: p.size,
                crc64: p.crc64,
                codec: codec_for(upload.sse.as_ref()),
            })
            .collect(),
        sse: upload.sse.clone(),
        corrupt: None,
        tags: upload.tags.clone(),
        symlink_target: None,
        restore: None,
        version: Default::default(),
    };
    let (etag_value, crc_value) = (record.etag.clone(), record.crc64);
    let mode = conditional_put_mode(&ctx);
    let (bucket, id) = (ctx.bucket().to_owned(), upload.upload_id.clone());
    let written = blocking(ctx.store(), move |s| {
        s.complete_upload(&bucket, &id, &used, record, mode)
    })
    .await?;
    let result = CompleteMultipartUploadResult {
        encoding_type: ctx.query.url_encoded().then(|| "url".to_owned()),
        location: format!(
            "http://{}/{}/{}",
            ctx.state.public_host,
            ctx.bucket(),
            uri_encode(ctx.key())
        ),
        bucket: ctx.bucket().to_owned(),
        key: enc(&ctx, ctx.key()),
        etag: etag_value.clone(),
    };
    let response = xml_ok_with_etag(
        "CompleteMultipartUploadResult",
        &result,
        &etag_value,
        crc_value,
    )?;
    let bucket = load_bucket(&ctx).await?;
    let response = super::object::written_version(response, &bucket, &written.version);
    Ok(with_sse(response, upload.sse.as_ref()))
}

/// The parts a Complete request names, checked: ascending numbers, each uploaded with the
/// ETag given.
fn select_parts(
    request: &CompleteMultipartUpload,
    uploaded: &[PartRecord],
) -> Result<Vec<PartRecord>, ApiError> {
    let mut used = Vec::with_capacity(request.part.len());
    let mut previous = 0;
    for wanted in &request.part {
        if wanted.part_number <= previous {
            return Err(ApiError::new(ErrorCode::InvalidPartOrder));
        }
        previous = wanted.part_number;
        let part = uploaded
            .iter()
            .find(|p| {
                p.part_number == wanted.part_number
                    && etag::normalize(&p.etag) == etag::normalize(&wanted.etag)
            })
            .ok_or_else(|| {
                ApiError::msg(
                    ErrorCode::InvalidPart,
                    format!(
                        "Part {} was not uploaded with ETag {}.",
                        wanted.part_number, wanted.etag
                    ),
                )
            })?;
        used.push(part.clone());
    }
    Ok(used)
}

pub async fn abort(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let upload = load_upload(&ctx).await?;
    let bucket = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.abort_upload(&bucket, &upload.upload_id)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn list_limit(ctx: &Ctx, name: &str) -> Result<usize, ApiError> {
    match ctx.query.non_empty(name) {
        None => Ok(MAX_LIST_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_argument(format!("{name} must be between 1 and 1000."))
            }),
    }
}

pub async fn list_parts(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let upload = load_upload(&ctx).await?;
    let max = list_limit(&ctx, "max-parts")?;
    let marker: u32 = match ctx.query.non_empty("part-number-marker") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::invalid_argument("part-number-marker is not a number."))?,
    };
    let (bucket, id) = (ctx.bucket().to_owned(), upload.upload_id.clone());
    let (parts, truncated) = blocking(ctx.store(), move |s| {
        s.list_parts(&bucket, &id, marker, max)
    })
    .await?;
    let cse = |name: &str| {
        upload
            .headers
            .iter()
            .find(|(n, _)| n.strip_prefix(CSE_PREFIX) == Some(name))
            .map(|(_, v)| v.clone())
    };
    let result = ListPartsResult {
        encoding_type: ctx.query.url_encoded().then(|| "url".to_owned()),
        bucket: ctx.bucket().to_owned(),
        key: enc(&ctx, &upload.key),
        upload_id: upload.upload_id.clone(),
        storage_class: upload.storage_class.clone(),
        part_number_marker: marker,
        next_part_number_marker: parts.last().map_or(marker, |p| p.part_number),
        max_parts: max as u32,
        is_truncated: truncated,
        client_encryption_key: cse("key"),
        client_encryption_start: cse("start"),
        client_encryption_cek_alg: cse("cek-alg"),
        client_encryption_wrap_alg: cse("wrap-alg"),
        client_encryption_data_size: cse("data-size").and_then(|v| v.parse().ok()),
        client_encryption_part_size: cse("part-size").and_then(|v| v.parse().ok()),
        part: parts
            .iter()
            .map(|p| PartSummary {
                part_number: p.part_number,
                last_modified: iso8601(time_of(p.last_modified_ms)),
                etag: p.etag.clone(),
                hash_crc64ecma: p.crc64,
                size: p.size,
            })
            .collect(),
    };
    Ok(xml_ok("ListPartsResult", &result))
}

pub async fn list_uploads(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    load_bucket(&ctx).await?;
    let max = list_limit(&ctx, "max-uploads")?;
    let q = |n: &str| ctx.query.non_empty(n).unwrap_or_default().to_owned();
    let (prefix, delimiter, key_marker, id_marker) = (
        q("prefix"),
        q("delimiter"),
        q("key-marker"),
        q("upload-id-marker"),
    );
    let bucket = ctx.bucket().to_owned();
    let (p, d, k, i) = (
        prefix.clone(),
        delimiter.clone(),
        key_marker.clone(),
        id_marker.clone(),
    );
    let page = blocking(ctx.store(), move |s| {
        s.list_uploads(&bucket, &p, &d, &k, &i, max)
    })
    .await?;
    // The next page starts after this page's last entry: an upload, or a common prefix (then
    // with no upload id, so the store skips everything under it). OSS writes them even on the
    // last page (empty only when nothing is listed).
    let last_upload = page
        .uploads
        .last()
        .map(|u| (u.key.clone(), u.upload_id.clone()));
    let last_prefix = page.prefixes.last().map(|p| (p.clone(), String::new()));
    let (next_key, next_id) = match (last_upload, last_prefix) {
        (Some(u), Some(p)) => std::cmp::max_by(u, p, |a, b| a.0.cmp(&b.0)),
        (Some(last), None) | (None, Some(last)) => last,
        (None, None) => (String::new(), String::new()),
    };
    let result = ListMultipartUploadsResult {
        encoding_type: ctx.query.url_encoded().then(|| "url".to_owned()),
        bucket: ctx.bucket().to_owned(),
        key_marker: enc(&ctx, &key_marker),
        upload_id_marker: id_marker,
        next_key_marker: enc(&ctx, &next_key),
        next_upload_id_marker: next_id,
        delimiter: enc(&ctx, &delimiter),
        prefix: enc(&ctx, &prefix),
        max_uploads: max as u32,
        is_truncated: page.truncated,
        upload: page
            .uploads
            .iter()
            .map(|u| UploadSummary {
                key: enc(&ctx, &u.key),
                upload_id: u.upload_id.clone(),
                storage_class: u.storage_class.clone(),
                initiated: iso8601(time_of(u.initiated_ms)),
            })
            .collect(),
        common_prefixes: page
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: enc(&ctx, p),
            })
            .collect(),
    };
    Ok(xml_ok("ListMultipartUploadsResult", &result))
}

//! Bucket default encryption (`?encryption`) and the per-object choice of SSE.

use super::bucket::load_bucket;
use super::{empty, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::sse::{unsupported, DataKey, SseRequest};
use crate::store::{BucketEncryption, BucketRecord, SseRecord};
use http::{Response, StatusCode};
use ossvault_proto::xml::{self, ApplyServerSideEncryptionByDefault, ServerSideEncryptionRule};
use ossvault_proto::ErrorCode;

/// The data key and record for a new object or upload in `bucket`: the request's SSE header,
/// else the bucket's default rule, else none.
pub fn choose(ctx: &Ctx, bucket: &BucketRecord) -> Result<Option<(DataKey, SseRecord)>, ApiError> {
    match SseRequest::effective(&ctx.headers, bucket.encryption.as_ref())? {
        Some(request) => Ok(Some(ctx.sse()?.new_key(&request)?)),
        None => Ok(None),
    }
}

/// The data key of an existing encrypted object or upload.
pub fn open(ctx: &Ctx, record: Option<&SseRecord>) -> Result<Option<DataKey>, ApiError> {
    record.map(|r| ctx.sse()?.open(r)).transpose()
}

/// A rule as stored, validated (`SSEAlgorithm` AES256, SM4 or KMS; a key id only with KMS).
/// `KMSDataEncryption` (only `SM4`) is kept with KMS and dropped otherwise, as OSS does: a rule
/// of AES256 or SM4 with it reads back without it.
pub fn rule_from_request(
    rule: &ApplyServerSideEncryptionByDefault,
) -> Result<BucketEncryption, ApiError> {
    let key_id = rule.kms_master_key_id.clone().filter(|k| !k.is_empty());
    let data = rule.kms_data_encryption.clone().filter(|d| !d.is_empty());
    match rule.sse_algorithm.as_str() {
        "AES256" | "SM4" if key_id.is_some() => Err(ApiError::invalid_argument(
            "KMSMasterKeyID is only valid with SSEAlgorithm KMS.",
        )),
        "AES256" | "SM4" => Ok(BucketEncryption {
            algorithm: rule.sse_algorithm.clone(),
            kms_master_key_id: None,
            kms_data_encryption: None,
        }),
        "KMS" => match data.as_deref() {
            None | Some("SM4") => Ok(BucketEncryption {
                algorithm: "KMS".to_owned(),
                kms_master_key_id: key_id,
                kms_data_encryption: data,
            }),
            Some(other) => Err(unsupported(true, other)),
        },
        other => Err(unsupported(false, other)),
    }
}

pub async fn get_bucket_encryption(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    let rule = b
        .encryption
        .ok_or_else(|| ApiError::new(ErrorCode::NoSuchServerSideEncryptionRule))?;
    let body = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
            sse_algorithm: rule.algorithm,
            kms_master_key_id: rule.kms_master_key_id,
            kms_data_encryption: rule.kms_data_encryption,
        },
    };
    Ok(xml_ok("ServerSideEncryptionRule", &body))
}

/// Sets the default for new objects; existing objects keep whatever they were written with.
pub async fn put_bucket_encryption(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let raw = ctx.small_body().await?;
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
    let request: ServerSideEncryptionRule =
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
    let rule = rule_from_request(&request.apply_server_side_encryption_by_default)?;
    ctx.sse()?;
    // As on OSS, a KMS key id is taken as given: the CMK may not exist yet (or be disabled for
    // now). Writes under the rule need it, and fail with its error until it is usable.
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, move |b| b.encryption = Some(rule))
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_bucket_encryption(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, |b| b.encryption = None)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

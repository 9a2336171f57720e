//! Bucket operations: create, delete, info, location, stat, ACL, live channels.

use super::{empty, now_ms, parse_acl, time_of, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::{BucketRecord, StoreError};
use http::{header, Response, StatusCode};
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{
    self, AccessControlList, AccessControlPolicy, BucketInfo, BucketInfoBucket, BucketInfoSseRule,
    BucketStat, CreateBucketConfiguration, ListLiveChannelResult,
};
use ossvault_proto::{headers, ErrorCode};

const STORAGE_CLASSES: &[&str] = &[
    "Standard",
    "IA",
    "Archive",
    "ColdArchive",
    "DeepColdArchive",
];

pub async fn put_bucket(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let acl = parse_acl(ctx.header(headers::ACL).unwrap_or("private"), false)?;
    let body = ctx.small_body().await?;
    let config: CreateBucketConfiguration = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBucketConfiguration::default()
    } else {
        let text =
            std::str::from_utf8(&body).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?
    };
    let storage_class = config
        .storage_class
        .unwrap_or_else(|| "Standard".to_owned());
    if !STORAGE_CLASSES.contains(&storage_class.as_str()) {
        return Err(ApiError::invalid_argument(format!(
            "Unsupported storage class '{storage_class}'."
        )));
    }
    let record = BucketRecord {
        name: ctx.bucket().to_owned(),
        created_ms: now_ms(),
        acl,
        storage_class,
        region: ctx.state.config.region.clone(),
        data_redundancy_type: config
            .data_redundancy_type
            .unwrap_or_else(|| "LRS".to_owned()),
        // SSE headers on PutBucket set the bucket's default rule.
        encryption: crate::sse::SseRequest::from_headers(&ctx.headers)?
            .map(|request| request.to_rule()),
        policy: None,
        public_access_block: false,
        versioning: None,
    };
    // As for PutBucketEncryption, a KMS key id need not name a usable CMK yet.
    if record.encryption.is_some() {
        ctx.sse()?;
    }
    match blocking(ctx.store(), move |s| s.create_bucket(record)).await {
        // The single owner re-creating its own bucket is a no-op, as on OSS.
        Ok(()) => Ok(empty(StatusCode::OK)),
        Err(e) if e.code == ErrorCode::BucketAlreadyExists => Ok(empty(StatusCode::OK)),
        Err(e) => Err(e),
    }
}

pub async fn delete_bucket(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| s.delete_bucket(&name)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The bucket's record (as authorisation read it, when it did), or NoSuchBucket.
pub async fn load_bucket(ctx: &Ctx) -> Result<BucketRecord, ApiError> {
    if let Some(record) = &ctx.bucket_record {
        return Ok(record.clone());
    }
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.bucket(&name)?.ok_or(StoreError::NoSuchBucket)
    })
    .await
}

pub async fn get_bucket_info(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    let sse = match &b.encryption {
        Some(rule) => BucketInfoSseRule {
            sse_algorithm: rule.algorithm.clone(),
            kms_master_key_id: rule.kms_master_key_id.clone(),
            kms_data_encryption: rule.kms_data_encryption.clone(),
        },
        None => BucketInfoSseRule {
            sse_algorithm: "None".to_owned(),
            ..Default::default()
        },
    };
    let info = BucketInfo {
        bucket: BucketInfoBucket {
            access_monitor: "Disabled".to_owned(),
            creation_date: iso8601(time_of(b.created_ms)),
            extranet_endpoint: ctx.state.public_host.clone(),
            intranet_endpoint: ctx.state.public_host.clone(),
            location: format!("oss-{}", b.region),
            storage_class: b.storage_class.clone(),
            transfer_acceleration: "Disabled".to_owned(),
            cross_region_replication: "Disabled".to_owned(),
            name: b.name.clone(),
            resource_group_id: String::new(),
            owner: ctx.state.owner(),
            access_control_list: AccessControlList {
                grant: b.acl.clone(),
            },
            comment: String::new(),
            data_redundancy_type: b.data_redundancy_type.clone(),
            server_side_encryption_rule: sse,
            versioning: b.versioning.map(|v| v.as_str().to_owned()),
            block_public_access: b.public_access_block,
        },
    };
    Ok(xml_ok("BucketInfo", &info))
}

pub async fn get_bucket_location(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    let doc = xml::location_constraint_xml(&format!("oss-{}", b.region));
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, doc.len())
        .body(crate::body::full(doc))
        .expect("valid response"))
}

pub async fn get_bucket_stat(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let name = ctx.bucket().to_owned();
    let usage = blocking(ctx.store(), move |s| s.bucket_usage(&name)).await?;
    let class = |name: &str| usage.by_class.get(name).copied().unwrap_or_default();
    let (standard, ia, archive, cold, deep) = (
        class("Standard"),
        class("IA"),
        class("Archive"),
        class("ColdArchive"),
        class("DeepColdArchive"),
    );
    // Stored bytes are billed bytes here: no minimum billable size, so "real" = stored.
    let stat = BucketStat {
        storage: usage.bytes,
        object_count: usage.objects,
        multipart_upload_count: usage.uploads,
        live_channel_count: 0,
        last_modified_time: usage.last_modified_ms / 1000,
        standard_storage: standard.0,
        standard_object_count: standard.1,
        infrequent_access_storage: ia.0,
        infrequent_access_real_storage: ia.0,
        infrequent_access_object_count: ia.1,
        archive_storage: archive.0,
        archive_real_storage: archive.0,
        archive_object_count: archive.1,
        cold_archive_storage: cold.0,
        cold_archive_real_storage: cold.0,
        cold_archive_object_count: cold.1,
        deep_cold_archive_storage: deep.0,
        deep_cold_archive_real_storage: deep.0,
        deep_cold_archive_object_count: deep.1,
        delete_marker_count: usage.delete_markers,
    };
    Ok(xml_ok("BucketStat", &stat))
}

pub async fn get_bucket_acl(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    Ok(xml_ok("AccessControlPolicy", &acl_policy(&ctx, b.acl)))
}

pub fn acl_policy(ctx: &Ctx, grant: String) -> AccessControlPolicy {
    AccessControlPolicy {
        owner: ctx.state.owner(),
        access_control_list: AccessControlList { grant },
    }
}

pub async fn put_bucket_acl(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let acl = parse_acl(
        ctx.header(headers::ACL)
            .ok_or_else(|| ApiError::invalid_argument("The x-oss-acl header is required."))?,
        false,
    )?;
    if super::public_access::is_public_acl(&acl) {
        let bucket = load_bucket(&ctx).await?;
        super::public_access::refuse_public_grant(&ctx, &bucket, "a public ACL")?;
    }
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, move |b| b.acl = acl)
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

/// Live channels are not supported; the listing exists (always empty) because the oss2 test
/// harness lists them before deleting a bucket.
pub async fn list_live_channels(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    load_bucket(&ctx).await?;
    let result = ListLiveChannelResult {
        prefix: ctx.query.get("prefix").unwrap_or_default().to_owned(),
        marker: ctx.query.get("marker").unwrap_or_default().to_owned(),
        max_keys: ctx
            .query
            .non_empty("max-keys")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
        is_truncated: false,
        next_marker: None,
    };
    Ok(xml_ok("ListLiveChannelResult", &result))
}

pub async fn get_bucket_policy(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    let policy = b
        .policy
        .ok_or_else(|| ApiError::new(ErrorCode::NoSuchBucketPolicy))?;
    // Returned byte for byte as it was put.
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, policy.len())
        .body(crate::body::full(policy))
        .expect("valid response"))
}

/// `IsPublic` as [`crate::policy::Policy::is_public`] judges the stored policy; `false` without
/// one, as OSS answers.
pub async fn get_bucket_policy_status(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let b = load_bucket(&ctx).await?;
    let is_public = match &b.policy {
        Some(text) => crate::policy::Policy::parse(text)
            .map_err(|e| ApiError::internal(format!("stored bucket policy: {e}")))?
            .is_public(),
        None => false,
    };
    Ok(xml_ok("PolicyStatus", &xml::PolicyStatus { is_public }))
}

pub async fn put_bucket_policy(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let expected = super::object::expected_md5(&ctx)?;
    let raw = ctx.small_body().await?;
    if let Some(m) = expected {
        if <[u8; 16]>::from(<md5::Md5 as md5::Digest>::digest(&raw)) != m {
            return Err(ApiError::msg(
                ErrorCode::InvalidDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let text = String::from_utf8(raw.to_vec())
        .map_err(|_| ApiError::msg(ErrorCode::InvalidPolicyDocument, "The policy is not UTF-8."))?;
    let policy = crate::policy::Policy::parse(&text)
        .map_err(|e| ApiError::msg(ErrorCode::InvalidPolicyDocument, e))?;
    if policy.is_public() {
        let bucket = load_bucket(&ctx).await?;
        super::public_access::refuse_public_grant(&ctx, &bucket, "a public bucket policy")?;
    }
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, move |b| b.policy = Some(text))
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_bucket_policy(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let name = ctx.bucket().to_owned();
    blocking(ctx.store(), move |s| {
        s.update_bucket(&name, |b| b.policy = None)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

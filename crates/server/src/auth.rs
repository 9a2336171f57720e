//! Authentication and authorisation: the one place every request passes through before its
//! handler runs. Signature first, then for each resource the operation touches (the addressed
//! one, and a copy's source: [`Endpoint::other_resources`]) the bucket policy (deny-first), then
//! for anonymous requests the ACLs. A resource that only the handler learns (the keys of a
//! multiple delete) goes through [`authorize_key`] with the same rules.

use crate::api::{AclNeed, ApiError, Ctx, Endpoint, OtherResources};
use crate::body::blocking;
use crate::policy::{Decision, Policy, PolicyRequest};
use crate::store::{BucketRecord, ObjectRecord, VersionEntry};
use ossvault_proto::sign::{self, RequestParts, Verified};
use ossvault_proto::{encode, headers, names, ErrorCode};
use std::time::SystemTime;

/// What authorisation read while deciding, handed to the handlers so they need not read it
/// again (and so that a handler can only reach a second resource that was authorised).
#[derive(Default)]
pub struct Authorized {
    /// The access key id that signed; `None` when anonymous.
    pub principal: Option<String>,
    /// The addressed bucket's record (`None`: no bucket addressed, or it does not exist).
    pub bucket: Option<BucketRecord>,
    /// A copy's source, authorised for reading.
    pub copy_source: Option<CopySource>,
}

/// The object named by `x-oss-copy-source`, as read when its access was authorised.
#[derive(Debug, Clone)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    /// The version `?versionId=` named in the header, if any.
    pub version: Option<String>,
    /// The version copied: the current object, or the one named.
    pub record: ObjectRecord,
    /// The source bucket shows versions (it was versioned at some point).
    pub versioned: bool,
}

impl CopySource {
    /// The `x-oss-copy-source-version-id` a copy answers with: the version copied, when the
    /// source bucket shows versions or the request named one.
    pub fn shown_version(&self) -> Option<String> {
        (self.versioned || self.version.is_some()).then(|| self.record.version.shown().to_owned())
    }
}

/// One resource of a request and what the request does to it.
struct Access<'a> {
    bucket: &'a str,
    key: Option<&'a str>,
    /// The policy action, `oss:GetObject`, …
    action: &'static str,
    /// What an anonymous request needs from the ACL, if an ACL can allow it at all.
    anonymous_need: Option<AclNeed>,
}

pub async fn authorize(ctx: &Ctx) -> Result<Authorized, ApiError> {
    let parts = RequestParts {
        method: ctx.method.as_str(),
        bucket: ctx.bucket.as_deref(),
        key: ctx.key.as_deref(),
        query: &ctx.query.0,
        headers: &ctx.headers,
    };
    // The KMS and admin APIs: every parameter and the body signed (V4, no presigned URLs).
    if matches!(ctx.endpoint, Endpoint::Kms | Endpoint::Admin) {
        crate::kms::api::require_signed_body(&parts)?;
    }
    let verified = match verify_signature(&ctx.state, &parts) {
        Ok(verified) => verified,
        Err(e @ sign::AuthError::InvalidAccessKeyId { .. }) => {
            return Err(missing_bucket_first(ctx).await.unwrap_or_else(|| e.into()))
        }
        Err(e) => return Err(e.into()),
    };
    // A single-tenant server: every known key acts as the owner of every bucket.
    let principal = match verified {
        Verified::Signed { access_key_id } => Some(access_key_id),
        Verified::Anonymous => None,
    };
    let Some(bucket) = ctx.bucket.as_deref() else {
        // The service (ListBuckets): any signed request of a known key.
        return match principal {
            Some(_) => Ok(Authorized {
                principal,
                ..Default::default()
            }),
            None => Err(anonymous_forbidden()),
        };
    };
    // The KMS and admin APIs: any signed request of a known key (each acts as the owner of
    // this single-tenant server); no bucket, policy or ACL applies.
    if matches!(ctx.endpoint, Endpoint::Kms | Endpoint::Admin) {
        return match principal {
            Some(_) => Ok(Authorized {
                principal,
                ..Default::default()
            }),
            None => Err(anonymous_forbidden()),
        };
    }
    let access = Access {
        bucket,
        key: ctx.key.as_deref(),
        action: ctx.endpoint.action(),
        anonymous_need: ctx.endpoint.anonymous_access(),
    };
    let (record, object) = read_resource(ctx, bucket, access.key, principal.is_none()).await?;
    decide(
        ctx,
        principal.as_deref(),
        &access,
        record.as_ref(),
        object.as_ref(),
    )?;
    let copy_source = match ctx.endpoint.other_resources() {
        OtherResources::CopySource => Some(authorize_copy_source(ctx, principal.as_deref()).await?),
        OtherResources::None | OtherResources::EachListedKey => None,
    };
    Ok(Authorized {
        principal,
        bucket: record,
        copy_source,
    })
}

/// The signature (or its absence) checked against the server's key pairs.
fn verify_signature(
    state: &crate::api::State,
    parts: &RequestParts<'_>,
) -> Result<Verified, sign::AuthError> {
    let credentials = &state.config.credentials;
    sign::verify(
        parts,
        &state.config.region,
        |id| {
            credentials
                .iter()
                .find(|c| c.access_key_id == id)
                .map(|c| c.access_key_secret.clone())
        },
        SystemTime::now(),
    )
}

/// A request refused while routing with NotImplemented (a sub-resource this server does not
/// implement, such as `?overwriteConfig`) is still authenticated first, as OSS does: a bad
/// signature or an unknown AccessKeyId is reported as such.
pub fn authenticate_refusal(
    state: &crate::api::State,
    parts: &RequestParts<'_>,
    refusal: ApiError,
) -> ApiError {
    if refusal.code != ErrorCode::NotImplemented {
        return refusal;
    }
    match verify_signature(state, parts) {
        Ok(_) => refusal,
        Err(e) => e.into(),
    }
}

/// OSS answers a read (GET/HEAD) of a bucket that does not exist with 404 NoSuchBucket before
/// it looks at an unknown AccessKeyId (alibabacloud-oss-v2's `is_bucket_exist` relies on it;
/// writes still get 403 InvalidAccessKeyId). Only while an anonymous request could learn the
/// same from a GetObject (no server-wide Block Public Access): an unknown key is told nothing
/// an anonymous client is not.
async fn missing_bucket_first(ctx: &Ctx) -> Option<ApiError> {
    let name = ctx.bucket.clone()?;
    let read = matches!(ctx.method, http::Method::GET | http::Method::HEAD);
    let blocked = ctx
        .state
        .public_access_block
        .load(std::sync::atomic::Ordering::Acquire);
    if !read || blocked || matches!(ctx.endpoint, Endpoint::Kms | Endpoint::Admin) {
        return None;
    }
    match blocking(ctx.store(), move |s| s.bucket(&name)).await {
        Ok(None) => Some(ApiError::new(ErrorCode::NoSuchBucket)),
        _ => None,
    }
}

/// Authorises reading a copy's source as a GET of it would be authorised: the source bucket's
/// policy (with its conditions) and, for anonymous requests, its ACLs.
async fn authorize_copy_source(ctx: &Ctx, principal: Option<&str>) -> Result<CopySource, ApiError> {
    let (bucket, key, version) = parse_copy_source(ctx)?;
    // Always read the object (the version named): the handler needs it.
    let (b, k, v) = (bucket.clone(), key.clone(), version.clone());
    let (record, entry) = blocking(ctx.store(), move |store| {
        let Some(record) = store.bucket(&b)? else {
            return Ok((None, None));
        };
        let entry = store.object_version(&b, &k, v.as_deref())?;
        Ok((Some(record), entry))
    })
    .await?;
    let object = match &entry {
        Some(VersionEntry::Object(o)) => Some(o.as_ref().clone()),
        _ => None,
    };
    let access = Access {
        bucket: &bucket,
        key: Some(&key),
        action: Endpoint::GetObject.action(),
        anonymous_need: Endpoint::GetObject.anonymous_access(),
    };
    decide(ctx, principal, &access, record.as_ref(), object.as_ref())?;
    let Some(bucket_record) = record else {
        return Err(ApiError::new(ErrorCode::NoSuchBucket));
    };
    let record = match (entry, &version) {
        (Some(VersionEntry::Object(o)), _) => *o,
        // OSS refuses a delete marker as a copy source (EC 0016-00000307).
        (Some(VersionEntry::DeleteMarker(_)), Some(_)) => {
            return Err(ApiError::invalid_argument(
                "The copy source version is a delete marker.",
            ))
        }
        (None, Some(_)) => return Err(ApiError::new(ErrorCode::NoSuchVersion)),
        _ => return Err(ApiError::new(ErrorCode::NoSuchKey)),
    };
    Ok(CopySource {
        bucket,
        key,
        version,
        record,
        versioned: bucket_record.versioning.is_some(),
    })
}

/// The source named by `x-oss-copy-source: /bucket/url-encoded-key[?versionId=…]`.
fn parse_copy_source(ctx: &Ctx) -> Result<(String, String, Option<String>), ApiError> {
    let raw = ctx
        .header(headers::COPY_SOURCE)
        .ok_or_else(|| ApiError::invalid_argument("x-oss-copy-source is required."))?;
    let bad = || ApiError::invalid_argument("x-oss-copy-source is not /bucket/key.");
    let (path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    let version = match query {
        None => None,
        Some(q) => {
            let id = q
                .strip_prefix("versionId=")
                .and_then(encode::percent_decode)
                .ok_or_else(|| {
                    ApiError::invalid_argument(
                        "x-oss-copy-source takes only ?versionId=<id> after the key.",
                    )
                })?;
            Some(crate::api::versioning::checked_id(&id)?)
        }
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').ok_or_else(bad)?;
    let bucket = encode::percent_decode(bucket).ok_or_else(bad)?;
    let key = encode::percent_decode(key).ok_or_else(bad)?;
    if !names::is_valid_bucket_name(&bucket) {
        return Err(ApiError::new(ErrorCode::InvalidBucketName));
    }
    if !names::is_valid_object_key(&key) {
        return Err(ApiError::new(ErrorCode::InvalidObjectName));
    }
    Ok((bucket, key, version))
}

/// Authorises deleting one key of a multiple delete as a DELETE of it would be authorised.
/// `bucket` is the addressed bucket's record; `object` the key's record, which only anonymous
/// requests need (for its ACL).
pub fn authorize_key(
    ctx: &Ctx,
    bucket: &BucketRecord,
    key: &str,
    object: Option<&ObjectRecord>,
) -> Result<(), ApiError> {
    authorize_as(ctx, Endpoint::DeleteObject, bucket, key, object)
}

/// Authorises the request's principal for `endpoint` on another key of the addressed bucket,
/// as a request of its own would be (policy, and for anonymous requests `object`'s ACL): how
/// a read through a symlink is checked against the link's target too.
pub fn authorize_as(
    ctx: &Ctx,
    endpoint: Endpoint,
    bucket: &BucketRecord,
    key: &str,
    object: Option<&ObjectRecord>,
) -> Result<(), ApiError> {
    let access = Access {
        bucket: &bucket.name,
        key: Some(key),
        action: endpoint.action(),
        anonymous_need: endpoint.anonymous_access(),
    };
    decide(ctx, ctx.principal.as_deref(), &access, Some(bucket), object)
}

/// Reads a bucket's record and, when wanted, the object's (for its ACL).
async fn read_resource(
    ctx: &Ctx,
    bucket: &str,
    key: Option<&str>,
    read_object: bool,
) -> Result<(Option<BucketRecord>, Option<ObjectRecord>), ApiError> {
    if key.is_none() || !read_object {
        // Only the bucket's record: the buckets table is tiny and stays in the metadata
        // cache, so reading it here costs less than a handoff to the blocking pool (which
        // every request would otherwise pay).
        return Ok((ctx.store().bucket(bucket)?, None));
    }
    let (bucket, key) = (bucket.to_owned(), key.map(str::to_owned));
    let version = ctx
        .query
        .non_empty("versionId")
        .filter(|v| crate::store::versions::is_valid_id(v))
        .map(str::to_owned);
    blocking(ctx.store(), move |store| {
        let Some(b) = store.bucket(&bucket)? else {
            return Ok((None, None));
        };
        // The ACL that decides is the addressed version's (`versionId`), else the current
        // object's; a malformed id finds nothing here and is refused by the handler.
        let object = match (&key, read_object) {
            (Some(k), true) => match store.object_version(&bucket, k, version.as_deref())? {
                Some(VersionEntry::Object(o)) => Some(*o),
                _ => None,
            },
            _ => None,
        };
        Ok((Some(b), object))
    })
    .await
}

/// The decision for one resource: the bucket policy (deny-first), then ownership, then for
/// anonymous requests the object's or the bucket's ACL.
fn decide(
    ctx: &Ctx,
    principal: Option<&str>,
    access: &Access<'_>,
    bucket: Option<&BucketRecord>,
    object: Option<&ObjectRecord>,
) -> Result<(), ApiError> {
    // Block Public Access (server-wide or the bucket's): anonymous requests get nothing from
    // public ACLs or policies.
    let blocked = principal.is_none()
        && (ctx
            .state
            .public_access_block
            .load(std::sync::atomic::Ordering::Acquire)
            || bucket.is_some_and(|b| b.public_access_block));
    if let Some(json) = bucket.and_then(|b| b.policy.as_deref()) {
        match evaluate_policy(ctx, json, principal, access) {
            Decision::Deny => {
                return Err(ApiError::msg(
                    ErrorCode::AccessDenied,
                    if ctx.conn.secure {
                        "Access denied by the bucket policy."
                    } else {
                        "Access denied by the bucket policy (this bucket may accept HTTPS only)."
                    },
                ))
            }
            Decision::Allow if principal.is_none() && !blocked => return Ok(()),
            _ => {}
        }
    }
    if principal.is_some() {
        return Ok(());
    }
    let Some(need) = access.anonymous_need else {
        return Err(anonymous_forbidden());
    };
    if blocked {
        return Err(ApiError::msg(
            ErrorCode::AccessDenied,
            "Public access is blocked (Block Public Access is on for this bucket or server).",
        ));
    }
    let Some(bucket) = bucket else {
        return Err(ApiError::new(ErrorCode::NoSuchBucket));
    };
    let acl = match object.map(|o| o.acl.as_str()) {
        Some(acl) if acl != "default" => acl,
        _ => bucket.acl.as_str(),
    };
    if matches!(
        (need, acl),
        (_, "public-read-write") | (AclNeed::Read, "public-read")
    ) {
        Ok(())
    } else {
        Err(ApiError::msg(
            ErrorCode::AccessDenied,
            "You have no right to access this object because of bucket acl.",
        ))
    }
}

fn anonymous_forbidden() -> ApiError {
    ApiError::msg(
        ErrorCode::AccessDenied,
        "Anonymous access is forbidden for this operation.",
    )
}

fn evaluate_policy(
    ctx: &Ctx,
    json: &str,
    principal: Option<&str>,
    access: &Access<'_>,
) -> Decision {
    let policy = match Policy::parse(json) {
        Ok(p) => p,
        Err(e) => {
            // Only valid policies are stored; if one is not, fail closed.
            tracing::error!(bucket = access.bucket, error = %e, "stored bucket policy does not parse");
            return Decision::Deny;
        }
    };
    let owner = ctx.state.owner().id;
    let mut resource = format!(
        "acs:oss:{}:{}:{}",
        ctx.state.config.region, owner, access.bucket
    );
    if let Some(key) = access.key {
        resource.push('/');
        resource.push_str(key);
    }
    policy.evaluate(&PolicyRequest {
        principal,
        is_owner: principal.is_some(),
        action: access.action,
        resource: &resource,
        secure: ctx.conn.secure,
        source_ip: ctx.conn.remote.ip(),
    })
}

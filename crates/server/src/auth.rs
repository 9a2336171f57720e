//! Authentication and authorisation: the one place every request passes through before its
//! handler runs. Signature first, then the bucket policy (deny-first), then for anonymous
//! requests the ACLs.

use crate::api::{AclNeed, ApiError, Ctx};
use crate::body::blocking;
use crate::policy::{Decision, Policy, PolicyRequest};
use crate::store::BucketRecord;
use ossvault_proto::sign::{self, RequestParts, Verified};
use ossvault_proto::ErrorCode;
use std::time::SystemTime;

/// Returns the addressed bucket's record when it was read for the decision, so that handlers
/// need not read it again.
pub async fn authorize(ctx: &Ctx) -> Result<Option<BucketRecord>, ApiError> {
    let parts = RequestParts {
        method: ctx.method.as_str(),
        bucket: ctx.bucket.as_deref(),
        key: ctx.key.as_deref(),
        query: &ctx.query.0,
        headers: &ctx.headers,
    };
    if ctx.endpoint == crate::api::Endpoint::Kms {
        crate::kms::api::require_signed_body(&parts)?;
    }
    let credentials = &ctx.state.config.credentials;
    let verified = sign::verify(
        &parts,
        &ctx.state.config.region,
        |id| {
            credentials
                .iter()
                .find(|c| c.access_key_id == id)
                .map(|c| c.access_key_secret.clone())
        },
        SystemTime::now(),
    )?;
    // A single-tenant server: every known key acts as the owner of every bucket.
    let principal = match &verified {
        Verified::Signed { access_key_id } => Some(access_key_id.as_str()),
        Verified::Anonymous => None,
    };
    // The KMS API: any signed request of a known key; no bucket, policy or ACL applies.
    if ctx.endpoint == crate::api::Endpoint::Kms {
        return match principal {
            Some(_) => Ok(None),
            None => Err(anonymous_forbidden()),
        };
    }
    let Some(bucket) = ctx.bucket.clone() else {
        return match principal {
            Some(_) => Ok(None),
            None => Err(anonymous_forbidden()),
        };
    };
    let key = ctx.key.clone();
    let anonymous = principal.is_none();
    let (record, object_acl) = blocking(ctx.store(), move |store| {
        let Some(b) = store.bucket(&bucket)? else {
            return Ok((None, None));
        };
        // Object ACLs only matter to anonymous requests.
        let object_acl = match (&key, anonymous) {
            (Some(k), true) => store.object(&bucket, k)?.map(|o| o.acl),
            _ => None,
        };
        Ok((Some(b), object_acl))
    })
    .await?;

    if let Some(json) = record.as_ref().and_then(|b| b.policy.as_deref()) {
        match evaluate_policy(ctx, json, principal) {
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
            Decision::Allow if principal.is_none() => return Ok(record),
            _ => {}
        }
    }
    if principal.is_some() {
        return Ok(record);
    }
    let Some(need) = ctx.endpoint.anonymous_access() else {
        return Err(anonymous_forbidden());
    };
    let Some(bucket_acl) = record.as_ref().map(|b| b.acl.clone()) else {
        return Err(ApiError::new(ErrorCode::NoSuchBucket));
    };
    let acl = match object_acl {
        Some(acl) if acl != "default" => acl,
        _ => bucket_acl,
    };
    if matches!(
        (need, acl.as_str()),
        (_, "public-read-write") | (AclNeed::Read, "public-read")
    ) {
        Ok(record)
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

fn evaluate_policy(ctx: &Ctx, json: &str, principal: Option<&str>) -> Decision {
    let policy = match Policy::parse(json) {
        Ok(p) => p,
        Err(e) => {
            // Only valid policies are stored; if one is not, fail closed.
            tracing::error!(bucket = ctx.bucket(), error = %e, "stored bucket policy does not parse");
            return Decision::Deny;
        }
    };
    let owner = ctx.state.owner().id;
    let mut resource = format!(
        "acs:oss:{}:{}:{}",
        ctx.state.config.region,
        owner,
        ctx.bucket()
    );
    if let Some(key) = &ctx.key {
        resource.push('/');
        resource.push_str(key);
    }
    policy.evaluate(&PolicyRequest {
        principal,
        is_owner: principal.is_some(),
        action: ctx.endpoint.action(),
        resource: &resource,
        secure: ctx.conn.secure,
        source_ip: ctx.conn.remote.ip(),
    })
}

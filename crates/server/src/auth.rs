//! Authentication and authorisation: the one place every request passes through before its
//! handler runs.

use crate::api::{AclNeed, ApiError, Connection, Ctx};
use crate::body::blocking;
use ossvault_proto::sign::{self, RequestParts, Verified};
use ossvault_proto::ErrorCode;
use std::time::SystemTime;

/// Verifies the request's signature (any scheme) and, for an anonymous request, that the ACLs
/// allow what it asks. Signed requests with a known key act as the owner.
pub async fn authorize(ctx: &Ctx, _conn: Connection) -> Result<(), ApiError> {
    let parts = RequestParts {
        method: ctx.method.as_str(),
        bucket: ctx.bucket.as_deref(),
        key: ctx.key.as_deref(),
        query: &ctx.query.0,
        headers: &ctx.headers,
    };
    let credentials = &ctx.state.config.credentials;
    let verified = sign::verify(
        &parts,
        |id| {
            credentials
                .iter()
                .find(|c| c.access_key_id == id)
                .map(|c| c.access_key_secret.clone())
        },
        SystemTime::now(),
    )?;
    match verified {
        Verified::Signed { .. } => Ok(()),
        Verified::Anonymous => authorize_anonymous(ctx).await,
    }
}

async fn authorize_anonymous(ctx: &Ctx) -> Result<(), ApiError> {
    let denied = || {
        ApiError::msg(
            ErrorCode::AccessDenied,
            "You have no right to access this object because of bucket acl.",
        )
    };
    let Some(need) = ctx.endpoint.anonymous_access() else {
        return Err(ApiError::msg(
            ErrorCode::AccessDenied,
            "Anonymous access is forbidden for this operation.",
        ));
    };
    let bucket = ctx.bucket().to_owned();
    let key = ctx.key.clone();
    let acl = blocking(ctx.store(), move |store| {
        let Some(b) = store.bucket(&bucket)? else {
            return Ok(None);
        };
        let object_acl = match key {
            Some(k) => store.object(&bucket, &k)?.map(|o| o.acl),
            None => None,
        };
        Ok(Some(match object_acl {
            Some(acl) if acl != "default" => acl,
            _ => b.acl,
        }))
    })
    .await?;
    let Some(acl) = acl else {
        return Err(ApiError::new(ErrorCode::NoSuchBucket));
    };
    let allowed = matches!(
        (need, acl.as_str()),
        (_, "public-read-write") | (AclNeed::Read, "public-read")
    );
    if allowed {
        Ok(())
    } else {
        Err(denied())
    }
}

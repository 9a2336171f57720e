//! Archive storage classes: RestoreObject (`POST ?restore`), CleanRestoredObject
//! (`POST ?cleanRestoredObject`), and the state GET, copies, HEAD and listings see.
//!
//! An object of class Archive, ColdArchive or DeepColdArchive is frozen: HEAD and listings
//! work, reading its content (GET, a copy from it) is 403 InvalidObjectState. RestoreObject
//! starts a restore (202): for the server's restore delay (`Config::restore_delay`, a minute
//! by default; OSS takes minutes to hours) it is in progress (`x-oss-restore:
//! ongoing-request="true"`, a second request is 409 RestoreAlreadyInProgress, "The restore
//! operation is in progress." as OSS words it), then readable for the days asked (`ongoing-request="false", expiry-date="…"`; a request then extends the
//! days, 200), then frozen again. CleanRestoredObject freezes it at once.

use super::object::load_object;
use super::{empty, now_ms, time_of, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::{ObjectRecord, RestoreRecord};
use http::{Response, StatusCode};
use ossvault_proto::time::http_date;
use ossvault_proto::xml::{self, RestoreRequest};
use ossvault_proto::ErrorCode;

/// The response header with the restore state.
pub const RESTORE: &str = "x-oss-restore";
/// ColdArchive restores answer the tier they run at.
const RESTORE_PRIORITY: &str = "x-oss-object-restore-priority";
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Whether objects of this storage class must be restored before their content is read.
pub fn is_frozen_class(class: &str) -> bool {
    matches!(class, "Archive" | "ColdArchive" | "DeepColdArchive")
}

/// Where a restore of `record` stands at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Frozen,
    Restoring,
    Restored { expires_ms: u64 },
}

fn state(record: &ObjectRecord, now_ms: u64) -> State {
    match &record.restore {
        Some(r) if now_ms < r.ready_ms => State::Restoring,
        Some(r) if now_ms < r.expires_ms => State::Restored {
            expires_ms: r.expires_ms,
        },
        _ => State::Frozen,
    }
}

/// Refuses reading the content of a frozen object (GET, copy source).
pub fn check_readable(record: &ObjectRecord) -> Result<(), ApiError> {
    if !is_frozen_class(&record.storage_class) {
        return Ok(());
    }
    match state(record, now_ms()) {
        State::Restored { .. } => Ok(()),
        _ => Err(ApiError::msg(
            ErrorCode::InvalidObjectState,
            "The operation is not valid for the object's state: restore it first \
             (RestoreObject).",
        )),
    }
}

/// `x-oss-restore` (and a listing's `RestoreInfo`) for `record`, if a restore was asked.
pub fn restore_info(record: &ObjectRecord) -> Option<String> {
    match state(record, now_ms()) {
        State::Frozen => None,
        State::Restoring => Some("ongoing-request=\"true\"".to_owned()),
        State::Restored { expires_ms } => Some(format!(
            "ongoing-request=\"false\", expiry-date=\"{}\"",
            http_date(time_of(expires_ms))
        )),
    }
}

pub async fn restore_object(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = load_object(&ctx).await?;
    let class = record.storage_class.clone();
    if !is_frozen_class(&class) {
        return Err(ApiError::msg(
            ErrorCode::OperationNotSupported,
            format!("The object's storage class is {class}: only archived objects are restored."),
        ));
    }
    let raw = ctx.small_body().await?;
    let request: RestoreRequest = if raw.iter().all(u8::is_ascii_whitespace) {
        RestoreRequest::default()
    } else {
        let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?
    };
    let cold = class != "Archive";
    let tier = match (&request.job_parameters, cold) {
        (Some(_), false) => {
            return Err(ApiError::msg(
                ErrorCode::MalformedXML,
                "JobParameters apply to ColdArchive and DeepColdArchive objects only.",
            ))
        }
        (Some(job), true) => match job.tier.as_str() {
            "Expedited" | "Standard" | "Bulk" => Some(job.tier.clone()),
            other => {
                return Err(ApiError::invalid_argument(format!(
                    "The restore tier '{other}' is not valid (Expedited, Standard or Bulk)."
                )))
            }
        },
        (None, true) => Some("Standard".to_owned()),
        (None, false) => None,
    };
    let max_days = if cold { 365 } else { 7 };
    let days = request.days.unwrap_or(1);
    if !(1..=max_days).contains(&days) {
        return Err(ApiError::invalid_argument(format!(
            "Days must be between 1 and {max_days} for {class} objects."
        )));
    }
    let now = now_ms();
    let delay = ctx.state.config.restore_delay.as_millis() as u64;
    let status = match state(&record, now) {
        State::Restoring => {
            return Err(ApiError::msg(
                ErrorCode::RestoreAlreadyInProgress,
                "The restore operation is in progress.",
            ))
        }
        // A restored copy: its days start again from now.
        State::Restored { .. } => StatusCode::OK,
        State::Frozen => StatusCode::ACCEPTED,
    };
    let ready_ms = if status == StatusCode::OK {
        now
    } else {
        now + delay
    };
    let restore = RestoreRecord {
        ready_ms,
        expires_ms: ready_ms + days * DAY_MS,
        tier: tier.clone(),
    };
    let version = super::versioning::requested(&ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    blocking(ctx.store(), move |s| {
        s.update_version(&bucket, &key, version.as_deref(), move |o| {
            o.restore = Some(restore)
        })
    })
    .await?;
    let mut response = empty(status);
    if let Some(t) = tier.filter(|_| status == StatusCode::ACCEPTED) {
        if let Ok(v) = t.parse() {
            response.headers_mut().insert(RESTORE_PRIORITY, v);
        }
    }
    Ok(response)
}

pub async fn clean_restored_object(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = load_object(&ctx).await?;
    if !is_frozen_class(&record.storage_class) {
        return Err(ApiError::msg(
            ErrorCode::OperationNotSupported,
            "Only archived objects have restored copies to clean.",
        ));
    }
    let version = super::versioning::requested(&ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    blocking(ctx.store(), move |s| {
        s.update_version(&bucket, &key, version.as_deref(), |o| o.restore = None)
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_goes_from_ongoing_to_restored_to_frozen() {
        let mut r: ObjectRecord = serde_json::from_str(
            r#"{"size":1,"etag":"\"E\"","crc64":0,"last_modified_ms":0,"object_type":"Normal",
                "storage_class":"Archive","acl":"default","headers":[],"segments":[]}"#,
        )
        .unwrap();
        assert_eq!(state(&r, 5), State::Frozen);
        assert_eq!(
            check_readable(&r).unwrap_err().code,
            ErrorCode::InvalidObjectState
        );
        r.restore = Some(RestoreRecord {
            ready_ms: 10,
            expires_ms: 20,
            tier: None,
        });
        assert_eq!(state(&r, 5), State::Restoring);
        assert_eq!(state(&r, 10), State::Restored { expires_ms: 20 });
        assert_eq!(state(&r, 20), State::Frozen);
        r.storage_class = "Standard".into();
        assert!(check_readable(&r).is_ok());
    }
}

//! Server-side verification of every supported scheme, in one function.
//!
//! Order of checks, the same for every scheme:
//! 1. the scheme is chosen (by what the SDKs send: oss2 `oss2/auth.py` `ProviderAuth`,
//!    `ProviderAuthV4`; alibabacloud-oss-v2 `signer/v1.py`, `signer/v4.py`) and its parameters
//!    parsed; a malformed
//!    `Authorization` header or credential is `InvalidArgument`. For presigned URLs, a missing or
//!    unparsable expiry (`Expires`; `x-oss-date`, `x-oss-expires`) or an `x-oss-expires` above
//!    seven days is `AccessDenied` here already: without it the URL has no validity window;
//! 2. the access key id is looked up (`InvalidAccessKeyId`);
//! 3. the signature is recomputed from the received request and compared in constant time
//!    (`SignatureDoesNotMatch`), before any time check, as OSS does. For V4 the credential
//!    scope must then name this server's region and the product `oss`, else `InvalidArgument`
//!    as OSS answers ("Invalid signing region/product in Authorization header.", EC
//!    0002-00000226 / 0002-00000227): a signature made for another region is not valid here;
//! 4. the time is checked. Header forms: a missing or unparsable date is `AccessDenied`, a V4
//!    date not matching the credential scope is `AccessDenied`, and a date more than
//!    [`MAX_SKEW_SECS`] from `now` is `RequestTimeTooSkewed`. Presigned forms: outside the
//!    validity window is `AccessDenied` ("Request has expired.").
//!
//! V2 (`OSS2`, oss2's `AuthV2`) is verified like V1, with its own string to sign (`v2.rs`).

use super::canon::{header, query_value, unix_secs};
use super::v4::{self, Scope};
use super::{v1, v2, RequestParts};
use crate::headers::{AUTHORIZATION, OSS_DATE};
use crate::ErrorCode;
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// Maximum difference between the request time and the server's clock.
pub const MAX_SKEW_SECS: u64 = 15 * 60;

/// Longest validity of a V4 presigned URL (7 days).
const MAX_V4_EXPIRES_SECS: u64 = 7 * 24 * 60 * 60;

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// No signature of any kind was presented.
    Anonymous,
    /// Signed by this access key id.
    Signed { access_key_id: String },
}

/// Why a request's signature was refused; each maps to one OSS error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// 403 InvalidAccessKeyId.
    #[error("The OSS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId { access_key_id: String },
    /// 403 SignatureDoesNotMatch; `string_to_sign` is what the server computed.
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch {
        access_key_id: String,
        string_to_sign: String,
    },
    /// 403 AccessDenied for an expired presigned URL or one without a valid expiry.
    #[error("{0}")]
    AccessDenied(String),
    /// 403 RequestTimeTooSkewed.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// 400 InvalidArgument: a malformed Authorization header or signature parameters.
    #[error("{0}")]
    InvalidArgument(String),
    /// 400 InvalidArgument: a V4 credential scoped to another region or product, with OSS's
    /// fine-grained code (`x-oss-ec`).
    #[error("{message}")]
    InvalidScope { message: String, ec: &'static str },
}

impl AuthError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            AuthError::InvalidAccessKeyId { .. } => ErrorCode::InvalidAccessKeyId,
            AuthError::SignatureDoesNotMatch { .. } => ErrorCode::SignatureDoesNotMatch,
            AuthError::AccessDenied(_) => ErrorCode::AccessDenied,
            AuthError::RequestTimeTooSkewed => ErrorCode::RequestTimeTooSkewed,
            AuthError::InvalidArgument(_) | AuthError::InvalidScope { .. } => {
                ErrorCode::InvalidArgument
            }
        }
    }

    /// OSS's fine-grained error code (`x-oss-ec`), where this error has its own.
    pub fn ec(&self) -> Option<&'static str> {
        match self {
            AuthError::InvalidScope { ec, .. } => Some(ec),
            _ => self.code().ec(),
        }
    }
}

/// The signature scheme a request presents, chosen as [`verify`] chooses it (the forms of
/// oss2 `auth.py` and alibabacloud-oss-v2 `signer/`):
/// an `Authorization` header first, then V4 presign parameters, then V1 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// No signature of any kind.
    Anonymous,
    /// `Authorization: OSS ak:signature`.
    V1Header,
    /// `?OSSAccessKeyId=…&Expires=…&Signature=…`.
    V1Presigned,
    /// `Authorization: OSS4-HMAC-SHA256 …`.
    V4Header,
    /// `?x-oss-signature-version=OSS4-HMAC-SHA256&…`.
    V4Presigned,
    /// `Authorization: OSS2 AccessKeyId:…,Signature:…`.
    V2Header,
    /// `?x-oss-signature-version=OSS2&…`.
    V2Presigned,
}

const V1_PREFIX: &str = "OSS ";
const V4_PREFIX: &str = "OSS4-HMAC-SHA256 ";

/// The one `Authorization` value, trimmed; `None` when absent or empty (an empty header
/// carries no credentials: the request is anonymous, as without one).
fn authorization_value(req: &RequestParts<'_>) -> Result<Option<String>, AuthError> {
    let mut authorizations = req.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = authorizations.next() else {
        return Ok(None);
    };
    if authorizations.next().is_some() {
        return Err(invalid_argument("More than one Authorization header."));
    }
    let value = super::canon::header_text(value).trim().to_owned();
    Ok((!value.is_empty()).then_some(value))
}

/// Which scheme `req` is signed with (not whether the signature is valid: see [`verify`]).
/// Unsupported schemes (`OSS2`, anything unknown) are `InvalidArgument`.
pub fn scheme(req: &RequestParts<'_>) -> Result<Scheme, AuthError> {
    if let Some(value) = authorization_value(req)? {
        if value.starts_with(V4_PREFIX) {
            return Ok(Scheme::V4Header);
        }
        if value.starts_with(V1_PREFIX) {
            return Ok(Scheme::V1Header);
        }
        if value.starts_with(v2::AUTHORIZATION_PREFIX) {
            return Ok(Scheme::V2Header);
        }
        return Err(invalid_argument("Authorization header is invalid."));
    }
    if let Some(version) = query_value(req.query, v4::SIGNATURE_VERSION_PARAM) {
        if version == v4::ALGORITHM {
            return Ok(Scheme::V4Presigned);
        }
        if version == v2::VERSION {
            return Ok(Scheme::V2Presigned);
        }
        return Err(invalid_argument(&format!(
            "Unsupported x-oss-signature-version: {version}"
        )));
    }
    if query_value(req.query, "OSSAccessKeyId").is_some()
        && query_value(req.query, "Signature").is_some()
    {
        return Ok(Scheme::V1Presigned);
    }
    Ok(Scheme::Anonymous)
}

/// Verifies a request signed by any scheme (V1/V4, header/presigned) or recognises an anonymous
/// one. `region` is this server's: a V4 signature scoped to another region (or to a product
/// other than `oss`) is refused. `secret_of` maps an access key id to its secret. Signatures
/// are compared in constant time.
pub fn verify(
    req: &RequestParts<'_>,
    region: &str,
    secret_of: impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let header_items = |prefix: &str| -> Result<String, AuthError> {
        let value = authorization_value(req)?.unwrap_or_default();
        Ok(value.strip_prefix(prefix).unwrap_or_default().to_owned())
    };
    match scheme(req)? {
        Scheme::V4Header => {
            verify_v4_header(req, &header_items(V4_PREFIX)?, region, &secret_of, now)
        }
        Scheme::V1Header => verify_v1_header(req, &header_items(V1_PREFIX)?, &secret_of, now),
        Scheme::V4Presigned => verify_v4_presign(req, region, &secret_of, now),
        Scheme::V1Presigned => verify_v1_presign(req, &secret_of, now),
        Scheme::V2Header => verify_v2_header(
            req,
            &header_items(v2::AUTHORIZATION_PREFIX)?,
            &secret_of,
            now,
        ),
        Scheme::V2Presigned => verify_v2_presign(req, &secret_of, now),
        Scheme::Anonymous => Ok(Verified::Anonymous),
    }
}

fn invalid_argument(message: &str) -> AuthError {
    AuthError::InvalidArgument(message.to_owned())
}

fn access_denied(message: &str) -> AuthError {
    AuthError::AccessDenied(message.to_owned())
}

fn lookup(
    secret_of: &impl Fn(&str) -> Option<String>,
    access_key_id: &str,
) -> Result<String, AuthError> {
    secret_of(access_key_id).ok_or_else(|| AuthError::InvalidAccessKeyId {
        access_key_id: access_key_id.to_owned(),
    })
}

/// Constant-time comparison of the expected and provided signatures.
fn check_signature(
    expected: &str,
    provided: &str,
    access_key_id: &str,
    string_to_sign: String,
) -> Result<(), AuthError> {
    if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch {
            access_key_id: access_key_id.to_owned(),
            string_to_sign,
        })
    }
}

/// `|t − now| ≤ MAX_SKEW_SECS`, else `RequestTimeTooSkewed`.
fn check_skew(t: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    let skew = unix_secs(t).abs_diff(unix_secs(now));
    if skew > MAX_SKEW_SECS {
        Err(AuthError::RequestTimeTooSkewed)
    } else {
        Ok(())
    }
}

/// `Authorization: OSS <ak>:<signature>`.
fn verify_v1_header(
    req: &RequestParts<'_>,
    credentials: &str,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let (access_key_id, provided) = credentials
        .trim()
        .split_once(':')
        .map(|(ak, sig)| (ak.trim(), sig.trim()))
        .filter(|(ak, sig)| !ak.is_empty() && !sig.is_empty())
        .ok_or_else(|| invalid_argument("Authorization header is invalid."))?;
    let secret = lookup(secret_of, access_key_id)?;

    let date = v1::request_date(req);
    let string_to_sign = v1::string_to_sign(req, date.as_deref().unwrap_or_default());
    let expected = v1::signature(&secret, &string_to_sign);
    check_signature(&expected, provided, access_key_id, string_to_sign)?;

    check_date(date.as_deref(), now)?;
    Ok(signed(access_key_id))
}

/// `?OSSAccessKeyId=…&Expires=…&Signature=…`.
fn verify_v1_presign(
    req: &RequestParts<'_>,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let access_key_id = query_value(req.query, "OSSAccessKeyId").unwrap_or_default();
    let provided = query_value(req.query, "Signature").unwrap_or_default();
    let (expires_raw, expires) = expires_param(req, "Expires")?;
    let secret = lookup(secret_of, access_key_id)?;

    let string_to_sign = v1::string_to_sign(req, expires_raw);
    let expected = v1::signature(&secret, &string_to_sign);
    check_signature(&expected, provided, access_key_id, string_to_sign)?;

    check_expiry(expires, now)?;
    Ok(signed(access_key_id))
}

/// `Authorization: OSS2 AccessKeyId:<ak>[,AdditionalHeaders:<h1;h2>],Signature:<sig>`.
fn verify_v2_header(
    req: &RequestParts<'_>,
    items: &str,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let (mut access_key_id, mut additional, mut provided) = (None, None, None);
    for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| invalid_argument("Authorization header is invalid."))?;
        match name.trim() {
            "AccessKeyId" => access_key_id = Some(value.trim()),
            "AdditionalHeaders" => additional = Some(value.trim()),
            "Signature" => provided = Some(value.trim()),
            _ => {}
        }
    }
    let (Some(access_key_id), Some(provided)) = (access_key_id, provided) else {
        return Err(invalid_argument("Authorization header is invalid."));
    };
    let secret = lookup(secret_of, access_key_id)?;
    let additional = lowercase(split_additional(additional));
    let string_to_sign = v2::string_to_sign(req, &v2::signed_date(req), &additional);
    let expected = v2::signature(&secret, &string_to_sign);
    check_signature(&expected, provided, access_key_id, string_to_sign)?;

    // The time checked is `x-oss-date` when sent, else `Date`.
    check_date(v1::request_date(req).as_deref(), now)?;
    Ok(signed(access_key_id))
}

/// `?x-oss-signature-version=OSS2&x-oss-expires=…&x-oss-access-key-id=…&x-oss-signature=…`.
fn verify_v2_presign(
    req: &RequestParts<'_>,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let access_key_id = query_value(req.query, v2::ACCESS_KEY_ID_PARAM).unwrap_or_default();
    let provided = query_value(req.query, v2::SIGNATURE_PARAM).unwrap_or_default();
    let (expires_raw, expires) = expires_param(req, v2::EXPIRES_PARAM)?;
    let secret = lookup(secret_of, access_key_id)?;
    let additional = lowercase(split_additional(query_value(
        req.query,
        v2::ADDITIONAL_HEADERS_PARAM,
    )));
    let string_to_sign = v2::string_to_sign(req, expires_raw, &additional);
    let expected = v2::signature(&secret, &string_to_sign);
    check_signature(&expected, provided, access_key_id, string_to_sign)?;

    check_expiry(expires, now)?;
    Ok(signed(access_key_id))
}

fn signed(access_key_id: &str) -> Verified {
    Verified::Signed {
        access_key_id: access_key_id.to_owned(),
    }
}

/// The request's `Date` (or `x-oss-date`) parsed and within the allowed clock skew.
fn check_date(date: Option<&str>, now: SystemTime) -> Result<(), AuthError> {
    let date = date
        .and_then(crate::time::parse_http_date)
        .ok_or_else(|| access_denied("OSS authentication requires a valid Date."))?;
    check_skew(date, now)
}

/// A presigned URL's expiry parameter `name`: as sent (it is signed) and as a number.
fn expires_param<'a>(req: &'a RequestParts<'_>, name: &str) -> Result<(&'a str, u64), AuthError> {
    let raw = query_value(req.query, name)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| access_denied(&format!("{name} is missing in the request.")))?;
    let expires = raw
        .parse()
        .map_err(|_| access_denied(&format!("{name} is invalid.")))?;
    Ok((raw, expires))
}

fn check_expiry(expires: u64, now: SystemTime) -> Result<(), AuthError> {
    if unix_secs(now) > i64::try_from(expires).unwrap_or(i64::MAX) {
        return Err(access_denied("Request has expired."));
    }
    Ok(())
}

fn lowercase(names: Vec<String>) -> Vec<String> {
    names.into_iter().map(|n| n.to_ascii_lowercase()).collect()
}

/// The comma-separated `key=value` items after `OSS4-HMAC-SHA256 `, in any order, with or
/// without spaces after the commas (v2 writes none, oss2 one).
struct V4Authorization<'a> {
    credential: &'a str,
    additional_headers: Option<&'a str>,
    signature: &'a str,
}

fn parse_v4_authorization(items: &str) -> Result<V4Authorization<'_>, AuthError> {
    let mut credential = None;
    let mut additional_headers = None;
    let mut signature = None;
    for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| invalid_argument("Authorization header is invalid."))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "AdditionalHeaders" => &mut additional_headers,
            "Signature" => &mut signature,
            // Items this server does not know do not change what was signed.
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return Err(invalid_argument(&format!(
                "Authorization header has more than one {}.",
                name.trim()
            )));
        }
    }
    Ok(V4Authorization {
        credential: credential
            .ok_or_else(|| invalid_argument("Authorization header lacks a Credential."))?,
        additional_headers,
        signature: signature
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_argument("Authorization header lacks a Signature."))?,
    })
}

fn split_additional(list: Option<&str>) -> Vec<String> {
    list.map(|l| {
        l.split(';')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn parse_credential(credential: &str) -> Result<(String, Scope), AuthError> {
    Scope::parse_credential(credential)
        .ok_or_else(|| invalid_argument(&format!("Invalid credential: {credential}")))
}

/// A V4 scope must name this server's region and the product `oss` (CloudBox's `oss-cloudbox`
/// is not served here): the signing key is derived from both, so a signature made for another
/// region or service must not be valid here. OSS
/// answers 400 InvalidArgument with these messages (EC 0002-00000226 for the region,
/// 0002-00000227 for the product); `place` is where the scope came from.
fn check_scope(scope: &Scope, region: &str, place: &str) -> Result<(), AuthError> {
    // A client that knows no region (oss2's AuthV4 without `region=`) signs an empty one.
    if scope.region.is_empty() {
        return Err(AuthError::InvalidScope {
            message: "The signing region in credential is invalid.".to_owned(),
            ec: "0002-00000226",
        });
    }
    if scope.region != region {
        return Err(AuthError::InvalidScope {
            message: format!("Invalid signing region in {place}."),
            ec: "0002-00000226",
        });
    }
    if scope.product != v4::PRODUCT {
        return Err(AuthError::InvalidScope {
            message: format!("Invalid signing product in {place}."),
            ec: "0002-00000227",
        });
    }
    Ok(())
}

/// Recomputes a V4 signature and compares it with `provided`.
fn check_v4_signature(
    req: &RequestParts<'_>,
    secret: &str,
    access_key_id: &str,
    scope: &Scope,
    timestamp: &str,
    additional_headers: &[String],
    provided: &str,
) -> Result<(), AuthError> {
    let canonical = v4::canonical_request(req, additional_headers, &v4::payload_hash(req));
    let string_to_sign = v4::string_to_sign(timestamp, scope, &canonical);
    let expected = v4::signature(&v4::signing_key(secret, scope), &string_to_sign);
    // Hex is case-insensitive; the SDKs write lowercase.
    let provided = provided.to_ascii_lowercase();
    check_signature(&expected, &provided, access_key_id, string_to_sign)
}

/// `Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…`.
fn verify_v4_header(
    req: &RequestParts<'_>,
    items: &str,
    region: &str,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let auth = parse_v4_authorization(items)?;
    let (access_key_id, scope) = parse_credential(auth.credential)?;
    let secret = lookup(secret_of, &access_key_id)?;

    let timestamp = header(req.headers, OSS_DATE).unwrap_or_default();
    let additional = split_additional(auth.additional_headers);
    check_v4_signature(
        req,
        &secret,
        &access_key_id,
        &scope,
        &timestamp,
        &additional,
        auth.signature,
    )?;
    check_scope(&scope, region, "Authorization header")?;

    let t = crate::time::parse_v4_timestamp(&timestamp)
        .ok_or_else(|| access_denied("x-oss-date is missing or invalid."))?;
    if timestamp.get(..8) != Some(scope.date.as_str()) {
        return Err(access_denied(
            "The date in the credential does not match x-oss-date.",
        ));
    }
    check_skew(t, now)?;
    Ok(Verified::Signed { access_key_id })
}

/// `?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=…&x-oss-date=…&x-oss-expires=…
/// [&x-oss-additional-headers=…]&x-oss-signature=…`.
fn verify_v4_presign(
    req: &RequestParts<'_>,
    region: &str,
    secret_of: &impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let credential = query_value(req.query, v4::CREDENTIAL_PARAM)
        .ok_or_else(|| invalid_argument("x-oss-credential is missing."))?;
    let provided = query_value(req.query, v4::SIGNATURE_PARAM)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_argument("x-oss-signature is missing."))?;
    let (access_key_id, scope) = parse_credential(credential)?;

    let timestamp = query_value(req.query, v4::DATE_PARAM)
        .ok_or_else(|| access_denied("x-oss-date is missing."))?;
    let signed_at = crate::time::parse_v4_timestamp(timestamp)
        .ok_or_else(|| access_denied("x-oss-date is invalid."))?;
    let expires: u64 = query_value(req.query, v4::EXPIRES_PARAM)
        .ok_or_else(|| access_denied("x-oss-expires is missing."))?
        .parse()
        .map_err(|_| access_denied("x-oss-expires is invalid."))?;
    if expires > MAX_V4_EXPIRES_SECS {
        return Err(access_denied(
            "x-oss-expires must be no more than 604800 seconds.",
        ));
    }
    let secret = lookup(secret_of, &access_key_id)?;

    let additional = split_additional(query_value(req.query, v4::ADDITIONAL_HEADERS_PARAM));
    check_v4_signature(
        req,
        &secret,
        &access_key_id,
        &scope,
        timestamp,
        &additional,
        provided,
    )?;
    check_scope(&scope, region, "x-oss-credential")?;

    if timestamp.get(..8) != Some(scope.date.as_str()) {
        return Err(access_denied(
            "The date in the credential does not match x-oss-date.",
        ));
    }
    let (signed_at, now) = (unix_secs(signed_at), unix_secs(now));
    // Bounded by MAX_V4_EXPIRES_SECS above, so the casts are lossless.
    if now < signed_at - MAX_SKEW_SECS as i64 {
        return Err(access_denied("Request is not valid yet."));
    }
    if now > signed_at + expires as i64 {
        return Err(access_denied("Request has expired."));
    }
    Ok(Verified::Signed { access_key_id })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

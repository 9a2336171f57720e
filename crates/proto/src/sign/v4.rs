//! Signature V4: `OSS4-HMAC-SHA256 Credential=ak/date/region/oss/aliyun_v4_request, …`.

use super::RequestParts;
use std::time::SystemTime;

/// The credential scope `yyyymmdd/region/product/aliyun_v4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `yyyymmdd`.
    pub date: String,
    pub region: String,
    /// `oss` (or `oss-cloudbox`).
    pub product: String,
}

impl Scope {
    /// `20231216/cn-hangzhou/oss/aliyun_v4_request`.
    pub fn to_credential_suffix(&self) -> String { todo!() }
    /// Parses `ak/yyyymmdd/region/product/aliyun_v4_request` into (ak, scope).
    pub fn parse_credential(credential: &str) -> Option<(String, Scope)> { todo!() }
}

/// The canonical request. `additional_headers` are lowercase names beyond the always-signed
/// `x-oss-*`, `content-type`, `content-md5`. Query parameter `x-oss-signature` is excluded.
/// `payload_hash` is `x-oss-content-sha256` or `UNSIGNED-PAYLOAD`.
pub fn canonical_request(req: &RequestParts<'_>, additional_headers: &[String], payload_hash: &str) -> String { todo!() }

/// `OSS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex sha256(canonical_request)>`.
pub fn string_to_sign(timestamp: &str, scope: &Scope, canonical_request: &str) -> String { todo!() }

/// The derived signing key (HMAC chain starting from `"aliyun_v4" + secret`).
pub fn signing_key(secret: &str, scope: &Scope) -> [u8; 32] { todo!() }

/// Lowercase hex HMAC-SHA256 of the string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String { todo!() }

/// Headers a signer adds before signing (`x-oss-date`, `x-oss-content-sha256: UNSIGNED-PAYLOAD`),
/// then the `Authorization` value. The returned headers must be added to the request as well.
pub fn authorization(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    now: SystemTime,
    additional_headers: &[String],
) -> (Vec<(&'static str, String)>, String) { todo!() }

/// Query parameters of a V4 presigned URL valid `expires_secs` from `now`, to append to the
/// request's own query (values not yet URL-encoded), including `x-oss-signature`.
pub fn presign(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    now: SystemTime,
    expires_secs: u64,
) -> Vec<(String, String)> { todo!() }

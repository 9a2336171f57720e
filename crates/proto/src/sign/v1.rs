//! Signature V1: `Authorization: OSS <ak>:<base64(HMAC-SHA1(secret, StringToSign))>`.

use super::RequestParts;

/// The V1 string to sign. `date` is `x-oss-date`/`Date` for the header form and the `Expires`
/// value for a presigned URL. Presign parameters (`OSSAccessKeyId`, `Expires`, `Signature`) are
/// never part of the canonical resource.
pub fn string_to_sign(req: &RequestParts<'_>, date: &str) -> String { todo!() }

/// `/` (service), `/bucket/` or `/bucket/key` (raw key), then `?` + signed sub-resources sorted.
pub fn canonical_resource(req: &RequestParts<'_>) -> String { todo!() }

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String { todo!() }

/// The `Authorization` header value for a request that already carries its `Date` or
/// `x-oss-date` header.
pub fn authorization(req: &RequestParts<'_>, access_key_id: &str, secret: &str) -> String { todo!() }

/// Query parameters of a V1 presigned URL valid until `expires` (unix seconds), to append to the
/// request's own query: `OSSAccessKeyId`, `Expires`, `Signature` (values not yet URL-encoded).
pub fn presign(req: &RequestParts<'_>, access_key_id: &str, secret: &str, expires: u64) -> Vec<(String, String)> { todo!() }

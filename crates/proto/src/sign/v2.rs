//! Signature V2 (oss2's `AuthV2`):
//! `Authorization: OSS2 AccessKeyId:<ak>[,AdditionalHeaders:<h1;h2>],Signature:<sig>`, or
//! presigned with `x-oss-signature-version=OSS2`, `x-oss-expires`, `x-oss-access-key-id`,
//! `[x-oss-additional-headers]` and `x-oss-signature`.
//!
//! ```text
//! StringToSign = VERB "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//!                CanonicalizedOSSHeaders AdditionalHeaders "\n" CanonicalizedResource
//! Signature    = base64(HMAC-SHA256(secret, StringToSign))
//! ```
//!
//! Unlike V1, every query parameter is signed (the presigned form's own but `x-oss-signature`),
//! and the resource is percent-encoded whole, `/` included ([oss2] `auth.py`
//! `ProviderAuthV2`, `v2_uri_encode`). `Date` is the `Date` header (the expiry for a presigned
//! URL); the headers named as additional are signed beside every `x-oss-*`.

use super::canon::{canonical_headers, header, push_query};
use super::RequestParts;
use crate::headers::{CONTENT_MD5, CONTENT_TYPE, DATE};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const AUTHORIZATION_PREFIX: &str = "OSS2 ";
/// `x-oss-signature-version` of a presigned V2 URL.
pub const VERSION: &str = "OSS2";
pub const EXPIRES_PARAM: &str = "x-oss-expires";
pub const ACCESS_KEY_ID_PARAM: &str = "x-oss-access-key-id";
pub const ADDITIONAL_HEADERS_PARAM: &str = "x-oss-additional-headers";
pub const SIGNATURE_PARAM: &str = "x-oss-signature";

/// oss2's `v2_uri_encode`: everything but `A-Z a-z 0-9 _ - ~ .` as `%XX`.
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_-~.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The V2 string to sign; `date` is the `Date` header, or `x-oss-expires` for a presigned URL;
/// `additional` are the lowercase names of the additional signed headers.
pub fn string_to_sign(req: &RequestParts<'_>, date: &str, additional: &[String]) -> String {
    let content_md5 = header(req.headers, CONTENT_MD5).unwrap_or_default();
    let content_type = header(req.headers, CONTENT_TYPE).unwrap_or_default();
    let oss_headers = canonical_headers(req.headers, |name| {
        name.starts_with("x-oss-") || additional.iter().any(|a| a == name)
    });
    let mut names: Vec<&str> = additional.iter().map(String::as_str).collect();
    names.sort_unstable();
    format!(
        "{}\n{content_md5}\n{content_type}\n{date}\n{oss_headers}{}\n{}",
        req.method,
        names.join(";"),
        canonical_resource(req)
    )
}

/// The encoded `/bucket/key` (or `/bucket/`, `/`), then `?` and every query parameter but
/// `x-oss-signature`, encoded and sorted by name.
pub fn canonical_resource(req: &RequestParts<'_>) -> String {
    let path = match (req.bucket, req.key) {
        (None, _) => "/".to_owned(),
        (Some(bucket), key) => format!("/{bucket}/{}", key.unwrap_or_default()),
    };
    let mut resource = uri_encode(&path);
    let mut params: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(name, _)| name != SIGNATURE_PARAM)
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    params.sort();
    push_query(&mut resource, params);
    resource
}

/// `base64(HMAC-SHA256(secret, string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The `Date` slot of the header form (what oss2 signs; `x-oss-date`, when sent, is checked
/// for the time instead, and signed among the `x-oss-*` headers).
pub(crate) fn signed_date(req: &RequestParts<'_>) -> String {
    header(req.headers, DATE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    /// Computed with oss2 2.19.1's `ProviderAuthV2` (its `__get_bytes_to_sign` and HMAC) for
    /// `PUT /bkt/a b/中.txt?acl&x-oss-x=1` with a Date, Content-Type, `x-oss-meta-k` and the
    /// additional header `range`.
    #[test]
    fn oss2_vector() {
        let mut h = HeaderMap::new();
        h.insert(
            "date",
            HeaderValue::from_static("Wed, 02 Dec 2026 10:00:00 GMT"),
        );
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("x-oss-meta-k", HeaderValue::from_static("v"));
        h.insert("range", HeaderValue::from_static("bytes=0-1"));
        let query = vec![
            ("x-oss-x".to_owned(), "1".to_owned()),
            ("acl".to_owned(), String::new()),
        ];
        let req = RequestParts {
            method: "PUT",
            bucket: Some("bkt"),
            key: Some("a b/中.txt"),
            query: &query,
            headers: &h,
        };
        let sts = string_to_sign(&req, &signed_date(&req), &["range".to_owned()]);
        assert_eq!(
            sts,
            "PUT\n\ntext/plain\nWed, 02 Dec 2026 10:00:00 GMT\nrange:bytes=0-1\nx-oss-meta-k:v\n\
             range\n%2Fbkt%2Fa%20b%2F%E4%B8%AD.txt?acl&x-oss-x=1"
        );
        assert_eq!(signature("sk", &sts), OSS2_SIGNATURE);
    }

    const OSS2_SIGNATURE: &str = "32FjqriqFFc3QXNnX5fXTrWrd+48+wvde0LSnr6RWsI=";
}

//! Signature V1: `Authorization: OSS <ak>:<base64(HMAC-SHA1(secret, StringToSign))>`.
//!
//! ```text
//! StringToSign = VERB "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//!                CanonicalizedOSSHeaders CanonicalizedResource
//! ```
//!
//! Only the sub-resources in [`V1_SUBRESOURCES`](super::V1_SUBRESOURCES) are signed; listing
//! parameters such as `prefix` or `max-keys` are not, as in every SDK.

use super::canon::{canonical_headers, header, push_query};
use super::RequestParts;
use crate::headers::{CONTENT_MD5, CONTENT_TYPE, DATE, OSS_DATE};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Query parameters that carry a presigned V1 signature; never part of what is signed.
const PRESIGN_PARAMS: [&str; 3] = ["OSSAccessKeyId", "Expires", "Signature"];

/// The V1 string to sign. `date` is `x-oss-date`/`Date` for the header form and the `Expires`
/// value for a presigned URL. Presign parameters (`OSSAccessKeyId`, `Expires`, `Signature`) are
/// never part of the canonical resource.
pub fn string_to_sign(req: &RequestParts<'_>, date: &str) -> String {
    let content_md5 = header(req.headers, CONTENT_MD5).unwrap_or_default();
    let content_type = header(req.headers, CONTENT_TYPE).unwrap_or_default();
    let oss_headers = canonical_headers(req.headers, |name| name.starts_with("x-oss-"));
    format!(
        "{}\n{content_md5}\n{content_type}\n{date}\n{oss_headers}{}",
        req.method,
        canonical_resource(req)
    )
}

/// `/` (service), `/bucket/` or `/bucket/key` (raw key), then `?` + signed sub-resources sorted.
pub fn canonical_resource(req: &RequestParts<'_>) -> String {
    let mut resource = match (req.bucket, req.key) {
        (None, _) => "/".to_owned(),
        (Some(bucket), None) => format!("/{bucket}/"),
        (Some(bucket), Some(key)) => format!("/{bucket}/{key}"),
    };

    let mut subresources: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(name, _)| {
            super::V1_SUBRESOURCES.contains(&name.as_str())
                && !PRESIGN_PARAMS.contains(&name.as_str())
        })
        .collect();
    // By name, as the SDKs sort; a repeated name keeps a deterministic order by value.
    subresources.sort();
    push_query(&mut resource, subresources.into_iter().map(|(n, v)| (n, v)));
    resource
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for a request that already carries its `Date` or
/// `x-oss-date` header.
pub fn authorization(req: &RequestParts<'_>, access_key_id: &str, secret: &str) -> String {
    let date = request_date(req).unwrap_or_default();
    let signature = signature(secret, &string_to_sign(req, &date));
    format!("OSS {access_key_id}:{signature}")
}

/// Query parameters of a V1 presigned URL valid until `expires` (unix seconds), to append to the
/// request's own query: `OSSAccessKeyId`, `Expires`, `Signature` (values not yet URL-encoded).
pub fn presign(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret: &str,
    expires: u64,
) -> Vec<(String, String)> {
    let expires = expires.to_string();
    let signature = signature(secret, &string_to_sign(req, &expires));
    vec![
        ("OSSAccessKeyId".to_owned(), access_key_id.to_owned()),
        ("Expires".to_owned(), expires),
        ("Signature".to_owned(), signature),
    ]
}

/// The date slot of the header form: `x-oss-date` wins over `Date`, as in oss2 and v2 (browsers
/// and some proxies cannot set `Date`).
pub(crate) fn request_date(req: &RequestParts<'_>) -> Option<String> {
    header(req.headers, OSS_DATE).or_else(|| header(req.headers, DATE))
}

// The SDKs' published vectors are checked by tests/sign_vectors.rs from tests/vectors/*.json;
// these tests pin the rules around them.
#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn presign_params_never_signed() {
        let h = HeaderMap::new();
        let plain = query(&[("acl", "")]);
        let with_presign = query(&[
            ("acl", ""),
            ("OSSAccessKeyId", "ak"),
            ("Expires", "1"),
            ("Signature", "x"),
        ]);
        let a = RequestParts {
            method: "GET",
            bucket: Some("b"),
            key: Some("k"),
            query: &plain,
            headers: &h,
        };
        let b = RequestParts {
            query: &with_presign,
            ..a
        };
        assert_eq!(canonical_resource(&a), canonical_resource(&b));
    }

    #[test]
    fn resources() {
        let h = HeaderMap::new();
        let mut req = RequestParts {
            method: "GET",
            bucket: None,
            key: None,
            query: &[],
            headers: &h,
        };
        assert_eq!(canonical_resource(&req), "/");
        req.bucket = Some("b");
        assert_eq!(canonical_resource(&req), "/b/");
        // The raw key: no encoding, `/` and spaces as they are.
        req.key = Some("阿里云/a b?&=");
        assert_eq!(canonical_resource(&req), "/b/阿里云/a b?&=");
        // oss2 ListObjectsV2 sends an empty continuation-token; `prefix` etc. are not signed.
        let q = query(&[
            ("list-type", "2"),
            ("prefix", ""),
            ("continuation-token", ""),
            ("max-keys", "100"),
            ("encoding-type", "url"),
        ]);
        req.key = None;
        req.query = &q;
        assert_eq!(canonical_resource(&req), "/b/?continuation-token");
        // Sub-resource values are signed decoded.
        let q = query(&[("uploadId", "a/b+c"), ("partNumber", "3")]);
        req.key = Some("k");
        req.query = &q;
        assert_eq!(canonical_resource(&req), "/b/k?partNumber=3&uploadId=a/b+c");
        // alibabacloud-oss-v2 signs the sub-resource of each of its operations
        // (CleanRestoredObject, SealAppendObject, Put/GetBucketOverwriteConfig, ...).
        let q = query(&[("cleanRestoredObject", "")]);
        req.query = &q;
        assert_eq!(canonical_resource(&req), "/b/k?cleanRestoredObject");
        let q = query(&[("overwriteConfig", "")]);
        req.key = None;
        req.query = &q;
        assert_eq!(canonical_resource(&req), "/b/?overwriteConfig");
    }

    #[test]
    fn date_slot_prefers_x_oss_date() {
        let h = headers(&[
            ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT"),
        ]);
        let req = RequestParts {
            method: "GET",
            bucket: None,
            key: None,
            query: &[],
            headers: &h,
        };
        assert_eq!(
            request_date(&req).as_deref(),
            Some("Wed, 28 Dec 2022 10:27:41 GMT")
        );
        let h = headers(&[("date", "Thu, 01 Jan 1970 00:00:00 GMT")]);
        let req = RequestParts { headers: &h, ..req };
        assert_eq!(
            string_to_sign(&req, &request_date(&req).unwrap()),
            "GET\n\n\nThu, 01 Jan 1970 00:00:00 GMT\n/"
        );
    }

    #[test]
    fn oss_headers_trimmed_merged_sorted() {
        let h = headers(&[
            ("x-oss-meta-b", "  2 "),
            ("X-OSS-Meta-A", "1"),
            ("x-oss-meta-b", "3"),
            ("content-length", "5"),
        ]);
        let req = RequestParts {
            method: "PUT",
            bucket: Some("b"),
            key: Some("k"),
            query: &[],
            headers: &h,
        };
        assert_eq!(
            string_to_sign(&req, "D"),
            "PUT\n\n\nD\nx-oss-meta-a:1\nx-oss-meta-b:2,3\n/b/k"
        );
    }
}

//! The V1/V4 signature verifier (`ossvault_proto::sign::verify`) on requests built from fuzzed
//! method, bucket, key, query and headers.
//!
//! - Raw mode: a fuzzed (possibly malformed) `Authorization` header / presign query. Never a
//!   panic; a request accepted as `Signed` must name the one known access key id, be accepted
//!   again (determinism) and be refused with `SignatureDoesNotMatch` when the server holds a
//!   different secret (the signature really depends on the secret).
//! - Sign modes (V1 header, V4 header, V1 presign, V4 presign): the request is signed with
//!   `ossvault_proto::sign::{v1, v4}` and must verify as `Signed { ak }` with the same inputs;
//!   the same request must fail under another secret, and the time checks must bite (header
//!   forms: skew > 15 min; presigned: past the expiry).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ossvault_fuzz::header_map;
use ossvault_proto::sign::{v1, v4, verify, AuthError, RequestParts, Verified};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    method: String,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
    /// Raw mode: the Authorization header value (if any).
    authorization: Option<Vec<u8>>,
    ak: String,
    secret: String,
    region: String,
    /// Seconds since 2000-01-01 (keeps dates in the 4-digit-year range).
    now: u32,
    /// Seconds between signing and verifying (presigned forms: within the validity).
    delay: u16,
    expires: u32,
    additional: Vec<String>,
}

const EPOCH_2000: u64 = 946_684_800;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// An access key id the headers and query can carry as-is: `[A-Za-z0-9]+`.
fn clean_ak(ak: &str) -> String {
    let ak: String = ak
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect();
    if ak.is_empty() {
        "ak".to_owned()
    } else {
        ak
    }
}

fn clean_region(region: &str) -> String {
    let r: String = region
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(32)
        .collect();
    if r.is_empty() {
        "cn-hangzhou".to_owned()
    } else {
        r
    }
}

fn check_signed(result: &Result<Verified, AuthError>, ak: &str, what: &str, input: &Input) {
    match result {
        Ok(Verified::Signed { access_key_id }) if access_key_id == ak => {}
        other => panic!("{what}: a request signed by us does not verify: {other:?}\n{input:?}"),
    }
}

fn verify_all(
    req: &RequestParts<'_>,
    region: &str,
    ak: &str,
    secret: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    verify(req, region, |id| (id == ak).then(|| secret.to_owned()), now)
}

fn wrong_secret(secret: &str) -> String {
    format!("{secret}x")
}

fuzz_target!(|input: Input| {
    let ak = clean_ak(&input.ak);
    let secret = input.secret.clone();
    let region = clean_region(&input.region);
    let signed_at = EPOCH_2000 + u64::from(input.now);
    let verified_at = signed_at + u64::from(input.delay);
    let mode = input.mode % 5;

    // Headers and query parameters that would change which scheme is used are dropped in the
    // sign modes (they are the signer's to set).
    let reserved_query = [
        "OSSAccessKeyId",
        "Expires",
        "Signature",
        "x-oss-signature-version",
        "x-oss-credential",
        "x-oss-date",
        "x-oss-expires",
        "x-oss-additional-headers",
        "x-oss-signature",
    ];
    let query: Vec<(String, String)> = if mode == 0 {
        input.query.clone()
    } else {
        input
            .query
            .iter()
            .filter(|(k, _)| !reserved_query.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let mut headers = header_map(
        input
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    if mode != 0 {
        for name in ["authorization", "date", "x-oss-date"] {
            headers.remove(name);
        }
    } else if let Some(auth) = &input.authorization {
        if let Ok(v) = http::HeaderValue::from_bytes(auth) {
            headers.append(http::header::AUTHORIZATION, v);
        }
    }
    let base = RequestParts {
        method: &input.method,
        bucket: input.bucket.as_deref(),
        key: input.key.as_deref(),
        query: &query,
        headers: &headers,
    };

    match mode {
        0 => {
            let now = at(verified_at);
            let result = verify_all(&base, &region, &ak, &secret, now);
            if let Ok(Verified::Signed { access_key_id }) = &result {
                assert_eq!(access_key_id, &ak);
                assert_eq!(verify_all(&base, &region, &ak, &secret, now), result);
                let other = verify_all(&base, &region, &ak, &wrong_secret(&secret), now);
                assert!(
                    matches!(other, Err(AuthError::SignatureDoesNotMatch { .. })),
                    "accepted under another secret: {other:?}\n{input:?}"
                );
            }
        }
        1 => {
            // V1 header.
            let mut headers = headers.clone();
            headers.insert(
                http::header::DATE,
                http::HeaderValue::from_str(&httpdate::fmt_http_date(at(signed_at))).unwrap(),
            );
            let req = RequestParts {
                headers: &headers,
                ..base
            };
            let auth = v1::authorization(&req, &ak, &secret);
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(&auth).expect("an ASCII Authorization value"),
            );
            let req = RequestParts {
                headers: &headers,
                ..base
            };
            let now = u64::from(input.delay) % (15 * 60 + 1);
            check_signed(
                &verify_all(&req, &region, &ak, &secret, at(signed_at + now)),
                &ak,
                "V1 header",
                &input,
            );
            assert!(matches!(
                verify_all(&req, &region, &ak, &wrong_secret(&secret), at(signed_at)),
                Err(AuthError::SignatureDoesNotMatch { .. })
            ));
            assert_eq!(
                verify_all(
                    &req,
                    &region,
                    &ak,
                    &secret,
                    at(signed_at + 15 * 60 + 1 + now)
                ),
                Err(AuthError::RequestTimeTooSkewed)
            );
        }
        2 => {
            // V4 header.
            let (added, auth) = v4::authorization(
                &base,
                &ak,
                &secret,
                &region,
                at(signed_at),
                &input.additional,
            );
            let mut headers = headers.clone();
            for (name, value) in added {
                headers.insert(name, http::HeaderValue::from_str(&value).unwrap());
            }
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(&auth).expect("an ASCII Authorization value"),
            );
            let req = RequestParts {
                headers: &headers,
                ..base
            };
            let now = u64::from(input.delay) % (15 * 60 + 1);
            check_signed(
                &verify_all(&req, &region, &ak, &secret, at(signed_at + now)),
                &ak,
                "V4 header",
                &input,
            );
            assert!(verify_all(&req, "Other-Region", &ak, &secret, at(signed_at)).is_err());
            assert!(matches!(
                verify_all(&req, &region, &ak, &wrong_secret(&secret), at(signed_at)),
                Err(AuthError::SignatureDoesNotMatch { .. })
            ));
            assert_eq!(
                verify_all(
                    &req,
                    &region,
                    &ak,
                    &secret,
                    at(signed_at + 15 * 60 + 1 + now)
                ),
                Err(AuthError::RequestTimeTooSkewed)
            );
        }
        3 => {
            // V1 presigned URL, valid until `signed_at + expires`.
            let expires = signed_at + u64::from(input.expires % 1_000_000);
            let params = v1::presign(&base, &ak, &secret, expires);
            let full: Vec<(String, String)> = query.iter().cloned().chain(params).collect();
            let req = RequestParts {
                query: &full,
                ..base
            };
            let now = signed_at + u64::from(input.delay).min(expires - signed_at);
            check_signed(
                &verify_all(&req, &region, &ak, &secret, at(now)),
                &ak,
                "V1 presign",
                &input,
            );
            assert!(matches!(
                verify_all(&req, &region, &ak, &wrong_secret(&secret), at(now)),
                Err(AuthError::SignatureDoesNotMatch { .. })
            ));
            assert!(matches!(
                verify_all(&req, &region, &ak, &secret, at(expires + 1)),
                Err(AuthError::AccessDenied(_))
            ));
        }
        _ => {
            // V4 presigned URL, valid `expires` seconds (at most 7 days).
            let expires = u64::from(input.expires % (7 * 24 * 3600 + 1));
            let params = v4::presign(&base, &ak, &secret, &region, at(signed_at), expires);
            let full: Vec<(String, String)> = query.iter().cloned().chain(params).collect();
            let req = RequestParts {
                query: &full,
                ..base
            };
            let now = signed_at + u64::from(input.delay).min(expires);
            check_signed(
                &verify_all(&req, &region, &ak, &secret, at(now)),
                &ak,
                "V4 presign",
                &input,
            );
            assert!(verify_all(&req, "Other-Region", &ak, &secret, at(now)).is_err());
            assert!(matches!(
                verify_all(&req, &region, &ak, &wrong_secret(&secret), at(now)),
                Err(AuthError::SignatureDoesNotMatch { .. })
            ));
            assert!(matches!(
                verify_all(&req, &region, &ak, &secret, at(signed_at + expires + 1)),
                Err(AuthError::AccessDenied(_))
            ));
        }
    }
});

use super::*;
use crate::sign::v4::tests::{
    at, headers, presign_headers, query, vector_headers, vector_query, VECTOR_KEY,
};
use http::{HeaderMap, HeaderValue};

/// The region of the server in every test.
const REGION: &str = "cn-hangzhou";

/// The credential store of every test: `ak` → `sk`.
fn secrets(ak: &str) -> Option<String> {
    (ak == "ak").then(|| "sk".to_owned())
}

fn wrong_secret(ak: &str) -> Option<String> {
    (ak == "ak").then(|| "not-sk".to_owned())
}

fn signed(ak: &str) -> Result<Verified, AuthError> {
    Ok(Verified::Signed {
        access_key_id: ak.to_owned(),
    })
}

fn with_header(mut h: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    h.insert(name, HeaderValue::from_str(value).unwrap());
    h
}

// 2022-12-28T10:27:41Z, the date of the V1 header vectors.
const V1_DATE: &str = "Wed, 28 Dec 2022 10:27:41 GMT";
const V1_NOW: u64 = 1672223261;

fn v1_vector_headers(authorization: &str) -> HeaderMap {
    headers(&[
        ("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
        ("Content-Type", "text/html"),
        ("x-oss-meta-author", "alice"),
        ("x-oss-meta-magic", "abracadabra"),
        ("x-oss-date", V1_DATE),
        ("authorization", authorization),
    ])
}

fn v1_put<'a>(h: &'a HeaderMap, q: &'a [(String, String)]) -> RequestParts<'a> {
    RequestParts {
        method: "PUT",
        bucket: Some("examplebucket"),
        key: Some("nelson"),
        query: q,
        headers: h,
    }
}

#[test]
fn anonymous() {
    let h = headers(&[("content-type", "text/plain")]);
    let q = query(&[("prefix", ""), ("Expires", "1"), ("OSSAccessKeyId", "ak")]);
    let req = v1_put(&h, &q);
    assert_eq!(
        verify(&req, REGION, secrets, at(0)),
        Ok(Verified::Anonymous)
    );
    // An empty Authorization header carries nothing either.
    let h = headers(&[("authorization", "")]);
    let req = v1_put(&h, &[]);
    assert_eq!(
        verify(&req, REGION, secrets, at(0)),
        Ok(Verified::Anonymous)
    );
}

#[test]
fn unsupported_schemes() {
    for value in [
        "OSS2 AccessKeyId:ak",
        "Bearer token",
        "OSS4-HMAC-SHA256",
        "OSS",
    ] {
        let h = headers(&[("authorization", value)]);
        let req = v1_put(&h, &[]);
        let err = verify(&req, REGION, secrets, at(0)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{value}");
    }
    let q = query(&[("x-oss-signature-version", "OSS9")]);
    let h = HeaderMap::new();
    let req = v1_put(&h, &q);
    assert!(matches!(
        verify(&req, REGION, secrets, at(0)),
        Err(AuthError::InvalidArgument(_))
    ));
    // A V2 presigned URL without its expiry has no validity window.
    let q = query(&[("x-oss-signature-version", "OSS2")]);
    let req = v1_put(&h, &q);
    assert!(matches!(
        verify(&req, REGION, secrets, at(0)),
        Err(AuthError::AccessDenied(_))
    ));
}

/// oss2's AuthV2, header and presigned forms (the vector of `v2.rs`, computed with oss2).
#[test]
fn v2_header_and_presign() {
    let now = at(1_796_205_600); // Wed, 02 Dec 2026 10:00:00 GMT
    let mut h = headers(&[
        ("date", "Wed, 02 Dec 2026 10:00:00 GMT"),
        ("content-type", "text/plain"),
        ("x-oss-meta-k", "v"),
        ("range", "bytes=0-1"),
        (
            "authorization",
            "OSS2 AccessKeyId:ak,AdditionalHeaders:range,\
             Signature:32FjqriqFFc3QXNnX5fXTrWrd+48+wvde0LSnr6RWsI=",
        ),
    ]);
    let q = query(&[("x-oss-x", "1"), ("acl", "")]);
    fn req<'a>(h: &'a HeaderMap, q: &'a [(String, String)]) -> RequestParts<'a> {
        RequestParts {
            method: "PUT",
            bucket: Some("bkt"),
            key: Some("a b/中.txt"),
            query: q,
            headers: h,
        }
    }
    assert_eq!(scheme(&req(&h, &q)), Ok(Scheme::V2Header));
    assert_eq!(verify(&req(&h, &q), REGION, secrets, now), signed("ak"));
    assert!(matches!(
        verify(&req(&h, &q), REGION, wrong_secret, now),
        Err(AuthError::SignatureDoesNotMatch { .. })
    ));
    assert_eq!(
        verify(&req(&h, &q), REGION, secrets, at(1_796_205_600 + 3600)),
        Err(AuthError::RequestTimeTooSkewed)
    );
    // x-oss-date is signed among the x-oss-* headers and is the time checked.
    h.insert(
        "x-oss-date",
        HeaderValue::from_static("Tue, 01 Dec 2026 10:00:00 GMT"),
    );
    assert!(matches!(
        verify(&req(&h, &q), REGION, secrets, now),
        Err(AuthError::SignatureDoesNotMatch { .. })
    ));

    // Presigned: the expiry takes the Date's place; every parameter but the signature signed.
    let h = headers(&[("content-type", "text/plain")]);
    let mut params = vec![
        ("x-oss-signature-version".to_owned(), "OSS2".to_owned()),
        ("x-oss-expires".to_owned(), "1796209200".to_owned()),
        ("x-oss-access-key-id".to_owned(), "ak".to_owned()),
    ];
    let unsigned = RequestParts {
        method: "GET",
        bucket: Some("bkt"),
        key: Some("k"),
        query: &params,
        headers: &h,
    };
    let sig = super::v2::signature(
        "sk",
        &super::v2::string_to_sign(&unsigned, "1796209200", &[]),
    );
    params.push(("x-oss-signature".to_owned(), sig));
    let presigned = RequestParts {
        method: "GET",
        bucket: Some("bkt"),
        key: Some("k"),
        query: &params,
        headers: &h,
    };
    assert_eq!(scheme(&presigned), Ok(Scheme::V2Presigned));
    assert_eq!(verify(&presigned, REGION, secrets, now), signed("ak"));
    assert_eq!(
        verify(&presigned, REGION, secrets, at(1_796_209_201)),
        Err(AuthError::AccessDenied("Request has expired.".into()))
    );
}

#[test]
fn several_authorization_headers_refused() {
    let mut h = v1_vector_headers("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    h.append("authorization", HeaderValue::from_static("OSS ak:x"));
    let req = v1_put(&h, &[]);
    assert!(matches!(
        verify(&req, REGION, secrets, at(V1_NOW)),
        Err(AuthError::InvalidArgument(_))
    ));
}

#[test]
fn v1_header_vectors() {
    let h = v1_vector_headers("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    assert_eq!(
        verify(&v1_put(&h, &[]), REGION, secrets, at(V1_NOW)),
        signed("ak")
    );

    let h = v1_vector_headers("OSS ak:/afkugFbmWDQ967j1vr6zygBLQk=");
    let q = query(&[("acl", "")]);
    assert_eq!(
        verify(&v1_put(&h, &q), REGION, secrets, at(V1_NOW)),
        signed("ak")
    );

    let h = headers(&[
        ("x-oss-date", V1_DATE),
        ("authorization", "OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk="),
    ]);
    let q = query(&[("resourceGroup", ""), ("acl", "")]);
    let req = RequestParts {
        method: "GET",
        bucket: Some("examplebucket"),
        key: None,
        query: &q,
        headers: &h,
    };
    assert_eq!(verify(&req, REGION, secrets, at(V1_NOW)), signed("ak"));
}

#[test]
fn v1_header_wrong_secret() {
    let h = v1_vector_headers("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    let err = verify(&v1_put(&h, &[]), REGION, wrong_secret, at(V1_NOW)).unwrap_err();
    assert_eq!(
        err,
        AuthError::SignatureDoesNotMatch {
            access_key_id: "ak".into(),
            string_to_sign: "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\n\
                Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n\
                x-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson"
                .into()
        }
    );
    assert_eq!(err.code(), ErrorCode::SignatureDoesNotMatch);
    // A wrong signature is reported even when the date is stale too.
    let err = verify(&v1_put(&h, &[]), REGION, wrong_secret, at(0)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignatureDoesNotMatch);
}

#[test]
fn v1_header_tampering_detected() {
    let h = v1_vector_headers("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    let tampered = with_header(h.clone(), "x-oss-meta-author", "mallory");
    let err = verify(&v1_put(&tampered, &[]), REGION, secrets, at(V1_NOW)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignatureDoesNotMatch);
    // Another key.
    let req = RequestParts {
        key: Some("nelson2"),
        ..v1_put(&h, &[])
    };
    assert_eq!(
        verify(&req, REGION, secrets, at(V1_NOW))
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // A signed sub-resource added.
    let q = query(&[("acl", "")]);
    assert_eq!(
        verify(&v1_put(&h, &q), REGION, secrets, at(V1_NOW))
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // Parameters that are not sub-resources are not signed in V1.
    let q = query(&[("prefix", "x"), ("max-keys", "10")]);
    assert_eq!(
        verify(&v1_put(&h, &q), REGION, secrets, at(V1_NOW)),
        signed("ak")
    );
}

#[test]
fn v1_header_unknown_key_and_malformed() {
    let h = v1_vector_headers("OSS nobody:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    assert_eq!(
        verify(&v1_put(&h, &[]), REGION, secrets, at(V1_NOW)),
        Err(AuthError::InvalidAccessKeyId {
            access_key_id: "nobody".into()
        })
    );
    for value in ["OSS ak", "OSS :sig", "OSS ak:", "OSS  "] {
        let h = headers(&[("authorization", value)]);
        let err = verify(&v1_put(&h, &[]), REGION, secrets, at(V1_NOW)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{value}");
    }
}

#[test]
fn v1_header_skew() {
    let h = v1_vector_headers("OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    let req = v1_put(&h, &[]);
    assert_eq!(
        verify(&req, REGION, secrets, at(V1_NOW + 900)),
        signed("ak")
    );
    assert_eq!(
        verify(&req, REGION, secrets, at(V1_NOW - 900)),
        signed("ak")
    );
    assert_eq!(
        verify(&req, REGION, secrets, at(V1_NOW + 901)),
        Err(AuthError::RequestTimeTooSkewed)
    );
    assert_eq!(
        verify(&req, REGION, secrets, at(V1_NOW - 901)),
        Err(AuthError::RequestTimeTooSkewed)
    );
    assert_eq!(
        AuthError::RequestTimeTooSkewed.code(),
        ErrorCode::RequestTimeTooSkewed
    );
}

#[test]
fn v1_header_missing_or_bad_date() {
    // Signed correctly, over an empty or unparsable date slot.
    for date in [None, Some("yesterday")] {
        let mut h = headers(&[("x-oss-meta-a", "1")]);
        if let Some(date) = date {
            h.insert("date", HeaderValue::from_static(date));
        }
        let req = v1_put(&h, &[]);
        let auth = v1::authorization(&req, "ak", "sk");
        let h = with_header(h, "authorization", &auth);
        let err = verify(&v1_put(&h, &[]), REGION, secrets, at(V1_NOW)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AccessDenied, "{date:?}");
    }
}

#[test]
fn v1_header_round_trips() {
    let now = at(1_700_000_000);
    let keys = [
        None,
        Some("a"),
        Some("阿里云/加油/:?;@&=+$, /<>{}[]|/"),
        Some("中文+_)(*&^%$#@!前缀"),
        Some("dir/"),
    ];
    for key in keys {
        for date_header in ["date", "x-oss-date"] {
            let h = headers(&[
                (date_header, &crate::time::http_date(now)),
                ("content-type", "application/octet-stream"),
                ("x-oss-meta-tag", " v "),
                ("x-oss-security-token", "token"),
                ("range", "bytes=0-1"),
            ]);
            let q = query(&[("uploadId", "U/1"), ("partNumber", "2"), ("prefix", "p")]);
            let req = RequestParts {
                method: "PUT",
                bucket: Some("bkt"),
                key,
                query: &q,
                headers: &h,
            };
            let h = with_header(
                h.clone(),
                "authorization",
                &v1::authorization(&req, "ak", "sk"),
            );
            let req = RequestParts { headers: &h, ..req };
            assert_eq!(verify(&req, REGION, secrets, now), signed("ak"), "{key:?}");
        }
    }
}

fn v1_presigned(base: &[(&str, &str)], expires: u64, key: &str) -> Vec<(String, String)> {
    let h = HeaderMap::new();
    let mut q = query(base);
    let req = RequestParts {
        method: "GET",
        bucket: Some("bucket"),
        key: Some(key),
        query: &q,
        headers: &h,
    };
    let params = v1::presign(&req, "ak", "sk", expires);
    q.extend(params);
    q
}

#[test]
fn v1_presign_vectors() {
    let h = HeaderMap::new();
    let q = query(&[
        ("versionId", "versionId"),
        ("OSSAccessKeyId", "ak"),
        ("Expires", "1699807420"),
        ("Signature", "dcLTea+Yh9ApirQ8o8dOPqtvJXQ="),
    ]);
    let req = RequestParts {
        method: "GET",
        bucket: Some("bucket"),
        key: Some("key"),
        query: &q,
        headers: &h,
    };
    assert_eq!(verify(&req, REGION, secrets, at(1699807000)), signed("ak"));
    assert_eq!(verify(&req, REGION, secrets, at(1699807420)), signed("ak"));
    assert_eq!(
        verify(&req, REGION, secrets, at(1699807421)),
        Err(AuthError::AccessDenied("Request has expired.".into()))
    );

    let q = query(&[
        ("versionId", "versionId"),
        ("OSSAccessKeyId", "ak"),
        ("Expires", "1699808204"),
        ("security-token", "token"),
        ("Signature", "jzKYRrM5y6Br0dRFPaTGOsbrDhY="),
    ]);
    let req = RequestParts {
        key: Some("key+123"),
        query: &q,
        ..req
    };
    assert_eq!(verify(&req, REGION, secrets, at(1699808000)), signed("ak"));
}

#[test]
fn v1_presign_failures() {
    let q = v1_presigned(&[("versionId", "v")], 2_000_000_000, "k");
    let h = HeaderMap::new();
    let req = RequestParts {
        method: "GET",
        bucket: Some("bucket"),
        key: Some("k"),
        query: &q,
        headers: &h,
    };
    let now = at(1_900_000_000);
    assert_eq!(verify(&req, REGION, secrets, now), signed("ak"));
    // Wrong secret, checked before the expiry.
    assert_eq!(
        verify(&req, REGION, wrong_secret, at(2_100_000_000))
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // Unknown key.
    let swap = |name: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = q.iter().filter(|(k, _)| k != name).cloned().collect();
        if let Some(value) = value {
            q.push((name.to_owned(), value.to_owned()));
        }
        q
    };
    let q2 = swap("OSSAccessKeyId", Some("nobody"));
    assert_eq!(
        verify(&RequestParts { query: &q2, ..req }, REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidAccessKeyId
    );
    // Missing, empty or invalid Expires.
    for expires in [None, Some(""), Some("soon"), Some("-1")] {
        let q2 = swap("Expires", expires);
        assert_eq!(
            verify(&RequestParts { query: &q2, ..req }, REGION, secrets, now)
                .unwrap_err()
                .code(),
            ErrorCode::AccessDenied,
            "{expires:?}"
        );
    }
    // A later Expires than signed.
    let q2 = swap("Expires", Some("2000000001"));
    assert_eq!(
        verify(&RequestParts { query: &q2, ..req }, REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // Tampered sub-resource.
    let q2 = swap("versionId", Some("w"));
    assert_eq!(
        verify(&RequestParts { query: &q2, ..req }, REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // A signed x-oss-* header must be sent; an unexpected one breaks the signature.
    let h2 = headers(&[("x-oss-meta-a", "1")]);
    assert_eq!(
        verify(
            &RequestParts {
                headers: &h2,
                ..req
            },
            REGION,
            secrets,
            now
        )
        .unwrap_err()
        .code(),
        ErrorCode::SignatureDoesNotMatch
    );
}

#[test]
fn v1_presign_round_trips() {
    for key in ["k", "中文/ a+b", "a/b/c?d"] {
        let q = v1_presigned(
            &[("response-content-disposition", "attachment; filename=a.txt")],
            2_000_000_000,
            key,
        );
        let h = HeaderMap::new();
        let req = RequestParts {
            method: "GET",
            bucket: Some("bucket"),
            key: Some(key),
            query: &q,
            headers: &h,
        };
        assert_eq!(
            verify(&req, REGION, secrets, at(1_999_999_999)),
            signed("ak"),
            "{key}"
        );
    }
}

/// The V4 header-form vector request with its signer-added headers and `authorization`.
fn v4_vector_request(
    timestamp: &str,
    authorization: &str,
    extra: &[(&'static str, &str)],
) -> HeaderMap {
    let mut h = with_header(vector_headers(), "x-oss-date", timestamp);
    for (name, value) in extra {
        h = with_header(h, name, value);
    }
    with_header(h, "authorization", authorization)
}

fn v4_put<'a>(h: &'a HeaderMap, q: &'a [(String, String)]) -> RequestParts<'a> {
    RequestParts {
        method: "PUT",
        bucket: Some("bucket"),
        key: Some(VECTOR_KEY),
        query: q,
        headers: h,
    }
}

#[test]
fn v4_header_vectors() {
    let q = vector_query();
    let h = v4_vector_request(
        "20231216T162057Z",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
        &[],
    );
    assert_eq!(
        verify(&v4_put(&h, &q), REGION, secrets, at(1702743657)),
        signed("ak")
    );

    let h = v4_vector_request(
        "20231217T034736Z",
        "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea",
        &[("x-oss-security-token", "token")],
    );
    assert_eq!(
        verify(&v4_put(&h, &q), REGION, secrets, at(1702784856)),
        signed("ak")
    );

    // AdditionalHeaders, v2 style then oss2 style (spaces, Signature before it).
    for auth in [
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         AdditionalHeaders=abc;zabc,\
         Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, \
         Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f, \
         AdditionalHeaders=zabc;abc",
        "OSS4-HMAC-SHA256  Signature=4A4183C187C07C8947DB7620DEB0A6B38D9FBDD34187B6DBACCB316FA251212F , \
         AdditionalHeaders=abc;zabc , Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request",
    ] {
        let h = v4_vector_request("20231216T172512Z", auth, &[]);
        assert_eq!(
            verify(&v4_put(&h, &q), REGION, secrets, at(1702747512)),
            signed("ak"),
            "{auth}"
        );
    }
}

/// A CloudBox signature (product `oss-cloudbox`) is computed right, then refused: this
/// server serves the product `oss` only.
#[test]
fn v4_header_cloudbox_vector() {
    let q = vector_query();
    let h = v4_vector_request(
        "20231216T162057Z",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cb-123/oss-cloudbox/aliyun_v4_request,\
         Signature=94ce1f12c17d148ea681030275a94449d3357f5b5b21133996eec80af3e08a43",
        &[],
    );
    let req = v4_put(&h, &q);
    // The signature matched (a wrong one is reported first), so the scope is what fails.
    assert_eq!(
        verify(&req, "cb-123", wrong_secret, at(1702743657))
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    assert_eq!(
        verify(&req, "cb-123", secrets, at(1702743657)),
        Err(AuthError::InvalidScope {
            message: "Invalid signing product in Authorization header.".into(),
            ec: "0002-00000227",
        })
    );
}

/// Signs `req` with V4 in the header for `region`, as a client configured for it would.
fn v4_signed_for(req: &RequestParts<'_>, region: &str, now: SystemTime) -> HeaderMap {
    let (added, auth) = v4::authorization(req, "ak", "sk", region, now, &[]);
    let mut h = req.headers.clone();
    for (name, value) in added {
        h.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    h
}

#[test]
fn v4_scope_must_name_the_servers_region() {
    let now = at(1_700_000_000);
    let (q, h) = (vector_query(), presign_headers());
    let base = v4_put(&h, &q);

    // Header form: valid in its own region only.
    let h_west = v4_signed_for(&base, "us-west-1", now);
    let req = RequestParts {
        headers: &h_west,
        ..base
    };
    assert_eq!(verify(&req, "us-west-1", secrets, now), signed("ak"));
    let err = verify(&req, REGION, secrets, now).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    // OSS's message and fine-grained code, word for word (oss2's tests/test_exception_ec.py).
    assert_eq!(
        err.to_string(),
        "Invalid signing region in Authorization header."
    );
    assert_eq!(err.ec(), Some("0002-00000226"));
    // A forged signature is still reported as such, whatever its scope.
    assert_eq!(
        verify(&req, REGION, wrong_secret, now).unwrap_err().code(),
        ErrorCode::SignatureDoesNotMatch
    );

    // Presigned form.
    let mut q_west = q.clone();
    q_west.extend(v4::presign(&base, "ak", "sk", "us-west-1", now, 600));
    let req = v4_put(&h, &q_west);
    assert_eq!(verify(&req, "us-west-1", secrets, now), signed("ak"));
    let err = verify(&req, REGION, secrets, now).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "Invalid signing region in x-oss-credential."
    );

    // Regions compare exactly: no case folding, no prefix match.
    for other in ["CN-HANGZHOU", "cn-hangzhou-1", "oss-cn-hangzhou", "cn-hang"] {
        let h2 = v4_signed_for(&base, other, now);
        let req = RequestParts {
            headers: &h2,
            ..base
        };
        assert_eq!(
            verify(&req, REGION, secrets, now).unwrap_err().code(),
            ErrorCode::InvalidArgument,
            "{other}"
        );
    }
}

/// A scope with the right region but another product, signed by hand (the signer always
/// writes `oss`).
#[test]
fn v4_scope_must_name_the_product_oss() {
    let now = at(1_700_000_000);
    let (q, h) = (vector_query(), presign_headers());
    let h = with_header(h, "x-oss-date", &crate::time::v4_timestamp(now));
    let req = v4_put(&h, &q);
    for product in ["s3", "oss-cloudbox", "OSS"] {
        let scope = Scope {
            date: crate::time::v4_timestamp(now)[..8].to_owned(),
            region: REGION.into(),
            product: product.into(),
        };
        let canonical = v4::canonical_request(&req, &[], "UNSIGNED-PAYLOAD");
        let sts = v4::string_to_sign(&crate::time::v4_timestamp(now), &scope, &canonical);
        let sig = v4::signature(&v4::signing_key("sk", &scope), &sts);
        let auth = format!(
            "OSS4-HMAC-SHA256 Credential=ak/{},Signature={sig}",
            scope.to_credential_suffix()
        );
        let h2 = with_header(h.clone(), "authorization", &auth);
        let err = verify(&v4_put(&h2, &q), REGION, secrets, now).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{product}");
        assert!(
            err.to_string().starts_with("Invalid signing product"),
            "{product}: {err}"
        );
    }
}

#[test]
fn v4_header_failures() {
    let q = vector_query();
    let auth = "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
                Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe";
    let h = v4_vector_request("20231216T162057Z", auth, &[]);
    let req = v4_put(&h, &q);
    let now = at(1702743657);

    let err = verify(&req, REGION, wrong_secret, now).unwrap_err();
    match &err {
        AuthError::SignatureDoesNotMatch {
            access_key_id,
            string_to_sign,
        } => {
            assert_eq!(access_key_id, "ak");
            assert!(string_to_sign.starts_with(
                "OSS4-HMAC-SHA256\n20231216T162057Z\n20231216/cn-hangzhou/oss/aliyun_v4_request\n"
            ));
        }
        other => panic!("{other:?}"),
    }
    // Signature before time: a wrong secret with a stale date is still a mismatch.
    assert_eq!(
        verify(&req, REGION, wrong_secret, at(1802743657))
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );

    assert_eq!(
        verify(&req, REGION, secrets, at(1702743657 + 900)),
        signed("ak")
    );
    assert_eq!(
        verify(&req, REGION, secrets, at(1702743657 + 901)),
        Err(AuthError::RequestTimeTooSkewed)
    );
    assert_eq!(
        verify(&req, REGION, secrets, at(1702743657 - 901)),
        Err(AuthError::RequestTimeTooSkewed)
    );

    // Every query parameter is signed in V4.
    let mut q2 = q.clone();
    q2.push(("prefix".into(), "x".into()));
    assert_eq!(
        verify(&v4_put(&h, &q2), REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // So is every x-oss-* header and content-type.
    for (name, value) in [("x-oss-meta-new", "1"), ("content-type", "text/html")] {
        let h2 = with_header(h.clone(), name, value);
        assert_eq!(
            verify(&v4_put(&h2, &q), REGION, secrets, now)
                .unwrap_err()
                .code(),
            ErrorCode::SignatureDoesNotMatch,
            "{name}"
        );
    }
    // Other headers are not, unless listed.
    let h2 = with_header(h.clone(), "abc", "changed");
    assert_eq!(verify(&v4_put(&h2, &q), REGION, secrets, now), signed("ak"));

    let unknown = auth.replace("Credential=ak/", "Credential=nobody/");
    let h2 = with_header(h.clone(), "authorization", &unknown);
    assert_eq!(
        verify(&v4_put(&h2, &q), REGION, secrets, now),
        Err(AuthError::InvalidAccessKeyId {
            access_key_id: "nobody".into()
        })
    );
}

#[test]
fn v4_header_malformed() {
    let q = vector_query();
    for auth in [
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request",
        "OSS4-HMAC-SHA256 Signature=abc",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss,Signature=abc",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=a,Signature=b",
    ] {
        let h = v4_vector_request("20231216T162057Z", auth, &[]);
        let err = verify(&v4_put(&h, &q), REGION, secrets, at(1702743657)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{auth}");
    }
}

/// Signs the vector request by hand with an arbitrary timestamp and scope date.
fn v4_sign_by_hand(timestamp: &str, scope_date: &str) -> HeaderMap {
    let q = vector_query();
    let h = with_header(vector_headers(), "x-oss-date", timestamp);
    let scope = Scope {
        date: scope_date.into(),
        region: "cn-hangzhou".into(),
        product: "oss".into(),
    };
    let canonical = v4::canonical_request(&v4_put(&h, &q), &[], "UNSIGNED-PAYLOAD");
    let sts = v4::string_to_sign(timestamp, &scope, &canonical);
    let sig = v4::signature(&v4::signing_key("sk", &scope), &sts);
    let auth = format!(
        "OSS4-HMAC-SHA256 Credential=ak/{},Signature={sig}",
        scope.to_credential_suffix()
    );
    with_header(h, "authorization", &auth)
}

#[test]
fn v4_header_date_checks() {
    let q = vector_query();
    let now = at(1702743657);
    assert_eq!(
        verify(
            &v4_put(&v4_sign_by_hand("20231216T162057Z", "20231216"), &q),
            REGION,
            secrets,
            now
        ),
        signed("ak")
    );
    // Scope date differs from x-oss-date.
    let h = v4_sign_by_hand("20231216T162057Z", "20231215");
    assert_eq!(
        verify(&v4_put(&h, &q), REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
    // Unparsable x-oss-date (an HTTP date, as V1 would send).
    let h = v4_sign_by_hand("Sat, 16 Dec 2023 16:20:57 GMT", "20231216");
    assert_eq!(
        verify(&v4_put(&h, &q), REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
}

#[test]
fn v4_header_round_trips() {
    let now = at(1_700_000_000);
    for key in [
        None,
        Some("k"),
        Some("a/b c/中文+%2F"),
        Some("阿里云/加油/:?;@&=+$, /<>{}[]|/"),
    ] {
        for additional in [vec![], vec!["Range".to_owned(), "host".to_owned()]] {
            let h = headers(&[
                ("content-type", "application/xml"),
                ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
                ("x-oss-meta-a", " spaced value "),
                ("range", "bytes=0-9"),
                ("host", "127.0.0.1:9000"),
                ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
            ]);
            let q = query(&[
                ("uploadId", "U/+ 1"),
                ("partNumber", "1"),
                ("encoding-type", "url"),
                ("acl", ""),
                ("中文", "值"),
            ]);
            let req = RequestParts {
                method: "POST",
                bucket: Some("bkt"),
                key,
                query: &q,
                headers: &h,
            };
            let (added, auth) =
                v4::authorization(&req, "ak", "sk", "cn-hangzhou", now, &additional);
            let mut h = h.clone();
            for (name, value) in added {
                h.insert(name, HeaderValue::from_str(&value).unwrap());
            }
            h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
            let req = RequestParts { headers: &h, ..req };
            assert_eq!(
                verify(&req, REGION, secrets, now),
                signed("ak"),
                "{key:?} {auth}"
            );

            if !additional.is_empty() {
                // A listed additional header is covered by the signature.
                let h2 = with_header(h.clone(), "range", "bytes=0-10");
                assert_eq!(
                    verify(
                        &RequestParts {
                            headers: &h2,
                            ..req
                        },
                        REGION,
                        secrets,
                        now
                    )
                    .unwrap_err()
                    .code(),
                    ErrorCode::SignatureDoesNotMatch
                );
            }
        }
    }
}

fn v4_presign_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q = vector_query();
    q.extend(query(extra));
    q
}

#[test]
fn v4_presign_vectors() {
    let h = presign_headers();
    let cases: [(u64, Vec<(String, String)>); 5] = [
        (
            1702781677,
            v4_presign_query(&[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-date", "20231217T025437Z"),
                ("x-oss-expires", "599"),
                (
                    "x-oss-credential",
                    "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
                ),
                (
                    "x-oss-signature",
                    "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe",
                ),
            ]),
        ),
        (
            1702785388,
            v4_presign_query(&[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-date", "20231217T035628Z"),
                ("x-oss-expires", "599"),
                (
                    "x-oss-credential",
                    "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
                ),
                ("x-oss-security-token", "token"),
                (
                    "x-oss-signature",
                    "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5",
                ),
            ]),
        ),
        (
            1702783809,
            v4_presign_query(&[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-date", "20231217T033009Z"),
                ("x-oss-expires", "599"),
                (
                    "x-oss-credential",
                    "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
                ),
                ("x-oss-additional-headers", "abc;zabc"),
                (
                    "x-oss-signature",
                    "6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7",
                ),
            ]),
        ),
        (
            1702781677,
            v4_presign_query(&[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-date", "20231217T025437Z"),
                ("x-oss-expires", "599"),
                (
                    "x-oss-credential",
                    "ak/20231217/cb-123/oss-cloudbox/aliyun_v4_request",
                ),
                ("x-oss-additional-headers", "abc;zabc"),
                (
                    "x-oss-signature",
                    "07284191b9b4978ac3520cd39ee2dea2747eda454089359371ff463a6c7ba20f",
                ),
            ]),
        ),
        (
            1702783809,
            v4_presign_query(&[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-date", "20231217T033009Z"),
                ("x-oss-expires", "599"),
                (
                    "x-oss-credential",
                    "ak/20231217/cb-123/oss-cloudbox/aliyun_v4_request",
                ),
                ("x-oss-additional-headers", "abc;zabc"),
                (
                    "x-oss-signature",
                    "16782cc8a7a554523db055eb804b508522e7e370073108ad88ee2f47496701dd",
                ),
            ]),
        ),
    ];
    let (oss, cloudbox) = cases.split_at(3);
    for (signed_at, q) in cloudbox {
        // Computed right (a wrong secret is a mismatch), refused for its product.
        let req = v4_put(&h, q);
        assert_eq!(
            verify(&req, "cb-123", wrong_secret, at(*signed_at))
                .unwrap_err()
                .code(),
            ErrorCode::SignatureDoesNotMatch
        );
        let err = verify(&req, "cb-123", secrets, at(*signed_at)).unwrap_err();
        assert!(
            err.to_string().starts_with("Invalid signing product"),
            "{err}"
        );
    }
    for (signed_at, q) in oss {
        let req = v4_put(&h, q);
        assert_eq!(
            verify(&req, REGION, secrets, at(*signed_at)),
            signed("ak"),
            "{q:?}"
        );
        // Valid from 15 minutes before x-oss-date to x-oss-date + x-oss-expires.
        assert_eq!(
            verify(&req, REGION, secrets, at(signed_at - 900)),
            signed("ak")
        );
        assert_eq!(
            verify(&req, REGION, secrets, at(signed_at + 599)),
            signed("ak")
        );
        assert_eq!(
            verify(&req, REGION, secrets, at(signed_at + 600)),
            Err(AuthError::AccessDenied("Request has expired.".into()))
        );
        assert_eq!(
            verify(&req, REGION, secrets, at(signed_at - 901))
                .unwrap_err()
                .code(),
            ErrorCode::AccessDenied
        );
        assert_eq!(
            verify(&req, REGION, wrong_secret, at(*signed_at))
                .unwrap_err()
                .code(),
            ErrorCode::SignatureDoesNotMatch
        );
    }
}

#[test]
fn v4_presign_failures() {
    let h = presign_headers();
    let base = vector_query();
    let req = v4_put(&h, &base);
    let now = at(1_700_000_000);
    let mut q = base.clone();
    q.extend(v4::presign(&req, "ak", "sk", "cn-hangzhou", now, 3600));
    let req = v4_put(&h, &q);
    assert_eq!(verify(&req, REGION, secrets, now), signed("ak"));

    let swap = |name: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut q2: Vec<(String, String)> = q.iter().filter(|(k, _)| k != name).cloned().collect();
        if let Some(value) = value {
            q2.push((name.to_owned(), value.to_owned()));
        }
        q2
    };
    let check = |q2: Vec<(String, String)>, code: ErrorCode| {
        let err = verify(&v4_put(&h, &q2), REGION, secrets, now).unwrap_err();
        assert_eq!(err.code(), code, "{err:?} {q2:?}");
    };
    check(swap("x-oss-date", None), ErrorCode::AccessDenied);
    check(
        swap("x-oss-date", Some("2023-11-14")),
        ErrorCode::AccessDenied,
    );
    check(swap("x-oss-expires", None), ErrorCode::AccessDenied);
    check(swap("x-oss-expires", Some("1h")), ErrorCode::AccessDenied);
    check(
        swap("x-oss-expires", Some("604801")),
        ErrorCode::AccessDenied,
    );
    check(
        swap("x-oss-expires", Some("7200")),
        ErrorCode::SignatureDoesNotMatch,
    );
    check(swap("x-oss-credential", None), ErrorCode::InvalidArgument);
    check(
        swap("x-oss-credential", Some("ak/x")),
        ErrorCode::InvalidArgument,
    );
    check(
        swap(
            "x-oss-credential",
            Some("nobody/20231114/cn-hangzhou/oss/aliyun_v4_request"),
        ),
        ErrorCode::InvalidAccessKeyId,
    );
    check(swap("x-oss-signature", None), ErrorCode::InvalidArgument);
    check(
        swap("x-oss-signature", Some("00")),
        ErrorCode::SignatureDoesNotMatch,
    );
    check(
        swap("param1", Some("other")),
        ErrorCode::SignatureDoesNotMatch,
    );
    // A signed header changed.
    let h2 = with_header(h.clone(), "x-oss-head1", "other");
    assert_eq!(
        verify(&v4_put(&h2, &q), REGION, secrets, now)
            .unwrap_err()
            .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    // The maximum validity is accepted.
    let mut q = base.clone();
    q.extend(v4::presign(
        &v4_put(&h, &base),
        "ak",
        "sk",
        "cn-hangzhou",
        now,
        604800,
    ));
    let req = v4_put(&h, &q);
    assert_eq!(
        verify(
            &req,
            REGION,
            secrets,
            now + std::time::Duration::from_secs(604800)
        ),
        signed("ak")
    );
}

#[test]
fn v4_presign_round_trips() {
    let now = at(1_700_000_000);
    for key in [None, Some("k"), Some("中文/a b+c"), Some("dir/")] {
        let h = headers(&[("x-oss-meta-a", "1"), ("user-agent", "test")]);
        let base = query(&[("versionId", "v/1"), ("x-oss-security-token", "tok+/=")]);
        let req = RequestParts {
            method: "GET",
            bucket: Some("bkt"),
            key,
            query: &base,
            headers: &h,
        };
        let mut q = base.clone();
        q.extend(v4::presign(&req, "ak", "sk", REGION, now, 900));
        let req = RequestParts { query: &q, ..req };
        assert_eq!(verify(&req, REGION, secrets, now), signed("ak"), "{key:?}");
    }
    // Service-level request.
    let h = HeaderMap::new();
    let req = RequestParts {
        method: "GET",
        bucket: None,
        key: None,
        query: &[],
        headers: &h,
    };
    let q = v4::presign(&req, "ak", "sk", "cn-hangzhou", now, 60);
    assert_eq!(
        verify(&RequestParts { query: &q, ..req }, REGION, secrets, now),
        signed("ak")
    );
}

#[test]
fn schemes_are_told_apart_as_verify_chooses() {
    let now = at(1_700_000_000);
    let h = HeaderMap::new();
    let base = v1_put(&h, &[]);
    assert_eq!(scheme(&base), Ok(Scheme::Anonymous));

    let h4 = v4_signed_for(&base, REGION, now);
    assert_eq!(
        scheme(&RequestParts {
            headers: &h4,
            ..base
        }),
        Ok(Scheme::V4Header)
    );
    let h1 = with_header(
        h.clone(),
        "authorization",
        &v1::authorization(&base, "ak", "sk"),
    );
    assert_eq!(
        scheme(&RequestParts {
            headers: &h1,
            ..base
        }),
        Ok(Scheme::V1Header)
    );

    let q4 = v4::presign(&base, "ak", "sk", REGION, now, 60);
    assert_eq!(
        scheme(&RequestParts { query: &q4, ..base }),
        Ok(Scheme::V4Presigned)
    );
    let q1 = v1::presign(&base, "ak", "sk", 1_700_000_060);
    assert_eq!(
        scheme(&RequestParts { query: &q1, ..base }),
        Ok(Scheme::V1Presigned)
    );

    // The header wins over presign parameters, as in verify.
    let both = RequestParts {
        headers: &h1,
        query: &q4,
        ..base
    };
    assert_eq!(scheme(&both), Ok(Scheme::V1Header));
    let h2 = with_header(
        h.clone(),
        "authorization",
        "OSS2 AccessKeyId:ak,Signature:x",
    );
    assert_eq!(
        scheme(&RequestParts {
            headers: &h2,
            ..base
        }),
        Ok(Scheme::V2Header)
    );
}

#[test]
fn v4_signed_payload_hash_is_covered_by_the_signature() {
    let now = at(1_700_000_000);
    let h = headers(&[("content-type", "application/json")]);
    let base = v1_put(&h, &[]);
    let hash = v4::payload_sha256(b"{}");
    assert_eq!(
        hash,
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    let (added, auth) = v4::authorization_with_payload(&base, "ak", "sk", REGION, now, &[], &hash);
    assert!(added.contains(&("x-oss-content-sha256", hash.clone())));
    let mut signed_h = h.clone();
    for (name, value) in added {
        signed_h.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    signed_h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let req = RequestParts {
        headers: &signed_h,
        ..base
    };
    assert_eq!(verify(&req, REGION, secrets, now), signed("ak"));
    // Another declared hash (or UNSIGNED-PAYLOAD) breaks the signature.
    for other in [v4::payload_sha256(b"{ }").as_str(), "UNSIGNED-PAYLOAD"] {
        let h2 = with_header(signed_h.clone(), "x-oss-content-sha256", other);
        assert_eq!(
            verify(
                &RequestParts {
                    headers: &h2,
                    ..base
                },
                REGION,
                secrets,
                now
            )
            .unwrap_err()
            .code(),
            ErrorCode::SignatureDoesNotMatch,
            "{other}"
        );
    }
}

#[test]
fn error_codes() {
    assert_eq!(
        AuthError::InvalidAccessKeyId {
            access_key_id: "x".into()
        }
        .code(),
        ErrorCode::InvalidAccessKeyId
    );
    assert_eq!(
        AuthError::SignatureDoesNotMatch {
            access_key_id: "x".into(),
            string_to_sign: String::new()
        }
        .code(),
        ErrorCode::SignatureDoesNotMatch
    );
    assert_eq!(
        AuthError::AccessDenied("x".into()).code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        AuthError::InvalidArgument("x".into()).code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        AuthError::AccessDenied("Request has expired.".into()).to_string(),
        "Request has expired."
    );
}

//! The published signature vectors (tests/vectors/v1.json, v4.json), each read from an official
//! SDK's test suite (its `source` field), checked against the signer's public API, and every
//! signed request of them accepted by the verifier.

use http::{HeaderMap, HeaderName, HeaderValue};
use ossvault_proto::sign::{v1, v4, verify, RequestParts, Verified};
use ossvault_proto::time::parse_http_date;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn vectors(json: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(json).expect("vector file is JSON");
    let vectors = file["vectors"].as_array().expect("a vectors array").clone();
    for v in &vectors {
        assert!(
            v["source"].as_str().is_some_and(|s| !s.is_empty()),
            "vector {} names no source",
            v["name"]
        );
    }
    vectors
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} of {}", v["name"]))
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("an array of pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn header_map(v: &Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs(v) {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    map
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn at(v: &Value, field: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(v[field].as_u64().expect(field))
}

/// Asserts that the verifier accepts `req` (signed by the vector's key) at `now`.
fn assert_verifies(v: &Value, req: &RequestParts<'_>, now: SystemTime) {
    let (ak, sk) = (str_of(v, "access_key_id"), str_of(v, "secret"));
    let region = v["region"].as_str().unwrap_or("cn-hangzhou");
    let secret_of = |id: &str| (id == ak).then(|| sk.to_owned());
    assert_eq!(
        verify(req, region, secret_of, now),
        Ok(Verified::Signed {
            access_key_id: ak.to_owned()
        }),
        "{} does not verify",
        v["name"]
    );
}

/// `req` with `extra` query pairs and headers added.
fn with_signature(
    req: &RequestParts<'_>,
    extra_query: &[(String, String)],
    extra_headers: &[(String, String)],
    check: impl FnOnce(&RequestParts<'_>),
) {
    let mut query = req.query.to_vec();
    query.extend_from_slice(extra_query);
    let mut headers = req.headers.clone();
    for (name, value) in extra_headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    check(&RequestParts {
        query: &query,
        headers: &headers,
        ..*req
    });
}

/// Runs `check` on the vector's request.
fn with_request(v: &Value, check: impl FnOnce(&RequestParts<'_>)) {
    let query = pairs(&v["query"]);
    let headers = header_map(&v["headers"]);
    let req = RequestParts {
        method: str_of(v, "method"),
        bucket: v["bucket"].as_str(),
        key: v["key"].as_str(),
        query: &query,
        headers: &headers,
    };
    check(&req);
}

#[test]
fn v1_vectors() {
    for v in vectors(include_str!("vectors/v1.json")) {
        let name = str_of(&v, "name");
        let (ak, sk) = (str_of(&v, "access_key_id"), str_of(&v, "secret"));
        with_request(&v, |req| {
            if let Some(want) = v["canonical_resource"].as_str() {
                assert_eq!(v1::canonical_resource(req), want, "{name}");
            }
            let expires = v["expires"].as_u64();
            let date = expires.map_or_else(|| str_of(&v, "date").to_owned(), |e| e.to_string());
            if let Some(want) = v["string_to_sign"].as_str() {
                assert_eq!(v1::string_to_sign(req, &date), want, "{name}");
            }
            if let Some(want) = v["authorization"].as_str() {
                assert_eq!(v1::authorization(req, ak, sk), want, "{name}");
                let signed_at = parse_http_date(&date).expect("an HTTP date");
                let auth = [("authorization".to_owned(), want.to_owned())];
                with_signature(req, &[], &auth, |r| assert_verifies(&v, r, signed_at));
            }
            if let Some(expires) = expires {
                let params = v1::presign(req, ak, sk, expires);
                let before_expiry = UNIX_EPOCH + Duration::from_secs(expires - 60);
                with_signature(req, &params, &[], |r| assert_verifies(&v, r, before_expiry));
                if v["presign_params"].is_array() {
                    assert_eq!(params, pairs(&v["presign_params"]), "{name}");
                }
                if let Some(want) = v["signature"].as_str() {
                    let got = params.iter().find(|(k, _)| k == "Signature").unwrap();
                    assert_eq!(got.1, want, "{name}");
                }
            }
        });
    }
}

#[test]
fn v4_vectors() {
    for v in vectors(include_str!("vectors/v4.json")) {
        let name = str_of(&v, "name");
        let (ak, sk) = (str_of(&v, "access_key_id"), str_of(&v, "secret"));
        let additional = strings(&v["additional_headers"]);
        with_request(&v, |req| match str_of(&v, "form") {
            "header" => {
                let (added, auth) = v4::authorization(
                    req,
                    ak,
                    sk,
                    str_of(&v, "region"),
                    at(&v, "now"),
                    &additional,
                );
                assert_eq!(auth, str_of(&v, "authorization"), "{name}");
                let mut added: Vec<(String, String)> =
                    added.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                if v["added_headers"].is_array() {
                    assert_eq!(added, pairs(&v["added_headers"]), "{name}");
                }
                added.push(("authorization".to_owned(), auth));
                with_signature(req, &[], &added, |r| assert_verifies(&v, r, at(&v, "now")));
            }
            "presign" => {
                let expires = v["expires"].as_u64().unwrap();
                let params = v4::presign(req, ak, sk, str_of(&v, "region"), at(&v, "now"), expires);
                let param = |n: &str| &params.iter().find(|(k, _)| k == n).unwrap().1;
                if v["presign_params"].is_array() {
                    assert_eq!(params, pairs(&v["presign_params"]), "{name}");
                }
                if let Some(want) = v["date"].as_str() {
                    assert_eq!(param("x-oss-date"), want, "{name}");
                }
                if let Some(want) = v["signature"].as_str() {
                    assert_eq!(param("x-oss-signature"), want, "{name}");
                }
                assert_eq!(param("x-oss-expires"), &expires.to_string(), "{name}");
                with_signature(req, &params, &[], |r| assert_verifies(&v, r, at(&v, "now")));
            }
            "canonical" => {
                let payload_hash = req
                    .headers
                    .get("x-oss-content-sha256")
                    .map_or(v4::UNSIGNED_PAYLOAD, |h| h.to_str().unwrap());
                let canonical = v4::canonical_request(req, &additional, payload_hash);
                if let Some(want) = v["canonical_request"].as_str() {
                    assert_eq!(canonical, want, "{name}");
                }
                for part in strings(&v["canonical_contains"]) {
                    assert!(canonical.contains(&part), "{name}: {part:?}");
                }
                let scope = strings(&v["scope"]);
                let scope = v4::Scope {
                    date: scope[0].clone(),
                    region: scope[1].clone(),
                    product: scope[2].clone(),
                };
                let sts = v4::string_to_sign(str_of(&v, "timestamp"), &scope, &canonical);
                if let Some(prefix) = v["string_to_sign_prefix"].as_str() {
                    assert!(sts.starts_with(prefix), "{name}");
                }
                let signature = v4::signature(&v4::signing_key(sk, &scope), &sts);
                assert_eq!(signature, str_of(&v, "signature"), "{name}");
            }
            other => panic!("{name}: unknown form {other}"),
        });
    }
}

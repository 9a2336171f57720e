//! The security review's findings, each reproduced, and the authorisation matrix: every
//! operation of [`Endpoint::ALL`] × every way a request can be refused, against the real
//! server on 127.0.0.1, asserting the exact status and that no byte of a protected object
//! appears in any answer or in any copy. `sample` matches every variant with no wildcard, so a
//! new operation cannot be added without a row here.

use super::{Endpoint, Query};
use crate::{Config, Credential, RootSecret, RunningServer};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use ossvault_proto::encode::uri_encode;
use ossvault_proto::sign::{v4, RequestParts};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

const AK: &str = "matrix-ak";
const SK: &str = "matrix-secret";
const REGION: &str = "cn-hangzhou";
/// The content of every protected object: it must never appear in a refused answer.
const MARKER: &[u8] = b"PROTECTED-5b1c0e9d-never-leaks";
const SECRET_KEY: &str = "protected/secret.txt";
const COPY_TARGET: &str = "copy-target";

/// The ways a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Anonymous,
    WrongSignature,
    ExpiredPresign,
    /// Signed by the owner, but the target bucket's policy denies this source address.
    DeniedByPolicy,
    /// Signed by the owner over plain HTTP into an HTTPS-only bucket.
    HttpsOnly,
    /// Signed; the target allows it, the copy source's bucket policy denies reading it.
    SourceDenied,
    Allowed,
}

const CASES: [Case; 7] = [
    Case::Anonymous,
    Case::WrongSignature,
    Case::ExpiredPresign,
    Case::DeniedByPolicy,
    Case::HttpsOnly,
    Case::SourceDenied,
    Case::Allowed,
];

/// One request, before signing.
struct Sample {
    method: Method,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Status when allowed.
    ok: u16,
}

/// What each case's bucket holds before its request.
struct Fixture {
    bucket: String,
    /// A bucket holding the copy source (the same bucket but for `SourceDenied`).
    source_bucket: String,
    upload_id: String,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn leaks_marker(&self) -> bool {
        contains(&self.body, MARKER)
            || self
                .headers
                .values()
                .any(|v| contains(v.as_bytes(), MARKER))
    }

    /// The `<Code>` of an XML error (or of `x-oss-err`), the `Code` of a JSON one.
    fn code(&self) -> String {
        use base64::Engine as _;
        let text = match self.headers.get("x-oss-err") {
            Some(h) => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(h.as_bytes())
                    .unwrap_or_default(),
            )
            .unwrap_or_default(),
            None => String::from_utf8_lossy(&self.body).into_owned(),
        };
        if let Some(start) = text.find("<Code>") {
            let rest = &text[start + 6..];
            return rest[..rest.find("</Code>").unwrap_or(0)].to_owned();
        }
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["Code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Harness {
    server: RunningServer,
    _dir: tempfile::TempDir,
    /// Plain HTTP from 127.0.0.1: the requests under test.
    client: reqwest::Client,
    /// HTTPS from 127.0.0.2: set-up and checks, which no case's policy denies.
    admin: reqwest::Client,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(
            dir.path().join("data"),
            "127.0.0.1:0".parse().unwrap(),
            vec![Credential {
                access_key_id: AK.into(),
                access_key_secret: SK.into(),
            }],
        );
        config.https_address = Some("127.0.0.1:0".parse().unwrap());
        config.root_secret = Some(RootSecret::from_bytes([7; 32]));
        let server = crate::start(config).await.unwrap();
        let cert =
            reqwest::Certificate::from_pem(server.certificate_pem().unwrap().as_bytes()).unwrap();
        let admin = reqwest::Client::builder()
            .add_root_certificate(cert)
            .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        Harness {
            server,
            _dir: dir,
            client: reqwest::Client::new(),
            admin,
        }
    }

    /// Sends `s` over plain HTTP as `case` says.
    async fn send(&self, s: &Sample, case: Case) -> Reply {
        let base = self.server.endpoint();
        let (query, headers) = match case {
            Case::Anonymous => (s.query.clone(), header_map(&s.headers)),
            Case::ExpiredPresign => {
                let headers = header_map(&s.headers);
                let long_ago = SystemTime::now() - Duration::from_secs(7200);
                let parts = parts(s, &s.query, &headers);
                let mut query = s.query.clone();
                query.extend(v4::presign(&parts, AK, SK, REGION, long_ago, 60));
                (query, headers)
            }
            Case::WrongSignature => (s.query.clone(), signed(s, "not-the-secret")),
            _ => (s.query.clone(), signed(s, SK)),
        };
        send(&self.client, &base, s, &query, headers).await
    }

    /// An owner request over HTTPS from 127.0.0.2 (set-up and after-checks).
    async fn admin(&self, s: &Sample) -> Reply {
        let base = self.server.https_endpoint().unwrap();
        send(&self.admin, &base, s, &s.query, signed(s, SK)).await
    }

    async fn admin_ok(&self, s: Sample) -> Reply {
        let what = format!("{} {:?} {:?}", s.method, s.bucket, s.key);
        let reply = self.admin(&s).await;
        assert!(
            (200..300).contains(&reply.status),
            "set-up {what}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        reply
    }

    /// A bucket with the protected object (SSE) and an open multipart upload with one part.
    async fn fixture(&self, bucket: &str, source_bucket: &str) -> Fixture {
        for b in [bucket, source_bucket] {
            if self.admin(&req(Method::PUT, Some(b), None)).await.status == 200 {
                let mut put = req(Method::PUT, Some(b), Some(SECRET_KEY));
                put.headers
                    .push(("x-oss-server-side-encryption".into(), "AES256".into()));
                put.body = MARKER.to_vec();
                self.admin_ok(put).await;
            }
        }
        let mut init = req(Method::POST, Some(bucket), Some("mp"));
        init.query.push(("uploads".into(), String::new()));
        let reply = self.admin_ok(init).await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        let upload_id = between(&text, "<UploadId>", "</UploadId>");
        let mut part = req(Method::PUT, Some(bucket), Some("mp"));
        part.query.push(("partNumber".into(), "1".into()));
        part.query.push(("uploadId".into(), upload_id.clone()));
        part.body = vec![b'p'; 100];
        self.admin_ok(part).await;
        Fixture {
            bucket: bucket.to_owned(),
            source_bucket: source_bucket.to_owned(),
            upload_id,
        }
    }

    async fn put_policy(&self, bucket: &str, policy: String) {
        let mut put = req(Method::PUT, Some(bucket), None);
        put.query.push(("policy".into(), String::new()));
        put.body = policy.into_bytes();
        self.admin_ok(put).await;
    }
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text.find(open).expect(open) + open.len();
    text[start..start + text[start..].find(close).expect(close)].to_owned()
}

fn req(method: Method, bucket: Option<&str>, key: Option<&str>) -> Sample {
    Sample {
        method,
        bucket: bucket.map(str::to_owned),
        key: key.map(str::to_owned),
        query: Vec::new(),
        headers: Vec::new(),
        body: Vec::new(),
        ok: 200,
    }
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn parts<'a>(
    s: &'a Sample,
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
) -> RequestParts<'a> {
    RequestParts {
        method: s.method.as_str(),
        bucket: s.bucket.as_deref(),
        key: s.key.as_deref(),
        query,
        headers,
    }
}

/// V4 header signature over the headers, the query and the body's SHA-256.
fn signed(s: &Sample, secret: &str) -> HeaderMap {
    let now = SystemTime::now();
    let timestamp = ossvault_proto::time::v4_timestamp(now);
    let payload = hex::encode(Sha256::digest(&s.body));
    let mut headers = header_map(&s.headers);
    headers.insert("x-oss-date", HeaderValue::from_str(&timestamp).unwrap());
    headers.insert(
        "x-oss-content-sha256",
        HeaderValue::from_str(&payload).unwrap(),
    );
    let scope = v4::Scope {
        date: timestamp[..8].to_owned(),
        region: REGION.to_owned(),
        product: "oss".to_owned(),
    };
    let canonical = v4::canonical_request(&parts(s, &s.query, &headers), &[], &payload);
    let signature = v4::signature(
        &v4::signing_key(secret, &scope),
        &v4::string_to_sign(&timestamp, &scope, &canonical),
    );
    let value = format!(
        "OSS4-HMAC-SHA256 Credential={AK}/{},Signature={signature}",
        scope.to_credential_suffix()
    );
    headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
    headers
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    s: &Sample,
    query: &[(String, String)],
    headers: HeaderMap,
) -> Reply {
    let mut url = base.to_owned();
    url.push('/');
    if let Some(b) = &s.bucket {
        url.push_str(b);
        url.push('/');
    }
    if let Some(k) = &s.key {
        url.push_str(&ossvault_proto::encode::uri_encode_path(k));
    }
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| match v.is_empty() {
                true => uri_encode(k),
                false => format!("{}={}", uri_encode(k), uri_encode(v)),
            })
            .collect();
        url.push('?');
        url.push_str(&pairs.join("&"));
    }
    let mut headers = headers;
    // Headers reqwest would otherwise not send on an empty body: keep them as signed.
    headers.insert("content-length", s.body.len().into());
    let r = client
        .request(s.method.clone(), url)
        .headers(headers)
        .body(s.body.clone())
        .send()
        .await
        .unwrap();
    Reply {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// The request that exercises `e` against `f`. No wildcard arm: every variant needs one.
fn sample(e: Endpoint, f: &Fixture) -> Sample {
    use Endpoint::*;
    let b = Some(f.bucket.as_str());
    let bucket = |m: Method, sub: &[(&str, &str)]| {
        let mut s = req(m, b, None);
        s.query = sub
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s
    };
    let object = |m: Method, key: &str, sub: &[(&str, &str)]| {
        let mut s = req(m, b, Some(key));
        s.query = sub
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s
    };
    let copy_source = format!("/{}/{}", f.source_bucket, uri_encode(SECRET_KEY));
    let upload: &[(&str, &str)] = &[("uploadId", &f.upload_id)];
    match e {
        ListBuckets => req(Method::GET, None, None),
        DescribeRegions => {
            let mut s = req(Method::GET, None, None);
            s.query.push(("regions".into(), String::new()));
            s
        }
        GetPublicAccessBlock | PutPublicAccessBlock | DeletePublicAccessBlock => {
            let method = match e {
                GetPublicAccessBlock => Method::GET,
                PutPublicAccessBlock => Method::PUT,
                _ => Method::DELETE,
            };
            let mut s = req(method, None, None);
            s.query.push(("publicAccessBlock".into(), String::new()));
            if e == DeletePublicAccessBlock {
                s.ok = 204;
            }
            s
        }
        GetBucketPublicAccessBlock => bucket(Method::GET, &[("publicAccessBlock", "")]),
        PutBucketPublicAccessBlock => bucket(Method::PUT, &[("publicAccessBlock", "")]),
        DeleteBucketPublicAccessBlock => {
            let mut s = bucket(Method::DELETE, &[("publicAccessBlock", "")]);
            s.ok = 204;
            s
        }
        PutBucket => bucket(Method::PUT, &[]),
        DeleteBucket => {
            // Refused while objects remain: 409 is the allowed outcome here, and it still
            // proves the request got past authorisation.
            let mut s = bucket(Method::DELETE, &[]);
            s.ok = 409;
            s
        }
        GetBucketInfo => bucket(Method::GET, &[("bucketInfo", "")]),
        GetBucketVersioning => bucket(Method::GET, &[("versioning", "")]),
        PutBucketVersioning => {
            // A status OSS does not know: 400 MalformedXML once past authorisation, and the
            // fixture's bucket stays unversioned for the other samples.
            let mut s = bucket(Method::PUT, &[("versioning", "")]);
            s.body =
                b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>"
                    .to_vec();
            s.ok = 400;
            s
        }
        ListObjectVersions => bucket(Method::GET, &[("versions", "")]),
        GetBucketLocation => bucket(Method::GET, &[("location", "")]),
        GetBucketStat => bucket(Method::GET, &[("stat", "")]),
        GetBucketAcl => bucket(Method::GET, &[("acl", "")]),
        PutBucketAcl => {
            let mut s = bucket(Method::PUT, &[("acl", "")]);
            s.headers.push(("x-oss-acl".into(), "private".into()));
            s
        }
        GetBucketPolicyStatus => bucket(Method::GET, &[("policyStatus", "")]),
        GetBucketPolicy => {
            // No policy on the allowed case's bucket: 404 NoSuchBucketPolicy once past auth.
            let mut s = bucket(Method::GET, &[("policy", "")]);
            s.ok = 404;
            s
        }
        PutBucketPolicy => {
            let mut s = bucket(Method::PUT, &[("policy", "")]);
            s.body = format!(
                r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["{AK}"],"Resource":["acs:oss:*:*:{}/*"]}}]}}"#,
                f.bucket
            )
            .into_bytes();
            s
        }
        DeleteBucketPolicy => {
            let mut s = bucket(Method::DELETE, &[("policy", "")]);
            s.ok = 204;
            s
        }
        GetBucketEncryption => {
            let mut s = bucket(Method::GET, &[("encryption", "")]);
            s.ok = 404;
            s
        }
        PutBucketEncryption => {
            let mut s = bucket(Method::PUT, &[("encryption", "")]);
            s.body = b"<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></ServerSideEncryptionRule>".to_vec();
            s
        }
        DeleteBucketEncryption => {
            let mut s = bucket(Method::DELETE, &[("encryption", "")]);
            s.ok = 204;
            s
        }
        ListLiveChannels => bucket(Method::GET, &[("live", "")]),
        ListObjects => bucket(Method::GET, &[]),
        ListObjectsV2 => bucket(Method::GET, &[("list-type", "2")]),
        ListMultipartUploads => bucket(Method::GET, &[("uploads", "")]),
        DeleteMultipleObjects => {
            let mut s = bucket(Method::POST, &[("delete", "")]);
            s.body = format!(
                "<Delete><Quiet>false</Quiet><Object><Key>{SECRET_KEY}</Key></Object></Delete>"
            )
            .into_bytes();
            s
        }
        PutObject => {
            let mut s = object(Method::PUT, SECRET_KEY, &[]);
            s.body = b"overwritten".to_vec();
            s
        }
        CopyObject => {
            let mut s = object(Method::PUT, COPY_TARGET, &[]);
            s.headers.push(("x-oss-copy-source".into(), copy_source));
            s.headers
                .push(("x-oss-object-acl".into(), "public-read".into()));
            s
        }
        GetObject => object(Method::GET, SECRET_KEY, &[]),
        HeadObject => object(Method::HEAD, SECRET_KEY, &[]),
        GetObjectMeta => object(Method::HEAD, SECRET_KEY, &[("objectMeta", "")]),
        DeleteObject => {
            let mut s = object(Method::DELETE, SECRET_KEY, &[]);
            s.ok = 204;
            s
        }
        AppendObject => {
            let mut s = object(
                Method::POST,
                "appendable",
                &[("append", ""), ("position", "0")],
            );
            s.body = b"appended".to_vec();
            s
        }
        GetObjectAcl => object(Method::GET, SECRET_KEY, &[("acl", "")]),
        PutObjectAcl => {
            let mut s = object(Method::PUT, SECRET_KEY, &[("acl", "")]);
            s.headers
                .push(("x-oss-object-acl".into(), "public-read".into()));
            s
        }
        GetObjectTagging => object(Method::GET, SECRET_KEY, &[("tagging", "")]),
        PutObjectTagging => {
            let mut s = object(Method::PUT, SECRET_KEY, &[("tagging", "")]);
            s.body = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"
                .to_vec();
            s
        }
        DeleteObjectTagging => {
            let mut s = object(Method::DELETE, SECRET_KEY, &[("tagging", "")]);
            s.ok = 204;
            s
        }
        PutSymlink => {
            let mut s = object(Method::PUT, "link", &[("symlink", "")]);
            s.headers
                .push(("x-oss-symlink-target".into(), uri_encode(SECRET_KEY)));
            s
        }
        GetSymlink => {
            // The protected object is no link: allowed, the answer is 400 NotSymlink.
            let mut s = object(Method::GET, SECRET_KEY, &[("symlink", "")]);
            s.ok = 400;
            s
        }
        // The protected object is Standard: allowed, the answer is 400 OperationNotSupported.
        RestoreObject => {
            let mut s = object(Method::POST, SECRET_KEY, &[("restore", "")]);
            s.ok = 400;
            s
        }
        CleanRestoredObject => {
            let mut s = object(Method::POST, SECRET_KEY, &[("cleanRestoredObject", "")]);
            s.ok = 400;
            s
        }
        InitiateMultipartUpload => object(Method::POST, "mp2", &[("uploads", "")]),
        UploadPart => {
            let mut s = object(
                Method::PUT,
                "mp",
                &[("partNumber", "2"), ("uploadId", &f.upload_id)],
            );
            s.body = vec![b'q'; 10];
            s
        }
        UploadPartCopy => {
            let mut s = object(
                Method::PUT,
                "mp",
                &[("partNumber", "3"), ("uploadId", &f.upload_id)],
            );
            s.headers.push(("x-oss-copy-source".into(), copy_source));
            s
        }
        CompleteMultipartUpload => {
            let mut s = object(Method::POST, "mp", upload);
            s.headers.push(("x-oss-complete-all".into(), "yes".into()));
            s
        }
        AbortMultipartUpload => {
            let mut s = object(Method::DELETE, "mp", upload);
            s.ok = 204;
            s
        }
        ListParts => object(Method::GET, "mp", upload),
        Kms => {
            let mut s = req(Method::POST, Some("_kms"), None);
            s.query.push(("Action".into(), "ListKeys".into()));
            s
        }
        Admin => {
            let mut s = req(Method::POST, Some("_admin"), None);
            s.query.push(("Action".into(), "Scrub".into()));
            s.query.push(("MaxRate".into(), "0".into()));
            s
        }
    }
}

/// The status `case` must produce for `e`.
fn expected(e: Endpoint, case: Case, allowed: u16) -> (u16, Option<&'static str>) {
    let copies = matches!(e, Endpoint::CopyObject | Endpoint::UploadPartCopy);
    let no_bucket_policy = matches!(
        e,
        Endpoint::ListBuckets
            | Endpoint::DescribeRegions
            | Endpoint::GetPublicAccessBlock
            | Endpoint::PutPublicAccessBlock
            | Endpoint::DeletePublicAccessBlock
            | Endpoint::Kms
            | Endpoint::Admin
    );
    match case {
        Case::Anonymous => (403, Some("AccessDenied")),
        Case::WrongSignature => (403, Some("SignatureDoesNotMatch")),
        Case::ExpiredPresign => (403, Some("AccessDenied")),
        Case::DeniedByPolicy | Case::HttpsOnly if no_bucket_policy => (allowed, None),
        Case::DeniedByPolicy | Case::HttpsOnly => (403, Some("AccessDenied")),
        Case::SourceDenied if copies => (403, Some("AccessDenied")),
        Case::SourceDenied | Case::Allowed => (allowed, None),
    }
}

/// After a refused request: the protected object is intact and no copy of it was made.
async fn assert_untouched(h: &Harness, f: &Fixture, what: &str) {
    let got = h
        .admin(&req(Method::GET, Some(&f.bucket), Some(SECRET_KEY)))
        .await;
    assert_eq!(got.status, 200, "{what}: the protected object is gone");
    assert_eq!(got.body, MARKER, "{what}: the protected object changed");
    let copy = h
        .admin(&req(Method::HEAD, Some(&f.bucket), Some(COPY_TARGET)))
        .await;
    assert_eq!(copy.status, 404, "{what}: a copy target appeared");
    let mut parts = req(Method::GET, Some(&f.bucket), Some("mp"));
    parts.query.push(("uploadId".into(), f.upload_id.clone()));
    let listed = h.admin(&parts).await;
    assert!(
        !contains(&listed.body, b"<PartNumber>3</PartNumber>")
            && !contains(&listed.body, b"<PartNumber>2</PartNumber>"),
        "{what}: a part was added"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_under_every_refusal() {
    let h = Harness::start().await;
    let mut checked = 0;
    for (i, &e) in Endpoint::ALL.iter().enumerate() {
        for (j, &case) in CASES.iter().enumerate() {
            let bucket = format!("m{i}-{j}");
            let source = match case {
                Case::SourceDenied => format!("m{i}-{j}-src"),
                _ => bucket.clone(),
            };
            let f = h.fixture(&bucket, &source).await;
            match case {
                Case::DeniedByPolicy => {
                    h.put_policy(
                        &bucket,
                        format!(
                            r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":["oss:*"],"Principal":["*"],"Resource":["acs:oss:*:*:{bucket}","acs:oss:*:*:{bucket}/*"],"Condition":{{"IpAddress":{{"acs:SourceIp":["127.0.0.1/32"]}}}}}}]}}"#
                        ),
                    )
                    .await
                }
                Case::HttpsOnly => {
                    h.put_policy(&bucket, ossvault_proto::policy::https_only(&bucket))
                        .await
                }
                Case::SourceDenied => {
                    h.put_policy(
                        &source,
                        format!(
                            r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":["oss:GetObject"],"Principal":["*"],"Resource":["acs:oss:*:*:{source}/*"],"Condition":{{"IpAddress":{{"acs:SourceIp":["127.0.0.1/32"]}}}}}}]}}"#
                        ),
                    )
                    .await
                }
                _ => {}
            }
            let s = sample(e, &f);
            if !matches!(e, Endpoint::Kms | Endpoint::Admin) {
                let query = Query(s.query.clone());
                let routed = Endpoint::route(
                    &s.method,
                    s.bucket.as_deref(),
                    s.key.as_deref(),
                    &query,
                    &header_map(&s.headers),
                );
                assert_eq!(
                    routed.ok(),
                    Some(e),
                    "the sample for {e:?} routes elsewhere"
                );
            }
            let reply = h.send(&s, case).await;
            let (status, code) = expected(e, case, s.ok);
            let what = format!("{e:?} / {case:?}");
            assert_eq!(
                reply.status,
                status,
                "{what}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            if let Some(code) = code {
                assert_eq!(reply.code(), code, "{what}");
            }
            if e == Endpoint::GetObject && reply.status == 200 {
                // The detector sees the marker where it is meant to be seen.
                assert!(
                    reply.leaks_marker(),
                    "{what}: the allowed GET lost the content"
                );
            } else {
                assert!(
                    !reply.leaks_marker(),
                    "{what}: protected bytes in the answer"
                );
            }
            if reply.status == 403 {
                assert_untouched(&h, &f, &what).await;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Endpoint::ALL.len() * CASES.len());
    h.server.shutdown().await;
}

/// Finding 1: a bucket whose policy lets anyone write (an "inbox") must not let anyone copy a
/// private object of another bucket into it, by CopyObject or by UploadPartCopy; and a signed
/// copy over plain HTTP must not read out of an HTTPS-only bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_reads_its_source_only_as_a_get_of_it_may() {
    let h = Harness::start().await;
    h.fixture("priv", "priv").await;
    h.fixture("inbox", "inbox").await;
    h.put_policy(
        "inbox",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Principal":["*"],"Resource":["acs:oss:*:*:inbox/*"]}]}"#.to_owned(),
    )
    .await;
    let source = format!("/priv/{}", uri_encode(SECRET_KEY));

    // The inbox works for what it is for: an anonymous upload.
    let mut put = req(Method::PUT, Some("inbox"), Some("dropped"));
    put.body = b"hello".to_vec();
    assert_eq!(h.send(&put, Case::Anonymous).await.status, 200);

    let mut copy = req(Method::PUT, Some("inbox"), Some("x"));
    copy.headers
        .push(("x-oss-copy-source".into(), source.clone()));
    copy.headers
        .push(("x-oss-object-acl".into(), "public-read".into()));
    let reply = h.send(&copy, Case::Anonymous).await;
    assert_eq!((reply.status, reply.code().as_str()), (403, "AccessDenied"));
    assert!(!reply.leaks_marker());
    let after = h.admin(&req(Method::HEAD, Some("inbox"), Some("x"))).await;
    assert_eq!(after.status, 404, "the copy was written");

    let mut init = req(Method::POST, Some("inbox"), Some("y"));
    init.query.push(("uploads".into(), String::new()));
    let reply = h.send(&init, Case::Anonymous).await;
    assert_eq!(reply.status, 200);
    let upload_id = between(
        &String::from_utf8_lossy(&reply.body),
        "<UploadId>",
        "</UploadId>",
    );
    let mut part = req(Method::PUT, Some("inbox"), Some("y"));
    part.query.push(("partNumber".into(), "1".into()));
    part.query.push(("uploadId".into(), upload_id.clone()));
    part.headers
        .push(("x-oss-copy-source".into(), source.clone()));
    let reply = h.send(&part, Case::Anonymous).await;
    assert_eq!((reply.status, reply.code().as_str()), (403, "AccessDenied"));
    let mut list = req(Method::GET, Some("inbox"), Some("y"));
    list.query.push(("uploadId".into(), upload_id));
    let listed = h.admin(&list).await;
    assert!(!contains(&listed.body, b"<Part>"), "a part was copied in");

    // A public-read source may be copied anonymously, as it may be read.
    let mut acl = req(Method::PUT, Some("priv"), Some(SECRET_KEY));
    acl.query.push(("acl".into(), String::new()));
    acl.headers
        .push(("x-oss-object-acl".into(), "public-read".into()));
    h.admin_ok(acl).await;
    assert_eq!(h.send(&copy, Case::Anonymous).await.status, 200);
    let copied = h.admin(&req(Method::GET, Some("inbox"), Some("x"))).await;
    assert_eq!(copied.body, MARKER);

    // Signed, over plain HTTP, out of an HTTPS-only bucket: refused; over HTTPS: allowed.
    h.fixture("tls-only", "tls-only").await;
    h.put_policy("tls-only", ossvault_proto::policy::https_only("tls-only"))
        .await;
    let mut copy = req(Method::PUT, Some("inbox"), Some("z"));
    copy.headers.push((
        "x-oss-copy-source".into(),
        format!("/tls-only/{}", uri_encode(SECRET_KEY)),
    ));
    let reply = h.send(&copy, Case::Allowed).await;
    assert_eq!((reply.status, reply.code().as_str()), (403, "AccessDenied"));
    assert_eq!(
        h.admin(&req(Method::HEAD, Some("inbox"), Some("z")))
            .await
            .status,
        404
    );
    assert_eq!(h.admin(&copy).await.status, 200);
    h.server.shutdown().await;
}

/// Finding 2: DeleteMultipleObjects authorises each key as a DELETE of it would be: a key the
/// policy protects is reported as AccessDenied and kept, the others are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiple_delete_is_authorised_key_by_key() {
    let h = Harness::start().await;
    h.fixture("keep", "keep").await;
    let mut put = req(Method::PUT, Some("keep"), Some("scratch/a"));
    put.body = b"a".to_vec();
    h.admin_ok(put).await;
    h.put_policy(
        "keep",
        format!(r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":["oss:DeleteObject"],"Principal":["{AK}"],"Resource":["acs:oss:*:*:keep/protected/*"]}}]}}"#),
    )
    .await;
    // A single DELETE of the protected key was already refused.
    let delete = req(Method::DELETE, Some("keep"), Some(SECRET_KEY));
    assert_eq!(h.send(&delete, Case::Allowed).await.status, 403);

    let mut multi = req(Method::POST, Some("keep"), None);
    multi.query.push(("delete".into(), String::new()));
    multi.body = format!(
        "<Delete><Quiet>false</Quiet><Object><Key>{SECRET_KEY}</Key></Object><Object><Key>scratch/a</Key></Object></Delete>"
    )
    .into_bytes();
    let reply = h.send(&multi, Case::Allowed).await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(
        text.contains(&format!(
            "<Error><Key>{SECRET_KEY}</Key><Code>AccessDenied</Code>"
        )),
        "{text}"
    );
    assert!(
        text.contains("<Deleted><Key>scratch/a</Key></Deleted>"),
        "{text}"
    );
    assert!(!text.contains(&format!("<Deleted><Key>{SECRET_KEY}</Key>")));
    let kept = h
        .admin(&req(Method::GET, Some("keep"), Some(SECRET_KEY)))
        .await;
    assert_eq!(kept.body, MARKER);
    let gone = h
        .admin(&req(Method::HEAD, Some("keep"), Some("scratch/a")))
        .await;
    assert_eq!(gone.status, 404);
    h.server.shutdown().await;
}

/// Finding 5: a control character in a `response-*` override is a 400, not a panic; and no
/// request path panics the connection away: a handler that panics answers 500 and the server
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_response_overrides_are_refused_and_panics_answer_500() {
    let h = Harness::start().await;
    h.fixture("pub", "pub").await;
    let mut acl = req(Method::PUT, Some("pub"), None);
    acl.query.push(("acl".into(), String::new()));
    acl.headers.push(("x-oss-acl".into(), "public-read".into()));
    h.admin_ok(acl).await;
    for name in [
        "response-content-disposition",
        "response-content-type",
        "response-cache-control",
    ] {
        for bad in ["x\u{1}y", "a\r\nx-evil: 1", "\u{7f}"] {
            let mut get = req(Method::GET, Some("pub"), Some(SECRET_KEY));
            get.query.push((name.into(), bad.into()));
            let reply = h.send(&get, Case::Anonymous).await;
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (400, "InvalidArgument"),
                "{name}={bad:?}"
            );
            assert!(reply.headers.get("x-evil").is_none());
        }
    }
    let mut get = req(Method::GET, Some("pub"), Some(SECRET_KEY));
    get.query.push((
        "response-content-disposition".into(),
        "attachment; filename=\"a b.txt\"".into(),
    ));
    let reply = h.send(&get, Case::Anonymous).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-disposition"],
        "attachment; filename=\"a b.txt\""
    );

    let mut boom = req(Method::GET, Some("pub"), Some(SECRET_KEY));
    boom.headers
        .push((super::TEST_PANIC_HEADER.into(), "1".into()));
    let reply = h.send(&boom, Case::Allowed).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (500, "InternalError")
    );
    assert!(!reply.leaks_marker());
    // The server is still there.
    let reply = h.send(&get, Case::Anonymous).await;
    assert_eq!(reply.status, 200);
    h.server.shutdown().await;
}

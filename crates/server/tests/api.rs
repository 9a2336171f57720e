//! The real server on 127.0.0.1, driven over HTTP by reqwest: authentication, bad input,
//! limits, and the response envelope. (SDK interoperability lives in `tests/interop`.)

use base64::Engine as _;
use ossvault_proto::sign::{v1, RequestParts};
use ossvault_server::{Config, RunningServer};
use reqwest::{Method, StatusCode};
use std::time::{Duration, SystemTime};

mod common;
use common::{config_in, test_config, AK, SK};

struct TestServer {
    server: RunningServer,
    dir: tempfile::TempDir,
    client: reqwest::Client,
    /// Where requests go: the HTTP endpoint unless a test switches to HTTPS.
    base: String,
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an error body, or of `x-oss-err` on a bodiless response.
    fn code(&self) -> String {
        let xml = if self.body.is_empty() {
            let header = self
                .headers
                .get("x-oss-err")
                .expect("x-oss-err on bodiless error");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(header.as_bytes())
                .unwrap();
            String::from_utf8(raw).unwrap()
        } else {
            self.text()
        };
        let start = xml.find("<Code>").expect("error code") + 6;
        let end = xml[start..].find("</Code>").unwrap() + start;
        xml[start..end].to_owned()
    }
}

impl TestServer {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let (dir, config) = test_config(adjust);
        let server = ossvault_server::start(config).await.unwrap();
        TestServer {
            base: server.endpoint(),
            server,
            dir,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// A V1-signed request. `raw_path` is the encoded path, `key` the decoded key.
    #[allow(clippy::too_many_arguments)]
    async fn signed(
        &self,
        method: Method,
        bucket: Option<&str>,
        raw_path: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
        secret: &str,
    ) -> Reply {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "date",
            ossvault_proto::time::http_date(SystemTime::now())
                .parse()
                .unwrap(),
        );
        for (k, v) in extra {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let parts = RequestParts {
            method: method.as_str(),
            bucket,
            key,
            query: &q,
            headers: &headers,
        };
        let auth = v1::authorization(&parts, AK, secret);
        headers.insert("authorization", auth.parse().unwrap());
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={}", ossvault_proto::encode::uri_encode(v))
                }
            })
            .collect();
        let url = if qs.is_empty() {
            self.url(raw_path)
        } else {
            self.url(&format!("{raw_path}?{}", qs.join("&")))
        };
        let r = self
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }

    async fn put_bucket(&self, bucket: &str) -> Reply {
        self.signed(
            Method::PUT,
            Some(bucket),
            &format!("/{bucket}/"),
            None,
            &[],
            &[],
            vec![],
            SK,
        )
        .await
    }

    async fn put_object(&self, bucket: &str, key: &str, body: &[u8]) -> Reply {
        let path = object_path(bucket, key);
        self.signed(
            Method::PUT,
            Some(bucket),
            &path,
            Some(key),
            &[],
            &[],
            body.to_vec(),
            SK,
        )
        .await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Reply {
        let path = object_path(bucket, key);
        self.signed(
            Method::GET,
            Some(bucket),
            &path,
            Some(key),
            &[],
            &[],
            vec![],
            SK,
        )
        .await
    }

    async fn anonymous(&self, method: Method, path: &str, body: Vec<u8>) -> Reply {
        let r = self
            .client
            .request(method, self.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }
}

/// The encoded path of an object (`/` inside the key encoded, as oss2 sends it).
fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", ossvault_proto::encode::uri_encode(key))
}

#[tokio::test]
async fn every_response_carries_the_oss_envelope() {
    let s = TestServer::start().await;
    for reply in [
        s.put_bucket("envelope").await,
        s.get_object("envelope", "missing").await,
    ] {
        assert_eq!(reply.headers["server"], "AliyunOSS");
        assert!(reply.headers.contains_key("date"));
        let id = reply.headers["x-oss-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 24, "request id {id}");
    }
    let missing = s.get_object("envelope", "missing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "NoSuchKey");
    assert!(missing.text().contains("<RequestId>"));
    // HEAD errors have no body: the code travels base64-encoded in x-oss-err.
    let path = "/envelope/missing";
    let head = s
        .signed(
            Method::HEAD,
            Some("envelope"),
            path,
            Some("missing"),
            &[],
            &[],
            vec![],
            SK,
        )
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    assert!(head.body.is_empty());
    assert_eq!(head.code(), "NoSuchKey");
}

#[tokio::test]
async fn signatures_are_checked() {
    let s = TestServer::start().await;
    let wrong = s
        .signed(
            Method::PUT,
            Some("sig"),
            "/sig/",
            None,
            &[],
            &[],
            vec![],
            "not-the-secret",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "SignatureDoesNotMatch");
    assert!(
        wrong.text().contains("<StringToSign>"),
        "the server shows what it signed"
    );
    assert!(
        !wrong.text().contains(SK),
        "the secret never appears in a response"
    );
    assert_eq!(s.put_bucket("sig").await.status, StatusCode::OK);

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "date",
        ossvault_proto::time::http_date(SystemTime::now())
            .parse()
            .unwrap(),
    );
    headers.insert("authorization", "OSS nobody:AAAA".parse().unwrap());
    let r = s
        .client
        .get(s.url("/sig/"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>InvalidAccessKeyId</Code>"));

    let stale = SystemTime::now() - Duration::from_secs(20 * 60);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "date",
        ossvault_proto::time::http_date(stale).parse().unwrap(),
    );
    let parts = RequestParts {
        method: "GET",
        bucket: Some("sig"),
        key: None,
        query: &[],
        headers: &headers,
    };
    headers.insert(
        "authorization",
        v1::authorization(&parts, AK, SK).parse().unwrap(),
    );
    let r = s
        .client
        .get(s.url("/sig/"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>RequestTimeTooSkewed</Code>"));
}

#[tokio::test]
async fn anonymous_access_follows_the_acls() {
    let s = TestServer::start().await;
    s.put_bucket("private").await;
    s.put_object("private", "k", b"secret").await;
    let r = s.anonymous(Method::GET, "/private/k", vec![]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "AccessDenied")
    );
    let r = s.anonymous(Method::GET, "/", vec![]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "listing buckets needs a signature"
    );

    let acl = [("x-oss-acl", "public-read")];
    s.signed(
        Method::PUT,
        Some("public"),
        "/public/",
        None,
        &[],
        &acl,
        vec![],
        SK,
    )
    .await;
    s.put_object("public", "k", b"hello").await;
    let r = s.anonymous(Method::GET, "/public/k", vec![]).await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (StatusCode::OK, &b"hello"[..])
    );
    let r = s
        .anonymous(Method::PUT, "/public/k", b"overwrite".to_vec())
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "AccessDenied")
    );
    assert_eq!(
        s.get_object("public", "k").await.body,
        b"hello",
        "a refused write changes nothing"
    );

    // An object ACL overrides its bucket's.
    let q = [("acl", "")];
    let oacl = [("x-oss-object-acl", "private")];
    let r = s
        .signed(
            Method::PUT,
            Some("public"),
            "/public/k",
            Some("k"),
            &q,
            &oacl,
            vec![],
            SK,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        s.anonymous(Method::GET, "/public/k", vec![]).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn keys_never_become_paths() {
    let s = TestServer::start().await;
    s.put_bucket("paths").await;
    // (A bare `..` key cannot be sent by URL-parsing clients: they resolve the segment.)
    let evil = [
        "../../../../../../tmp/ossvault-escape",
        "./.",
        "a/../../b",
        "/..%2F",
        "\\..\\x",
    ];
    for key in &evil[..3] {
        let r = s.put_object("paths", key, key.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "key {key:?} is a valid OSS key");
        assert_eq!(s.get_object("paths", key).await.body, key.as_bytes());
    }
    for key in &evil[3..] {
        let r = s.put_object("paths", key, b"x").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, "InvalidObjectName"),
            "key {key:?}"
        );
    }
    assert!(!std::path::Path::new("/tmp/ossvault-escape").exists());
    // Nothing but the store's own layout exists in the data directory.
    for entry in std::fs::read_dir(s.dir.path().join("data")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            ["meta.redb", "blobs", "tmp"].contains(&name.as_str()),
            "unexpected {name}"
        );
    }
}

#[tokio::test]
async fn names_and_sizes_are_bounded() {
    let s = TestServer::start_with(|c| {
        c.max_object_size = 1024;
        c.max_xml_body = 512;
    })
    .await;
    let r = s.put_bucket("Bad_Name").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "InvalidBucketName")
    );
    s.put_bucket("limits").await;
    let long = "k".repeat(1024);
    let r = s.put_object("limits", &long, b"x").await;
    assert_eq!(r.code(), "InvalidObjectName");
    assert_eq!(
        s.put_object("limits", &"k".repeat(1023), b"x").await.status,
        StatusCode::OK
    );

    let r = s.put_object("limits", "big", &vec![7u8; 1025]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "EntityTooLarge")
    );
    assert_eq!(s.get_object("limits", "big").await.code(), "NoSuchKey");

    let body = format!(
        "<Delete>{}</Delete>",
        "<Object><Key>k</Key></Object>".repeat(40)
    )
    .into_bytes();
    let q = [("delete", "")];
    let r = s
        .signed(
            Method::POST,
            Some("limits"),
            "/limits/",
            None,
            &q,
            &[],
            body,
            SK,
        )
        .await;
    assert_eq!(r.code(), "EntityTooLarge");
    assert!(
        s.dir
            .path()
            .join("data/tmp")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "no temp file left"
    );
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_and_change_nothing() {
    let s = TestServer::start().await;
    s.put_bucket("bad").await;
    s.put_object("bad", "keep", b"original").await;

    let q = [("delete", "")];
    let r = s
        .signed(
            Method::POST,
            Some("bad"),
            "/bad/",
            None,
            &q,
            &[],
            b"<Delete><Object>".to_vec(),
            SK,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "MalformedXML")
    );
    let entity = br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "keep">]><Delete><Object><Key>&x;</Key></Object></Delete>"#;
    let r = s
        .signed(
            Method::POST,
            Some("bad"),
            "/bad/",
            None,
            &q,
            &[],
            entity.to_vec(),
            SK,
        )
        .await;
    assert_eq!(r.code(), "MalformedXML", "DTDs and entities are refused");
    assert_eq!(s.get_object("bad", "keep").await.body, b"original");

    let md5 = [("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")]; // MD5 of the empty string
    let r = s
        .signed(
            Method::PUT,
            Some("bad"),
            "/bad/keep",
            Some("keep"),
            &[],
            &md5,
            b"other".to_vec(),
            SK,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "InvalidDigest")
    );
    assert_eq!(s.get_object("bad", "keep").await.body, b"original");

    let q = [("website", "")];
    let r = s
        .signed(
            Method::PUT,
            Some("bad"),
            "/bad/keep",
            Some("keep"),
            &q,
            &[],
            b"<WebsiteConfiguration/>".to_vec(),
            SK,
        )
        .await;
    assert_eq!(
        r.code(),
        "NotImplemented",
        "an unknown sub-resource never falls through to PutObject"
    );
    assert_eq!(s.get_object("bad", "keep").await.body, b"original");
    // Bucket overwrite protection is not implemented: neither PutBucket nor ListObjects.
    for method in [Method::PUT, Method::GET, Method::DELETE] {
        let q = [("overwriteConfig", "")];
        let r = s
            .signed(
                method.clone(),
                Some("bad"),
                "/bad/",
                None,
                &q,
                &[],
                Vec::new(),
                SK,
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
            "{method} ?overwriteConfig"
        );
    }
    // ... once the request is authenticated, as OSS authenticates first.
    let q = [("overwriteConfig", "")];
    let r = s
        .signed(
            Method::PUT,
            Some("bad"),
            "/bad/",
            None,
            &q,
            &[],
            Vec::new(),
            "not-the-secret",
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "SignatureDoesNotMatch")
    );
    assert_eq!(s.get_object("bad", "keep").await.body, b"original");
    // Nor does one it knows: PutObjectTagging sets tags and leaves the content.
    let q = [("tagging", "")];
    let r = s
        .signed(
            Method::PUT,
            Some("bad"),
            "/bad/keep",
            Some("keep"),
            &q,
            &[],
            b"<Tagging><TagSet/></Tagging>".to_vec(),
            SK,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(s.get_object("bad", "keep").await.body, b"original");

    let q = [("uploadId", "0000"), ("partNumber", "1")];
    let r = s
        .signed(
            Method::PUT,
            Some("bad"),
            "/bad/keep",
            Some("keep"),
            &q,
            &[],
            b"x".to_vec(),
            SK,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NoSuchUpload")
    );
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.header_timeout = Duration::from_millis(500)).await;
    let mut conn = tokio::net::TcpStream::connect(s.server.local_addr())
        .await
        .unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the server closes a connection whose head never finishes"
    );
}

#[tokio::test]
async fn shutdown_is_clean_and_data_survives_restart() {
    let s = TestServer::start().await;
    s.put_bucket("persist").await;
    s.put_object("persist", "k", b"durable").await;
    let dir = s.dir;
    s.server.shutdown().await;
    let server = ossvault_server::start(config_in(dir.path())).await.unwrap();
    let s = TestServer {
        base: server.endpoint(),
        server,
        dir,
        client: reqwest::Client::new(),
    };
    assert_eq!(s.get_object("persist", "k").await.body, b"durable");
}

#[tokio::test]
async fn https_only_policy_refuses_plain_http() {
    let mut s =
        TestServer::start_with(|c| c.https_address = Some("127.0.0.1:0".parse().unwrap())).await;
    let pem = s
        .server
        .certificate_pem()
        .expect("a certificate")
        .to_owned();
    let https = s.server.https_endpoint().expect("an HTTPS endpoint");
    let pinned = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let (http_base, plain) = (s.base.clone(), s.client.clone());
    let use_https = |s: &mut TestServer, on: bool| {
        s.base = if on { https.clone() } else { http_base.clone() };
        s.client = if on { pinned.clone() } else { plain.clone() };
    };

    use_https(&mut s, true);
    assert_eq!(s.put_bucket("secure").await.status, StatusCode::OK);
    assert_eq!(
        s.put_object("secure", "k", b"over tls").await.status,
        StatusCode::OK
    );

    let policy = ossvault_proto::policy::https_only("secure");
    let q = [("policy", "")];
    let r = s
        .signed(
            Method::PUT,
            Some("secure"),
            "/secure/",
            None,
            &q,
            &[],
            policy.clone().into_bytes(),
            SK,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = s
        .signed(
            Method::GET,
            Some("secure"),
            "/secure/",
            None,
            &q,
            &[],
            vec![],
            SK,
        )
        .await;
    assert_eq!(
        got.body,
        policy.as_bytes(),
        "the policy comes back byte for byte"
    );

    use_https(&mut s, false);
    for reply in [
        s.get_object("secure", "k").await,
        s.put_object("secure", "k", b"plain").await,
    ] {
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::FORBIDDEN, "AccessDenied")
        );
    }
    // Other buckets are not affected.
    assert_eq!(s.put_bucket("open").await.status, StatusCode::OK);

    use_https(&mut s, true);
    assert_eq!(
        s.get_object("secure", "k").await.body,
        b"over tls",
        "HTTPS still works, nothing was overwritten"
    );
    let r = s
        .signed(
            Method::DELETE,
            Some("secure"),
            "/secure/",
            None,
            &q,
            &[],
            vec![],
            SK,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    use_https(&mut s, false);
    assert_eq!(s.get_object("secure", "k").await.status, StatusCode::OK);
    let r = s
        .signed(
            Method::GET,
            Some("secure"),
            "/secure/",
            None,
            &q,
            &[],
            vec![],
            SK,
        )
        .await;
    assert_eq!(r.code(), "NoSuchBucketPolicy");
}

#[tokio::test]
async fn invalid_policies_are_refused() {
    let s = TestServer::start().await;
    s.put_bucket("pol").await;
    let q = [("policy", "")];
    let bad = br#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"acs:oss:*:*:pol",
        "Condition":{"StringLike":{"acs:UserAgent":"curl*"}}}]}"#;
    let r = s
        .signed(
            Method::PUT,
            Some("pol"),
            "/pol/",
            None,
            &q,
            &[],
            bad.to_vec(),
            SK,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "InvalidPolicyDocument")
    );
    assert!(
        r.text().contains("unsupported condition"),
        "the error says what is wrong: {}",
        r.text()
    );
}

#[tokio::test]
async fn the_self_signed_certificate_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut config = config_in(dir.path());
        config.https_address = Some("127.0.0.1:0".parse().unwrap());
        ossvault_server::start(config)
    };
    let first = start().await.unwrap();
    let pem = first.certificate_pem().unwrap().to_owned();
    first.shutdown().await;
    let second = start().await.unwrap();
    assert_eq!(second.certificate_pem().unwrap(), pem);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("data/tls/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the private key is readable by its owner only"
    );
}

#[tokio::test]
async fn if_match_makes_puts_and_completes_conditional() {
    let s = TestServer::start().await;
    s.put_bucket("cond").await;
    let put_if = |key: &'static str, cond: String, body: &'static [u8]| {
        let s = &s;
        async move {
            let path = object_path("cond", key);
            let h = [("if-match", cond.as_str())];
            s.signed(
                Method::PUT,
                Some("cond"),
                &path,
                Some(key),
                &[],
                &h,
                body.to_vec(),
                SK,
            )
            .await
        }
    };
    // A missing object matches no ETag.
    let r = put_if("k", "\"00000000000000000000000000000000\"".into(), b"new").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
    );
    assert_eq!(
        s.get_object("cond", "k").await.status,
        StatusCode::NOT_FOUND
    );

    let first = s.put_object("cond", "k", b"v1").await;
    let etag1 = first.headers["etag"].to_str().unwrap().to_owned();
    let r = put_if("k", "\"0123456789abcdef0123456789abcdef\"".into(), b"lost").await;
    assert_eq!(r.code(), "PreconditionFailed");
    assert_eq!(s.get_object("cond", "k").await.body, b"v1");
    let r = put_if("k", etag1.clone(), b"v2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(s.get_object("cond", "k").await.body, b"v2");
    let etag2 = r.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag1, etag2);

    // CompleteMultipartUpload: the stale ETag is refused and the object stays; the current
    // one completes.
    let path = object_path("cond", "k");
    let init = s
        .signed(
            Method::POST,
            Some("cond"),
            &path,
            Some("k"),
            &[("uploads", "")],
            &[],
            vec![],
            SK,
        )
        .await;
    let text = init.text();
    let start = text.find("<UploadId>").unwrap() + 10;
    let id = text[start..text.find("</UploadId>").unwrap()].to_owned();
    let part = s
        .signed(
            Method::PUT,
            Some("cond"),
            &path,
            Some("k"),
            &[("partNumber", "1"), ("uploadId", &id)],
            &[],
            b"v3 in parts".to_vec(),
            SK,
        )
        .await;
    let part_etag = part.headers["etag"].to_str().unwrap().to_owned();
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part_etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let complete = |cond: String| {
        let (s, path, id, body) = (&s, &path, &id, &body);
        async move {
            let h = [("if-match", cond.as_str())];
            s.signed(
                Method::POST,
                Some("cond"),
                path,
                Some("k"),
                &[("uploadId", id)],
                &h,
                body.clone().into_bytes(),
                SK,
            )
            .await
        }
    };
    let r = complete(etag1).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
    );
    assert_eq!(s.get_object("cond", "k").await.body, b"v2");
    let r = complete(etag2).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(s.get_object("cond", "k").await.body, b"v3 in parts");
}

//! What a V4 signature binds, checked by the real server on 127.0.0.1 with hand-signed reqwest
//! requests: the declared payload hash (`x-oss-content-sha256`) against the body actually sent,
//! on streamed uploads and on small XML bodies, and the credential scope's region against the
//! server's (findings 6 and 8 of issue 8).

use ossvault_client::{Client, ClientConfig, Credentials, Error, RequestBody, SignVersion};
use ossvault_proto::encode::uri_encode;
use ossvault_proto::sign::{v4, RequestParts};
use ossvault_server::RunningServer;
use std::path::Path;
use std::time::SystemTime;

mod common;
use common::{test_config, AK, SK};

struct TestServer {
    server: RunningServer,
    dir: tempfile::TempDir,
}

impl TestServer {
    async fn start(region: &str) -> Self {
        let (dir, config) = test_config(|c| c.region = region.to_owned());
        let server = ossvault_server::start(config).await.unwrap();
        TestServer { server, dir }
    }

    fn client(&self, region: &str) -> Client {
        let creds = Credentials {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        };
        let mut config = ClientConfig::new(self.server.endpoint(), region, creds);
        config.sign_version = SignVersion::V4;
        config.retry.max_attempts = 1;
        Client::new(config).unwrap()
    }

    /// Files under the data directory's `blobs/` and `tmp/`: a refused upload leaves none.
    fn content_files(&self) -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .map(|p| if p.is_dir() { count(&p) } else { 1 })
                    .sum()
            })
        }
        let data = self.dir.path().join("data");
        count(&data.join("blobs")) + count(&data.join("tmp"))
    }
}

/// How the payload is declared in a V4 header signature.
enum Payload<'a> {
    /// `x-oss-content-sha256: UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The SHA-256 of these bytes, signed.
    HashOf(&'a [u8]),
    /// This header value as it is, signed.
    Raw(&'a str),
}

/// One request, signed by hand with V4 in the header for `region`.
struct Request<'a> {
    method: &'a str,
    bucket: &'a str,
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    headers: http::HeaderMap,
}

impl<'a> Request<'a> {
    fn new(method: &'a str, bucket: &'a str, key: Option<&'a str>) -> Self {
        Request {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: http::HeaderMap::new(),
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method,
            bucket: Some(self.bucket),
            key: self.key,
            query: &self.query,
            headers: &self.headers,
        }
    }

    fn url(&self, t: &TestServer, query: &[(String, String)]) -> String {
        let mut url = format!(
            "{}/{}/{}",
            t.server.endpoint(),
            self.bucket,
            self.key.map(uri_encode).unwrap_or_default()
        );
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        url
    }

    /// Signs in the `Authorization` header for `region`, declaring `payload`.
    fn sign(mut self, region: &str, payload: Payload<'_>) -> Self {
        let hash = match payload {
            Payload::Unsigned => v4::UNSIGNED_PAYLOAD.to_owned(),
            Payload::HashOf(bytes) => v4::payload_sha256(bytes),
            Payload::Raw(value) => value.to_owned(),
        };
        let (added, auth) = v4::authorization_with_payload(
            &self.parts(),
            AK,
            SK,
            region,
            SystemTime::now(),
            &[],
            &hash,
        );
        for (name, value) in added {
            self.headers.insert(name, value.parse().unwrap());
        }
        self.headers.insert("authorization", auth.parse().unwrap());
        self
    }

    /// Signs as a V4 presigned URL for `region` instead.
    fn presign(mut self, region: &str) -> Self {
        let extra = v4::presign(&self.parts(), AK, SK, region, SystemTime::now(), 600);
        self.query.extend(extra);
        self
    }

    /// Sends with `body`; answers (status, body text).
    async fn send(&self, t: &TestServer, body: &[u8]) -> (u16, String) {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let r = reqwest::Client::new()
            .request(method, self.url(t, &self.query))
            .headers(self.headers.clone())
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The `<Code>` of an error body.
fn code(xml: &str) -> &str {
    let start = xml.find("<Code>").map(|i| i + 6).unwrap_or(0);
    let end = xml[start..].find("</Code>").map_or(start, |i| i + start);
    &xml[start..end]
}

async fn get(c: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    c.download(bucket, key, None, &mut out, None, |_| {})
        .await?;
    Ok(out)
}

fn service_code(e: &Error) -> (u16, &str) {
    match e {
        Error::Service(s) => (s.status, s.code.as_str()),
        other => panic!("not a service error: {other}"),
    }
}

/// Finding 6: a PUT declaring the SHA-256 of one body and sending another was stored.
#[tokio::test]
async fn a_put_whose_body_differs_from_its_signed_hash_stores_nothing() {
    let t = TestServer::start("cn-hangzhou").await;
    let c = t.client("cn-hangzhou");
    c.create_bucket("bkt", None).await.unwrap();
    c.put_object(
        "bkt",
        "k",
        RequestBody::Bytes(b"old".to_vec().into()),
        &Default::default(),
    )
    .await
    .unwrap();
    let files = t.content_files();

    // Bigger than one pipeline chunk, so the hash is checked across pieces; and small, which
    // is gathered whole before it is written.
    for size in [300_000, 1000] {
        let declared = vec![7u8; size];
        let mut sent = declared.clone();
        *sent.last_mut().unwrap() = 8;
        for key in ["k", "new"] {
            let req = Request::new("PUT", "bkt", Some(key))
                .sign("cn-hangzhou", Payload::HashOf(&declared));
            let (status, body) = req.send(&t, &sent).await;
            assert_eq!((status, code(&body)), (400, "InvalidDigest"), "{body}");
            assert!(body.contains("x-oss-content-sha256"), "{body}");
        }
    }
    let declared = vec![7u8; 300_000];
    assert_eq!(get(&c, "bkt", "k").await.unwrap(), b"old");
    let e = get(&c, "bkt", "new").await.unwrap_err();
    assert_eq!(service_code(&e), (404, "NoSuchKey"));
    assert_eq!(
        t.content_files(),
        files,
        "a refused upload left content behind"
    );

    // The body it declared is stored, as is any body sent UNSIGNED-PAYLOAD.
    let req = Request::new("PUT", "bkt", Some("k")).sign("cn-hangzhou", Payload::HashOf(&declared));
    let (status, body) = req.send(&t, &declared).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&c, "bkt", "k").await.unwrap(), declared);
    let req = Request::new("PUT", "bkt", Some("u")).sign("cn-hangzhou", Payload::Unsigned);
    let (status, body) = req.send(&t, b"unsigned").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&c, "bkt", "u").await.unwrap(), b"unsigned");
    t.server.shutdown().await;
}

/// The same check on the other streamed writes: AppendObject and UploadPart.
#[tokio::test]
async fn append_and_upload_part_check_the_signed_hash_too() {
    let t = TestServer::start("cn-hangzhou").await;
    let c = t.client("cn-hangzhou");
    c.create_bucket("bkt", None).await.unwrap();

    let req = Request::new("POST", "bkt", Some("log"))
        .query("append", "")
        .query("position", "0")
        .sign("cn-hangzhou", Payload::HashOf(b"declared"));
    let (status, body) = req.send(&t, b"another").await;
    assert_eq!((status, code(&body)), (400, "InvalidDigest"), "{body}");
    let e = get(&c, "bkt", "log").await.unwrap_err();
    assert_eq!(service_code(&e), (404, "NoSuchKey"));

    let upload_id = c
        .initiate_multipart("bkt", "big", &Default::default())
        .await
        .unwrap();
    let req = Request::new("PUT", "bkt", Some("big"))
        .query("partNumber", "1")
        .query("uploadId", &upload_id)
        .sign("cn-hangzhou", Payload::HashOf(b"declared"));
    let (status, body) = req.send(&t, b"another").await;
    assert_eq!((status, code(&body)), (400, "InvalidDigest"), "{body}");
    let parts = c.list_parts("bkt", "big", &upload_id).await.unwrap();
    assert!(parts.is_empty(), "a refused part was recorded: {parts:?}");
    t.server.shutdown().await;
}

/// Small bodies (XML read whole) are checked as well: a signed DeleteMultipleObjects cannot
/// be replayed with another list of keys.
#[tokio::test]
async fn small_xml_bodies_are_checked_against_the_signed_hash() {
    let t = TestServer::start("cn-hangzhou").await;
    let c = t.client("cn-hangzhou");
    c.create_bucket("bkt", None).await.unwrap();
    for key in ["a", "keep"] {
        c.put_object(
            "bkt",
            key,
            RequestBody::Bytes(b"x".to_vec().into()),
            &Default::default(),
        )
        .await
        .unwrap();
    }
    let delete = |key: &str| {
        format!("<Delete><Quiet>true</Quiet><Object><Key>{key}</Key></Object></Delete>")
    };
    let (signed_body, sent_body) = (delete("a"), delete("keep"));
    let md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(sent_body.as_bytes()))
    };
    let mut req = Request::new("POST", "bkt", None).query("delete", "");
    // Content-MD5 matches what is sent: only the signed SHA-256 tells the bodies apart.
    req.headers.insert("content-md5", md5.parse().unwrap());
    let req = req.sign("cn-hangzhou", Payload::HashOf(signed_body.as_bytes()));
    let (status, body) = req.send(&t, sent_body.as_bytes()).await;
    assert_eq!((status, code(&body)), (400, "InvalidDigest"), "{body}");
    assert_eq!(get(&c, "bkt", "keep").await.unwrap(), b"x");

    // A malformed declaration is refused before anything is read.
    let req = Request::new("POST", "bkt", None)
        .query("delete", "")
        .sign("cn-hangzhou", Payload::Raw("sha256-of-something"));
    let (status, body) = req.send(&t, sent_body.as_bytes()).await;
    assert_eq!((status, code(&body)), (400, "InvalidArgument"), "{body}");
    assert_eq!(get(&c, "bkt", "keep").await.unwrap(), b"x");

    // Signed for the body it sends, it works.
    let req = Request::new("POST", "bkt", None)
        .query("delete", "")
        .sign("cn-hangzhou", Payload::HashOf(signed_body.as_bytes()));
    let (status, body) = req.send(&t, signed_body.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        service_code(&get(&c, "bkt", "a").await.unwrap_err()),
        (404, "NoSuchKey")
    );
    t.server.shutdown().await;
}

/// Finding 8: a V4 credential scoped to another region was accepted.
#[tokio::test]
async fn a_v4_signature_for_another_region_is_refused() {
    let t = TestServer::start("cn-hangzhou").await;
    let c = t.client("cn-hangzhou");
    c.create_bucket("bkt", None).await.unwrap();

    let req = Request::new("PUT", "bkt", Some("k")).sign("us-west-1", Payload::Unsigned);
    let (status, body) = req.send(&t, b"west").await;
    assert_eq!((status, code(&body)), (400, "InvalidArgument"), "{body}");
    // OSS's message and fine-grained code, word for word (oss2's own test_exception_ec).
    assert!(
        body.contains("<Message>Invalid signing region in Authorization header.</Message>"),
        "{body}"
    );
    assert!(body.contains("<EC>0002-00000226</EC>"), "{body}");
    assert_eq!(
        service_code(&get(&c, "bkt", "k").await.unwrap_err()),
        (404, "NoSuchKey")
    );

    let req = Request::new("GET", "bkt", None).presign("us-west-1");
    let (status, body) = req.send(&t, b"").await;
    assert_eq!((status, code(&body)), (400, "InvalidArgument"), "{body}");
    assert!(body.contains("Invalid signing region"), "{body}");

    // A client configured for the wrong region fails the same way on every operation.
    let e = t
        .client("us-west-1")
        .list_buckets("", "", 100)
        .await
        .unwrap_err();
    assert_eq!(service_code(&e), (400, "InvalidArgument"));

    // The right region works in both forms.
    let req = Request::new("GET", "bkt", None).presign("cn-hangzhou");
    assert_eq!(req.send(&t, b"").await.0, 200);
    let req = Request::new("GET", "bkt", None).sign("cn-hangzhou", Payload::Unsigned);
    assert_eq!(req.send(&t, b"").await.0, 200);
    t.server.shutdown().await;
}

/// The region checked is the server's configured one, not a fixed default.
#[tokio::test]
async fn the_configured_region_is_the_one_accepted() {
    let t = TestServer::start("us-west-1").await;
    t.client("us-west-1")
        .create_bucket("bkt", None)
        .await
        .unwrap();
    let e = t
        .client("cn-hangzhou")
        .list_buckets("", "", 100)
        .await
        .unwrap_err();
    assert_eq!(service_code(&e), (400, "InvalidArgument"));
    let req = Request::new("GET", "bkt", None).presign("us-west-1");
    assert_eq!(req.send(&t, b"").await.0, 200);
    t.server.shutdown().await;
}

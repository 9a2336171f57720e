//! SSE-OSS through the real server on 127.0.0.1 (reqwest, V1 signatures): round trips and
//! ranges at the sealed-chunk edges, a server without a root secret, restarts with the same,
//! another and no root secret, and master key rotation with `rewrap_all`, called directly on
//! the store between two runs of the server. With the store open in process the data keys can
//! be unwrapped, so this is also where the data directory is scanned for them. (SDK interop and
//! crash behaviour are in tests/interop/test_sse.py and tests/crash.)

use md5::{Digest, Md5};
use ossvault_proto::sign::{v1, RequestParts};
use ossvault_server::sse::{rewrap_all, seal::CHUNK, MasterKeys, RootSecret};
use ossvault_server::store::{ObjectRecord, Store, WrappedKey};
use ossvault_server::{Config, Credential, RunningServer};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const AK: &str = "sse-ak";
const SK: &str = "sse-secret";
const SSE: &str = "x-oss-server-side-encryption";
const AES256: (&str, &str) = (SSE, "AES256");
const SM4: (&str, &str) = (SSE, "SM4");
const SECRET_A: [u8; 32] = [0xA5; 32];
const SECRET_B: [u8; 32] = [0x5A; 32];
const SIZES: [usize; 6] = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, (1 << 20) + 3];

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn code(&self) -> String {
        let xml = self.text();
        let start = xml.find("<Code>").expect("an error code") + 6;
        let end = xml[start..].find("</Code>").unwrap() + start;
        xml[start..end].to_owned()
    }
}

struct Server {
    running: RunningServer,
    base: String,
    client: reqwest::Client,
}

fn config(data: &Path, root: Option<[u8; 32]>) -> Config {
    let credentials = vec![Credential {
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
    }];
    let mut config = Config::new(
        data.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        credentials,
    );
    config.root_secret = root.map(RootSecret::from_bytes);
    config
}

async fn start(data: &Path, root: Option<[u8; 32]>) -> Server {
    let running = ossvault_server::start(config(data, root)).await.unwrap();
    Server {
        base: running.endpoint(),
        running,
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn stop(self) {
        drop(self.client);
        self.running.shutdown().await;
    }

    /// A V1-signed request; `key` is the decoded key (kept URL-safe by the tests).
    async fn signed(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
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
            bucket: Some(bucket),
            key,
            query: &q,
            headers: &headers,
        };
        let auth = v1::authorization(&parts, AK, SK);
        headers.insert("authorization", auth.parse().unwrap());
        let mut url = format!("{}/{bucket}/{}", self.base, key.unwrap_or_default());
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
        if !qs.is_empty() {
            url = format!("{url}?{}", qs.join("&"));
        }
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

    async fn put_bucket(&self, bucket: &str, extra: &[(&str, &str)]) -> Reply {
        self.signed(Method::PUT, bucket, None, &[], extra, vec![])
            .await
    }

    async fn put(&self, bucket: &str, key: &str, data: &[u8], extra: &[(&str, &str)]) -> Reply {
        self.signed(Method::PUT, bucket, Some(key), &[], extra, data.to_vec())
            .await
    }

    async fn get(&self, bucket: &str, key: &str, extra: &[(&str, &str)]) -> Reply {
        self.signed(Method::GET, bucket, Some(key), &[], extra, vec![])
            .await
    }

    async fn head(&self, bucket: &str, key: &str) -> Reply {
        self.signed(Method::HEAD, bucket, Some(key), &[], &[], vec![])
            .await
    }
}

/// Content that differs at every offset (a misplaced chunk never matches).
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode_upper(Md5::digest(data)))
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first of `needles` (each at least 8 bytes) found in `haystack`, in one pass.
fn find_any<'a>(haystack: &[u8], needles: &'a [(String, Vec<u8>)]) -> Option<&'a str> {
    let mut by_prefix: HashMap<[u8; 8], Vec<&'a (String, Vec<u8>)>> = HashMap::new();
    for n in needles {
        by_prefix
            .entry(n.1[..8].try_into().unwrap())
            .or_default()
            .push(n);
    }
    (0..haystack.len().saturating_sub(7)).find_map(|i| {
        let prefix: [u8; 8] = haystack[i..i + 8].try_into().unwrap();
        by_prefix
            .get(&prefix)?
            .iter()
            .find_map(|(what, needle)| haystack[i..].starts_with(needle).then_some(what.as_str()))
    })
}

/// Opens the store of a stopped server (the previous run may take a moment to let go of it).
fn open_store(data: &Path) -> Store {
    for _ in 0..100 {
        match Store::open(data) {
            Ok(store) => return store,
            Err(e) if e.to_string().to_lowercase().contains("already open") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("cannot open the store: {e}"),
        }
    }
    panic!("the store stayed locked after the server stopped");
}

/// Every object record, in (bucket, key) order.
fn all_objects(store: &Store) -> Vec<(String, String, ObjectRecord)> {
    let mut out: Vec<(String, String, ObjectRecord)> = Vec::new();
    loop {
        let after = out.last().map(|(b, k, _)| (b.as_str(), k.as_str()));
        let page = store.scan_objects(after, 100).unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The master key version of every encrypted object.
fn versions(store: &Store) -> Vec<u32> {
    all_objects(store)
        .into_iter()
        .filter_map(|(_, _, o)| match o.sse?.wrapped {
            WrappedKey::Master { version, .. } => Some(version),
            WrappedKey::Kms { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn round_trips_and_ranges_at_chunk_edges() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(&data_dir, Some(SECRET_A)).await;
    assert_eq!(s.put_bucket("edges", &[]).await.status, StatusCode::OK);
    for (i, &size) in SIZES.iter().enumerate() {
        let key = format!("size-{size}");
        let data = content(size, i as u64 + 1);
        let put = s.put("edges", &key, &data, &[AES256]).await;
        assert_eq!(put.status, StatusCode::OK, "{key}: {}", put.text());
        assert_eq!(put.header(SSE), Some("AES256"), "{key}");
        assert_eq!(put.header("etag"), Some(etag_of(&data).as_str()), "{key}");
        let crc = ossvault_proto::crc64::checksum(&data).to_string();
        assert_eq!(put.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));

        let got = s.get("edges", &key, &[]).await;
        assert_eq!(got.status, StatusCode::OK, "{key}");
        assert!(got.body == data, "{key}: the whole object differs");
        assert_eq!(got.header(SSE), Some("AES256"));
        assert_eq!(got.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
        let head = s.head("edges", &key).await;
        assert_eq!(head.header(SSE), Some("AES256"));
        assert_eq!(
            head.header("content-length"),
            Some(size.to_string().as_str())
        );

        // Ranges: the ends, suffixes, and around every chunk boundary inside the object.
        let mut ranges: Vec<(String, usize, usize)> = Vec::new();
        if size > 0 {
            let last = size - 1;
            ranges.push(("bytes=0-0".into(), 0, 1));
            ranges.push((format!("bytes={last}-{last}"), last, size));
            ranges.push(("bytes=-1".into(), last, size));
            let n = size.min(CHUNK + 1);
            ranges.push((format!("bytes=-{n}"), size - n, size));
            ranges.push((format!("bytes={}-", size / 2), size / 2, size));
        }
        let mut b = CHUNK;
        while b < size {
            ranges.push((format!("bytes={}-{}", b - 1, b), b - 1, b + 1));
            ranges.push((format!("bytes={}-{}", b - 1, b - 1), b - 1, b));
            ranges.push((format!("bytes={b}-{b}"), b, b + 1));
            let end = (b + CHUNK).min(size);
            ranges.push((format!("bytes={b}-{}", end - 1), b, end));
            ranges.push((format!("bytes={}-", b - 3), b - 3, size));
            b += CHUNK;
        }
        for (spec, start, end) in ranges {
            let r = s.get("edges", &key, &[("range", &spec)]).await;
            assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{key} {spec}");
            assert!(r.body == data[start..end], "{key} {spec}: wrong bytes");
            let want = format!("bytes {start}-{}/{size}", end - 1);
            assert_eq!(r.header("content-range"), Some(want.as_str()), "{key}");
        }
    }
    s.stop().await;

    // On disk: each object is one content file of the sealed size (or its sealed bytes inline
    // in the metadata), and no file holds plaintext.
    let blobs = files(&data_dir.join("blobs"));
    let mut stored_files = blobs.clone();
    stored_files.push(data_dir.join("meta.redb"));
    for (i, &size) in SIZES.iter().enumerate() {
        let chunks = size.div_ceil(CHUNK).max(1);
        let sealed = size + 16 * chunks;
        let data = content(size, i as u64 + 1);
        let matching: Vec<_> = blobs
            .iter()
            .filter(|p| std::fs::metadata(p).unwrap().len() == sealed as u64)
            .collect();
        let inline = sealed <= ossvault_server::store::DEFAULT_INLINE_MAX;
        assert_eq!(
            matching.is_empty(),
            inline,
            "{sealed} bytes: a content file unless inline"
        );
        for path in stored_files.iter() {
            let stored = std::fs::read(path).unwrap();
            let probe = &data[..data.len().min(64)];
            assert!(
                probe.len() < 16 || !contains(&stored, probe),
                "{} holds plaintext",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn without_a_root_secret_sse_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), None).await;
    let assert_refused = |r: &Reply, what: &str| {
        assert_eq!(
            r.status,
            StatusCode::NOT_IMPLEMENTED,
            "{what}: {}",
            r.text()
        );
        assert_eq!(r.code(), "NotImplemented", "{what}");
        assert!(r.text().contains("root secret"), "{what}: {}", r.text());
    };
    let r = s.put_bucket("nosse", &[AES256]).await;
    assert_refused(&r, "PutBucket with an SSE header");
    assert_eq!(s.put_bucket("nosse", &[]).await.status, StatusCode::OK);

    let r = s.put("nosse", "enc", b"secret", &[AES256]).await;
    assert_refused(&r, "PutObject with an SSE header");
    assert_eq!(
        s.get("nosse", "enc", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let rule = "<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault>\
                <SSEAlgorithm>AES256</SSEAlgorithm>\
                </ApplyServerSideEncryptionByDefault></ServerSideEncryptionRule>";
    let r = s
        .signed(
            Method::PUT,
            "nosse",
            None,
            &[("encryption", "")],
            &[],
            rule.as_bytes().to_vec(),
        )
        .await;
    assert_refused(&r, "PutBucketEncryption");
    let r = s
        .signed(
            Method::GET,
            "nosse",
            None,
            &[("encryption", "")],
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.code(), "NoSuchServerSideEncryptionRule");

    let r = s
        .signed(
            Method::POST,
            "nosse",
            Some("mp"),
            &[("uploads", "")],
            &[AES256],
            vec![],
        )
        .await;
    assert_refused(&r, "InitiateMultipartUpload with an SSE header");

    // Unencrypted objects work as ever.
    assert_eq!(
        s.put("nosse", "plain", b"plain", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(s.get("nosse", "plain", &[]).await.body, b"plain");
    s.stop().await;
}

#[tokio::test]
async fn restarts_with_the_same_another_and_no_root_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let objects: Vec<(String, Vec<u8>, bool)> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("o{i}"), content(n, 100 + i as u64), i % 2 == 0))
        .collect();
    let s = start(&data_dir, Some(SECRET_A)).await;
    s.put_bucket("restart", &[]).await;
    for (key, data, encrypted) in &objects {
        let extra: &[(&str, &str)] = if *encrypted { &[AES256] } else { &[] };
        assert_eq!(
            s.put("restart", key, data, extra).await.status,
            StatusCode::OK
        );
    }
    s.stop().await;

    let read_all = |s: Server| {
        let objects = objects.clone();
        async move {
            for (key, data, encrypted) in &objects {
                let got = s.get("restart", key, &[]).await;
                assert_eq!(got.status, StatusCode::OK, "{key}: {}", got.text());
                assert!(got.body == *data, "{key} differs");
                assert_eq!(got.header(SSE), encrypted.then_some("AES256"), "{key}");
            }
            s.stop().await;
        }
    };
    // The same secret: everything reads back.
    read_all(start(&data_dir, Some(SECRET_A)).await).await;

    // Another secret: the server refuses to start, and says why.
    let err = match ossvault_server::start(config(&data_dir, Some(SECRET_B))).await {
        Ok(_) => panic!("the server started with another root secret"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("encryption keys") && err.contains("wrong root secret"),
        "unclear error: {err}"
    );

    // No secret: the server starts; unencrypted objects read, encrypted ones are refused with
    // a clear error (never ciphertext), and HEAD still describes them.
    let s = start(&data_dir, None).await;
    for (key, data, encrypted) in &objects {
        let got = s.get("restart", key, &[]).await;
        if *encrypted {
            assert_eq!(got.status, StatusCode::NOT_IMPLEMENTED, "{key}");
            assert!(got.text().contains("root secret"), "{key}: {}", got.text());
            assert_eq!(s.head("restart", key).await.header(SSE), Some("AES256"));
        } else {
            assert!(got.body == *data, "{key}");
        }
    }
    s.stop().await;

    // Neither failed attempt changed anything.
    read_all(start(&data_dir, Some(SECRET_A)).await).await;
}

#[tokio::test]
async fn rotation_and_rewrap_keep_everything_readable() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(&data_dir, Some(SECRET_A)).await;
    s.put_bucket("rot", &[]).await;
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..40u64 {
        let data = content(
            [0, 5, CHUNK, CHUNK + 9, 3000][i as usize % 5] + i as usize,
            i + 7,
        );
        let key = format!("k{i:02}");
        // Odd ones SM4: 128-bit data keys are re-wrapped alike.
        s.put("rot", &key, &data, &[if i % 2 == 0 { AES256 } else { SM4 }])
            .await;
        objects.push((key, data));
    }
    s.put("rot", "plain", b"not encrypted", &[]).await;
    // An upload left open across the rotations, with one part sealed under its data key.
    let init = s
        .signed(
            Method::POST,
            "rot",
            Some("mp"),
            &[("uploads", "")],
            &[AES256],
            vec![],
        )
        .await;
    let body = init.text();
    let start_at = body.find("<UploadId>").unwrap() + 10;
    let upload_id = body[start_at..start_at + body[start_at..].find('<').unwrap()].to_owned();
    let part1 = content(100 * 1024 + 1, 99);
    let part2 = content(777, 98);
    let p1 = s
        .signed(
            Method::PUT,
            "rot",
            Some("mp"),
            &[("partNumber", "1"), ("uploadId", &upload_id)],
            &[],
            part1.clone(),
        )
        .await;
    assert_eq!(p1.status, StatusCode::OK);
    s.stop().await;

    // Rotate and re-wrap directly on the store, as `maintain` and RotateMasterKey do.
    {
        let store = open_store(&data_dir);
        let master = MasterKeys::load(&store, RootSecret::from_bytes(SECRET_A)).unwrap();
        assert_eq!(master.current_version(), 1);
        assert!(versions(&store).iter().all(|&v| v == 1));
        assert_eq!(master.rotate(&store).unwrap(), 2);
        assert!(
            versions(&store).iter().all(|&v| v == 1),
            "rotation alone moves no data key"
        );
        let report = rewrap_all(&store, &master).unwrap();
        assert_eq!((report.objects, report.uploads), (40, 1), "{report:?}");
        assert_eq!(versions(&store), vec![2; 40]);
        // A second pass has nothing left to do.
        let again = rewrap_all(&store, &master).unwrap();
        assert_eq!((again.objects, again.uploads), (0, 0));

        // The data keys, and the per-blob keys derived from them, appear in no file.
        let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
        for (_, key, record) in all_objects(&store) {
            let Some(sse) = record.sse else { continue };
            let WrappedKey::Master { version, blob } = &sse.wrapped else {
                continue;
            };
            let data_key = master.unwrap(*version, blob).unwrap();
            let raw = data_key.bytes().to_vec();
            let (label, key_len): (&[u8], usize) = match sse.algorithm.as_str() {
                "SM4" => (b"ossvault-sm4-v1 segment key", 16),
                _ => (b"ossvault-sse-v1 segment key", 32),
            };
            assert_eq!(raw.len(), key_len, "{key}: {}", sse.algorithm);
            secrets.push((format!("data key of {key}"), raw.to_vec()));
            let prf = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw);
            for seg in &record.segments {
                let mut info = label.to_vec();
                info.extend_from_slice(&seg.blob.0.to_be_bytes());
                let derived = ring::hmac::sign(&prf, &info);
                secrets.push((
                    format!("blob key of {key}"),
                    derived.as_ref()[..key_len].to_vec(),
                ));
            }
        }
        assert_eq!(secrets.len(), 80);
        drop(store);
        let hexed: Vec<(String, Vec<u8>)> = secrets
            .iter()
            .flat_map(|(what, raw)| {
                [
                    (format!("{what} (hex)"), hex::encode(raw).into_bytes()),
                    (format!("{what} (HEX)"), hex::encode_upper(raw).into_bytes()),
                ]
            })
            .collect();
        secrets.extend(hexed);
        // The scan finds a key where there is one.
        let planted = [b"some bytes before".as_slice(), &secrets[41].1, b"after"].concat();
        assert_eq!(find_any(&planted, &secrets), Some(secrets[41].0.as_str()));
        let scanned = files(&data_dir);
        assert!(
            scanned.iter().any(|p| p.ends_with("meta.redb")),
            "{scanned:?}"
        );
        for path in scanned {
            let bytes = std::fs::read(&path).unwrap();
            if let Some(what) = find_any(&bytes, &secrets) {
                panic!("{} holds the {what}", path.display());
            }
        }
    }

    // The server reads everything after the re-wrap, and the open upload completes.
    let s = start(&data_dir, Some(SECRET_A)).await;
    for (key, data) in &objects {
        let got = s.get("rot", key, &[]).await;
        assert!(got.body == *data, "{key} after the re-wrap");
    }
    let p2 = s
        .signed(
            Method::PUT,
            "rot",
            Some("mp"),
            &[("partNumber", "2"), ("uploadId", &upload_id)],
            &[],
            part2.clone(),
        )
        .await;
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        p1.header("etag").unwrap(),
        p2.header("etag").unwrap()
    );
    let done = s
        .signed(
            Method::POST,
            "rot",
            Some("mp"),
            &[("uploadId", &upload_id)],
            &[],
            complete.into_bytes(),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.header(SSE), Some("AES256"));
    let got = s.get("rot", "mp", &[]).await;
    assert!(got.body == [part1.as_slice(), part2.as_slice()].concat());
    s.stop().await;

    // A rotation whose re-wrap never ran (a crash right after it): the old version still opens
    // every data key, and the next start finishes the re-wrap by itself (shutdown waits for it).
    {
        let store = open_store(&data_dir);
        let master = MasterKeys::load(&store, RootSecret::from_bytes(SECRET_A)).unwrap();
        assert_eq!(master.rotate(&store).unwrap(), 3);
    }
    let s = start(&data_dir, Some(SECRET_A)).await;
    for (key, data) in &objects {
        assert!(s.get("rot", key, &[]).await.body == *data, "{key}");
    }
    assert_eq!(s.get("rot", "plain", &[]).await.body, b"not encrypted");
    s.stop().await;
    let store = open_store(&data_dir);
    assert_eq!(
        versions(&store),
        vec![3; 41],
        "the pending re-wrap was not finished"
    );
}

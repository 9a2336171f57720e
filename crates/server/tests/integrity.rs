//! Integrity on every read, through the real server on 127.0.0.1 (reqwest, V1 signatures):
//! bits flipped in stored blob files on disk are never served as a complete response; the
//! object is marked corrupt and later reads answer an error naming the corruption; ranges of
//! intact regions still work; overwrite and delete clear the mark. The scrub (offline, on the
//! stopped server's data directory) names exactly the damaged objects.

#[allow(dead_code)]
mod common;

use ossvault_proto::sign::{v1, RequestParts};
use ossvault_server::scrub::{scrub_data_dir, ScrubOptions};
use ossvault_server::sse::{seal::CHUNK, RootSecret};
use ossvault_server::store::StoreError;
use ossvault_server::RunningServer;
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const SSE: (&str, &str) = ("x-oss-server-side-encryption", "AES256");
const SM4: (&str, &str) = ("x-oss-server-side-encryption", "SM4");
const ROOT: [u8; 32] = [0x42; 32];
const BUCKET: &str = "integrity";

struct Reply {
    status: StatusCode,
    /// `Err` when the body was cut off (the connection closed before Content-Length bytes).
    body: Result<Vec<u8>, String>,
}

impl Reply {
    fn bytes(&self) -> &[u8] {
        self.body.as_deref().expect("a complete body")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
}

struct Server {
    running: RunningServer,
    base: String,
    client: reqwest::Client,
}

async fn start(dir: &Path) -> Server {
    let mut config = common::config_in(dir);
    config.root_secret = Some(RootSecret::from_bytes(ROOT));
    // These tests damage content files; damage to inline content is the store's tests' part
    // (`store::tests::scrub_reports_damaged_inline_content`).
    config.inline_max = 0;
    let running = ossvault_server::start(config).await.unwrap();
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
        let auth = v1::authorization(&parts, common::AK, common::SK);
        headers.insert("authorization", auth.parse().unwrap());
        let mut url = format!("{}/{bucket}/{}", self.base, key.unwrap_or_default());
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
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
        let status = r.status();
        let body = r
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string());
        Reply { status, body }
    }

    async fn put(&self, key: &str, data: &[u8], extra: &[(&str, &str)]) -> Reply {
        self.signed(Method::PUT, BUCKET, Some(key), &[], extra, data.to_vec())
            .await
    }

    async fn get(&self, key: &str, extra: &[(&str, &str)]) -> Reply {
        self.signed(Method::GET, BUCKET, Some(key), &[], extra, vec![])
            .await
    }
}

/// Content that differs at every offset.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn blob_files(data: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for fanout in std::fs::read_dir(data.join("blobs")).unwrap() {
        for f in std::fs::read_dir(fanout.unwrap().path()).unwrap() {
            out.insert(f.unwrap().path());
        }
    }
    out
}

/// PUTs an object and returns the blob file it created.
async fn put_tracked(
    s: &Server,
    data_dir: &Path,
    key: &str,
    data: &[u8],
    extra: &[(&str, &str)],
) -> PathBuf {
    let before = blob_files(data_dir);
    let r = s.put(key, data, extra).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new: Vec<PathBuf> = blob_files(data_dir).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new blob per PUT");
    new[0].clone()
}

fn flip_bit(path: &Path, offset: u64, bit: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 1 << bit;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}

/// A damaged GET: either an error status, or a body cut short. Never the full body.
fn assert_refused(r: &Reply, size: usize) {
    if r.status.is_success() {
        match &r.body {
            Err(_) => {}
            Ok(b) => panic!(
                "a damaged object was served complete ({} of {size} bytes)",
                b.len()
            ),
        }
    } else {
        assert_corrupt_error(r);
    }
}

fn assert_corrupt_error(r: &Reply) {
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let text = r.text();
    assert!(text.contains("<Code>InternalError</Code>"), "{text}");
    assert!(text.contains("corrupt"), "{text}");
}

#[tokio::test]
async fn plain_objects_with_a_flipped_bit_are_refused_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(dir.path()).await;
    assert_eq!(
        s.signed(Method::PUT, BUCKET, None, &[], &[], vec![])
            .await
            .status,
        StatusCode::OK
    );

    // Small (checked before answering), large with the damage early, large with the damage in
    // the last piece (held back until the CRC passes).
    let cases = [
        ("small", 100_000usize, 5_000u64),
        ("large-early", 3 << 20, 1_000),
        ("large-late", 3 << 20, (3 << 20) - 10),
    ];
    for (key, size, at) in cases {
        let data = content(size, size as u64 + at);
        let blob = put_tracked(&s, &data_dir, key, &data, &[]).await;
        let intact = s.get(key, &[]).await;
        assert_eq!(intact.bytes(), &data[..]);
        flip_bit(&blob, at, 3);
        let first = s.get(key, &[]).await;
        assert_refused(&first, size);
        if key == "small" {
            assert_corrupt_error(&first);
        }
        // Marked: every later read is the error, with no data.
        assert_corrupt_error(&s.get(key, &[]).await);
        assert_corrupt_error(&s.get(key, &[("range", "bytes=0-9")]).await);
        let head = s
            .signed(Method::HEAD, BUCKET, Some(key), &[], &[], vec![])
            .await;
        assert_eq!(head.status, StatusCode::INTERNAL_SERVER_ERROR);
        let meta = s
            .signed(
                Method::HEAD,
                BUCKET,
                Some(key),
                &[("objectMeta", "")],
                &[],
                vec![],
            )
            .await;
        assert_eq!(meta.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    // Overwrite clears the mark; delete works.
    let fresh = content(1000, 7);
    assert_eq!(s.put("small", &fresh, &[]).await.status, StatusCode::OK);
    assert_eq!(s.get("small", &[]).await.bytes(), &fresh[..]);
    let del = s
        .signed(
            Method::DELETE,
            BUCKET,
            Some("large-early"),
            &[],
            &[],
            vec![],
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get("large-early", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    // The mark is durable: still there after a restart.
    s.stop().await;
    let s = start(dir.path()).await;
    assert_corrupt_error(&s.get("large-late", &[]).await);
    s.stop().await;
}

#[tokio::test]
async fn sealed_objects_with_a_flipped_bit_are_refused_and_intact_chunks_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(dir.path()).await;
    assert_eq!(
        s.signed(Method::PUT, BUCKET, None, &[], &[], vec![])
            .await
            .status,
        StatusCode::OK
    );
    let size = 20 * CHUNK + 123;
    let data = content(size, 99);
    let blob = put_tracked(&s, &data_dir, "sealed", &data, &[SSE]).await;
    assert_eq!(s.get("sealed", &[]).await.bytes(), &data[..]);
    // A byte in the middle of stored chunk 5 (each stored chunk is CHUNK plus a 16-byte tag,
    // after a header: anywhere well inside chunk 5 is in it).
    let stored = std::fs::metadata(&blob).unwrap().len();
    let at = stored * 5 / 20 + (CHUNK as u64) / 2;
    flip_bit(&blob, at, 0);
    let first = s.get("sealed", &[]).await;
    assert_refused(&first, size);
    // Later whole reads: the error. A range over intact chunks: served, byte-exact.
    assert_corrupt_error(&s.get("sealed", &[]).await);
    let head = s
        .get("sealed", &[("range", &format!("bytes=0-{}", CHUNK - 1))])
        .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(head.bytes(), &data[..CHUNK]);
    let over = s
        .get(
            "sealed",
            &[("range", &format!("bytes={}-{}", 4 * CHUNK, 7 * CHUNK))],
        )
        .await;
    assert_corrupt_error(&over);
    // Overwrite clears it.
    assert_eq!(
        s.put("sealed", &data[..10], &[SSE]).await.status,
        StatusCode::OK
    );
    assert_eq!(s.get("sealed", &[]).await.bytes(), &data[..10]);
    s.stop().await;
}

#[tokio::test]
async fn offline_scrub_names_exactly_the_damaged_objects_and_refuses_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(dir.path()).await;
    assert_eq!(
        s.signed(Method::PUT, BUCKET, None, &[], &[], vec![])
            .await
            .status,
        StatusCode::OK
    );
    let mut damaged = BTreeSet::new();
    for i in 0..12u64 {
        let key = format!("o{i:02}");
        let data = content(10_000 + i as usize * 7_000, i);
        // Plain, AES256 and SM4 objects; damaged ones of each kind (0, 3 and 6).
        let sse: &[(&str, &str)] = match i % 4 {
            0 => &[SSE],
            2 => &[SM4],
            _ => &[],
        };
        let blob = put_tracked(&s, &data_dir, &key, &data, sse).await;
        if i % 3 == 0 {
            flip_bit(&blob, 6_000 + i * 13, (i % 8) as u8);
            damaged.insert(key);
        }
    }
    let options = ScrubOptions::default();
    let busy = scrub_data_dir(&data_dir, Some(RootSecret::from_bytes(ROOT)), &options);
    assert!(
        matches!(
            busy,
            Err(ossvault_server::scrub::ScrubError::Store(
                StoreError::InUse(_)
            ))
        ),
        "a scrub must not open a data directory a server holds: {busy:?}"
    );
    s.stop().await;

    let report = scrub_data_dir(&data_dir, Some(RootSecret::from_bytes(ROOT)), &options).unwrap();
    let found: BTreeSet<String> = report.corrupt.iter().map(|c| c.key.clone()).collect();
    assert_eq!(found, damaged, "{report:?}");
    assert_eq!(report.objects, 12 - damaged.len() as u64);
    assert!(report.unchecked.is_empty(), "{report:?}");

    // Quarantined: the restarted server answers the error for exactly those.
    let s = start(dir.path()).await;
    for i in 0..12u64 {
        let key = format!("o{i:02}");
        let r = s.get(&key, &[]).await;
        if damaged.contains(&key) {
            assert_corrupt_error(&r);
        } else {
            assert_eq!(r.bytes(), &content(10_000 + i as usize * 7_000, i)[..]);
        }
    }
    s.stop().await;
    // A second scrub reports them as already marked.
    let again = scrub_data_dir(&data_dir, Some(RootSecret::from_bytes(ROOT)), &options).unwrap();
    assert!(again.corrupt.iter().all(|c| c.already_marked));
    assert_eq!(again.corrupt.len(), damaged.len());
}

#[tokio::test]
async fn a_quarantined_object_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = start(dir.path()).await;
    assert_eq!(
        s.signed(Method::PUT, BUCKET, None, &[], &[], vec![])
            .await
            .status,
        StatusCode::OK
    );
    let data = content(50_000, 3);
    let blob = put_tracked(&s, &data_dir, "src", &data, &[]).await;
    flip_bit(&blob, 100, 1);
    assert_corrupt_error(&s.get("src", &[]).await);
    let source = format!("/{BUCKET}/src");
    let copy = s
        .put("dst", b"", &[("x-oss-copy-source", source.as_str())])
        .await;
    assert_corrupt_error(&copy);
    assert_eq!(s.get("dst", &[]).await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn the_periodic_scrub_quarantines_damage_no_read_has_met() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut config = common::config_in(dir.path());
    config.root_secret = Some(RootSecret::from_bytes(ROOT));
    config.scrub_interval = Some(std::time::Duration::from_millis(300));
    let running = ossvault_server::start(config).await.unwrap();
    let s = Server {
        base: running.endpoint(),
        running,
        client: reqwest::Client::new(),
    };
    assert_eq!(
        s.signed(Method::PUT, BUCKET, None, &[], &[], vec![])
            .await
            .status,
        StatusCode::OK
    );
    let blob = put_tracked(&s, &data_dir, "rot", &content(300_000, 8), &[SSE]).await;
    flip_bit(&blob, 200_000, 6);
    // HEAD reads no content: only a mark makes it fail.
    let head = || s.signed(Method::HEAD, BUCKET, Some("rot"), &[], &[], vec![]);
    let mut marked = false;
    for _ in 0..50 {
        if head().await.status == StatusCode::INTERNAL_SERVER_ERROR {
            marked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        marked,
        "the periodic scrub did not quarantine the damaged object within 5 s"
    );
    s.stop().await;
}

//! Transfers through a fault-injecting TCP proxy: connections cut mid-request and
//! mid-response, and 500/503 answers made up by the proxy. The client's retries (and the
//! transfer layer's, for what `send` cannot repeat) must still produce byte-exact copies, and
//! give up with a clear error when nothing ever works.

mod common;
mod support;

use common::TestServer;
use ossvault_client::transfer::{download_file, upload_file, DownloadOptions, UploadOptions};
use ossvault_client::{Client, Error, SignVersion};
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{
    checkpoints, client_with_retries, fast_retries, names_in, sha256_file, write_random_file, MIB,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BUCKET: &str = "faults";

/// What the proxy does to one connection (which carries one request: see [`Proxy`]).
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Forwards the request and the response whole.
    Pass,
    /// Answers this status itself, forwarding nothing.
    Status(u16),
    /// Forwards this fraction of the request (of its body, or of its head when bodiless),
    /// then closes both connections.
    CutRequest(f64),
    /// Forwards the request, then this many bytes of the response (head included), then
    /// closes.
    CutResponse(u64),
    /// Forwards the request, then the response head and this many bytes of its body, then
    /// closes.
    CutResponseBody(u64),
    /// Forwards everything but flips one byte of the response body.
    CorruptBody,
}

/// Decides the fault of each connection, from its index and its request's head.
type Plan = Arc<dyn Fn(u64, &Head) -> Fault + Send + Sync>;

/// Every `every`-th connection gets a fault, cycling through 500, 503, a cut request and a
/// cut response; cut positions come from an RNG seeded by `seed` and the connection's index,
/// so a run is reproducible whatever the order connections arrive in. A request retried
/// alone never meets two faults in a row.
fn faulty(every: u64, seed: u64) -> Plan {
    Arc::new(move |index, _| {
        if index % every != every - 1 {
            return Fault::Pass;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ index);
        match (index / every) % 4 {
            0 => Fault::Status(500),
            1 => Fault::Status(503),
            2 => Fault::CutRequest(rng.gen_range(0.0..1.0)),
            // Half cut within the head or a small XML body, half within a large body.
            _ if rng.gen_bool(0.5) => Fault::CutResponse(rng.gen_range(1..1024)),
            _ => Fault::CutResponse(rng.gen_range(1024..6 * MIB)),
        }
    })
}

/// Every request answered with `status`.
fn fail_all(status: u16) -> Plan {
    Arc::new(move |_, _| Fault::Status(status))
}

/// `fault` for the first request that `matches`, then everything passes.
fn first_matching(matches: impl Fn(&Head) -> bool + Send + Sync + 'static, fault: Fault) -> Plan {
    let done = std::sync::atomic::AtomicBool::new(false);
    Arc::new(move |_, head| {
        if matches(head) && !done.swap(true, Ordering::Relaxed) {
            fault
        } else {
            Fault::Pass
        }
    })
}

/// What the proxy did.
#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    statuses: AtomicU64,
    cut_requests: AtomicU64,
    cut_responses: AtomicU64,
    corrupted: AtomicU64,
    /// Every request, as `METHOD target [range]`.
    requests: Mutex<Vec<String>>,
}

impl Stats {
    fn faults(&self) -> u64 {
        self.statuses.load(Ordering::Relaxed)
            + self.cut_requests.load(Ordering::Relaxed)
            + self.cut_responses.load(Ordering::Relaxed)
    }

    /// The requests logged that contain every one of `parts`.
    fn requests_with(&self, parts: &[&str]) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| parts.iter().all(|p| r.contains(p)))
            .cloned()
            .collect()
    }
}

/// A TCP proxy to the server that injects faults per request.
///
/// It adds `Connection: close` to every request, so each connection carries exactly one
/// request (the server closes after answering, and the client does not reuse the
/// connection): deciding per connection is deciding per request, without parsing responses.
struct Proxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, plan: Plan) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn({
            let stats = stats.clone();
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let index = stats.connections.fetch_add(1, Ordering::Relaxed);
                    let (plan, stats) = (plan.clone(), stats.clone());
                    tokio::spawn(async move {
                        // An I/O error here is a connection the fault (or the client) broke.
                        let _ = relay(client, upstream, index, &plan, &stats).await;
                    });
                }
            }
        });
        Proxy { addr, stats, task }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn report(&self, what: &str) {
        let s = &self.stats;
        eprintln!(
            "{what}: {} connections; {} status answers, {} cut requests, {} cut responses, {} corrupted",
            s.connections.load(Ordering::Relaxed),
            s.statuses.load(Ordering::Relaxed),
            s.cut_requests.load(Ordering::Relaxed),
            s.cut_responses.load(Ordering::Relaxed),
            s.corrupted.load(Ordering::Relaxed),
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request head, as the proxy needs it.
struct Head {
    method: String,
    /// The request target: path and query.
    target: String,
    /// Header names lowercase.
    headers: Vec<(String, String)>,
    content_length: u64,
    /// The head as received.
    original: Vec<u8>,
    /// The head with `Connection: close` in place of any connection header.
    rewritten: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a request head; returns it and the body bytes read past it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Head, Vec<u8>)> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 || client.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let rest = buf.split_off(end);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let mut rewritten = format!("{request_line}\r\n");
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let name = name.trim().to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
        headers.push((name, value.trim().to_owned()));
    }
    rewritten.push_str("connection: close\r\n\r\n");
    let mut head = Head {
        method,
        target,
        headers,
        content_length: 0,
        original: buf,
        rewritten: rewritten.into_bytes(),
    };
    head.content_length = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((head, rest))
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    index: u64,
    plan: &Plan,
    stats: &Stats,
) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    stats.requests.lock().unwrap().push(format!(
        "{} {} {}",
        head.method,
        head.target,
        head.header("range").unwrap_or("")
    ));
    match plan(index, &head) {
        Fault::Status(status) => {
            stats.statuses.fetch_add(1, Ordering::Relaxed);
            let reason = match status {
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Error",
            };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(answer.as_bytes()).await?;
            // Read the body the client is still sending: closing with unread bytes would
            // reset the connection, and the client might never see the answer.
            let left = head.content_length.saturating_sub(rest.len() as u64);
            drain(&mut client, left).await;
            client.shutdown().await
        }
        Fault::CutRequest(fraction) => {
            stats.cut_requests.fetch_add(1, Ordering::Relaxed);
            let mut server = TcpStream::connect(upstream).await?;
            if head.content_length == 0 {
                let n = (head.original.len() as f64 * fraction) as usize;
                server.write_all(&head.original[..n]).await?;
            } else {
                server.write_all(&head.rewritten).await?;
                let n = (head.content_length as f64 * fraction) as u64;
                let from_rest = (rest.len() as u64).min(n) as usize;
                server.write_all(&rest[..from_rest]).await?;
                let mut more = (&mut client).take(n - from_rest as u64);
                tokio::io::copy(&mut more, &mut server).await?;
            }
            // Both connections close here, mid-request.
            Ok(())
        }
        Fault::CutResponse(n) => {
            stats.cut_responses.fetch_add(1, Ordering::Relaxed);
            forward(client, upstream, &head, &rest, Cut::Total(n), None).await
        }
        Fault::CutResponseBody(n) => {
            stats.cut_responses.fetch_add(1, Ordering::Relaxed);
            forward(client, upstream, &head, &rest, Cut::Body(n), None).await
        }
        Fault::CorruptBody => forward(client, upstream, &head, &rest, Cut::No, Some(stats)).await,
        Fault::Pass => forward(client, upstream, &head, &rest, Cut::No, None).await,
    }
}

/// Where a forwarded response is cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    No,
    /// After this many bytes, head included.
    Total(u64),
    /// After this many bytes of body.
    Body(u64),
}

/// Forwards the request, then the response up to `cut`; with `corrupt`, flips one byte of
/// the response body (and counts it).
async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    head: &Head,
    rest: &[u8],
    cut: Cut,
    corrupt: Option<&Stats>,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&head.rewritten).await?;
    server.write_all(rest).await?;
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let request = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        // The client keeps its side open while it waits for the answer: wait for that.
        std::future::pending::<()>().await
    };
    let response = copy_response(&mut server_read, &mut client_write, cut, corrupt);
    tokio::select! {
        _ = request => Ok(()),
        result = response => result,
    }
}

async fn copy_response(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    cut: Cut,
    corrupt: Option<&Stats>,
) -> std::io::Result<()> {
    let mut head = Vec::new(); // the response head, until its end is found
    let mut body_offset: Option<u64> = None;
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if body_offset.is_none() {
            head.extend_from_slice(&buf[..n]);
            body_offset = head
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| i as u64 + 4);
        }
        let limit = match (cut, body_offset) {
            (Cut::Total(n), _) => n,
            (Cut::Body(n), Some(body)) => body + n,
            _ => u64::MAX,
        };
        let chunk = &mut buf[..(n as u64).min(limit.saturating_sub(sent)) as usize];
        if let (Some(stats), Some(body)) = (corrupt, body_offset) {
            // Byte 100 of the body.
            let target = body + 100;
            if (sent..sent + chunk.len() as u64).contains(&target) {
                chunk[(target - sent) as usize] ^= 0xFF;
                stats.corrupted.fetch_add(1, Ordering::Relaxed);
            }
        }
        to.write_all(chunk).await?;
        sent += chunk.len() as u64;
        if sent >= limit {
            break;
        }
    }
    to.shutdown().await
}

/// Reads and discards up to `left` bytes, stopping at EOF or after a short silence.
async fn drain(client: &mut TcpStream, mut left: u64) {
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        match tokio::time::timeout(Duration::from_millis(300), client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n as u64),
            _ => return,
        }
    }
}

/// A server, a bucket, a proxy in front of it, a client through the proxy with quick
/// retries (`max_attempts` in all) and a direct one.
async fn setup(plan: Plan, max_attempts: u32) -> (TestServer, Proxy, Client, Client) {
    let server = TestServer::start().await;
    let direct = server.client(SignVersion::V4);
    direct.create_bucket(BUCKET, None).await.unwrap();
    let proxy = Proxy::start(server.server.local_addr(), plan).await;
    let client = client_with_retries(&proxy.endpoint(), fast_retries(max_attempts));
    (server, proxy, client, direct)
}

/// One connection in three faulted.
fn flaky() -> Plan {
    faulty(3, 0x0551_7A17)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_round_trips_survive_faults() {
    let (_server, proxy, client, _direct) = setup(flaky(), 10).await;
    let dir = tempfile::tempdir().unwrap();
    for (i, len) in [0, 1, 100 << 10, 3 * MIB, 7 * MIB].into_iter().enumerate() {
        let src = dir.path().join(format!("src-{i}"));
        write_random_file(&src, len, 100 + i as u64);
        let key = format!("simple/{i}");
        let up = upload_file(&client, &src, BUCKET, &key, &UploadOptions::default())
            .await
            .unwrap();
        assert_eq!(up.parts_sent, 1);
        let dst = dir.path().join(format!("dst-{i}"));
        download_file(&client, BUCKET, &key, &dst, &DownloadOptions::default())
            .await
            .unwrap();
        assert_eq!(sha256_file(&dst), sha256_file(&src), "{len} bytes");
    }
    proxy.report("simple round trips");
    assert!(proxy.stats.faults() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_survives_faults() {
    let (_server, proxy, client, direct) = setup(flaky(), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big");
    write_random_file(&src, 64 * MIB, 200);
    let ck = dir.path().join("checkpoints");
    let opts = UploadOptions {
        part_size: 5 * MIB,
        jobs: 4,
        checkpoint_dir: Some(ck.clone()),
        ..Default::default()
    };
    let up = upload_file(&client, &src, BUCKET, "big", &opts)
        .await
        .unwrap();
    assert_eq!((up.parts_sent, up.parts_resumed), (13, 0));
    assert!(checkpoints(&ck).is_empty());
    proxy.report("64 MiB multipart upload");
    let s = &proxy.stats;
    assert!(s.statuses.load(Ordering::Relaxed) > 0);
    assert!(s.cut_requests.load(Ordering::Relaxed) > 0);
    assert!(s.cut_responses.load(Ordering::Relaxed) > 0);

    let meta = direct.head_object(BUCKET, "big").await.unwrap();
    assert_eq!((meta.size, meta.crc64), (64 * MIB, up.crc64));
    let dst = dir.path().join("check");
    download_file(&direct, BUCKET, "big", &dst, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(sha256_file(&dst), sha256_file(&src));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_download_survives_faults() {
    let (_server, proxy, client, direct) = setup(flaky(), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big");
    write_random_file(&src, 64 * MIB, 300);
    upload_file(
        &direct,
        &src,
        BUCKET,
        "big",
        &UploadOptions {
            part_size: 8 * MIB,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ck = dir.path().join("checkpoints");
    let dst = dir.path().join("copy");
    let opts = DownloadOptions {
        part_size: 5 * MIB,
        parallel_threshold: MIB,
        jobs: 4,
        checkpoint_dir: Some(ck.clone()),
        ..Default::default()
    };
    let down = download_file(&client, BUCKET, "big", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(down.size, 64 * MIB);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    assert!(checkpoints(&ck).is_empty());
    proxy.report("64 MiB parallel download");
    assert!(proxy.stats.cut_responses.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_max_attempts_when_everything_fails() {
    let (_server, proxy, client, direct) = setup(fail_all(503), 3).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_random_file(&src, 300 << 10, 400);
    // Each attempt fails at once: 30 s means the retries do not stop.
    const BOUND: Duration = Duration::from_secs(30);
    let check = |e: Error| {
        let Error::Service(s) = &e else {
            panic!("not a service error: {e}")
        };
        assert_eq!((s.status, s.code.as_str()), (503, "ServiceUnavailable"));
        assert!(
            e.to_string().contains("ServiceUnavailable (HTTP 503)"),
            "{e}"
        );
    };

    // A simple upload: PutObject, tried max_attempts times.
    let err = tokio::time::timeout(
        BOUND,
        upload_file(&client, &src, BUCKET, "k", &UploadOptions::default()),
    )
    .await
    .expect("hung")
    .unwrap_err();
    check(err);
    assert_eq!(proxy.stats.connections.load(Ordering::Relaxed), 3);

    // A multipart upload: Initiate, a POST, retried by the transfer layer, as many times.
    let multipart = UploadOptions {
        part_size: 100 << 10,
        multipart_threshold: 0,
        checkpoint_dir: Some(dir.path().join("checkpoints")),
        ..Default::default()
    };
    let err = tokio::time::timeout(BOUND, upload_file(&client, &src, BUCKET, "k", &multipart))
        .await
        .expect("hung")
        .unwrap_err();
    check(err);
    assert_eq!(proxy.stats.connections.load(Ordering::Relaxed), 6);

    // A download: HEAD fails; nothing is created.
    let dst = dir.path().join("dst");
    let err = tokio::time::timeout(
        BOUND,
        download_file(&client, BUCKET, "k", &dst, &DownloadOptions::default()),
    )
    .await
    .expect("hung")
    .unwrap_err();
    check(err);
    assert_eq!(proxy.stats.connections.load(Ordering::Relaxed), 9);
    assert_eq!(names_in(dir.path()), ["src"]);
    assert!(direct.head_object(BUCKET, "k").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_download_is_rejected_and_removed() {
    let (_server, proxy, client, direct) = setup(Arc::new(|_, _| Fault::CorruptBody), 3).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_random_file(&src, 12 * MIB, 500);
    upload_file(&direct, &src, BUCKET, "obj", &UploadOptions::default())
        .await
        .unwrap();
    std::fs::remove_file(&src).unwrap();
    let ck = dir.path().join("checkpoints");
    for opts in [
        DownloadOptions::default(),
        DownloadOptions {
            part_size: 5 * MIB,
            parallel_threshold: MIB,
            checkpoint_dir: Some(ck.clone()),
            ..Default::default()
        },
    ] {
        let dst = dir.path().join("dst");
        let err = download_file(&client, BUCKET, "obj", &dst, &opts)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Crc { .. }), "{err}");
        // Neither the target, nor the temp file, nor a checkpoint to resume garbage from.
        assert!(names_in(dir.path()).iter().all(|n| n == "checkpoints"));
        assert!(checkpoints(&ck).is_empty());
    }
    assert!(proxy.stats.corrupted.load(Ordering::Relaxed) >= 4);
}

/// A Complete whose answer is lost was carried out: the retry finds the upload gone, and the
/// transfer checks the object is the one its parts make instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_complete_answer_is_resolved() {
    let plan = first_matching(
        |h| h.method == "POST" && h.target.contains("uploadId="),
        Fault::CutResponse(10),
    );
    let (_server, proxy, client, direct) = setup(plan, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_random_file(&src, 12 * MIB, 600);
    let ck = dir.path().join("checkpoints");
    let opts = UploadOptions {
        part_size: 5 * MIB,
        checkpoint_dir: Some(ck.clone()),
        ..Default::default()
    };
    let up = upload_file(&client, &src, BUCKET, "obj", &opts)
        .await
        .unwrap();
    assert_eq!((up.parts_sent, up.parts_resumed), (3, 0));
    assert_eq!(
        proxy.stats.requests_with(&["POST", "uploadId="]).len(),
        2,
        "Complete was not retried"
    );
    let meta = direct.head_object(BUCKET, "obj").await.unwrap();
    assert_eq!((meta.etag, meta.crc64), (up.etag, up.crc64));
    assert!(checkpoints(&ck).is_empty());
    let dst = dir.path().join("dst");
    download_file(&direct, BUCKET, "obj", &dst, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(sha256_file(&dst), sha256_file(&src));
}

/// A GET body cut short is fetched again from the first byte missing, not from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_bodies_resume_from_the_first_missing_byte() {
    // Every first GET, of the whole object or of a 5 MiB range, is cut after 1 MiB of body;
    // the GETs for the rest (which start elsewhere) pass.
    let plan: Plan = Arc::new(|_, head| {
        let start = head.header("range").map(|r| {
            r["bytes=".len()..]
                .split('-')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        });
        if head.method == "GET" && start.is_none_or(|s| s % (5 * MIB) == 0) {
            Fault::CutResponseBody(MIB)
        } else {
            Fault::Pass
        }
    });
    let (_server, proxy, client, direct) = setup(plan, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let len = 20 * MIB;
    write_random_file(&src, len, 700);
    upload_file(&direct, &src, BUCKET, "obj", &UploadOptions::default())
        .await
        .unwrap();
    let dst = dir.path().join("dst");

    // One GET of the whole object, cut; then the rest as a range.
    let simple = DownloadOptions {
        parallel_threshold: u64::MAX,
        ..Default::default()
    };
    download_file(&client, BUCKET, "obj", &dst, &simple)
        .await
        .unwrap();
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    let gets = proxy.stats.requests_with(&["GET /faults/obj"]);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets[1].ends_with(&format!("bytes={MIB}-{}", len - 1)),
        "{gets:?}"
    );

    // Four ranges, each cut once then finished.
    let ranged = DownloadOptions {
        part_size: 5 * MIB,
        parallel_threshold: MIB,
        ..Default::default()
    };
    download_file(&client, BUCKET, "obj", &dst, &ranged)
        .await
        .unwrap();
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    let gets = proxy.stats.requests_with(&["GET /faults/obj", "bytes="]);
    for i in 0..4 {
        let (start, end) = (i * 5 * MIB, (i + 1) * 5 * MIB - 1);
        for from in [start, start + MIB] {
            let range = format!("bytes={from}-{end}");
            assert!(
                gets.iter().any(|g| g.ends_with(&range)),
                "no {range}: {gets:?}"
            );
        }
    }
    assert_eq!(gets.len(), 1 + 8, "{gets:?}");
}

/// XML answers cut in their body (which `Client::send` cannot retry, having returned once
/// the headers arrived): ListParts on resume, and Initiate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_xml_answers_are_retried() {
    let cut_listing = first_matching(
        |h| h.method == "GET" && h.target.contains("uploadId="),
        Fault::CutResponseBody(20),
    );
    let cut_initiate = first_matching(
        |h| h.method == "POST" && h.target.ends_with("?uploads"),
        Fault::CutResponseBody(20),
    );
    let plan: Plan = Arc::new(move |i, head| match cut_listing(i, head) {
        Fault::Pass => cut_initiate(i, head),
        fault => fault,
    });
    let (_server, proxy, client, direct) = setup(plan, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_random_file(&src, 24 * MIB, 800);
    let ck = dir.path().join("checkpoints");

    // Started directly and cancelled after two parts, resumed through the proxy.
    let cancel = ossvault_client::transfer::CancellationToken::new();
    let first = UploadOptions {
        part_size: 5 * MIB,
        jobs: 2,
        checkpoint_dir: Some(ck.clone()),
        cancel: cancel.clone(),
        progress: Some(Arc::new(move |p| {
            if p.done >= 10 * MIB {
                cancel.cancel()
            }
        })),
        ..Default::default()
    };
    let err = upload_file(&direct, &src, BUCKET, "resumed", &first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let again = UploadOptions {
        progress: None,
        cancel: Default::default(),
        ..first.clone()
    };
    let up = upload_file(&client, &src, BUCKET, "resumed", &again)
        .await
        .unwrap();
    assert!(up.parts_resumed >= 2, "{up:?}");
    assert_eq!(up.parts_sent, 5 - up.parts_resumed);
    assert_eq!(proxy.stats.requests_with(&["GET", "uploadId="]).len(), 2);

    // A fresh upload whose Initiate answer is cut: Initiate is sent again. The first upload
    // it created is orphaned (its id never arrived); a lifecycle rule reaps such uploads.
    let up = upload_file(&client, &src, BUCKET, "fresh", &again)
        .await
        .unwrap();
    assert_eq!((up.parts_resumed, up.parts_sent), (0, 5));
    assert_eq!(proxy.stats.requests_with(&["POST", "?uploads"]).len(), 2);
    let orphans = support::uploads_in(&direct, BUCKET).await;
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    let dst = dir.path().join("dst");
    for key in ["resumed", "fresh"] {
        download_file(&direct, BUCKET, key, &dst, &DownloadOptions::default())
            .await
            .unwrap();
        assert_eq!(sha256_file(&dst), sha256_file(&src), "{key}");
    }
}

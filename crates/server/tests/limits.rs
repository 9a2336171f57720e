//! Slow and greedy clients against the real server on 127.0.0.0/8: bodies that stall or
//! crawl are cut, heads that crawl are cut, idle keep-alive connections are closed, one
//! address cannot take every connection, the two listeners are capped apart, and a refused
//! upload is answered without its body being read.

use ossvault_proto::sign::{v1, RequestParts};
use ossvault_server::{Config, Credential, RunningServer};
use reqwest::{Method, StatusCode};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const AK: &str = "test-ak";
const SK: &str = "test-secret";

struct TestServer {
    server: RunningServer,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// A server configuration on a fresh data directory, adjusted.
fn test_config(adjust: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let credentials = vec![Credential {
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
    }];
    let mut config = Config::new(
        dir.path().join("data"),
        "127.0.0.1:0".parse().unwrap(),
        credentials,
    );
    adjust(&mut config);
    (dir, config)
}

impl TestServer {
    async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let (dir, config) = test_config(adjust);
        Self::start(dir, config).await
    }

    async fn start(dir: tempfile::TempDir, config: Config) -> Self {
        let server = ossvault_server::start(config).await.unwrap();
        TestServer {
            server,
            _dir: dir,
            client: reqwest::Client::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A V1-signed request with an empty query.
    async fn signed(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> (StatusCode, Vec<u8>) {
        let mut headers = http::HeaderMap::new();
        let date = ossvault_proto::time::http_date(SystemTime::now());
        headers.insert("date", date.parse().unwrap());
        for (k, v) in extra {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let parts = RequestParts {
            method: method.as_str(),
            bucket: Some(bucket),
            key,
            query: &[],
            headers: &headers,
        };
        let auth = v1::authorization(&parts, AK, SK);
        headers.insert("authorization", auth.parse().unwrap());
        let url = format!("{}/{bucket}/{}", self.server.endpoint(), key.unwrap_or(""));
        let r = self
            .client
            .request(method, url)
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    async fn put_bucket(&self, bucket: &str, acl: &str) {
        let (status, body) = self
            .signed(Method::PUT, bucket, None, &[("x-oss-acl", acl)], b"")
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }

    async fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, _) = self.signed(Method::PUT, bucket, Some(key), &[], body).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn get_object(&self, bucket: &str, key: &str) -> (StatusCode, Vec<u8>) {
        self.signed(Method::GET, bucket, Some(key), &[], b"").await
    }
}

/// A TCP connection to `to` from the loopback address 127.0.0.`host`.
async fn connect_from(host: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0)))?;
    socket.connect(to).await
}

/// How a connection the client keeps open ended.
#[derive(Debug)]
enum Ending {
    /// The server closed it, after sending these bytes.
    Closed(Vec<u8>),
    /// Still open at the deadline.
    Open,
}

/// Reads until the server closes the connection (EOF or reset) or `within` passes.
async fn wait_for_close(stream: &mut TcpStream, within: Duration) -> Ending {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    match tokio::time::timeout(within, read).await {
        Ok(()) => Ending::Closed(got),
        Err(_) => Ending::Open,
    }
}

/// Reads one response head (through the blank line) off a raw connection.
async fn read_head(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut head = Vec::new();
    let read = async {
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return false,
            }
        }
        true
    };
    match tokio::time::timeout(within, read).await {
        Ok(true) => Some(String::from_utf8_lossy(&head).into_owned()),
        _ => None,
    }
}

/// The test process holds both ends of every connection: make room for a few thousand.
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

/// Issue 8: 1,100 connections that start an upload (or a head) and then stall used to hold
/// every connection slot until they chose to close. Now they are cut by the body and head
/// timeouts, no address may hold more than its share, and other clients are served
/// throughout.
#[test]
fn stalled_uploads_and_heads_are_reaped_while_others_are_served() {
    let timeout = Duration::from_secs(4);
    raise_fd_limit(8192);
    let (dir, config) = test_config(|c| {
        c.header_timeout = timeout;
        c.body_idle_timeout = timeout;
        c.body_rate_grace = timeout;
        c.max_connections_per_ip = PER_IP;
    });
    // Sized as `ossvault serve` sizes it: every held upload parks two blocking threads.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(config.blocking_threads())
        .enable_all()
        .build()
        .unwrap()
        .block_on(stalled_clients(dir, config, timeout));
}

/// Slow connections in the reproduction: 1,000 uploads and 100 heads (one in eleven)...
const SOCKETS: usize = 1100;
const BODIES: usize = 1000;
/// ...from 127.0.0.2 ..= 127.0.0.20, at most this many held per address.
const ADDRESSES: usize = 19;
const PER_IP: usize = 50;

async fn stalled_clients(dir: tempfile::TempDir, config: Config, timeout: Duration) {
    let s = TestServer::start(dir, config).await;
    s.put_bucket("open", "public-read-write").await;
    s.put_object("open", "small", b"a small object").await;
    let addr = s.addr();

    let started = Instant::now();
    let mut slow = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let host = 2 + (i % ADDRESSES) as u8;
        let mut stream = connect_from(host, addr).await.unwrap();
        let is_body = i % 11 != 10;
        // Writes may fail on a connection the server already closed at its address cap.
        if is_body {
            let head = format!(
                "PUT /open/slow-{i} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\n\r\nabc"
            );
            let _ = stream.write_all(head.as_bytes()).await;
        } else {
            let _ = stream.write_all(b"GET /open/small HTTP/1.1\r\n").await;
        }
        slow.push((is_body, stream));
    }
    let opened = started.elapsed();
    // Heads trickle on: one header line a second, which no head timeout based on idleness
    // alone would ever cut.
    let mut closers = Vec::new();
    for (is_body, mut stream) in slow {
        closers.push(tokio::spawn(async move {
            let deadline = Instant::now() + timeout * 4;
            if is_body {
                return (true, wait_for_close(&mut stream, timeout * 4).await);
            }
            loop {
                if let Ending::Closed(got) =
                    wait_for_close(&mut stream, Duration::from_secs(1)).await
                {
                    return (false, Ending::Closed(got));
                }
                if Instant::now() > deadline || stream.write_all(b"X-a: b\r\n").await.is_err() {
                    return (false, wait_for_close(&mut stream, Duration::ZERO).await);
                }
            }
        }));
    }

    // While they hang, a normal client (on 127.0.0.1) arriving now is answered: a new
    // connection each time, as the client's pooled one was accepted before the flood.
    let newcomer = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..20 {
        let url = format!("{}/open/small", s.server.endpoint());
        let r = tokio::time::timeout(Duration::from_secs(2), newcomer.get(url).send())
            .await
            .expect("a GET is answered while slow clients hang")
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), &b"a small object"[..]);
    }
    assert!(
        started.elapsed() < timeout,
        "the GETs were served while the slow connections were all still held \
         (opening them took {opened:?}, the GETs ended at {:?})",
        started.elapsed()
    );

    // Then every slow connection is closed by the server: uploads with a RequestTimeout
    // answer, heads silently (hyper just closes), and connections over the address cap at
    // once with nothing.
    let (mut timed_out, mut refused_bodies) = (0, 0);
    for closer in closers {
        let (is_body, ending) = closer.await.unwrap();
        let Ending::Closed(got) = ending else {
            panic!("a slow connection was still open after {:?}", timeout * 4);
        };
        let text = String::from_utf8_lossy(&got);
        if !is_body {
            continue;
        }
        if got.is_empty() {
            refused_bodies += 1;
            continue;
        }
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        timed_out += 1;
    }
    let over_cap = SOCKETS - ADDRESSES * PER_IP;
    eprintln!("{timed_out} uploads timed out, {refused_bodies} refused at the address cap");
    assert!(
        refused_bodies <= over_cap && timed_out + refused_bodies == BODIES,
        "every upload held was cut with RequestTimeout"
    );
    for i in (0..SOCKETS).filter(|i| i % 11 != 10) {
        let (status, _) = s.get_object("open", &format!("slow-{i}")).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "nothing of a cut upload is kept"
        );
    }

    // With them gone, small GETs are fast again.
    let mut latencies = Vec::with_capacity(500);
    for _ in 0..500 {
        let url = format!("{}/open/small", s.server.endpoint());
        let t = Instant::now();
        let r = s.client.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
        latencies.push(t.elapsed());
    }
    let p99 = p99(latencies);
    eprintln!("small GET p99 after the slow clients were reaped: {p99:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
}

/// A raw, anonymous PUT into `bucket`/`key` declaring `declared` bytes and sending `first`.
async fn start_upload(addr: SocketAddr, path: &str, declared: u64, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {declared}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream
}

#[tokio::test]
async fn a_stalled_upload_is_cut_with_request_timeout_and_changes_nothing() {
    let s = TestServer::start_with(|c| {
        c.body_idle_timeout = Duration::from_millis(500);
        c.body_min_rate = 0; // the idle limit alone
    })
    .await;
    s.put_bucket("open", "public-read-write").await;
    s.put_object("open", "kept", b"the original").await;

    for key in ["kept", "never-made"] {
        let started = Instant::now();
        let mut stream = start_upload(s.addr(), &format!("/open/{key}"), 100_000, b"0123").await;
        let Ending::Closed(got) = wait_for_close(&mut stream, Duration::from_secs(5)).await else {
            panic!("the stalled upload's connection is closed");
        };
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
    assert_eq!(
        s.get_object("open", "kept").await,
        (StatusCode::OK, b"the original".to_vec())
    );
    assert_eq!(
        s.get_object("open", "never-made").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_crawling_upload_is_cut_by_the_minimum_rate() {
    let s = TestServer::start_with(|c| {
        c.body_idle_timeout = Duration::from_secs(10);
        c.body_min_rate = 1000;
        c.body_rate_grace = Duration::from_secs(1);
    })
    .await;
    s.put_bucket("open", "public-read-write").await;
    let started = Instant::now();
    let stream = start_upload(s.addr(), "/open/crawl", 100_000, b"").await;
    let (mut reader, mut writer) = stream.into_split();
    // 100 bytes a second: never idle for long, but a tenth of the minimum rate.
    let crawl = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(&[b'x'; 10]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut got)).await;
    crawl.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    assert!(text.contains("slower than 1000 bytes per second"), "{text}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5),
        "cut after the grace period, well before the idle limit ({elapsed:?})"
    );
    assert_eq!(s.get_object("open", "crawl").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refused_upload_is_answered_without_reading_its_body_and_closed() {
    let s = TestServer::start_with(|_| {}).await;
    s.put_bucket("private", "private").await;
    // Only the head is sent: the answer cannot be waiting for the 100 MB announced.
    let mut stream = start_upload(s.addr(), "/private/k", 100_000_000, b"").await;
    let head = read_head(&mut stream, Duration::from_secs(5))
        .await
        .expect("answered without the body");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        matches!(
            wait_for_close(&mut stream, Duration::from_secs(5)).await,
            Ending::Closed(_)
        ),
        "the connection is closed, not kept to drain the body"
    );
    assert_eq!(s.get_object("private", "k").await.0, StatusCode::NOT_FOUND);

    // A refused request without a body keeps its connection.
    let mut stream = TcpStream::connect(s.addr()).await.unwrap();
    let get = format!("GET /private/k HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr());
    stream.write_all(get.as_bytes()).await.unwrap();
    let head = read_head(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let s = TestServer::start_with(|c| c.header_timeout = Duration::from_millis(500)).await;
    let mut stream = TcpStream::connect(s.addr()).await.unwrap();
    let head = format!("HEAD / HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr());
    stream.write_all(head.as_bytes()).await.unwrap();
    let answered = read_head(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answered.starts_with("HTTP/1.1 "), "{answered}");
    assert!(!answered.to_ascii_lowercase().contains("connection: close"));
    // Kept alive, then closed when no next request comes within the head timeout.
    let idle = Instant::now();
    let ending = wait_for_close(&mut stream, Duration::from_secs(5)).await;
    assert!(matches!(ending, Ending::Closed(_)), "{ending:?}");
    assert!(
        idle.elapsed() >= Duration::from_millis(400),
        "{:?}",
        idle.elapsed()
    );
}

/// Sends a request on a raw connection and says whether an answer came.
async fn answered(stream: &mut TcpStream, within: Duration) -> bool {
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if stream.write_all(get).await.is_err() {
        return false;
    }
    read_head(stream, within).await.is_some()
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let s = TestServer::start_with(|c| c.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(2, s.addr()).await.unwrap();
        assert!(answered(&mut stream, Duration::from_secs(5)).await);
        held.push(stream);
    }
    // The fourth from the same address is closed at once...
    let mut fourth = connect_from(2, s.addr()).await.unwrap();
    assert!(matches!(
        wait_for_close(&mut fourth, Duration::from_secs(5)).await,
        Ending::Closed(got) if got.is_empty()
    ));
    // ...while another address is served, and a closed connection frees its slot.
    let mut other = connect_from(3, s.addr()).await.unwrap();
    assert!(answered(&mut other, Duration::from_secs(5)).await);
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        // The server notices the close asynchronously.
        let mut stream = connect_from(2, s.addr()).await.unwrap();
        if answered(&mut stream, Duration::from_secs(1)).await {
            again = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a freed slot is usable again");
}

#[tokio::test]
async fn a_full_http_listener_does_not_block_https() {
    let s = TestServer::start_with(|c| {
        c.https_address = Some("127.0.0.1:0".parse().unwrap());
        c.max_connections = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(s.addr()).await.unwrap();
        assert!(answered(&mut stream, Duration::from_secs(5)).await);
        held.push(stream);
    }
    // The third HTTP connection waits in the accept queue...
    let mut waiting = TcpStream::connect(s.addr()).await.unwrap();
    assert!(!answered(&mut waiting, Duration::from_millis(500)).await);
    // ...but HTTPS has its own slots.
    let pem = s.server.certificate_pem().unwrap();
    let pinned = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("{}/", s.server.https_endpoint().unwrap());
    let r = tokio::time::timeout(Duration::from_secs(5), pinned.get(url).send())
        .await
        .expect("HTTPS answers while HTTP is full")
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "anonymous ListBuckets");
    // And a freed HTTP slot lets the waiting connection in.
    drop(held.pop());
    assert!(read_head(&mut waiting, Duration::from_secs(5))
        .await
        .is_some());
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let s = TestServer::start_with(|c| c.send_timeout = Duration::from_secs(1)).await;
    s.put_bucket("open", "public-read-write").await;
    let size = 8 << 20;
    s.put_object("open", "big", &vec![7u8; size]).await;
    // A small receive window, so the server's writes stall long before the object is sent.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(s.addr()).await.unwrap();
    let get = format!("GET /open/big HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr());
    stream.write_all(get.as_bytes()).await.unwrap();
    let head = read_head(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reading again drains what was in flight, then finds the connection closed.
    let mut rest = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the server closed the connection");
    assert!(
        rest.len() < size,
        "the server gave up on the stalled response ({} of {size} bytes sent)",
        rest.len()
    );
}

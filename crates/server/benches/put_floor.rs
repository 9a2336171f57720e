//! What many small PUTs cost before any sync work: the floor under the sync benchmark's
//! 10,000 × 16 KiB case (`bench/sync_bench.py`), measured on the machine that runs it.
//!
//! Each case sends BENCH_FILES (default 10,000) PUTs of BENCH_SIZE bytes (default 16,432: a
//! sealed 16 KiB file), 128 in flight (what a sync keeps in flight for small files), client
//! and server in this process on runtimes of their own (two workers each) and on mimalloc (as
//! the `ossvault` binary), and reports the wall time and the process's CPU time (user +
//! system, both sides together):
//! - bare HTTP: a hyper HTTP/1.1 server that reads each body and answers `200` with an ETag,
//!   a reqwest client that sends unsigned PUTs (no signature, no hashing, no storage);
//! - the embedded server: the real `ossvault-server` on a data directory (BENCH_DIR, default
//!   /var/tmp: V4 signature check, MD5/CRC-64, the durable metadata commit) and the real
//!   `ossvault-client` (V4 signing, plain objects: no client-side encryption, no file reads),
//!   first with empty objects (the protocol and the metadata alone), then with the bodies
//!   (each under a key of its own: the second round overwrites nothing).
//!
//! `cargo bench -p ossvault-server --bench put_floor`

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ossvault_client::{PutOptions, RequestBody};
use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

mod support;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A sealed 16 KiB file's size.
const SIZE: usize = 16_432;
const IN_FLIGHT: usize = 128;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The process's user + system CPU time so far (`None` where `getrusage` is missing).
fn cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given, which is zeroed (a valid rusage)
        // whether or not it does.
        let usage = unsafe {
            libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
            usage.assume_init()
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Some(tv(usage.ru_utime) + tv(usage.ru_stime))
    }
    #[cfg(not(unix))]
    None
}

/// Runs `put(i)` for every file, [`IN_FLIGHT`] at a time, and prints wall and CPU time.
fn measure<F, Fut>(label: &str, files: usize, client: &tokio::runtime::Runtime, put: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let cpu = cpu_time();
    let start = Instant::now();
    client.block_on(
        futures_util::stream::iter(0..files)
            .map(put)
            .buffer_unordered(IN_FLIGHT)
            .for_each(|()| async {}),
    );
    let wall = start.elapsed().as_secs_f64();
    match cpu.zip(cpu_time()) {
        Some((before, after)) => {
            let cpu = (after - before).as_secs_f64();
            println!(
                "{label:<48} {wall:6.2} s wall {cpu:6.2} s CPU {:6.1} µs CPU per PUT",
                cpu * 1e6 / files as f64
            );
        }
        None => println!("{label:<48} {wall:6.2} s wall"),
    }
}

async fn bare_server(listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let response = Response::builder()
                    .header("etag", format!("\"{}\"", body.len()))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                Ok::<_, Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() {
    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let size: usize = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SIZE);
    let body = Bytes::from((0..size).map(|i| (i * 31 + 7) as u8).collect::<Vec<u8>>());
    let client_rt = runtime();
    let server_rt = runtime();
    println!(
        "{files} PUTs of {size} bytes, {IN_FLIGHT} in flight, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Bare HTTP.
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    server_rt.spawn(bare_server(listener));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let put = |i: usize| {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        async move {
            let response = http
                .put(format!("{url}o{i}"))
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap();
        }
    };
    measure(
        "bare HTTP (hyper server, reqwest client)",
        files,
        &client_rt,
        put,
    );

    // The embedded server and the client.
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let config = support::config(dir.path().join("data"));
    let server = server_rt.block_on(ossvault_server::start(config)).unwrap();
    let client = support::client(&server);
    client_rt
        .block_on(client.create_bucket("floor", None))
        .unwrap();
    for (round, (label, body)) in [
        ("ossvault server + client, empty objects", Bytes::new()),
        ("ossvault server + client (V4, plain, durable)", body),
    ]
    .into_iter()
    .enumerate()
    {
        let put = |i: usize| {
            let (client, body) = (&client, body.clone());
            async move {
                client
                    .put_object(
                        "floor",
                        &format!("r{round}/d{:02}/f{i:06}", i % 100),
                        RequestBody::Bytes(body),
                        &PutOptions::default(),
                    )
                    .await
                    .unwrap();
            }
        };
        measure(label, files, &client_rt, put);
    }
    server_rt.block_on(server.shutdown());
}

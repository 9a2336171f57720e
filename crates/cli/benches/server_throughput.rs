//! Throughput of the embedded server over loopback, next to the machine's own limits measured
//! in the same run: 1 GiB PUT against `openssl speed -evp md5` (every PUT hashes MD5), 1 GiB
//! GET against reading the same bytes from the page cache, the server's peak RSS, and 4 KiB
//! PUTs from 32 concurrent clients.
//!
//! `cargo bench -p ossvault-cli --bench server_throughput` (env `BENCH_SIZE_MIB` to change the
//! large object's size, default 1024; `BENCH_REPEAT` runs per transfer, default 3, median
//! reported). Transfers use `curl` on presigned URLs, so the figures
//! are the server's, not our client's.

use ossvault_proto::sign::{v1, RequestParts};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const AK: &str = "bench-ak";
const SK: &str = "bench-secret-key";
const BUCKET: &str = "bench";
const SMALL_PUT_CLIENTS: usize = 32;
const SMALL_PUT_SECONDS: u64 = 5;

fn main() {
    let size_mib: u64 = std::env::var("BENCH_SIZE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let size = size_mib << 20;
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let work = tempfile::Builder::new()
        .prefix("ossvault-bench")
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    let file = work.path().join("payload");
    let t = Instant::now();
    write_random_file(&file, size);
    let durable_write_rate = size as f64 / t.elapsed().as_secs_f64();

    let md5_rate = openssl_rate("md5", "16384");
    let aes_rate = openssl_rate("aes-256-gcm", "65536");
    let cache_rate = page_cache_read_rate(&file, size);

    let (mut server, endpoint) = start_server(&work.path().join("data"));
    let pid = server.id();
    let rss_before = peak_rss_kib(pid);
    put(&endpoint, BUCKET, "", None);

    // The same object PUT and GET without SSE, with SSE-OSS and with SSE-KMS.
    let modes: [(&str, Option<&str>); 3] = [
        ("plain", None),
        ("SSE-OSS", Some("AES256")),
        ("SSE-KMS", Some("KMS")),
    ];
    let mut rates = Vec::new();
    for (name, sse) in modes {
        let key = format!("big-{}", name.to_ascii_lowercase());
        let headers: Vec<(&str, &str)> = sse
            .map(|v| vec![("x-oss-server-side-encryption", v)])
            .unwrap_or_default();
        // The median of a few runs: one run on a shared 2-core machine is noise.
        let runs: Result<Vec<(f64, f64)>, String> = (0..repeat)
            .map(|_| transfer(&endpoint, &file, size, &key, &headers))
            .collect();
        match runs {
            Ok(runs) => {
                let put = median(runs.iter().map(|r| r.0).collect());
                let get = median(runs.iter().map(|r| r.1).collect());
                rates.push((name, Some((put, get))));
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                rates.push((name, None));
            }
        }
    }
    let (put_rate, get_rate) = rates[0].1.expect("the plain transfer works");
    let rss_large = peak_rss_kib(pid);

    // Let the writeback and unlinks of the big objects settle before timing small writes.
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(3));
    let ops = small_puts(&endpoint);
    let rss_after = peak_rss_kib(pid);

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = server.wait();

    println!();
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    println!("object size: {size_mib} MiB; transfers: median of {repeat} runs");
    println!("{:<44} {:>12} {:>10}", "measure", "value", "ratio");
    println!(
        "{:<44} {:>9.0} MB/s {:>10}",
        "reference: openssl speed -evp md5 (16 KiB)",
        md5_rate / 1e6,
        ""
    );
    println!(
        "{:<44} {:>9.0} MB/s {:>10}",
        "reference: write payload + fsync (disk)",
        durable_write_rate / 1e6,
        ""
    );
    println!(
        "{:<44} {:>9.0} MB/s {:>10}",
        "reference: page-cache read of the payload",
        cache_rate / 1e6,
        ""
    );
    println!(
        "{:<44} {:>9.0} MB/s {:>9.2}x",
        "PUT (curl, presigned V1)  vs md5",
        put_rate / 1e6,
        put_rate / md5_rate
    );
    println!(
        "{:<44} {:>9} {:>9.2}x",
        "PUT                       vs disk write+fsync",
        "",
        put_rate / durable_write_rate
    );
    println!(
        "{:<44} {:>9.0} MB/s {:>9.2}x",
        "GET (curl, presigned V1)  vs page cache",
        get_rate / 1e6,
        get_rate / cache_rate
    );
    println!(
        "{:<44} {:>9.0} MB/s",
        "reference: openssl speed -evp aes-256-gcm",
        aes_rate / 1e6
    );
    for (name, r) in &rates[1..] {
        match r {
            Some((put, get)) => {
                let put_label = format!("PUT {name:<21} vs plain PUT");
                let get_label = format!("GET {name:<21} vs plain GET");
                println!(
                    "{put_label:<44} {:>9.0} MB/s {:>9.2}x",
                    put / 1e6,
                    put / put_rate
                );
                println!(
                    "{get_label:<44} {:>9.0} MB/s {:>9.2}x",
                    get / 1e6,
                    get / get_rate
                );
            }
            None => println!("{name}: not measured (the server refused it)"),
        }
    }
    println!("{:<44} {:>9} KiB", "server peak RSS at start", rss_before);
    println!(
        "{:<44} {:>9} KiB",
        "server peak RSS after 1 GiB PUT+GET", rss_large
    );
    println!(
        "{:<44} {:>9} KiB",
        "server peak RSS after small PUTs", rss_after
    );
    println!(
        "{:<44} {:>9.0} op/s",
        format!("4 KiB PUT, {SMALL_PUT_CLIENTS} concurrent clients"),
        ops
    );
}

fn write_random_file(path: &Path, size: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create payload"));
    // xorshift: incompressible enough, and fast to make.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).expect("write payload");
        left -= n as u64;
    }
    f.flush().expect("flush payload");
    f.get_ref().sync_all().expect("fsync payload");
}

/// Bytes per second of `openssl speed -evp <cipher>` on blocks of `bytes`.
fn openssl_rate(cipher: &str, bytes: &str) -> f64 {
    let out = Command::new("openssl")
        .args(["speed", "-evp", cipher, "-bytes", bytes, "-seconds", "3"])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // The last line reads `<cipher>  <rate>k`, in thousands of bytes per second.
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().to_ascii_lowercase().starts_with(cipher))
        .expect("openssl result line");
    let k: f64 = line
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches('k')
        .parse()
        .expect("rate");
    k * 1000.0
}

/// PUTs then GETs `file` as `key` with curl on presigned URLs that sign `headers`; returns the
/// two rates in bytes per second.
fn transfer(
    endpoint: &str,
    file: &Path,
    size: u64,
    key: &str,
    headers: &[(&str, &str)],
) -> Result<(f64, f64), String> {
    let put_url = presign(endpoint, "PUT", key, headers);
    let mut args = vec![
        "-sS".to_owned(),
        "--fail".to_owned(),
        "-T".to_owned(),
        file.display().to_string(),
    ];
    args.extend(["-H".to_owned(), "Content-Type:".to_owned()]);
    for (name, value) in headers {
        args.extend(["-H".to_owned(), format!("{name}: {value}")]);
    }
    args.push(put_url);
    let t = Instant::now();
    curl(&args)?;
    let put = size as f64 / t.elapsed().as_secs_f64();
    let get_url = presign(endpoint, "GET", key, &[]);
    let t = Instant::now();
    curl(&[
        "-sS".into(),
        "--fail".into(),
        "-o".into(),
        "/dev/null".into(),
        get_url,
    ])?;
    let get = size as f64 / t.elapsed().as_secs_f64();
    Ok((put, get))
}

fn page_cache_read_rate(path: &Path, size: u64) -> f64 {
    let read_all = || {
        let mut f = std::fs::File::open(path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf).unwrap() > 0 {
            std::hint::black_box(&buf);
        }
    };
    read_all(); // warm the cache
    let t = Instant::now();
    read_all();
    size as f64 / t.elapsed().as_secs_f64()
}

fn start_server(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossvault"))
        .args([
            "serve",
            "--no-profile",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--address",
            "127.0.0.1:0",
        ])
        .args(["--access-key-id", AK, "--access-key-secret", SK])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start ossvault serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("endpoint line");
    let endpoint = line
        .trim()
        .strip_prefix("endpoint: ")
        .expect("endpoint line")
        .to_owned();
    (child, endpoint)
}

fn presign(endpoint: &str, method: &str, key: &str, signed: &[(&str, &str)]) -> String {
    let mut headers = http::HeaderMap::new();
    for (name, value) in signed {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let parts = RequestParts {
        method,
        bucket: Some(BUCKET),
        key: Some(key),
        query: &[],
        headers: &headers,
    };
    let expires = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let query: Vec<String> = v1::presign(&parts, AK, SK, expires)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", ossvault_proto::encode::uri_encode(&v)))
        .collect();
    format!("{endpoint}/{BUCKET}/{key}?{}", query.join("&"))
}

fn curl(args: &[String]) -> Result<(), String> {
    let status = Command::new("curl")
        .args(args)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("curl failed ({status})"))
    }
}

/// Headers of a V1-signed request (Date, Content-Type, Authorization).
fn signed_headers(method: &str, bucket: &str, key: &str, content_type: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "date",
        ossvault_proto::time::http_date(SystemTime::now())
            .parse()
            .unwrap(),
    );
    headers.insert("content-type", content_type.parse().unwrap());
    let key = (!key.is_empty()).then_some(key);
    let parts = RequestParts {
        method,
        bucket: Some(bucket),
        key,
        query: &[],
        headers: &headers,
    };
    let auth = v1::authorization(&parts, AK, SK);
    headers.insert("authorization", auth.parse().unwrap());
    headers
}

fn put(endpoint: &str, bucket: &str, key: &str, body: Option<Vec<u8>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let r = client
            .put(format!("{endpoint}/{bucket}/{key}"))
            .headers(signed_headers(
                "PUT",
                bucket,
                key,
                "application/octet-stream",
            ))
            .body(body.unwrap_or_default())
            .send()
            .await
            .expect("request");
        assert!(
            r.status().is_success(),
            "PUT /{bucket}/{key}: {}",
            r.status()
        );
    });
}

/// 4 KiB PUTs from many concurrent clients for a fixed time: operations per second.
fn small_puts(endpoint: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(SMALL_PUT_SECONDS);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..SMALL_PUT_CLIENTS {
            let client = client.clone();
            let endpoint = endpoint.to_owned();
            tasks.push(tokio::spawn(async move {
                let payload = vec![worker as u8; 4096];
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let key = format!("small/{worker}/{done}");
                    let r = client
                        .put(format!("{endpoint}/{BUCKET}/{key}"))
                        .headers(signed_headers(
                            "PUT",
                            BUCKET,
                            &key,
                            "application/octet-stream",
                        ))
                        .body(payload.clone())
                        .send()
                        .await
                        .expect("request");
                    assert!(r.status().is_success(), "small PUT: {}", r.status());
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

//! Scrub throughput next to its ceilings, measured in the same run: CRC-64/XZ (`crc-fast`, what
//! plain blobs are checked with) and AES-256-GCM opening of 64 KiB chunks (`ring`, what sealed
//! blobs are checked with), both on one core over in-memory buffers; then an unbounded scrub of
//! a data directory holding BENCH_SCRUB_MIB (default 256) MiB plain + as much SSE-OSS content in
//! 8 MiB objects, written through the real server, with the page cache warm and with the blob
//! files dropped from it (`posix_fadvise(DONTNEED)`); then a scrub bounded at 100 MiB/s, to show
//! the bound holds. `cargo bench -p ossvault-server --bench scrub`.

use ossvault_client::{PutOptions, RequestBody};
use ossvault_server::scrub::{scrub_data_dir, ScrubOptions};
use ossvault_server::RootSecret;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

mod support;

const OBJECT: usize = 8 << 20;
const ROOT: [u8; 32] = [3; 32];

fn rate(bytes_per_call: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..4 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        f();
        n += 1;
    }
    n as f64 * bytes_per_call as f64 / start.elapsed().as_secs_f64()
}

fn drop_from_page_cache(dir: &Path) {
    for entry in walk(&dir.join("blobs")) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(&entry).unwrap();
            // SAFETY: advisory call on an open descriptor.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = entry;
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn main() {
    let mib: usize = std::env::var("BENCH_SCRUB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    // Ceilings, one core.
    let buf: Vec<u8> = (0..(64usize << 20)).map(|i| (i * 7 + 3) as u8).collect();
    let crc = rate(buf.len(), || {
        black_box(ossvault_proto::crc64::checksum(black_box(&buf)));
    });
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    let mut sealed = vec![1u8; 64 << 10];
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut sealed,
        )
        .unwrap();
    sealed.extend_from_slice(tag.as_ref());
    let mut work = sealed.clone();
    let gcm = rate(64 << 10, || {
        work.copy_from_slice(&sealed);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                black_box(&mut work),
            )
            .unwrap();
        black_box(plain);
    });

    // A data directory on the disk (not tmpfs), filled through the real server.
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = support::config(data.clone());
        config.root_secret = Some(RootSecret::from_bytes(ROOT));
        let server = ossvault_server::start(config).await.unwrap();
        let client = support::client(&server);
        client.create_bucket("scrub", None).await.unwrap();
        let body = bytes::Bytes::from(buf[..OBJECT].to_vec());
        for i in 0..(mib * 2) / 8 {
            let sse = i % 2 == 1;
            let options = PutOptions {
                headers: if sse {
                    vec![("x-oss-server-side-encryption".into(), "AES256".into())]
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            client
                .put_object(
                    "scrub",
                    &format!("o{i}"),
                    RequestBody::Bytes(body.clone()),
                    &options,
                )
                .await
                .unwrap();
        }
        server.shutdown().await;
    });

    let unbounded = ScrubOptions {
        max_bytes_per_sec: 0,
        ..Default::default()
    };
    let root = || Some(RootSecret::from_bytes(ROOT));
    let warm = scrub_data_dir(&data, root(), &unbounded).unwrap();
    drop_from_page_cache(&data);
    let cold = scrub_data_dir(&data, root(), &unbounded).unwrap();
    let bounded = scrub_data_dir(
        &data,
        root(),
        &ScrubOptions {
            max_bytes_per_sec: 100 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(warm.corrupt.is_empty() && cold.corrupt.is_empty());

    let mb = |r: f64| r / 1e6;
    println!();
    println!(
        "scrub of {} MiB ({} MiB plain + {} MiB SSE-OSS, 8 MiB objects), one scrub thread",
        2 * mib,
        mib,
        mib
    );
    println!(
        "{:<44} {:>8.0} MB/s",
        "ceiling: CRC-64/XZ (crc-fast), one core",
        mb(crc)
    );
    println!(
        "{:<44} {:>8.0} MB/s",
        "ceiling: AES-256-GCM open (ring), one core",
        mb(gcm)
    );
    let both = 2.0 / (1.0 / crc + 1.0 / gcm);
    println!(
        "{:<44} {:>8.0} MB/s",
        "ceiling: half CRC, half GCM (harmonic)",
        mb(both)
    );
    println!(
        "{:<44} {:>8.0} MB/s  {:.2}x the mixed ceiling",
        "scrub, page cache warm",
        mb(warm.bytes_per_sec),
        warm.bytes_per_sec / both
    );
    println!(
        "{:<44} {:>8.0} MB/s",
        "scrub, blob files dropped from the cache",
        mb(cold.bytes_per_sec)
    );
    println!(
        "{:<44} {:>8.0} MB/s  (bound: {:.0} MB/s)",
        "scrub bounded at 100 MiB/s",
        mb(bounded.bytes_per_sec),
        mb((100u64 << 20) as f64)
    );
}

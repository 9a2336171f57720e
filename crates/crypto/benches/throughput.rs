//! Encrypt and decrypt throughput of both formats, in memory and file → file, next to
//! `openssl speed -evp aes-256-gcm` / `-evp aes-256-ctr` measured in the same run, with peak RSS
//! (VmHWM, reset before each file run) to show memory stays flat in the file size.
//!
//! ```text
//! cargo bench -p ossvault-crypto --bench throughput
//! OSSVAULT_BENCH_MEM_MIB=256 OSSVAULT_BENCH_FILE_MIB=1024 OSSVAULT_BENCH_FILE_REPS=2 \
//!     OSSVAULT_BENCH_DIRS=/var/tmp,/dev/shm   (the defaults)
//! ```
//!
//! Buffers and tags go through `std::hint::black_box` so that nothing is optimised away. File
//! runs go through `decrypt_to_file` (read → cipher → write on a blocking thread → fsync →
//! rename), so on disk they measure the disk; a "plain copy" through the same path with no
//! cipher gives the I/O ceiling of the run (column ×copy).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ossvault_crypto::{
    decrypt_to_file, CipherStream, Decryptor, EncryptOptions, Encryptor, Envelope, Format,
    MasterKey, ObjectHeaders,
};
use zeroize::Zeroizing;

const PIECE: usize = 1 << 20;
const MIB: f64 = 1024.0 * 1024.0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `openssl speed -evp CIPHER -bytes 65536`, best of three 1-second runs (the machine may be
/// shared: the best run is the least disturbed, as for our own best-of-five): bytes per second,
/// or `None` without openssl.
fn openssl_speed(cipher: &str) -> Option<f64> {
    (0..3)
        .filter_map(|_| openssl_speed_once(cipher))
        .max_by(f64::total_cmp)
}

fn openssl_speed_once(cipher: &str) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", cipher, "-seconds", "1", "-bytes", "65536"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| {
        l.to_ascii_lowercase()
            .starts_with(&cipher.to_ascii_lowercase())
    })?;
    let last = line.split_whitespace().last()?;
    let k: f64 = last.trim_end_matches('k').parse().ok()?;
    Some(k * 1000.0)
}

/// Peak resident set size of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Row {
    what: String,
    /// File runs: the plain copy's rate through the same path (the I/O ceiling).
    copy: Option<f64>,
    bytes_per_sec: f64,
    reference: Option<f64>,
    peak_rss_kib: Option<(u64, u64)>,
}

fn best_of(reps: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..reps).map(|_| f()).min().unwrap()
}

fn in_memory_encrypt(env: &Envelope, plain: &[u8]) -> Duration {
    let mut out = Vec::with_capacity(PIECE + 64 * 1024);
    let start = Instant::now();
    let mut enc: Encryptor = env.encryptor();
    for piece in plain.chunks(PIECE) {
        enc.update(black_box(piece), &mut out).unwrap();
        black_box(&out);
        out.clear();
    }
    enc.finish(&mut out).unwrap();
    black_box(&out);
    start.elapsed()
}

fn in_memory_decrypt(env: &Envelope, stored: &[u8]) -> Duration {
    let mut out = Vec::with_capacity(PIECE + 64 * 1024);
    let start = Instant::now();
    let mut dec: Decryptor = env.decryptor();
    for piece in stored.chunks(PIECE) {
        dec.update(black_box(piece), &mut out).unwrap();
        black_box(&out);
        out.clear();
    }
    dec.finish(&mut out).unwrap();
    black_box(&out);
    start.elapsed()
}

/// Reads `input`, encrypts it and writes `output` through the same atomic, synced file writer
/// as downloads (`decrypt_to_file` takes any cipher stream).
async fn encrypt_file(env: &Envelope, input: &Path, output: &Path) -> Duration {
    let start = Instant::now();
    let src = tokio::fs::File::open(input).await.unwrap();
    decrypt_to_file(src, env.encryptor(), output).await.unwrap();
    start.elapsed()
}

/// No cipher: the same read → write → fsync → rename path, the ceiling of any file → file run.
struct PlainCopy;

impl CipherStream for PlainCopy {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> ossvault_crypto::Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
    fn finish(&mut self, _out: &mut Vec<u8>) -> ossvault_crypto::Result<()> {
        Ok(())
    }
}

async fn copy_file(input: &Path, output: &Path) -> Duration {
    let start = Instant::now();
    let src = tokio::fs::File::open(input).await.unwrap();
    decrypt_to_file(src, PlainCopy, output).await.unwrap();
    start.elapsed()
}

async fn decrypt_file(env: &Envelope, input: &Path, output: &Path) -> Duration {
    let start = Instant::now();
    let src = tokio::fs::File::open(input).await.unwrap();
    decrypt_to_file(src, env.decryptor(), output).await.unwrap();
    start.elapsed()
}

fn make_input(path: &Path, mib: usize) {
    if std::fs::metadata(path).ok().map(|m| m.len()) == Some((mib as u64) << 20) {
        return;
    }
    let mut block = vec![0u8; PIECE];
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31) ^ j.wrapping_mul(7)) as u8;
        }
        std::io::Write::write_all(&mut f, &block).unwrap();
    }
}

async fn envelopes(rsa: &MasterKey) -> Vec<(Format, Envelope)> {
    let aes = MasterKey::aes256(Zeroizing::new([7u8; 32]));
    let sealed = Envelope::new(&aes, &EncryptOptions::sealed())
        .await
        .unwrap();
    let compat = Envelope::new(rsa, &EncryptOptions::compat()).await.unwrap();
    // Decrypt through envelopes opened from the headers, as a download does.
    let sealed = ObjectHeaders::parse(sealed.headers())
        .unwrap()
        .open(&aes)
        .await
        .unwrap();
    let compat = ObjectHeaders::parse(compat.headers())
        .unwrap()
        .open(rsa)
        .await
        .unwrap();
    vec![(Format::Sealed, sealed), (Format::Compat, compat)]
}

fn main() {
    let mem_mib = env_usize("OSSVAULT_BENCH_MEM_MIB", 256);
    let file_mib = env_usize("OSSVAULT_BENCH_FILE_MIB", 1024);
    let small_mib = 64.min(file_mib);
    // The machine may be shared: the best of a few runs is the least disturbed.
    let file_reps = env_usize("OSSVAULT_BENCH_FILE_REPS", 2);
    let dirs: Vec<PathBuf> = std::env::var("OSSVAULT_BENCH_DIRS")
        .unwrap_or_else(|_| "/var/tmp,/dev/shm".into())
        .split(',')
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    println!("openssl speed -evp aes-256-gcm / aes-256-ctr (-bytes 65536, best of 3 × 1 s)...");
    let gcm = openssl_speed("aes-256-gcm");
    let ctr = openssl_speed("aes-256-ctr");
    let reference = |f: Format| match f {
        Format::Sealed => gcm,
        Format::Compat => ctr,
    };
    let rsa = MasterKey::generate_rsa(2048).unwrap();
    let envs = rt.block_on(envelopes(&rsa));
    let mut rows = Vec::new();

    // File runs first, before the in-memory buffers raise the peak.
    for dir in &dirs {
        for mib in [small_mib, file_mib] {
            let input = dir.join(format!("ossvault-bench-{mib}m.plain"));
            make_input(&input, mib);
            let stored = dir.join(format!("ossvault-bench-{mib}m.stored"));
            let output = dir.join(format!("ossvault-bench-{mib}m.out"));
            reset_hwm();
            let before = vm_hwm_kib();
            let t = best_of(file_reps, || rt.block_on(copy_file(&input, &output)));
            rows.push(Row {
                what: format!("plain copy file→file {mib} MiB ({})", dir.display()),
                bytes_per_sec: (mib as f64 * MIB) / t.as_secs_f64(),
                reference: None,
                copy: None,
                peak_rss_kib: Some((before, vm_hwm_kib())),
            });
            let copy_rate = rows.last().unwrap().bytes_per_sec;
            for (format, env) in &envs {
                for (op, encrypt) in [("encrypt", true), ("decrypt", false)] {
                    reset_hwm();
                    let before = vm_hwm_kib();
                    let t = best_of(file_reps, || {
                        rt.block_on(async {
                            if encrypt {
                                encrypt_file(env, &input, &stored).await
                            } else {
                                decrypt_file(env, &stored, &output).await
                            }
                        })
                    });
                    let after = vm_hwm_kib();
                    rows.push(Row {
                        what: format!("{format} {op} file→file {mib} MiB ({})", dir.display()),
                        bytes_per_sec: (mib as f64 * MIB) / t.as_secs_f64(),
                        reference: reference(*format),
                        copy: Some(copy_rate),
                        peak_rss_kib: Some((before, after)),
                    });
                }
                assert_eq!(
                    std::fs::metadata(&output).unwrap().len(),
                    (mib as u64) << 20,
                    "decrypted size"
                );
            }
            for p in [&stored, &output] {
                let _ = std::fs::remove_file(p);
            }
            if mib != small_mib || dir.starts_with("/dev/shm") {
                let _ = std::fs::remove_file(&input);
            }
        }
    }

    let plain: Vec<u8> = (0..mem_mib << 20).map(|i| (i ^ (i >> 11)) as u8).collect();
    for (format, env) in &envs {
        let stored = env.encrypt_to_vec(&plain).unwrap();
        let t = best_of(5, || in_memory_encrypt(env, &plain));
        rows.push(Row {
            what: format!("{format} encrypt in memory {mem_mib} MiB"),
            bytes_per_sec: plain.len() as f64 / t.as_secs_f64(),
            reference: reference(*format),
            copy: None,
            peak_rss_kib: None,
        });
        let t = best_of(5, || in_memory_decrypt(env, &stored));
        rows.push(Row {
            what: format!("{format} decrypt in memory {mem_mib} MiB"),
            bytes_per_sec: plain.len() as f64 / t.as_secs_f64(),
            reference: reference(*format),
            copy: None,
            peak_rss_kib: None,
        });
    }

    println!();
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), |b| format!("{:.0} MB/s", b / 1e6));
    println!("openssl speed -evp aes-256-gcm: {}", show(gcm));
    println!("openssl speed -evp aes-256-ctr: {}", show(ctr));
    println!();
    println!(
        "{:<58} {:>7} {:>9} {:>7} {:>22}",
        "run", "MB/s", "×openssl", "×copy", "peak RSS before→after"
    );
    for r in &rows {
        let ratio = r
            .reference
            .map_or("n/a".into(), |o| format!("{:.2}", r.bytes_per_sec / o));
        let rss = r.peak_rss_kib.map_or(String::new(), |(b, a)| {
            format!("{:.1}→{:.1} MiB", b as f64 / 1024.0, a as f64 / 1024.0)
        });
        let copy = r
            .copy
            .map_or(String::new(), |c| format!("{:.2}", r.bytes_per_sec / c));
        println!(
            "{:<58} {:>7.0} {:>9} {:>7} {:>22}",
            r.what,
            r.bytes_per_sec / 1e6,
            ratio,
            copy,
            rss
        );
    }
}

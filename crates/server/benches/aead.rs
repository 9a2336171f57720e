//! The AEAD behind the sealed at-rest format, measured against the alternative and against
//! `openssl speed` in the same run: AES-256-GCM over 64 KiB chunks (the chunk size of the
//! format), single core; then the at-rest sealing itself (`sse::seal::SegmentCipher`, what PUT
//! and GET run per chunk) with AES-256-GCM next to SM4-GCM (国密), with `openssl speed` of
//! SM4 as a reference where this OpenSSL has it (SM4-GCM from 3.2 on; else SM4-CTR, the
//! cipher without GHASH). `cargo bench -p ossvault-server --bench aead`.
//!
//! Buffers and tags go through `black_box`, or the optimiser may drop the GHASH work.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use ossvault_server::sse::seal::{SegmentCipher, CHUNK as SEAL_CHUNK, TAG};
use ossvault_server::sse::{Cipher, DataKey};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;
const RUN: Duration = Duration::from_secs(2);

fn rate(mut f: impl FnMut(u64)) -> f64 {
    for i in 0..64 {
        f(i); // warm up
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        for _ in 0..64 {
            f(n);
            n += 1;
        }
    }
    (n as f64 * CHUNK as f64) / start.elapsed().as_secs_f64()
}

fn nonce_bytes(i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

fn openssl_rate(cipher: &str) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", cipher, "-bytes", "65536", "-seconds", "2"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_ascii_lowercase().starts_with(cipher))?;
    let k: f64 = line
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(k * 1000.0)
}

/// Sealing and opening 64 KiB chunks through the at-rest code, in bytes of plaintext a second.
fn at_rest(cipher: &SegmentCipher) -> (f64, f64) {
    let mut buf = Vec::with_capacity(SEAL_CHUNK + TAG);
    let seal = rate(|i| {
        buf.clear();
        buf.resize(SEAL_CHUNK, 0x5A);
        cipher.seal(i, false, black_box(&mut buf), 0);
        black_box(&buf);
    });
    let mut sealed = vec![0x5Au8; SEAL_CHUNK];
    cipher.seal(0, false, &mut sealed, 0);
    let mut work = sealed.clone();
    let open = rate(|_| {
        work.copy_from_slice(&sealed);
        let plain = cipher.open(0, false, black_box(&mut work)).unwrap();
        black_box(plain);
    });
    (seal, open)
}

fn main() {
    let key = [7u8; 32];
    let mut buf = vec![0x5Au8; CHUNK];

    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let ring_seal = rate(|i| {
        let tag = ring_key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes(i)),
                Aad::from(b"aad"),
                black_box(&mut buf),
            )
            .unwrap();
        let _ = black_box(tag);
    });

    let rc = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
    let rc_seal = rate(|i| {
        let tag = rc
            .encrypt_in_place_detached((&nonce_bytes(i)).into(), b"aad", black_box(&mut buf))
            .unwrap();
        let _ = black_box(tag);
    });

    // Opening: seal one chunk, then open copies of it.
    let mut sealed = vec![1u8; CHUNK];
    let tag = ring_key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce_bytes(0)),
            Aad::from(b"aad"),
            &mut sealed,
        )
        .unwrap();
    sealed.extend_from_slice(tag.as_ref());
    let mut work = sealed.clone();
    let ring_open = rate(|_| {
        work.copy_from_slice(&sealed);
        let plain = ring_key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_bytes(0)),
                Aad::from(b"aad"),
                black_box(&mut work),
            )
            .unwrap();
        let _ = black_box(plain);
    });

    let openssl = openssl_rate("aes-256-gcm");
    println!();
    println!(
        "AES-256-GCM, 64 KiB chunks, one core ({})",
        std::env::consts::ARCH
    );
    let show = |name: &str, r: f64| match openssl {
        Some(o) => println!("{name:<40} {:>8.0} MB/s {:>6.2}x openssl", r / 1e6, r / o),
        None => println!("{name:<40} {:>8.0} MB/s", r / 1e6),
    };
    if let Some(o) = openssl {
        println!(
            "{:<40} {:>8.0} MB/s",
            "openssl speed -evp aes-256-gcm (64 KiB)",
            o / 1e6
        );
    }
    show("ring seal (used by ossvault)", ring_seal);
    show("ring open incl. 64 KiB copy", ring_open);
    show("RustCrypto aes-gcm 0.10 seal", rc_seal);

    // The at-rest sealing, AES-256-GCM next to SM4-GCM (both with the 64 KiB buffer reset or
    // copied per chunk, as a PUT or GET fills it).
    let (aes_seal, aes_open) = at_rest(&DataKey::random(Cipher::Aes256Gcm).segment_cipher(1));
    let (sm4_seal, sm4_open) = at_rest(&DataKey::random(Cipher::Sm4Gcm).segment_cipher(1));
    let sm4_ref = ["sm4-gcm", "sm4-ctr"]
        .into_iter()
        .find_map(|c| Some((c, openssl_rate(c)?)));
    println!();
    println!(
        "At-rest sealing (sse::seal), 64 KiB chunks, one core ({})",
        std::env::consts::ARCH
    );
    if let Some((name, r)) = sm4_ref {
        println!(
            "{:<40} {:>8.0} MB/s",
            format!("openssl speed -evp {name} (64 KiB)"),
            r / 1e6
        );
    }
    println!("{:<40} {:>8.0} MB/s", "AES-256-GCM seal", aes_seal / 1e6);
    println!("{:<40} {:>8.0} MB/s", "AES-256-GCM open", aes_open / 1e6);
    println!(
        "{:<40} {:>8.0} MB/s {:>6.3}x AES-256-GCM",
        "SM4-GCM seal",
        sm4_seal / 1e6,
        sm4_seal / aes_seal
    );
    println!(
        "{:<40} {:>8.0} MB/s {:>6.3}x AES-256-GCM",
        "SM4-GCM open",
        sm4_open / 1e6,
        sm4_open / aes_open
    );
    if let Some((name, r)) = sm4_ref {
        println!(
            "{:<40} {:>8.2}x openssl {name}",
            "SM4-GCM seal",
            sm4_seal / r
        );
    }
}

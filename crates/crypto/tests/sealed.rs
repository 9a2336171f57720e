//! The sealed format: round trips, ranged reads at chunk edges, and every way of breaking an
//! object (tamper, truncate, reorder, swap the wrapped key, wrong key) giving a clear error and no
//! output file.

mod common;

use std::path::Path;

use common::*;
use ossvault_crypto::names::*;
use ossvault_crypto::{
    decrypt_to_file, EncryptOptions, Envelope, Error, MasterKey, ObjectHeaders, DEFAULT_CHUNK_SIZE,
};

const CHUNK: usize = DEFAULT_CHUNK_SIZE as usize;
const FRAME: usize = CHUNK + 28;

/// Decrypts `stored` with `key` through the path a download takes (parse the headers, open,
/// decrypt into a file) and returns the plaintext, checking that a failure leaves the directory
/// as it was: no target, no temporary file.
async fn download(
    headers: &[(String, String)],
    stored: &[u8],
    key: &MasterKey,
) -> Result<Vec<u8>, Error> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    let result = async {
        let env = ObjectHeaders::parse(headers)?.open(key).await?;
        decrypt_to_file(stored, env.decryptor(), &target).await
    }
    .await;
    match result {
        Ok(n) => {
            let data = std::fs::read(&target).unwrap();
            assert_eq!(n, data.len() as u64);
            assert_eq!(listing(dir.path()), vec!["out.bin"]);
            Ok(data)
        }
        Err(e) => {
            assert!(
                listing(dir.path()).is_empty(),
                "left behind: {:?}",
                listing(dir.path())
            );
            Err(e)
        }
    }
}

#[tokio::test]
async fn round_trips_at_every_size_edge_and_key_kind() {
    let kms = FakeKms::new("key-0001");
    let keys = [aes_key(1), rsa_key(), MasterKey::kms(kms.clone())];
    for key in &keys {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let env = sealed(key).await;
            let plain = pattern(len);
            let stored = env.encrypt_to_vec(&plain).unwrap();
            assert_eq!(stored.len() as u64, env.ciphertext_len(len as u64), "{len}");
            assert_eq!(env.plaintext_len(stored.len() as u64).unwrap(), len as u64);
            let got = download(env.headers(), &stored, key).await.unwrap();
            assert_eq!(got, plain, "{key:?} {len}");
        }
    }
    assert!(kms.decrypts.load(std::sync::atomic::Ordering::SeqCst) >= 7);
}

#[tokio::test]
async fn round_trips_100_mib_streamed() {
    let key = aes_key(2);
    let env = sealed(&key).await;
    let plain = pattern(100 << 20);
    // Encrypt in uneven pieces, as a reader would deliver them.
    let mut stored = Vec::with_capacity(env.ciphertext_len(plain.len() as u64) as usize);
    let mut enc = env.encryptor();
    for piece in plain.chunks(1_000_003) {
        enc.update(piece, &mut stored).unwrap();
    }
    enc.finish(&mut stored).unwrap();
    assert_eq!(stored.len() as u64, env.ciphertext_len(plain.len() as u64));
    let got = download(env.headers(), &stored, &key).await.unwrap();
    assert!(got == plain, "100 MiB round trip differs");
}

#[tokio::test]
async fn every_piece_size_decrypts_the_same() {
    let env = sealed(&aes_key(3)).await;
    let plain = pattern(3 * CHUNK + 100);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    for piece in [
        1,
        27,
        28,
        29,
        FRAME - 1,
        FRAME,
        FRAME + 1,
        2 * FRAME,
        1 << 20,
    ] {
        let mut d = env.decryptor();
        let mut out = Vec::new();
        for p in stored.chunks(piece) {
            d.update(p, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert!(out == plain, "piece {piece}");
    }
}

#[tokio::test]
async fn ranged_reads_at_chunk_edges_decrypt_only_the_chunks_needed() {
    let env = sealed(&aes_key(4)).await;
    let len = 3 * CHUNK + CHUNK / 2;
    let plain = pattern(len);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    let total = stored.len() as u64;
    let points = [
        0,
        1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK - 1,
        2 * CHUNK,
        2 * CHUNK + 1,
        3 * CHUNK,
        len - 1,
        len,
    ];
    for &a in &points {
        for &b in &points {
            if a > b {
                continue;
            }
            let r = env.range(a as u64..b as u64, total).unwrap();
            assert_eq!(r.plaintext_range(), a as u64..b as u64);
            let s = r.stored_range();
            if a == b {
                assert!(r.is_empty() && r.http_range().is_none());
                continue;
            }
            let chunks = (b - 1) / CHUNK - a / CHUNK + 1;
            assert_eq!(s.start as usize, a / CHUNK * FRAME, "{a}..{b}");
            assert!(
                (s.end - s.start) as usize <= chunks * FRAME,
                "{a}..{b} reads too much"
            );
            assert_eq!(
                r.http_range().unwrap(),
                format!("bytes={}-{}", s.start, s.end - 1)
            );
            let got = r
                .decrypt(&stored[s.start as usize..s.end as usize])
                .unwrap();
            assert_eq!(got, plain[a..b], "{a}..{b}");
        }
    }
    // Past the end: clamped; reversed: an error.
    let r = env.range(len as u64 - 5..u64::MAX, total).unwrap();
    assert_eq!(r.plaintext_range(), len as u64 - 5..len as u64);
    assert!(env
        .range(len as u64 + 10..len as u64 + 20, total)
        .unwrap()
        .is_empty());
    assert!(matches!(
        env.range(std::ops::Range { start: 9, end: 3 }, total),
        Err(Error::InvalidRange(_))
    ));
}

#[tokio::test]
async fn ranged_reads_detect_tampering_and_short_responses() {
    let env = sealed(&aes_key(5)).await;
    let plain = pattern(2 * CHUNK + 10);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    let total = stored.len() as u64;
    let r = env
        .range(CHUNK as u64 - 1..CHUNK as u64 + 1, total)
        .unwrap();
    let s = r.stored_range();
    let mut bytes = stored[s.start as usize..s.end as usize].to_vec();
    bytes[FRAME + 50] ^= 0x80;
    assert!(matches!(
        r.decrypt(&bytes),
        Err(Error::TamperedChunk { index: 1 })
    ));
    let r = env.range(0..10, total).unwrap();
    let s = r.stored_range();
    assert!(matches!(
        r.decrypt(&stored[s.start as usize..s.end as usize - 1]),
        Err(Error::Truncated(_))
    ));
    // A range that includes the final chunk knows it must be sealed as final.
    let r = env
        .range(2 * CHUNK as u64..2 * CHUNK as u64 + 10, total)
        .unwrap();
    let s = r.stored_range();
    assert_eq!(s.end, total);
    assert_eq!(
        r.decrypt(&stored[s.start as usize..]).unwrap(),
        plain[2 * CHUNK..]
    );
}

#[tokio::test]
async fn one_flipped_byte_anywhere_is_a_tampered_chunk() {
    let key = aes_key(6);
    let env = sealed(&key).await;
    let plain = pattern(3 * CHUNK + 5);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    for (pos, chunk) in [
        (0, 0),                // nonce of chunk 0
        (12, 0),               // first ciphertext byte
        (FRAME - 1, 0),        // tag of chunk 0
        (FRAME + 5000, 1),     // middle of chunk 1
        (3 * FRAME + 3, 3),    // short final chunk
        (stored.len() - 1, 3), // final tag byte
    ] {
        let mut bad = stored.clone();
        bad[pos] ^= 1;
        let err = download(env.headers(), &bad, &key).await.unwrap_err();
        assert!(
            matches!(err, Error::TamperedChunk { index } if index == chunk),
            "byte {pos}: {err}"
        );
    }
}

#[tokio::test]
async fn truncation_is_detected_at_and_between_chunk_edges() {
    let key = aes_key(7);
    let env = sealed(&key).await;
    let plain = pattern(3 * CHUNK);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    for cut in [2 * FRAME, FRAME, 2 * FRAME + 100, stored.len() - 1, 27, 0] {
        let err = download(env.headers(), &stored[..cut], &key)
            .await
            .unwrap_err();
        match err {
            Error::Truncated(_) => {}
            // Cut inside a chunk: its tag is gone, so it cannot authenticate.
            Error::TamperedChunk { .. } if cut % FRAME != 0 => {}
            other => panic!("cut at {cut}: {other}"),
        }
        if cut % FRAME == 0 {
            assert!(
                matches!(err_of(&env, &stored[..cut]), Error::Truncated(_)),
                "{cut}"
            );
        }
    }
}

fn err_of(env: &Envelope, stored: &[u8]) -> Error {
    env.decrypt_to_vec(stored).unwrap_err()
}

#[tokio::test]
async fn reordered_duplicated_or_foreign_chunks_fail() {
    let key = aes_key(8);
    let env = sealed(&key).await;
    let plain = pattern(3 * CHUNK + 9);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    // Swap chunks 0 and 1.
    let mut swapped = stored.clone();
    let (a, b) = swapped.split_at_mut(FRAME);
    a.swap_with_slice(&mut b[..FRAME]);
    let err = download(env.headers(), &swapped, &key).await.unwrap_err();
    assert!(matches!(err, Error::TamperedChunk { index: 0 }), "{err}");
    // Repeat the final chunk after itself: a short one no longer authenticates, a full one
    // opens as the final chunk and is followed by data.
    let mut doubled = stored.clone();
    doubled.extend_from_slice(&stored[3 * FRAME..]);
    let err = download(env.headers(), &doubled, &key).await.unwrap_err();
    assert!(matches!(err, Error::TamperedChunk { index: 3 }), "{err}");
    let full = env.encrypt_to_vec(&pattern(2 * CHUNK)).unwrap();
    let mut doubled = full.clone();
    doubled.extend_from_slice(&full[FRAME..]);
    let err = download(env.headers(), &doubled, &key).await.unwrap_err();
    assert!(matches!(err, Error::TrailingData { index: 1 }), "{err}");
    // Drop a middle chunk.
    let mut dropped = stored[..FRAME].to_vec();
    dropped.extend_from_slice(&stored[2 * FRAME..]);
    let err = download(env.headers(), &dropped, &key).await.unwrap_err();
    assert!(matches!(err, Error::TamperedChunk { index: 1 }), "{err}");
    // A chunk from another object under the same master key.
    let other = sealed(&key).await.encrypt_to_vec(&plain).unwrap();
    let mut spliced = stored.clone();
    spliced[FRAME..2 * FRAME].copy_from_slice(&other[FRAME..2 * FRAME]);
    let err = download(env.headers(), &spliced, &key).await.unwrap_err();
    assert!(matches!(err, Error::TamperedChunk { index: 1 }), "{err}");
}

#[tokio::test]
async fn swapping_the_wrapped_key_fails_the_key_commitment() {
    for key in [aes_key(9), rsa_key()] {
        let env = sealed(&key).await;
        let stored = env.encrypt_to_vec(&pattern(1000)).unwrap();
        let other = sealed(&key).await;
        let forged = with_header(
            env.headers(),
            SEALED_WRAPPED_KEY,
            header(other.headers(), SEALED_WRAPPED_KEY),
        );
        let err = download(&forged, &stored, &key).await.unwrap_err();
        assert!(matches!(err, Error::KeyCommitment), "{err}");
        // Altering the commitment or the chunk size is caught the same way.
        let forged = with_header(
            env.headers(),
            SEALED_KEY_COMMITMENT,
            header(other.headers(), SEALED_KEY_COMMITMENT),
        );
        assert!(matches!(
            download(&forged, &stored, &key).await,
            Err(Error::KeyCommitment)
        ));
        let forged = with_header(env.headers(), SEALED_CHUNK_SIZE, "4096");
        assert!(matches!(
            download(&forged, &stored, &key).await,
            Err(Error::KeyCommitment)
        ));
        // A corrupted wrapped key does not unwrap.
        let mut w = header(env.headers(), SEALED_WRAPPED_KEY).to_string();
        w.replace_range(4..8, if &w[4..8] == "AAAA" { "BBBB" } else { "AAAA" });
        let forged = with_header(env.headers(), SEALED_WRAPPED_KEY, &w);
        let err = download(&forged, &stored, &key).await.unwrap_err();
        assert!(matches!(err, Error::UnwrapFailed { .. }), "{err}");
    }
}

#[tokio::test]
async fn the_wrong_key_is_named_before_anything_is_decrypted() {
    let key = aes_key(10);
    let env = sealed(&key).await;
    let stored = env.encrypt_to_vec(&pattern(5000)).unwrap();
    let meta = reparse(&env);
    assert_eq!(meta.key_fingerprint(), Some(key.fingerprint()));

    let wrong = aes_key(11);
    match download(env.headers(), &stored, &wrong).await.unwrap_err() {
        Error::WrongKey { needed, given } => {
            assert_eq!(needed, key.fingerprint());
            assert_eq!(given, wrong.fingerprint());
        }
        other => panic!("{other}"),
    }
    // Even with the fingerprint header forged to match, the wrong key cannot unwrap.
    let forged = with_header(
        env.headers(),
        KEY_FINGERPRINT,
        &wrong.fingerprint().to_hex(),
    );
    let err = download(&forged, &stored, &wrong).await.unwrap_err();
    assert!(matches!(err, Error::UnwrapFailed { .. }), "{err}");

    // Other kinds of key, and a public-only RSA key.
    let err = download(env.headers(), &stored, &rsa_key())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongKeyKind { .. }), "{err}");
    let env = sealed(&rsa_key()).await;
    let stored = env.encrypt_to_vec(&pattern(10)).unwrap();
    let public = MasterKey::RsaPublic(rsa_key().rsa_public().unwrap().clone());
    let err = download(env.headers(), &stored, &public).await.unwrap_err();
    assert!(matches!(err, Error::PublicKeyOnly(_)), "{err}");
    let err = download(env.headers(), &stored, &other_rsa_key())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");
    // Encrypting with only the public half works, and the private key reads it.
    let env = sealed(&public).await;
    let stored = env.encrypt_to_vec(&pattern(70_000)).unwrap();
    assert_eq!(
        download(env.headers(), &stored, &rsa_key()).await.unwrap(),
        pattern(70_000)
    );
}

#[tokio::test]
async fn kms_wrapped_objects_name_their_cmk() {
    let kms = FakeKms::new("cmk-a");
    let key = MasterKey::kms(kms.clone());
    let env = sealed(&key).await;
    let stored = env.encrypt_to_vec(&pattern(100)).unwrap();
    let meta = reparse(&env);
    assert_eq!(meta.kms_key_id(), Some("cmk-a"));
    assert_eq!(meta.wrap_alg(), Some("KMS"));
    let other = MasterKey::kms(FakeKms::new("cmk-b"));
    assert!(matches!(
        download(env.headers(), &stored, &other).await,
        Err(Error::WrongKey { .. })
    ));
    let failing = MasterKey::kms(FakeKms::failing("cmk-a"));
    let err = download(env.headers(), &stored, &failing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KeyDisabled"), "{err}");
}

#[tokio::test]
async fn metadata_errors_are_specific() {
    let env = sealed(&aes_key(12)).await;
    let h = env.headers();
    let e = ObjectHeaders::parse(with_header(h, SEALED_VERSION, "2")).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedVersion(ref v) if v == "2"),
        "{e}"
    );
    assert!(e.to_string().contains("version"));
    let e = ObjectHeaders::parse(with_header(h, SEALED_CHUNK_SIZE, "1000")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidHeader {
                name: SEALED_CHUNK_SIZE,
                ..
            }
        ),
        "{e}"
    );
    let e = ObjectHeaders::parse(with_header(h, SEALED_WRAP_ALG, "ROT13")).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    let without: Vec<_> = h
        .iter()
        .filter(|(k, _)| k != SEALED_KEY_COMMITMENT)
        .cloned()
        .collect();
    let e = ObjectHeaders::parse(without).unwrap_err();
    assert!(
        matches!(e, Error::MissingHeader(SEALED_KEY_COMMITMENT)),
        "{e}"
    );
    // Plain objects parse as plain; other headers are ignored; names are case-insensitive.
    let plain =
        ObjectHeaders::parse([("Content-Type", "text/plain"), ("x-oss-meta-a", "b")]).unwrap();
    assert_eq!(plain.format(), None);
    assert!(matches!(
        plain.open(&aes_key(12)).await,
        Err(Error::NotEncrypted)
    ));
    let upper: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.to_uppercase(), v.clone()))
        .collect();
    assert!(ObjectHeaders::parse(upper).unwrap().is_encrypted());
    let stripped: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.trim_start_matches("x-oss-meta-").to_string(), v.clone()))
        .collect();
    assert!(ObjectHeaders::parse(stripped).unwrap().is_encrypted());
}

#[tokio::test]
async fn a_failed_download_leaves_an_existing_target_untouched() {
    let key = aes_key(13);
    let env = sealed(&key).await;
    let mut stored = env.encrypt_to_vec(&pattern(3 * CHUNK)).unwrap();
    *stored.last_mut().unwrap() ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("keep.txt");
    std::fs::write(&target, b"previous version").unwrap();
    let err = decrypt_to_file(&stored[..], env.decryptor(), &target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TamperedChunk { index: 2 }), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"previous version");
    assert_eq!(listing(dir.path()), vec!["keep.txt"]);
    // And a good one replaces it.
    *stored.last_mut().unwrap() ^= 1;
    decrypt_to_file(&stored[..], env.decryptor(), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), pattern(3 * CHUNK));
    assert!(!Path::new(&dir.path().join("missing-dir/x")).exists());
}

#[tokio::test]
async fn chunk_sizes_are_configurable_and_checked() {
    let key = aes_key(14);
    for chunk in [1024u32, 4096, 1 << 20] {
        let opts = EncryptOptions {
            chunk_size: chunk,
            ..EncryptOptions::sealed()
        };
        let env = Envelope::new(&key, &opts).await.unwrap();
        let plain = pattern(3 * chunk as usize + 1);
        let stored = env.encrypt_to_vec(&plain).unwrap();
        assert_eq!(download(env.headers(), &stored, &key).await.unwrap(), plain);
    }
    let opts = EncryptOptions {
        chunk_size: 1000,
        ..EncryptOptions::sealed()
    };
    assert!(matches!(
        Envelope::new(&key, &opts).await,
        Err(Error::InvalidOption(_))
    ));
}

/// Regression (fuzz target `range`): planning a ranged read of an object whose claimed stored
/// length is near `u64::MAX`, with a partial final chunk, overflowed computing the stored end.
#[tokio::test]
async fn range_of_a_huge_claimed_length_does_not_overflow() {
    let master = MasterKey::generate_aes256();
    for chunk_size in [1024, DEFAULT_CHUNK_SIZE] {
        let options = EncryptOptions {
            chunk_size,
            ..EncryptOptions::sealed()
        };
        let env = Envelope::new(&master, &options).await.unwrap();
        let frame = u64::from(chunk_size) + 28;
        // The largest length the format accepts whose final chunk is partial.
        let stored_len = (0..frame)
            .map(|i| u64::MAX - i)
            .find(|&n| n % frame != 0 && env.plaintext_len(n).is_ok())
            .unwrap();
        let total = env.plaintext_len(stored_len).unwrap();
        for plain in [0..u64::MAX, total - 1..total, 5..6] {
            let read = env.range(plain.clone(), stored_len).unwrap();
            let stored = read.stored_range();
            assert!(
                stored.start <= stored.end && stored.end <= stored_len,
                "{plain:?}: {stored:?}"
            );
            assert_eq!(read.plaintext_range().end, plain.end.min(total));
        }
    }
}

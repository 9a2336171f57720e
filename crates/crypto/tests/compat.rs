//! The compat (OSS SDK) format: headers as the SDKs write them, CTR content, ranged reads,
//! multipart rules, wrong keys. Interop with the SDKs themselves: src/vectors.rs (oss2-made
//! objects) and tests/interop/test_cse_vectors.py (both directions, oss2 and v2).

mod common;

use base64::Engine;
use common::*;
use md5::Digest;
use ossvault_crypto::names::*;
use ossvault_crypto::{
    decrypt_to_file, EncryptOptions, Envelope, Error, Format, MasterKey, ObjectHeaders,
};
use rsa::Pkcs1v15Encrypt;

async fn compat(key: &MasterKey) -> Envelope {
    Envelope::new(key, &EncryptOptions::compat()).await.unwrap()
}

fn rsa_private() -> rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    let MasterKey::RsaPrivate(k) = rsa_key() else {
        unreachable!()
    };
    rsa::RsaPrivateKey::from_pkcs8_pem(&k.to_pkcs8_pem().unwrap()).unwrap()
}

#[tokio::test]
async fn headers_are_the_sdk_headers() {
    let key = rsa_key();
    let opts = EncryptOptions {
        matdesc: vec![("tag".into(), "value".into())],
        plaintext_len: Some(3),
        plaintext_md5: Some(md5::Md5::digest(b"abc").into()),
        ..EncryptOptions::compat()
    };
    let env = Envelope::new(&key, &opts).await.unwrap();
    let h = env.headers();
    assert_eq!(header(h, CSE_CEK_ALG), "AES/CTR/NoPadding");
    assert_eq!(header(h, CSE_WRAP_ALG), "RSA/NONE/PKCS1Padding");
    assert_eq!(header(h, CSE_MATDESC), r#"{"tag": "value"}"#);
    assert_eq!(header(h, CSE_UNENCRYPTED_CONTENT_LENGTH), "3");
    assert_eq!(
        header(h, CSE_UNENCRYPTED_CONTENT_MD5),
        "kAFQmDzST7DWlj99KOF/cg=="
    );
    assert_eq!(header(h, KEY_FINGERPRINT), key.fingerprint().to_hex());
    // Key and IV are each a PKCS#1 v1.5 ciphertext, standard padded base64; the IV has bytes
    // 8..12 zero.
    let b64 = base64::engine::general_purpose::STANDARD;
    let private = rsa_private();
    let cek = private
        .decrypt(Pkcs1v15Encrypt, &b64.decode(header(h, CSE_KEY)).unwrap())
        .unwrap();
    let iv = private
        .decrypt(Pkcs1v15Encrypt, &b64.decode(header(h, CSE_START)).unwrap())
        .unwrap();
    assert_eq!(cek.len(), 32);
    assert_eq!(iv.len(), 16);
    assert_eq!(&iv[8..12], &[0, 0, 0, 0]);
    // The content is plain AES-256-CTR from the IV (checked with an independent CTR: AES-ECB
    // of the counter blocks, from RustCrypto's aes crate used block-wise).
    let stored = env.encrypt_to_vec(b"abc").unwrap();
    use aes::cipher::{BlockEncrypt, KeyInit};
    let aes = aes::Aes256::new_from_slice(&cek).unwrap();
    let mut block = aes::Block::clone_from_slice(&iv);
    aes.encrypt_block(&mut block);
    let expected: Vec<u8> = b"abc"
        .iter()
        .zip(block.iter())
        .map(|(p, k)| p ^ k)
        .collect();
    assert_eq!(stored, expected);
    // Nothing else starts with the SDK prefix.
    for (k, _) in h {
        assert!(
            k.starts_with("x-oss-meta-client-side-encryption-") || k == KEY_FINGERPRINT,
            "{k}"
        );
    }
}

#[tokio::test]
async fn round_trips_ranges_and_checks() {
    let key = rsa_key();
    let public = MasterKey::RsaPublic(key.rsa_public().unwrap().clone());
    for writer in [&key, &public] {
        for len in [0usize, 1, 15, 16, 17, 100_000] {
            let plain = pattern(len);
            let opts = EncryptOptions {
                plaintext_len: Some(len as u64),
                plaintext_md5: Some(md5::Md5::digest(&plain).into()),
                ..EncryptOptions::compat()
            };
            let env = Envelope::new(writer, &opts).await.unwrap();
            let stored = env.encrypt_to_vec(&plain).unwrap();
            assert_eq!(stored.len(), len);
            let opened = reparse(&env).open(&key).await.unwrap();
            assert_eq!(opened.format(), Format::Compat);
            assert_eq!(opened.decrypt_to_vec(&stored).unwrap(), plain);
            if len > 0 {
                // The recorded MD5 catches a flipped bit (the format itself has no MAC).
                let mut bad = stored.clone();
                bad[len / 2] ^= 1;
                let e = opened.decrypt_to_vec(&bad).unwrap_err();
                assert!(
                    matches!(e, Error::PlaintextMismatch { what: "MD5", .. }),
                    "{e}"
                );
            }
        }
    }
    let env = compat(&key).await;
    let plain = pattern(1000);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    for a in [0u64, 1, 15, 16, 17, 31, 32, 999] {
        for b in [a, a + 1, a + 16, 1000, 2000] {
            let r = env.range(a..b, 1000).unwrap();
            let s = r.stored_range();
            assert_eq!(
                s.start,
                if a >= b.min(1000) {
                    s.start
                } else {
                    a / 16 * 16
                }
            );
            let got = r
                .decrypt(&stored[s.start as usize..s.end as usize])
                .unwrap();
            assert_eq!(
                got,
                plain[a.min(1000) as usize..b.min(1000) as usize],
                "{a}..{b}"
            );
        }
    }
}

#[tokio::test]
async fn only_rsa_keys_fit_the_sdk_format() {
    let e = Envelope::new(&aes_key(1), &EncryptOptions::compat())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::KeyNotSupportedByFormat {
                format: Format::Compat,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("only has RSA"));
    let kms = MasterKey::kms(FakeKms::new("k"));
    assert!(Envelope::new(&kms, &EncryptOptions::compat())
        .await
        .is_err());
}

#[tokio::test]
async fn wrong_keys_are_refused() {
    let key = rsa_key();
    let env = compat(&key).await;
    let stored = env.encrypt_to_vec(&pattern(100)).unwrap();
    // With our fingerprint header: named before unwrapping.
    let e = reparse(&env).open(&other_rsa_key()).await.unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    // Without it (as the SDKs write): the PKCS#1 v1.5 unwrap fails.
    let sdk_style: Vec<_> = env
        .headers()
        .iter()
        .filter(|(k, _)| k != KEY_FINGERPRINT)
        .cloned()
        .collect();
    let meta = ObjectHeaders::parse(&sdk_style).unwrap();
    let e = meta.open(&other_rsa_key()).await.unwrap_err();
    assert!(matches!(e, Error::UnwrapFailed { .. }), "{e}");
    assert!(matches!(
        meta.open(&aes_key(3)).await,
        Err(Error::WrongKeyKind { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let env = meta.open(&key).await.unwrap();
    decrypt_to_file(&stored[..], env.decryptor(), dir.path().join("x"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), pattern(100));
}

#[tokio::test]
async fn unsupported_sdk_variants_are_named() {
    let env = compat(&rsa_key()).await;
    let e =
        ObjectHeaders::parse(with_header(env.headers(), CSE_WRAP_ALG, "KMS/ALICLOUD")).unwrap_err();
    assert!(
        matches!(e, Error::Unsupported(_)) && e.to_string().contains("KMS"),
        "{e}"
    );
    let e = ObjectHeaders::parse(with_header(env.headers(), CSE_CEK_ALG, "AES/GCM/NoPadding"))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    let e = ObjectHeaders::parse([("x-oss-meta-oss-crypto-key", "abc")]).unwrap_err();
    assert!(e.to_string().contains("deprecated oss2"), "{e}");
    let e = ObjectHeaders::parse(with_header(env.headers(), CSE_START, "not base64!")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidHeader {
                name: CSE_START,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn multipart_parts_are_counter_offsets_of_one_stream() {
    let key = rsa_key();
    let env = compat(&key).await;
    let part = 4096u64;
    let plain = pattern(3 * part as usize + 100);
    let whole = env.encrypt_to_vec(&plain).unwrap();
    let plan = env.multipart(part, Some(plain.len() as u64)).unwrap();
    assert_eq!(plan.counter_offset(3), 2 * part / 16);
    let count = plan.part_count(plain.len() as u64);
    assert_eq!(count, 4);
    // Parts in any order, each encrypted on its own, assemble to the single-stream ciphertext.
    let mut parts = vec![Vec::new(); count as usize];
    for n in [3u32, 1, 4, 2] {
        let s = plan.part_offset(n) as usize;
        let e = (s + part as usize).min(plain.len());
        let mut enc = plan.part_encryptor(n, n == count).unwrap();
        enc.update(&plain[s..e], &mut parts[n as usize - 1])
            .unwrap();
        enc.finish(&mut parts[n as usize - 1]).unwrap();
    }
    assert_eq!(parts.concat(), whole);
    // Initiate carries the object headers plus the sizes; every part repeats the SDK headers.
    let init = plan.initiate_headers();
    assert_eq!(header(&init, CSE_PART_SIZE), "4096");
    assert_eq!(header(&init, CSE_DATA_SIZE), plain.len().to_string());
    let ph = plan.part_headers();
    for name in [
        CSE_KEY,
        CSE_START,
        CSE_CEK_ALG,
        CSE_WRAP_ALG,
        CSE_PART_SIZE,
        CSE_DATA_SIZE,
    ] {
        assert_eq!(header(&ph, name), header(&init, name), "{name}");
    }
    assert!(ph
        .iter()
        .all(|(k, _)| k.starts_with("x-oss-meta-client-side-encryption-")));
    // The completed object (initiate headers) decrypts as a simple one.
    let opened = ObjectHeaders::parse(&init)
        .unwrap()
        .open(&key)
        .await
        .unwrap();
    assert_eq!(opened.decrypt_to_vec(&whole).unwrap(), plain);
    // No data size: no data-size header (as v2 does for 0/unknown).
    let plan = env.multipart(part, None).unwrap();
    assert!(!plan.part_headers().iter().any(|(k, _)| k == CSE_DATA_SIZE));
}

#[tokio::test]
async fn multipart_rules_are_enforced() {
    let env = compat(&rsa_key()).await;
    assert!(matches!(
        env.multipart(1000, None),
        Err(Error::InvalidPart(_))
    ));
    assert_eq!(env.align_part_size(1000), 1008);
    assert!(env.multipart(16, Some(16 * 10_001)).is_err());
    let plan = env.multipart(1024, None).unwrap();
    let mut out = Vec::new();
    let mut e = plan.part_encryptor(1, false).unwrap();
    e.update(&[0; 1000], &mut out).unwrap();
    assert!(
        matches!(e.finish(&mut out), Err(Error::InvalidPart(_))),
        "short middle part"
    );
    let mut e = plan.part_encryptor(2, true).unwrap();
    assert!(
        matches!(e.update(&[0; 1025], &mut out), Err(Error::InvalidPart(_))),
        "oversized part"
    );
    assert!(matches!(
        e.update(&[0; 1], &mut out),
        Err(Error::StreamClosed)
    ));
    assert!(plan.part_encryptor(0, true).is_err());
}

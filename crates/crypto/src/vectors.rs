//! The published vectors (tests/vectors/, made by gen_vectors.py with independent
//! implementations: pyca/cryptography for the sealed format, the oss2 SDK for the compat one).

use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::keys::ContentKey;
use crate::sealed::{commitment, encryptor_with_prefix, ChunkKey};
use crate::{wrap, Error, MasterKey, ObjectHeaders};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn headers(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn bytes32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
}

#[tokio::test]
async fn sealed_v1_vectors() {
    let v: Value = serde_json::from_str(include_str!("../tests/vectors/sealed-v1.json")).unwrap();
    let aes = MasterKey::aes256(Zeroizing::new(bytes32(&v["master_aes_key"])));
    assert_eq!(aes.fingerprint().to_hex(), v["master_aes_fingerprint"]);
    let rsa =
        MasterKey::rsa_private_from_pem(v["rsa_private_key_pkcs8_pem"].as_str().unwrap()).unwrap();
    assert_eq!(rsa.fingerprint().to_hex(), v["rsa_fingerprint"]);

    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let chunk = case["chunk_size"].as_u64().unwrap() as u32;
        let plain = pattern(case["plaintext_length"].as_u64().unwrap() as usize);
        let hdrs = headers(&case["headers"]);
        let meta = ObjectHeaders::parse(&hdrs).unwrap();
        let master = if meta.key_kind() == Some(crate::KeyKind::Aes256) {
            &aes
        } else {
            &rsa
        };

        // Deterministic parts: the same inputs give the same bytes.
        let ck = ContentKey(Zeroizing::new(bytes32(&case["content_key"])));
        let expected_chunk_key = hmac_label(&ck, b"ossvault-cse-v1 chunk key");
        assert_eq!(hex::encode(expected_chunk_key), case["chunk_key"], "{name}");
        let commit =
            base64::engine::general_purpose::STANDARD.encode(commitment(&ck, chunk).as_ref());
        assert_eq!(commit, hdrs_get(&hdrs, "key-commitment"), "{name}");
        if let (Some(salt), MasterKey::Aes256(k)) = (case.get("aes_wrap_salt"), master) {
            let wrapped = wrap::aes_wrap_with_salt(k, &ck, bytes32(salt));
            assert_eq!(
                base64::engine::general_purpose::STANDARD.encode(wrapped),
                hdrs_get(&hdrs, "wrapped-key"),
                "{name}"
            );
        }
        let prefix: [u8; 8] = hex::decode(case["nonce_prefix"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let mut e = encryptor_with_prefix(Arc::new(ChunkKey::derive(&ck)), chunk, prefix);
        let mut stored = Vec::new();
        for piece in plain.chunks(777) {
            e.update(piece, &mut stored).unwrap();
        }
        e.finish(&mut stored).unwrap();
        assert_eq!(
            stored.len() as u64,
            case["stored_length"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(sha256_hex(&stored), case["stored_sha256"], "{name}");
        if let Some(full) = case.get("stored") {
            assert_eq!(hex::encode(&stored), full.as_str().unwrap(), "{name}");
        }

        // Through the public API: the headers name the key, it opens, the content decrypts.
        assert_eq!(meta.key_fingerprint(), Some(master.fingerprint()), "{name}");
        assert_eq!(
            meta.plaintext_len(stored.len() as u64).unwrap(),
            plain.len() as u64
        );
        let env = meta.open(master).await.unwrap();
        assert_eq!(env.decrypt_to_vec(&stored).unwrap(), plain, "{name}");
        let other = if std::ptr::eq(master, &aes) {
            &rsa
        } else {
            &aes
        };
        assert!(
            matches!(meta.open(other).await, Err(Error::WrongKeyKind { .. })),
            "{name}"
        );
    }
}

fn hdrs_get<'a>(h: &'a [(String, String)], suffix: &str) -> &'a str {
    let name = format!("x-oss-meta-ossvault-cse-{suffix}");
    &h.iter().find(|(k, _)| *k == name).unwrap().1
}

fn hmac_label(ck: &ContentKey, label: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ck.0.as_slice());
    ring::hmac::sign(&k, label).as_ref().to_vec()
}

#[tokio::test]
async fn compat_objects_written_by_oss2_decrypt() {
    let v: Value = serde_json::from_str(include_str!("../tests/vectors/compat-oss2.json")).unwrap();
    let key =
        MasterKey::rsa_private_from_pem(v["rsa_private_key_pkcs1_pem"].as_str().unwrap()).unwrap();
    let public =
        MasterKey::rsa_public_from_pem(v["rsa_public_key_spki_pem"].as_str().unwrap()).unwrap();
    assert_eq!(key.fingerprint(), public.fingerprint());

    // A simple PUT, with the plaintext length oss2 moved into the metadata.
    let put = &v["put"];
    let stored = hex::decode(put["stored"].as_str().unwrap()).unwrap();
    let plain = pattern(put["plaintext_length"].as_u64().unwrap() as usize);
    let meta = ObjectHeaders::parse(headers(&put["headers"])).unwrap();
    assert_eq!(meta.format(), Some(crate::Format::Compat));
    assert_eq!(meta.matdesc(), Some(r#"{"tag": "value"}"#));
    assert_eq!(
        meta.key_fingerprint(),
        None,
        "the SDK records no fingerprint"
    );
    let env = meta.open(&key).await.unwrap();
    assert_eq!(env.decrypt_to_vec(&stored).unwrap(), plain);
    assert!(matches!(
        env.decrypt_to_vec(&stored[..999]),
        Err(Error::PlaintextMismatch { what: "length", .. })
    ));
    // Ranged reads at every alignment around block edges.
    for (a, b) in [
        (0, 1),
        (1, 17),
        (15, 16),
        (16, 32),
        (17, 999),
        (500, 1000),
        (999, 5000),
    ] {
        let r = env.range(a..b, 1000).unwrap();
        let s = r.stored_range();
        assert_eq!(s.start % 16, 0);
        let got = r
            .decrypt(&stored[s.start as usize..s.end as usize])
            .unwrap();
        assert_eq!(got, plain[a as usize..(b as usize).min(1000)], "{a}..{b}");
    }

    // A multipart upload: the assembled object decrypts as one stream, and our part encryptors
    // reproduce oss2's parts exactly given the same key and IV.
    let mp = &v["multipart"];
    let stored = hex::decode(mp["stored"].as_str().unwrap()).unwrap();
    assert_eq!(sha256_hex(&stored), mp["stored_sha256"]);
    let plain = pattern(mp["plaintext_length"].as_u64().unwrap() as usize);
    let meta = ObjectHeaders::parse(headers(&mp["initiate_headers"])).unwrap();
    let part_size = mp["part_size"].as_u64().unwrap();
    assert_eq!(meta.part_size(), Some(part_size));
    assert_eq!(meta.data_size(), Some(plain.len() as u64));
    let env = meta.open(&key).await.unwrap();
    assert_eq!(env.decrypt_to_vec(&stored).unwrap(), plain);
    let plan = env.multipart(part_size, Some(plain.len() as u64)).unwrap();
    let count = plan.part_count(plain.len() as u64);
    let mut ours = Vec::new();
    for n in (1..=count).rev() {
        let start = plan.part_offset(n) as usize;
        let end = (start + part_size as usize).min(plain.len());
        let mut part = Vec::new();
        let mut e = plan.part_encryptor(n, n == count).unwrap();
        e.update(&plain[start..end], &mut part).unwrap();
        e.finish(&mut part).unwrap();
        ours.insert(0, part);
    }
    assert_eq!(ours.concat(), stored);
    // The part headers are the SDK's, byte for byte.
    let mut sdk: Vec<(String, String)> = headers(&mp["part_headers"]);
    let mut mine = plan.part_headers();
    sdk.sort();
    mine.sort();
    assert_eq!(mine, sdk);
}

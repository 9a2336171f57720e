//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use ossvault_crypto::{
    EncryptOptions, Envelope, GeneratedDataKey, KeyWrap, KeyWrapError, KeyWrapFuture, MasterKey,
    ObjectHeaders,
};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

/// Plaintext whose byte `i` is `i % 251` (never periodic at a power of two).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub fn aes_key(byte: u8) -> MasterKey {
    MasterKey::aes256(Zeroizing::new([byte; 32]))
}

/// One RSA-2048 key per test process (generation takes a while).
pub fn rsa_key() -> MasterKey {
    static KEY: std::sync::OnceLock<MasterKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| MasterKey::generate_rsa(2048).unwrap())
        .clone()
}

/// A second RSA key, for wrong-key tests.
pub fn other_rsa_key() -> MasterKey {
    static KEY: std::sync::OnceLock<MasterKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| MasterKey::generate_rsa(2048).unwrap())
        .clone()
}

/// An in-memory stand-in for a KMS: blobs are `base64(key id ‖ 0 ‖ nonce ‖ AES-GCM(data key))`.
pub struct FakeKms {
    pub id: String,
    key: LessSafeKey,
    pub decrypts: AtomicUsize,
    pub fail_decrypt: bool,
}

impl FakeKms {
    pub fn new(id: &str) -> Arc<FakeKms> {
        Arc::new(FakeKms {
            id: id.into(),
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[42u8; 32]).unwrap()),
            decrypts: AtomicUsize::new(0),
            fail_decrypt: false,
        })
    }

    pub fn failing(id: &str) -> Arc<FakeKms> {
        let mut k = Arc::into_inner(FakeKms::new(id)).unwrap();
        k.fail_decrypt = true;
        Arc::new(k)
    }
}

impl KeyWrap for FakeKms {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn generate_data_key(&self) -> KeyWrapFuture<'_, GeneratedDataKey> {
        let plain: [u8; 32] = rand::random();
        let nonce: [u8; 12] = rand::random();
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut body,
            )
            .unwrap();
        let mut blob = self.id.as_bytes().to_vec();
        blob.push(0);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&body);
        Box::pin(std::future::ready(Ok(GeneratedDataKey {
            plaintext: Zeroizing::new(plain.to_vec()),
            ciphertext_blob: base64::engine::general_purpose::STANDARD.encode(blob),
        })))
    }

    fn decrypt<'a>(&'a self, blob: &'a str) -> KeyWrapFuture<'a, Zeroizing<Vec<u8>>> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        let r = (|| {
            if self.fail_decrypt {
                return Err(KeyWrapError::new(
                    "Forbidden.KeyDisabled: the key is disabled",
                ));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .map_err(|e| KeyWrapError::new(e.to_string()))?;
            let sep = raw
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| KeyWrapError::new("bad blob"))?;
            let (id, rest) = (&raw[..sep], &raw[sep + 1..]);
            let nonce: [u8; 12] = rest[..12].try_into().unwrap();
            let mut body = rest[12..].to_vec();
            let plain = self
                .key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(id),
                    &mut body,
                )
                .map_err(|_| KeyWrapError::new("InvalidCiphertext"))?;
            Ok(Zeroizing::new(plain.to_vec()))
        })();
        Box::pin(std::future::ready(r))
    }
}

pub async fn sealed(key: &MasterKey) -> Envelope {
    Envelope::new(key, &EncryptOptions::sealed()).await.unwrap()
}

/// Parses an envelope's own headers back, as a reader of the object would.
pub fn reparse(env: &Envelope) -> ObjectHeaders {
    ObjectHeaders::parse(env.headers()).unwrap()
}

/// The names of the files in `dir`.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Replaces (or adds) one header.
pub fn with_header(h: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = h.iter().filter(|(k, _)| k != name).cloned().collect();
    out.push((name.to_string(), value.to_string()));
    out
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    &h.iter().find(|(k, _)| k == name).unwrap().1
}

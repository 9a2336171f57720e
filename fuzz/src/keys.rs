//! Fixed keys and envelopes from the crates' test vectors.

use ossvault_crypto::{EncryptOptions, Envelope, MasterKey};
use std::sync::OnceLock;
use zeroize::Zeroizing;

const SEALED_VECTORS: &str = include_str!("../../crates/crypto/tests/vectors/sealed-v1.json");
const COMPAT_VECTORS: &str = include_str!("../../crates/crypto/tests/vectors/compat-oss2.json");

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("test vectors are JSON")
}

/// The AES-256 master key of `sealed-v1.json`.
pub fn aes_master() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let hex_key = json(SEALED_VECTORS)["master_aes_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key, secret.as_mut_slice()).unwrap();
        MasterKey::aes256(secret)
    })
}

/// The RSA private key of `compat-oss2.json` (the key oss2 wrote the compat vectors with).
pub fn rsa_master() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pem = json(COMPAT_VECTORS)["rsa_private_key_pkcs1_pem"]
            .as_str()
            .unwrap()
            .to_owned();
        MasterKey::rsa_private_from_pem(&pem).expect("the vector's RSA key")
    })
}

/// The header sets of the vectors (sealed cases, compat put), as (name, value) pairs.
pub fn vector_headers() -> Vec<Vec<(String, String)>> {
    let mut sets = Vec::new();
    let sealed = json(SEALED_VECTORS);
    for case in sealed["cases"].as_array().unwrap() {
        sets.push(pairs(&case["headers"]));
    }
    let compat = json(COMPAT_VECTORS);
    sets.push(pairs(&compat["put"]["headers"]));
    sets
}

fn pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Envelopes made once per process: sealed with chunk sizes 1 KiB, 4 KiB and 64 KiB (AES
/// master), and compat (RSA master) with and without the plaintext checks.
pub fn envelopes() -> &'static [Envelope] {
    static ENVELOPES: OnceLock<Vec<Envelope>> = OnceLock::new();
    ENVELOPES.get_or_init(|| {
        let mut out = Vec::new();
        for chunk_size in [1024, 4096, 65536] {
            let options = EncryptOptions {
                chunk_size,
                ..EncryptOptions::sealed()
            };
            out.push(crate::block_on(Envelope::new(aes_master(), &options)).unwrap());
        }
        out.push(crate::block_on(Envelope::new(rsa_master(), &EncryptOptions::compat())).unwrap());
        out
    })
}

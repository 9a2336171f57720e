//! Wrapping content keys under master keys (FORMAT.md, "Wrapping").
//!
//! - sealed, AES-256: `salt(32) ‖ AES-256-GCM(K_w, nonce = 0, aad = label, CK) ‖ tag`, with
//!   `K_w = HMAC-SHA256(MK, label ‖ salt)`: every wrap has its own key, so the GCM limit of
//!   2^32 random nonces per key never applies to the master key;
//! - sealed, RSA: RSA-OAEP with SHA-256 (and MGF1-SHA-256), empty label;
//! - compat, RSA: RSA PKCS#1 v1.5, CEK and IV wrapped separately, as the OSS SDKs do.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hmac;
use rsa::{Oaep, Pkcs1v15Encrypt};

use crate::keys::{Aes256Key, ContentKey, RsaPrivate, RsaPublic};

const AES_WRAP_KEY_LABEL: &[u8] = b"ossvault-cse-v1 wrap key";
const AES_WRAP_AAD: &[u8] = b"ossvault-cse-v1 content key";
/// Bytes of the random salt in front of an AES-wrapped content key.
pub(crate) const AES_WRAP_SALT: usize = 32;
/// Bytes of an AES-wrapped content key.
pub(crate) const AES_WRAPPED_LEN: usize = AES_WRAP_SALT + 32 + 16;

fn aes_wrap_key(master: &Aes256Key, salt: &[u8]) -> LessSafeKey {
    let mut msg = AES_WRAP_KEY_LABEL.to_vec();
    msg.extend_from_slice(salt);
    let k = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, master.expose_secret()),
        &msg,
    );
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("32-byte key"))
}

/// Wraps `ck` under an AES-256 master key with a fresh random salt.
pub(crate) fn aes_wrap(master: &Aes256Key, ck: &ContentKey) -> Vec<u8> {
    let mut salt = [0u8; AES_WRAP_SALT];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    aes_wrap_with_salt(master, ck, salt)
}

pub(crate) fn aes_wrap_with_salt(
    master: &Aes256Key,
    ck: &ContentKey,
    salt: [u8; AES_WRAP_SALT],
) -> Vec<u8> {
    let mut out = salt.to_vec();
    let mut body = ck.0.to_vec();
    let tag = aes_wrap_key(master, &salt)
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(AES_WRAP_AAD),
            &mut body,
        )
        .expect("32 bytes");
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    out
}

/// Unwraps an AES-wrapped content key; `Err` carries the reason.
pub(crate) fn aes_unwrap(master: &Aes256Key, wrapped: &[u8]) -> Result<ContentKey, String> {
    if wrapped.len() != AES_WRAPPED_LEN {
        return Err(format!(
            "an AES-wrapped key is {AES_WRAPPED_LEN} bytes, this one {}",
            wrapped.len()
        ));
    }
    let (salt, body) = wrapped.split_at(AES_WRAP_SALT);
    let mut body = zeroize::Zeroizing::new(body.to_vec());
    let plain = aes_wrap_key(master, salt)
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(AES_WRAP_AAD),
            &mut body,
        )
        .map_err(|_| "AES-GCM authentication failed".to_string())?;
    ContentKey::from_slice(plain).ok_or_else(|| "unwrapped key is not 32 bytes".into())
}

/// RSA-OAEP-SHA256 encryption of `data`.
pub(crate) fn rsa_oaep_wrap(key: &RsaPublic, data: &[u8]) -> Result<Vec<u8>, String> {
    key.key
        .encrypt(&mut rand::rngs::OsRng, Oaep::new::<sha2::Sha256>(), data)
        .map_err(|e| format!("RSA-OAEP encryption failed: {e}"))
}

/// RSA-OAEP-SHA256 decryption.
pub(crate) fn rsa_oaep_unwrap(
    key: &RsaPrivate,
    wrapped: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    key.key
        .decrypt(Oaep::new::<sha2::Sha256>(), wrapped)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("RSA-OAEP-SHA256 decryption failed: {e}"))
}

/// RSA PKCS#1 v1.5 encryption (compat format).
pub(crate) fn rsa_pkcs1_wrap(key: &RsaPublic, data: &[u8]) -> Result<Vec<u8>, String> {
    key.key
        .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, data)
        .map_err(|e| format!("RSA PKCS#1 v1.5 encryption failed: {e}"))
}

/// RSA PKCS#1 v1.5 decryption (compat format), or OAEP with SHA-1 for oss2's legacy provider.
pub(crate) fn rsa_compat_unwrap(
    key: &RsaPrivate,
    wrapped: &[u8],
    oaep_sha1: bool,
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let r = if oaep_sha1 {
        key.key.decrypt(Oaep::new::<sha1::Sha1>(), wrapped)
    } else {
        key.key.decrypt(Pkcs1v15Encrypt, wrapped)
    };
    r.map(zeroize::Zeroizing::new)
        .map_err(|e| format!("RSA decryption failed: {e}"))
}

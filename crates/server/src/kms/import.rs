//! BYOK: the import parameters of GetParametersForImport and their redemption by
//! ImportKeyMaterial. Each request for parameters makes a fresh RSA-2048 key pair; the private
//! key stays in this process's memory only (zeroed when dropped), keyed by the opaque import
//! token, for 24 hours. A restart forgets pending imports: ask for parameters again.
//!
//! The material arrives from the network, so its decryption must not leak through timing
//! (the Marvin attack, RUSTSEC-2023-0071, against the `rsa` crate): AWS-LC's constant-time
//! RSA-OAEP does it.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use std::collections::HashMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// How long an import token is valid.
pub const TOKEN_TTL_MS: u64 = 24 * 3600 * 1000;
/// Pending imports kept at once; the oldest goes when more are asked for.
const MAX_PENDING: usize = 64;

struct Pending {
    key_id: String,
    private: OaepPrivateDecryptingKey,
    expires_ms: u64,
}

/// Import parameters handed to the client.
pub struct Parameters {
    pub token: String,
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key_der: Vec<u8>,
    pub expires_ms: u64,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the import token is unknown or expired (a server restart also forgets it): call GetParametersForImport again")]
    UnknownToken,
    #[error("the import token was issued for another key")]
    OtherKey,
    #[error("EncryptedKeyMaterial does not decrypt with the import key (RSAES_OAEP_SHA_256 with MGF1-SHA256 expected)")]
    Undecryptable,
    #[error("the key material must be 32 bytes (AES-256), got {0}")]
    WrongLength(usize),
    #[error("cannot make the wrapping key: {0}")]
    KeyGeneration(String),
}

#[derive(Default)]
pub struct Imports {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Imports {
    /// New parameters for importing into `key_id` (slow: makes an RSA key; blocking).
    pub fn issue(&self, key_id: &str, now_ms: u64) -> Result<Parameters, ImportError> {
        let generation =
            |e: aws_lc_rs::error::Unspecified| ImportError::KeyGeneration(e.to_string());
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(generation)?;
        let public_key_der = AsDer::<PublicKeyX509Der>::as_der(&private.public_key())
            .map_err(generation)?
            .as_ref()
            .to_vec();
        let private = OaepPrivateDecryptingKey::new(private).map_err(generation)?;
        let token = hex::encode(rand::random::<[u8; 32]>());
        let expires_ms = now_ms + TOKEN_TTL_MS;
        let mut pending = self.pending.lock().expect("lock");
        pending.retain(|_, p| p.expires_ms > now_ms);
        while pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.expires_ms)
                .map(|(t, _)| t.clone())
                .expect("not empty");
            pending.remove(&oldest);
        }
        pending.insert(
            token.clone(),
            Pending {
                key_id: key_id.to_owned(),
                private,
                expires_ms,
            },
        );
        Ok(Parameters {
            token,
            public_key_der,
            expires_ms,
        })
    }

    /// The 32-byte material of `encrypted`, if `token` was issued for `key_id` and is still
    /// valid. A token is used up only by a successful import ([`Imports::forget`]).
    pub fn unwrap_material(
        &self,
        key_id: &str,
        token: &str,
        encrypted: &[u8],
        now_ms: u64,
    ) -> Result<Zeroizing<[u8; 32]>, ImportError> {
        let pending = self.pending.lock().expect("lock");
        let p = pending
            .get(token)
            .filter(|p| p.expires_ms > now_ms)
            .ok_or(ImportError::UnknownToken)?;
        if p.key_id != key_id {
            return Err(ImportError::OtherKey);
        }
        let mut buffer = Zeroizing::new(vec![0u8; p.private.key_size_bytes()]);
        let plain = p
            .private
            .decrypt(&OAEP_SHA256_MGF1SHA256, encrypted, &mut buffer, None)
            .map_err(|_| ImportError::Undecryptable)?;
        let material: [u8; 32] = (&*plain)
            .try_into()
            .map_err(|_| ImportError::WrongLength(plain.len()))?;
        Ok(Zeroizing::new(material))
    }

    /// Drops every pending import of `key_id` (its material is in, or it is gone).
    pub fn forget(&self, key_id: &str) {
        self.pending
            .lock()
            .expect("lock")
            .retain(|_, p| p.key_id != key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::{Oaep, RsaPublicKey};

    fn wrap(der: &[u8], material: &[u8]) -> Vec<u8> {
        let public = RsaPublicKey::from_public_key_der(der).unwrap();
        public
            .encrypt(
                &mut rand::thread_rng(),
                Oaep::new::<sha2::Sha256>(),
                material,
            )
            .unwrap()
    }

    #[test]
    fn tokens_unwrap_for_their_key_until_they_expire() {
        let imports = Imports::default();
        let p = imports.issue("key-1", 1000).unwrap();
        assert_eq!(p.expires_ms, 1000 + TOKEN_TTL_MS);
        let material = [7u8; 32];
        let wrapped = wrap(&p.public_key_der, &material);
        assert!(matches!(
            imports.unwrap_material("key-2", &p.token, &wrapped, 2000),
            Err(ImportError::OtherKey)
        ));
        assert!(matches!(
            imports.unwrap_material("key-1", "nope", &wrapped, 2000),
            Err(ImportError::UnknownToken)
        ));
        assert!(matches!(
            imports.unwrap_material("key-1", &p.token, &wrapped[1..], 2000),
            Err(ImportError::Undecryptable)
        ));
        assert!(matches!(
            imports.unwrap_material("key-1", &p.token, &wrap(&p.public_key_der, &[1; 16]), 2000),
            Err(ImportError::WrongLength(16))
        ));
        assert!(matches!(
            imports.unwrap_material("key-1", &p.token, &wrapped, p.expires_ms),
            Err(ImportError::UnknownToken)
        ));
        let got = imports
            .unwrap_material("key-1", &p.token, &wrapped, 2000)
            .unwrap();
        assert_eq!(*got, material);
        imports.forget("key-1");
        assert!(matches!(
            imports.unwrap_material("key-1", &p.token, &wrapped, 2000),
            Err(ImportError::UnknownToken)
        ));
    }
}

//! Master keys and their fingerprints.
//!
//! A master key never encrypts content: it wraps the random content key of each object. Its
//! fingerprint is stored with every object so that "which key do I need" and "is this the wrong
//! key" are answered before any decryption is attempted (FORMAT.md, "Key fingerprints").

use std::fmt;
use std::sync::Arc;

use ring::hmac;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kms::KeyWrap;

const AES_FINGERPRINT_LABEL: &[u8] = b"ossvault master key fingerprint";
const KMS_FINGERPRINT_LABEL: &[u8] = b"ossvault kms key\0";

/// The SHA-256-sized identifier of a master key, shown and stored as 64 lowercase hex digits.
///
/// It reveals nothing about a secret key: for AES keys it is an HMAC of a fixed label, for RSA
/// keys a hash of the public key, for KMS keys a hash of the CMK id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-digit lowercase hex form (as stored in metadata).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the 64-digit hex form (either case).
    pub fn from_hex(s: &str) -> Option<Fingerprint> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Fingerprint(out))
    }

    /// The first 16 hex digits, enough to tell keys apart in a listing.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// What kind of master key wraps an object's content key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A 256-bit secret key (sealed format only).
    Aes256,
    /// An RSA key pair (both formats).
    Rsa,
    /// A KMS customer master key (sealed format only).
    Kms,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Aes256 => "AES-256",
            KeyKind::Rsa => "RSA",
            KeyKind::Kms => "KMS",
        })
    }
}

/// A 256-bit secret master key; zeroed on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Aes256Key {
    secret: Zeroizing<[u8; 32]>,
    fingerprint: Fingerprint,
}

impl Aes256Key {
    /// Wraps 32 secret bytes.
    pub fn new(secret: Zeroizing<[u8; 32]>) -> Aes256Key {
        let fingerprint = aes256_fingerprint(&secret);
        Aes256Key {
            secret,
            fingerprint,
        }
    }

    /// The secret bytes, for storing the key in a keychain. Handle with care.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for Aes256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aes256Key({}, <redacted>)", self.fingerprint.short())
    }
}

/// The fingerprint of an AES-256 master key: HMAC-SHA256 keyed by the key over a fixed label —
/// a MAC, not a hash of the secret, since it is stored beside every object. The one
/// definition the keystore uses too.
pub fn aes256_fingerprint(secret: &[u8; 32]) -> Fingerprint {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret),
        AES_FINGERPRINT_LABEL,
    );
    let mut fp = [0u8; 32];
    fp.copy_from_slice(tag.as_ref());
    Fingerprint(fp)
}

/// The fingerprint of an RSA key: SHA-256 of the DER SubjectPublicKeyInfo of its public key
/// (what `openssl pkey -pubout -outform DER | sha256sum` prints).
pub fn rsa_fingerprint(key: &rsa::RsaPublicKey) -> Result<Fingerprint> {
    let der = key
        .to_public_key_der()
        .map_err(|e| Error::InvalidKey(format!("RSA public key does not encode: {e}")))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_bytes());
    let mut fp = [0u8; 32];
    fp.copy_from_slice(digest.as_ref());
    Ok(Fingerprint(fp))
}

/// An RSA public key with its fingerprint.
#[derive(Clone)]
pub struct RsaPublic {
    pub(crate) key: Arc<rsa::RsaPublicKey>,
    fingerprint: Fingerprint,
}

impl RsaPublic {
    fn new(key: rsa::RsaPublicKey) -> Result<RsaPublic> {
        let fingerprint = rsa_fingerprint(&key)?;
        Ok(RsaPublic {
            key: Arc::new(key),
            fingerprint,
        })
    }

    /// The key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("a parsed RSA public key encodes")
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        rsa::traits::PublicKeyParts::size(&*self.key) * 8
    }
}

impl fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaPublic({}, {} bits)",
            self.fingerprint.short(),
            self.bits()
        )
    }
}

/// An RSA private key (and so its public half); zeroed on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct RsaPrivate {
    pub(crate) key: Arc<rsa::RsaPrivateKey>,
    public: RsaPublic,
}

impl RsaPrivate {
    fn new(key: rsa::RsaPrivateKey) -> Result<RsaPrivate> {
        key.validate()
            .map_err(|e| Error::InvalidKey(format!("RSA private key is inconsistent: {e}")))?;
        let public = RsaPublic::new(key.to_public_key())?;
        Ok(RsaPrivate {
            key: Arc::new(key),
            public,
        })
    }

    /// The public half.
    pub fn public(&self) -> &RsaPublic {
        &self.public
    }

    /// The key as a PKCS#8 PEM `PRIVATE KEY`, for storing it in a keychain. Handle with care.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| Zeroizing::new(pem.to_string()))
            .map_err(|e| Error::InvalidKey(format!("RSA private key does not encode: {e}")))
    }
}

impl fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaPrivate({}, {} bits, <redacted>)",
            self.public.fingerprint.short(),
            self.public.bits()
        )
    }
}

/// The key that wraps (and unwraps) the content keys of objects.
///
/// Cheap to clone: KMS keys are shared behind an `Arc`, and secret material is zeroed on drop.
#[derive(Clone)]
pub enum MasterKey {
    /// A 256-bit secret key: sealed format, AES-256-GCM wrapping.
    Aes256(Aes256Key),
    /// An RSA private key: encrypts and decrypts both formats (sealed: RSA-OAEP-SHA256; compat:
    /// RSA PKCS#1 v1.5, as the OSS SDKs do).
    RsaPrivate(RsaPrivate),
    /// An RSA public key: encrypts only (for example, uploads that another machine reads).
    RsaPublic(RsaPublic),
    /// A KMS customer master key, reached through the caller's [`KeyWrap`] implementation.
    Kms(Arc<dyn KeyWrap>),
}

impl MasterKey {
    /// An AES-256 master key from its 32 secret bytes.
    pub fn aes256(secret: Zeroizing<[u8; 32]>) -> MasterKey {
        MasterKey::Aes256(Aes256Key::new(secret))
    }

    /// A fresh random AES-256 master key.
    pub fn generate_aes256() -> MasterKey {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, secret.as_mut_slice());
        MasterKey::aes256(secret)
    }

    /// A fresh RSA key pair of `bits` bits (2048 or more).
    pub fn generate_rsa(bits: usize) -> Result<MasterKey> {
        if !(2048..=8192).contains(&bits) {
            return Err(Error::InvalidKey(format!(
                "RSA key size {bits} is outside 2048..=8192 bits"
            )));
        }
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
            .map_err(|e| Error::InvalidKey(format!("RSA key generation failed: {e}")))?;
        Ok(MasterKey::RsaPrivate(RsaPrivate::new(key)?))
    }

    /// An RSA private key from PEM: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
    pub fn rsa_private_from_pem(pem: &str) -> Result<MasterKey> {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| Error::InvalidKey(format!("not a PEM RSA private key: {e}")))?;
        Ok(MasterKey::RsaPrivate(RsaPrivate::new(key)?))
    }

    /// An RSA public key from PEM: SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1
    /// (`RSA PUBLIC KEY`).
    pub fn rsa_public_from_pem(pem: &str) -> Result<MasterKey> {
        let key = rsa::RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|e| Error::InvalidKey(format!("not a PEM RSA public key: {e}")))?;
        Ok(MasterKey::RsaPublic(RsaPublic::new(key)?))
    }

    /// A KMS customer master key.
    pub fn kms(wrap: Arc<dyn KeyWrap>) -> MasterKey {
        MasterKey::Kms(wrap)
    }

    /// The key's fingerprint (FORMAT.md, "Key fingerprints"). An RSA private key and its public
    /// half have the same fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            MasterKey::Aes256(k) => k.fingerprint,
            MasterKey::RsaPrivate(k) => k.public.fingerprint,
            MasterKey::RsaPublic(k) => k.fingerprint,
            MasterKey::Kms(k) => kms_fingerprint(k.key_id()),
        }
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match self {
            MasterKey::Aes256(_) => KeyKind::Aes256,
            MasterKey::RsaPrivate(_) | MasterKey::RsaPublic(_) => KeyKind::Rsa,
            MasterKey::Kms(_) => KeyKind::Kms,
        }
    }

    /// Whether the key can unwrap content keys (false only for a bare RSA public key).
    pub fn can_decrypt(&self) -> bool {
        !matches!(self, MasterKey::RsaPublic(_))
    }

    /// The encrypt-only public half of an RSA key (`None` for other kinds).
    pub fn rsa_public(&self) -> Option<&RsaPublic> {
        match self {
            MasterKey::RsaPrivate(k) => Some(&k.public),
            MasterKey::RsaPublic(k) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKey::Aes256(k) => k.fmt(f),
            MasterKey::RsaPrivate(k) => k.fmt(f),
            MasterKey::RsaPublic(k) => k.fmt(f),
            MasterKey::Kms(k) => write!(f, "Kms({})", k.key_id()),
        }
    }
}

/// The fingerprint of a KMS CMK: SHA-256 of a label and the CMK id.
pub(crate) fn kms_fingerprint(key_id: &str) -> Fingerprint {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(KMS_FINGERPRINT_LABEL);
    ctx.update(key_id.as_bytes());
    let mut fp = [0u8; 32];
    fp.copy_from_slice(ctx.finish().as_ref());
    Fingerprint(fp)
}

/// A 256-bit content key (one per object); zeroed on drop.
#[derive(Clone)]
pub(crate) struct ContentKey(pub(crate) Zeroizing<[u8; 32]>);

impl ContentKey {
    pub(crate) fn random() -> ContentKey {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, k.as_mut_slice());
        ContentKey(k)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<ContentKey> {
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(ContentKey(k))
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let key = MasterKey::aes256(Zeroizing::new([0xAB; 32]));
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("ab, ab") && !shown.contains("abab"),
            "{shown}"
        );
        assert!(shown.contains("redacted"));
        let ck = ContentKey(Zeroizing::new([0xCD; 32]));
        assert_eq!(format!("{ck:?}"), "ContentKey(<redacted>)");
    }

    #[test]
    fn aes_fingerprint_is_an_hmac_not_a_hash_of_the_secret() {
        let secret = [7u8; 32];
        let key = MasterKey::aes256(Zeroizing::new(secret));
        let plain_hash = ring::digest::digest(&ring::digest::SHA256, &secret);
        assert_ne!(key.fingerprint().as_bytes(), plain_hash.as_ref());
        let again = MasterKey::aes256(Zeroizing::new(secret));
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert_ne!(
            key.fingerprint(),
            MasterKey::aes256(Zeroizing::new([8u8; 32])).fingerprint()
        );
        let fp = key.fingerprint();
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
    }
}

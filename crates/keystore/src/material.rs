//! Key kinds, key material, fingerprints, generation and import parsing.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The kinds of master key the keystore holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    /// A 256-bit symmetric key.
    #[serde(rename = "AES-256")]
    Aes256,
    /// An RSA key pair with a 2048-bit modulus.
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    /// An RSA key pair with a 3072-bit modulus.
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    /// An RSA key pair with a 4096-bit modulus.
    #[serde(rename = "RSA-4096")]
    Rsa4096,
}

impl KeyKind {
    /// Every kind, in display order.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Aes256,
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::Rsa4096,
    ];

    /// The RSA modulus size in bits, or `None` for AES.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyKind::Aes256 => None,
            KeyKind::Rsa2048 => Some(2048),
            KeyKind::Rsa3072 => Some(3072),
            KeyKind::Rsa4096 => Some(4096),
        }
    }

    /// Whether this is an RSA kind.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }

    fn from_rsa_bits(bits: usize) -> Result<Self> {
        match bits {
            2048 => Ok(KeyKind::Rsa2048),
            3072 => Ok(KeyKind::Rsa3072),
            4096 => Ok(KeyKind::Rsa4096),
            bits => Err(Error::UnsupportedRsaSize { bits }),
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Aes256 => "AES-256",
            KeyKind::Rsa2048 => "RSA-2048",
            KeyKind::Rsa3072 => "RSA-3072",
            KeyKind::Rsa4096 => "RSA-4096",
        })
    }
}

impl FromStr for KeyKind {
    type Err = Error;

    /// Accepts `aes-256`, `aes256`, `rsa-2048`, `rsa2048`, … in any case.
    fn from_str(s: &str) -> Result<Self> {
        let norm: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.as_str() {
            "aes256" | "aes" => Ok(KeyKind::Aes256),
            "rsa2048" => Ok(KeyKind::Rsa2048),
            "rsa3072" => Ok(KeyKind::Rsa3072),
            "rsa4096" => Ok(KeyKind::Rsa4096),
            _ => Err(Error::UnknownKind(s.to_owned())),
        }
    }
}

/// Fingerprint of an AES-256 master key, lowercase hex: `ossvault_crypto::aes256_fingerprint`,
/// the one definition objects are matched by.
pub fn aes256_fingerprint(key: &[u8; 32]) -> String {
    ossvault_crypto::aes256_fingerprint(key).to_hex()
}

/// Fingerprint of an RSA key, lowercase hex: `ossvault_crypto::rsa_fingerprint` (SHA-256 over
/// the DER `SubjectPublicKeyInfo`, as `openssl pkey -pubout -outform DER | sha256sum`).
pub fn rsa_fingerprint(public: &RsaPublicKey) -> Result<String> {
    ossvault_crypto::rsa_fingerprint(public)
        .map(|fp| fp.to_hex())
        .map_err(|e| Error::Crypto(format!("encoding RSA public key: {e}")))
}

/// PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo) of an RSA public key.
pub fn rsa_public_pem(public: &RsaPublicKey) -> Result<String> {
    public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Crypto(format!("encoding RSA public key: {e}")))
}

/// The secret part of a master key, zeroized on drop.
pub(crate) enum Secret {
    Aes256(Zeroizing<[u8; 32]>),
    Rsa(Box<RsaPrivateKey>),
}

impl Secret {
    pub(crate) fn generate(kind: KeyKind) -> Result<Self> {
        match kind.rsa_bits() {
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(key.as_mut());
                Ok(Secret::Aes256(key))
            }
            Some(bits) => {
                let key = RsaPrivateKey::new(&mut OsRng, bits)
                    .map_err(|e| Error::Crypto(format!("generating RSA-{bits}: {e}")))?;
                Ok(Secret::Rsa(Box::new(key)))
            }
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            Secret::Aes256(_) => KeyKind::Aes256,
            Secret::Rsa(key) => KeyKind::from_rsa_bits(key.size() * 8)
                .expect("RSA keys are checked for their size when they enter the keystore"),
        }
    }

    pub(crate) fn fingerprint(&self) -> Result<String> {
        match self {
            Secret::Aes256(key) => Ok(aes256_fingerprint(key)),
            Secret::Rsa(key) => rsa_fingerprint(&key.to_public_key()),
        }
    }

    pub(crate) fn public_key_pem(&self) -> Result<Option<String>> {
        match self {
            Secret::Aes256(_) => Ok(None),
            Secret::Rsa(key) => rsa_public_pem(&key.to_public_key()).map(Some),
        }
    }

    /// The bytes kept in the keychain: the raw 32 bytes for AES, PKCS#8 DER for RSA.
    pub(crate) fn to_stored(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Secret::Aes256(key) => Ok(Zeroizing::new(key.to_vec())),
            Secret::Rsa(key) => {
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| Error::Crypto(format!("encoding RSA private key: {e}")))?;
                Ok(Zeroizing::new(der.as_bytes().to_vec()))
            }
        }
    }

    /// Inverse of [`Secret::to_stored`]; the kind must match what the metadata says.
    pub(crate) fn from_stored(kind: KeyKind, bytes: &[u8]) -> Result<Self> {
        let secret = match kind {
            KeyKind::Aes256 => {
                let key: [u8; 32] = bytes.try_into().map_err(|_| {
                    Error::Crypto(format!("stored AES-256 key is {} bytes", bytes.len()))
                })?;
                let key = Zeroizing::new(key);
                Secret::Aes256(key)
            }
            _ => {
                let key = RsaPrivateKey::from_pkcs8_der(bytes)
                    .map_err(|e| Error::Crypto(format!("stored RSA key: {e}")))?;
                Secret::Rsa(Box::new(key))
            }
        };
        if secret.kind() != kind {
            return Err(Error::Crypto(format!(
                "stored key is {}, metadata says {kind}",
                secret.kind()
            )));
        }
        Ok(secret)
    }

    /// Parses import input: RSA private key PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
    /// `PRIVATE KEY`), or an AES-256 key as 64 hex digits or base64 of 32 bytes.
    pub(crate) fn parse_import(input: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(input).map_err(|_| {
            Error::InvalidKeyMaterial(
                "expected text: an RSA private key PEM, or an AES-256 key as hex or base64".into(),
            )
        })?;
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return Self::parse_rsa_pem(text);
        }
        Self::parse_aes_text(text)
    }

    fn parse_rsa_pem(text: &str) -> Result<Self> {
        let key = if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(text)
                .map_err(|e| Error::InvalidKeyMaterial(format!("PKCS#1 RSA private key: {e}")))?
        } else if text.starts_with("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(text)
                .map_err(|e| Error::InvalidKeyMaterial(format!("PKCS#8 private key: {e}")))?
        } else if text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(Error::InvalidKeyMaterial(
                "encrypted PKCS#8 is not supported: decrypt it first \
                 (openssl pkcs8 -in key.pem -out plain.pem)"
                    .into(),
            ));
        } else if text.contains("PUBLIC KEY-----") {
            return Err(Error::InvalidKeyMaterial(
                "this is a public key: a master key needs the private key".into(),
            ));
        } else {
            return Err(Error::InvalidKeyMaterial(
                "unsupported PEM: expected RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8)".into(),
            ));
        };
        key.validate()
            .map_err(|e| Error::InvalidKeyMaterial(format!("RSA key fails validation: {e}")))?;
        KeyKind::from_rsa_bits(key.size() * 8)?;
        Ok(Secret::Rsa(Box::new(key)))
    }

    fn parse_aes_text(text: &str) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode_to_slice(text, key.as_mut())
                .map_err(|e| Error::InvalidKeyMaterial(format!("hex: {e}")))?;
            return Ok(Secret::Aes256(key));
        }
        // Decode into a buffer larger than any accepted key so that over-long input is
        // detected without a reallocation leaving copies behind.
        let mut buf = Zeroizing::new([0u8; 64]);
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        if text.len() <= 88 {
            for engine in engines {
                if let Ok(n) = engine.decode_slice(text, buf.as_mut()) {
                    if n == 32 {
                        key.copy_from_slice(&buf[..32]);
                        return Ok(Secret::Aes256(key));
                    }
                    return Err(Error::InvalidKeyMaterial(format!(
                        "base64 decodes to {n} bytes; an AES-256 key is 32 bytes"
                    )));
                }
            }
        }
        if text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidKeyMaterial(format!(
                "{} hex digits; an AES-256 key is 64 hex digits (32 bytes)",
                text.len()
            )));
        }
        Err(Error::InvalidKeyMaterial(
            "expected an RSA private key PEM, or an AES-256 key as 64 hex digits or base64 of 32 bytes"
                .into(),
        ))
    }
}

/// One version of a master key, out of the keychain. The only way secrets leave the keystore.
///
/// The secret is zeroized when this value is dropped; `Debug` shows the key's identity only.
pub struct KeyMaterial {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) fingerprint: String,
    pub(crate) secret: Secret,
}

impl KeyMaterial {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version of the key this material is.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The fingerprint of this version (see [`aes256_fingerprint`], [`rsa_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        self.secret.kind()
    }

    /// The 32 key bytes of an AES-256 key; `None` for RSA.
    pub fn aes256(&self) -> Option<&[u8; 32]> {
        match &self.secret {
            Secret::Aes256(key) => Some(key),
            Secret::Rsa(_) => None,
        }
    }

    /// The private key of an RSA key; `None` for AES.
    pub fn rsa_private(&self) -> Option<&RsaPrivateKey> {
        match &self.secret {
            Secret::Rsa(key) => Some(key),
            Secret::Aes256(_) => None,
        }
    }

    /// The public key of an RSA key; `None` for AES.
    pub fn rsa_public(&self) -> Option<RsaPublicKey> {
        self.rsa_private().map(RsaPrivateKey::to_public_key)
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("kind", &self.kind())
            .field("fingerprint", &self.fingerprint)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A connection credential (e.g. an AccessKey secret) out of the keychain, zeroized on drop.
///
/// `Debug` and `Display` are redacted; [`CredentialSecret::expose`] is the only accessor.
#[derive(Clone)]
pub struct CredentialSecret(Zeroizing<String>);

impl CredentialSecret {
    pub(crate) fn new(secret: Zeroizing<String>) -> Self {
        CredentialSecret(secret)
    }

    /// The secret text. Use it and let it go: don't copy it into long-lived strings.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CredentialSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialSecret(<redacted>)")
    }
}

/// Base64 of secret bytes in a zeroizing string sized up front (no reallocation copies).
pub(crate) fn secret_base64(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4 + 4));
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut out);
    out
}

/// Inverse of [`secret_base64`], into a zeroizing buffer sized up front.
pub(crate) fn secret_from_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; text.len() / 4 * 3 + 3]);
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(text, &mut out)
        .ok()?;
    // Truncating keeps the allocation: the tail is zeroized with the rest on drop.
    out.truncate(n);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_parses_and_displays() {
        for kind in KeyKind::ALL {
            assert_eq!(kind.to_string().parse::<KeyKind>().unwrap(), kind);
        }
        assert_eq!("rsa3072".parse::<KeyKind>().unwrap(), KeyKind::Rsa3072);
        assert_eq!("AES_256".parse::<KeyKind>().unwrap(), KeyKind::Aes256);
        assert!("rsa-1024".parse::<KeyKind>().is_err());
        assert_eq!(
            serde_json::to_string(&KeyKind::Rsa4096).unwrap(),
            "\"RSA-4096\""
        );
    }

    #[test]
    fn aes_fingerprint_is_a_mac_not_a_hash() {
        let key = [7u8; 32];
        let fp = aes256_fingerprint(&key);
        assert_eq!(fp.len(), 64);
        assert_ne!(fp, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key)));
        assert_eq!(fp, aes256_fingerprint(&key));
        assert_ne!(fp, aes256_fingerprint(&[8u8; 32]));
        // Published vector (FORMAT.md), computed independently with Python's hmac module.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            aes256_fingerprint(&key),
            "c782037e992bda663406f70d3de575b4b6086d54d65d8fe6a21e40444a79ca9f"
        );
    }

    #[test]
    fn aes_import_hex_and_base64() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8 * 7 + 1);
        let hex_text = hex::encode(key);
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        for text in [
            hex_text.clone(),
            hex_text.to_uppercase(),
            format!("  {b64}\n"),
            b64url,
        ] {
            match Secret::parse_import(text.as_bytes()).unwrap() {
                Secret::Aes256(k) => assert_eq!(*k, key, "{text}"),
                Secret::Rsa(_) => panic!("AES expected"),
            }
        }
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = Secret::parse_import(short.as_bytes()).err().unwrap();
        assert!(err.to_string().contains("16 bytes"), "{err}");
        let err = Secret::parse_import(b"abcdef0123").err().unwrap();
        assert!(err.to_string().contains("10 hex digits"), "{err}");
        assert!(Secret::parse_import(&[0xff, 0xfe, 0x00]).is_err());
        assert!(Secret::parse_import(b"correct horse battery staple").is_err());
    }

    #[test]
    fn secret_base64_round_trips() {
        for len in [0usize, 1, 2, 3, 32, 1217, 2374] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let text = secret_base64(&bytes);
            assert_eq!(&*secret_from_base64(&text).unwrap(), &bytes);
        }
        assert!(secret_from_base64("***").is_none());
    }

    #[test]
    fn debug_is_redacted() {
        let key = [0x5au8; 32];
        let material = KeyMaterial {
            name: "k".into(),
            version: 1,
            fingerprint: aes256_fingerprint(&key),
            secret: Secret::Aes256(Zeroizing::new(key)),
        };
        let shown = format!("{material:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("5a5a") && !shown.contains("90, 90"));
        let cred = CredentialSecret::new(Zeroizing::new("hunter2".into()));
        assert!(!format!("{cred:?}").contains("hunter2"));
    }
}

//! The object metadata of both formats: names, and parsing response headers back into what a
//! reader needs (which format, which key, the wrapped key) before it fetches any content.

use base64::Engine;

use crate::compat::{self, parse_decimal};
use crate::error::{Error, Result};
use crate::keys::{Fingerprint, KeyKind, MasterKey};
use crate::sealed::{self, Layout};
use crate::Format;

/// Header names, as sent on PUT / InitiateMultipartUpload / UploadPart and returned on GET/HEAD.
pub mod names {
    /// Wrapped content key, base64 (compat).
    pub const CSE_KEY: &str = "x-oss-meta-client-side-encryption-key";
    /// Wrapped IV, base64 (compat).
    pub const CSE_START: &str = "x-oss-meta-client-side-encryption-start";
    /// Content algorithm, `AES/CTR/NoPadding` (compat).
    pub const CSE_CEK_ALG: &str = "x-oss-meta-client-side-encryption-cek-alg";
    /// Wrapping algorithm, `RSA/NONE/PKCS1Padding` (compat).
    pub const CSE_WRAP_ALG: &str = "x-oss-meta-client-side-encryption-wrap-alg";
    /// Material description, a JSON object string (compat, optional).
    pub const CSE_MATDESC: &str = "x-oss-meta-client-side-encryption-matdesc";
    /// Plaintext length, when the writer knew it (compat, optional).
    pub const CSE_UNENCRYPTED_CONTENT_LENGTH: &str =
        "x-oss-meta-client-side-encryption-unencrypted-content-length";
    /// Plaintext Content-MD5, when the writer knew it (compat, optional).
    pub const CSE_UNENCRYPTED_CONTENT_MD5: &str =
        "x-oss-meta-client-side-encryption-unencrypted-content-md5";
    /// Total plaintext size of a multipart upload (compat, multipart, optional).
    pub const CSE_DATA_SIZE: &str = "x-oss-meta-client-side-encryption-data-size";
    /// Plaintext part size of a multipart upload, a multiple of 16 (compat, multipart).
    pub const CSE_PART_SIZE: &str = "x-oss-meta-client-side-encryption-part-size";
    /// The deprecated oss2 (< 2.11) key header, recognised only to refuse it clearly.
    pub const LEGACY_OSS2_KEY: &str = "x-oss-meta-oss-crypto-key";

    /// Sealed format version, `1`.
    pub const SEALED_VERSION: &str = "x-oss-meta-ossvault-cse-version";
    /// Sealed chunk size in plaintext bytes.
    pub const SEALED_CHUNK_SIZE: &str = "x-oss-meta-ossvault-cse-chunk-size";
    /// Sealed wrapping algorithm: `AES256-GCM`, `RSA-OAEP-SHA256` or `KMS`.
    pub const SEALED_WRAP_ALG: &str = "x-oss-meta-ossvault-cse-wrap-alg";
    /// Sealed wrapped content key (base64; for KMS the CiphertextBlob verbatim).
    pub const SEALED_WRAPPED_KEY: &str = "x-oss-meta-ossvault-cse-wrapped-key";
    /// Sealed key commitment, base64 of 32 bytes.
    pub const SEALED_KEY_COMMITMENT: &str = "x-oss-meta-ossvault-cse-key-commitment";
    /// The KMS CMK id of a KMS-wrapped sealed object.
    pub const SEALED_KMS_KEY_ID: &str = "x-oss-meta-ossvault-cse-kms-key-id";
    /// The master key's fingerprint (both formats; compat objects written by the SDKs lack it).
    pub const KEY_FINGERPRINT: &str = "x-oss-meta-ossvault-cse-key-fingerprint";

    /// Whether a (lowercase) header name belongs to client-side encryption metadata, of either
    /// format: what a rewrap replaces.
    pub fn is_encryption_header(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name.starts_with("x-oss-meta-ossvault-cse-")
            || name.starts_with("x-oss-meta-client-side-encryption-")
    }
}

use names::*;

/// The sealed wrapping algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealedWrap {
    Aes256Gcm,
    RsaOaepSha256,
    Kms,
}

impl SealedWrap {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SealedWrap::Aes256Gcm => "AES256-GCM",
            SealedWrap::RsaOaepSha256 => "RSA-OAEP-SHA256",
            SealedWrap::Kms => "KMS",
        }
    }

    pub(crate) fn kind(self) -> KeyKind {
        match self {
            SealedWrap::Aes256Gcm => KeyKind::Aes256,
            SealedWrap::RsaOaepSha256 => KeyKind::Rsa,
            SealedWrap::Kms => KeyKind::Kms,
        }
    }

    fn parse(v: &str) -> Option<SealedWrap> {
        [
            SealedWrap::Aes256Gcm,
            SealedWrap::RsaOaepSha256,
            SealedWrap::Kms,
        ]
        .into_iter()
        .find(|w| w.as_str() == v)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SealedMeta {
    pub(crate) chunk_size: u32,
    pub(crate) wrap: SealedWrap,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) wrapped_key: String,
    pub(crate) commitment: Vec<u8>,
    pub(crate) kms_key_id: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct CompatMeta {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) wrapped_iv: Vec<u8>,
    pub(crate) wrap_alg: String,
    pub(crate) matdesc: Option<String>,
    pub(crate) plaintext_len: Option<u64>,
    pub(crate) plaintext_md5: Option<String>,
    pub(crate) data_size: Option<u64>,
    pub(crate) part_size: Option<u64>,
    pub(crate) fingerprint: Option<Fingerprint>,
}

#[derive(Clone, Debug)]
pub(crate) enum Scheme {
    Plain,
    Sealed(SealedMeta),
    Compat(CompatMeta),
}

/// The client-side encryption metadata of an object, parsed from its response headers.
///
/// Parsing needs no key: it tells the format, the key needed (kind, fingerprint, KMS key id,
/// matdesc) and the plaintext length; [`open`](ObjectHeaders::open) then unwraps the content key.
#[derive(Clone, Debug)]
pub struct ObjectHeaders {
    pub(crate) scheme: Scheme,
}

/// A response header as a name and a value: `(K, V)` and `&(K, V)` for any string types.
pub trait HeaderPair {
    /// The header's name.
    fn name(&self) -> &str;
    /// The header's value.
    fn value(&self) -> &str;
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderPair for (K, V) {
    fn name(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderPair for &(K, V) {
    fn name(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

/// A header lookup over names normalised to lowercase `x-oss-meta-…`.
struct Lookup(Vec<(String, String)>);

impl Lookup {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    fn require(&self, name: &'static str) -> Result<&str> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Error::MissingHeader(name)),
        }
    }
}

fn b64(name: &'static str, v: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|e| Error::InvalidHeader {
            name,
            reason: format!("not base64: {e}"),
        })
}

fn fingerprint(name: &'static str, v: &str) -> Result<Fingerprint> {
    Fingerprint::from_hex(v).ok_or_else(|| Error::InvalidHeader {
        name,
        reason: format!("{v:?} is not a 64-digit hex fingerprint"),
    })
}

impl ObjectHeaders {
    /// Parses response headers (any case; names with or without the `x-oss-meta-` prefix, as
    /// some clients strip it from user metadata). Unrelated headers are ignored.
    ///
    /// An object without encryption metadata parses as plain ([`format`](Self::format) is
    /// `None`); malformed or unsupported encryption metadata is an error.
    pub fn parse<I>(headers: I) -> Result<ObjectHeaders>
    where
        I: IntoIterator,
        I::Item: HeaderPair,
    {
        let mut pairs = Vec::new();
        for pair in headers {
            let (k, v) = (pair.name(), pair.value());
            let k = k.trim().to_ascii_lowercase();
            let full = if k.starts_with("x-oss-meta-") {
                k
            } else if k.starts_with("client-side-encryption-")
                || k.starts_with("ossvault-cse-")
                || k.starts_with("oss-crypto-")
            {
                format!("x-oss-meta-{k}")
            } else {
                continue;
            };
            pairs.push((full, v.to_string()));
        }
        let h = Lookup(pairs);
        let sealed = h.get(SEALED_VERSION).is_some();
        let compat = h.get(CSE_KEY).is_some_and(|v| !v.is_empty());
        let scheme = match (sealed, compat) {
            (true, true) => {
                return Err(Error::InvalidHeader {
                    name: SEALED_VERSION,
                    reason: "the object has both sealed and OSS SDK encryption metadata".into(),
                })
            }
            (true, false) => Scheme::Sealed(parse_sealed(&h)?),
            (false, true) => Scheme::Compat(parse_compat(&h)?),
            (false, false) if h.get(LEGACY_OSS2_KEY).is_some() => return Err(Error::Unsupported(
                "the deprecated oss2 (< 2.11) format (x-oss-meta-oss-crypto-*): read it with oss2"
                    .into(),
            )),
            (false, false) => Scheme::Plain,
        };
        Ok(ObjectHeaders { scheme })
    }

    /// The content format, or `None` for an object that is not client-side encrypted.
    pub fn format(&self) -> Option<Format> {
        match self.scheme {
            Scheme::Plain => None,
            Scheme::Sealed(_) => Some(Format::Sealed),
            Scheme::Compat(_) => Some(Format::Compat),
        }
    }

    /// Whether the object is client-side encrypted (in either format).
    pub fn is_encrypted(&self) -> bool {
        self.format().is_some()
    }

    /// The kind of master key the object needs.
    pub fn key_kind(&self) -> Option<KeyKind> {
        match &self.scheme {
            Scheme::Plain => None,
            Scheme::Sealed(m) => Some(m.wrap.kind()),
            Scheme::Compat(_) => Some(KeyKind::Rsa),
        }
    }

    /// The fingerprint of the master key the object needs (absent on compat objects written by
    /// the OSS SDKs, which record none: see [`matdesc`](Self::matdesc)).
    pub fn key_fingerprint(&self) -> Option<Fingerprint> {
        match &self.scheme {
            Scheme::Plain => None,
            Scheme::Sealed(m) => Some(m.fingerprint),
            Scheme::Compat(m) => m.fingerprint,
        }
    }

    /// The KMS CMK id of a KMS-wrapped sealed object.
    pub fn kms_key_id(&self) -> Option<&str> {
        match &self.scheme {
            Scheme::Sealed(m) => m.kms_key_id.as_deref(),
            _ => None,
        }
    }

    /// The compat format's material description (a JSON object string, verbatim), which the
    /// SDKs use to name the key pair.
    pub fn matdesc(&self) -> Option<&str> {
        match &self.scheme {
            Scheme::Compat(m) => m.matdesc.as_deref(),
            _ => None,
        }
    }

    /// The wrapping algorithm as named in the metadata.
    pub fn wrap_alg(&self) -> Option<&str> {
        match &self.scheme {
            Scheme::Plain => None,
            Scheme::Sealed(m) => Some(m.wrap.as_str()),
            Scheme::Compat(m) => Some(&m.wrap_alg),
        }
    }

    /// The compat multipart part size recorded by the writer (informational: any compat object
    /// decrypts as one stream).
    pub fn part_size(&self) -> Option<u64> {
        match &self.scheme {
            Scheme::Compat(m) => m.part_size,
            _ => None,
        }
    }

    /// The compat multipart total plaintext size recorded by the writer.
    pub fn data_size(&self) -> Option<u64> {
        match &self.scheme {
            Scheme::Compat(m) => m.data_size,
            _ => None,
        }
    }

    /// The plaintext length of the object whose stored (ciphertext) length is `stored_len`,
    /// e.g. from a listing or HEAD, without a key.
    pub fn plaintext_len(&self, stored_len: u64) -> Result<u64> {
        match &self.scheme {
            Scheme::Plain | Scheme::Compat(_) => Ok(stored_len),
            Scheme::Sealed(m) => Layout::new(m.chunk_size).plaintext_len(stored_len),
        }
    }

    /// Checks, without unwrapping anything, that `key` is the one the object needs: the same
    /// kind, the same fingerprint (where the object records one), and able to decrypt.
    pub fn check_key(&self, key: &MasterKey) -> Result<()> {
        let Some(needed) = self.key_kind() else {
            return Err(Error::NotEncrypted);
        };
        if needed != key.kind() {
            return Err(Error::WrongKeyKind {
                needed,
                given: key.kind(),
                wrap_alg: self.wrap_alg().unwrap_or_default().to_string(),
            });
        }
        if let Some(fp) = self.key_fingerprint() {
            if fp != key.fingerprint() {
                return Err(Error::WrongKey {
                    needed: fp,
                    given: key.fingerprint(),
                });
            }
        }
        if !key.can_decrypt() {
            return Err(Error::PublicKeyOnly(key.fingerprint()));
        }
        Ok(())
    }
}

fn parse_sealed(h: &Lookup) -> Result<SealedMeta> {
    let version = h.require(SEALED_VERSION)?;
    if version != sealed::VERSION.to_string() {
        return Err(Error::UnsupportedVersion(version.to_string()));
    }
    let chunk = parse_decimal(SEALED_CHUNK_SIZE, h.require(SEALED_CHUNK_SIZE)?)?;
    let chunk_size = u32::try_from(chunk)
        .map_err(|_| format!("chunk size {chunk} is too large"))
        .and_then(|c| sealed::check_chunk_size(c).map(|_| c))
        .map_err(|reason| Error::InvalidHeader {
            name: SEALED_CHUNK_SIZE,
            reason,
        })?;
    let alg = h.require(SEALED_WRAP_ALG)?;
    let wrap = SealedWrap::parse(alg)
        .ok_or_else(|| Error::Unsupported(format!("sealed wrapping algorithm {alg:?}")))?;
    let commitment = b64(SEALED_KEY_COMMITMENT, h.require(SEALED_KEY_COMMITMENT)?)?;
    if commitment.len() != 32 {
        return Err(Error::InvalidHeader {
            name: SEALED_KEY_COMMITMENT,
            reason: format!("{} bytes instead of 32", commitment.len()),
        });
    }
    let kms_key_id = match wrap {
        SealedWrap::Kms => Some(h.require(SEALED_KMS_KEY_ID)?.to_string()),
        _ => None,
    };
    Ok(SealedMeta {
        chunk_size,
        wrap,
        fingerprint: fingerprint(KEY_FINGERPRINT, h.require(KEY_FINGERPRINT)?)?,
        wrapped_key: h.require(SEALED_WRAPPED_KEY)?.to_string(),
        commitment,
        kms_key_id,
    })
}

fn parse_compat(h: &Lookup) -> Result<CompatMeta> {
    if let Some(cek) = h.get(CSE_CEK_ALG) {
        if !cek.is_empty() && cek != compat::CEK_ALG {
            return Err(Error::Unsupported(format!(
                "content algorithm {cek:?} (only {} exists in the OSS SDK format)",
                compat::CEK_ALG
            )));
        }
    }
    let wrap_alg = h.require(CSE_WRAP_ALG)?;
    match wrap_alg {
        compat::WRAP_RSA_PKCS1 | compat::WRAP_RSA_OAEP_SHA1 => {}
        compat::WRAP_KMS_ALICLOUD => {
            return Err(Error::Unsupported(
                "content keys wrapped by Alibaba Cloud KMS through the OSS SDKs (KMS/ALICLOUD)"
                    .into(),
            ))
        }
        other => return Err(Error::Unsupported(format!("wrapping algorithm {other:?}"))),
    }
    let optional_decimal = |name: &'static str| -> Result<Option<u64>> {
        match h.get(name) {
            Some(v) if !v.is_empty() => parse_decimal(name, v).map(Some),
            _ => Ok(None),
        }
    };
    let part_size = optional_decimal(CSE_PART_SIZE)?;
    Ok(CompatMeta {
        wrapped_key: b64(CSE_KEY, h.require(CSE_KEY)?)?,
        wrapped_iv: b64(CSE_START, h.require(CSE_START)?)?,
        wrap_alg: wrap_alg.to_string(),
        matdesc: h
            .get(CSE_MATDESC)
            .filter(|v| !v.is_empty())
            .map(String::from),
        plaintext_len: optional_decimal(CSE_UNENCRYPTED_CONTENT_LENGTH)?,
        plaintext_md5: h
            .get(CSE_UNENCRYPTED_CONTENT_MD5)
            .filter(|v| !v.is_empty())
            .map(String::from),
        data_size: optional_decimal(CSE_DATA_SIZE)?,
        part_size,
        fingerprint: match h.get(KEY_FINGERPRINT) {
            Some(v) if !v.is_empty() => Some(fingerprint(KEY_FINGERPRINT, v)?),
            _ => None,
        },
    })
}

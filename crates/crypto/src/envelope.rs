//! The envelope of one object: its content key (fresh when writing, unwrapped when reading), the
//! format's parameters and the metadata headers that carry the wrapped key.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine;
use md5::Digest;

use crate::compat::{self, CtrStream, PlainChecks};
use crate::error::{Error, Result};
use crate::headers::{names::*, CompatMeta, ObjectHeaders, Scheme, SealedMeta, SealedWrap};
use crate::keys::{ContentKey, Fingerprint, KeyKind, MasterKey};
use crate::multipart::MultipartPlan;
use crate::range::RangeRead;
use crate::sealed::{self, ChunkKey, Layout, SealedDecryptor, SealedEncryptor};
use crate::stream::{Decryptor, Encryptor};
use crate::{wrap, EncryptOptions, Format};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Clone)]
pub(crate) enum Params {
    Sealed {
        chunk_size: u32,
        key: Arc<ChunkKey>,
    },
    Compat {
        key: ContentKey,
        iv: [u8; 16],
        plaintext_len: Option<u64>,
        plaintext_md5: Option<String>,
    },
}

/// The envelope of one object: what encrypts or decrypts its content, and its metadata.
///
/// Made by [`Envelope::new`] for a new object (fresh content key, wrapped under the master key)
/// or by [`ObjectHeaders::open`] for a stored one. Cheap to clone; one envelope per object.
///
/// For the compat format the keystream is fixed by the content key and IV: never encrypt two
/// different plaintexts (or two versions of a part) with one compat envelope. The sealed format
/// draws fresh nonces for every encryptor, so re-encrypting a part is safe.
#[derive(Clone)]
pub struct Envelope {
    pub(crate) params: Params,
    headers: Arc<Vec<(String, String)>>,
    fingerprint: Option<Fingerprint>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("format", &self.format())
            .field("key_fingerprint", &self.fingerprint)
            .field("content_key", &"<redacted>")
            .finish()
    }
}

impl Envelope {
    /// A new object's envelope: a fresh content key wrapped under `master` (a KMS master key
    /// asks its KMS for the data key, hence `async`), and the metadata headers to send.
    pub async fn new(master: &MasterKey, options: &EncryptOptions) -> Result<Envelope> {
        match options.format {
            Format::Sealed => Envelope::new_sealed(master, options).await,
            Format::Compat => Envelope::new_compat(master, options),
        }
    }

    async fn new_sealed(master: &MasterKey, options: &EncryptOptions) -> Result<Envelope> {
        sealed::check_chunk_size(options.chunk_size).map_err(Error::InvalidOption)?;
        let fp = master.fingerprint();
        let (ck, wrap, wrapped) = match master {
            MasterKey::Aes256(k) => {
                let ck = ContentKey::random();
                let w = b64(&wrap::aes_wrap(k, &ck));
                (ck, SealedWrap::Aes256Gcm, w)
            }
            MasterKey::RsaPrivate(_) | MasterKey::RsaPublic(_) => {
                let public = master.rsa_public().expect("an RSA key");
                let ck = ContentKey::random();
                let w = wrap::rsa_oaep_wrap(public, ck.0.as_slice()).map_err(Error::InvalidKey)?;
                (ck, SealedWrap::RsaOaepSha256, b64(&w))
            }
            MasterKey::Kms(kms) => {
                let dk = kms.generate_data_key().await?;
                let ck = ContentKey::from_slice(&dk.plaintext).ok_or_else(|| {
                    Error::Kms(crate::KeyWrapError::new(format!(
                        "GenerateDataKey returned {} bytes instead of 32",
                        dk.plaintext.len()
                    )))
                })?;
                let blob = dk.ciphertext_blob;
                if blob.is_empty() || !blob.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(Error::Kms(crate::KeyWrapError::new(
                        "the CiphertextBlob is not printable ASCII",
                    )));
                }
                (ck, SealedWrap::Kms, blob)
            }
        };
        let commitment = sealed::commitment(&ck, options.chunk_size);
        let mut headers = vec![
            (SEALED_VERSION.into(), sealed::VERSION.to_string()),
            (SEALED_CHUNK_SIZE.into(), options.chunk_size.to_string()),
            (SEALED_WRAP_ALG.into(), wrap.as_str().into()),
            (KEY_FINGERPRINT.into(), fp.to_hex()),
            (SEALED_WRAPPED_KEY.into(), wrapped),
            (SEALED_KEY_COMMITMENT.into(), b64(commitment.as_ref())),
        ];
        if let MasterKey::Kms(kms) = master {
            headers.push((SEALED_KMS_KEY_ID.into(), kms.key_id().to_string()));
        }
        Ok(Envelope {
            params: Params::Sealed {
                chunk_size: options.chunk_size,
                key: Arc::new(ChunkKey::derive(&ck)),
            },
            headers: Arc::new(headers),
            fingerprint: Some(fp),
        })
    }

    fn new_compat(master: &MasterKey, options: &EncryptOptions) -> Result<Envelope> {
        let Some(public) = master.rsa_public() else {
            return Err(Error::KeyNotSupportedByFormat {
                format: Format::Compat,
                kind: master.kind(),
            });
        };
        let ck = ContentKey::random();
        let iv = compat::random_iv();
        let wrapped_key =
            wrap::rsa_pkcs1_wrap(public, ck.0.as_slice()).map_err(Error::InvalidKey)?;
        let wrapped_iv = wrap::rsa_pkcs1_wrap(public, &iv).map_err(Error::InvalidKey)?;
        let md5 = options.plaintext_md5.map(|m| b64(&m));
        // The order the Python v2 SDK writes them in (order carries no meaning).
        let mut headers = Vec::new();
        if let Some(m) = &md5 {
            headers.push((CSE_UNENCRYPTED_CONTENT_MD5.to_string(), m.clone()));
        }
        if let Some(len) = options.plaintext_len {
            headers.push((CSE_UNENCRYPTED_CONTENT_LENGTH.into(), len.to_string()));
        }
        if !options.matdesc.is_empty() {
            headers.push((
                CSE_MATDESC.into(),
                compat::python_json_object(&options.matdesc),
            ));
        }
        headers.push((CSE_KEY.into(), b64(&wrapped_key)));
        headers.push((CSE_START.into(), b64(&wrapped_iv)));
        headers.push((CSE_WRAP_ALG.into(), compat::WRAP_RSA_PKCS1.into()));
        headers.push((CSE_CEK_ALG.into(), compat::CEK_ALG.into()));
        headers.push((KEY_FINGERPRINT.into(), master.fingerprint().to_hex()));
        Ok(Envelope {
            params: Params::Compat {
                key: ck,
                iv,
                plaintext_len: options.plaintext_len,
                plaintext_md5: md5,
            },
            headers: Arc::new(headers),
            fingerprint: Some(master.fingerprint()),
        })
    }

    /// The content format.
    pub fn format(&self) -> Format {
        match self.params {
            Params::Sealed { .. } => Format::Sealed,
            Params::Compat { .. } => Format::Compat,
        }
    }

    /// The fingerprint of the master key (absent on compat objects written by the OSS SDKs).
    pub fn key_fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// The `x-oss-meta-*` headers to send with PutObject (or InitiateMultipartUpload: see
    /// [`multipart`](Self::multipart)). For an opened envelope, the object's own.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The stored length of `plaintext_len` bytes (the Content-Length to upload).
    pub fn ciphertext_len(&self, plaintext_len: u64) -> u64 {
        match &self.params {
            Params::Sealed { chunk_size, .. } => {
                Layout::new(*chunk_size).ciphertext_len(plaintext_len)
            }
            Params::Compat { .. } => plaintext_len,
        }
    }

    /// The plaintext length of an object stored in `stored_len` bytes.
    pub fn plaintext_len(&self, stored_len: u64) -> Result<u64> {
        match &self.params {
            Params::Sealed { chunk_size, .. } => Layout::new(*chunk_size).plaintext_len(stored_len),
            Params::Compat { .. } => Ok(stored_len),
        }
    }

    /// The sealed chunk size (`None` for compat, whose unit is the 16-byte block).
    pub fn chunk_size(&self) -> Option<u32> {
        match &self.params {
            Params::Sealed { chunk_size, .. } => Some(*chunk_size),
            Params::Compat { .. } => None,
        }
    }

    /// A streaming encryptor for the whole object.
    pub fn encryptor(&self) -> Encryptor {
        self.encryptor_at(0, true)
    }

    /// An encryptor starting at object byte `offset` (a multiple of the part alignment) whose
    /// stream does or does not end the object.
    pub(crate) fn encryptor_at(&self, offset: u64, ends_object: bool) -> Encryptor {
        match &self.params {
            Params::Sealed { chunk_size, key } => Encryptor::sealed(SealedEncryptor::new(
                key.clone(),
                *chunk_size,
                offset / *chunk_size as u64,
                ends_object,
            )),
            Params::Compat { key, iv, .. } => Encryptor::compat(CtrStream::new(key, iv, offset)),
        }
    }

    /// A streaming decryptor for the whole object, from its first byte to its end. For compat
    /// objects it also checks the plaintext length and MD5 when the metadata records them.
    pub fn decryptor(&self) -> Decryptor {
        match &self.params {
            Params::Sealed { chunk_size, key } => {
                Decryptor::sealed(SealedDecryptor::whole(key.clone(), *chunk_size))
            }
            Params::Compat {
                key,
                iv,
                plaintext_len,
                plaintext_md5,
            } => Decryptor::compat(CtrStream::new(key, iv, 0).with_checks(PlainChecks {
                len: *plaintext_len,
                md5: plaintext_md5.clone().map(|m| (m, md5::Md5::new())),
                seen: 0,
            })),
        }
    }

    /// Plans a ranged read of plaintext bytes `plain` (end exclusive, clamped to the object) of
    /// an object stored in `stored_len` bytes: the stored range to request and its decryptor.
    pub fn range(&self, plain: Range<u64>, stored_len: u64) -> Result<RangeRead> {
        if plain.start > plain.end {
            return Err(Error::InvalidRange(format!(
                "start {} is after end {}",
                plain.start, plain.end
            )));
        }
        let total = self.plaintext_len(stored_len)?;
        let end = plain.end.min(total);
        let start = plain.start.min(end);
        let (decryptor, stored) = match &self.params {
            Params::Sealed { chunk_size, key } => {
                let (d, r) =
                    SealedDecryptor::range(key.clone(), *chunk_size, stored_len, start, end)?;
                (Decryptor::sealed(d), r)
            }
            Params::Compat { key, iv, .. } => {
                let (d, r) = CtrStream::range(key, iv, start, end);
                (Decryptor::compat(d), r)
            }
        };
        Ok(RangeRead::new(stored, start..end, decryptor))
    }

    /// Plans a multipart upload with plaintext parts of `part_size` bytes (each part but the last
    /// exactly that size). `data_size` is the total plaintext size if known (compat records it).
    pub fn multipart(&self, part_size: u64, data_size: Option<u64>) -> Result<MultipartPlan> {
        MultipartPlan::new(self.clone(), part_size, data_size)
    }

    /// The smallest valid part size of at least `wanted` bytes: a multiple of the chunk size
    /// (sealed) or of 16 (compat).
    pub fn align_part_size(&self, wanted: u64) -> u64 {
        let unit = self.part_unit();
        wanted.max(1).div_ceil(unit) * unit
    }

    pub(crate) fn part_unit(&self) -> u64 {
        match &self.params {
            Params::Sealed { chunk_size, .. } => *chunk_size as u64,
            Params::Compat { .. } => compat::BLOCK,
        }
    }

    /// Encrypts a whole object held in memory.
    pub fn encrypt_to_vec(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.ciphertext_len(plaintext.len() as u64) as usize);
        let mut e = self.encryptor();
        e.update(plaintext, &mut out)?;
        e.finish(&mut out)?;
        Ok(out)
    }

    /// Decrypts a whole object held in memory.
    pub fn decrypt_to_vec(&self, stored: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(stored.len());
        let mut d = self.decryptor();
        d.update(stored, &mut out)?;
        d.finish(&mut out)?;
        Ok(out)
    }
}

impl ObjectHeaders {
    /// Unwraps the object's content key with `key` and returns its envelope, after checking
    /// that `key` is the one the object names. Sealed objects also check the key commitment, so
    /// a wrong or swapped wrapped key is an error here, before any content is read.
    pub async fn open(&self, key: &MasterKey) -> Result<Envelope> {
        self.check_key(key)?;
        match &self.scheme {
            Scheme::Plain => Err(Error::NotEncrypted),
            Scheme::Sealed(m) => open_sealed(m, key).await,
            Scheme::Compat(m) => open_compat(m, key),
        }
    }
}

impl ObjectHeaders {
    /// Re-wraps the object's content key from master key `old` to master key `new` (key
    /// rotation, FORMAT.md §1.2): unwraps it with `old` (checking the key commitment of sealed
    /// objects), wraps the same content key under `new`, and returns the object's complete
    /// client-side encryption headers with the new wrapping. The content is untouched: write the
    /// headers with a CopyObject of the object onto itself (metadata REPLACE), after removing
    /// every existing header for which [`names::is_encryption_header`] holds.
    ///
    /// Sealed objects re-wrap to an AES-256 or RSA key (a KMS cannot wrap a given key through
    /// [`KeyWrap`](crate::KeyWrap)); compat objects to an RSA key only (PKCS#1 v1.5, a new IV
    /// wrap of the same IV), keeping their matdesc, lengths and part sizes.
    ///
    /// [`names::is_encryption_header`]: crate::names::is_encryption_header
    pub async fn rewrap(&self, old: &MasterKey, new: &MasterKey) -> Result<Vec<(String, String)>> {
        self.check_key(old)?;
        match &self.scheme {
            Scheme::Plain => Err(Error::NotEncrypted),
            Scheme::Sealed(m) => rewrap_sealed(m, old, new).await,
            Scheme::Compat(m) => rewrap_compat(m, old, new),
        }
    }
}

async fn unwrap_sealed(m: &SealedMeta, key: &MasterKey) -> Result<ContentKey> {
    let fail = |reason: String| Error::UnwrapFailed {
        fingerprint: key.fingerprint(),
        reason,
    };
    let decode = |v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| Error::InvalidHeader {
                name: SEALED_WRAPPED_KEY,
                reason: format!("not base64: {e}"),
            })
    };
    let ck = match (m.wrap, key) {
        (SealedWrap::Aes256Gcm, MasterKey::Aes256(k)) => {
            wrap::aes_unwrap(k, &decode(&m.wrapped_key)?).map_err(fail)?
        }
        (SealedWrap::RsaOaepSha256, MasterKey::RsaPrivate(k)) => {
            let plain = wrap::rsa_oaep_unwrap(k, &decode(&m.wrapped_key)?).map_err(fail)?;
            ContentKey::from_slice(&plain)
                .ok_or_else(|| fail("unwrapped key is not 32 bytes".into()))?
        }
        (SealedWrap::Kms, MasterKey::Kms(kms)) => {
            let plain = kms.decrypt(&m.wrapped_key).await?;
            ContentKey::from_slice(&plain)
                .ok_or_else(|| fail("KMS Decrypt returned a key that is not 32 bytes".into()))?
        }
        _ => unreachable!("check_key matched the key kind"),
    };
    sealed::verify_commitment(&ck, m.chunk_size, &m.commitment)?;
    Ok(ck)
}

async fn rewrap_sealed(
    m: &SealedMeta,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Vec<(String, String)>> {
    let ck = unwrap_sealed(m, old).await?;
    let (wrap, wrapped) = match new {
        MasterKey::Aes256(k) => (SealedWrap::Aes256Gcm, b64(&wrap::aes_wrap(k, &ck))),
        MasterKey::RsaPrivate(_) | MasterKey::RsaPublic(_) => {
            let public = new.rsa_public().expect("an RSA key");
            let w = wrap::rsa_oaep_wrap(public, ck.0.as_slice()).map_err(Error::InvalidKey)?;
            (SealedWrap::RsaOaepSha256, b64(&w))
        }
        MasterKey::Kms(_) => return Err(Error::Unsupported(
            "re-wrapping a content key under a KMS key (a KMS only wraps the keys it generates)"
                .into(),
        )),
    };
    Ok(vec![
        (SEALED_VERSION.into(), sealed::VERSION.to_string()),
        (SEALED_CHUNK_SIZE.into(), m.chunk_size.to_string()),
        (SEALED_WRAP_ALG.into(), wrap.as_str().into()),
        (KEY_FINGERPRINT.into(), new.fingerprint().to_hex()),
        (SEALED_WRAPPED_KEY.into(), wrapped),
        (SEALED_KEY_COMMITMENT.into(), b64(&m.commitment)),
    ])
}

fn rewrap_compat(
    m: &CompatMeta,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Vec<(String, String)>> {
    let MasterKey::RsaPrivate(private) = old else {
        unreachable!("check_key accepted only an RSA private key")
    };
    let Some(public) = new.rsa_public() else {
        return Err(Error::KeyNotSupportedByFormat {
            format: Format::Compat,
            kind: new.kind(),
        });
    };
    let fail = |reason: String| Error::UnwrapFailed {
        fingerprint: old.fingerprint(),
        reason,
    };
    let oaep = m.wrap_alg == compat::WRAP_RSA_OAEP_SHA1;
    let ck = wrap::rsa_compat_unwrap(private, &m.wrapped_key, oaep).map_err(fail)?;
    if ck.len() != 32 {
        return Err(fail(format!(
            "the content key is {} bytes, not 32",
            ck.len()
        )));
    }
    let iv = wrap::rsa_compat_unwrap(private, &m.wrapped_iv, oaep).map_err(fail)?;
    if iv.len() != 16 {
        return Err(fail(format!("the IV is {} bytes, not 16", iv.len())));
    }
    let wrapped_key = wrap::rsa_pkcs1_wrap(public, &ck).map_err(Error::InvalidKey)?;
    let wrapped_iv = wrap::rsa_pkcs1_wrap(public, &iv).map_err(Error::InvalidKey)?;
    let mut headers = Vec::new();
    if let Some(v) = &m.plaintext_md5 {
        headers.push((CSE_UNENCRYPTED_CONTENT_MD5.to_string(), v.clone()));
    }
    if let Some(v) = m.plaintext_len {
        headers.push((CSE_UNENCRYPTED_CONTENT_LENGTH.to_string(), v.to_string()));
    }
    if let Some(v) = &m.matdesc {
        headers.push((CSE_MATDESC.to_string(), v.clone()));
    }
    headers.push((CSE_KEY.to_string(), b64(&wrapped_key)));
    headers.push((CSE_START.to_string(), b64(&wrapped_iv)));
    headers.push((CSE_WRAP_ALG.to_string(), compat::WRAP_RSA_PKCS1.into()));
    headers.push((CSE_CEK_ALG.to_string(), compat::CEK_ALG.into()));
    if let Some(v) = m.data_size {
        headers.push((CSE_DATA_SIZE.to_string(), v.to_string()));
    }
    if let Some(v) = m.part_size {
        headers.push((CSE_PART_SIZE.to_string(), v.to_string()));
    }
    headers.push((KEY_FINGERPRINT.to_string(), new.fingerprint().to_hex()));
    Ok(headers)
}

async fn open_sealed(m: &SealedMeta, key: &MasterKey) -> Result<Envelope> {
    let ck = unwrap_sealed(m, key).await?;
    let mut headers = vec![
        (SEALED_VERSION.into(), sealed::VERSION.to_string()),
        (SEALED_CHUNK_SIZE.into(), m.chunk_size.to_string()),
        (SEALED_WRAP_ALG.into(), m.wrap.as_str().into()),
        (KEY_FINGERPRINT.into(), m.fingerprint.to_hex()),
        (SEALED_WRAPPED_KEY.into(), m.wrapped_key.clone()),
        (SEALED_KEY_COMMITMENT.into(), b64(&m.commitment)),
    ];
    if let Some(id) = &m.kms_key_id {
        headers.push((SEALED_KMS_KEY_ID.into(), id.clone()));
    }
    Ok(Envelope {
        params: Params::Sealed {
            chunk_size: m.chunk_size,
            key: Arc::new(ChunkKey::derive(&ck)),
        },
        headers: Arc::new(headers),
        fingerprint: Some(m.fingerprint),
    })
}

fn open_compat(m: &CompatMeta, key: &MasterKey) -> Result<Envelope> {
    let MasterKey::RsaPrivate(private) = key else {
        unreachable!("check_key accepted only an RSA private key")
    };
    let fail = |reason: String| Error::UnwrapFailed {
        fingerprint: key.fingerprint(),
        reason,
    };
    let oaep = m.wrap_alg == compat::WRAP_RSA_OAEP_SHA1;
    let ck = wrap::rsa_compat_unwrap(private, &m.wrapped_key, oaep).map_err(fail)?;
    let ck = ContentKey::from_slice(&ck)
        .ok_or_else(|| fail(format!("the content key is {} bytes, not 32", ck.len())))?;
    let iv = wrap::rsa_compat_unwrap(private, &m.wrapped_iv, oaep).map_err(fail)?;
    let iv: [u8; 16] = iv
        .as_slice()
        .try_into()
        .map_err(|_| fail(format!("the IV is {} bytes, not 16", iv.len())))?;
    let mut headers = vec![
        (CSE_KEY.to_string(), b64(&m.wrapped_key)),
        (CSE_START.into(), b64(&m.wrapped_iv)),
        (CSE_CEK_ALG.into(), compat::CEK_ALG.into()),
        (CSE_WRAP_ALG.into(), m.wrap_alg.clone()),
    ];
    if let Some(v) = &m.matdesc {
        headers.push((CSE_MATDESC.into(), v.clone()));
    }
    if let Some(fp) = m.fingerprint {
        headers.push((KEY_FINGERPRINT.into(), fp.to_hex()));
    }
    Ok(Envelope {
        params: Params::Compat {
            key: ck,
            iv,
            plaintext_len: m.plaintext_len,
            plaintext_md5: m.plaintext_md5.clone(),
        },
        headers: Arc::new(headers),
        fingerprint: m.fingerprint,
    })
}

/// Whether a key kind can wrap content keys in a format.
pub fn format_supports(format: Format, kind: KeyKind) -> bool {
    match format {
        Format::Sealed => true,
        Format::Compat => kind == KeyKind::Rsa,
    }
}

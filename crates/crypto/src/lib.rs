//! Client-side envelope encryption for ossvault: objects are encrypted before they leave the
//! machine, each under a fresh content key wrapped by a [`MasterKey`].
//!
//! Two content formats behind one API:
//!
//! - [`Format::Sealed`] (default): AES-256-GCM in chunks, authenticated chunk index and final
//!   flag, a key commitment; content keys wrapped by an AES-256 key, an RSA key (OAEP-SHA256) or
//!   a KMS CMK. Specified in `FORMAT.md`.
//! - [`Format::Compat`]: the OSS SDKs' format (AES-256-CTR, RSA PKCS#1 v1.5 wrapping,
//!   `x-oss-meta-client-side-encryption-*`): the official SDKs read what this crate writes and
//!   the other way round. Unauthenticated, as the SDKs define it.
//!
//! Writing an object:
//!
//! ```no_run
//! # async fn demo(master: ossvault_crypto::MasterKey, data: &[u8]) -> ossvault_crypto::Result<()> {
//! use ossvault_crypto::{EncryptOptions, Envelope};
//! let envelope = Envelope::new(&master, &EncryptOptions::default()).await?;
//! let headers = envelope.headers(); // send with PutObject
//! let body = envelope.encrypt_to_vec(data)?; // or stream: envelope.encryptor() / CipherReader
//! # Ok(()) }
//! ```
//!
//! Reading one back:
//!
//! ```no_run
//! # async fn demo(master: ossvault_crypto::MasterKey, response_headers: Vec<(String, String)>,
//! #   body: tokio::fs::File) -> ossvault_crypto::Result<()> {
//! use ossvault_crypto::{decrypt_to_file, ObjectHeaders};
//! let meta = ObjectHeaders::parse(&response_headers)?;
//! println!("needs key {:?}", meta.key_fingerprint());
//! let envelope = meta.open(&master).await?; // wrong key: an error here
//! decrypt_to_file(body, envelope.decryptor(), "out.bin").await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod compat;
mod envelope;
mod error;
mod file;
mod headers;
mod keys;
mod kms;
mod multipart;
mod plaintext;
mod range;
mod sealed;
mod stream;
#[cfg(test)]
mod vectors;
mod window;
mod wrap;

use std::fmt;
use std::str::FromStr;

pub use envelope::{format_supports, Envelope};
pub use error::{Error, Result};
pub use file::decrypt_to_file;
pub use headers::{names, HeaderPair, ObjectHeaders};
pub use keys::{
    aes256_fingerprint, rsa_fingerprint, Aes256Key, Fingerprint, KeyKind, MasterKey, RsaPrivate,
    RsaPublic,
};
pub use kms::{GeneratedDataKey, KeyWrap, KeyWrapError, KeyWrapFuture};
pub use multipart::MultipartPlan;
pub use plaintext::PlainBuf;
pub use range::RangeRead;
pub use sealed::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
pub use stream::{CipherReader, CipherStream, Decryptor, Encryptor, DEFAULT_READ_BUFFER};

/// The constants of the compat (OSS SDK) format.
pub mod compat_format {
    pub use crate::compat::{
        BLOCK, CEK_ALG, WRAP_KMS_ALICLOUD, WRAP_RSA_OAEP_SHA1, WRAP_RSA_PKCS1,
    };
}

/// The content format of a client-side encrypted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// ossvault's authenticated format (FORMAT.md): chunked AES-256-GCM. The default.
    #[default]
    Sealed,
    /// The OSS SDKs' format: AES-256-CTR, RSA PKCS#1 v1.5 wrapping.
    Compat,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Sealed => "sealed",
            Format::Compat => "compat",
        })
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Parses `sealed` or `compat` (as the CLI's `--format` takes them).
    fn from_str(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "sealed" => Ok(Format::Sealed),
            "compat" => Ok(Format::Compat),
            other => Err(Error::InvalidOption(format!(
                "unknown format {other:?} (sealed or compat)"
            ))),
        }
    }
}

/// How to encrypt a new object.
#[derive(Clone, Debug)]
pub struct EncryptOptions {
    /// The content format.
    pub format: Format,
    /// Sealed: plaintext bytes per chunk, a power of two in
    /// [`MIN_CHUNK_SIZE`]`..=`[`MAX_CHUNK_SIZE`]. Default [`DEFAULT_CHUNK_SIZE`].
    pub chunk_size: u32,
    /// Compat: the material description (key → value), written as Python's `json.dumps` does.
    pub matdesc: Vec<(String, String)>,
    /// Compat: the plaintext length, recorded as `…-unencrypted-content-length` (and checked on
    /// decryption).
    pub plaintext_len: Option<u64>,
    /// Compat: the plaintext MD5, recorded as `…-unencrypted-content-md5` (and checked on
    /// decryption).
    pub plaintext_md5: Option<[u8; 16]>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            format: Format::Sealed,
            chunk_size: DEFAULT_CHUNK_SIZE,
            matdesc: Vec::new(),
            plaintext_len: None,
            plaintext_md5: None,
        }
    }
}

impl EncryptOptions {
    /// Options for the sealed format with the default chunk size.
    pub fn sealed() -> Self {
        Self::default()
    }

    /// Options for the compat (OSS SDK) format.
    pub fn compat() -> Self {
        EncryptOptions {
            format: Format::Compat,
            ..Self::default()
        }
    }
}

//! The seam to a KMS: the crate needs no network, the caller supplies a [`KeyWrap`] that talks to
//! its KMS (the embedded server's local KMS, or Alibaba Cloud KMS).
//!
//! The methods are async because a real KMS is a network round trip; they return boxed futures
//! so that `Arc<dyn KeyWrap>` works. A synchronous implementation returns
//! `Box::pin(std::future::ready(result))`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use zeroize::Zeroizing;

/// A boxed future returned by [`KeyWrap`] methods.
pub type KeyWrapFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyWrapError>> + Send + 'a>>;

/// A data key fresh from KMS `GenerateDataKey`.
pub struct GeneratedDataKey {
    /// The 32 plaintext bytes (`Plaintext`, base64-decoded); used as the object's content key.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The KMS `CiphertextBlob` string exactly as returned; it is stored in the object's
    /// metadata and handed back verbatim to [`KeyWrap::decrypt`]. Must be printable ASCII
    /// (KMS blobs are base64).
    pub ciphertext_blob: String,
}

impl fmt::Debug for GeneratedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedDataKey")
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob", &self.ciphertext_blob)
            .finish()
    }
}

/// A KMS customer master key, as the caller reaches it.
///
/// Implementations call the KMS API: `GenerateDataKey(KeyId = key_id(), KeySpec = AES_256)` and
/// `Decrypt(CiphertextBlob)`. No encryption context is used (the content key is bound to its
/// object by the format's key commitment, not by the KMS).
pub trait KeyWrap: Send + Sync {
    /// The canonical id of the CMK (not an alias): it is recorded in each object's metadata and
    /// its hash is the key's [`Fingerprint`](crate::Fingerprint), so the same CMK must always be
    /// named the same way.
    fn key_id(&self) -> &str;

    /// KMS `GenerateDataKey` for a 256-bit key under this CMK.
    fn generate_data_key(&self) -> KeyWrapFuture<'_, GeneratedDataKey>;

    /// KMS `Decrypt` of a `CiphertextBlob` that `generate_data_key` returned.
    fn decrypt<'a>(&'a self, ciphertext_blob: &'a str) -> KeyWrapFuture<'a, Zeroizing<Vec<u8>>>;
}

/// A failure reported by a [`KeyWrap`] implementation (network, access denied, disabled key…).
#[derive(Debug)]
pub struct KeyWrapError(Box<dyn std::error::Error + Send + Sync>);

impl KeyWrapError {
    /// Wraps the implementation's error (or a message string).
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> KeyWrapError {
        KeyWrapError(err.into())
    }

    /// The implementation's error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for KeyWrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for KeyWrapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

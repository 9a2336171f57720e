//! The one error type of the crate: each variant says what went wrong in words a user can act on.

use std::io;

use crate::keys::{Fingerprint, KeyKind};
use crate::kms::KeyWrapError;
use crate::Format;

/// Why encrypting, decrypting or reading an object's encryption metadata failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object names its master key by fingerprint, and the key given is another one.
    #[error(
        "wrong key: the object was encrypted under master key {needed}, the key given is {given}"
    )]
    WrongKey {
        /// The fingerprint stored with the object.
        needed: Fingerprint,
        /// The fingerprint of the key that was given.
        given: Fingerprint,
    },
    /// The object's content key is wrapped by another kind of master key.
    #[error("wrong kind of key: the object's content key is wrapped with {wrap_alg} (a {needed} master key), the key given is {given}")]
    WrongKeyKind {
        /// The kind of master key the object needs.
        needed: KeyKind,
        /// The kind of the key that was given.
        given: KeyKind,
        /// The wrapping algorithm named in the object's metadata.
        wrap_alg: String,
    },
    /// Decrypting needs the private half of an RSA key.
    #[error("the RSA key {0} is a public key only: it can encrypt but not decrypt")]
    PublicKeyOnly(Fingerprint),
    /// The format cannot wrap content keys with this kind of master key.
    #[error("the {format} format cannot wrap content keys with a {kind} master key{}",
        if *.format == Format::Compat { " (the OSS SDK format only has RSA wrapping)" } else { "" })]
    KeyNotSupportedByFormat {
        /// The requested content format.
        format: Format,
        /// The kind of master key given.
        kind: KeyKind,
    },
    /// The sealed format version in the metadata is not one this build reads.
    #[error("unsupported sealed format version {0:?} (this build reads version 1)")]
    UnsupportedVersion(String),
    /// An algorithm or scheme named in the metadata is not supported.
    #[error("unsupported client-side encryption: {0}")]
    Unsupported(String),
    /// The object carries no client-side encryption metadata.
    #[error("the object is not client-side encrypted")]
    NotEncrypted,
    /// A metadata header the format requires is missing.
    #[error("the object's encryption metadata lacks {0}")]
    MissingHeader(&'static str),
    /// A metadata header has a value that does not parse or is out of range.
    #[error("invalid encryption metadata {name}: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The wrapped content key does not open with the master key given.
    #[error("the object's wrapped content key does not open with master key {fingerprint} ({reason}): the wrong key, or the wrapped key was altered")]
    UnwrapFailed {
        /// The fingerprint of the key that was tried.
        fingerprint: Fingerprint,
        /// What the unwrapping step reported.
        reason: String,
    },
    /// The unwrapped content key does not match the key commitment stored with the object.
    #[error("key commitment mismatch: the content key does not match the object's key commitment (the metadata was altered, or the wrapped key swapped for another object's)")]
    KeyCommitment,
    /// A chunk of a sealed object failed authentication.
    #[error("chunk {index} failed authentication: the ciphertext was modified, cut, reordered or taken from another object")]
    TamperedChunk {
        /// The index of the chunk in the object (0-based).
        index: u64,
    },
    /// The ciphertext ends early.
    #[error("truncated ciphertext: {0}")]
    Truncated(String),
    /// Bytes follow the final chunk of a sealed object.
    #[error("unexpected data after the final chunk {index} of the object")]
    TrailingData {
        /// The index of the chunk that was sealed as the final one.
        index: u64,
    },
    /// The decrypted plaintext does not match the length or MD5 recorded in the metadata.
    #[error("the decrypted plaintext's {what} is {actual}, the object's metadata says {expected}: the ciphertext or the key is wrong")]
    PlaintextMismatch {
        /// `length` or `MD5`.
        what: &'static str,
        /// The value from the metadata.
        expected: String,
        /// The value computed from the plaintext.
        actual: String,
    },
    /// A plaintext byte range that cannot be served.
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// A multipart part size or part that breaks the format's alignment rules.
    #[error("invalid multipart part: {0}")]
    InvalidPart(String),
    /// Key material that does not parse.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An encryption option that is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The KMS failed to generate or decrypt a data key.
    #[error("KMS: {0}")]
    Kms(#[from] KeyWrapError),
    /// Reading the ciphertext or writing the output failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// `update` or `finish` was called after the stream finished or failed.
    #[error("the cipher stream was already finished or failed")]
    StreamClosed,
}

impl Error {
    /// Recovers the crate error carried inside an `io::Error` returned by
    /// [`CipherReader`](crate::CipherReader), if it is one.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(io) => io,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

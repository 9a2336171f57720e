//! The one error type of the operations, with a stable [`Error::code`] that front ends can
//! show and map (an OSS error keeps its OSS code and request id).

use ossvault_crypto::Fingerprint;
use std::path::PathBuf;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service or the network failed (an OSS error keeps its code and request id).
    #[error(transparent)]
    Client(#[from] ossvault_client::Error),
    /// The keystore (keychain, key metadata, backups) failed.
    #[error(transparent)]
    Keystore(#[from] ossvault_keystore::Error),
    /// Client-side encryption failed: wrong key, tampering, an unsupported format.
    #[error(transparent)]
    Crypto(#[from] ossvault_crypto::Error),
    /// An encrypted object names a master key that the keystore does not hold.
    #[error("the key with fingerprint {0} is not in the keychain (key import / key restore it)")]
    MissingKey(Fingerprint),
    /// An object written by an OSS SDK (no key fingerprint) that no RSA key opens.
    #[error(
        "no RSA key in the keychain opens this object: it was written by an OSS SDK, which \
         records no key fingerprint{}; import the SDK's RSA private key (key import)",
        .matdesc.as_ref().map(|m| format!(" (matdesc {m})")).unwrap_or_default()
    )]
    NoKeyOpensObject {
        /// The object's material description, which names the SDK's key pair.
        matdesc: Option<String>,
    },
    /// A named profile does not exist.
    #[error("no profile {0:?} (see `ossvault profile ls`)")]
    NoSuchProfile(String),
    /// No endpoint from any source.
    #[error(
        "no endpoint: pass -e/--endpoint, set OSSVAULT_ENDPOINT, or save a profile with \
         `ossvault profile set default --endpoint URL -i ID -k SECRET`"
    )]
    NoEndpoint,
    /// No credentials from any source.
    #[error(
        "no credentials: pass -i/--access-key-id and -k/--access-key-secret, set \
         OSSVAULT_ACCESS_KEY_ID and OSSVAULT_ACCESS_KEY_SECRET, or save them in a profile"
    )]
    NoCredentials,
    /// A downloaded key that would not stay inside its target directory (`..`, an absolute
    /// path, a drive letter, …): refused.
    #[error("{0}")]
    UnsafeKey(String),
    /// The caller's input is not valid (a name, an endpoint, an option).
    #[error("{0}")]
    InvalidInput(String),
    /// The config file cannot be parsed.
    #[error("{path} is not a valid config file: {detail}")]
    ConfigFile { path: PathBuf, detail: String },
    /// A local file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The operation was cancelled through its token.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// A stable code for the kind of failure: the OSS error code for service errors
    /// (`NoSuchKey`, `AccessDenied`, …), else one of this crate's own (`MissingKey`,
    /// `NoCredentials`, `Network`, …). Front ends map these to their messages.
    pub fn code(&self) -> &str {
        match self {
            Error::Client(e) => match e {
                ossvault_client::Error::Service(s) => &s.code,
                ossvault_client::Error::Transport(_) => "Network",
                ossvault_client::Error::Io { .. } => "Io",
                ossvault_client::Error::Crc { .. } => "IntegrityCheckFailed",
                ossvault_client::Error::InvalidResponse(_) => "InvalidResponse",
                ossvault_client::Error::InvalidInput(_) => "InvalidInput",
                ossvault_client::Error::Cancelled => "Cancelled",
            },
            Error::Keystore(e) => match e {
                ossvault_keystore::Error::KeychainUnavailable { .. } => "KeychainUnavailable",
                ossvault_keystore::Error::KeychainLocked { .. } => "KeychainLocked",
                ossvault_keystore::Error::KeyNotFound { .. } => "KeyNotFound",
                ossvault_keystore::Error::KeyExists { .. } => "KeyExists",
                ossvault_keystore::Error::UnknownKind(_) => "InvalidInput",
                ossvault_keystore::Error::DuplicateKey { .. } => "DuplicateKey",
                ossvault_keystore::Error::InvalidName { .. } => "InvalidKeyName",
                ossvault_keystore::Error::InvalidKeyMaterial(_) => "InvalidKeyMaterial",
                ossvault_keystore::Error::NotRsa { .. } => "NotRsa",
                ossvault_keystore::Error::KeyInUse { .. } => "KeyInUse",
                ossvault_keystore::Error::WouldOrphanObjects { .. } => "WouldOrphanObjects",
                ossvault_keystore::Error::WrongPassphrase => "WrongPassphrase",
                ossvault_keystore::Error::EmptyPassphrase => "EmptyPassphrase",
                ossvault_keystore::Error::NotABackup(_) => "NotABackup",
                _ => "Keystore",
            },
            Error::Crypto(e) => match e {
                ossvault_crypto::Error::WrongKey { .. }
                | ossvault_crypto::Error::WrongKeyKind { .. } => "WrongKey",
                ossvault_crypto::Error::KeyCommitment
                | ossvault_crypto::Error::TamperedChunk { .. }
                | ossvault_crypto::Error::Truncated(_)
                | ossvault_crypto::Error::TrailingData { .. } => "Tampered",
                _ => "Encryption",
            },
            Error::MissingKey(_) => "MissingKey",
            Error::NoKeyOpensObject { .. } => "NoKeyOpensObject",
            Error::NoSuchProfile(_) => "NoSuchProfile",
            Error::NoEndpoint => "NoEndpoint",
            Error::NoCredentials => "NoCredentials",
            Error::UnsafeKey(_) => "UnsafeKey",
            Error::InvalidInput(_) => "InvalidInput",
            Error::ConfigFile { .. } => "ConfigFile",
            Error::Io { .. } => "Io",
            Error::Cancelled => "Cancelled",
        }
    }

    /// The OSS request id, when the service answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Client(ossvault_client::Error::Service(s)) if !s.request_id.is_empty() => {
                Some(&s.request_id)
            }
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

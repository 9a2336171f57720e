//! The keystore's error type.
//!
//! No variant ever carries secret bytes: messages name keys, versions, accounts and paths only.

use std::path::PathBuf;

/// How to get a keychain on a machine that has none, shown with [`Error::KeychainUnavailable`]
/// and [`Error::KeychainLocked`].
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
pub const KEYCHAIN_HINT: &str = "ossvault keeps keys in the Secret Service (GNOME Keyring, KWallet, \
KeePassXC). In a desktop session, log in normally so that the keyring is started and unlocked. \
On a headless machine start one for this shell: \
`dbus-run-session -- sh -c 'printf \"\\n\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec $SHELL'` \
(Debian packages: dbus, dbus-user-session, gnome-keyring). \
Or choose the passphrase-encrypted file keystore instead of the OS keychain.";

/// How to get a keychain on a machine that has none, shown with [`Error::KeychainUnavailable`]
/// and [`Error::KeychainLocked`].
#[cfg(target_os = "macos")]
pub const KEYCHAIN_HINT: &str = "ossvault keeps keys in the macOS login keychain: unlock it \
(Keychain Access, or `security unlock-keychain`), or choose the passphrase-encrypted file \
keystore instead of the OS keychain.";

/// How to get a keychain on a machine that has none, shown with [`Error::KeychainUnavailable`]
/// and [`Error::KeychainLocked`].
#[cfg(target_os = "windows")]
pub const KEYCHAIN_HINT: &str = "ossvault keeps keys in the Windows Credential Manager, which \
needs an interactive user profile; or choose the passphrase-encrypted file keystore instead of \
the OS keychain.";

/// Everything that can go wrong in the keystore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No OS keychain answered (on Linux: no session bus, or no Secret Service on it).
    #[error("no OS keychain is reachable ({detail}). {hint}", hint = KEYCHAIN_HINT)]
    KeychainUnavailable {
        /// What the platform said.
        detail: String,
    },
    /// The keychain answered but refused access (locked, or no default collection).
    #[error("the OS keychain is locked or has no default keyring ({detail}). {hint}", hint = KEYCHAIN_HINT)]
    KeychainLocked {
        /// What the platform said.
        detail: String,
    },
    /// Any other keychain failure.
    #[error("OS keychain error on '{account}': {detail}")]
    Keychain {
        /// The keychain account the operation concerned.
        account: String,
        /// What the platform said.
        detail: String,
    },
    /// The keychain build has no real backend (keyring compiled without a platform feature).
    #[error("the OS keychain backend is an in-memory mock: refusing to keep keys in it")]
    MockKeychain,
    /// The metadata names a secret the keychain does not have.
    #[error("the secret of {key} is missing from the keychain (account '{account}'); restore it from a backup")]
    SecretMissing {
        /// `name@vN`.
        key: String,
        /// The keychain account looked up.
        account: String,
    },
    /// The secret found does not match the fingerprint recorded in the metadata.
    #[error("the secret of {key} does not match its recorded fingerprint {expected}")]
    SecretMismatch {
        /// `name@vN`.
        key: String,
        /// The fingerprint in the metadata.
        expected: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata file is not valid.
    #[error("{path}: invalid key metadata: {detail}")]
    MetadataCorrupt {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A key or profile name that the keystore does not accept.
    #[error("invalid name '{name}': {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A key reference that is neither `name` nor `name@vN`.
    #[error("invalid key reference '{0}': expected NAME or NAME@vN")]
    InvalidKeyRef(String),
    /// A key kind that is not one of AES-256, RSA-2048, RSA-3072, RSA-4096.
    #[error("unknown key kind '{0}': expected aes-256, rsa-2048, rsa-3072 or rsa-4096")]
    UnknownKind(String),
    /// A key of that name already exists.
    #[error("a key named '{name}' already exists")]
    KeyExists {
        /// The name taken.
        name: String,
    },
    /// No key of that name.
    #[error("no key named '{name}'")]
    KeyNotFound {
        /// The name asked for.
        name: String,
    },
    /// The key exists but not that version.
    #[error("key '{name}' has no version v{version}")]
    VersionNotFound {
        /// The key.
        name: String,
        /// The version asked for.
        version: u32,
    },
    /// The same key material is already stored under another name.
    #[error("this key is already in the keystore as {existing}")]
    DuplicateKey {
        /// `name@vN` of the copy already stored.
        existing: String,
    },
    /// Import input that is not a supported key encoding.
    #[error("cannot import key: {0}")]
    InvalidKeyMaterial(String),
    /// An RSA key of a size other than 2048, 3072 or 4096 bits.
    #[error("unsupported RSA key size {bits} bits: expected 2048, 3072 or 4096")]
    UnsupportedRsaSize {
        /// The modulus size found.
        bits: usize,
    },
    /// The operation needs an RSA key.
    #[error("key '{name}' is {kind}, not an RSA key: it has no public key")]
    NotRsa {
        /// The key.
        name: String,
        /// Its kind.
        kind: crate::KeyKind,
    },
    /// Deletion refused: a sync folder uses the key.
    #[error(
        "key '{name}' is used by a sync folder: unbind it from the folder before deleting the key"
    )]
    KeyInUse {
        /// The key.
        name: String,
    },
    /// Deletion refused without force: objects would become unreadable.
    #[error(
        "key '{name}' is the only key that can open {count} object(s): deleting it makes them \
         unreadable for good. Export a backup first, or force the deletion (--force)"
    )]
    WouldOrphanObjects {
        /// The key.
        name: String,
        /// Objects that only this key opens.
        count: u64,
    },
    /// The passphrase does not open the backup or the file keystore.
    #[error("wrong passphrase (or the data was altered)")]
    WrongPassphrase,
    /// An empty passphrase was given where one is required.
    #[error("a passphrase is required and must not be empty")]
    EmptyPassphrase,
    /// The bytes are not an ossvault key backup.
    #[error("not an ossvault key backup: {0}")]
    NotABackup(String),
    /// The file keystore cannot be read.
    #[error("{path}: invalid file keystore: {detail}")]
    FileKeystoreCorrupt {
        /// The file keystore.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// No credential stored for that connection profile.
    #[error("no credential stored for profile '{profile}'")]
    CredentialNotFound {
        /// The profile.
        profile: String,
    },
    /// A cryptographic operation failed (key generation, encoding).
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

/// The keystore's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

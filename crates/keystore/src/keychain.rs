//! Where secrets live: the OS keychain through `keyring`, behind a small trait that the
//! passphrase file keystore implements too.

use keyring::credential::{CredentialBuilder, CredentialPersistence};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A place that keeps secrets by account name.
pub(crate) trait SecretStore: Send + Sync {
    /// The secret of `account`, or `None` if there is none.
    fn get(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// Creates or replaces the secret of `account`.
    fn set(&self, account: &str, secret: &[u8]) -> Result<()>;
    /// Deletes the secret of `account`; `false` if there was none.
    fn delete(&self, account: &str) -> Result<bool>;
    /// Fails with a clear error if the store cannot be used (e.g. no keychain reachable).
    fn probe(&self) -> Result<()>;
}

/// The platform's keychain builder, named explicitly per platform: `keyring::default` would
/// silently be the in-memory mock on a build that lacks the platform feature.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn platform_builder() -> Box<CredentialBuilder> {
    keyring::secret_service::default_credential_builder()
}

#[cfg(target_os = "macos")]
fn platform_builder() -> Box<CredentialBuilder> {
    keyring::macos::default_credential_builder()
}

#[cfg(target_os = "windows")]
fn platform_builder() -> Box<CredentialBuilder> {
    keyring::windows::default_credential_builder()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
compile_error!(
    "ossvault-keystore has no OS keychain for this target; use the passphrase file keystore \
     and add a keychain backend here before enabling the target"
);

/// The OS keychain: Secret Service on Linux and the BSDs, Keychain on macOS, Credential Manager
/// on Windows. Every secret is an item with service `service` and user `account`.
pub(crate) struct KeychainStore {
    service: String,
    builder: Box<CredentialBuilder>,
}

impl KeychainStore {
    pub(crate) fn new(service: &str) -> Result<Self> {
        let builder = platform_builder();
        // Belt and braces: the mock store keeps entries only as long as the Entry object.
        if matches!(builder.persistence(), CredentialPersistence::EntryOnly) {
            return Err(Error::MockKeychain);
        }
        Ok(KeychainStore {
            service: service.to_owned(),
            builder,
        })
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry> {
        let credential = self
            .builder
            .build(None, &self.service, account)
            .map_err(|e| map_error(account, e))?;
        Ok(keyring::Entry::new_with_credential(credential))
    }
}

/// Maps keyring errors. Never formats `BadEncoding`, whose payload is the secret itself.
fn map_error(account: &str, err: keyring::Error) -> Error {
    match err {
        keyring::Error::PlatformFailure(e) => Error::KeychainUnavailable {
            detail: e.to_string(),
        },
        keyring::Error::NoStorageAccess(e) => Error::KeychainLocked {
            detail: e.to_string(),
        },
        keyring::Error::BadEncoding(_) => Error::Keychain {
            account: account.into(),
            detail: "the stored secret is not valid UTF-8".into(),
        },
        other => Error::Keychain {
            account: account.into(),
            detail: other.to_string(),
        },
    }
}

impl SecretStore for KeychainStore {
    fn get(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match self.entry(account)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(account, e)),
        }
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
        self.entry(account)?
            .set_secret(secret)
            .map_err(|e| map_error(account, e))
    }

    fn delete(&self, account: &str) -> Result<bool> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_error(account, e)),
        }
    }

    /// Writes, reads back and deletes a throw-away item: a search alone succeeds on a locked
    /// keyring, only a write shows that secrets can really be stored.
    /// Each probe has an item of its own: two keystores opening at once (the app's start and a
    /// command, or the app and the CLI) must not delete each other's item before it is read.
    fn probe(&self) -> Result<()> {
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let account = format!("probe-{}-{n}", std::process::id());
        const VALUE: &[u8] = b"ossvault keychain probe (not a secret)";
        self.set(&account, VALUE)?;
        let read = self.get(&account)?;
        self.delete(&account)?;
        if read.as_deref().map(Vec::as_slice) != Some(VALUE) {
            return Err(Error::Keychain {
                account,
                detail: "an item written to the keychain could not be read back".into(),
            });
        }
        Ok(())
    }
}

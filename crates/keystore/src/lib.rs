//! Master keys and connection credentials for ossvault.
//!
//! Secrets live in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows) through `keyring`, or, when the user explicitly chooses it, in one
//! passphrase-encrypted file ([`Backend::PassphraseFile`]). Only metadata (name, kind,
//! fingerprint, creation time, default flag, RSA public key, versions) lives in the config dir,
//! in `keys.json`.
//!
//! Keychain items have service [`SERVICE`] and account `key/<name>/v<N>` for version N of a
//! master key, `profile/<name>` for a connection credential.
//!
//! A key has versions: [`Keystore::rotate`] adds one and makes it current; new encryptions use
//! the current version and older ones are kept to decrypt. Objects record the fingerprint of the
//! version that wrapped them; [`Keystore::by_fingerprint`] finds it again, whatever the key has
//! been renamed to since.
//!
//! Secrets leave the keystore only as [`KeyMaterial`] and [`CredentialSecret`], both zeroized on
//! drop with redacted `Debug`; this crate logs nothing. Every change takes an exclusive lock on
//! the config dir and writes the metadata atomically (mode 0600, config dir 0700).

#![warn(missing_docs)]

mod backup;
mod error;
mod filestore;
mod fsutil;
mod keychain;
mod material;
mod metadata;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use zeroize::Zeroizing;

pub use error::{Error, Result, KEYCHAIN_HINT};
pub use fsutil::disable_core_dumps;
pub use material::{
    aes256_fingerprint, rsa_fingerprint, rsa_public_pem, CredentialSecret, KeyKind, KeyMaterial,
};
pub use metadata::{validate_name, ExportRecord, KeyInfo, KeyRef, KeyVersionInfo, METADATA_FILE};

use filestore::{FileStore, KdfParams};
use fsutil::DirLock;
use keychain::{KeychainStore, SecretStore};
use material::Secret;
use metadata::Metadata;

/// The keychain service under which every ossvault secret is stored.
pub const SERVICE: &str = "ossvault";

/// Where the secrets are kept.
pub enum Backend {
    /// The OS keychain, service [`SERVICE`].
    SystemKeychain,
    /// The OS keychain under another service name, to keep separate sets of keys apart (tests,
    /// or a second app profile). Metadata still comes from the config dir given to `open`.
    SystemKeychainService(String),
    /// All secrets in one file encrypted with AES-256-GCM under an Argon2id key derived from
    /// `passphrase`; created if missing. For machines without a keychain, and only when the
    /// user chooses it.
    PassphraseFile {
        /// The encrypted file.
        path: PathBuf,
        /// The passphrase that opens it (must not be empty).
        passphrase: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::SystemKeychain => f.write_str("SystemKeychain"),
            Backend::SystemKeychainService(s) => write!(f, "SystemKeychainService({s:?})"),
            Backend::PassphraseFile { path, .. } => f
                .debug_struct("PassphraseFile")
                .field("path", path)
                .field("passphrase", &"<redacted>")
                .finish(),
        }
    }
}

/// What the caller knows about a key's use, for [`Keystore::delete`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteCheck {
    /// A sync folder is bound to the key: deletion is refused, even with force.
    pub in_use_by_sync: bool,
    /// Objects that no other key in the keystore can open: deletion needs force if non-zero.
    pub objects_only_it_opens: u64,
}

/// The keystore: key metadata in a config dir, secrets in a [`Backend`].
pub struct Keystore {
    config_dir: PathBuf,
    store: Box<dyn SecretStore>,
    /// Overrides age's scrypt calibration for backups (tests only).
    backup_work_factor: Option<u8>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

fn key_account(name: &str, version: u32) -> String {
    format!("key/{name}/v{version}")
}

fn profile_account(profile: &str) -> String {
    format!("profile/{profile}")
}

fn now() -> OffsetDateTime {
    // Whole seconds: what RFC 3339 in the metadata shows is what comes back.
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

impl Keystore {
    /// Opens the keystore whose metadata is in `config_dir` (created 0700 if needed).
    ///
    /// With a keychain backend, checks right away that the keychain can store a secret: where
    /// none is reachable the error ([`Error::KeychainUnavailable`], [`Error::KeychainLocked`])
    /// says how to start one or to choose the passphrase file keystore instead.
    pub fn open(config_dir: impl AsRef<Path>, backend: Backend) -> Result<Self> {
        let store: Box<dyn SecretStore> = match backend {
            Backend::SystemKeychain => Box::new(KeychainStore::new(SERVICE)?),
            Backend::SystemKeychainService(service) => {
                if service.is_empty() {
                    return Err(Error::InvalidName {
                        name: service,
                        reason: "empty keychain service",
                    });
                }
                Box::new(KeychainStore::new(&service)?)
            }
            Backend::PassphraseFile { path, passphrase } => {
                Box::new(FileStore::open(&path, passphrase, KdfParams::DEFAULT)?)
            }
        };
        Self::with_store(config_dir.as_ref(), store)
    }

    fn with_store(config_dir: &Path, store: Box<dyn SecretStore>) -> Result<Self> {
        fsutil::ensure_private_dir(config_dir)?;
        store.probe()?;
        let keystore = Keystore {
            config_dir: config_dir.to_owned(),
            store,
            backup_work_factor: None,
        };
        // Fail on unreadable metadata now rather than at the first operation.
        Metadata::load(&keystore.config_dir)?;
        Ok(keystore)
    }

    /// The config dir holding the metadata.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Runs `change` on the metadata under the config dir's lock; saves if it succeeds.
    fn change<T>(&self, change: impl FnOnce(&mut Metadata) -> Result<T>) -> Result<T> {
        let _lock = DirLock::acquire(&self.config_dir)?;
        let mut meta = Metadata::load(&self.config_dir)?;
        let out = change(&mut meta)?;
        meta.save(&self.config_dir)?;
        Ok(out)
    }

    /// Every key, sorted by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let mut keys = Metadata::load(&self.config_dir)?.keys;
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    /// One key's metadata.
    pub fn get(&self, name: &str) -> Result<KeyInfo> {
        Metadata::load(&self.config_dir)?.get(name).cloned()
    }

    /// The default key, if one is set.
    pub fn default_key(&self) -> Result<Option<KeyInfo>> {
        Ok(Metadata::load(&self.config_dir)?
            .keys
            .into_iter()
            .find(|k| k.default))
    }

    /// Generates a new key of `kind` from the OS RNG and stores it as `name@v1`.
    ///
    /// The first key of a keystore without a default becomes the default. RSA-4096 generation
    /// takes seconds.
    pub fn generate(&self, name: &str, kind: KeyKind) -> Result<KeyInfo> {
        validate_name(name)?;
        // Check before the (slow) generation; checked again under the lock.
        if Metadata::load(&self.config_dir)?.contains(name) {
            return Err(Error::KeyExists { name: name.into() });
        }
        let secret = Secret::generate(kind)?;
        self.add_key(name, vec![(1, now(), secret)], None)
    }

    /// Imports a key as `name@v1`: an RSA private key PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
    /// `PRIVATE KEY`, 2048/3072/4096 bits), or an AES-256 key as 64 hex digits or base64 of its
    /// 32 bytes. Refused if the same key is already stored under any name.
    pub fn import(&self, name: &str, input: &[u8]) -> Result<KeyInfo> {
        validate_name(name)?;
        let secret = Secret::parse_import(input)?;
        self.add_key(name, vec![(1, now(), secret)], None)
    }

    /// Stores the versions' secrets, then records the key. Secrets first: a crash in between
    /// leaves an unreferenced keychain item, never metadata without its secret.
    fn add_key(
        &self,
        name: &str,
        versions: Vec<(u32, OffsetDateTime, Secret)>,
        template: Option<&KeyInfo>,
    ) -> Result<KeyInfo> {
        let kind = versions[0].2.kind();
        let mut records = Vec::with_capacity(versions.len());
        for (version, created, secret) in &versions {
            if secret.kind() != kind {
                return Err(Error::Crypto(format!(
                    "v{version} is {}, v1 is {kind}",
                    secret.kind()
                )));
            }
            records.push(KeyVersionInfo {
                version: *version,
                fingerprint: secret.fingerprint()?,
                created: *created,
                public_key_pem: secret.public_key_pem()?,
            });
        }
        self.change(|meta| {
            if meta.contains(name) {
                return Err(Error::KeyExists { name: name.into() });
            }
            for record in &records {
                if let Some((other, v)) = meta.find_fingerprint(&record.fingerprint) {
                    return Err(Error::DuplicateKey {
                        existing: format!("{other}@v{v}"),
                    });
                }
            }
            for (version, _, secret) in &versions {
                self.store
                    .set(&key_account(name, *version), &secret.to_stored()?)?;
            }
            let current_version = template.map_or(records.len() as u32, |t| t.current_version);
            let mut info = KeyInfo {
                name: name.to_owned(),
                kind,
                fingerprint: String::new(),
                created: template.map_or(records[0].created, |t| t.created),
                default: !meta.has_default(),
                public_key_pem: None,
                current_version,
                versions: records,
                // Restored from a backup: that backup holds every version.
                last_export: template.map(|_| ExportRecord {
                    at: now(),
                    version: current_version,
                }),
            };
            info.refresh_current();
            meta.keys.push(info.clone());
            Ok(info)
        })
    }

    /// The secret of `name@v<version>` (`None`: the current version), checked against its
    /// recorded fingerprint. The only way a master key's secret leaves the keystore.
    pub fn secret(&self, name: &str, version: Option<u32>) -> Result<KeyMaterial> {
        let meta = Metadata::load(&self.config_dir)?;
        let info = meta.get(name)?;
        let version = version.unwrap_or(info.current_version);
        let record = info
            .version(version)
            .ok_or_else(|| Error::VersionNotFound {
                name: name.into(),
                version,
            })?;
        self.load_secret(info, record)
    }

    /// The secret of the version a [`KeyRef`] names.
    pub fn secret_by_ref(&self, key: &KeyRef) -> Result<KeyMaterial> {
        self.secret(&key.name, key.version)
    }

    fn load_secret(&self, info: &KeyInfo, record: &KeyVersionInfo) -> Result<KeyMaterial> {
        let key = format!("{}@v{}", info.name, record.version);
        let account = key_account(&info.name, record.version);
        let stored = self
            .store
            .get(&account)?
            .ok_or_else(|| Error::SecretMissing {
                key: key.clone(),
                account,
            })?;
        let secret = Secret::from_stored(info.kind, &stored)?;
        let fingerprint = secret.fingerprint()?;
        if fingerprint != record.fingerprint {
            return Err(Error::SecretMismatch {
                key,
                expected: record.fingerprint.clone(),
            });
        }
        Ok(KeyMaterial {
            name: info.name.clone(),
            version: record.version,
            fingerprint,
            secret,
        })
    }

    /// `(name, version)` of the key version with this fingerprint (hex, any case), to find the
    /// key that decrypts an object.
    pub fn by_fingerprint(&self, fingerprint: &str) -> Result<Option<(String, u32)>> {
        Ok(Metadata::load(&self.config_dir)?.find_fingerprint(fingerprint.trim()))
    }

    /// The SubjectPublicKeyInfo PEM of an RSA key's current version.
    pub fn public_key_pem(&self, name: &str) -> Result<String> {
        let info = self.get(name)?;
        info.public_key_pem.clone().ok_or(Error::NotRsa {
            name: info.name,
            kind: info.kind,
        })
    }

    /// Adds a version of the same kind from the OS RNG and makes it current. Older versions are
    /// kept (to decrypt what they wrapped). Returns the updated metadata.
    pub fn rotate(&self, name: &str) -> Result<KeyInfo> {
        let kind = self.get(name)?.kind;
        let secret = Secret::generate(kind)?;
        let record = KeyVersionInfo {
            version: 0,
            fingerprint: secret.fingerprint()?,
            created: now(),
            public_key_pem: secret.public_key_pem()?,
        };
        self.change(|meta| {
            let info = meta.get_mut(name)?;
            if info.kind != kind {
                return Err(Error::Crypto(format!(
                    "key '{name}' changed kind during rotation"
                )));
            }
            let version = info.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
            self.store
                .set(&key_account(name, version), &secret.to_stored()?)?;
            info.versions.push(KeyVersionInfo { version, ..record });
            info.current_version = version;
            info.refresh_current();
            Ok(info.clone())
        })
    }

    /// Renames a key. The default mark, versions, fingerprints, backup record and every other
    /// metadata field follow it; objects find their key by fingerprint, so every object stays
    /// readable. Refused if `new` is not a valid name ([`Error::InvalidName`]) or is taken
    /// ([`Error::KeyExists`], also when `new == old`), or if `old` does not exist
    /// ([`Error::KeyNotFound`]).
    ///
    /// The order keeps at least one complete copy findable whatever point a crash stops it at:
    /// 1. every version's secret is copied to its new account and read back (a copy that does
    ///    not read back as written fails the rename; the old accounts are untouched);
    /// 2. the metadata is replaced atomically: before, it names the old accounts (complete);
    ///    after, the new ones (complete, checked in step 1);
    /// 3. the old accounts are deleted. A failure here does not undo the rename: the items
    ///    left are copies of secrets this keychain holds anyway, under accounts no metadata
    ///    names, and a later key of the old name overwrites them.
    ///
    /// Interrupted before step 2, the key keeps its old name (the new accounts are overwritten
    /// by the next rename or generation under that name).
    pub fn rename(&self, old: &str, new: &str) -> Result<KeyInfo> {
        validate_name(new)?;
        let mut moved = Vec::new();
        let info = self.change(|meta| {
            meta.get(old)?;
            if meta.contains(new) {
                return Err(Error::KeyExists { name: new.into() });
            }
            let info = meta.get_mut(old)?;
            for v in &info.versions {
                let from = key_account(old, v.version);
                let secret = self.store.get(&from)?.ok_or_else(|| Error::SecretMissing {
                    key: format!("{old}@v{}", v.version),
                    account: from.clone(),
                })?;
                let to = key_account(new, v.version);
                self.store.set(&to, &secret)?;
                if self.store.get(&to)?.as_deref() != Some(&*secret) {
                    return Err(Error::Keychain {
                        account: to,
                        detail: "the copy of the secret written for the rename does not read \
                                 back as written; the key keeps its old name"
                            .into(),
                    });
                }
                moved.push(from);
            }
            info.name = new.to_owned();
            Ok(info.clone())
        })?;
        for account in moved {
            // See step 3 above: the rename is done whether or not this succeeds.
            let _ = self.store.delete(&account);
        }
        Ok(info)
    }

    /// Makes `name` the default key (and no other).
    pub fn set_default(&self, name: &str) -> Result<KeyInfo> {
        self.change(|meta| {
            meta.get(name)?;
            for key in &mut meta.keys {
                key.default = key.name == name;
            }
            meta.get(name).cloned()
        })
    }

    /// Deletes a key and every version's secret.
    ///
    /// Refused while a sync folder uses it ([`Error::KeyInUse`], force or not), and, unless
    /// `force`, while some objects can be opened by this key only
    /// ([`Error::WouldOrphanObjects`], with their count).
    pub fn delete(&self, name: &str, check: DeleteCheck, force: bool) -> Result<()> {
        let info = self.get(name)?;
        if check.in_use_by_sync {
            return Err(Error::KeyInUse { name: name.into() });
        }
        if check.objects_only_it_opens > 0 && !force {
            return Err(Error::WouldOrphanObjects {
                name: name.into(),
                count: check.objects_only_it_opens,
            });
        }
        self.change(|meta| {
            // Secrets first: if interrupted, the key is still listed and deleting again finishes.
            for v in &info.versions {
                self.store.delete(&key_account(name, v.version))?;
            }
            meta.keys.retain(|k| k.name != name);
            Ok(())
        })
    }

    /// Writes an encrypted backup of a key: an age file (scrypt passphrase recipient) holding
    /// the metadata and every version's secret. Nothing is written to disk here; the caller
    /// saves the returned bytes where the user asked.
    pub fn export_backup(&self, name: &str, passphrase: &str) -> Result<Vec<u8>> {
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let meta = Metadata::load(&self.config_dir)?;
        let info = meta.get(name)?;
        let mut secrets = Vec::with_capacity(info.versions.len());
        for record in &info.versions {
            let material = self.load_secret(info, record)?;
            secrets.push((record.version, material.secret.to_stored()?));
        }
        let mut exported = info.clone();
        exported.default = false;
        backup::seal(&exported, &secrets, passphrase, self.backup_work_factor)
    }

    /// Records that a backup of key `name` was just written (by whoever wrote the bytes of
    /// [`Keystore::export_backup`] to a file): the key shows as backed up until its next rotation.
    pub fn record_export(&self, name: &str) -> Result<KeyInfo> {
        self.change(|meta| {
            let info = meta.get_mut(name)?;
            info.last_export = Some(ExportRecord {
                at: now(),
                version: info.current_version,
            });
            Ok(info.clone())
        })
    }

    /// Restores a key from [`Keystore::export_backup`] under the name it had.
    pub fn restore_backup(&self, backup: &[u8], passphrase: &str) -> Result<KeyInfo> {
        self.restore_backup_as(backup, passphrase, None)
    }

    /// Restores a key from a backup, under `name` if given. A wrong passphrase is
    /// [`Error::WrongPassphrase`]; every version's secret is checked against its fingerprint.
    pub fn restore_backup_as(
        &self,
        backup: &[u8],
        passphrase: &str,
        name: Option<&str>,
    ) -> Result<KeyInfo> {
        let (info, secrets) = backup::open(backup, passphrase)?;
        let name = name.unwrap_or(&info.name);
        validate_name(name)?;
        let mut versions = Vec::with_capacity(info.versions.len());
        for record in &info.versions {
            let stored = secrets
                .iter()
                .find(|(v, _)| *v == record.version)
                .map(|(_, s)| s)
                .ok_or_else(|| {
                    Error::NotABackup(format!("no secret for v{} in the backup", record.version))
                })?;
            let secret = Secret::from_stored(info.kind, stored)
                .map_err(|e| Error::NotABackup(format!("v{}: {e}", record.version)))?;
            if secret.fingerprint()? != record.fingerprint {
                return Err(Error::NotABackup(format!(
                    "v{}: secret does not match its fingerprint",
                    record.version
                )));
            }
            versions.push((record.version, record.created, secret));
        }
        if versions.is_empty() || info.version(info.current_version).is_none() {
            return Err(Error::NotABackup("no current version".into()));
        }
        self.add_key(name, versions, Some(&info))
    }

    /// Stores the secret of connection profile `profile` (e.g. its AccessKey secret),
    /// replacing any previous one.
    pub fn set_credential(&self, profile: &str, secret: &str) -> Result<()> {
        validate_name(profile)?;
        let _lock = DirLock::acquire(&self.config_dir)?;
        self.store.set(&profile_account(profile), secret.as_bytes())
    }

    /// The secret of connection profile `profile`.
    pub fn credential(&self, profile: &str) -> Result<CredentialSecret> {
        validate_name(profile)?;
        let bytes = self.store.get(&profile_account(profile))?.ok_or_else(|| {
            Error::CredentialNotFound {
                profile: profile.into(),
            }
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Keychain {
            account: profile_account(profile),
            detail: "the stored credential is not UTF-8".into(),
        })?;
        Ok(CredentialSecret::new(Zeroizing::new(text.to_owned())))
    }

    /// Deletes the secret of connection profile `profile`; `false` if there was none.
    pub fn delete_credential(&self, profile: &str) -> Result<bool> {
        validate_name(profile)?;
        let _lock = DirLock::acquire(&self.config_dir)?;
        self.store.delete(&profile_account(profile))
    }
}

#[cfg(test)]
mod tests;

//! Master keys for client-side encryption: from the keystore (checked against their
//! fingerprints), or a CMK of the endpoint's KMS; and the lookup of the key that opens an
//! encrypted object.

use crate::error::{Error, Result};
use ossvault_client::Client;
use ossvault_crypto::{Envelope, KeyWrap, KeyWrapError, KeyWrapFuture, MasterKey, ObjectHeaders};
use ossvault_keystore::{Backend, KeyMaterial, Keystore};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Opens the keystore whose metadata is in [`crate::profiles::config_dir`], secrets in
/// `backend` (the system keychain, or a passphrase file on machines without one).
pub fn open_keystore(backend: Backend) -> Result<Keystore> {
    let _ = ossvault_keystore::disable_core_dumps();
    Ok(Keystore::open(crate::profiles::config_dir()?, backend)?)
}

/// A master key as the app's key list shows it (no secret: fingerprints and the public key
/// only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySummary {
    pub name: String,
    /// `AES-256`, `RSA-2048`, …
    pub kind: String,
    /// Fingerprint of the current version (lowercase hex).
    pub fingerprint: String,
    /// RFC 3339.
    pub created: String,
    pub default: bool,
    pub current_version: u32,
    /// How many versions are kept.
    pub versions: usize,
    /// Whether [`Keystore::public_key_pem`] has a public key to show (RSA keys).
    pub has_public_key: bool,
    /// Whether an encrypted backup holds every version (exported since the last rotation).
    pub backed_up: bool,
    /// When the key was last exported (RFC 3339), if ever.
    pub last_export: Option<String>,
}

impl From<&ossvault_keystore::KeyInfo> for KeySummary {
    fn from(k: &ossvault_keystore::KeyInfo) -> Self {
        KeySummary {
            name: k.name.clone(),
            kind: k.kind.to_string(),
            fingerprint: k.fingerprint.clone(),
            created: k
                .created
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            default: k.default,
            current_version: k.current_version,
            versions: k.versions.len(),
            has_public_key: k.public_key_pem.is_some(),
            backed_up: k.backed_up(),
            last_export: k.last_export.and_then(|e| {
                e.at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
        }
    }
}

/// Every key of the keystore, as [`KeySummary`]s in the keystore's order.
pub fn key_summaries(keystore: &Keystore) -> Result<Vec<KeySummary>> {
    Ok(keystore.list()?.iter().map(KeySummary::from).collect())
}

/// Imports a key from a file (PEM, hex or base64, as [`Keystore::import`] takes); the file's
/// content is wiped from memory afterwards.
pub fn import_key_file(
    keystore: &Keystore,
    name: &str,
    path: &std::path::Path,
) -> Result<KeySummary> {
    let input = Zeroizing::new(std::fs::read(path).map_err(Error::io(path))?);
    Ok(KeySummary::from(&keystore.import(name, &input)?))
}

/// Writes an encrypted backup of key `name` (an age file, passphrase-protected) to `path`,
/// readable by its owner only where the platform has such permissions, and records the export
/// in the keystore (the key then shows as backed up).
pub fn export_backup_file(
    keystore: &Keystore,
    name: &str,
    passphrase: &str,
    path: &std::path::Path,
) -> Result<()> {
    let sealed = keystore.export_backup(name, passphrase)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(Error::io(path))?;
    std::io::Write::write_all(&mut file, &sealed).map_err(Error::io(path))?;
    file.sync_all().map_err(Error::io(path))?;
    keystore.record_export(name)?;
    Ok(())
}

/// Restores a key from a backup file, under `name` if given (else the name it had).
pub fn restore_backup_file(
    keystore: &Keystore,
    path: &std::path::Path,
    passphrase: &str,
    name: Option<&str>,
) -> Result<KeySummary> {
    let sealed = std::fs::read(path).map_err(Error::io(path))?;
    Ok(KeySummary::from(
        &keystore.restore_backup_as(&sealed, passphrase, name)?,
    ))
}

/// Renames key `old` to `new` ([`Keystore::rename`]: every version's secret moves, the
/// fingerprints stay, so every object stays readable) and takes along what ops keeps under the
/// key's name: the marker of an interrupted rewrap. Sync pairs name their key too:
/// `ossvault_sync::PairStore::rename_key` calls this and rebinds them (the sync crate builds on
/// this one).
pub fn rename(keystore: &Keystore, old: &str, new: &str) -> Result<ossvault_keystore::KeyInfo> {
    let info = keystore.rename(old, new)?;
    crate::rewrap::rename_marker(keystore, old, new);
    Ok(info)
}

/// Deletes key `name` once its name was typed to confirm (`typed`), unless a sync folder is
/// bound to it (`in_use_by_sync`: then `KeyInUse`, whatever the confirmation). Which objects
/// only this key opens is not known here (as in the CLI): the confirmation is the user's
/// consent that they become unreadable.
pub fn delete_confirmed(
    keystore: &Keystore,
    name: &str,
    typed: &str,
    in_use_by_sync: bool,
) -> Result<()> {
    if typed != name {
        return Err(Error::InvalidInput(format!(
            "deleting key {name:?} needs its name typed to confirm"
        )));
    }
    let check = ossvault_keystore::DeleteCheck {
        in_use_by_sync,
        ..Default::default()
    };
    Ok(keystore.delete(name, check, true)?)
}

/// The crypto crate's master key for a keystore key version (checked against its fingerprint).
pub fn master_from_material(m: &KeyMaterial) -> Result<MasterKey> {
    let key = if let Some(secret) = m.aes256() {
        MasterKey::aes256(Zeroizing::new(*secret))
    } else if let Some(private) = m.rsa_private() {
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(private, rsa::pkcs8::LineEnding::LF)
            .map_err(|e| {
            Error::InvalidInput(format!("cannot encode the RSA key {}: {e}", m.name()))
        })?;
        MasterKey::rsa_private_from_pem(&pem)?
    } else {
        return Err(Error::InvalidInput(format!(
            "key {} has no usable secret",
            m.name()
        )));
    };
    if key.fingerprint().to_hex() != m.fingerprint() {
        return Err(Error::InvalidInput(format!(
            "key {}@v{}: the keystore's fingerprint {} is not the key's {}",
            m.name(),
            m.version(),
            m.fingerprint(),
            key.fingerprint()
        )));
    }
    Ok(key)
}

/// A KMS CMK of the endpoint's KMS (the embedded server's), as the crypto crate's key wrap.
pub struct KmsKey {
    client: Client,
    key_id: String,
}

impl KeyWrap for KmsKey {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn generate_data_key(&self) -> KeyWrapFuture<'_, ossvault_crypto::GeneratedDataKey> {
        Box::pin(async move {
            let dk = self
                .client
                .generate_data_key(Some(&self.key_id), Some(32), None)
                .await
                .map_err(|e| KeyWrapError::new(e.to_string()))?;
            Ok(ossvault_crypto::GeneratedDataKey {
                plaintext: dk.plaintext,
                ciphertext_blob: dk.ciphertext_blob,
            })
        })
    }

    fn decrypt<'a>(&'a self, ciphertext_blob: &'a str) -> KeyWrapFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(async move {
            let d = self
                .client
                .decrypt(ciphertext_blob, None)
                .await
                .map_err(|e| KeyWrapError::new(e.to_string()))?;
            Ok(d.plaintext)
        })
    }
}

/// A KMS master key named exactly `key_id` (as recorded in an object's metadata).
pub fn kms_master(client: &Client, key_id: &str) -> MasterKey {
    MasterKey::kms(Arc::new(KmsKey {
        client: client.clone(),
        key_id: key_id.to_owned(),
    }))
}

/// The master key that a key spec names: `kms:CMK_ID` (resolved to the CMK's canonical id,
/// which is what objects record), or the name of a keystore key (its current version).
pub async fn encryption_key(
    client: &Client,
    spec: &str,
    keystore: impl FnOnce() -> Result<Keystore>,
) -> Result<MasterKey> {
    if let Some(id) = spec.strip_prefix("kms:") {
        if id.is_empty() {
            return Err(Error::InvalidInput(
                "kms: needs a CMK id (kms:CMK_ID)".into(),
            ));
        }
        let meta = client.describe_key(id).await?;
        return Ok(kms_master(client, &meta.key_id));
    }
    master_from_material(&keystore()?.secret(spec, None)?)
}

/// The opened envelope of an encrypted object, and which key opened it.
pub struct Opened {
    pub envelope: Envelope,
    /// `name@vN`, or `kms:ID`.
    pub key_label: String,
}

/// Finds the key that opens an encrypted object and opens it: the KMS CMK it names, the
/// keystore key with its fingerprint (whatever that key is called now), or for OSS SDK
/// objects, which name none, each RSA key version in turn. `keystore` is opened only when
/// needed.
pub async fn open_object(
    client: &Client,
    headers: &ObjectHeaders,
    keystore: impl FnOnce() -> Result<Keystore>,
) -> Result<Opened> {
    if let Some(id) = headers.kms_key_id() {
        let key = kms_master(client, id);
        let envelope = headers.open(&key).await?;
        return Ok(Opened {
            envelope,
            key_label: format!("kms:{id}"),
        });
    }
    let store = keystore()?;
    if let Some(fp) = headers.key_fingerprint() {
        let Some((name, version)) = store.by_fingerprint(&fp.to_hex())? else {
            return Err(Error::MissingKey(fp));
        };
        let key = master_from_material(&store.secret(&name, Some(version))?)?;
        let envelope = headers.open(&key).await?;
        return Ok(Opened {
            envelope,
            key_label: format!("{name}@v{version}"),
        });
    }
    // An OSS SDK object: no fingerprint; try each RSA key version.
    for info in store.list()? {
        if !info.kind.is_rsa() {
            continue;
        }
        for v in &info.versions {
            let key = master_from_material(&store.secret(&info.name, Some(v.version))?)?;
            if let Ok(envelope) = headers.open(&key).await {
                return Ok(Opened {
                    envelope,
                    key_label: format!("{}@v{}", info.name, v.version),
                });
            }
        }
    }
    Err(Error::NoKeyOpensObject {
        matdesc: headers.matdesc().map(|m| m.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrap::{start_rotation, RewrapTarget};

    #[test]
    fn a_rename_takes_an_interrupted_rewrap_along() {
        let dir = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(
            dir.path().join("config"),
            Backend::PassphraseFile {
                path: dir.path().join("keys.ossvault"),
                passphrase: Zeroizing::new("pw".into()),
            },
        )
        .unwrap();
        let made = keystore
            .generate("docs", ossvault_keystore::KeyKind::Aes256)
            .unwrap();
        let target = RewrapTarget {
            bucket: "b",
            prefix: "p/",
            jobs: 1,
        };
        // A rotation whose rewrap was interrupted: its marker is left.
        let started = start_rotation(&keystore, "docs", Some(&target), true).unwrap();
        assert!(started.rotated);

        let renamed = rename(&keystore, "docs", "team-docs").unwrap();
        assert_eq!(renamed.versions[0].fingerprint, made.fingerprint);
        assert!(!dir.path().join("config/rewrap-docs.json").exists());
        // The same rotation under the new name finishes that rewrap instead of rotating again.
        let again = start_rotation(&keystore, "team-docs", Some(&target), true).unwrap();
        assert!(again.resumed && !again.rotated, "{again:?}");
        assert_eq!(again.key.current_version, 2);
    }
}

//! The local KMS: customer master keys (CMKs) kept in the store, wrapped by the server's root
//! secret, used in process by SSE-KMS and over HTTP (`/_kms/`, see [`api`]) by clients, with
//! Alibaba Cloud KMS's actions, states and field names.
//!
//! - [`records`]: what a CMK is and how it is stored;
//! - [`blob`]: the `CiphertextBlob` format of data keys and Encrypt;
//! - [`import`]: BYOK import parameters (RSA-OAEP wrapping key, import token);
//! - [`api`]: the HTTP API.
//!
//! Every CMK is loaded and unwrapped at start, so SSE-KMS never touches the disk to wrap or
//! unwrap a data key. The one exception is the first use of the region's default CMK, which
//! creates it. Key state changes are written through to the store under one lock.
//! A key pending deletion is gone once its DeleteDate passes: it no longer unwraps anything,
//! and its record (with its material) is purged at the next KMS API call or restart.

pub mod api;
pub mod blob;
pub mod import;
pub mod records;

use crate::sse::{Cipher, DataKey, Kms, KmsError, RootSecret};
use crate::store::{Store, StoreError};
use records::{CmkRecord, KeyState, Origin};
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};
use zeroize::Zeroizing;

const CMK_WRAP_PURPOSE: &[u8] = b"ossvault kms cmk";
/// The bounds of ScheduleKeyDeletion's PendingWindowInDays, as on Alibaba Cloud KMS.
pub const MIN_PENDING_DAYS: u32 = 7;
pub const MAX_PENDING_DAYS: u32 = 366;
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Why a KMS management or cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Key(#[from] KmsError),
    #[error("{0}")]
    InvalidParameter(String),
    /// The key's state does not allow this change.
    #[error("{0}")]
    UnexpectedState(String),
    /// The default CMK is managed by the service.
    #[error("{0}")]
    ServiceManaged(String),
    #[error(transparent)]
    Import(#[from] import::ImportError),
    #[error("KMS storage failure: {0}")]
    Store(#[from] StoreError),
}

/// A loaded CMK: its record and, when it has material, the cipher made from it.
struct Cmk {
    record: CmkRecord,
    cipher: Option<LessSafeKey>,
}

/// The in-process KMS.
pub struct LocalKms {
    store: Store,
    /// Wraps CMK material: `RootSecret::cipher(b"ossvault kms cmk")`.
    wrapping: LessSafeKey,
    region: String,
    /// The account id in key ARNs.
    account: String,
    keys: RwLock<BTreeMap<String, Cmk>>,
    /// Serialises read-modify-write of records (and the default key's creation).
    writes: Mutex<()>,
    imports: import::Imports,
    clock: fn() -> u64,
}

/// The result of Encrypt / GenerateDataKey.
pub struct Sealed {
    pub key_id: String,
    pub key_version_id: String,
    pub blob: Vec<u8>,
}

/// The result of Decrypt.
pub struct Opened {
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: Zeroizing<Vec<u8>>,
}

fn cipher_of(material: &[u8]) -> Option<LessSafeKey> {
    Some(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, material).ok()?,
    ))
}

impl LocalKms {
    /// Loads every CMK and unwraps its material (blocking). Keys whose deletion date passed are
    /// purged first.
    pub fn load(
        store: &Store,
        root: &RootSecret,
        region: &str,
        account: &str,
    ) -> Result<LocalKms, crate::sse::KeyError> {
        Self::load_with_clock(store, root, region, account, crate::api::now_ms)
    }

    pub(crate) fn load_with_clock(
        store: &Store,
        root: &RootSecret,
        region: &str,
        account: &str,
        clock: fn() -> u64,
    ) -> Result<LocalKms, crate::sse::KeyError> {
        use crate::sse::KeyError;
        let kms = LocalKms {
            store: store.clone(),
            wrapping: root.cipher(CMK_WRAP_PURPOSE),
            region: region.to_owned(),
            account: account.to_owned(),
            keys: RwLock::new(BTreeMap::new()),
            writes: Mutex::new(()),
            imports: import::Imports::default(),
            clock,
        };
        let mut map = BTreeMap::new();
        for (name, bytes) in store.settings_with_prefix(records::PREFIX)? {
            let record: CmkRecord = serde_json::from_slice(&bytes)
                .map_err(|e| KeyError::Corrupt(format!("{name}: {e}")))?;
            let cipher = match &record.wrapped_material {
                Some(wrapped) => {
                    let aad = CmkRecord::material_aad(&record.id, record.material_version);
                    let material = crate::sse::unwrap_key(&kms.wrapping, &aad, wrapped)
                        .ok_or(KeyError::Unwrap)?;
                    Some(cipher_of(&material).ok_or(KeyError::Unwrap)?)
                }
                None => None,
            };
            map.insert(record.id.clone(), Cmk { record, cipher });
        }
        *kms.keys.write().expect("lock") = map;
        kms.purge_expired()?;
        Ok(kms)
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `acs:kms:<region>:<account>:key/<id>`.
    pub fn arn(&self, id: &str) -> String {
        format!("acs:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// A key id from an id or an ARN.
    fn resolve<'a>(&self, id_or_arn: &'a str) -> &'a str {
        let s = id_or_arn.trim();
        match s.strip_prefix("acs:kms:") {
            Some(rest) => rest.rsplit_once(":key/").map_or(s, |(_, id)| id),
            None => s,
        }
    }

    /// Removes the records of keys whose deletion date passed (material included).
    pub fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let _guard = self.writes.lock().expect("lock");
        let gone: Vec<String> = self
            .keys
            .read()
            .expect("lock")
            .values()
            .filter(|k| k.record.is_deleted(now))
            .map(|k| k.record.id.clone())
            .collect();
        for id in &gone {
            self.store
                .delete_setting(&format!("{}{id}", records::PREFIX))?;
            self.keys.write().expect("lock").remove(id);
            self.imports.forget(id);
            tracing::info!(key_id = %id, "KMS key deleted at the end of its pending window");
        }
        Ok(gone.len())
    }

    /// The record of a live key (not deleted).
    fn live_record(&self, id: &str) -> Result<CmkRecord, KmsError> {
        let id = self.resolve(id);
        let now = self.now();
        self.keys
            .read()
            .expect("lock")
            .get(id)
            .filter(|k| !k.record.is_deleted(now))
            .map(|k| k.record.clone())
            .ok_or_else(|| KmsError::NotFound(id.to_owned()))
    }

    fn persist(&self, record: &CmkRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a KMS key: {e}")))?;
        self.store.put_setting(&record.setting_name(), bytes)
    }

    /// Writes `record` and installs it (with `cipher`, else the key's current cipher).
    fn install(&self, record: CmkRecord, cipher: Option<LessSafeKey>) -> Result<(), StoreError> {
        self.persist(&record)?;
        let mut map = self.keys.write().expect("lock");
        let cipher = cipher.or_else(|| map.remove(&record.id).and_then(|k| k.cipher));
        map.insert(record.id.clone(), Cmk { record, cipher });
        Ok(())
    }

    /// A new record with fresh material (or none, for BYOK).
    fn new_record(
        &self,
        description: String,
        creator: String,
        origin: Origin,
        default_for_region: Option<String>,
    ) -> (CmkRecord, Option<LessSafeKey>) {
        let id = records::new_uuid();
        let (state, material_version, key_version_id, wrapped, cipher) = match origin {
            Origin::Kms => {
                let material = Zeroizing::new(rand::random::<[u8; 32]>());
                let aad = CmkRecord::material_aad(&id, 1);
                let wrapped = crate::sse::wrap_key(&self.wrapping, &aad, material.as_slice());
                (
                    KeyState::Enabled,
                    1,
                    Some(records::new_uuid()),
                    Some(wrapped),
                    cipher_of(material.as_slice()),
                )
            }
            Origin::External => (KeyState::PendingImport, 0, None, None, None),
        };
        let record = CmkRecord {
            id,
            created_ms: self.now(),
            description,
            creator,
            origin,
            state,
            state_before_deletion: None,
            delete_ms: None,
            default_for_region,
            material_version,
            key_version_id,
            wrapped_material: wrapped,
        };
        (record, cipher)
    }

    // ---- management ----

    /// CreateKey.
    pub fn create_key(
        &self,
        description: &str,
        origin: Origin,
        creator: &str,
    ) -> Result<CmkRecord, OpError> {
        let (record, cipher) =
            self.new_record(description.to_owned(), creator.to_owned(), origin, None);
        let _guard = self.writes.lock().expect("lock");
        self.install(record.clone(), cipher)?;
        tracing::info!(key_id = %record.id, origin = origin.as_str(), "KMS key created");
        Ok(record)
    }

    /// The id of the region's default CMK, made on first use.
    pub fn default_key_id(&self) -> Result<String, OpError> {
        let find = || {
            self.keys
                .read()
                .expect("lock")
                .values()
                .find(|k| k.record.default_for_region.as_deref() == Some(self.region.as_str()))
                .map(|k| k.record.id.clone())
        };
        if let Some(id) = find() {
            return Ok(id);
        }
        let _guard = self.writes.lock().expect("lock");
        if let Some(id) = find() {
            return Ok(id);
        }
        let (record, cipher) = self.new_record(
            format!("Default master key for OSS in {}", self.region),
            "Oss".to_owned(),
            Origin::Kms,
            Some(self.region.clone()),
        );
        let id = record.id.clone();
        self.install(record, cipher)?;
        tracing::info!(key_id = %id, region = %self.region, "default KMS key for OSS created");
        Ok(id)
    }

    /// Every live key, oldest first.
    pub fn list_keys(&self) -> Vec<CmkRecord> {
        let now = self.now();
        let mut keys: Vec<CmkRecord> = self
            .keys
            .read()
            .expect("lock")
            .values()
            .filter(|k| !k.record.is_deleted(now))
            .map(|k| k.record.clone())
            .collect();
        keys.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        keys
    }

    /// DescribeKey.
    pub fn describe_key(&self, id: &str) -> Result<CmkRecord, OpError> {
        Ok(self.live_record(id)?)
    }

    /// Applies `change` to a live key's record under the write lock and stores it.
    fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut CmkRecord) -> Result<(), OpError>,
    ) -> Result<CmkRecord, OpError> {
        let _guard = self.writes.lock().expect("lock");
        let mut record = self.live_record(id)?;
        change(&mut record)?;
        self.install(record.clone(), None)?;
        Ok(record)
    }

    fn refuse_default(record: &CmkRecord, what: &str) -> Result<(), OpError> {
        match &record.default_for_region {
            Some(region) => Err(OpError::ServiceManaged(format!(
                "The key {} is the default key of OSS in {region}, managed by the service: it cannot be {what}.",
                record.id
            ))),
            None => Ok(()),
        }
    }

    fn unexpected(record: &CmkRecord, action: &str) -> OpError {
        OpError::UnexpectedState(format!(
            "{action} is not allowed on the key {} in state {}.",
            record.id,
            record.state.as_str()
        ))
    }

    /// EnableKey: Disabled (or Enabled) → Enabled.
    pub fn enable_key(&self, id: &str) -> Result<CmkRecord, OpError> {
        let r = self.update(id, |r| match r.state {
            KeyState::Enabled | KeyState::Disabled => {
                r.state = KeyState::Enabled;
                Ok(())
            }
            _ => Err(Self::unexpected(r, "EnableKey")),
        })?;
        tracing::info!(key_id = %r.id, "KMS key enabled");
        Ok(r)
    }

    /// DisableKey: Enabled (or Disabled) → Disabled.
    pub fn disable_key(&self, id: &str) -> Result<CmkRecord, OpError> {
        let r = self.update(id, |r| {
            Self::refuse_default(r, "disabled")?;
            match r.state {
                KeyState::Enabled | KeyState::Disabled => {
                    r.state = KeyState::Disabled;
                    Ok(())
                }
                _ => Err(Self::unexpected(r, "DisableKey")),
            }
        })?;
        tracing::info!(key_id = %r.id, "KMS key disabled");
        Ok(r)
    }

    /// ScheduleKeyDeletion: any state but PendingDeletion → PendingDeletion for `days`.
    pub fn schedule_key_deletion(&self, id: &str, days: u32) -> Result<CmkRecord, OpError> {
        if !(MIN_PENDING_DAYS..=MAX_PENDING_DAYS).contains(&days) {
            return Err(OpError::InvalidParameter(format!(
                "PendingWindowInDays must be between {MIN_PENDING_DAYS} and {MAX_PENDING_DAYS}."
            )));
        }
        let now = self.now();
        let r = self.update(id, |r| {
            Self::refuse_default(r, "deleted")?;
            if r.state == KeyState::PendingDeletion {
                return Err(Self::unexpected(r, "ScheduleKeyDeletion"));
            }
            r.state_before_deletion = Some(r.state);
            r.state = KeyState::PendingDeletion;
            r.delete_ms = Some(now + u64::from(days) * DAY_MS);
            Ok(())
        })?;
        tracing::info!(key_id = %r.id, days, "KMS key scheduled for deletion");
        Ok(r)
    }

    /// CancelKeyDeletion: PendingDeletion → the state it had before (Enabled for a key that
    /// was in use, as on Alibaba Cloud KMS).
    pub fn cancel_key_deletion(&self, id: &str) -> Result<CmkRecord, OpError> {
        let r = self.update(id, |r| {
            if r.state != KeyState::PendingDeletion {
                return Err(Self::unexpected(r, "CancelKeyDeletion"));
            }
            r.state = r.state_before_deletion.take().unwrap_or(KeyState::Enabled);
            r.delete_ms = None;
            Ok(())
        })?;
        tracing::info!(key_id = %r.id, state = r.state.as_str(), "KMS key deletion cancelled");
        Ok(r)
    }

    // ---- BYOK ----

    fn importable(r: &CmkRecord) -> Result<(), OpError> {
        if r.origin != Origin::External {
            return Err(OpError::UnexpectedState(format!(
                "The key {} was not created with Origin EXTERNAL: its material cannot be imported.",
                r.id
            )));
        }
        if r.state != KeyState::PendingImport {
            return Err(Self::unexpected(r, "Importing key material"));
        }
        Ok(())
    }

    /// GetParametersForImport (blocking: makes an RSA key).
    pub fn get_parameters_for_import(
        &self,
        id: &str,
    ) -> Result<(String, import::Parameters), OpError> {
        let record = self.live_record(id)?;
        Self::importable(&record)?;
        let params = self.imports.issue(&record.id, self.now())?;
        Ok((record.id, params))
    }

    /// ImportKeyMaterial: the key becomes Enabled with the material.
    pub fn import_key_material(
        &self,
        id: &str,
        token: &str,
        encrypted_material: &[u8],
    ) -> Result<CmkRecord, OpError> {
        let _guard = self.writes.lock().expect("lock");
        let mut record = self.live_record(id)?;
        Self::importable(&record)?;
        let material =
            self.imports
                .unwrap_material(&record.id, token, encrypted_material, self.now())?;
        record.material_version = 1;
        record.key_version_id = Some(records::new_uuid());
        let aad = CmkRecord::material_aad(&record.id, record.material_version);
        record.wrapped_material = Some(crate::sse::wrap_key(
            &self.wrapping,
            &aad,
            material.as_slice(),
        ));
        record.state = KeyState::Enabled;
        self.install(record.clone(), cipher_of(material.as_slice()))?;
        self.imports.forget(&record.id);
        tracing::info!(key_id = %record.id, "KMS key material imported");
        Ok(record)
    }

    // ---- cryptography ----

    /// Why a key cannot be used now, if it cannot.
    fn usable(record: &CmkRecord) -> Result<(), KmsError> {
        match record.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(record.id.clone())),
            KeyState::PendingDeletion => Err(KmsError::PendingDeletion(record.id.clone())),
            KeyState::PendingImport => Err(KmsError::PendingImport(record.id.clone())),
        }
    }

    /// Encrypt (and the sealing of GenerateDataKey): `plain` under the key, or the default
    /// CMK when `id` is `None`.
    pub fn encrypt(
        &self,
        id: Option<&str>,
        plain: &[u8],
        context: &[u8],
    ) -> Result<Sealed, OpError> {
        let id = match id {
            Some(id) => self.resolve(id).to_owned(),
            None => self.default_key_id()?,
        };
        let now = self.now();
        let keys = self.keys.read().expect("lock");
        let cmk = keys
            .get(&id)
            .filter(|k| !k.record.is_deleted(now))
            .ok_or_else(|| KmsError::NotFound(id.clone()))?;
        Self::usable(&cmk.record)?;
        let cipher = cmk
            .cipher
            .as_ref()
            .ok_or_else(|| KmsError::PendingImport(id.clone()))?;
        let header = blob::Header {
            key_id: id.clone(),
            material_version: cmk.record.material_version,
        };
        Ok(Sealed {
            blob: blob::seal(cipher, &header, context, plain),
            key_version_id: cmk.record.key_version_id.clone().unwrap_or_default(),
            key_id: id,
        })
    }

    /// Decrypt: whichever key the blob names, if it is usable.
    pub fn decrypt(&self, ciphertext: &[u8], context: &[u8]) -> Result<Opened, KmsError> {
        let (header, header_len) = blob::Header::parse(ciphertext)?;
        let now = self.now();
        let keys = self.keys.read().expect("lock");
        let cmk = keys
            .get(&header.key_id)
            .filter(|k| !k.record.is_deleted(now))
            .ok_or_else(|| KmsError::NotFound(header.key_id.clone()))?;
        Self::usable(&cmk.record)?;
        let cipher = match &cmk.cipher {
            Some(c) if cmk.record.material_version == header.material_version => c,
            _ => {
                return Err(KmsError::InvalidCiphertext(format!(
                    "key material version {} of the key {} is not available",
                    header.material_version, header.key_id
                )))
            }
        };
        let plaintext = blob::open(cipher, ciphertext, header_len, context)?;
        Ok(Opened {
            key_id: header.key_id,
            key_version_id: cmk.record.key_version_id.clone().unwrap_or_default(),
            plaintext,
        })
    }
}

impl Kms for LocalKms {
    fn generate_data_key(
        &self,
        key_id: Option<&str>,
        cipher: Cipher,
    ) -> Result<(DataKey, Vec<u8>, String), KmsError> {
        let key = DataKey::random(cipher);
        let sealed = self
            .encrypt(key_id, key.bytes(), &[])
            .map_err(|e| match e {
                OpError::Key(k) => k,
                other => KmsError::Internal(other.to_string()),
            })?;
        Ok((key, sealed.blob, sealed.key_id))
    }

    fn decrypt_data_key(&self, wrapped: &[u8]) -> Result<DataKey, KmsError> {
        let opened = self.decrypt(wrapped, &[])?;
        DataKey::from_bytes(&opened.plaintext).ok_or_else(|| {
            KmsError::InvalidCiphertext("it does not hold a 128- or 256-bit data key".to_owned())
        })
    }
}

#[cfg(test)]
mod tests;

//! SSE-OSS master keys: 256-bit keys in versions, each stored wrapped by the server's root
//! secret; data keys are wrapped by the current version and unwrapped by whichever version
//! wrapped them. Rotation adds a version; old ones stay to unwrap until a re-wrap moved every
//! data key off them.

use super::seal::DataKey;
use crate::store::{Store, StoreError};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::RwLock;
use zeroize::Zeroizing;

const SETTING: &str = "sse.master-keys";
const MASTER_AAD: &[u8] = b"ossvault master key";
const DATA_KEY_AAD: &[u8] = b"ossvault sse-oss data key";

/// The secret every other server key is wrapped by. It never enters the data directory: the
/// OS keychain holds it for the app, a 0600 file or an environment variable for `serve`.
#[derive(Clone)]
pub struct RootSecret(Zeroizing<[u8; 32]>);

impl RootSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RootSecret(Zeroizing::new(bytes))
    }

    /// A wrapping cipher for `purpose`, so keys wrapped for one use cannot be passed off as
    /// another's.
    pub(crate) fn cipher(&self, purpose: &[u8]) -> LessSafeKey {
        let prf = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.0.as_slice());
        let derived = ring::hmac::sign(&prf, purpose);
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, derived.as_ref()).expect("32 bytes"))
    }
}

impl std::fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootSecret(<redacted>)")
    }
}

/// `nonce ‖ ciphertext ‖ tag` of `plain` under `key`, with a fresh random nonce.
pub(crate) fn wrap(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce: [u8; 12] = rand::random();
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out,
    )
    .expect("small input");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&out);
    blob
}

/// The inverse of [`wrap`]; `None` if the blob was not made by this key with this `aad`.
pub(crate) fn unwrap(key: &LessSafeKey, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, sealed) = blob.split_at_checked(12)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// Why a master-key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key version {0} is unknown")]
    UnknownVersion(u32),
    #[error("a wrapped key does not open: wrong root secret, or the key was tampered with")]
    Unwrap,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored master keys are unreadable: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct StoredMasterKey {
    version: u32,
    created_ms: u64,
    wrapped: Vec<u8>,
}

struct MasterKey {
    cipher: LessSafeKey,
    created_ms: u64,
}

/// The SSE-OSS master keys, loaded from the store and unwrapped in memory.
pub struct MasterKeys {
    root: RootSecret,
    keys: RwLock<BTreeMap<u32, MasterKey>>,
}

impl MasterKeys {
    /// Loads the master keys, making version 1 on first use.
    pub fn load(store: &Store, root: RootSecret) -> Result<MasterKeys, KeyError> {
        let keys = MasterKeys {
            root,
            keys: RwLock::new(BTreeMap::new()),
        };
        let stored: Vec<StoredMasterKey> = match store.setting(SETTING)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt(e.to_string()))?
            }
            None => Vec::new(),
        };
        let wrapping = keys.root.cipher(MASTER_AAD);
        {
            let mut map = keys.keys.write().expect("lock");
            for k in &stored {
                let aad = format!("v{}", k.version);
                let raw = unwrap(&wrapping, aad.as_bytes(), &k.wrapped).ok_or(KeyError::Unwrap)?;
                let cipher = LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| KeyError::Unwrap)?,
                );
                map.insert(
                    k.version,
                    MasterKey {
                        cipher,
                        created_ms: k.created_ms,
                    },
                );
            }
        }
        if stored.is_empty() {
            keys.rotate(store)?;
        }
        Ok(keys)
    }

    /// Adds a new current version, durably, and returns it.
    pub fn rotate(&self, store: &Store) -> Result<u32, KeyError> {
        let mut map = self.keys.write().expect("lock");
        let version = map.keys().next_back().map_or(1, |v| v + 1);
        let raw = Zeroizing::new(rand::random::<[u8; 32]>());
        let created_ms = crate::api::now_ms();
        let wrapping = self.root.cipher(MASTER_AAD);
        let mut stored: Vec<StoredMasterKey> = match store.setting(SETTING)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt(e.to_string()))?
            }
            None => Vec::new(),
        };
        let aad = format!("v{version}");
        stored.push(StoredMasterKey {
            version,
            created_ms,
            wrapped: wrap(&wrapping, aad.as_bytes(), raw.as_slice()),
        });
        store.put_setting(
            SETTING,
            serde_json::to_vec(&stored).map_err(|e| KeyError::Corrupt(e.to_string()))?,
        )?;
        let cipher =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, raw.as_slice()).expect("32 bytes"));
        map.insert(version, MasterKey { cipher, created_ms });
        if version == 1 {
            tracing::info!(version, "SSE-OSS master key created");
        } else {
            tracing::info!(version, "SSE-OSS master key rotated");
        }
        Ok(version)
    }

    pub fn current_version(&self) -> u32 {
        *self
            .keys
            .read()
            .expect("lock")
            .keys()
            .next_back()
            .expect("at least one version")
    }

    /// When the current version was made (ms since the epoch).
    pub fn current_created_ms(&self) -> u64 {
        self.keys
            .read()
            .expect("lock")
            .values()
            .next_back()
            .map_or(0, |k| k.created_ms)
    }

    /// Wraps a data key (AES-256 or SM4) under the current version.
    pub fn wrap(&self, key: &DataKey) -> (u32, Vec<u8>) {
        let map = self.keys.read().expect("lock");
        let (version, master) = map.iter().next_back().expect("at least one version");
        (*version, wrap(&master.cipher, DATA_KEY_AAD, key.bytes()))
    }

    /// Unwraps a data key wrapped by `version`.
    pub fn unwrap(&self, version: u32, blob: &[u8]) -> Result<DataKey, KeyError> {
        let map = self.keys.read().expect("lock");
        let master = map.get(&version).ok_or(KeyError::UnknownVersion(version))?;
        let raw = unwrap(&master.cipher, DATA_KEY_AAD, blob).ok_or(KeyError::Unwrap)?;
        DataKey::from_bytes(&raw).ok_or(KeyError::Unwrap)
    }
}

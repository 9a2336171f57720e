//! CMK records as stored: one setting `kms.cmk.<key id>` per key, JSON. The key material is
//! never stored in the clear: `wrapped_material` is `nonce ‖ AES-256-GCM(material) ‖ tag` under
//! `RootSecret::cipher(b"ossvault kms cmk")`, with the associated data `<key id>/v<version>`
//! so that a wrapped material cannot be moved onto another key or version.

use serde::{Deserialize, Serialize};

/// Setting-name prefix of CMK records.
pub const PREFIX: &str = "kms.cmk.";

/// Alibaba Cloud KMS's key states (`KeyState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// A BYOK key (Origin EXTERNAL) whose material has not been imported yet.
    PendingImport,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

/// Where the key material came from (`Origin`): the wire type, stored under the same names.
pub use ossvault_proto::kms::KeyOrigin as Origin;

/// One customer master key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmkRecord {
    pub id: String,
    pub created_ms: u64,
    pub description: String,
    pub creator: String,
    pub origin: Origin,
    pub state: KeyState,
    /// The state a cancelled deletion returns to.
    #[serde(default)]
    pub state_before_deletion: Option<KeyState>,
    /// When a key pending deletion is gone (ms since the epoch).
    #[serde(default)]
    pub delete_ms: Option<u64>,
    /// Set on the default CMK of a region, which SSE-KMS uses when no key id is given. It is
    /// managed by the service: it cannot be disabled or deleted.
    #[serde(default)]
    pub default_for_region: Option<String>,
    /// The version of the material data keys name in their blobs (1 once there is material).
    pub material_version: u32,
    /// `KeyVersionId` of the material, a UUID.
    #[serde(default)]
    pub key_version_id: Option<String>,
    /// The material wrapped by the root secret (see the module comment); `None` until imported.
    pub wrapped_material: Option<Vec<u8>>,
}

impl CmkRecord {
    /// The setting this record is stored under.
    pub fn setting_name(&self) -> String {
        format!("{PREFIX}{}", self.id)
    }

    /// A key pending deletion whose window has passed: gone, whether or not it was purged yet.
    pub fn is_deleted(&self, now_ms: u64) -> bool {
        self.state == KeyState::PendingDeletion && self.delete_ms.is_some_and(|d| d <= now_ms)
    }

    /// The associated data the material is wrapped with.
    pub fn material_aad(id: &str, version: u32) -> Vec<u8> {
        format!("{id}/v{version}").into_bytes()
    }
}

// Material stays out of logs even wrapped.
impl std::fmt::Debug for CmkRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmkRecord")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("origin", &self.origin)
            .field("delete_ms", &self.delete_ms)
            .field("default_for_region", &self.default_for_region)
            .field("material_version", &self.material_version)
            .finish_non_exhaustive()
    }
}

/// A fresh id shaped like Alibaba's older key ids: a random (version 4) UUID.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `2024-01-02T03:04:05Z`, as Alibaba Cloud KMS writes dates.
pub fn kms_date(ms: u64) -> String {
    let full = ossvault_proto::time::iso8601(crate::api::time_of(ms));
    full.replace(".000Z", "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_alibaba_key_ids() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert_ne!(new_uuid(), id);
    }

    #[test]
    fn dates_have_no_fraction() {
        assert_eq!(kms_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(kms_date(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn deletion_takes_effect_at_the_delete_date() {
        let mut r = CmkRecord {
            id: "k".into(),
            created_ms: 0,
            description: String::new(),
            creator: String::new(),
            origin: Origin::Kms,
            state: KeyState::PendingDeletion,
            state_before_deletion: Some(KeyState::Enabled),
            delete_ms: Some(1000),
            default_for_region: None,
            material_version: 1,
            key_version_id: None,
            wrapped_material: None,
        };
        assert!(!r.is_deleted(999));
        assert!(r.is_deleted(1000));
        r.state = KeyState::Disabled;
        assert!(!r.is_deleted(5000));
    }
}

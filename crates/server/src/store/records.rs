//! The records the store keeps (serialised as JSON in redb, so fields can be added with
//! `#[serde(default)]` without a migration).

use super::BlobId;
use serde::{Deserialize, Serialize};

/// A bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub created_ms: u64,
    /// `private`, `public-read`, `public-read-write`.
    pub acl: String,
    pub storage_class: String,
    /// e.g. `cn-hangzhou` (Location is `oss-` + region).
    pub region: String,
    pub data_redundancy_type: String,
    /// Default server-side encryption rule, if any.
    #[serde(default)]
    pub encryption: Option<BucketEncryption>,
    /// The bucket policy JSON, verbatim.
    #[serde(default)]
    pub policy: Option<String>,
    /// Block Public Access: public ACLs and policies grant anonymous requests nothing.
    #[serde(default)]
    pub public_access_block: bool,
    /// Versioning (PutBucketVersioning); `None` for a bucket never versioned. Once set it can
    /// only move between `Enabled` and `Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
}

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write makes a new version with its own id; deletes add delete markers.
    Enabled,
    /// Writes and deletes replace the `null` version; earlier versions are kept.
    Suspended,
}

impl Versioning {
    /// As OSS spells it in `<Status>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
}

/// A bucket's default server-side encryption rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256`, `KMS` or `SM4`.
    pub algorithm: String,
    #[serde(default)]
    pub kms_master_key_id: Option<String>,
    #[serde(default)]
    pub kms_data_encryption: Option<String>,
}

/// `Normal` (PutObject/CopyObject), `Multipart`, `Appendable`, `Symlink` (PutSymlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectType {
    Normal,
    Multipart,
    Appendable,
    Symlink,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Normal => "Normal",
            ObjectType::Multipart => "Multipart",
            ObjectType::Appendable => "Appendable",
            ObjectType::Symlink => "Symlink",
        }
    }
}

/// How a segment's bytes are stored. Only `Plain` exists today; server-side encryption adds a
/// variant and the readers and writers dispatch on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Codec {
    #[default]
    Plain,
    /// Server-side encrypted: chunked AES-256-GCM or SM4-GCM (as the object's `SseRecord` says)
    /// under a key derived from the object's data key for this blob (`crates/server/FORMAT.md`).
    Sealed,
}

/// How an object (or an upload's parts) is encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseRecord {
    /// `AES256` or `SM4` (SSE-OSS), or `KMS` (SSE-KMS).
    pub algorithm: String,
    /// The CMK, for SSE-KMS.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// `SM4` for SSE-KMS with SM4 data encryption (`x-oss-server-side-data-encryption`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_encryption: Option<String>,
    /// The object's data key, wrapped.
    pub wrapped: WrappedKey,
}

impl SseRecord {
    /// The cipher the object's content is sealed with: SM4-GCM for `SM4` and KMS with SM4 data
    /// encryption, AES-256-GCM otherwise (every record written before SM4 existed).
    pub fn cipher(&self) -> crate::sse::seal::Cipher {
        if self.algorithm == "SM4" || self.data_encryption.as_deref() == Some("SM4") {
            crate::sse::seal::Cipher::Sm4Gcm
        } else {
            crate::sse::seal::Cipher::Aes256Gcm
        }
    }
}

/// A data key wrapped by a master key. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WrappedKey {
    /// By version `version` of the server's SSE-OSS master key.
    Master { version: u32, blob: Vec<u8> },
    /// By a KMS CMK (the blob names the key and its material version).
    Kms { blob: Vec<u8> },
}

/// A run of an object's content stored in one blob. An object is its segments in order: one
/// for a PUT, one per part after Complete, one per append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: BlobId,
    /// Plaintext length.
    pub len: u64,
    /// CRC-64 of the segment's plaintext (combined into the object's CRC).
    pub crc64: u64,
    #[serde(default)]
    pub codec: Codec,
}

/// An object's metadata and where its content is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub size: u64,
    /// Quoted, e.g. `"5EB63BBBE01EEED093CB22BB8F5ACDC3"`.
    pub etag: String,
    pub crc64: u64,
    /// Base64 MD5 of the content, for Normal objects (returned as `Content-MD5`).
    #[serde(default)]
    pub content_md5: Option<String>,
    pub last_modified_ms: u64,
    pub object_type: ObjectType,
    pub storage_class: String,
    /// `default`, `private`, `public-read`, `public-read-write`.
    pub acl: String,
    /// Stored response headers, verbatim, lowercase names: `content-type`,
    /// `content-disposition`, `content-encoding`, `content-language`, `cache-control`,
    /// `expires`, and every `x-oss-meta-*`.
    pub headers: Vec<(String, String)>,
    pub segments: Vec<Segment>,
    /// Server-side encryption, if any (then every segment is `Codec::Sealed`).
    #[serde(default)]
    pub sse: Option<SseRecord>,
    /// Set when a read or a scrub found the stored content damaged: reads then answer an error
    /// instead of data until the object is overwritten or deleted (a new record has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<CorruptMark>,
    /// Object tags (key, value), in the order given; at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// For a `Symlink`: the key it points to, in the same bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_target: Option<String>,
    /// For an archived object: the restore asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreRecord>,
    /// The version: its id (`None`: the `null` version, which every object of a bucket never
    /// versioned is) and its place in the key's history. Set by the store when it writes the
    /// record; what a caller puts here is replaced.
    #[serde(default, skip_serializing_if = "VersionStamp::is_unset")]
    pub version: VersionStamp,
}

/// Which version a record (or a delete marker) is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStamp {
    /// `None` for the `null` version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Orders a key's versions, newest highest; 0 for records written before versioning
    /// existed (the oldest).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
}

impl VersionStamp {
    /// A record written before versioning existed: nothing to store.
    fn is_unset(&self) -> bool {
        self.id.is_none() && self.seq == 0
    }

    /// The id as OSS shows it: `null` for the null version.
    pub fn shown(&self) -> &str {
        self.id.as_deref().unwrap_or("null")
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A delete marker: the version a delete adds on a versioned bucket. No content, no ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMarker {
    pub version: VersionStamp,
    pub last_modified_ms: u64,
}

/// One version of a key: an object or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionEntry {
    Object(Box<ObjectRecord>),
    DeleteMarker(DeleteMarker),
}

impl VersionEntry {
    pub fn version(&self) -> &VersionStamp {
        match self {
            VersionEntry::Object(o) => &o.version,
            VersionEntry::DeleteMarker(m) => &m.version,
        }
    }

    pub fn last_modified_ms(&self) -> u64 {
        match self {
            VersionEntry::Object(o) => o.last_modified_ms,
            VersionEntry::DeleteMarker(m) => m.last_modified_ms,
        }
    }
}

/// A restore of an archived object (RestoreObject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// When the restored copy becomes readable (ms since the epoch).
    pub ready_ms: u64,
    /// When it is frozen again.
    pub expires_ms: u64,
    /// ColdArchive's tier (`Expedited`, `Standard`, `Bulk`).
    #[serde(default)]
    pub tier: Option<String>,
}

/// Where and how an object's stored content was found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptMark {
    /// The damaged segment's blob.
    pub blob: BlobId,
    /// For a sealed segment, the first chunk that failed authentication; `None` when the whole
    /// segment is suspect (a plain segment's CRC-64 covers it as a whole).
    #[serde(default)]
    pub chunk: Option<u64>,
    /// What the check found, for logs and error messages.
    pub detail: String,
    /// When it was found (ms since the epoch).
    pub found_ms: u64,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: u64,
    pub storage_class: String,
    pub acl: String,
    /// Headers to give the object at Complete (as `ObjectRecord::headers`).
    pub headers: Vec<(String, String)>,
    /// Server-side encryption chosen at Initiate: every part is sealed under this data key.
    #[serde(default)]
    pub sse: Option<SseRecord>,
    /// Tags to give the object at Complete (`x-oss-tagging` on Initiate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub part_number: u32,
    pub blob: BlobId,
    pub size: u64,
    /// Quoted uppercase MD5.
    pub etag: String,
    pub crc64: u64,
    pub last_modified_ms: u64,
}

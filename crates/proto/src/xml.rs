//! XML bodies of the OSS operations, both directions (the server writes what the client parses
//! and vice versa). Every model serialises with [`to_xml`] and parses with [`from_xml`].
//!
//! Field order is element order on the wire; the SDKs' parsers are strict about presence, so
//! optional elements are `Option` and required ones are always written (empty if need be).
//! Strings are carried as they go on the wire: listings with `encoding-type=url` hold
//! already-encoded keys.
//!
//! `Vec` fields are written as one element per item, named after the field (`<Contents>`,
//! `<Part>`, …), which is how OSS repeats elements. When parsing, an empty element for an
//! `Option<String>` (`<KMSMasterKeyID></KMSMasterKeyID>`, `<NextMarker/>`) reads as `None`: the
//! OSS documentation writes absent values that way and the SDKs treat both forms alike.

use quick_xml::events::Event;
use quick_xml::se::Serializer;
use quick_xml::Reader;
use serde::{Deserialize, Deserializer, Serialize};

/// The declaration every document we write starts with.
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Why an XML body could not be parsed (maps to 400 MalformedXML).
#[derive(Debug, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

/// Serialises `value` as a document with root element `root`, preceded by
/// `<?xml version="1.0" encoding="UTF-8"?>`.
///
/// # Panics
///
/// If `value` is not representable as XML (a map with non-string keys, a bare sequence at the
/// root, …). That is a programming error in the model, not a runtime condition: every model in
/// this module serialises.
pub fn to_xml<T: Serialize>(root: &str, value: &T) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(DECLARATION);
    out.push('\n');
    let written = Serializer::with_root(&mut out, Some(root)).and_then(|mut serializer| {
        // OSS writes empty elements as `<Marker></Marker>`; parsers treat `<Marker/>` the same,
        // but matching the real service byte for byte costs nothing.
        serializer.expand_empty_elements(true);
        value.serialize(serializer)
    });
    if let Err(e) = written {
        panic!("XML model for <{root}> does not serialise: {e}");
    }
    out
}

/// Parses a document (any XML declaration accepted; a DOCTYPE or entity declaration is
/// refused) whose root element is ignored by name.
pub fn from_xml<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, XmlError> {
    // A UTF-8 byte order mark is legal before the declaration; some clients write one.
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    refuse_dtd(body)?;
    quick_xml::de::from_str(body).map_err(|e| XmlError(e.to_string()))
}

/// Refuses any document type declaration. Entity declarations can only live inside one, so
/// this also shuts out entity expansion attacks (billion laughs, external entities); request
/// bodies from OSS clients never carry a DTD.
fn refuse_dtd(body: &str) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(Event::DocType(_)) => {
                return Err(XmlError("DOCTYPE declarations are not allowed".into()))
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(XmlError(e.to_string())),
        }
    }
}

/// Deserialises an optional text element, reading an empty element as `None`.
fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    pub display_name: String,
}

/// `<Error>` (root `Error`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub host_id: String,
    #[serde(
        rename = "EC",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub ec: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub string_to_sign: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub signature_provided: Option<String>,
    #[serde(
        rename = "OSSAccessKeyId",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub oss_access_key_id: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub bucket_name: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub key: Option<String>,
}

/// One bucket in `ListAllMyBucketsResult`, and the `<Bucket>` of `BucketInfo`'s summary part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketSummary {
    pub creation_date: String,
    pub extranet_endpoint: String,
    pub intranet_endpoint: String,
    pub location: String,
    pub name: String,
    pub region: String,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Buckets {
    #[serde(rename = "Bucket", default)]
    pub bucket: Vec<BucketSummary>,
}

/// Root `ListAllMyBucketsResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub prefix: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_keys: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_truncated: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_marker: Option<String>,
    pub owner: Owner,
    pub buckets: Buckets,
}

/// Root `CreateBucketConfiguration` (PutBucket request body, optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub storage_class: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub data_redundancy_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlList {
    pub grant: String,
}

/// Root `AccessControlPolicy` (Get bucket/object ACL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    pub owner: Owner,
    pub access_control_list: AccessControlList,
}

/// The flat `<ServerSideEncryptionRule>` inside `BucketInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfoSseRule {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
    #[serde(
        rename = "KMSMasterKeyID",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub kms_master_key_id: Option<String>,
    #[serde(
        rename = "KMSDataEncryption",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub kms_data_encryption: Option<String>,
}

/// The `<Bucket>` of root `BucketInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfoBucket {
    pub access_monitor: String,
    pub creation_date: String,
    pub extranet_endpoint: String,
    pub intranet_endpoint: String,
    pub location: String,
    pub storage_class: String,
    pub transfer_acceleration: String,
    pub cross_region_replication: String,
    pub name: String,
    pub resource_group_id: String,
    pub owner: Owner,
    pub access_control_list: AccessControlList,
    pub comment: String,
    pub data_redundancy_type: String,
    pub server_side_encryption_rule: BucketInfoSseRule,
    /// `Enabled` or `Suspended`; absent for a bucket never versioned.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub versioning: Option<String>,
    /// The bucket's own Block Public Access switch (PutBucketPublicAccessBlock).
    #[serde(default)]
    pub block_public_access: bool,
}

/// Root `BucketInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfo {
    pub bucket: BucketInfoBucket,
}

/// Root `BucketStat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketStat {
    pub storage: u64,
    pub object_count: u64,
    pub multipart_upload_count: u64,
    #[serde(default)]
    pub live_channel_count: u64,
    /// Seconds since the epoch of the newest object write (0 for an empty bucket).
    #[serde(default)]
    pub last_modified_time: u64,
    #[serde(default)]
    pub standard_storage: u64,
    #[serde(default)]
    pub standard_object_count: u64,
    #[serde(default)]
    pub infrequent_access_storage: u64,
    #[serde(default)]
    pub infrequent_access_real_storage: u64,
    #[serde(default)]
    pub infrequent_access_object_count: u64,
    #[serde(default)]
    pub archive_storage: u64,
    #[serde(default)]
    pub archive_real_storage: u64,
    #[serde(default)]
    pub archive_object_count: u64,
    #[serde(default)]
    pub cold_archive_storage: u64,
    #[serde(default)]
    pub cold_archive_real_storage: u64,
    #[serde(default)]
    pub cold_archive_object_count: u64,
    #[serde(default)]
    pub deep_cold_archive_storage: u64,
    #[serde(default)]
    pub deep_cold_archive_real_storage: u64,
    #[serde(default)]
    pub deep_cold_archive_object_count: u64,
    /// Delete markers of a versioned bucket (0 otherwise).
    #[serde(default)]
    pub delete_marker_count: u64,
}

/// Root `RegionInfoList` (DescribeRegions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionInfoList {
    #[serde(default)]
    pub region_info: Vec<RegionInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionInfo {
    /// e.g. `oss-cn-hangzhou`.
    pub region: String,
    pub internet_endpoint: String,
    pub internal_endpoint: String,
    pub accelerate_endpoint: String,
}

/// Root `PolicyStatus` (GetBucketPolicyStatus): whether the bucket policy grants public access
/// (`false` without a policy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyStatus {
    pub is_public: bool,
}

/// Root `PublicAccessBlockConfiguration`. The flag is kept as text: oss2 writes `True`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlockConfiguration {
    #[serde(default)]
    pub block_public_access: String,
}

/// Root `RestoreRequest` (RestoreObject's optional body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_parameters: Option<JobParameters>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobParameters {
    pub tier: String,
}

/// Root `Tagging` (Put/GetObjectTagging). Keys and values are plain text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tagging {
    #[serde(default)]
    pub tag_set: TagSet,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSet {
    #[serde(default)]
    pub tag: Vec<Tag>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Root `LocationConstraint` is a text-only element: use [`location_constraint_xml`].
pub fn location_constraint_xml(location: &str) -> String {
    // A struct with a `$text` field would do, but the one-element document is clearer spelled
    // out; the text still goes through the serialiser's escaping.
    to_xml(
        "LocationConstraint",
        &LocationConstraintText { text: location },
    )
}

#[derive(Serialize)]
struct LocationConstraintText<'a> {
    #[serde(rename = "$text")]
    text: &'a str,
}

/// Root `ListLiveChannelResult` (always empty here; the oss2 test harness lists it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListLiveChannelResult {
    pub prefix: String,
    pub marker: String,
    pub max_keys: u32,
    pub is_truncated: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_marker: Option<String>,
}

/// One `<Contents>` of a listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectSummary {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// `Normal`, `Multipart`, `Appendable`.
    #[serde(rename = "Type")]
    pub object_type: String,
    pub size: u64,
    pub storage_class: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<Owner>,
    /// An archived object's restore state (`ongoing-request="true"`, …), when one was asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restore_info: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    pub prefix: String,
}

/// Root `ListBucketResult` for ListObjects (v1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBucketResult {
    pub name: String,
    pub prefix: String,
    pub marker: String,
    pub max_keys: u32,
    pub delimiter: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub is_truncated: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_marker: Option<String>,
    #[serde(default)]
    pub contents: Vec<ObjectSummary>,
    #[serde(default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// Root `ListBucketResult` for ListObjectsV2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBucketResultV2 {
    pub name: String,
    pub prefix: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub continuation_token: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub start_after: Option<String>,
    pub max_keys: u32,
    pub delimiter: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub is_truncated: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_continuation_token: Option<String>,
    pub key_count: u32,
    #[serde(default)]
    pub contents: Vec<ObjectSummary>,
    #[serde(default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteObjectEntry {
    pub key: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub version_id: Option<String>,
}

/// Root `Delete` (DeleteMultipleObjects request). Keys are plain text, not URL-encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delete {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quiet: Option<bool>,
    #[serde(default)]
    pub object: Vec<DeleteObjectEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedEntry {
    pub key: String,
    /// The version removed (a delete naming one), or the delete marker's on a versioned bucket.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub version_id: Option<String>,
    /// A delete marker was added or removed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delete_marker: Option<bool>,
    /// The delete marker added by a delete without a version id.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub delete_marker_version_id: Option<String>,
}

/// A key a multiple delete did not delete, with the reason (`AccessDenied`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteError {
    pub key: String,
    pub code: String,
    pub message: String,
}

/// Root `DeleteResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResult {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(default)]
    pub deleted: Vec<DeletedEntry>,
    /// Keys refused one by one (a policy denying some of them), as S3 reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<DeleteError>,
}

/// Root `CopyObjectResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyObjectResult {
    #[serde(rename = "ETag")]
    pub etag: String,
    pub last_modified: String,
}

/// Root `CopyPartResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyPartResult {
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Root `InitiateMultipartUploadResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletePart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Root `CompleteMultipartUpload` (request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteMultipartUpload {
    #[serde(default)]
    pub part: Vec<CompletePart>,
}

/// Root `CompleteMultipartUploadResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartSummary {
    pub part_number: u32,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub hash_crc64ecma: u64,
    pub size: u64,
}

/// Root `ListPartsResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPartsResult {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub storage_class: String,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub client_encryption_key: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub client_encryption_start: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub client_encryption_cek_alg: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub client_encryption_wrap_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_encryption_data_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_encryption_part_size: Option<u64>,
    #[serde(default)]
    pub part: Vec<PartSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadSummary {
    pub key: String,
    pub upload_id: String,
    pub storage_class: String,
    pub initiated: String,
}

/// Root `ListMultipartUploadsResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
    pub delimiter: String,
    pub prefix: String,
    pub max_uploads: u32,
    pub is_truncated: bool,
    #[serde(default)]
    pub upload: Vec<UploadSummary>,
    #[serde(default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// `<ApplyServerSideEncryptionByDefault>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplyServerSideEncryptionByDefault {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
    /// Empty element parses as `None`.
    #[serde(
        rename = "KMSMasterKeyID",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub kms_master_key_id: Option<String>,
    #[serde(
        rename = "KMSDataEncryption",
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub kms_data_encryption: Option<String>,
}

/// Root `ServerSideEncryptionRule` (Put/GetBucketEncryption).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSideEncryptionRule {
    pub apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault,
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;

/// Root `VersioningConfiguration` (PutBucketVersioning's body, GetBucketVersioning's answer;
/// no `<Status>` for a bucket never versioned).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersioningConfiguration {
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub status: Option<String>,
}

/// One `<Version>` of `ListVersionsResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Type")]
    pub object_type: String,
    pub size: u64,
    pub storage_class: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restore_info: Option<String>,
    #[serde(default)]
    pub owner: Owner,
}

/// One `<DeleteMarker>` of `ListVersionsResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMarkerEntry {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    #[serde(default)]
    pub owner: Owner,
}

/// Root `ListVersionsResult` (ListObjectVersions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResult {
    pub name: String,
    pub prefix: String,
    pub key_marker: String,
    pub version_id_marker: String,
    pub max_keys: u32,
    pub delimiter: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub encoding_type: Option<String>,
    pub is_truncated: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_key_marker: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub next_version_id_marker: Option<String>,
    /// `<Version>` and `<DeleteMarker>` elements in listing order (keys ascending, each key's
    /// versions newest first), interleaved as OSS writes them.
    #[serde(rename = "$value", default)]
    pub entries: Vec<VersionListing>,
    #[serde(default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One entry of `ListVersionsResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VersionListing {
    Version(ObjectVersion),
    DeleteMarker(DeleteMarkerEntry),
}

//! Request signatures: V1 (`OSS ak:sig`, HMAC-SHA1) and V4 (`OSS4-HMAC-SHA256`), in the
//! `Authorization` header and as presigned URLs, for both signing and verifying.
//!
//! Both sides build the string to sign from the same [`RequestParts`], so a signer and a verifier
//! cannot drift apart. Verification is pure: the caller passes the credential lookup and the
//! current time.

mod canon;
pub mod v1;
pub mod v2;
pub mod v4;
mod verify;

pub use verify::{scheme, verify, AuthError, Scheme, Verified};

/// What a signature covers, as seen by both the signer and the verifier.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `PUT`, … (uppercase).
    pub method: &'a str,
    /// The bucket, if the request addresses one.
    pub bucket: Option<&'a str>,
    /// The decoded object key, if the request addresses an object.
    pub key: Option<&'a str>,
    /// The decoded query parameters, in the order received (empty value for `?acl`).
    pub query: &'a [(String, String)],
    /// The request headers (names are case-insensitive in `HeaderMap`).
    pub headers: &'a http::HeaderMap,
}

/// Sub-resources that V1 signs (the union of oss2's, v2's and the Go SDK's lists).
pub const V1_SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "location",
    "cors",
    "logging",
    "website",
    "referer",
    "lifecycle",
    "delete",
    "append",
    "tagging",
    "objectMeta",
    "uploadId",
    "partNumber",
    "security-token",
    "position",
    "img",
    "style",
    "styleName",
    "replication",
    "replicationProgress",
    "replicationLocation",
    "cname",
    "bucketInfo",
    "comp",
    "qos",
    "live",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "x-oss-process",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "udf",
    "udfName",
    "udfImage",
    "udfId",
    "udfImageDesc",
    "udfApplication",
    "udfApplicationLog",
    "restore",
    "callback",
    "callback-var",
    "qosInfo",
    "policy",
    "stat",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "requestPayment",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "asyncFetch",
    "worm",
    "wormId",
    "wormExtend",
    "x-oss-traffic-limit",
    "transferAcceleration",
    "metaQuery",
    "resourceGroup",
    "regionList",
    "cloudboxes",
    "objectInfo",
    "group",
    "link",
    "x-oss-async-process",
    "policyStatus",
    "publicAccessBlock",
    "bucketArchiveDirectRead",
    "responseHeader",
    "userDefinedLogFieldsConfig",
    "reservedcapacity",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    "x-oss-enable-md5",
    "x-oss-enable-sha1",
    "x-oss-enable-sha256",
    "x-oss-hash-ctx",
    "x-oss-md5-ctx",
    "endpoint",
    // Operations of alibabacloud-oss-v2 that sign their own sub-resource ('sub-resource' in its
    // operation metadata) and oss2's list, beyond the above.
    "cleanRestoredObject",
    "seal",
    "overwriteConfig",
    "MetaQuery",
    "dataPipeline",
    "accessPoint",
    "accessPointPolicy",
    "x-oss-access-point-name",
    "httpsConfig",
    "legalHold",
    "objectWorm",
    "retention",
    "rtc",
    "redundancyTransition",
    "x-oss-redundancy-transition-taskid",
    "x-oss-target-redundancy-type",
    "qosRequester",
    "requesterQosInfo",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "x-oss-write-get-object-response",
];

//! From method + bucket/key + sub-resource to one [`Endpoint`], in one place. The permission an
//! operation needs is derived from its variant, so authorisation cannot drift from routing.

use super::{ApiError, Query};
use http::{HeaderMap, Method};
use ossvault_proto::sign::V1_SUBRESOURCES;
use ossvault_proto::{headers, ErrorCode};

/// Defines [`Endpoint`] and [`Endpoint::ALL`] from one list, so that anything enumerating the
/// operations (the authorisation matrix test) cannot miss a variant added later.
macro_rules! endpoints {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// Every operation the server answers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Endpoint {
            $($(#[$doc])* $variant,)*
        }

        impl Endpoint {
            /// Every variant, in declaration order (for tests that must cover them all).
            #[cfg(test)]
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$variant,)*];
        }
    };
}

endpoints! {
    ListBuckets,
    /// `GET /?regions`: this server's one region.
    DescribeRegions,
    /// `/?publicAccessBlock`: the server-wide (OSS: account-level) Block Public Access.
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketPublicAccessBlock,
    PutBucketPublicAccessBlock,
    DeleteBucketPublicAccessBlock,
    PutBucket,
    DeleteBucket,
    GetBucketInfo,
    GetBucketLocation,
    GetBucketStat,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    /// `GET /?policyStatus`: whether the bucket policy is public.
    GetBucketPolicyStatus,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetBucketVersioning,
    PutBucketVersioning,
    /// `GET /?versions`: every version and delete marker.
    ListObjectVersions,
    ListLiveChannels,
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    DeleteMultipleObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    GetObjectMeta,
    DeleteObject,
    AppendObject,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectTagging,
    PutObjectTagging,
    PutSymlink,
    GetSymlink,
    RestoreObject,
    CleanRestoredObject,
    DeleteObjectTagging,
    InitiateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// The local KMS's API at `/_kms/` (routed in `prepare`, never by [`Endpoint::route`]).
    Kms,
    /// ossvault's admin API at `/_admin/` (scrub; routed in `prepare` too).
    Admin,
}

/// Query parameters that are not sub-resources and never change which operation is meant.
const PLAIN_PARAMS: &[&str] = &[
    "prefix",
    "marker",
    "delimiter",
    "max-keys",
    "start-after",
    "fetch-owner",
    "encoding-type",
    "key-marker",
    "upload-id-marker",
    "max-uploads",
    "part-number-marker",
    "max-parts",
    "continuation-token",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "versionId",
    "OSSAccessKeyId",
    "Expires",
    "Signature",
    "security-token",
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-additional-headers",
    "x-oss-signature",
    "x-oss-security-token",
    "tag-key",
    "tag-value",
    "sequential",
];

impl Endpoint {
    /// Picks the operation. A sub-resource this server does not implement is refused with
    /// NotImplemented rather than falling through to a plain object or bucket operation (a
    /// `PUT ?tagging` must never overwrite the object with its body).
    pub fn route(
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &Query,
        request_headers: &HeaderMap,
    ) -> Result<Endpoint, ApiError> {
        use Endpoint::*;
        let has = |name: &str| query.has(name);
        let endpoint = match (bucket, key) {
            (None, _) => match *method {
                Method::GET if has("regions") => DescribeRegions,
                Method::GET if has("publicAccessBlock") => GetPublicAccessBlock,
                Method::PUT if has("publicAccessBlock") => PutPublicAccessBlock,
                Method::DELETE if has("publicAccessBlock") => DeletePublicAccessBlock,
                Method::GET => ListBuckets,
                _ => return Err(method_not_allowed()),
            },
            (Some(_), None) => match *method {
                Method::GET if has("acl") => GetBucketAcl,
                Method::GET if has("publicAccessBlock") => GetBucketPublicAccessBlock,
                Method::PUT if has("publicAccessBlock") => PutBucketPublicAccessBlock,
                Method::DELETE if has("publicAccessBlock") => DeleteBucketPublicAccessBlock,
                Method::GET if has("policy") => GetBucketPolicy,
                Method::GET if has("policyStatus") => GetBucketPolicyStatus,
                Method::GET if has("encryption") => GetBucketEncryption,
                Method::GET if has("versioning") => GetBucketVersioning,
                Method::GET if has("versions") => ListObjectVersions,
                Method::GET if has("bucketInfo") => GetBucketInfo,
                Method::GET if has("location") => GetBucketLocation,
                Method::GET if has("stat") => GetBucketStat,
                Method::GET if has("live") => ListLiveChannels,
                Method::GET if has("uploads") => ListMultipartUploads,
                Method::GET if query.get("list-type") == Some("2") => ListObjectsV2,
                Method::GET => ListObjects,
                Method::PUT if has("acl") => PutBucketAcl,
                Method::PUT if has("policy") => PutBucketPolicy,
                Method::PUT if has("encryption") => PutBucketEncryption,
                Method::PUT if has("versioning") => PutBucketVersioning,
                Method::PUT => PutBucket,
                Method::DELETE if has("policy") => DeleteBucketPolicy,
                Method::DELETE if has("encryption") => DeleteBucketEncryption,
                Method::DELETE => DeleteBucket,
                Method::POST if has("delete") => DeleteMultipleObjects,
                _ => return Err(method_not_allowed()),
            },
            (Some(_), Some(_)) => match *method {
                Method::GET if has("acl") => GetObjectAcl,
                Method::GET if has("tagging") => GetObjectTagging,
                Method::GET if has("symlink") => GetSymlink,
                Method::GET if has("uploadId") => ListParts,
                Method::GET => GetObject,
                Method::HEAD if has("objectMeta") => GetObjectMeta,
                Method::HEAD => HeadObject,
                Method::PUT if has("acl") => PutObjectAcl,
                Method::PUT if has("tagging") => PutObjectTagging,
                Method::PUT if has("symlink") => PutSymlink,
                Method::PUT if has("uploadId") && has("partNumber") => {
                    if request_headers.contains_key(headers::COPY_SOURCE) {
                        UploadPartCopy
                    } else {
                        UploadPart
                    }
                }
                Method::PUT if request_headers.contains_key(headers::COPY_SOURCE) => CopyObject,
                Method::PUT => PutObject,
                Method::POST if has("uploads") => InitiateMultipartUpload,
                Method::POST if has("uploadId") => CompleteMultipartUpload,
                Method::POST if has("append") => AppendObject,
                Method::POST if has("restore") => RestoreObject,
                Method::POST if has("cleanRestoredObject") => CleanRestoredObject,
                Method::DELETE if has("uploadId") => AbortMultipartUpload,
                Method::DELETE if has("tagging") => DeleteObjectTagging,
                Method::DELETE => DeleteObject,
                _ => return Err(method_not_allowed()),
            },
        };
        // A sub-resource (one the SDKs sign: it names an operation) that this operation does not
        // understand is refused; any other parameter is ignored, as OSS ignores it (a presigned
        // URL may carry parameters of the application's own).
        if let Some(unknown) = query.names().find(|name| {
            V1_SUBRESOURCES.contains(name)
                && !PLAIN_PARAMS.contains(name)
                && !endpoint.sub_resources().contains(name)
        }) {
            return Err(ApiError::msg(
                ErrorCode::NotImplemented,
                format!("The sub-resource '{unknown}' is not supported by this server."),
            ));
        }
        Ok(endpoint)
    }

    /// The sub-resource query keys this operation understands.
    fn sub_resources(self) -> &'static [&'static str] {
        use Endpoint::*;
        match self {
            GetBucketAcl | PutBucketAcl | GetObjectAcl | PutObjectAcl => &["acl"],
            GetObjectTagging | PutObjectTagging | DeleteObjectTagging => &["tagging"],
            PutSymlink | GetSymlink => &["symlink"],
            // A link is an object: OSS deletes it whether or not the request says `?symlink`
            // (oss2's get_symlink leaves `symlink` in a params dict its callers reuse).
            DeleteObject => &["symlink"],
            RestoreObject => &["restore"],
            CleanRestoredObject => &["cleanRestoredObject"],
            GetBucketPolicy | PutBucketPolicy | DeleteBucketPolicy => &["policy"],
            GetBucketPolicyStatus => &["policyStatus"],
            GetBucketEncryption | PutBucketEncryption | DeleteBucketEncryption => &["encryption"],
            GetBucketInfo => &["bucketInfo"],
            GetBucketVersioning | PutBucketVersioning => &["versioning"],
            ListObjectVersions => &["versions"],
            GetBucketLocation => &["location"],
            GetBucketStat => &["stat"],
            ListLiveChannels => &["live"],
            ListMultipartUploads | InitiateMultipartUpload => &["uploads"],
            ListObjectsV2 => &["list-type"],
            DeleteMultipleObjects => &["delete"],
            GetObjectMeta => &["objectMeta"],
            UploadPart | UploadPartCopy => &["uploadId", "partNumber"],
            CompleteMultipartUpload | AbortMultipartUpload | ListParts => &["uploadId"],
            AppendObject => &["append", "position"],
            ListBuckets => &["regionList"],
            DescribeRegions => &["regions"],
            GetPublicAccessBlock
            | PutPublicAccessBlock
            | DeletePublicAccessBlock
            | GetBucketPublicAccessBlock
            | PutBucketPublicAccessBlock
            | DeleteBucketPublicAccessBlock => &["publicAccessBlock"],
            PutBucket | DeleteBucket | ListObjects | PutObject | CopyObject | GetObject
            | HeadObject | Kms | Admin => &[],
        }
    }

    /// The policy action this operation needs (`oss:GetObject`, …).
    pub fn action(self) -> &'static str {
        use Endpoint::*;
        match self {
            ListBuckets => "oss:ListBuckets",
            DescribeRegions => "oss:DescribeRegions",
            GetPublicAccessBlock => "oss:GetPublicAccessBlock",
            PutPublicAccessBlock => "oss:PutPublicAccessBlock",
            DeletePublicAccessBlock => "oss:DeletePublicAccessBlock",
            GetBucketPublicAccessBlock => "oss:GetBucketPublicAccessBlock",
            PutBucketPublicAccessBlock => "oss:PutBucketPublicAccessBlock",
            DeleteBucketPublicAccessBlock => "oss:DeleteBucketPublicAccessBlock",
            PutBucket => "oss:PutBucket",
            DeleteBucket => "oss:DeleteBucket",
            GetBucketInfo => "oss:GetBucketInfo",
            GetBucketLocation => "oss:GetBucketLocation",
            GetBucketStat => "oss:GetBucketStat",
            GetBucketAcl => "oss:GetBucketAcl",
            PutBucketAcl => "oss:PutBucketAcl",
            GetBucketPolicy => "oss:GetBucketPolicy",
            GetBucketPolicyStatus => "oss:GetBucketPolicyStatus",
            PutBucketPolicy => "oss:PutBucketPolicy",
            DeleteBucketPolicy => "oss:DeleteBucketPolicy",
            GetBucketEncryption => "oss:GetBucketEncryption",
            PutBucketEncryption => "oss:PutBucketEncryption",
            DeleteBucketEncryption => "oss:DeleteBucketEncryption",
            GetBucketVersioning => "oss:GetBucketVersioning",
            PutBucketVersioning => "oss:PutBucketVersioning",
            ListObjectVersions => "oss:ListObjectVersions",
            ListLiveChannels => "oss:ListLiveChannel",
            ListObjects | ListObjectsV2 => "oss:ListObjects",
            ListMultipartUploads => "oss:ListMultipartUploads",
            DeleteMultipleObjects | DeleteObject => "oss:DeleteObject",
            PutObject
            | CopyObject
            | AppendObject
            | InitiateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload => "oss:PutObject",
            GetObject | HeadObject | GetObjectMeta => "oss:GetObject",
            GetObjectAcl => "oss:GetObjectAcl",
            PutObjectAcl => "oss:PutObjectAcl",
            GetObjectTagging => "oss:GetObjectTagging",
            // OSS authorises links as the reads and writes of objects they are.
            PutSymlink => "oss:PutObject",
            GetSymlink => "oss:GetObject",
            RestoreObject => "oss:RestoreObject",
            CleanRestoredObject => "oss:CleanRestoredObject",
            PutObjectTagging => "oss:PutObjectTagging",
            DeleteObjectTagging => "oss:DeleteObjectTagging",
            AbortMultipartUpload => "oss:AbortMultipartUpload",
            ListParts => "oss:ListParts",
            Kms => "kms:Api",
            Admin => "ossvault:Admin",
        }
    }

    /// Resources besides the addressed one that this operation touches. Each is authorised as
    /// a request of its own would be (signature aside): a copy reads its source as a GET of it
    /// would, a multiple delete deletes each key as a DELETE of it would. No wildcard arm, so
    /// that a new operation must say what it touches.
    pub fn other_resources(self) -> OtherResources {
        use Endpoint::*;
        match self {
            CopyObject | UploadPartCopy => OtherResources::CopySource,
            DeleteMultipleObjects => OtherResources::EachListedKey,
            ListBuckets
            | DescribeRegions
            | GetPublicAccessBlock
            | PutPublicAccessBlock
            | DeletePublicAccessBlock
            | GetBucketPublicAccessBlock
            | PutBucketPublicAccessBlock
            | DeleteBucketPublicAccessBlock
            | PutBucket
            | DeleteBucket
            | GetBucketInfo
            | GetBucketLocation
            | GetBucketStat
            | GetBucketAcl
            | PutBucketAcl
            | GetBucketPolicy
            | GetBucketPolicyStatus
            | PutBucketPolicy
            | DeleteBucketPolicy
            | GetBucketEncryption
            | PutBucketEncryption
            | DeleteBucketEncryption
            | GetBucketVersioning
            | PutBucketVersioning
            | ListObjectVersions
            | ListLiveChannels
            | ListObjects
            | ListObjectsV2
            | ListMultipartUploads
            | PutObject
            | GetObject
            | HeadObject
            | GetObjectMeta
            | DeleteObject
            | AppendObject
            | GetObjectAcl
            | PutObjectAcl
            | GetObjectTagging
            | PutObjectTagging
            | DeleteObjectTagging
            | PutSymlink
            | GetSymlink
            | RestoreObject
            | CleanRestoredObject
            | InitiateMultipartUpload
            | UploadPart
            | CompleteMultipartUpload
            | AbortMultipartUpload
            | ListParts
            | Kms
            | Admin => OtherResources::None,
        }
    }

    /// What an anonymous request needs from the ACL to be allowed, if anything can allow it.
    pub fn anonymous_access(self) -> Option<AclNeed> {
        use Endpoint::*;
        match self {
            GetObject | HeadObject | GetObjectMeta | GetSymlink => Some(AclNeed::Read),
            PutObject
            | PutSymlink
            | AppendObject
            | DeleteObject
            | DeleteMultipleObjects
            | InitiateMultipartUpload
            | UploadPart
            | CompleteMultipartUpload
            | AbortMultipartUpload
            | ListParts => Some(AclNeed::Write),
            _ => None,
        }
    }
}

/// See [`Endpoint::other_resources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherResources {
    None,
    /// The object named by `x-oss-copy-source`, read with `oss:GetObject`; authorised before
    /// the handler runs, which gets the source only through [`super::Ctx::copy_source`].
    CopySource,
    /// The keys listed in the body, each deleted with `oss:DeleteObject`; the handler
    /// authorises each with [`crate::auth::authorize_key`] and reports a refused one as an
    /// `AccessDenied` entry.
    EachListedKey,
}

/// The access an ACL must grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclNeed {
    Read,
    Write,
}

fn method_not_allowed() -> ApiError {
    ApiError::msg(
        ErrorCode::MethodNotAllowed,
        "The specified method is not allowed against this resource.",
    )
}

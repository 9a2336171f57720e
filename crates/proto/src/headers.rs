//! Header names used by OSS (lowercase, as `http::HeaderName` wants them).

/// The signature of a V1 or V4 header-signed request.
pub const AUTHORIZATION: &str = "authorization";
/// Base64 MD5 of the body, checked by the server when sent.
pub const CONTENT_MD5: &str = "content-md5";
/// The media type of the body; signed by V1 and V4.
pub const CONTENT_TYPE: &str = "content-type";
/// The request time (RFC 1123) that V1 signs unless `x-oss-date` is given.
pub const DATE: &str = "date";
/// The request time that V1 (RFC 1123) and V4 (ISO 8601 basic) sign in preference to `Date`.
pub const OSS_DATE: &str = "x-oss-date";
/// V4's payload hash: `UNSIGNED-PAYLOAD` or the hex SHA-256 of the body.
pub const OSS_CONTENT_SHA256: &str = "x-oss-content-sha256";
/// The STS security token of temporary credentials.
pub const OSS_SECURITY_TOKEN: &str = "x-oss-security-token";
/// The id of a request, on every answer (24 characters on OSS).
pub const REQUEST_ID: &str = "x-oss-request-id";
/// The CRC-64/XZ (ECMA) of an object or part, as unsigned decimal.
pub const HASH_CRC64: &str = "x-oss-hash-crc64ecma";
/// A HEAD error's `<Error>` body, base64, since a HEAD answer has no body.
pub const OSS_ERR: &str = "x-oss-err";
/// OSS's detailed error code (`0002-00000214`-style) on error answers.
pub const OSS_EC: &str = "x-oss-ec";
/// ossvault's own server only (OSS never sends it): on ListObjects answers, a token that
/// changes whenever a listing of the bucket could (any object or version written since). Two
/// equal tokens mean the bucket's listings are as they were, so an idle poll can stop at a
/// one-key listing.
pub const LISTING_TOKEN: &str = "x-ossvault-listing-token";
/// The prefix of user metadata headers.
pub const META_PREFIX: &str = "x-oss-meta-";
/// `Normal`, `Multipart` or `Appendable`.
pub const OBJECT_TYPE: &str = "x-oss-object-type";
/// An object's or bucket's storage class (`Standard`, `IA`, …).
pub const STORAGE_CLASS: &str = "x-oss-storage-class";
/// A bucket's ACL on PutBucket / PutBucketAcl.
pub const ACL: &str = "x-oss-acl";
/// An object's ACL on writes and PutObjectAcl.
pub const OBJECT_ACL: &str = "x-oss-object-acl";
/// The `/bucket/key` a CopyObject or UploadPartCopy reads from.
pub const COPY_SOURCE: &str = "x-oss-copy-source";
/// The bytes of the source an UploadPartCopy copies (`bytes=a-b`).
pub const COPY_SOURCE_RANGE: &str = "x-oss-copy-source-range";
/// CopyObject's If-Match on the source.
pub const COPY_SOURCE_IF_MATCH: &str = "x-oss-copy-source-if-match";
/// CopyObject's If-None-Match on the source.
pub const COPY_SOURCE_IF_NONE_MATCH: &str = "x-oss-copy-source-if-none-match";
/// CopyObject's If-Modified-Since on the source.
pub const COPY_SOURCE_IF_MODIFIED_SINCE: &str = "x-oss-copy-source-if-modified-since";
/// CopyObject's If-Unmodified-Since on the source.
pub const COPY_SOURCE_IF_UNMODIFIED_SINCE: &str = "x-oss-copy-source-if-unmodified-since";
/// CopyObject's `COPY` (keep the source's metadata) or `REPLACE`.
pub const METADATA_DIRECTIVE: &str = "x-oss-metadata-directive";
/// `true` makes a write fail instead of replacing an existing object.
pub const FORBID_OVERWRITE: &str = "x-oss-forbid-overwrite";
/// Where the next AppendObject must start.
pub const NEXT_APPEND_POSITION: &str = "x-oss-next-append-position";
/// `yes` completes a multipart upload with every uploaded part, without a body.
pub const COMPLETE_ALL: &str = "x-oss-complete-all";
/// `standard` makes GET resolve ranges by RFC rules instead of OSS's lenient ones.
pub const RANGE_BEHAVIOR: &str = "x-oss-range-behavior";
/// SSE of an object: `AES256` (SSE-OSS) or `KMS` (SSE-KMS).
pub const SERVER_SIDE_ENCRYPTION: &str = "x-oss-server-side-encryption";
/// The KMS key (CMK) of an SSE-KMS object.
pub const SERVER_SIDE_ENCRYPTION_KEY_ID: &str = "x-oss-server-side-encryption-key-id";
/// The data cipher under SSE-KMS (`SM4`).
pub const SERVER_SIDE_DATA_ENCRYPTION: &str = "x-oss-server-side-data-encryption";
/// When an object was last read (GetObjectMeta).
pub const LAST_ACCESS_TIME: &str = "x-oss-last-access-time";
/// Object tags on a write, as a query string (`k1=v1&k2=v2`, percent-encoded).
pub const TAGGING: &str = "x-oss-tagging";
/// CopyObject: `COPY` (default) keeps the source's tags, `REPLACE` takes `x-oss-tagging`.
pub const TAGGING_DIRECTIVE: &str = "x-oss-tagging-directive";
/// GET/HEAD: how many tags the object has (sent only when it has some).
pub const TAGGING_COUNT: &str = "x-oss-tagging-count";
/// PutSymlink's target (request) and GetSymlink's (response), percent-encoded.
pub const SYMLINK_TARGET: &str = "x-oss-symlink-target";
/// The version a write made or a read, delete or copy addressed (`null` for the null version).
pub const VERSION_ID: &str = "x-oss-version-id";
/// `true` when a delete added or removed a delete marker, or a read found one.
pub const DELETE_MARKER: &str = "x-oss-delete-marker";
/// The version of a copy's source that was copied.
pub const COPY_SOURCE_VERSION_ID: &str = "x-oss-copy-source-version-id";

//! The size and count limits of OSS: one definition, shared by the server (which enforces them)
//! and the clients (which plan uploads and batches within them).
//!
//! Each limit names the public page it is read from. "KB", "GB" and "TB" on those pages are
//! binary units: 100 KB is 102,400 bytes (CompleteMultipartUpload's EntityTooSmall check), and
//! 48.8 TB is 10,000 parts of 5 GiB.

/// The smallest a part may be, the last part excepted; CompleteMultipartUpload refuses a
/// smaller one with EntityTooSmall. Source: "UploadPart", "Valid values … The size of a part
/// ranges from 100 KB to 5 GB" (<https://www.alibabacloud.com/help/en/oss/developer-reference/uploadpart>).
pub const MIN_PART_SIZE: u64 = 100 << 10;

/// The largest a part may be. Source: "UploadPart"
/// (<https://www.alibabacloud.com/help/en/oss/developer-reference/uploadpart>).
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// The most parts one multipart upload may have; part numbers run from 1 to this. Source:
/// "UploadPart", partNumber "Valid values: 1 to 10000"
/// (<https://www.alibabacloud.com/help/en/oss/developer-reference/uploadpart>).
pub const MAX_PARTS: u32 = 10_000;

/// The largest object one PutObject or AppendObject may write. Source: "Limits" ("simple
/// upload, form upload, and append upload cannot be greater than 5 GB",
/// <https://www.alibabacloud.com/help/en/object-storage-service/latest/usage-notes>).
pub const MAX_PUT_OBJECT_SIZE: u64 = 5 << 30;

/// The largest object a multipart upload may assemble: [`MAX_PARTS`] parts of
/// [`MAX_PART_SIZE`], the "48.8 TB" of "Limits"
/// (<https://www.alibabacloud.com/help/en/object-storage-service/latest/usage-notes>).
pub const MAX_MULTIPART_OBJECT_SIZE: u64 = MAX_PARTS as u64 * MAX_PART_SIZE;

/// The most keys one DeleteMultipleObjects request may name. Source: "DeleteMultipleObjects"
/// (<https://www.alibabacloud.com/help/en/oss/developer-reference/deletemultipleobjects>).
pub const MAX_DELETE_KEYS: usize = 1000;

/// The most entries one page of ListObjects (`max-keys`), ListBuckets (`max-keys`), ListParts
/// (`max-parts`) or ListMultipartUploads (`max-uploads`) may hold. Source: the pages of those
/// operations, e.g. "ListObjects (GetBucket)" ("max-keys … Valid values: 1 to 1000",
/// <https://www.alibabacloud.com/help/en/oss/developer-reference/listobjects>).
pub const MAX_LIST_PAGE: usize = 1000;

/// The page size of ListObjects when `max-keys` is not given. Source: "ListObjects
/// (GetBucket)" ("Default value: 100",
/// <https://www.alibabacloud.com/help/en/oss/developer-reference/listobjects>).
pub const DEFAULT_LIST_KEYS: usize = 100;

/// The most bytes of user metadata (`x-oss-meta-*` names and values) one object may carry.
/// Source: "PutObject" ("The total size of all user metadata cannot exceed 8 KB",
/// <https://www.alibabacloud.com/help/en/oss/developer-reference/putobject>).
pub const MAX_USER_META_BYTES: usize = 8 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_object_limit_is_the_documented_48_8_tib() {
        let tib = MAX_MULTIPART_OBJECT_SIZE as f64 / (1u64 << 40) as f64;
        assert!((48.8..48.9).contains(&tib), "{tib}");
        assert_eq!(
            MIN_PART_SIZE, 102_400,
            "EntityTooSmall's 100 KB is 102,400 bytes"
        );
    }
}

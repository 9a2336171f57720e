//! Naming rules for buckets and object keys.

/// Maximum object key length in bytes.
pub const MAX_KEY_BYTES: usize = 1023;

/// 3–63 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_valid_bucket_name(name: &str) -> bool { todo!() }

/// 1..=1023 bytes of UTF-8, not starting with `/` or `\`, no NUL. Keys are never paths on our side, so
/// `..` and inner `/` are allowed, as on OSS.
pub fn is_valid_object_key(key: &str) -> bool { todo!() }

//! Naming rules for buckets and object keys.

/// Maximum object key length in bytes.
pub const MAX_KEY_BYTES: usize = 1023;

/// 3–63 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// 1..=1023 bytes of UTF-8, not starting with `/` or `\`, no NUL. Keys are never paths on our side, so
/// `..` and inner `/` are allowed, as on OSS.
pub fn is_valid_object_key(key: &str) -> bool {
    (1..=MAX_KEY_BYTES).contains(&key.len()) && !key.starts_with(['/', '\\']) && !key.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "a-b", "bkt-123", "000", &"a".repeat(63)] {
            assert!(is_valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(64),
            "-abc",
            "abc-",
            "Abc",
            "a_b",
            "a.b",
            "a b",
            "ab\u{e9}",
            "中文桶",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        for ok in [
            "a",
            "a/b",
            "../x",
            "a//b/",
            "阿里云/加油/:?;@&=+$, /<>{}[]|/",
            "中文+_)(*&^%$#@!前缀",
            "\u{1}\u{7}",
            &"k".repeat(MAX_KEY_BYTES),
        ] {
            assert!(is_valid_object_key(ok), "{ok}");
        }
        for bad in ["", "/a", "\\a", "a\0b", &"k".repeat(MAX_KEY_BYTES + 1)] {
            assert!(!is_valid_object_key(bad), "{bad:?}");
        }
        // The limit is in bytes, not characters: 341 × 3-byte chars = 1023 bytes.
        assert!(is_valid_object_key(&"中".repeat(341)));
        assert!(!is_valid_object_key(&"中".repeat(342)));
    }
}

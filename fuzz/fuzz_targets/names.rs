//! Bucket and object-key validation (`ossvault_proto::names`) and the CLI's mapping of a
//! downloaded key onto a local path (`crates/ops/src/location.rs` `safe_relative_path`,
//! `key_file_name`, `parse_oss`, compiled in from its source: the module is self-contained and
//! the `ossvault-ops` crate would pull in the HTTP client and the OS keychain).
//!
//! Asserts: valid bucket names are 3–63 of `[a-z0-9-]` without a leading/trailing `-`; valid
//! keys are 1–1023 bytes, not absolute, no NUL; a key accepted for download never escapes the
//! target directory (no `..`/`.`/empty component, not absolute, no NUL, no backslash, no
//! drive letter/prefix, only `Normal` components), and `key_for_relative` maps the path back
//! to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossvault_proto::names::{is_valid_bucket_name, is_valid_object_key, MAX_KEY_BYTES};
use std::path::{Component, Path};

#[allow(dead_code)]
#[path = "../../crates/ops/src/location.rs"]
mod location;
use location as urls;

fn check_safe(rel: &str, path: &Path) {
    assert!(!rel.contains('\0'), "NUL accepted: {rel:?}");
    assert!(!rel.contains('\\'), "backslash accepted: {rel:?}");
    assert!(
        !path.is_absolute() && path.has_root() == false,
        "absolute: {rel:?}"
    );
    for component in path.components() {
        assert!(
            matches!(component, Component::Normal(_)),
            "{component:?} in {rel:?} → {path:?}"
        );
    }
    for segment in rel.trim_end_matches('/').split('/') {
        assert!(
            segment != ".." && segment != "." && !segment.is_empty(),
            "{rel:?}"
        );
    }
    let bytes = rel.as_bytes();
    assert!(
        !(bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'),
        "drive letter accepted: {rel:?}"
    );
    // Joined under a target directory, it stays under it.
    let root = Path::new("/target/dir");
    let joined = root.join(path);
    assert!(joined.starts_with(root), "{joined:?}");
    assert!(joined.components().count() > root.components().count());
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if is_valid_bucket_name(s) {
        assert!((3..=63).contains(&s.len()));
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(!s.starts_with('-') && !s.ends_with('-'));
    }
    if is_valid_object_key(s) {
        assert!(!s.is_empty() && s.len() <= MAX_KEY_BYTES);
        assert!(!s.starts_with('/') && !s.starts_with('\\') && !s.contains('\0'));
    }

    if let Ok(path) = urls::safe_relative_path(s) {
        check_safe(s, &path);
        // Uploading the file back gives the same key (less a trailing `/`).
        let key = urls::key_for_relative("", &path).expect("a safe path maps back to a key");
        assert_eq!(key, s.strip_suffix('/').unwrap_or(s));
    }
    if let Ok(path) = urls::key_file_name(s) {
        let name = s.rsplit('/').next().unwrap();
        check_safe(name, &path);
        assert_eq!(path.components().count(), 1, "{s:?} → {path:?}");
    }
    if let Ok(url) = urls::parse_oss(s) {
        assert!(url.bucket.is_empty() || is_valid_bucket_name(&url.bucket));
        assert!(!url.bucket.is_empty() || url.key.is_empty());
        assert_eq!(urls::parse_oss(&url.to_string()).as_ref(), Ok(&url));
    }
});

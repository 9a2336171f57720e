//! `oss://bucket/key` URLs, local paths, and the mapping of keys onto local paths: a
//! downloaded key never lands outside its target directory, on any platform.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A bucket and a key (or prefix) inside it; the key may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssUrl {
    pub bucket: String,
    /// Everything after the first `/`, verbatim (may be empty, may end with `/`).
    pub key: String,
}

impl OssUrl {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        OssUrl {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// The URL of another key in the same bucket.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        OssUrl::new(self.bucket.clone(), key)
    }
}

impl fmt::Display for OssUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oss://{}/{}", self.bucket, self.key)
    }
}

/// Either side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Oss(OssUrl),
    Local(PathBuf),
}

impl Location {
    /// `oss://…` is an object URL; anything else is a local path.
    pub fn parse(s: &str) -> Result<Location, String> {
        if is_oss_url(s) {
            parse_oss(s).map(Location::Oss)
        } else {
            Ok(Location::Local(PathBuf::from(s)))
        }
    }
}

pub fn is_oss_url(s: &str) -> bool {
    // Bytes, not `&s[..6]`: byte 6 may fall inside a character of a local path ("ab阿…").
    s.len() >= 6 && s.as_bytes()[..6].eq_ignore_ascii_case(b"oss://")
}

/// Parses `oss://bucket[/key]`. The bucket may be empty only for `oss://` itself (the caller
/// decides whether that means "every bucket").
pub fn parse_oss(s: &str) -> Result<OssUrl, String> {
    if !is_oss_url(s) {
        return Err(format!("{s:?} is not an oss:// URL"));
    }
    let rest = &s[6..];
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, k),
        None => (rest, ""),
    };
    if !bucket.is_empty() && !ossvault_proto::names::is_valid_bucket_name(bucket) {
        return Err(format!(
            "invalid bucket name {bucket:?} in {s:?}: 3-63 characters of a-z, 0-9 and -, \
             not starting or ending with -"
        ));
    }
    if bucket.is_empty() && !key.is_empty() {
        return Err(format!("{s:?} names no bucket"));
    }
    Ok(OssUrl::new(bucket, key))
}

/// Parses a URL that must name a bucket.
pub fn parse_bucket_url(s: &str) -> Result<OssUrl, String> {
    let url = parse_oss(s)?;
    if url.bucket.is_empty() {
        return Err(format!("{s:?} names no bucket"));
    }
    Ok(url)
}

/// Parses a URL that must name an object.
pub fn parse_object_url(s: &str) -> Result<OssUrl, String> {
    let url = parse_bucket_url(s)?;
    if url.key.is_empty() {
        return Err(format!("{s:?} names no object (oss://bucket/key)"));
    }
    Ok(url)
}

/// The local relative path a key (relative to a listing prefix) maps to, or why it may not be
/// written: anything that could land outside the target directory is refused — `..` segments,
/// absolute paths, NUL, drive letters, backslashes used as separators — and so are empty and
/// `.` segments, which would silently merge distinct keys into one file. A trailing `/` (a
/// "directory" key) is allowed and maps to the directory.
pub fn safe_relative_path(rel: &str) -> Result<PathBuf, String> {
    if rel.is_empty() {
        return Err("empty key".into());
    }
    if rel.contains('\0') {
        return Err("the key contains a NUL byte".into());
    }
    if rel.starts_with('/') || rel.starts_with('\\') {
        return Err("the key is an absolute path".into());
    }
    let body = rel.strip_suffix('/').unwrap_or(rel);
    let mut path = PathBuf::new();
    for (i, segment) in body.split('/').enumerate() {
        // A backslash is a separator on Windows: judge every piece it would make there.
        for piece in segment.split('\\') {
            match piece {
                ".." => return Err("the key has a `..` segment".into()),
                "." => return Err("the key has a `.` segment".into()),
                "" => return Err("the key has an empty path segment".into()),
                _ => {}
            }
        }
        if segment.contains('\\') {
            return Err("the key contains a backslash".into());
        }
        let bytes = segment.as_bytes();
        if i == 0 && bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err("the key starts with a drive letter".into());
        }
        // Windows opens a device, not a file, for these names, and drops trailing dots and
        // spaces (two keys would merge into one file).
        if cfg!(windows) {
            if is_windows_device_name(segment) {
                return Err(format!("`{segment}` is a device name on Windows"));
            }
            if segment.ends_with(['.', ' ']) || segment.contains(':') {
                return Err(format!("`{segment}` is not a valid file name on Windows"));
            }
        }
        path.push(segment);
    }
    // Belt and braces: whatever the platform's rules, only plain names may remain.
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("the key does not map to a relative path".into());
    }
    Ok(path)
}

/// `CON`, `nul.txt`, `COM1`…: names Windows reserves for devices, with or without an
/// extension, in any case.
pub fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && matches!(upper.as_bytes()[3], b'1'..=b'9'))
}

/// The last `/`-separated segment of a key, checked as a file name.
pub fn key_file_name(key: &str) -> Result<PathBuf, String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.is_empty() {
        return Err(format!(
            "the key {key:?} ends with `/`: give a file name as the target"
        ));
    }
    safe_relative_path(name)
}

/// The key of a local file under `prefix`: its path relative to the walked root, `/`-joined.
pub fn key_for_relative(prefix: &str, rel: &Path) -> Result<String, String> {
    let mut key = prefix.to_owned();
    if !key.is_empty() && !key.ends_with('/') {
        key.push('/');
    }
    let mut first = true;
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(format!("unexpected path component in {}", rel.display()));
        };
        let name = name
            .to_str()
            .ok_or_else(|| format!("{} is not valid UTF-8", rel.display()))?;
        if !first {
            key.push('/');
        }
        key.push_str(name);
        first = false;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(parse_oss("oss://bkt").unwrap(), OssUrl::new("bkt", ""));
        assert_eq!(parse_oss("oss://bkt/").unwrap(), OssUrl::new("bkt", ""));
        assert_eq!(
            parse_oss("OSS://bkt/a/b").unwrap(),
            OssUrl::new("bkt", "a/b")
        );
        // Everything after the first `/` is the key, verbatim.
        assert_eq!(
            parse_oss("oss://bkt//a/../b c?x=1#y").unwrap(),
            OssUrl::new("bkt", "/a/../b c?x=1#y")
        );
        assert_eq!(parse_oss("oss://").unwrap(), OssUrl::new("", ""));
        assert!(parse_oss("oss:///key").is_err());
        assert!(parse_oss("oss://Bad_Name/k").is_err());
        assert!(parse_oss("s3://bkt/k").is_err());
        assert!(parse_object_url("oss://bkt/").is_err());
        assert!(parse_bucket_url("oss://").is_err());
        assert_eq!(
            Location::parse("./x/y").unwrap(),
            Location::Local(PathBuf::from("./x/y"))
        );
        assert_eq!(OssUrl::new("b", "k/x").to_string(), "oss://b/k/x");
    }

    #[test]
    fn maps_keys_to_safe_paths() {
        assert_eq!(
            safe_relative_path("a/b/c.txt").unwrap(),
            PathBuf::from("a/b/c.txt")
        );
        assert_eq!(safe_relative_path("dir/").unwrap(), PathBuf::from("dir"));
        assert_eq!(
            safe_relative_path("..a/b..").unwrap(),
            PathBuf::from("..a/b..")
        );
        for bad in [
            "",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "\\x",
            "a\0b",
            "C:/x",
            "c:x",
            "a\\..\\..\\x",
            "a//b",
            "./a",
            "a/./b",
            "/",
        ] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(key_file_name("a/b/c").unwrap(), PathBuf::from("c"));
        assert!(key_file_name("a/b/").is_err());
        assert!(key_file_name("a/..").is_err());
    }

    /// Regression (fuzz target `names`): a local path whose 6th byte is inside a multi-byte
    /// character panicked in `is_oss_url` (slicing a `str` off a char boundary).
    #[test]
    fn non_ascii_local_paths_are_not_urls() {
        for path in [
            "\u{4}\0\0\0阿里云/加",
            "ab阿里云",
            "阿里云",
            "oss:/阿",
            "ossé//x",
        ] {
            assert!(!is_oss_url(path), "{path:?}");
            assert_eq!(
                Location::parse(path).unwrap(),
                Location::Local(PathBuf::from(path))
            );
        }
    }

    #[test]
    fn windows_device_names() {
        for name in [
            "CON",
            "con.txt",
            "Nul",
            "aux.tar.gz",
            "COM1",
            "lpt9.log",
            "PRN ",
        ] {
            assert!(is_windows_device_name(name), "{name:?}");
        }
        for name in ["console", "COM0", "COM10", "nul_", "a.con", "LPT"] {
            assert!(!is_windows_device_name(name), "{name:?}");
        }
        assert_eq!(
            safe_relative_path("a/CON").is_err(),
            cfg!(windows),
            "device names are refused where they are devices"
        );
    }

    #[test]
    fn keys_for_local_files() {
        let rel = Path::new("a/b/c.txt");
        assert_eq!(key_for_relative("", rel).unwrap(), "a/b/c.txt");
        assert_eq!(key_for_relative("p/", rel).unwrap(), "p/a/b/c.txt");
        assert_eq!(key_for_relative("p", rel).unwrap(), "p/a/b/c.txt");
    }
}

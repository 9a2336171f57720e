//! Key metadata: what the config dir knows about each key. Never a secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::material::KeyKind;

/// The metadata file in the config dir.
pub const METADATA_FILE: &str = "keys.json";

/// The metadata format this crate writes and reads.
const METADATA_FORMAT: u32 = 1;

/// One version of a key, as recorded in the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersionInfo {
    /// Version number, from 1.
    pub version: u32,
    /// Fingerprint of this version's material.
    pub fingerprint: String,
    /// When this version was generated, imported or rotated in.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// SubjectPublicKeyInfo PEM of this version, for RSA keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
}

/// What the keystore knows about a key, without its secret.
///
/// `fingerprint` and `public_key_pem` are those of the current version; `versions` lists all,
/// oldest first. New encryptions use the current version; older versions stay to decrypt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's name (see [`validate_name`]).
    pub name: String,
    /// The kind of key; every version has the same kind.
    pub kind: KeyKind,
    /// Fingerprint of the current version.
    pub fingerprint: String,
    /// When the key (its first version) was created or imported.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Whether this is the default key (at most one key is).
    pub default: bool,
    /// SubjectPublicKeyInfo PEM of the current version, for RSA keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// The version used for new encryptions.
    pub current_version: u32,
    /// Every version kept, oldest first.
    pub versions: Vec<KeyVersionInfo>,
    /// The last encrypted backup written of this key (or the backup it was restored from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export: Option<ExportRecord>,
}

/// When a key was last exported to an encrypted backup, and its current version then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// When the backup was written.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The key's current version when exported: a backup holds that version and the older ones.
    pub version: u32,
}

impl KeyInfo {
    /// The record of one version.
    pub fn version(&self, version: u32) -> Option<&KeyVersionInfo> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// Whether a backup holds every version of this key (it was exported, or restored from a
    /// backup, since its last rotation).
    pub fn backed_up(&self) -> bool {
        self.last_export
            .is_some_and(|e| e.version >= self.current_version)
    }

    /// The record of the current version.
    pub fn current(&self) -> &KeyVersionInfo {
        self.version(self.current_version)
            .expect("metadata is checked on load: the current version is listed")
    }

    /// Copies the current version's fingerprint and public key to the top-level fields.
    pub(crate) fn refresh_current(&mut self) {
        let current = self.current().clone();
        self.fingerprint = current.fingerprint;
        self.public_key_pem = current.public_key_pem;
    }

    fn check(&self) -> std::result::Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        if self.versions.is_empty() {
            return Err(format!("key '{}' has no versions", self.name));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.versions {
            if v.version == 0 || !seen.insert(v.version) {
                return Err(format!(
                    "key '{}' lists version {} twice or as 0",
                    self.name, v.version
                ));
            }
            if v.public_key_pem.is_some() != self.kind.is_rsa() {
                return Err(format!(
                    "key '{}' v{}: public key present iff RSA",
                    self.name, v.version
                ));
            }
        }
        let current = self.version(self.current_version).ok_or_else(|| {
            format!(
                "key '{}': current version v{} is not listed",
                self.name, self.current_version
            )
        })?;
        if current.fingerprint != self.fingerprint {
            return Err(format!(
                "key '{}': fingerprint differs from its current version's",
                self.name
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Metadata {
    format: u32,
    pub(crate) keys: Vec<KeyInfo>,
}

impl Metadata {
    pub(crate) fn path(config_dir: &Path) -> PathBuf {
        config_dir.join(METADATA_FILE)
    }

    /// Reads the metadata; a missing file is an empty keystore.
    pub(crate) fn load(config_dir: &Path) -> Result<Self> {
        let path = Self::path(config_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Metadata {
                    format: METADATA_FORMAT,
                    keys: Vec::new(),
                })
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let corrupt = |detail: String| Error::MetadataCorrupt {
            path: path.clone(),
            detail,
        };
        let meta: Metadata = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if meta.format != METADATA_FORMAT {
            return Err(corrupt(format!(
                "format {} (this build reads format {METADATA_FORMAT})",
                meta.format
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        for key in &meta.keys {
            key.check().map_err(&corrupt)?;
            if !names.insert(key.name.as_str()) {
                return Err(corrupt(format!("key '{}' listed twice", key.name)));
            }
        }
        if meta.keys.iter().filter(|k| k.default).count() > 1 {
            return Err(corrupt("more than one default key".into()));
        }
        Ok(meta)
    }

    /// Writes the metadata atomically (temp file, fsync, rename, fsync dir), mode 0600.
    pub(crate) fn save(&mut self, config_dir: &Path) -> Result<()> {
        self.format = METADATA_FORMAT;
        self.keys.sort_by(|a, b| a.name.cmp(&b.name));
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Crypto(format!("serialising metadata: {e}")))?;
        bytes.push(b'\n');
        fsutil::write_atomic(&Self::path(config_dir), &bytes)
    }

    pub(crate) fn get(&self, name: &str) -> Result<&KeyInfo> {
        self.keys
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| Error::KeyNotFound { name: name.into() })
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Result<&mut KeyInfo> {
        self.keys
            .iter_mut()
            .find(|k| k.name == name)
            .ok_or_else(|| Error::KeyNotFound { name: name.into() })
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k.name == name)
    }

    pub(crate) fn has_default(&self) -> bool {
        self.keys.iter().any(|k| k.default)
    }

    /// `(name, version)` of the version with this fingerprint (hex, any case).
    pub(crate) fn find_fingerprint(&self, fingerprint: &str) -> Option<(String, u32)> {
        self.keys.iter().find_map(|k| {
            k.versions
                .iter()
                .find(|v| v.fingerprint.eq_ignore_ascii_case(fingerprint))
                .map(|v| (k.name.clone(), v.version))
        })
    }
}

/// Checks a key or profile name: 1 to 64 characters of ASCII letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit. `@` and `/` are excluded because `name@vN` names a version
/// and keychain accounts are `key/<name>/v<N>`.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty");
    }
    if name.len() > 64 {
        return invalid("longer than 64 characters");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return invalid("must start with a letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// A reference to a key, `name` (its current version) or `name@vN` (one version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The key's name.
    pub name: String,
    /// The version, or `None` for the current one.
    pub version: Option<u32>,
}

impl FromStr for KeyRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, version) = match s.split_once('@') {
            None => (s, None),
            Some((name, v)) => {
                let n = v
                    .strip_prefix('v')
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::InvalidKeyRef(s.to_owned()))?;
                (name, Some(n))
            }
        };
        validate_name(name).map_err(|_| Error::InvalidKeyRef(s.to_owned()))?;
        Ok(KeyRef {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            None => f.write_str(&self.name),
            Some(v) => write!(f, "{}@v{v}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "prod-2024", "team.backup_key", "K9"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "-x",
            ".hidden",
            "a/b",
            "a@v1",
            "sp ace",
            "é",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_refs() {
        let r: KeyRef = "main@v3".parse().unwrap();
        assert_eq!((r.name.as_str(), r.version), ("main", Some(3)));
        assert_eq!(r.to_string(), "main@v3");
        let r: KeyRef = "main".parse().unwrap();
        assert_eq!(r.version, None);
        for bad in ["main@3", "main@v0", "main@v", "@v1", "a@v1@v2", "main@vx"] {
            assert!(bad.parse::<KeyRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_file_is_empty_and_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Metadata::load(dir.path()).unwrap().keys.is_empty());
        std::fs::write(dir.path().join(METADATA_FILE), b"{not json").unwrap();
        let err = Metadata::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::MetadataCorrupt { .. }), "{err}");
        std::fs::write(dir.path().join(METADATA_FILE), br#"{"format":9,"keys":[]}"#).unwrap();
        let err = Metadata::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("format 9"), "{err}");
    }

    #[test]
    fn save_and_load_round_trip_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let version = KeyVersionInfo {
            version: 1,
            fingerprint: "ab".repeat(32),
            created: now,
            public_key_pem: None,
        };
        let mut meta = Metadata {
            format: METADATA_FORMAT,
            keys: vec![KeyInfo {
                name: "k".into(),
                kind: KeyKind::Aes256,
                fingerprint: version.fingerprint.clone(),
                created: now,
                default: true,
                public_key_pem: None,
                current_version: 1,
                versions: vec![version],
                last_export: None,
            }],
        };
        meta.save(dir.path()).unwrap();
        let loaded = Metadata::load(dir.path()).unwrap();
        assert_eq!(loaded.keys, meta.keys);
        assert_eq!(
            loaded.find_fingerprint(&"AB".repeat(32)),
            Some(("k".into(), 1))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Metadata::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(METADATA_FILE)]);
    }
}

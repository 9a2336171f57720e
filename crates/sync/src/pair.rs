//! Pairs (a local folder ↔ bucket/prefix, a master key, a mode), persisted owner-only in the
//! config directory, and the lock that lets one process at a time sync a pair.

use crate::error::{Error, Result};
use ossvault_keystore::Keystore;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Which way a pair syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Local → remote mirror (the default): local changes and deletions go up.
    #[default]
    Upload,
    /// Both ways; a file changed on both sides keeps both versions.
    TwoWay,
    /// Remote → local mirror.
    Download,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "upload" => Ok(Mode::Upload),
            "two-way" | "twoway" | "both" => Ok(Mode::TwoWay),
            "download" => Ok(Mode::Download),
            other => Err(Error::InvalidInput(format!(
                "unknown mode {other:?} (upload, two-way or download)"
            ))),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Upload => "upload",
            Mode::TwoWay => "two-way",
            Mode::Download => "download",
        })
    }
}

fn default_share() -> f64 {
    0.5
}
fn default_count() -> u64 {
    1000
}
fn default_retention() -> u64 {
    30
}

/// One synced folder. Connection settings (endpoint, credentials) are not here: they come from
/// the profile named, the environment, or the caller, as for every other command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// The pair's name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The local folder (absolute).
    pub local: PathBuf,
    pub bucket: String,
    /// The key prefix: empty, or ending with `/`.
    pub prefix: String,
    /// The master key of client-side encryption: a keystore key name, `kms:ID`, or none.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// The connection profile (`None`: the default profile and the environment).
    #[serde(default)]
    pub profile: Option<String>,
    /// Paused pairs are not synced by `sync run` or a watching engine.
    #[serde(default)]
    pub paused: bool,
    /// A pass refuses to delete more than this share of the pair's files (0..=1)…
    #[serde(default = "default_share")]
    pub max_delete_share: f64,
    /// …or more than this many files.
    #[serde(default = "default_count")]
    pub max_delete_count: u64,
    /// Bytes per second, up and down together (`None`: no limit).
    #[serde(default)]
    pub bandwidth_limit: Option<u64>,
    /// Days deleted and overwritten versions stay under `.ossvault-trash/`.
    #[serde(default = "default_retention")]
    pub trash_retention_days: u64,
}

impl Pair {
    /// A pair with the default limits.
    pub fn new(name: &str, local: PathBuf, bucket: &str, prefix: &str) -> Pair {
        Pair {
            name: name.to_owned(),
            local,
            bucket: bucket.to_owned(),
            prefix: ossvault_ops::copy::as_directory(prefix),
            key: None,
            mode: Mode::Upload,
            profile: None,
            paused: false,
            max_delete_share: default_share(),
            max_delete_count: default_count(),
            bandwidth_limit: None,
            trash_retention_days: default_retention(),
        }
    }

    /// `oss://bucket/prefix/`.
    pub fn remote_url(&self) -> String {
        format!("oss://{}/{}", self.bucket, self.prefix)
    }

    /// The prefix of the trash of this pair.
    pub fn trash_prefix(&self) -> String {
        format!("{}{}", self.prefix, crate::TRASH_DIR)
    }

    /// Checks the fields a pair must have right.
    pub fn validate(&self) -> Result<()> {
        ossvault_ops::profiles::validate_name(&self.name)
            .map_err(|e| Error::InvalidInput(format!("pair name: {e}")))?;
        if !self.local.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "the local folder must be an absolute path, not {}",
                self.local.display()
            )));
        }
        if self.bucket.is_empty() {
            return Err(Error::InvalidInput("no bucket".into()));
        }
        if !(0.0..=1.0).contains(&self.max_delete_share) {
            return Err(Error::InvalidInput(
                "max_delete_share must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }
}

/// What a person gives to pair a folder (the app's dialog, its drop handler): the rest of
/// the [`Pair`] takes its defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPair {
    /// An existing folder.
    pub local: PathBuf,
    /// The connection profile.
    pub profile: Option<String>,
    pub bucket: String,
    pub prefix: String,
    /// A keystore key name, `kms:ID`, or none (plain).
    pub key: Option<String>,
    pub mode: Mode,
    /// The pair's name [default: the folder's name, made unique].
    #[serde(default)]
    pub name: Option<String>,
}

/// A pair name made of `folder`'s name: letters, digits, `.`, `_`, `-` kept, anything else
/// `-`, at most 64 characters, never empty.
fn name_of_folder(folder: &Path) -> String {
    let raw = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name = name.trim_matches(|c| c == '-' || c == '.').to_owned();
    if name.is_empty() {
        name = "folder".into();
    }
    name
}

/// What [`PairStore::rename_key`] did.
#[derive(Debug, Clone)]
pub struct RenamedKey {
    /// The key under its new name.
    pub key: ossvault_keystore::KeyInfo,
    /// The pairs that encrypt with it, now bound to the new name.
    pub pairs: Vec<String>,
}

/// The name of the pairs file in the sync directory.
pub(crate) const PAIRS_FILE: &str = "pairs.json";

/// The pairs file and the per-pair state directories under one sync directory
/// (`<config dir>/sync`).
#[derive(Debug, Clone)]
pub struct PairStore {
    dir: PathBuf,
    /// The pairs as last read, with the file's stamp then (shared by the clones): every pair's
    /// loop asks for its pair every few seconds, and the file is parsed again only when
    /// another save replaced it.
    cache: Arc<Mutex<Option<ReadPairs>>>,
}

/// The pairs read from the file, with the file's stamp at that time.
type ReadPairs = (FileStamp, Vec<Pair>);

/// What tells one version of the pairs file from another: a save writes a new file and
/// renames it over the old one (a new inode, size and times).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PairsFile {
    #[serde(default)]
    pairs: Vec<Pair>,
}

impl PairStore {
    /// The store in `dir` (created, owner-only, on first write).
    pub fn new(dir: PathBuf) -> PairStore {
        PairStore {
            dir,
            cache: Arc::default(),
        }
    }

    /// `<config dir>/sync` (`$OSSVAULT_CONFIG_DIR/sync` when set).
    pub fn open_default() -> Result<PairStore> {
        Ok(PairStore::new(
            ossvault_ops::profiles::config_dir()?.join("sync"),
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self) -> PathBuf {
        self.dir.join(PAIRS_FILE)
    }

    /// The directory of a pair's index, checkpoints and logs.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.join("pairs").join(name)
    }

    /// Every pair, in name order.
    pub fn list(&self) -> Result<Vec<Pair>> {
        let path = self.file();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = match std::fs::metadata(&path) {
            Ok(meta) => FileStamp::of(&meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *cache = None;
                return Ok(Vec::new());
            }
            Err(e) => return Err(Error::io(&path)(e)),
        };
        if let Some((seen, pairs)) = cache.as_ref() {
            if *seen == stamp {
                return Ok(pairs.clone());
            }
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path)(e)),
        };
        let file: PairsFile = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let mut pairs = file.pairs;
        pairs.sort_by(|a, b| a.name.cmp(&b.name));
        // Replaced between the stamp and the read: the next call reads it again.
        *cache = Some((stamp, pairs.clone()));
        Ok(pairs)
    }

    /// The pairs that encrypt with keystore key `key_name`: deleting that key would stop them
    /// and leave what they stored unreadable, so the keystore refuses it while any is bound.
    pub fn using_key(&self, key_name: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|p| p.key.as_deref() == Some(key_name))
            .map(|p| p.name)
            .collect())
    }

    /// Points the pairs bound to keystore key `from` (all of them, or those in `only`) at key
    /// `to`; returns the names of the pairs changed.
    fn rebind_key(&self, from: &str, to: &str, only: Option<&[String]>) -> Result<Vec<String>> {
        let mut pairs = self.list()?;
        let mut changed = Vec::new();
        for p in &mut pairs {
            if p.key.as_deref() == Some(from) && only.is_none_or(|o| o.contains(&p.name)) {
                p.key = Some(to.to_owned());
                changed.push(p.name.clone());
            }
        }
        if !changed.is_empty() {
            self.save(pairs)?;
        }
        Ok(changed)
    }

    /// Renames keystore key `old` to `new` ([`ossvault_ops::keys::rename`]) and rebinds the
    /// pairs that encrypt with it, which name their key by name. Objects name keys by
    /// fingerprint, which a rename keeps: everything stored stays readable, and a pair that is
    /// syncing now goes on with the key it resolved when it started.
    ///
    /// The refusals (no key `old`, `new` invalid or taken) come before any change. The pairs
    /// are rebound first, then the key is renamed (if that fails, they are bound back): a
    /// crash in between leaves pairs naming `new` and the key still called `old`, and running
    /// the same rename again finishes it.
    pub fn rename_key(&self, keystore: &Keystore, old: &str, new: &str) -> Result<RenamedKey> {
        keystore.get(old).map_err(ossvault_ops::Error::from)?;
        ossvault_keystore::validate_name(new).map_err(ossvault_ops::Error::from)?;
        if keystore.get(new).is_ok() {
            let taken = ossvault_keystore::Error::KeyExists { name: new.into() };
            return Err(ossvault_ops::Error::from(taken).into());
        }
        let pairs = self.rebind_key(old, new, None)?;
        match ossvault_ops::keys::rename(keystore, old, new) {
            Ok(key) => Ok(RenamedKey { key, pairs }),
            Err(e) => {
                if !pairs.is_empty() {
                    let _ = self.rebind_key(new, old, Some(&pairs));
                }
                Err(e.into())
            }
        }
    }

    /// The pair named `name`.
    pub fn get(&self, name: &str) -> Result<Pair> {
        self.list()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NoSuchPair(name.to_owned()))
    }

    fn save(&self, pairs: Vec<Pair>) -> Result<()> {
        ossvault_fs::create_private_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        let text = serde_json::to_string_pretty(&PairsFile { pairs })
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let path = self.file();
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
        ossvault_fs::write_durably(&path, text.as_bytes(), ossvault_fs::MODE_OWNER_ONLY)
            .map_err(Error::io(&path))
    }

    /// Adds a pair: refused if the name is taken, or if another pair syncs the same folder
    /// to the same bucket and prefix.
    pub fn add(&self, pair: Pair) -> Result<()> {
        pair.validate()?;
        let mut pairs = self.list()?;
        if pairs.iter().any(|p| p.name == pair.name) {
            return Err(Error::PairExists(format!(
                "a pair named {:?} exists already",
                pair.name
            )));
        }
        // A removed pair of that name whose process has not let go yet: its index must not
        // be taken for the new pair's.
        if self.state_dir(&pair.name).exists() && !self.clear_state(&pair.name)? {
            return Err(Error::Locked(pair.name));
        }
        if let Some(p) = pairs
            .iter()
            .find(|p| p.local == pair.local && p.bucket == pair.bucket && p.prefix == pair.prefix)
        {
            return Err(Error::PairExists(format!(
                "the pair {:?} syncs {} with {} already",
                p.name,
                p.local.display(),
                p.remote_url()
            )));
        }
        pairs.push(pair);
        self.save(pairs)
    }

    /// Pairs a folder as a person asks: the folder must exist and be in no pair yet (nor
    /// inside or around one), `key_exists` must accept the key; the name defaults to the
    /// folder's, made unique. Returns the pair added.
    pub fn create(
        &self,
        new: NewPair,
        key_exists: impl FnOnce(&str) -> Result<()>,
    ) -> Result<Pair> {
        let meta = std::fs::metadata(&new.local).map_err(|e| {
            Error::InvalidInput(format!(
                "the folder {} cannot be read: {e}",
                new.local.display()
            ))
        })?;
        if !meta.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{} is not a folder",
                new.local.display()
            )));
        }
        let local = std::fs::canonicalize(&new.local).map_err(Error::io(&new.local))?;
        let pairs = self.list()?;
        if let Some(p) = pairs
            .iter()
            .find(|p| local.starts_with(&p.local) || p.local.starts_with(&local))
        {
            return Err(Error::PairExists(if p.local == local {
                format!("{} is synced already (pair {:?})", local.display(), p.name)
            } else {
                format!(
                    "{} overlaps the folder {} of the pair {:?}",
                    local.display(),
                    p.local.display(),
                    p.name
                )
            }));
        }
        if let Some(key) = new.key.as_deref().filter(|k| !k.starts_with("kms:")) {
            key_exists(key)?;
        }
        let name = match new.name {
            Some(n) => n,
            None => {
                let base = name_of_folder(&local);
                let mut name = base.clone();
                let mut n = 1;
                while pairs.iter().any(|p| p.name == name) {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                name
            }
        };
        let mut pair = Pair::new(&name, local, &new.bucket, &new.prefix);
        pair.key = new.key.filter(|k| !k.is_empty());
        pair.mode = new.mode;
        pair.profile = new.profile;
        self.add(pair.clone())?;
        Ok(pair)
    }

    /// Changes a pair in place.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut Pair)) -> Result<Pair> {
        let mut pairs = self.list()?;
        let pair = pairs
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NoSuchPair(name.to_owned()))?;
        change(pair);
        pair.validate()?;
        let updated = pair.clone();
        self.save(pairs)?;
        Ok(updated)
    }

    /// Removes a pair and its local state (index, checkpoints); the folder and the objects
    /// stay. While another process syncs the pair, that process stops it (it follows the
    /// store: [`crate::SyncEngine::follow_store`]) and deletes its state.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut pairs = self.list()?;
        let before = pairs.len();
        pairs.retain(|p| p.name != name);
        if pairs.len() == before {
            return Err(Error::NoSuchPair(name.to_owned()));
        }
        self.save(pairs)?;
        self.clear_state(name)?;
        Ok(())
    }

    /// Deletes the state (index, checkpoints, lock file) of a pair that is no longer in the
    /// store, unless a process still syncs it; whether it was deleted.
    pub fn clear_state(&self, name: &str) -> Result<bool> {
        let lock = match self.lock(name) {
            Ok(lock) => lock,
            Err(Error::Locked(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        // Added again meanwhile: the state is the new pair's.
        if self.get(name).is_ok() {
            return Ok(false);
        }
        let state = self.state_dir(name);
        match std::fs::remove_dir_all(&state) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(state)(e)),
        }
        drop(lock);
        let _ = std::fs::remove_file(self.lock_path(name));
        Ok(true)
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.join("locks").join(format!("{name}.lock"))
    }

    /// Takes the pair's lock: held while the returned guard lives (and released by the OS
    /// if the process dies). Fails with [`Error::Locked`] when another process holds it.
    pub fn lock(&self, name: &str) -> Result<PairLock> {
        let path = self.lock_path(name);
        let dir = path.parent().expect("lock in a directory");
        ossvault_fs::create_private_dir_all(dir).map_err(Error::io(dir))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(PairLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(name.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path)(e)),
        }
    }

    /// Whether some process syncs the pair now.
    pub fn is_locked(&self, name: &str) -> bool {
        matches!(self.lock(name), Err(Error::Locked(_)))
    }
}

/// A held pair lock (released on drop).
#[derive(Debug)]
pub struct PairLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_sees_every_change_another_process_saves() {
        let dir = tempfile::tempdir().unwrap();
        let (app, cli) = (
            PairStore::new(dir.path().join("sync")),
            PairStore::new(dir.path().join("sync")),
        );
        assert!(app.list().unwrap().is_empty());
        cli.add(Pair::new("docs", dir.path().join("f"), "b", "p/"))
            .unwrap();
        assert!(!app.get("docs").unwrap().paused);
        // Quick saves of the same length one after the other: each one is seen.
        for round in 0..20 {
            let paused = round % 2 == 0;
            cli.update("docs", |p| p.paused = paused).unwrap();
            assert_eq!(app.get("docs").unwrap().paused, paused, "round {round}");
            cli.update("docs", |p| p.bandwidth_limit = Some(1000 + round))
                .unwrap();
            assert_eq!(app.get("docs").unwrap().bandwidth_limit, Some(1000 + round));
        }
        cli.remove("docs").unwrap();
        assert!(app.list().unwrap().is_empty());
    }

    #[test]
    fn pairs_persist_owner_only_and_lock_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairStore::new(dir.path().join("sync"));
        let local = dir.path().join("folder");
        store
            .add(Pair::new("docs", local.clone(), "b", "p"))
            .unwrap();
        assert!(matches!(
            store.add(Pair::new("other", local.clone(), "b", "p/")),
            Err(Error::PairExists(_))
        ));
        let p = store.get("docs").unwrap();
        assert_eq!(p.prefix, "p/");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let held = store.lock("docs").unwrap();
        assert!(matches!(store.lock("docs"), Err(Error::Locked(_))));
        store.update("docs", |p| p.paused = true).unwrap();
        assert!(store.get("docs").unwrap().paused);
        assert!(store.using_key("docs-key").unwrap().is_empty());
        store
            .update("docs", |p| p.key = Some("docs-key".into()))
            .unwrap();
        assert_eq!(store.using_key("docs-key").unwrap(), ["docs"]);
        assert!(store.using_key("kms:docs-key").unwrap().is_empty());
        // Removed while a process syncs it: the pair goes, its state stays for that process,
        // and the name cannot be reused until the state is gone.
        std::fs::create_dir_all(store.state_dir("docs")).unwrap();
        store.remove("docs").unwrap();
        assert!(matches!(store.get("docs"), Err(Error::NoSuchPair(_))));
        assert!(store.state_dir("docs").exists());
        assert!(matches!(
            store.add(Pair::new("docs", dir.path().join("g"), "b", "p/")),
            Err(Error::Locked(_))
        ));
        drop(held);
        assert!(store.clear_state("docs").unwrap());
        assert!(!store.state_dir("docs").exists());
        store
            .add(Pair::new("docs", dir.path().join("g"), "b", "p/"))
            .unwrap();
    }

    #[test]
    fn a_key_rename_rebinds_the_pairs_that_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(
            dir.path().join("config"),
            ossvault_keystore::Backend::PassphraseFile {
                path: dir.path().join("keys.ossvault"),
                passphrase: zeroize::Zeroizing::new("pw".into()),
            },
        )
        .unwrap();
        let key = keystore
            .generate("docs-key", ossvault_keystore::KeyKind::Aes256)
            .unwrap();
        keystore
            .generate("other", ossvault_keystore::KeyKind::Aes256)
            .unwrap();
        let store = PairStore::new(dir.path().join("sync"));
        for (name, k) in [("a", "docs-key"), ("b", "kms:docs-key"), ("c", "other")] {
            let mut p = Pair::new(name, dir.path().join(name), "b", "");
            p.key = Some(k.into());
            store.add(p).unwrap();
        }
        let keys_of = || -> Vec<Option<String>> {
            store.list().unwrap().into_iter().map(|p| p.key).collect()
        };
        let before = keys_of();

        // Refused before anything changes.
        let code = |r: Result<RenamedKey>| r.unwrap_err().code().to_owned();
        assert_eq!(
            code(store.rename_key(&keystore, "docs-key", "other")),
            "KeyExists"
        );
        assert_eq!(
            code(store.rename_key(&keystore, "nope", "x")),
            "KeyNotFound"
        );
        assert_eq!(
            code(store.rename_key(&keystore, "docs-key", "a/b")),
            "InvalidKeyName"
        );
        assert_eq!(keys_of(), before);

        let renamed = store
            .rename_key(&keystore, "docs-key", "team-docs")
            .unwrap();
        assert_eq!(renamed.pairs, ["a"]);
        assert_eq!(renamed.key.fingerprint, key.fingerprint);
        assert_eq!(
            keys_of(),
            [
                Some("team-docs".into()),
                Some("kms:docs-key".into()),
                Some("other".into())
            ]
        );
        assert!(store.using_key("docs-key").unwrap().is_empty());

        // Stopped between the pairs and the key (pairs name the new name, the key has the
        // old one): the same rename again finishes it.
        store.update("c", |p| p.key = Some("main".into())).unwrap();
        let again = store.rename_key(&keystore, "other", "main").unwrap();
        assert!(again.pairs.is_empty());
        assert_eq!(store.using_key("main").unwrap(), ["c"]);
        assert!(keystore.get("main").is_ok() && keystore.get("other").is_err());
    }

    #[test]
    fn create_checks_the_folder_the_overlap_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairStore::new(dir.path().join("sync"));
        let folder = dir.path().join("My Photos");
        let new = |local: PathBuf, key: Option<&str>| NewPair {
            local,
            profile: Some("local".into()),
            bucket: "b".into(),
            prefix: "photos".into(),
            key: key.map(str::to_owned),
            mode: Mode::TwoWay,
            name: None,
        };
        let no_key = |k: &str| Err(Error::InvalidInput(format!("no key {k}")));
        // Missing folder, unknown key.
        assert!(matches!(
            store.create(new(folder.clone(), None), |_| Ok(())),
            Err(Error::InvalidInput(_))
        ));
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        assert!(matches!(
            store.create(new(folder.clone(), Some("nope")), no_key),
            Err(Error::InvalidInput(m)) if m.contains("nope")
        ));
        let pair = store
            .create(new(folder.clone(), Some("k")), |_| Ok(()))
            .unwrap();
        assert_eq!(pair.name, "My-Photos");
        assert_eq!(pair.prefix, "photos/");
        assert_eq!(pair.mode, Mode::TwoWay);
        assert_eq!(pair.profile.as_deref(), Some("local"));
        // The same folder, or one inside it, is refused whatever the prefix.
        for f in [folder.clone(), folder.join("sub")] {
            assert!(matches!(
                store.create(new(f, None), |_| Ok(())),
                Err(Error::PairExists(_))
            ));
        }
        // KMS keys are checked when the pair starts (the service knows them).
        let other = dir.path().join("x").join("My Photos");
        std::fs::create_dir_all(&other).unwrap();
        let p2 = store.create(new(other, Some("kms:abc")), no_key).unwrap();
        assert_eq!(p2.name, "My-Photos-2");
    }
}

//! The local side: a walk of the folder with the ignore rules (`.ossvaultignore` in gitignore
//! syntax, and built-in ignores for temp, lock and OS files), symbolic links not followed, and
//! the content hash of files whose metadata no longer matches the index.

use crate::error::{Error, Result};
use crate::index::{Index, IndexCursor};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The per-folder ignore file, gitignore syntax.
pub const IGNORE_FILE: &str = ".ossvaultignore";
/// Plaintext bytes per block of [`content_hash`] (multipart parts are whole blocks).
pub const HASH_BLOCK: u64 = 4 << 20;
/// Longest object key OSS takes.
const MAX_KEY: usize = 1023;

/// A regular file of the folder, or a sub-folder ([`is_folder`]: `rel` ends with `/`; its size,
/// mtime and inode are 0, so a folder stays the same folder while it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The `/`-separated path relative to the folder.
    pub rel: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    /// The content hash, when the scan had to read the file (metadata differs from the index
    /// but the size does not): tells an mtime-only change from an edit.
    pub hash: Option<String>,
    /// A sub-folder holding nothing the sync keeps. Such a folder is kept on the remote side as
    /// a `name/` object (as the OSS console makes folders); other sub-folders are listed too,
    /// so that an object of theirs stays while they exist.
    pub empty: bool,
}

/// Whether a relative path names a folder (its `name/` object).
pub fn is_folder(rel: &str) -> bool {
    rel.ends_with('/')
}

/// A path the walk could not sync, and why (reported, never silently dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// Whether the built-in rules ignore a file or folder name: OS litter, editor and office
/// lock and temp files, and sync's own trash and temp files.
pub fn builtin_ignored(name: &str) -> bool {
    name == ".DS_Store"
        || name == "Thumbs.db"
        || name == "desktop.ini"
        || name.starts_with("~$")
        || name.ends_with(".tmp")
        || (name.starts_with(".~lock.") && name.ends_with('#'))
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == crate::TRASH_DIR.trim_end_matches('/')
}

/// Modification time in nanoseconds since the epoch (negative before it).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        },
        Err(_) => 0,
    }
}

/// The inode on Unix; elsewhere 0 (the index then relies on size, mtime and hash).
pub fn inode(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::ino(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// The content hash of a file: SHA-256 over the SHA-256 of each [`HASH_BLOCK`] and the length,
/// so that parts of an upload can hash their blocks independently.
pub fn content_hash(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = BlockHasher::default();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

/// The incremental form of [`content_hash`].
#[derive(Default)]
pub struct BlockHasher {
    block: Sha256,
    in_block: u64,
    digests: Vec<[u8; 32]>,
    len: u64,
}

impl BlockHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = (HASH_BLOCK - self.in_block) as usize;
            let take = room.min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take as u64;
            self.len += take as u64;
            data = &data[take..];
            if self.in_block == HASH_BLOCK {
                self.digests
                    .push(std::mem::take(&mut self.block).finalize().into());
                self.in_block = 0;
            }
        }
    }

    /// The digests of the whole blocks so far (and of the partial last one at the end).
    pub fn into_digests(mut self) -> (Vec<[u8; 32]>, u64) {
        if self.in_block > 0 || self.digests.is_empty() {
            self.digests.push(self.block.finalize().into());
        }
        (self.digests, self.len)
    }

    pub fn finish(self) -> String {
        let (digests, len) = self.into_digests();
        combine(&digests, len)
    }
}

/// The content hash from block digests and the total length.
pub fn combine(digests: &[[u8; 32]], len: u64) -> String {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d);
    }
    h.update(len.to_le_bytes());
    hex::encode(h.finalize())
}

/// Why a relative path cannot become an object key, if it cannot.
fn unrepresentable(rel: &str) -> Option<String> {
    if rel.len() > MAX_KEY {
        return Some(format!(
            "the name is longer than {MAX_KEY} bytes as an object key"
        ));
    }
    if rel.contains('\\') {
        return Some("the name has a backslash, which Windows cannot hold".into());
    }
    if rel.chars().any(|c| c.is_control()) {
        return Some("the name has control characters".into());
    }
    None
}

/// The folder's ignore rules (the text of its `.ossvaultignore`, empty when it has none).
pub fn ignore_rules(root: &Path) -> Result<String> {
    let path = root.join(IGNORE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

/// Saves the folder's ignore rules (gitignore syntax) after checking every line; empty rules
/// remove the file. The next scan applies them.
pub fn set_ignore_rules(root: &Path, rules: &str) -> Result<()> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
    for (n, line) in rules.lines().enumerate() {
        builder
            .add_line(None, line)
            .map_err(|e| Error::InvalidInput(format!("line {}: {e}", n + 1)))?;
    }
    let path = root.join(IGNORE_FILE);
    if rules.trim().is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
            _ => Ok(()),
        };
    }
    let mut text = rules.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    ossvault_fs::write_durably(&path, text.as_bytes(), ossvault_fs::MODE_SHARED)
        .map_err(Error::io(path))
}

/// The folder walked in object-key order (the order of the index and of a listing), one entry
/// at a time, so that a pass holds no list of the folder: every regular file and sub-folder the
/// ignore rules keep, symbolic links not followed (reported), names an object key cannot hold
/// reported. A file whose size matches the index but whose mtime or inode does not is hashed
/// (the only content a walk reads).
pub struct Walk {
    root: PathBuf,
    entries: std::iter::Peekable<ignore::Walk>,
    index: Option<IndexCursor>,
    last: Option<String>,
    /// Paths not synced, and why (reported, never silently dropped).
    pub skipped: Vec<Skipped>,
    /// Files whose content the walk read (to tell an mtime-only change from an edit).
    pub hashed: u64,
    /// Files walked (folders not counted).
    pub files: u64,
}

/// Starts a walk of `root` (compared with `index` as it goes, when given).
pub fn walk(root: &Path, index: Option<&Index>) -> Result<Walk> {
    let meta = std::fs::metadata(root).map_err(|_| Error::LocalRootMissing(root.to_owned()))?;
    if !meta.is_dir() {
        return Err(Error::LocalRootMissing(root.to_owned()));
    }
    let entries = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|e| {
            e.depth() == 0 || e.file_name().to_str().is_none_or(|n| !builtin_ignored(n))
        })
        .sort_by_file_path(key_order)
        .build()
        .peekable();
    Ok(Walk {
        root: root.to_owned(),
        entries,
        index: index.map(Index::cursor).transpose()?,
        last: None,
        skipped: Vec::new(),
        hashed: 0,
        files: 0,
    })
}

/// Orders the entries of one folder as their object keys sort: a sub-folder's name as if it
/// ended with `/` (the file `a.txt` comes before the folder `a`, whose keys are `a/…`). Only
/// when one name starts with the other does that `/` matter, and only then is the type read.
fn key_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .as_encoded_bytes()
            .to_vec()
    };
    let (mut na, mut nb) = (name(a), name(b));
    let n = na.len().min(nb.len());
    if na[..n] != nb[..n] {
        return na.cmp(&nb);
    }
    for (name, path) in [(&mut na, a), (&mut nb, b)] {
        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            name.push(b'/');
        }
    }
    na.cmp(&nb)
}

impl Walk {
    /// The next file or folder in key order (`None`: the walk is done).
    pub fn next_file(&mut self) -> Result<Option<LocalFile>> {
        while let Some(entry) = self.entries.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.skipped.push(Skipped {
                        path: self.root.display().to_string(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let Some(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let rel_path = path.strip_prefix(&self.root).unwrap_or(path);
            let Some(rel) = rel_to_key(rel_path) else {
                self.skipped.push(Skipped {
                    path: path.display().to_string(),
                    reason: "the name is not valid UTF-8, which an object key must be".into(),
                });
                continue;
            };
            let file = if kind.is_dir() {
                if unrepresentable(&rel).is_some() {
                    continue;
                }
                // Anything the walk yields next inside it makes it a folder that holds something.
                let empty = !self.entries.peek().is_some_and(|next| {
                    next.as_ref()
                        .is_ok_and(|n| n.depth() > entry.depth() && n.path().starts_with(path))
                });
                LocalFile {
                    rel: rel + "/",
                    size: 0,
                    mtime_ns: 0,
                    inode: 0,
                    hash: None,
                    empty,
                }
            } else {
                if kind.is_symlink() {
                    self.skipped.push(Skipped {
                        path: rel,
                        reason: "a symbolic link (not followed)".into(),
                    });
                    continue;
                }
                if !kind.is_file() {
                    self.skipped.push(Skipped {
                        path: rel,
                        reason: "not a regular file".into(),
                    });
                    continue;
                }
                if let Some(reason) = unrepresentable(&rel) {
                    self.skipped.push(Skipped { path: rel, reason });
                    continue;
                }
                let Ok(meta) = entry.metadata() else {
                    continue; // gone since the folder was read
                };
                let mut file = LocalFile {
                    rel,
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    inode: inode(&meta),
                    hash: None,
                    empty: false,
                };
                self.hash_if_needed(&mut file)?;
                self.files += 1;
                file
            };
            // The merges that follow rely on the order: a walk out of it stops the pass rather
            // than plan deletions that are not.
            if self.last.as_ref().is_some_and(|last| *last >= file.rel) {
                return Err(Error::Index(format!(
                    "the walk of {} is out of key order at {}",
                    self.root.display(),
                    file.rel
                )));
            }
            self.last = Some(file.rel.clone());
            return Ok(Some(file));
        }
        Ok(None)
    }

    /// Hashes `file` when the index has it with the same size but other metadata.
    fn hash_if_needed(&mut self, file: &mut LocalFile) -> Result<()> {
        let Some(cursor) = self.index.as_mut() else {
            return Ok(());
        };
        let mut found = None;
        while let Some((rel, _)) = cursor.peek()? {
            match rel.as_str().cmp(file.rel.as_str()) {
                std::cmp::Ordering::Less => {
                    cursor.next_entry()?;
                }
                std::cmp::Ordering::Equal => {
                    found = cursor.next_entry()?.map(|(_, e)| e);
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        if let Some(e) = found {
            let same_meta =
                e.size == file.size && e.mtime_ns == file.mtime_ns && e.inode == file.inode;
            if !same_meta && e.size == file.size {
                // Gone or unreadable: judged on metadata.
                if let Ok(h) = content_hash(&self.root.join(rel_to_path(&file.rel))) {
                    file.hash = Some(h);
                    self.hashed += 1;
                }
            }
        }
        Ok(())
    }
}

/// A relative path as a `/`-joined key suffix (`None`: not UTF-8).
pub fn rel_to_key(rel: &Path) -> Option<String> {
    let mut s = String::new();
    for c in rel.components() {
        let part = c.as_os_str().to_str()?;
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(part);
    }
    Some(s)
}

/// A `/`-separated relative path as a platform path.
pub fn rel_to_path(rel: &str) -> PathBuf {
    rel.split('/').collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn ignore_rules_read_back_and_bad_lines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ignore_rules(dir.path()).unwrap(), "");
        set_ignore_rules(dir.path(), "*.log\ncache/").unwrap();
        assert_eq!(ignore_rules(dir.path()).unwrap(), "*.log\ncache/\n");
        std::fs::write(dir.path().join("a.log"), b"x").unwrap();
        std::fs::write(dir.path().join("a.txt"), b"x").unwrap();
        let found: Vec<String> = scan(dir.path(), None)
            .unwrap()
            .files
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(found, [".ossvaultignore", "a.txt"]);
        let err = set_ignore_rules(dir.path(), "ok\n[z-a]").unwrap_err();
        assert!(err.to_string().starts_with("line 2"), "{err}");
        assert_eq!(ignore_rules(dir.path()).unwrap(), "*.log\ncache/\n");
        set_ignore_rules(dir.path(), "  \n").unwrap();
        assert!(!dir.path().join(IGNORE_FILE).exists());
    }
    use super::*;

    /// What a walk found, at once.
    #[derive(Debug, Default)]
    struct Scan {
        files: Vec<LocalFile>,
        skipped: Vec<Skipped>,
        hashed: u64,
    }

    /// The whole walk of `root` (a pass streams [`walk`]).
    fn scan(root: &Path, index: Option<&Index>) -> Result<Scan> {
        let mut walk = walk(root, index)?;
        let mut files = Vec::new();
        while let Some(f) = walk.next_file()? {
            files.push(f);
        }
        Ok(Scan {
            files,
            skipped: walk.skipped,
            hashed: walk.hashed,
        })
    }

    #[test]
    fn builtin_ignores() {
        for name in [
            ".DS_Store",
            "Thumbs.db",
            "~$report.docx",
            "x.tmp",
            ".~lock.a.odt#",
            ".a.swp",
            ".ossvault-trash",
        ] {
            assert!(builtin_ignored(name), "{name}");
        }
        for name in ["report.docx", "tmp", "lock", "a.swap", ".ossvaultignore"] {
            assert!(!builtin_ignored(name), "{name}");
        }
    }

    #[test]
    fn block_hash_is_incremental_and_length_bound() {
        let data: Vec<u8> = (0..(HASH_BLOCK as usize * 2 + 5))
            .map(|i| i as u8)
            .collect();
        let mut a = BlockHasher::default();
        a.update(&data);
        let mut b = BlockHasher::default();
        for chunk in data.chunks(1 << 20 | 3) {
            b.update(chunk);
        }
        assert_eq!(a.finish(), b.finish());
        let mut empty = BlockHasher::default();
        empty.update(&[]);
        let mut zero = BlockHasher::default();
        zero.update(&[0]);
        assert_ne!(empty.finish(), zero.finish());
    }

    #[test]
    fn scan_reads_only_files_whose_metadata_left_the_index() {
        use crate::index::{IndexEntry, IndexUpdate};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        for rel in ["a.txt", "b/c.txt", "b/d.txt", "b.txt", "z"] {
            let path = root.join(rel_to_path(rel));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, rel).unwrap();
        }
        let index = Index::open(&dir.path().join("index.redb")).unwrap();
        let first = scan(&root, Some(&index)).unwrap();
        // Indexed as scanned, except "b/d.txt" (another mtime: read) and "b.txt" (another
        // size: not read, it is a change anyway); entries of files that are gone interleave.
        let mut updates: Vec<IndexUpdate> = ["0", "b/a", "b/e", "y"]
            .iter()
            .map(|rel| IndexUpdate::Put(rel.to_string(), entry_of(1, 1)))
            .collect();
        for f in &first.files {
            let e = match f.rel.as_str() {
                "b/d.txt" => entry_of(f.size, f.mtime_ns - 1),
                "b.txt" => entry_of(f.size + 1, f.mtime_ns),
                _ => entry_of(f.size, f.mtime_ns),
            };
            updates.push(IndexUpdate::Put(
                f.rel.clone(),
                IndexEntry {
                    inode: f.inode,
                    ..e
                },
            ));
        }
        index.apply(&updates).unwrap();
        let again = scan(&root, Some(&index)).unwrap();
        let read: Vec<&str> = again
            .files
            .iter()
            .filter(|f| f.hash.is_some())
            .map(|f| f.rel.as_str())
            .collect();
        assert_eq!(read, ["b/d.txt"]);
        assert_eq!(again.hashed, 1);
        assert_eq!(again.files.iter().filter(|f| !is_folder(&f.rel)).count(), 5);
    }

    fn entry_of(size: u64, mtime_ns: i64) -> crate::index::IndexEntry {
        crate::index::IndexEntry {
            size,
            mtime_ns,
            inode: 0,
            hash: String::new(),
            key: String::new(),
            etag: String::new(),
            key_fingerprint: String::new(),
        }
    }

    #[test]
    fn scan_applies_ignore_rules_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/build")).unwrap();
        std::fs::write(root.join("a/keep.txt"), b"k").unwrap();
        std::fs::write(root.join("a/build/out.o"), b"o").unwrap();
        std::fs::write(root.join("a/notes.log"), b"l").unwrap();
        std::fs::write(root.join("a/.DS_Store"), b"x").unwrap();
        std::fs::write(root.join("~$doc.docx"), b"x").unwrap();
        std::fs::write(root.join(IGNORE_FILE), b"*.log\nbuild/\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a"), root.join("link")).unwrap();
        let s = scan(root, None).unwrap();
        let rels: Vec<&str> = s.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, [IGNORE_FILE, "a/", "a/keep.txt"]);
        #[cfg(unix)]
        assert!(s.skipped.iter().any(|k| k.path == "link"));
    }

    #[test]
    fn the_walk_comes_in_object_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Names where a folder's `/` decides the order: `a.txt` < `a/…` < `a0`.
        for f in [
            "a/x", "a.txt", "a!", "a b/y", "a0", "a/b/c", "a/b.c", "a/b-c/d", "ab", "b", "é", "Z",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let s = scan(root, None).unwrap();
        let rels: Vec<&str> = s.files.iter().map(|f| f.rel.as_str()).collect();
        let mut sorted = rels.clone();
        sorted.sort();
        assert_eq!(rels, sorted);
        assert_eq!(rels.len(), 12 + 4, "{rels:?}"); // the files, and a/, a b/, a/b/, a/b-c/
    }

    #[test]
    fn folders_are_listed_and_the_empty_ones_marked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["empty", "outer/inner", "litter", "full/sub"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("litter/.DS_Store"), b"x").unwrap();
        std::fs::write(root.join("full/sub/f.txt"), b"f").unwrap();
        let s = scan(root, None).unwrap();
        let folders: Vec<(&str, bool)> = s
            .files
            .iter()
            .filter(|f| is_folder(&f.rel))
            .map(|f| {
                assert_eq!((f.size, f.mtime_ns, f.inode), (0, 0, 0));
                (f.rel.as_str(), f.empty)
            })
            .collect();
        assert_eq!(
            folders,
            [
                ("empty/", true),
                ("full/", false),
                ("full/sub/", false),
                ("litter/", true),
                ("outer/", false),
                ("outer/inner/", true),
            ]
        );
    }
}

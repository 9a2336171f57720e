//! Crash-test hooks, compiled only with the `failpoints` cargo feature (release builds carry
//! none of this):
//!
//! * **Failpoints** (the [`fail`] crate) at every write, fsync, rename and metadata commit of the
//!   store's write paths, listed in [`Failpoint::ALL`]. Configure them with
//!   `FAILPOINTS="name=action;name=action"` in the environment of a server built with the
//!   feature (read once by [`crate::start`]) or with [`configure`]. Besides `fail`'s own actions
//!   (`off`, `panic`, `sleep(ms)`, `pause`, `N*…`, `P%…`), `return(abort)` aborts the process
//!   right there (a crash at that exact point) and `return(eio)` makes the operation fail with
//!   an I/O error, as a failing disk would.
//! * **A power-loss simulation** ([`power`]): the store's fsyncs of content files and
//!   directories and the metadata database's syncs are recorded, and a crash image keeps only
//!   what they made durable (ALICE-style: un-synced file data and un-synced directory entries
//!   are lost). A switch skips the store's fsyncs, to show that the tests notice.

use std::io;

/// Defines [`Failpoint`], [`Failpoint::ALL`] and [`Failpoint::name`] from one list, so that a
/// failpoint added later cannot be missing from what the crash tests iterate over.
macro_rules! failpoints {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A point in the store's write paths where a crash or an I/O error can be injected.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Failpoint {
            $($(#[$doc])* $variant,)*
        }

        impl Failpoint {
            /// Every failpoint: crash tests iterate over this list.
            pub const ALL: &'static [Failpoint] = &[$(Failpoint::$variant,)*];

            /// The name `FAILPOINTS` configures it by.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Failpoint::$variant => $name,)*
                }
            }
        }
    };
}

failpoints! {
    /// A content file was created in `tmp/`, nothing written yet.
    BlobAfterCreate => "store::blob::after_create",
    /// Before each `write(2)` of content into the temp file.
    BlobBeforeWrite => "store::blob::before_write",
    /// All content written, before the temp file's fsync.
    BlobBeforeFsync => "store::blob::before_fsync",
    /// The content is durable, the blob not yet published.
    BlobAfterFsync => "store::blob::after_fsync",
    /// Before the rename of the temp file into `blobs/`.
    BlobBeforeRename => "store::blob::before_rename",
    /// Renamed, before the fsync of the `blobs/` fan-out directory.
    BlobAfterRename => "store::blob::after_rename",
    /// The blob's name is durable, before the metadata commit that references it.
    BlobAfterDirFsync => "store::blob::after_dir_fsync",
    /// Before the metadata transaction's commit (every write request has one).
    MetaBeforeCommit => "store::meta::before_commit",
    /// Committed, before the requests in the batch are told.
    MetaAfterCommit => "store::meta::after_commit",
    /// Before the unlink of a content file that a committed write dropped (an overwritten or
    /// deleted object's, an aborted upload's parts).
    BlobBeforeUnlink => "store::blob::before_unlink",
}

/// What an invalid failpoint configuration is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0:?} is not `name=action`")]
    Syntax(String),
    #[error("no failpoint is named {0:?}")]
    UnknownName(String),
    #[error("failpoint {name}: {message}")]
    Action { name: String, message: String },
}

/// Applies a `FAILPOINTS`-style configuration: `name=action` pairs separated by `;`. Names must
/// be in [`Failpoint::ALL`], so that a misspelt name fails instead of testing nothing.
pub fn configure(spec: &str) -> Result<(), ConfigError> {
    for pair in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, action) = pair
            .split_once('=')
            .ok_or_else(|| ConfigError::Syntax(pair.to_owned()))?;
        let name = name.trim();
        if !Failpoint::ALL.iter().any(|fp| fp.name() == name) {
            return Err(ConfigError::UnknownName(name.to_owned()));
        }
        fail::cfg(name, action.trim()).map_err(|message| ConfigError::Action {
            name: name.to_owned(),
            message,
        })?;
    }
    Ok(())
}

/// Applies `FAILPOINTS` from the environment, once per process.
pub(crate) fn configure_from_env() -> Result<(), ConfigError> {
    static DONE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    DONE.call_once(|| {
        if let Ok(spec) = std::env::var("FAILPOINTS") {
            result = configure(&spec);
            if result.is_ok() {
                tracing::warn!(failpoints = %spec, "failpoints configured");
            }
        }
    });
    result
}

/// Evaluates a failpoint: `Some(error)` when it is configured to inject one (`return(eio)`);
/// `return(abort)` does not return.
pub(crate) fn eval(fp: Failpoint) -> Option<io::Error> {
    fail::eval(fp.name(), |arg| match arg.as_deref() {
        Some("abort") => {
            tracing::error!(failpoint = fp.name(), "failpoint: aborting the process");
            std::process::abort()
        }
        _ => io::Error::other(format!("failpoint {}: injected I/O error (EIO)", fp.name())),
    })
}

pub mod power {
    //! The power-loss simulation: what the store made durable, and a crash image of only that.
    //!
    //! While a data directory is tracked ([`track`], on an empty directory, before the store
    //! opens it), every fsync of a content file records the file's bytes, every fsync of a
    //! directory records its entries (listed just before the fsync, so that an entry renamed in
    //! by another thread meanwhile is not counted before its own fsync), and every sync of the
    //! metadata database records its bytes. [`crash_image`] then writes the directory as a
    //! power cut would leave it under the strictest reading of POSIX: directories hold only
    //! their entries as of their last fsync, files only their bytes as of their last fsync (a
    //! file whose entry survived but whose data never was synced is empty). Files are known by
    //! (device, inode, birth time), so a reused inode number is not mistaken for the old file.

    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::fs;
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Which of the store's fsyncs to skip.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Skip {
        Nothing,
        /// The fsync of each content file before it is published.
        FileData,
        /// The fsync of `blobs/` directories after a blob is renamed into them.
        Directories,
        /// The metadata database's syncs (each commit's; inline content is committed with its
        /// record, so this loses small objects as a content fsync loses large ones).
        Metadata,
    }

    type FileId = (u64, u64, i128);
    /// A directory entry: name, file, whether it is a directory.
    type Entry = (OsString, FileId, bool);

    struct Ledger {
        root: PathBuf,
        root_id: FileId,
        skip: Skip,
        /// Order of directory listings, so that an older listing never replaces a newer one.
        clock: u64,
        files: HashMap<FileId, Vec<u8>>,
        dirs: HashMap<FileId, (u64, Vec<Entry>)>,
    }

    static LEDGER: Mutex<Option<Ledger>> = Mutex::new(None);

    fn ledger() -> std::sync::MutexGuard<'static, Option<Ledger>> {
        LEDGER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn id_of(meta: &fs::Metadata) -> FileId {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        (meta.dev(), meta.ino(), born)
    }

    /// Starts tracking `root`, an empty directory whose own entry counts as durable.
    pub fn track(root: &Path) -> io::Result<()> {
        let root = root.canonicalize()?;
        if fs::read_dir(&root)?.next().is_some() {
            return Err(io::Error::other(format!(
                "{} is not empty: tracking starts on an empty directory",
                root.display()
            )));
        }
        let root_id = id_of(&fs::metadata(&root)?);
        *ledger() = Some(Ledger {
            root,
            root_id,
            skip: Skip::Nothing,
            clock: 0,
            files: HashMap::new(),
            dirs: HashMap::new(),
        });
        Ok(())
    }

    /// Stops tracking (the next store opens its database as usual).
    pub fn stop() {
        *ledger() = None;
    }

    /// Sets which of the store's fsyncs are skipped from now on.
    pub fn set_skip(skip: Skip) {
        if let Some(l) = ledger().as_mut() {
            l.skip = skip;
        }
    }

    /// Whether the fsync `what` of `path` is to be skipped.
    pub(crate) fn skips(what: Skip, path: &Path) -> bool {
        let guard = ledger();
        let Some(l) = guard.as_ref().filter(|l| l.skip == what) else {
            return false;
        };
        path.canonicalize().is_ok_and(|p| p.starts_with(&l.root))
    }

    /// Whether `path` is inside the tracked directory.
    pub(crate) fn tracks(path: &Path) -> bool {
        let Ok(path) = path.canonicalize() else {
            return false;
        };
        ledger().as_ref().is_some_and(|l| path.starts_with(&l.root))
    }

    /// Records a file's bytes after its fsync.
    pub(crate) fn synced_file(path: &Path) {
        let mut guard = ledger();
        let Some(l) = guard.as_mut() else { return };
        // Read under the lock: a crash image is never taken half-way through a record.
        if let (Ok(meta), Ok(bytes)) = (fs::metadata(path), fs::read(path)) {
            if path.canonicalize().is_ok_and(|p| p.starts_with(&l.root)) {
                l.files.insert(id_of(&meta), bytes);
            }
        }
    }

    /// A directory's entries, listed before its fsync; pass them to [`synced_dir`] after it.
    pub(crate) struct Listing {
        dir: FileId,
        at: u64,
        entries: Vec<Entry>,
    }

    pub(crate) fn list_dir(dir: &Path) -> Option<Listing> {
        let mut guard = ledger();
        let l = guard.as_mut()?;
        if !dir.canonicalize().is_ok_and(|p| p.starts_with(&l.root)) {
            return None;
        }
        l.clock += 1;
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).ok()?.flatten() {
            // An entry removed since the listing started is simply not there.
            if let Ok(meta) = fs::symlink_metadata(entry.path()) {
                entries.push((entry.file_name(), id_of(&meta), meta.is_dir()));
            }
        }
        Some(Listing {
            dir: id_of(&fs::metadata(dir).ok()?),
            at: l.clock,
            entries,
        })
    }

    pub(crate) fn synced_dir(listing: Option<Listing>) {
        let mut guard = ledger();
        let (Some(listing), Some(l)) = (listing, guard.as_mut()) else {
            return;
        };
        let newer = l
            .dirs
            .get(&listing.dir)
            .is_none_or(|(at, _)| *at < listing.at);
        if newer {
            l.dirs.insert(listing.dir, (listing.at, listing.entries));
        }
    }

    /// Writes what a power cut now would leave of the tracked directory into `dest` (created;
    /// must not exist).
    pub fn crash_image(dest: &Path) -> io::Result<()> {
        let guard = ledger();
        let l = guard
            .as_ref()
            .ok_or_else(|| io::Error::other("no directory is tracked"))?;
        fn copy(l: &Ledger, dir: FileId, dest: &Path) -> io::Result<()> {
            fs::create_dir(dest)?;
            let Some((_, entries)) = l.dirs.get(&dir) else {
                return Ok(());
            };
            for (name, id, is_dir) in entries {
                if *is_dir {
                    copy(l, *id, &dest.join(name))?;
                } else {
                    let bytes = l.files.get(id).map_or(&[][..], Vec::as_slice);
                    fs::write(dest.join(name), bytes)?;
                }
            }
            Ok(())
        }
        copy(l, l.root_id, dest)
    }

    /// The metadata database's storage while its directory is tracked: a file whose syncs are
    /// recorded.
    #[derive(Debug)]
    pub(crate) struct TrackedFile {
        inner: redb::backends::FileBackend,
        path: PathBuf,
    }

    impl TrackedFile {
        /// Opens (creating) the file as `redb::Builder::create` does.
        pub(crate) fn open(path: &Path) -> Result<TrackedFile, redb::DatabaseError> {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            Ok(TrackedFile {
                inner: redb::backends::FileBackend::new(file)?,
                path: path.to_owned(),
            })
        }
    }

    impl redb::StorageBackend for TrackedFile {
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }

        fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            self.inner.read(offset, len)
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.inner.set_len(len)
        }

        fn sync_data(&self, eventual: bool) -> io::Result<()> {
            if skips(Skip::Metadata, &self.path) {
                return Ok(());
            }
            self.inner.sync_data(eventual)?;
            if !eventual {
                synced_file(&self.path);
            }
            Ok(())
        }

        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.inner.write(offset, data)
        }
    }
}

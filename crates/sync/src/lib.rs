//! Watched-folder sync with client-side encryption, as a library for the CLI and the desktop
//! app.
//!
//! A [`Pair`] joins a local folder to a bucket and prefix, with a master key (a keystore key,
//! `kms:ID`, or none) and a [`Mode`]. Pairs persist owner-only in the config directory
//! ([`PairStore`]); one process at a time syncs a pair (a lock file). Each pair has a redb
//! [`Index`] of the last synced state of each path, so a restart reads no unchanged file.
//!
//! A pass scans the folder ([`scan`]), lists the remote side, and the pure [`plan`] turns the
//! three into actions, which [`exec`] carries out with bounded concurrency: conditional writes
//! (`x-oss-forbid-overwrite` for new objects, `If-Match` for updates), resumable (encrypted)
//! multipart uploads, downloads renamed into place only over an unchanged file, conflicts kept
//! as `name.conflict-YYYYMMDD-HHMMSS.ext`, replaced and deleted versions kept under
//! `.ossvault-trash/` ([`restore`]). [`PairSync::watch`] runs passes on file-system events,
//! a periodic rescan, remote polls and retries with backoff; [`SyncEngine`] runs many pairs.

pub mod conflict;
pub mod engine;
mod error;
pub mod exec;
pub mod index;
pub mod pair;
pub mod plan;
pub mod restore;
pub mod scan;
pub mod status;
pub mod upload;

pub use conflict::{OpenConflict, Resolution};
pub use engine::{
    conflicts, read_status, ConflictRecord, Connector, FileRow, FilesPage, Follow, PairOverview,
    PairSync, PassReport, RunOptions, SyncEngine,
};
pub use error::{Error, Result};
pub use index::{Index, IndexEntry};
pub use pair::{Mode, NewPair, Pair, PairLock, PairStore, RenamedKey};
pub use status::{notices, FileState, Notice, Overall, PairState, PairStatus};

/// The folder (locally) and the prefix part (remotely) where replaced and deleted versions
/// are kept.
pub const TRASH_DIR: &str = ".ossvault-trash/";

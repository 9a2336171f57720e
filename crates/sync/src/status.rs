//! What a pair is doing, for the app and `sync status`: the pair's state, counts and bytes of
//! the pass in progress, and the files in flight or in trouble. Streamed through a
//! `tokio::sync::watch` and mirrored (owner-only) in the pair's state directory for other
//! processes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PairState {
    /// Not started in this process.
    #[default]
    Stopped,
    Idle,
    Scanning,
    Syncing,
    Paused,
    /// The service cannot be reached; the next attempt is in `retry_in_s` seconds.
    Offline {
        retry_in_s: u64,
        reason: String,
    },
    /// A transient failure; the next attempt is in `retry_in_s` seconds.
    Retrying {
        retry_in_s: u64,
        reason: String,
    },
    /// A failure that needs the user (a missing key, a refused mass deletion…).
    Error {
        code: String,
        reason: String,
    },
}

/// The state of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FileState {
    Pending,
    Transferring {
        percent: u8,
    },
    Synced,
    Conflict {
        copy: String,
    },
    Error {
        code: String,
        reason: String,
    },
    /// The remote cannot hold the name, or the file is not a regular file.
    Skipped {
        reason: String,
    },
}

/// A pair's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PairStatus {
    pub pair: String,
    #[serde(flatten)]
    pub state: PairState,
    /// Actions of the pass in progress: done of total.
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Indexed (synced) files.
    pub indexed: u64,
    /// Files in flight, in conflict, in error or skipped (at most [`MAX_FILES`]).
    pub files: BTreeMap<String, FileState>,
    /// Unix milliseconds of the last completed pass.
    pub last_sync_ms: Option<u64>,
    /// The process that syncs the pair.
    pub pid: u32,
}

/// Most files a status lists.
pub const MAX_FILES: usize = 200;

impl PairStatus {
    /// `syncing 3 of 10 (1.2 MiB of 4 MiB)`, `offline, retrying in 4 s`…
    pub fn summary(&self) -> String {
        match &self.state {
            PairState::Stopped => "stopped".into(),
            PairState::Idle => format!("idle, {} files in sync", self.indexed),
            PairState::Scanning => "scanning".into(),
            PairState::Syncing => format!(
                "syncing {} of {} ({} of {} bytes)",
                self.files_done, self.files_total, self.bytes_done, self.bytes_total
            ),
            PairState::Paused => "paused".into(),
            PairState::Offline { retry_in_s, reason } => {
                format!("offline, retrying in {retry_in_s} s ({reason})")
            }
            PairState::Retrying { retry_in_s, reason } => {
                format!("retrying in {retry_in_s} s ({reason})")
            }
            PairState::Error { reason, .. } => format!("error: {reason}"),
        }
    }
}

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
            PairState::Paused if self.files_done < self.files_total => {
                format!("paused at {} of {}", self.files_done, self.files_total)
            }
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

/// The state of all pairs together (the tray's line), worst first: an error, offline or
/// retrying, syncing, all paused, idle; `None` when there are no pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "overall", rename_all = "kebab-case")]
pub enum Overall {
    None,
    Error { pairs: usize },
    Offline { pairs: usize },
    Syncing { done: u64, total: u64 },
    Paused,
    Idle,
}

impl Overall {
    pub fn of(statuses: &[PairStatus]) -> Overall {
        let count = |f: fn(&PairState) -> bool| statuses.iter().filter(|s| f(&s.state)).count();
        if statuses.is_empty() {
            return Overall::None;
        }
        let errors = count(|s| matches!(s, PairState::Error { .. }));
        if errors > 0 {
            return Overall::Error { pairs: errors };
        }
        let offline =
            count(|s| matches!(s, PairState::Offline { .. } | PairState::Retrying { .. }));
        if offline > 0 {
            return Overall::Offline { pairs: offline };
        }
        if count(|s| matches!(s, PairState::Syncing | PairState::Scanning)) > 0 {
            let active = || statuses.iter().filter(|s| s.state == PairState::Syncing);
            return Overall::Syncing {
                done: active().map(|s| s.files_done).sum(),
                total: active().map(|s| s.files_total).sum(),
            };
        }
        if count(|s| *s == PairState::Paused) == statuses.len() {
            return Overall::Paused;
        }
        Overall::Idle
    }
}

/// Something a person should hear about even with the window closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Notice {
    /// A file changed on both sides: both versions were kept.
    Conflict { pair: String, path: String },
    /// The pair stopped on an error that needs the person.
    Error { pair: String, reason: String },
}

/// What changed from `before` to `after` (every pair's status) that deserves a notice: new
/// conflicts, and pairs that entered the error state (or changed error).
pub fn notices(before: &[PairStatus], after: &[PairStatus]) -> Vec<Notice> {
    let mut out = Vec::new();
    for next in after {
        let prev = before.iter().find(|p| p.pair == next.pair);
        for (path, state) in &next.files {
            let was_conflict = prev
                .and_then(|p| p.files.get(path))
                .is_some_and(|f| matches!(f, FileState::Conflict { .. }));
            if matches!(state, FileState::Conflict { .. }) && !was_conflict {
                out.push(Notice::Conflict {
                    pair: next.pair.clone(),
                    path: path.clone(),
                });
            }
        }
        if let PairState::Error { reason, .. } = &next.state {
            if prev.is_none_or(|p| p.state != next.state) {
                out.push(Notice::Error {
                    pair: next.pair.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_state_is_the_worst() {
        let st = |state: PairState, done, total| PairStatus {
            state,
            files_done: done,
            files_total: total,
            ..Default::default()
        };
        assert_eq!(Overall::of(&[]), Overall::None);
        assert_eq!(
            Overall::of(&[st(PairState::Idle, 0, 0), st(PairState::Paused, 0, 0)]),
            Overall::Idle
        );
        assert_eq!(Overall::of(&[st(PairState::Paused, 0, 0)]), Overall::Paused);
        let syncing = [
            st(PairState::Syncing, 2, 5),
            st(PairState::Syncing, 1, 3),
            st(PairState::Idle, 9, 9),
        ];
        assert_eq!(
            Overall::of(&syncing),
            Overall::Syncing { done: 3, total: 8 }
        );
        let offline = PairState::Offline {
            retry_in_s: 4,
            reason: "down".into(),
        };
        assert_eq!(
            Overall::of(&[st(offline, 0, 0), st(PairState::Syncing, 1, 2)]),
            Overall::Offline { pairs: 1 }
        );
        let error = PairState::Error {
            code: "X".into(),
            reason: "y".into(),
        };
        assert_eq!(
            Overall::of(&[st(error, 0, 0), st(PairState::Syncing, 1, 2)]),
            Overall::Error { pairs: 1 }
        );
    }

    #[test]
    fn a_pause_in_the_middle_of_a_pass_says_how_far_it_got() {
        let paused = |done, total| PairStatus {
            state: PairState::Paused,
            files_done: done,
            files_total: total,
            ..Default::default()
        };
        assert_eq!(paused(2, 5).summary(), "paused at 2 of 5");
        assert_eq!(paused(5, 5).summary(), "paused");
        assert_eq!(paused(0, 0).summary(), "paused");
    }

    #[test]
    fn notices_are_new_conflicts_and_new_errors() {
        let mut a = PairStatus {
            pair: "a".into(),
            state: PairState::Syncing,
            ..Default::default()
        };
        let before = vec![a.clone()];
        a.files.insert(
            "x.txt".into(),
            FileState::Conflict {
                copy: "x.conflict-1.txt".into(),
            },
        );
        a.state = PairState::Error {
            code: "NoSuchKey".into(),
            reason: "key k is missing".into(),
        };
        let after = vec![a.clone()];
        assert_eq!(
            notices(&before, &after),
            [
                Notice::Conflict {
                    pair: "a".into(),
                    path: "x.txt".into()
                },
                Notice::Error {
                    pair: "a".into(),
                    reason: "key k is missing".into()
                }
            ]
        );
        // Nothing new: nothing said again (progress alone is no news).
        a.files_done += 1;
        assert!(notices(&after, &[a]).is_empty());
    }
}

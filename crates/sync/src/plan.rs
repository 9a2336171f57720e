//! The planner: from the local tree, the index and the remote listing to the actions of a
//! pass. Pure (no I/O), so that every combination is a table test.

use crate::index::IndexEntry;
use crate::pair::Mode;
use crate::scan::LocalFile;

/// One object of the remote listing, under the pair's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// The key relative to the prefix.
    pub rel: String,
    pub etag: String,
    pub size: u64,
}

/// How an upload may write the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new object: refused if one appeared meanwhile (`x-oss-forbid-overwrite`).
    Create,
    /// Replace the object with this ETag only (`If-Match`); the replaced version goes to the
    /// trash first.
    Replace { etag: String },
}

/// What a pass does about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Upload {
        rel: String,
        write: Write,
    },
    /// Download the object with `etag`; the local file must still be as the scan saw it
    /// (`expect`, `None`: absent), else the download waits for the next pass.
    Download {
        rel: String,
        etag: String,
        expect: Option<Stamp>,
    },
    /// Move the object (with this ETag) to the trash.
    DeleteRemote {
        rel: String,
        etag: String,
    },
    /// Delete the local file, if it is still as the scan saw it.
    DeleteLocal {
        rel: String,
        expect: Stamp,
    },
    /// Both sides changed since the last sync: keep both versions.
    Conflict {
        rel: String,
        remote_etag: String,
        expect: Stamp,
    },
    /// Both sides have the path and the index knows neither: compare contents, then index
    /// (same) or handle as a conflict (different).
    Reconcile {
        rel: String,
        remote_etag: String,
        expect: Stamp,
    },
    /// Only the local metadata changed (same content): update the index, transfer nothing.
    Touch {
        rel: String,
        stamp: Stamp,
    },
    /// Gone on both sides: forget the path.
    Forget {
        rel: String,
    },
    /// A local move: `rel` is new here, `from` gone, with the same size, mtime and inode. If
    /// the file still has the content indexed for `from` (`hash`), the object is copied on the
    /// server (if it still has `etag`) and the old key deleted: no upload; else it is uploaded
    /// and `from` deleted, as without the move.
    Rename {
        rel: String,
        from: String,
        etag: String,
        hash: String,
        expect: Stamp,
    },
}

impl Action {
    pub fn rel(&self) -> &str {
        match self {
            Action::Upload { rel, .. }
            | Action::Download { rel, .. }
            | Action::DeleteRemote { rel, .. }
            | Action::DeleteLocal { rel, .. }
            | Action::Conflict { rel, .. }
            | Action::Reconcile { rel, .. }
            | Action::Touch { rel, .. }
            | Action::Forget { rel }
            | Action::Rename { rel, .. } => rel,
        }
    }

    /// Whether the action deletes a file on either side (what the safety check counts).
    pub fn deletes(&self) -> bool {
        matches!(
            self,
            Action::DeleteRemote { .. } | Action::DeleteLocal { .. }
        )
    }

    /// Whether the action removes a folder (run once the pass's other actions are done, so
    /// that the folder is empty by then).
    pub fn removes_folder(&self) -> bool {
        matches!(
            self,
            Action::DeleteRemote { rel, .. } | Action::DeleteLocal { rel, .. }
                if crate::scan::is_folder(rel)
        )
    }

    /// Whether the action moves content (for progress counts).
    pub fn transfers(&self) -> bool {
        !matches!(self, Action::Touch { .. } | Action::Forget { .. })
    }
}

/// A local file's metadata, as the scan saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
}

impl Stamp {
    /// Every folder's.
    pub const FOLDER: Stamp = Stamp {
        size: 0,
        mtime_ns: 0,
        inode: 0,
    };

    pub fn of(f: &LocalFile) -> Stamp {
        Stamp {
            size: f.size,
            mtime_ns: f.mtime_ns,
            inode: f.inode,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Neither here nor in the index.
    Absent,
    /// Not in the index, here now.
    New,
    /// As indexed.
    Same,
    /// As indexed in content, with other metadata (local only).
    Touched,
    Changed,
    /// In the index, gone now.
    Deleted,
}

fn local_side(local: Option<&LocalFile>, index: Option<&IndexEntry>) -> Side {
    match (local, index) {
        (None, None) => Side::Absent,
        (Some(_), None) => Side::New,
        (None, Some(_)) => Side::Deleted,
        (Some(l), Some(i)) => {
            if l.size == i.size && l.mtime_ns == i.mtime_ns && l.inode == i.inode {
                Side::Same
            } else if l.size == i.size && l.hash.as_deref() == Some(i.hash.as_str()) {
                // Metadata alone never proves equality: the content hash does.
                Side::Touched
            } else {
                Side::Changed
            }
        }
    }
}

fn remote_side(remote: Option<&RemoteObject>, index: Option<&IndexEntry>) -> Side {
    match (remote, index) {
        (None, None) => Side::Absent,
        (Some(_), None) => Side::New,
        (None, Some(_)) => Side::Deleted,
        (Some(r), Some(i)) if r.etag == i.etag => Side::Same,
        (Some(_), Some(_)) => Side::Changed,
    }
}

/// The action for one path (`None`: nothing to do).
pub fn plan_path(
    mode: Mode,
    rel: &str,
    local: Option<&LocalFile>,
    index: Option<&IndexEntry>,
    remote: Option<&RemoteObject>,
) -> Option<Action> {
    use Side::*;
    // A folder holding files needs no object of its own: only an empty one is made one.
    if local.is_some_and(|l| crate::scan::is_folder(&l.rel) && !l.empty)
        && index.is_none()
        && remote.is_none()
    {
        return None;
    }
    let l = local_side(local, index);
    let r = remote_side(remote, index);
    let rel = rel.to_owned();
    let stamp = local.map(Stamp::of);
    let retag = remote.map(|r| r.etag.clone()).unwrap_or_default();
    let upload = |write| {
        Some(Action::Upload {
            rel: rel.clone(),
            write,
        })
    };
    let replace_index = || Write::Replace {
        etag: index.map(|i| i.etag.clone()).unwrap_or_default(),
    };
    let replace_remote = || Write::Replace {
        etag: retag.clone(),
    };
    let download = || {
        Some(Action::Download {
            rel: rel.clone(),
            etag: retag.clone(),
            expect: stamp,
        })
    };
    let touch = || {
        Some(Action::Touch {
            rel: rel.clone(),
            stamp: stamp.expect("touched files exist"),
        })
    };
    let conflict = || {
        Some(Action::Conflict {
            rel: rel.clone(),
            remote_etag: retag.clone(),
            expect: stamp.expect("conflicts have a local file"),
        })
    };
    let reconcile = || {
        Some(Action::Reconcile {
            rel: rel.clone(),
            remote_etag: retag.clone(),
            expect: stamp.expect("reconciled files exist"),
        })
    };
    let delete_remote = || {
        Some(Action::DeleteRemote {
            rel: rel.clone(),
            etag: retag.clone(),
        })
    };
    let delete_local = || {
        Some(Action::DeleteLocal {
            rel: rel.clone(),
            expect: stamp.expect("deleted files exist"),
        })
    };
    let forget = || Some(Action::Forget { rel: rel.clone() });
    match mode {
        Mode::TwoWay => match (l, r) {
            (Same, Same) => None,
            (Touched, Same) => touch(),
            (Changed, Same) => upload(replace_index()),
            (Same | Touched, Changed) => download(),
            (Changed, Changed) => conflict(),
            (Deleted, Same) => delete_remote(),
            (Same | Touched, Deleted) => delete_local(),
            (Deleted, Deleted) => forget(),
            // A change on one side wins over a deletion on the other: nothing is lost.
            (Deleted, Changed) => download(),
            (Changed, Deleted) => upload(Write::Create),
            (New, Absent) => upload(Write::Create),
            (Absent, New) => download(),
            (New, New) => reconcile(),
            _ => None,
        },
        Mode::Upload => match (l, r) {
            (Same, Same) => None,
            (Touched, Same) => touch(),
            (Changed, Same) => upload(replace_index()),
            // The remote is a mirror: a remote change is replaced (its version kept in the
            // trash), a remote deletion re-uploaded.
            (Same | Touched | Changed, Changed) => upload(replace_remote()),
            (Same | Touched | Changed, Deleted) => upload(Write::Create),
            (Deleted, Same | Changed) => delete_remote(),
            (Deleted, Deleted) => forget(),
            (New, Absent) => upload(Write::Create),
            (New, New) => reconcile(),
            // Objects this pair never wrote are left alone.
            (Absent, New) => None,
            _ => None,
        },
        Mode::Download => match (l, r) {
            (Same, Same) => None,
            (Touched, Same) => touch(),
            (Same | Touched, Changed) => download(),
            // A local edit is kept beside the remote version, which wins the name.
            (Changed, Same | Changed) => conflict(),
            (Deleted, Same | Changed) => download(),
            (Same | Touched, Deleted) => delete_local(),
            // Edited here, deleted there: the file stays, untracked.
            (Changed, Deleted) => forget(),
            (Deleted, Deleted) => forget(),
            (Absent, New) => download(),
            (New, New) => reconcile(),
            // Local-only files stay local.
            (New, Absent) => None,
            _ => None,
        },
    }
}

/// What a pass is to do.
#[derive(Debug, Default)]
pub struct Planned {
    /// Each action with the bytes it moves (0: none, or not known before it runs).
    pub actions: Vec<(Action, u64)>,
    /// Paths left for a later pass: their file was modified too recently (still being
    /// written).
    pub deferred: u64,
}

/// One side of the merge, pulled one entry at a time (`Ok(None)`: no more).
pub trait Source<T, E>: FnMut() -> Result<Option<T>, E> {}
impl<T, E, F: FnMut() -> Result<Option<T>, E>> Source<T, E> for F {}

/// Merges the local files, the index entries and the remote objects, each pulled in key order
/// (`None` for `remote`: not listed this pass; the index stands for the remote side), into
/// the pass's actions: nothing of the folder or the listing is held beyond the entry at hand.
/// A file modified after `recent_after` (ns since the epoch) waits for a later pass.
pub fn plan<E>(
    mode: Mode,
    mut local: impl Source<LocalFile, E>,
    mut index: impl Source<(String, IndexEntry), E>,
    mut remote: Option<impl Source<RemoteObject, E>>,
    recent_after: Option<i64>,
) -> Result<Planned, E> {
    let mut planned = Planned::default();
    let mut moves = Moves::default();
    let mut next_local = local()?;
    let mut next_index = index()?;
    let mut next_remote = match remote.as_mut() {
        Some(r) => r()?,
        None => None,
    };
    loop {
        let candidates = [
            next_local.as_ref().map(|l| l.rel.as_str()),
            next_index.as_ref().map(|(k, _)| k.as_str()),
            next_remote.as_ref().map(|o| o.rel.as_str()),
        ];
        let Some(rel) = candidates.iter().flatten().min().map(|s| s.to_string()) else {
            break;
        };
        let l = if next_local.as_ref().is_some_and(|l| l.rel == rel) {
            std::mem::replace(&mut next_local, local()?)
        } else {
            None
        };
        let i = if next_index.as_ref().is_some_and(|(k, _)| *k == rel) {
            std::mem::replace(&mut next_index, index()?).map(|(_, e)| e)
        } else {
            None
        };
        let r = match remote.as_mut() {
            Some(pull) if next_remote.as_ref().is_some_and(|o| o.rel == rel) => {
                std::mem::replace(&mut next_remote, pull()?)
            }
            Some(_) => None,
            None => i.as_ref().map(|e| RemoteObject {
                rel: rel.clone(),
                etag: e.etag.clone(),
                size: 0,
            }),
        };
        let Some(a) = plan_path(mode, &rel, l.as_ref(), i.as_ref(), r.as_ref()) else {
            continue;
        };
        if l.as_ref()
            .zip(recent_after)
            .is_some_and(|(l, after)| l.mtime_ns > after)
        {
            planned.deferred += 1;
            continue;
        }
        let size = match &a {
            Action::Upload { .. } => l.as_ref().map_or(0, |l| l.size),
            Action::Download { .. } | Action::Conflict { .. } | Action::Reconcile { .. } => {
                r.as_ref().map_or(0, |r| r.size)
            }
            _ => 0,
        };
        moves.note(&a, l.as_ref(), i, planned.actions.len());
        planned.actions.push((a, size));
    }
    planned.actions = moves.pair_up(planned.actions);
    Ok(planned)
}

/// The file identity a move keeps: size, mtime and inode (renames keep all three).
type Identity = (u64, i64, u64);

/// Creations and deletions of one pass that may be the two halves of a move.
#[derive(Default)]
struct Moves {
    /// Deleted remote objects still as indexed: identity → (action index, index entry).
    gone: std::collections::HashMap<Identity, (usize, IndexEntry)>,
    /// New local files to create: (action index, stamp).
    new: Vec<(usize, Stamp)>,
}

impl Moves {
    fn note(
        &mut self,
        a: &Action,
        local: Option<&LocalFile>,
        index: Option<IndexEntry>,
        at: usize,
    ) {
        match (a, local, index) {
            // Without an inode (not Unix) a move cannot be told from a copy: none is paired.
            (Action::DeleteRemote { etag, .. }, None, Some(i))
                if i.inode != 0 && *etag == i.etag =>
            {
                self.gone.insert((i.size, i.mtime_ns, i.inode), (at, i));
            }
            (
                Action::Upload {
                    write: Write::Create,
                    ..
                },
                Some(l),
                None,
            ) if l.inode != 0 => self.new.push((at, Stamp::of(l))),
            _ => {}
        }
    }

    /// Each creation whose identity a deletion had becomes one rename.
    fn pair_up(mut self, mut actions: Vec<(Action, u64)>) -> Vec<(Action, u64)> {
        if self.gone.is_empty() || self.new.is_empty() {
            return actions;
        }
        let mut dropped = vec![false; actions.len()];
        for (at, stamp) in self.new {
            let Some((gone_at, entry)) =
                self.gone.remove(&(stamp.size, stamp.mtime_ns, stamp.inode))
            else {
                continue;
            };
            let from = actions[gone_at].0.rel().to_owned();
            let rel = actions[at].0.rel().to_owned();
            actions[at] = (
                Action::Rename {
                    rel,
                    from,
                    etag: entry.etag,
                    hash: entry.hash,
                    expect: stamp,
                },
                0,
            );
            dropped[gone_at] = true;
        }
        let mut keep = dropped.into_iter().map(|d| !d);
        actions.retain(|_| keep.next().unwrap_or(true));
        actions
    }
}

/// The deletion safety check: refuses a pass that deletes more than `max_share` of the
/// `total` indexed files (above a handful) or more than `max_count`.
pub fn check_deletions<'a>(
    actions: impl IntoIterator<Item = &'a Action>,
    total: u64,
    max_share: f64,
    max_count: u64,
) -> Result<(), (u64, String)> {
    let deletes = actions.into_iter().filter(|a| a.deletes()).count() as u64;
    if deletes == 0 {
        return Ok(());
    }
    if deletes > max_count {
        return Err((deletes, format!("{max_count} files")));
    }
    // A few deletions in a tiny folder are ordinary; the share applies beyond them.
    const SMALL: u64 = 10;
    if deletes > SMALL && deletes as f64 > max_share * total.max(1) as f64 {
        return Err((deletes, format!("{:.0}% of the files", max_share * 100.0)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REL: &str = "d/f.txt";

    #[derive(Clone, Copy, Debug)]
    enum L {
        None,
        Same,
        Touched,
        Changed,
    }
    #[derive(Clone, Copy, Debug)]
    enum R {
        None,
        Same,
        Changed,
    }

    fn idx() -> IndexEntry {
        IndexEntry {
            size: 10,
            mtime_ns: 100,
            inode: 7,
            hash: "h1".into(),
            key: format!("p/{REL}"),
            etag: "E1".into(),
            key_fingerprint: String::new(),
        }
    }

    fn local(l: L) -> Option<LocalFile> {
        let base = LocalFile {
            rel: REL.into(),
            size: 10,
            mtime_ns: 100,
            inode: 7,
            hash: None,
            empty: false,
        };
        match l {
            L::None => None,
            L::Same => Some(base),
            // Saved again with the same bytes: new mtime, same hash.
            L::Touched => Some(LocalFile {
                mtime_ns: 200,
                hash: Some("h1".into()),
                ..base
            }),
            // Same size and mtime-changed, other content.
            L::Changed => Some(LocalFile {
                mtime_ns: 200,
                hash: Some("h2".into()),
                ..base
            }),
        }
    }

    fn remote(r: R) -> Option<RemoteObject> {
        let etag = match r {
            R::None => return None,
            R::Same => "E1",
            R::Changed => "E2",
        };
        Some(RemoteObject {
            rel: REL.into(),
            etag: etag.into(),
            size: 42,
        })
    }

    /// The kind of action, for compact tables.
    fn kind(a: &Option<Action>) -> &'static str {
        match a {
            None => "-",
            Some(Action::Upload {
                write: Write::Create,
                ..
            }) => "create",
            Some(Action::Upload {
                write: Write::Replace { etag },
                ..
            }) if etag == "E1" => "replace@index",
            Some(Action::Upload {
                write: Write::Replace { .. },
                ..
            }) => "replace@remote",
            Some(Action::Download { .. }) => "download",
            Some(Action::DeleteRemote { .. }) => "delete-remote",
            Some(Action::DeleteLocal { .. }) => "delete-local",
            Some(Action::Conflict { .. }) => "conflict",
            Some(Action::Reconcile { .. }) => "reconcile",
            Some(Action::Touch { .. }) => "touch",
            Some(Action::Forget { .. }) => "forget",
            Some(Action::Rename { .. }) => "rename",
        }
    }

    /// Every combination with an index entry: (local, remote) → action per mode
    /// (two-way, upload, download).
    #[test]
    fn indexed_paths_every_combination() {
        use L as l;
        use R as r;
        let table: &[(L, R, &str, &str, &str)] = &[
            (l::Same, r::Same, "-", "-", "-"),
            (l::Touched, r::Same, "touch", "touch", "touch"),
            (
                l::Changed,
                r::Same,
                "replace@index",
                "replace@index",
                "conflict",
            ),
            (
                l::Same,
                r::Changed,
                "download",
                "replace@remote",
                "download",
            ),
            (
                l::Touched,
                r::Changed,
                "download",
                "replace@remote",
                "download",
            ),
            (
                l::Changed,
                r::Changed,
                "conflict",
                "replace@remote",
                "conflict",
            ),
            (
                l::None,
                r::Same,
                "delete-remote",
                "delete-remote",
                "download",
            ),
            (l::None, r::Changed, "download", "delete-remote", "download"),
            (l::Same, r::None, "delete-local", "create", "delete-local"),
            (
                l::Touched,
                r::None,
                "delete-local",
                "create",
                "delete-local",
            ),
            (l::Changed, r::None, "create", "create", "forget"),
            (l::None, r::None, "forget", "forget", "forget"),
        ];
        for &(lc, rc, two, up, down) in table {
            let i = idx();
            for (mode, want) in [
                (Mode::TwoWay, two),
                (Mode::Upload, up),
                (Mode::Download, down),
            ] {
                let got = plan_path(mode, REL, local(lc).as_ref(), Some(&i), remote(rc).as_ref());
                assert_eq!(kind(&got), want, "{mode} local {lc:?} remote {rc:?}");
            }
        }
    }

    /// Paths the index does not know.
    #[test]
    fn unindexed_paths() {
        let table: &[(L, R, &str, &str, &str)] = &[
            (L::Same, R::None, "create", "create", "-"),
            (L::None, R::Same, "download", "-", "download"),
            (L::Same, R::Same, "reconcile", "reconcile", "reconcile"),
        ];
        for &(lc, rc, two, up, down) in table {
            for (mode, want) in [
                (Mode::TwoWay, two),
                (Mode::Upload, up),
                (Mode::Download, down),
            ] {
                let got = plan_path(mode, REL, local(lc).as_ref(), None, remote(rc).as_ref());
                assert_eq!(kind(&got), want, "{mode} local {lc:?} remote {rc:?}");
            }
        }
    }

    #[test]
    fn mtime_only_change_uploads_nothing_but_a_size_change_does() {
        let i = idx();
        let touched = local(L::Touched);
        let got = plan_path(
            Mode::Upload,
            REL,
            touched.as_ref(),
            Some(&i),
            remote(R::Same).as_ref(),
        );
        assert_eq!(kind(&got), "touch");
        // The same mtime but another size is a change whatever the hash says.
        let resized = LocalFile {
            size: 11,
            ..local(L::Same).unwrap()
        };
        let got = plan_path(
            Mode::Upload,
            REL,
            Some(&resized),
            Some(&i),
            remote(R::Same).as_ref(),
        );
        assert_eq!(kind(&got), "replace@index");
        // Another inode with the same size and mtime (a file replaced by rename) and no hash
        // read: a change.
        let replaced = LocalFile {
            inode: 8,
            ..local(L::Same).unwrap()
        };
        let got = plan_path(
            Mode::Upload,
            REL,
            Some(&replaced),
            Some(&i),
            remote(R::Same).as_ref(),
        );
        assert_eq!(kind(&got), "replace@index");
    }

    /// A file's inode in these tables: one per name.
    fn ino(rel: &str) -> u64 {
        rel.bytes().map(u64::from).sum()
    }

    fn lf(rel: &str) -> LocalFile {
        LocalFile {
            rel: rel.into(),
            size: 1,
            mtime_ns: 1,
            inode: ino(rel),
            hash: None,
            empty: false,
        }
    }

    fn ie(rel: &str) -> (String, IndexEntry) {
        (
            rel.into(),
            IndexEntry {
                size: 1,
                mtime_ns: 1,
                inode: ino(rel),
                hash: "h".into(),
                key: rel.into(),
                etag: format!("E-{rel}"),
                key_fingerprint: String::new(),
            },
        )
    }

    /// `plan` over in-memory sides.
    fn plan_of(
        mode: Mode,
        local: &[LocalFile],
        index: Vec<(String, IndexEntry)>,
        remote: Option<&[RemoteObject]>,
    ) -> Vec<Action> {
        let mut local = local.iter().cloned();
        let mut index = index.into_iter();
        let remote = remote.map(|r| {
            let mut r = r.iter().cloned();
            move || Ok::<_, ()>(r.next())
        });
        plan(mode, || Ok(local.next()), || Ok(index.next()), remote, None)
            .unwrap()
            .actions
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    }

    fn ro(rel: &str, etag: &str) -> RemoteObject {
        RemoteObject {
            rel: rel.into(),
            etag: etag.into(),
            size: 1,
        }
    }

    #[test]
    fn merge_of_three_sorted_sides() {
        let local = vec![lf("a"), lf("b"), lf("d")];
        let index = vec![ie("b"), ie("c"), ie("d")];
        let remote = vec![
            ro("b", "E-b"),
            ro("c", "E-c"),
            ro("d", "other"),
            ro("e", "E-e"),
        ];
        let actions = plan_of(Mode::TwoWay, &local, index, Some(&remote));
        let got: Vec<(&str, &str)> = actions
            .iter()
            .map(|a| (a.rel(), kind(&Some(a.clone()))))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "create"),
                ("c", "delete-remote"),
                ("d", "download"),
                ("e", "download"),
            ]
        );
    }

    #[test]
    fn without_a_listing_the_index_stands_for_the_remote() {
        let local = vec![lf("a"), lf("b")];
        let actions = plan_of(Mode::Upload, &local, vec![ie("b"), ie("c")], None);
        let got: Vec<(&str, &str)> = actions
            .iter()
            .map(|a| (a.rel(), kind(&Some(a.clone()))))
            .collect();
        assert_eq!(got, [("a", "create"), ("c", "delete-remote")]);
    }

    #[test]
    fn a_move_is_one_rename_when_the_identity_matches_and_the_object_is_as_indexed() {
        // "a" moved to "z/a" (same size, mtime and inode), "b" deleted, "c" new: one rename.
        let moved = LocalFile {
            rel: "z/a".into(),
            ..lf("a")
        };
        let local = vec![lf("c"), moved];
        let remote = vec![ro("a", "E-a"), ro("b", "E-b")];
        for mode in [Mode::Upload, Mode::TwoWay] {
            let actions = plan_of(mode, &local, vec![ie("a"), ie("b")], Some(&remote));
            let got: Vec<(&str, &str)> = actions
                .iter()
                .map(|a| (a.rel(), kind(&Some(a.clone()))))
                .collect();
            assert_eq!(
                got,
                [("b", "delete-remote"), ("c", "create"), ("z/a", "rename")],
                "{mode}"
            );
            let Some(Action::Rename {
                from, etag, hash, ..
            }) = actions.last()
            else {
                unreachable!()
            };
            assert_eq!(
                (from.as_str(), etag.as_str(), hash.as_str()),
                ("a", "E-a", "h")
            );
            assert!(
                check_deletions(&actions, 2, 0.1, 1000).is_ok(),
                "a move deletes nothing"
            );
        }
        // The object changed on the server since it was indexed: no move (what the remote
        // holds is not what the file holds).
        let remote = vec![ro("a", "other"), ro("b", "E-b")];
        let actions = plan_of(Mode::Upload, &local, vec![ie("a"), ie("b")], Some(&remote));
        assert!(!actions.iter().any(|a| matches!(a, Action::Rename { .. })));
        // Without inodes (not Unix) nothing is paired.
        let local = vec![LocalFile {
            inode: 0,
            ..local[1].clone()
        }];
        let index = vec![(
            "a".to_string(),
            IndexEntry {
                inode: 0,
                ..ie("a").1
            },
        )];
        let actions = plan_of(Mode::Upload, &local, index, None);
        assert_eq!(actions.len(), 2);
    }

    #[test]
    fn actions_carry_their_sizes_and_recent_files_wait() {
        let local = vec![
            LocalFile {
                size: 300,
                mtime_ns: 50,
                ..lf("new")
            },
            LocalFile {
                size: 7,
                mtime_ns: 500,
                ..lf("still-written")
            },
        ];
        let remote = [RemoteObject {
            rel: "there".into(),
            etag: "E".into(),
            size: 4096,
        }];
        let (mut l, mut r) = (local.into_iter(), remote.into_iter());
        let planned = plan(
            Mode::TwoWay,
            || Ok::<_, ()>(l.next()),
            || Ok(None),
            Some(|| Ok(r.next())),
            Some(100),
        )
        .unwrap();
        let got: Vec<(&str, &str, u64)> = planned
            .actions
            .iter()
            .map(|(a, size)| (a.rel(), kind(&Some(a.clone())), *size))
            .collect();
        assert_eq!(got, [("new", "create", 300), ("there", "download", 4096)]);
        assert_eq!(planned.deferred, 1);
    }

    #[test]
    fn deletion_safety_check() {
        let del = |n: usize| -> Vec<Action> {
            (0..n)
                .map(|i| Action::DeleteRemote {
                    rel: format!("f{i}"),
                    etag: "e".into(),
                })
                .collect()
        };
        assert!(
            check_deletions(&del(5), 5, 0.5, 1000).is_ok(),
            "a small folder"
        );
        assert!(check_deletions(&del(40), 100, 0.5, 1000).is_ok());
        assert_eq!(check_deletions(&del(60), 100, 0.5, 1000).unwrap_err().0, 60);
        assert!(
            check_deletions(&del(60), 100, 0.5, 50).is_err(),
            "count limit"
        );
        assert!(
            check_deletions(&del(100), 100, 1.0, 1000).is_ok(),
            "limit off"
        );
    }
}

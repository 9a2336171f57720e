//! The executor: carries out one planned action with the pair's key, safely.
//!
//! Downloads go to a temp file beside the target (fsynced), renamed over the target only if
//! the local file is still as the scan saw it. Remote deletions and replacements first copy
//! the old version server-side under the trash prefix. Local deletions move the file into
//! the folder's own `.ossvault-trash/`.

use crate::error::{Error, Result};
use crate::index::{IndexEntry, IndexUpdate};
use crate::pair::{Mode, Pair};
use crate::plan::{Action, Stamp, Write};
use crate::scan::{content_hash, inode, is_folder, mtime_ns, rel_to_path};
use crate::upload::{condition_headers, lost_race, Uploaded, Uploader};
use ossvault_client::transfer::CancellationToken;
use ossvault_client::transfer::RateLimiter;
use ossvault_client::Client;
use ossvault_crypto::{MasterKey, ObjectHeaders};
use ossvault_ops::copy::KeystoreOpener;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Uploaded {
        parts_resumed: u32,
        parts_sent: u32,
    },
    Downloaded,
    DeletedRemote,
    DeletedLocal,
    /// A local move copied to its new key on the server.
    Renamed,
    /// Both versions kept: the other one is `copy` (a relative path).
    Conflict {
        copy: String,
    },
    /// Both sides held the same content.
    Same,
    Touched,
    Forgot,
    /// The local file changed meanwhile: left for the next pass.
    Deferred,
}

/// Everything an action needs.
#[derive(Clone)]
pub struct Exec<'a> {
    pub pair: &'a Pair,
    pub client: &'a Client,
    pub master: Option<&'a MasterKey>,
    /// The fingerprint recorded in the index for uploads (`kms:ID`, a hex fingerprint, or "").
    pub key_fingerprint: &'a str,
    pub keystore: &'a KeystoreOpener,
    pub checkpoint_dir: &'a Path,
    pub limiter: &'a RateLimiter,
    pub cancel: CancellationToken,
    pub on_bytes: &'a (dyn Fn(u64) + Send + Sync),
    pub part_size: u64,
    pub threshold: u64,
    pub part_jobs: usize,
    pub index: &'a crate::index::Index,
}

/// UTC time as `YYYYMMDD-HHMMSS`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    t.format(&f).expect("formattable")
}

/// UTC time as `YYYYMMDDTHHMMSS.mmmZ` (sorts in time order; the trash's version names).
pub fn trash_stamp(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    );
    t.format(&f).expect("formattable")
}

/// `dir/name.conflict-YYYYMMDD-HHMMSS.ext` for `dir/name.ext`.
pub fn conflict_name(rel: &str, t: OffsetDateTime) -> String {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), rel),
    };
    let tag = format!("conflict-{}", timestamp(t));
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}.{tag}.{ext}"),
        _ => format!("{dir}{name}.{tag}"),
    }
}

/// Moves `rel` of the folder `root` into the folder's own trash, as
/// `.ossvault-trash/<rel>@<stamp>` (recoverable by hand); returns where it went.
pub(crate) fn move_to_local_trash(root: &Path, rel: &str) -> Result<PathBuf> {
    let path = root.join(rel_to_path(rel));
    let trash = root
        .join(crate::TRASH_DIR.trim_end_matches('/'))
        .join(rel_to_path(&format!(
            "{rel}@{}",
            trash_stamp(OffsetDateTime::now_utc())
        )));
    if let Some(dir) = trash.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    std::fs::rename(&path, &trash).map_err(Error::io(&path))?;
    Ok(trash)
}

fn stamp_of(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::symlink_metadata(path)?;
    Ok(Stamp {
        size: m.len(),
        mtime_ns: mtime_ns(&m),
        inode: inode(&m),
    })
}

/// Whether the local file is as expected (`None`: absent).
fn still(path: &Path, expect: Option<Stamp>) -> bool {
    match (stamp_of(path), expect) {
        (Err(e), None) => e.kind() == std::io::ErrorKind::NotFound,
        (Ok(s), Some(x)) => s == x,
        _ => false,
    }
}

/// A downloaded and decrypted object in a temp file beside its target.
struct Fetched {
    temp: PathBuf,
    hash: String,
    etag: String,
    key_fingerprint: String,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Fetched {
    /// Renames the temp file over `target` if the target is still as expected.
    fn commit(mut self, target: &Path, expect: Option<Stamp>) -> Result<Option<Stamp>> {
        if !still(target, expect) {
            return Ok(None);
        }
        ossvault_fs::rename_durably(&self.temp, target).map_err(Error::io(target))?;
        self.temp = PathBuf::new();
        Ok(Some(stamp_of(target).map_err(Error::io(target))?))
    }
}

impl Exec<'_> {
    pub fn key_of(&self, rel: &str) -> String {
        format!("{}{rel}", self.pair.prefix)
    }

    pub fn local_path(&self, rel: &str) -> PathBuf {
        self.pair.local.join(rel_to_path(rel))
    }

    /// The index entry of a file this pass uploaded (under this pair's key).
    fn uploaded_entry(&self, rel: &str, up: Uploaded) -> IndexUpdate {
        self.entry(
            rel,
            up.stamp,
            up.hash,
            up.etag,
            self.key_fingerprint.to_owned(),
        )
    }

    fn entry(
        &self,
        rel: &str,
        stamp: Stamp,
        hash: String,
        etag: String,
        fp: String,
    ) -> IndexUpdate {
        IndexUpdate::Put(
            rel.to_owned(),
            IndexEntry {
                size: stamp.size,
                mtime_ns: stamp.mtime_ns,
                inode: stamp.inode,
                hash,
                key: self.key_of(rel),
                etag,
                key_fingerprint: fp,
            },
        )
    }

    /// Carries out `action`; returns what it did and the index changes to record.
    pub async fn run(&self, action: &Action) -> Result<(Outcome, Vec<IndexUpdate>)> {
        if is_folder(action.rel()) {
            if let Some(done) = self.run_folder(action).await {
                return done;
            }
        }
        match action {
            Action::Upload { rel, write } => {
                let up = self.upload(rel, write).await?;
                Ok((
                    Outcome::Uploaded {
                        parts_resumed: up.parts_resumed,
                        parts_sent: up.parts_sent,
                    },
                    vec![self.uploaded_entry(rel, up)],
                ))
            }
            Action::Download { rel, etag, expect } => {
                let fetched = self.fetch(rel, Some(etag)).await?;
                let (hash, etag, fp) = (
                    fetched.hash.clone(),
                    fetched.etag.clone(),
                    fetched.key_fingerprint.clone(),
                );
                match fetched.commit(&self.local_path(rel), *expect)? {
                    Some(stamp) => Ok((
                        Outcome::Downloaded,
                        vec![self.entry(rel, stamp, hash, etag, fp)],
                    )),
                    None => Ok((Outcome::Deferred, vec![])),
                }
            }
            Action::DeleteRemote { rel, etag } => {
                self.delete_remote(rel, etag).await?;
                Ok((
                    Outcome::DeletedRemote,
                    vec![IndexUpdate::Remove(rel.clone())],
                ))
            }
            Action::Rename {
                rel,
                from,
                etag,
                hash,
                expect,
            } => self.rename(rel, from, etag, hash, *expect).await,
            Action::DeleteLocal { rel, expect } => {
                let path = self.local_path(rel);
                if !still(&path, Some(*expect)) {
                    return Ok((Outcome::Deferred, vec![]));
                }
                move_to_local_trash(&self.pair.local, rel)?;
                self.prune_parents(rel);
                Ok((
                    Outcome::DeletedLocal,
                    vec![IndexUpdate::Remove(rel.clone())],
                ))
            }
            Action::Touch { rel, stamp } => {
                let Some(mut e) = self.index_entry_hint(rel) else {
                    return Ok((Outcome::Deferred, vec![]));
                };
                e.size = stamp.size;
                e.mtime_ns = stamp.mtime_ns;
                e.inode = stamp.inode;
                Ok((Outcome::Touched, vec![IndexUpdate::Put(rel.clone(), e)]))
            }
            Action::Forget { rel } => Ok((Outcome::Forgot, vec![IndexUpdate::Remove(rel.clone())])),
            Action::Conflict {
                rel,
                remote_etag,
                expect,
            } => self.conflict(rel, remote_etag, *expect, false).await,
            Action::Reconcile {
                rel,
                remote_etag,
                expect,
            } => self.conflict(rel, remote_etag, *expect, true).await,
        }
    }

    /// A folder's actions (`None`: as for a file). Its `name/` object is empty and plain: it
    /// tells only that the folder exists, which its key already says.
    async fn run_folder(&self, action: &Action) -> Option<Result<(Outcome, Vec<IndexUpdate>)>> {
        let indexed = |rel: &str, etag: String| {
            self.entry(rel, Stamp::FOLDER, String::new(), etag, String::new())
        };
        let bucket = &self.pair.bucket;
        let done = match action {
            Action::Upload { rel, write } => {
                let key = self.key_of(rel);
                let mut put = ossvault_client::PutOptions::default();
                put.headers.extend(condition_headers(write));
                let body = ossvault_client::RequestBody::Bytes(Default::default());
                match self.client.put_object(bucket, &key, body, &put).await {
                    Ok(r) => Ok((
                        Outcome::Uploaded {
                            parts_resumed: 0,
                            parts_sent: 1,
                        },
                        vec![indexed(rel, r.etag)],
                    )),
                    Err(e) if lost_race(&e) => Err(Error::Changed(key)),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Download { rel, etag, .. } => {
                let path = self.local_path(rel);
                std::fs::create_dir_all(&path)
                    .map_err(Error::io(&path))
                    .map(|()| (Outcome::Downloaded, vec![indexed(rel, etag.clone())]))
            }
            Action::Reconcile {
                rel, remote_etag, ..
            }
            | Action::Conflict {
                rel, remote_etag, ..
            } => Ok((Outcome::Same, vec![indexed(rel, remote_etag.clone())])),
            Action::DeleteRemote { rel, .. } => self
                .client
                .delete_object(bucket, &self.key_of(rel))
                .await
                .map_err(Error::from)
                .map(|()| {
                    (
                        Outcome::DeletedRemote,
                        vec![IndexUpdate::Remove(rel.clone())],
                    )
                }),
            Action::DeleteLocal { rel, .. } => {
                // Only an empty folder goes (the engine runs folder removals after the
                // files'); one that holds something now stays, no longer tracked.
                let path = self.local_path(rel);
                let forget = vec![IndexUpdate::Remove(rel.clone())];
                match std::fs::remove_dir(&path) {
                    Ok(()) => {
                        self.prune_parents(rel.trim_end_matches('/'));
                        Ok((Outcome::DeletedLocal, forget))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok((Outcome::Forgot, forget))
                    }
                    Err(_) if path.is_dir() => Ok((Outcome::Forgot, forget)),
                    Err(e) => Err(Error::io(&path)(e)),
                }
            }
            Action::Touch { .. } | Action::Forget { .. } | Action::Rename { .. } => return None,
        };
        Some(done)
    }

    /// Removes the folders that the local deletion of `rel` left empty, up to the pair's root:
    /// they were there for what the other side deleted (a folder kept for itself has its own
    /// index entry, and stays).
    fn prune_parents(&self, rel: &str) {
        let mut rel = rel;
        while let Some((parent, _)) = rel.rsplit_once('/') {
            if self.index_entry_hint(&format!("{parent}/")).is_some()
                || std::fs::remove_dir(self.local_path(parent)).is_err()
            {
                break;
            }
            rel = parent;
        }
    }

    fn index_entry_hint(&self, rel: &str) -> Option<IndexEntry> {
        self.index.get(rel).ok().flatten()
    }

    async fn upload(&self, rel: &str, write: &Write) -> Result<Uploaded> {
        if let Write::Replace { etag } = write {
            if !etag.is_empty() {
                self.trash_remote(rel, etag).await?;
            }
        }
        let uploader = Uploader {
            client: self.client,
            master: self.master,
            checkpoint_dir: self.checkpoint_dir,
            part_size: self.part_size,
            threshold: self.threshold,
            jobs: self.part_jobs,
            limiter: self.limiter,
            progress: self.on_bytes,
            cancel: self.cancel.clone(),
        };
        uploader
            .upload(
                &self.local_path(rel),
                &self.pair.bucket,
                &self.key_of(rel),
                write,
            )
            .await
    }

    /// Moves the object (which must have `etag`) to the trash.
    async fn delete_remote(&self, rel: &str, etag: &str) -> Result<()> {
        self.trash_remote(rel, etag).await?;
        self.client
            .delete_object(&self.pair.bucket, &self.key_of(rel))
            .await?;
        Ok(())
    }

    /// A local move (`from` → `rel`) carried out on the server when the file still holds the
    /// content indexed for `from`: the object is copied (only while it still has `etag`, onto
    /// a key nobody wrote meanwhile: the content and its encryption are unchanged, nothing is
    /// re-read or re-sent) and `from` deleted. Otherwise (other content, the object changed,
    /// the service cannot copy it) an upload of `rel` and a deletion of `from`, as without the
    /// move.
    async fn rename(
        &self,
        rel: &str,
        from: &str,
        etag: &str,
        hash: &str,
        expect: Stamp,
    ) -> Result<(Outcome, Vec<IndexUpdate>)> {
        let path = self.local_path(rel);
        let hashed = path.clone();
        let now = tokio::task::spawn_blocking(move || content_hash(&hashed))
            .await
            .map_err(|e| Error::Index(e.to_string()))??;
        if !still(&path, Some(expect)) {
            return Ok((Outcome::Deferred, vec![]));
        }
        if now == hash {
            let bucket = &self.pair.bucket;
            let copied = self
                .client
                .copy_object_guarded(bucket, &self.key_of(from), &self.key_of(rel), etag)
                .await;
            match copied {
                Ok(put) => {
                    let fp = self
                        .index_entry_hint(from)
                        .map(|e| e.key_fingerprint)
                        .unwrap_or_default();
                    let mut updates = vec![self.entry(rel, expect, now, put.etag, fp)];
                    // The old key goes only while it holds what was copied; changed
                    // meanwhile, it is planned again next pass.
                    let old = match self.client.head_object(bucket, &self.key_of(from)).await {
                        Ok(m) => Some(m.etag),
                        Err(e) if e.code() == Some("NoSuchKey") => None,
                        Err(e) => return Err(e.into()),
                    };
                    match old {
                        Some(old) if old.trim_matches('"') == etag.trim_matches('"') => {
                            self.client
                                .delete_object(bucket, &self.key_of(from))
                                .await?;
                            updates.push(IndexUpdate::Remove(from.to_owned()));
                        }
                        Some(_) => {}
                        None => updates.push(IndexUpdate::Remove(from.to_owned())),
                    }
                    return Ok((Outcome::Renamed, updates));
                }
                // Refused (not a failure of the service or the network): a plain upload.
                Err(ossvault_client::Error::Service(e)) if e.status < 500 && e.status != 429 => {
                    tracing::debug!(from, to = rel, "moved as an upload: {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let up = self.upload(rel, &Write::Create).await?;
        let outcome = Outcome::Uploaded {
            parts_resumed: up.parts_resumed,
            parts_sent: up.parts_sent,
        };
        let mut updates = vec![self.uploaded_entry(rel, up)];
        self.delete_remote(from, etag).await?;
        updates.push(IndexUpdate::Remove(from.to_owned()));
        Ok((outcome, updates))
    }

    /// Copies the object's current version (which must have `etag`) under the trash prefix.
    async fn trash_remote(&self, rel: &str, etag: &str) -> Result<()> {
        let key = self.key_of(rel);
        let meta = match self.client.head_object(&self.pair.bucket, &key).await {
            Ok(m) => m,
            Err(e) if e.code() == Some("NoSuchKey") => return Err(Error::Changed(key)),
            Err(e) => return Err(e.into()),
        };
        if !etag.is_empty() && meta.etag.trim_matches('"') != etag.trim_matches('"') {
            return Err(Error::Changed(key));
        }
        let trash = format!(
            "{}{rel}/@{}",
            self.pair.trash_prefix(),
            trash_stamp(OffsetDateTime::now_utc())
        );
        self.client
            .copy_object(&self.pair.bucket, &key, &self.pair.bucket, &trash, None)
            .await?;
        Ok(())
    }

    /// Downloads (and decrypts) the object of `rel` into a temp file beside its target.
    async fn fetch(&self, rel: &str, expect_etag: Option<&str>) -> Result<Fetched> {
        let key = self.key_of(rel);
        let target = self.local_path(rel);
        let dir = target.parent().expect("a file in the folder").to_owned();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let name = target
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut fetched = Fetched {
            temp: dir.join(format!(
                ".{name}.{:08x}.ossvault.tmp",
                rand::random::<u32>()
            )),
            hash: String::new(),
            etag: String::new(),
            key_fingerprint: String::new(),
        };
        let meta = self.client.head_object(&self.pair.bucket, &key).await?;
        if let Some(want) = expect_etag {
            if !want.is_empty() && meta.etag.trim_matches('"') != want.trim_matches('"') {
                return Err(Error::Changed(key));
            }
        }
        let headers = ObjectHeaders::parse(&meta.headers).map_err(ossvault_ops::Error::from)?;
        let on_bytes = self.on_bytes;
        if headers.is_encrypted() {
            let keystore = self.keystore.clone();
            let opened =
                ossvault_ops::keys::open_object(self.client, &headers, move || keystore()).await?;
            fetched.key_fingerprint = match headers.kms_key_id() {
                Some(id) => format!("kms:{id}"),
                None => headers
                    .key_fingerprint()
                    .map(|f| f.to_hex())
                    .unwrap_or_default(),
            };
            let work = ossvault_ops::encrypted::download(
                self.client,
                &self.pair.bucket,
                &key,
                &meta,
                &opened.envelope,
                &fetched.temp,
                None,
                Some(self.limiter),
                on_bytes,
            );
            tokio::select! {
                r = work => { r?; }
                _ = self.cancel.cancelled() => return Err(Error::Cancelled),
            }
        } else {
            let mut file = tokio::fs::File::create(&fetched.temp)
                .await
                .map_err(Error::io(&fetched.temp))?;
            let work = self.client.download(
                &self.pair.bucket,
                &key,
                None,
                &mut file,
                Some(self.limiter),
                on_bytes,
            );
            let got = tokio::select! {
                r = work => r?,
                _ = self.cancel.cancelled() => return Err(Error::Cancelled),
            };
            if got.etag != meta.etag {
                return Err(Error::Changed(key));
            }
            file.sync_all().await.map_err(Error::io(&fetched.temp))?;
        }
        fetched.etag = meta.etag;
        let temp = fetched.temp.clone();
        fetched.hash = tokio::task::spawn_blocking(move || content_hash(&temp))
            .await
            .map_err(|e| Error::Index(e.to_string()))??;
        Ok(fetched)
    }

    /// Both sides hold the path and differ from the index (or the index knows neither).
    /// Same content: just index it. Else keep both versions, as the mode says.
    async fn conflict(
        &self,
        rel: &str,
        remote_etag: &str,
        expect: Stamp,
        reconcile: bool,
    ) -> Result<(Outcome, Vec<IndexUpdate>)> {
        let path = self.local_path(rel);
        let fetched = self.fetch(rel, Some(remote_etag)).await?;
        let local_path = path.clone();
        let local_hash = tokio::task::spawn_blocking(move || content_hash(&local_path))
            .await
            .map_err(|e| Error::Index(e.to_string()))??;
        if !still(&path, Some(expect)) {
            return Ok((Outcome::Deferred, vec![]));
        }
        if local_hash == fetched.hash {
            let update = self.entry(
                rel,
                expect,
                local_hash,
                fetched.etag.clone(),
                fetched.key_fingerprint.clone(),
            );
            return Ok((Outcome::Same, vec![update]));
        }
        let now = OffsetDateTime::now_utc();
        let mut copy = conflict_name(rel, now);
        let mut n = 1;
        while self.local_path(&copy).exists() {
            n += 1;
            copy = conflict_name(&format!("{rel}-{n}"), now);
        }
        let record = |copy: &str| {
            tracing::info!(pair = %self.pair.name, path = rel, copy, "conflict: both versions kept");
        };
        match self.pair.mode {
            Mode::Upload => {
                // The local folder is the truth; the remote version goes to the trash.
                drop(fetched);
                let _ = reconcile;
                let up = self
                    .upload(
                        rel,
                        &Write::Replace {
                            etag: remote_etag.to_owned(),
                        },
                    )
                    .await?;
                Ok((
                    Outcome::Uploaded {
                        parts_resumed: up.parts_resumed,
                        parts_sent: up.parts_sent,
                    },
                    vec![self.uploaded_entry(rel, up)],
                ))
            }
            Mode::TwoWay => {
                // The remote version lands beside the local one (and goes up as a new file on
                // the next pass); the local version replaces the remote one, whose old version
                // the trash keeps too.
                let copy_path = self.local_path(&copy);
                if fetched.commit(&copy_path, None)?.is_none() {
                    return Ok((Outcome::Deferred, vec![]));
                }
                record(&copy);
                let up = self
                    .upload(
                        rel,
                        &Write::Replace {
                            etag: remote_etag.to_owned(),
                        },
                    )
                    .await?;
                Ok((
                    Outcome::Conflict { copy },
                    vec![self.uploaded_entry(rel, up)],
                ))
            }
            Mode::Download => {
                // The remote version wins the name; the local edit is kept beside it.
                let copy_path = self.local_path(&copy);
                std::fs::rename(&path, &copy_path).map_err(Error::io(&path))?;
                record(&copy);
                let (hash, etag, fp) = (
                    fetched.hash.clone(),
                    fetched.etag.clone(),
                    fetched.key_fingerprint.clone(),
                );
                match fetched.commit(&path, None)? {
                    Some(stamp) => Ok((
                        Outcome::Conflict { copy },
                        vec![self.entry(rel, stamp, hash, etag, fp)],
                    )),
                    None => Ok((Outcome::Conflict { copy }, vec![])),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_names_keep_the_extension() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        assert_eq!(
            conflict_name("a/report.docx", t),
            "a/report.conflict-20260304-050607.docx"
        );
        assert_eq!(
            conflict_name("Makefile", t),
            "Makefile.conflict-20260304-050607"
        );
        assert_eq!(
            conflict_name(".bashrc", t),
            ".bashrc.conflict-20260304-050607"
        );
        assert_eq!(trash_stamp(t), "20260304T050607.000Z");
    }
}

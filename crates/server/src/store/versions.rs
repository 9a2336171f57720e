//! Object versions (OSS versioning).
//!
//! A key's current object stays in `objects`, where every reader that wants the current state
//! (GET, ListObjects, scrub, re-wrap) already looks. Everything else of its history lives in
//! `versions` under `bucket 0x00 key 0x00 !seq`: noncurrent objects and delete markers, newest
//! first. The invariant every write keeps: if a key's newest version is an object, it is the
//! one in `objects`; so a key with no entry in `objects` either does not exist or has a delete
//! marker as its newest version.
//!
//! A version's `seq` orders the history (nanoseconds since the epoch, strictly increasing in
//! this process); a non-null version id is that seq in hex plus a random tail, so an id finds
//! its entry with one lookup. The `null` version (every object of a bucket never versioned, and
//! what a Suspended bucket writes) has no id of its own and is found by a scan of the key's
//! versions, which are few.
//!
//! Versions of one key may share blobs (a copy onto itself on a versioned bucket makes a new
//! version of the same content): a blob is unlinked only when no version of its key references
//! it any more ([`unreferenced`]).

use super::meta::{bucket_base, concat, successor_scoped, JsonTable, Tables};
use super::{
    BlobId, DeleteMarker, ObjectRecord, StoreError, VersionEntry, VersionStamp, Versioning,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// The last seq handed out in this process.
static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Bytes a `versions` key adds after the object key: `0x00` and the inverted seq.
const SUFFIX: usize = 9;

/// A fresh seq: the clock in nanoseconds, or one more than the last if the clock has not moved
/// on (or went back).
fn next_seq() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut last = LAST_SEQ.load(Ordering::Relaxed);
    loop {
        let seq = now.max(last + 1);
        match LAST_SEQ.compare_exchange_weak(last, seq, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return seq,
            Err(seen) => last = seen,
        }
    }
}

/// The id of the version written at `seq`: 16 hex digits of the seq, 8 of randomness.
fn new_id(seq: u64) -> String {
    format!("{seq:016x}{:08x}", rand::random::<u32>())
}

/// The seq a (non-null) version id names, if it is one this store could have made.
pub fn seq_of(id: &str) -> Option<u64> {
    let well_formed = id.len() == 24 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

/// Whether `id` is a version id at all: `null` or one [`seq_of`] reads. Anything else is an
/// invalid argument rather than a version that does not exist.
pub fn is_valid_id(id: &str) -> bool {
    id == "null" || seq_of(id).is_some()
}

/// The `versions` key of `okey`'s version `seq`.
pub(super) fn version_key(okey: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(okey.len() + SUFFIX);
    k.extend_from_slice(okey);
    k.push(0);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// The stamp a write made now gets on a bucket in `state`.
fn stamp(state: Option<Versioning>) -> VersionStamp {
    let seq = next_seq();
    VersionStamp {
        id: (state == Some(Versioning::Enabled)).then(|| new_id(seq)),
        seq,
    }
}

/// `okey`'s noncurrent versions and delete markers, newest first, with their `versions` keys.
pub(super) fn noncurrent(
    versions: &impl JsonTable,
    okey: &[u8],
) -> Result<Vec<(Vec<u8>, VersionEntry)>, StoreError> {
    let start = concat(okey, &[0]);
    let end = concat(okey, &[1]);
    let mut out = Vec::new();
    for item in versions.range::<&[u8]>(start.as_slice()..end.as_slice())? {
        let (k, v) = item?;
        if k.value().len() != okey.len() + SUFFIX {
            // A longer key that only starts with `okey 0x00` (a key containing NUL).
            continue;
        }
        out.push((
            k.value().to_vec(),
            super::meta::decode(v.value(), k.value())?,
        ));
    }
    Ok(out)
}

/// Where a version found by [`find`] lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Place {
    Current,
    Noncurrent(Vec<u8>),
}

/// Finds a version of `okey`: the newest one (`id` `None`: the current object, else a delete
/// marker on top), or the one with id `id` (`"null"` for the null version).
pub(super) fn find(
    objects: &impl JsonTable,
    versions: &impl JsonTable,
    okey: &[u8],
    id: Option<&str>,
) -> Result<Option<(Place, VersionEntry)>, StoreError> {
    let current: Option<ObjectRecord> = objects.get_json(okey)?;
    let Some(id) = id else {
        if let Some(current) = current {
            return Ok(Some((
                Place::Current,
                VersionEntry::Object(Box::new(current)),
            )));
        }
        return Ok(noncurrent(versions, okey)?
            .into_iter()
            .next()
            .map(|(k, entry)| (Place::Noncurrent(k), entry)));
    };
    let wanted = (id != "null").then_some(id);
    if let Some(current) = current {
        if current.version.id.as_deref() == wanted {
            return Ok(Some((
                Place::Current,
                VersionEntry::Object(Box::new(current)),
            )));
        }
    }
    match wanted {
        None => Ok(noncurrent(versions, okey)?
            .into_iter()
            .find(|(_, e)| e.version().id.is_none())
            .map(|(k, e)| (Place::Noncurrent(k), e))),
        Some(id) => {
            let Some(seq) = seq_of(id) else {
                return Ok(None);
            };
            let k = version_key(okey, seq);
            let entry: Option<VersionEntry> = versions.get_json(&k)?;
            Ok(entry
                .filter(|e| e.version().id.as_deref() == Some(id))
                .map(|e| (Place::Noncurrent(k), e)))
        }
    }
}

/// The blobs of `removed` (records just taken out of `okey`'s history) that no version of
/// `okey` still references: the ones to drop from the index and unlink.
fn unreferenced(
    t: &Tables<'_>,
    okey: &[u8],
    removed: &[ObjectRecord],
) -> Result<Vec<BlobId>, StoreError> {
    let candidates: BTreeSet<BlobId> = removed
        .iter()
        .flat_map(|r| r.segments.iter().map(|s| s.blob))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut kept = BTreeSet::new();
    if let Some(current) = t.objects.get_json::<ObjectRecord>(okey)? {
        kept.extend(current.segments.iter().map(|s| s.blob));
    }
    for (_, entry) in noncurrent(&*t.versions, okey)? {
        if let VersionEntry::Object(o) = entry {
            kept.extend(o.segments.iter().map(|s| s.blob));
        }
    }
    Ok(candidates.difference(&kept).copied().collect())
}

/// Drops the [`unreferenced`] blobs of `removed` from the blob index (inline content with
/// them); returns those that have a file to unlink once the commit is done.
fn drop_unreferenced(
    t: &mut Tables<'_>,
    okey: &[u8],
    removed: &[ObjectRecord],
) -> Result<Vec<BlobId>, StoreError> {
    let mut files = Vec::new();
    for id in unreferenced(t, okey, removed)? {
        if t.blobs.remove(id)? {
            files.push(id);
        }
    }
    Ok(files)
}

/// Takes the current object `old` (if any) out of the way of a new newest version on a bucket
/// in `state`: kept as a noncurrent version when versioning keeps it (Enabled, or Suspended and
/// it is not the null version), else removed; on a Suspended bucket the null version among the
/// noncurrent ones goes too (a key has one null version). Returns the removed object records.
fn retire(
    t: &mut Tables<'_>,
    okey: &[u8],
    state: Option<Versioning>,
    old: Option<&ObjectRecord>,
) -> Result<Vec<ObjectRecord>, StoreError> {
    // Reads first.
    let null_noncurrent = match state {
        Some(Versioning::Suspended) => noncurrent(&*t.versions, okey)?
            .into_iter()
            .find(|(_, e)| e.version().id.is_none()),
        _ => None,
    };
    let mut removed = Vec::new();
    if let Some(old) = old {
        let keep = match state {
            None => false,
            Some(Versioning::Enabled) => true,
            Some(Versioning::Suspended) => old.version.id.is_some(),
        };
        if keep {
            let entry = VersionEntry::Object(Box::new(old.clone()));
            t.versions
                .put_json(&version_key(okey, old.version.seq), &entry)?;
        } else {
            removed.push(old.clone());
        }
    }
    if let Some((k, entry)) = null_noncurrent {
        t.versions.remove(&k)?;
        if let VersionEntry::Object(o) = entry {
            removed.push(*o);
        }
    }
    Ok(removed)
}

/// Writes `record` as `okey`'s newest version on a bucket in `state`, stamping it, with `old`
/// the current object the caller read (and checked its conditions against). Returns the blobs
/// this dropped from the index (to unlink after the commit).
pub(super) fn install(
    t: &mut Tables<'_>,
    okey: &[u8],
    state: Option<Versioning>,
    old: Option<&ObjectRecord>,
    record: &mut ObjectRecord,
) -> Result<Vec<BlobId>, StoreError> {
    record.version = stamp(state);
    let removed = retire(t, okey, state, old)?;
    t.objects.put_json(okey, record)?;
    let dropped = drop_unreferenced(t, okey, &removed)?;
    Ok(dropped)
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the delete marker added (`"null"` for the null version); `None`
    /// for a plain delete on a bucket never versioned.
    pub version_id: Option<String>,
    /// A delete marker was added, or the version removed was one.
    pub delete_marker: bool,
    /// Something was there: an object (or, with a version id, that version).
    pub existed: bool,
}

/// A delete without a version id: on a bucket never versioned the object goes; otherwise the
/// current object is retired as by a write and a delete marker becomes the newest version.
pub(super) fn delete_latest(
    t: &mut Tables<'_>,
    okey: &[u8],
    state: Option<Versioning>,
) -> Result<(Deleted, Vec<BlobId>), StoreError> {
    let old: Option<ObjectRecord> = t.objects.get_json(okey)?;
    let existed = old.is_some();
    if state.is_none() {
        if !existed {
            return Ok((Deleted::default(), Vec::new()));
        }
        t.objects.remove(okey)?;
        let removed: Vec<ObjectRecord> = old.into_iter().collect();
        let dropped = drop_unreferenced(t, okey, &removed)?;
        return Ok((
            Deleted {
                existed,
                ..Deleted::default()
            },
            dropped,
        ));
    }
    let marker = DeleteMarker {
        version: stamp(state),
        last_modified_ms: now_ms(),
    };
    let removed = retire(t, okey, state, old.as_ref())?;
    if existed {
        t.objects.remove(okey)?;
    }
    t.versions.put_json(
        &version_key(okey, marker.version.seq),
        &VersionEntry::DeleteMarker(marker.clone()),
    )?;
    let dropped = drop_unreferenced(t, okey, &removed)?;
    Ok((
        Deleted {
            version_id: Some(marker.version.shown().to_owned()),
            delete_marker: true,
            existed,
        },
        dropped,
    ))
}

/// Removes one version of `okey` for good (an object or a delete marker; a version that is not
/// there is no error, as on OSS), then restores the invariant: if the newest remaining version
/// is an object, it becomes the current one.
pub(super) fn delete_version(
    t: &mut Tables<'_>,
    okey: &[u8],
    id: &str,
) -> Result<(Deleted, Vec<BlobId>), StoreError> {
    let found = find(&*t.objects, &*t.versions, okey, Some(id))?;
    let Some((place, entry)) = found else {
        return Ok((
            Deleted {
                version_id: Some(id.to_owned()),
                ..Deleted::default()
            },
            Vec::new(),
        ));
    };
    match &place {
        Place::Current => t.objects.remove(okey)?,
        Place::Noncurrent(k) => t.versions.remove(k)?,
    };
    promote(t, okey)?;
    let (removed, delete_marker) = match entry {
        VersionEntry::Object(o) => (vec![*o], false),
        VersionEntry::DeleteMarker(_) => (Vec::new(), true),
    };
    let dropped = drop_unreferenced(t, okey, &removed)?;
    Ok((
        Deleted {
            version_id: Some(id.to_owned()),
            delete_marker,
            existed: true,
        },
        dropped,
    ))
}

/// If `okey` has no current object and its newest noncurrent version is an object, makes that
/// the current object.
fn promote(t: &mut Tables<'_>, okey: &[u8]) -> Result<(), StoreError> {
    if t.objects.contains(okey)? {
        return Ok(());
    }
    let newest = noncurrent(&*t.versions, okey)?.into_iter().next();
    if let Some((k, VersionEntry::Object(o))) = newest {
        t.versions.remove(&k)?;
        t.objects.put_json(okey, &*o)?;
    }
    Ok(())
}

/// Changes the metadata of one version in place (ACL, tags, restore, a re-wrapped data key):
/// `NoSuchKey` / `NoSuchVersion` if it is not there, `DeleteMarker` if it is a delete marker.
/// Content (segments) and the version stamp never change. Returns the new record.
pub(super) fn update(
    t: &mut Tables<'_>,
    okey: &[u8],
    id: Option<&str>,
    change: impl FnOnce(&mut ObjectRecord),
) -> Result<ObjectRecord, StoreError> {
    let missing = || match id {
        None => StoreError::NoSuchKey,
        Some(_) => StoreError::NoSuchVersion,
    };
    let (place, entry) = find(&*t.objects, &*t.versions, okey, id)?.ok_or_else(missing)?;
    let mut record = match entry {
        VersionEntry::Object(o) => *o,
        VersionEntry::DeleteMarker(m) => {
            return Err(match id {
                None => StoreError::NoSuchKey,
                Some(_) => StoreError::DeleteMarker(m.version.shown().to_owned()),
            })
        }
    };
    let (segments, version) = (record.segments.clone(), record.version.clone());
    change(&mut record);
    debug_assert_eq!(
        record.segments, segments,
        "an update must not change content"
    );
    record.segments = segments;
    record.version = version;
    match place {
        Place::Current => t.objects.put_json(okey, &record)?,
        Place::Noncurrent(k) => t
            .versions
            .put_json(&k, &VersionEntry::Object(Box::new(record.clone())))?,
    }
    Ok(record)
}

/// Whether any version of `okey` references `blob`.
pub(super) fn references(
    objects: &impl JsonTable,
    versions: &impl JsonTable,
    okey: &[u8],
    blob: BlobId,
) -> Result<bool, StoreError> {
    let has = |r: &ObjectRecord| r.segments.iter().any(|s| s.blob == blob);
    if objects
        .get_json::<ObjectRecord>(okey)?
        .is_some_and(|r| has(&r))
    {
        return Ok(true);
    }
    Ok(noncurrent(versions, okey)?
        .iter()
        .any(|(_, e)| matches!(e, VersionEntry::Object(o) if has(o))))
}

// ---- listing ----

/// One entry of a ListObjectVersions page.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionItem {
    Version {
        key: String,
        entry: VersionEntry,
        /// The key's newest version.
        is_latest: bool,
    },
    /// A common prefix rolled up by the delimiter.
    Prefix(String),
}

/// A page of ListObjectVersions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionPage {
    pub items: Vec<VersionItem>,
    pub truncated: bool,
    /// Where the next page starts, when truncated: the last key (or common prefix) returned
    /// and the last version id returned (`None` after a common prefix).
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// A range scan over one of the two tables, yielding (user key, value bytes).
struct Scan<'a, T: JsonTable> {
    table: &'a T,
    range: redb::Range<'a, &'static [u8], &'static [u8]>,
    end: Vec<u8>,
    base_len: usize,
    /// Bytes after the user key in this table's keys.
    suffix: usize,
    peeked: Option<(String, Vec<u8>)>,
}

impl<'a, T: JsonTable> Scan<'a, T> {
    fn new(
        table: &'a T,
        start: &[u8],
        end: Vec<u8>,
        base_len: usize,
        suffix: usize,
    ) -> Result<Self, StoreError> {
        let range = table.range::<&[u8]>(start..end.as_slice())?;
        Ok(Scan {
            table,
            range,
            end,
            base_len,
            suffix,
            peeked: None,
        })
    }

    fn seek(&mut self, start: &[u8]) -> Result<(), StoreError> {
        self.peeked = None;
        self.range = self.table.range::<&[u8]>(start..self.end.as_slice())?;
        Ok(())
    }

    fn peek(&mut self) -> Result<Option<&str>, StoreError> {
        while self.peeked.is_none() {
            let Some(item) = self.range.next() else {
                return Ok(None);
            };
            let (k, v) = item?;
            let full = k.value();
            if full.len() < self.base_len + self.suffix {
                return Err(StoreError::Corrupt(format!("short key {full:?}")));
            }
            let user = &full[self.base_len..full.len() - self.suffix];
            if self.suffix > 0 && user.contains(&0) {
                // Ambiguous with a NUL-bearing key; OSS keys cannot carry NUL through XML.
                continue;
            }
            let key = std::str::from_utf8(user)
                .map_err(|_| StoreError::Corrupt(format!("object key {full:?} is not UTF-8")))?;
            self.peeked = Some((key.to_owned(), v.value().to_vec()));
        }
        Ok(self.peeked.as_ref().map(|(k, _)| k.as_str()))
    }

    fn take(&mut self) -> Option<(String, Vec<u8>)> {
        self.peeked.take()
    }
}

/// One page of ListObjectVersions of `bucket`: keys in byte order, each key's versions newest
/// first, common prefixes rolled up (one entry each). Starts after (`key_marker`,
/// `marker_seq`): with a seq, at `key_marker`'s versions older than it; without, after every
/// version of `key_marker`.
#[allow(clippy::too_many_arguments)]
pub(super) fn list(
    objects: &impl JsonTable,
    versions: &impl JsonTable,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    key_marker: &str,
    marker_seq: Option<u64>,
    max: usize,
) -> Result<VersionPage, StoreError> {
    let base = bucket_base(bucket);
    let end = successor_scoped(concat(&base, prefix.as_bytes()));
    let start = super::list::scan_start(&base, prefix, delimiter, key_marker, || {
        concat(&base, key_marker.as_bytes())
    });
    let mut current = Scan::new(objects, &start, end.clone(), base.len(), 0)?;
    let mut older = Scan::new(versions, &start, end, base.len(), SUFFIX)?;
    let mut page = VersionPage::default();
    loop {
        let key = match (current.peek()?.map(str::to_owned), older.peek()?) {
            (None, None) => break,
            (Some(a), None) => a,
            (None, Some(b)) => b.to_owned(),
            (Some(a), Some(b)) => a.min(b.to_owned()),
        };
        if let Some(cp) = super::list::rollup(prefix, delimiter, &key) {
            if page.items.len() >= max {
                page.truncated = true;
                break;
            }
            let cp = cp.to_owned();
            let next = successor_scoped(concat(&base, cp.as_bytes()));
            current.seek(&next)?;
            older.seek(&next)?;
            page.next_key_marker = Some(cp.clone());
            page.next_version_id_marker = None;
            page.items.push(VersionItem::Prefix(cp));
            continue;
        }
        let mut entries: Vec<VersionEntry> = Vec::new();
        if current.peek()? == Some(key.as_str()) {
            let (_, v) = current.take().expect("peeked");
            let record: ObjectRecord = super::meta::decode(&v, key.as_bytes())?;
            entries.push(VersionEntry::Object(Box::new(record)));
        }
        while older.peek()? == Some(key.as_str()) {
            let (_, v) = older.take().expect("peeked");
            entries.push(super::meta::decode(&v, key.as_bytes())?);
        }
        for (i, entry) in entries.into_iter().enumerate() {
            if key == key_marker && marker_seq.is_none_or(|m| entry.version().seq >= m) {
                continue;
            }
            if page.items.len() >= max {
                page.truncated = true;
                return Ok(page);
            }
            page.next_key_marker = Some(key.clone());
            page.next_version_id_marker = Some(entry.version().shown().to_owned());
            page.items.push(VersionItem::Version {
                key: key.clone(),
                entry,
                is_latest: i == 0,
            });
        }
    }
    Ok(page)
}

/// The seq a `version-id-marker` stands for on `key_marker`: a non-null id's own, the null
/// version's (0, before every version, when the key has none: the whole key is skipped).
pub(super) fn marker_seq(
    objects: &impl JsonTable,
    versions: &impl JsonTable,
    okey: &[u8],
    id: &str,
) -> Result<u64, StoreError> {
    if let Some(seq) = seq_of(id) {
        return Ok(seq);
    }
    Ok(find(objects, versions, okey, Some("null"))?
        .map(|(_, e)| e.version().seq)
        .unwrap_or(0))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

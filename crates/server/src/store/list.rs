//! Listings by range scan with delimiter rollup.
//!
//! A rolled-up common prefix costs one seek: after emitting it, the scan restarts at the
//! byte-string successor of the prefix, so a folder holding a million keys costs the same as a
//! folder holding one. Pages peek one entry past `max` to tell whether more follow, and hold at
//! most `max` entries.

use super::meta::{bucket_base, concat, decode, successor_scoped, Bytes};
use super::{BucketRecord, ListEntry, ListPage, StoreError, UploadPage};
use redb::ReadableTable;
use std::ops::Bound;

/// The common prefix `key` rolls up into: `prefix` plus the remainder up to and including the
/// first `delimiter` after `prefix`. `None` if it is not rolled up.
pub(super) fn rollup<'k>(prefix: &str, delimiter: &str, key: &'k str) -> Option<&'k str> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

/// Where to start scanning a bucket-scoped table (`bucket 0x00 key …`) for keys that start
/// with `prefix` and come after a marker. `marker_skip` is the first table key after the
/// marker when the marker is not inside a rolled-up prefix.
pub(super) fn scan_start(
    base: &[u8],
    prefix: &str,
    delimiter: &str,
    marker: &str,
    marker_skip: impl FnOnce() -> Vec<u8>,
) -> Vec<u8> {
    let scope = concat(base, prefix.as_bytes());
    if marker.is_empty() {
        return scope;
    }
    // A marker inside a common prefix (typically the common prefix itself, which ended the
    // previous page) means that prefix was already emitted: skip everything under it. Any key
    // after the marker that rolls up into an earlier prefix necessarily lies under the marker's
    // own prefix, so this is the only prefix that could repeat.
    let skip = match rollup(prefix, delimiter, marker) {
        Some(cp) => successor_scoped(concat(base, cp.as_bytes())),
        None => marker_skip(),
    };
    scope.max(skip)
}

/// One page of objects of `bucket`; see `Store::list_objects`.
pub(super) fn objects(
    table: &impl ReadableTable<Bytes, Bytes>,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    after: &str,
    max: usize,
) -> Result<ListPage, StoreError> {
    let base = bucket_base(bucket);
    let end = successor_scoped(concat(&base, prefix.as_bytes()));
    let start = scan_start(&base, prefix, delimiter, after, || {
        // The smallest byte string greater than `after` is `after 0x00`.
        let mut k = concat(&base, after.as_bytes());
        k.push(0);
        k
    });
    let mut page = ListPage::default();
    let mut range = table.range::<&[u8]>(start.as_slice()..end.as_slice())?;
    while let Some(item) = range.next() {
        if page.entries.len() >= max {
            page.truncated = true;
            break;
        }
        let (k, v) = item?;
        let full = k.value();
        let key = std::str::from_utf8(&full[base.len()..])
            .map_err(|_| StoreError::Corrupt(format!("object key {full:?} is not UTF-8")))?;
        if let Some(cp) = rollup(prefix, delimiter, key) {
            let next = successor_scoped(concat(&base, cp.as_bytes()));
            page.entries.push(ListEntry::Prefix(cp.to_owned()));
            range = table.range::<&[u8]>(next.as_slice()..end.as_slice())?;
        } else {
            let record = Box::new(decode(v.value(), full)?);
            page.entries.push(ListEntry::Object {
                key: key.to_owned(),
                record,
            });
        }
    }
    Ok(page)
}

/// One page of in-progress uploads of `bucket`; see `Store::list_uploads`.
pub(super) fn uploads(
    table: &impl ReadableTable<Bytes, Bytes>,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    key_marker: &str,
    upload_id_marker: &str,
    max: usize,
) -> Result<UploadPage, StoreError> {
    let base = bucket_base(bucket);
    let end = successor_scoped(concat(&base, prefix.as_bytes()));
    let start = scan_start(&base, prefix, delimiter, key_marker, || {
        let mut k = concat(&base, key_marker.as_bytes());
        k.push(0);
        if upload_id_marker.is_empty() {
            // Past every upload of `key_marker`: `key 0x00 *` all sort below `key 0x01`.
            successor_scoped(k)
        } else {
            // Same key, ids after the marker (ids contain no 0x00 byte).
            k.extend_from_slice(upload_id_marker.as_bytes());
            k.push(0);
            k
        }
    });
    let mut page = UploadPage::default();
    let mut range = table.range::<&[u8]>(start.as_slice()..end.as_slice())?;
    while let Some(item) = range.next() {
        if page.uploads.len() + page.prefixes.len() >= max {
            page.truncated = true;
            break;
        }
        let (k, v) = item?;
        let full = k.value();
        let rest = &full[base.len()..];
        let key = rest
            .iter()
            .rposition(|&b| b == 0)
            .and_then(|cut| std::str::from_utf8(&rest[..cut]).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("bad upload key {full:?}")))?;
        if let Some(cp) = rollup(prefix, delimiter, key) {
            let next = successor_scoped(concat(&base, cp.as_bytes()));
            page.prefixes.push(cp.to_owned());
            range = table.range::<&[u8]>(next.as_slice()..end.as_slice())?;
        } else {
            page.uploads.push(decode(v.value(), full)?);
        }
    }
    Ok(page)
}

/// Buckets with `name > marker` starting with `prefix`, at most `limit`; bool: more follow.
pub(super) fn buckets(
    table: &impl ReadableTable<Bytes, Bytes>,
    prefix: &str,
    marker: &str,
    limit: usize,
) -> Result<(Vec<BucketRecord>, bool), StoreError> {
    let mut start = prefix.as_bytes().to_vec();
    if !marker.is_empty() {
        start = start.max(concat(marker.as_bytes(), &[0]));
    }
    let end = match super::meta::successor(prefix.as_bytes().to_vec()) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    let range = (
        Bound::Included(start.as_slice()),
        end.as_ref().map(Vec::as_slice),
    );
    let mut out = Vec::new();
    for item in table.range::<&[u8]>(range)? {
        if out.len() >= limit {
            return Ok((out, true));
        }
        let (k, v) = item?;
        out.push(decode(v.value(), k.value())?);
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_rules() {
        assert_eq!(rollup("", "/", "a/b/c"), Some("a/"));
        assert_eq!(rollup("a/", "/", "a/b/c"), Some("a/b/"));
        assert_eq!(rollup("a/", "/", "a/b"), None);
        assert_eq!(rollup("a/", "", "a/b/c"), None);
        assert_eq!(rollup("b/", "/", "a/b/c"), None);
        assert_eq!(rollup("", "--", "x--y--z"), Some("x--"));
        assert_eq!(rollup("", "/", "/"), Some("/"));
        assert_eq!(rollup("", "文", "中文件"), Some("中文"));
    }
}

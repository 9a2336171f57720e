//! Key rotation without re-upload: a new key version for new objects, and the rewrap of the
//! objects under a prefix that an older version wraps. Each object's content key is unwrapped
//! and wrapped anew, and written with a CopyObject of the object onto itself (metadata
//! REPLACE, conditional on the ETag read): the content is never downloaded or uploaded.
//! Every object is readable at every moment (old and new versions are both in the keystore).
//!
//! A rewrap in progress leaves a marker (no secret in it) in the keystore's config directory,
//! so that running the same rotation again after an interruption finishes it instead of
//! rotating once more.

use crate::copy::carried_metadata;
use crate::error::{Error, Result};
use crate::keys::master_from_material;
use futures_util::{StreamExt, TryStreamExt};
use ossvault_client::transfer::CancellationToken;
use ossvault_client::{Client, ListRequest, ObjectEntry};
use ossvault_crypto::{names, MasterKey, ObjectHeaders};
use ossvault_keystore::{KeyInfo, Keystore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The record of a rewrap in progress.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct RewrapMarker {
    name: String,
    version: u32,
    /// What is rewrapped, `oss://bucket/prefix`.
    url: String,
}

/// Where the rewrap starts from.
#[derive(Debug, Clone)]
pub struct RotationStart {
    /// The key, its current version the one objects are rewrapped to.
    pub key: KeyInfo,
    /// A new version was made now.
    pub rotated: bool,
    /// An interrupted rewrap of the same target is being finished (no new version).
    pub resumed: bool,
}

/// The objects a rewrap touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapCounts {
    pub rewrapped: u64,
    /// Already current, under another key, or not client-side encrypted.
    pub skipped: u64,
    pub failed: u64,
    /// Stopped by the cancellation token before every object was seen (the rotation's marker
    /// stays: running the same rotation again finishes it).
    pub cancelled: bool,
}

/// One object's outcome, as it happens.
#[derive(Debug)]
pub enum RewrapEvent {
    Rewrapped { key: String, from_version: u32 },
    Failed { key: String, error: Error },
}

/// Called for each rewrapped or failed object (keep it quick: objects wait on it).
pub type OnRewrap<'a> = &'a (dyn Fn(RewrapEvent) + Sync);

/// What to rewrap and how.
pub struct RewrapTarget<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    /// Objects in flight.
    pub jobs: usize,
}

impl RewrapTarget<'_> {
    fn url(&self) -> String {
        format!("oss://{}/{}", self.bucket, self.prefix)
    }
}

fn marker_path(keystore: &Keystore, name: &str) -> PathBuf {
    keystore.config_dir().join(format!("rewrap-{name}.json"))
}

/// Moves the marker of an interrupted rewrap of key `old` to its new name `new`, so that the
/// same rotation under the new name finishes it. Best effort: left behind, the marker only
/// makes the next `rotate --rewrap` of the renamed key rotate once more instead of resuming.
pub(crate) fn rename_marker(keystore: &Keystore, old: &str, new: &str) {
    let from = marker_path(keystore, old);
    let Some(mut marker) = std::fs::read_to_string(&from)
        .ok()
        .and_then(|t| serde_json::from_str::<RewrapMarker>(&t).ok())
    else {
        return;
    };
    marker.name = new.to_owned();
    let Ok(json) = serde_json::to_vec(&marker) else {
        return;
    };
    if std::fs::write(marker_path(keystore, new), json).is_ok() {
        let _ = std::fs::remove_file(from);
    }
}

/// Rotates key `name` (unless `rotate` is false) ahead of a rewrap of `target`; if an earlier
/// rewrap of the same target to the current version was interrupted, finishes that one instead.
pub fn start_rotation(
    keystore: &Keystore,
    name: &str,
    target: Option<&RewrapTarget<'_>>,
    rotate: bool,
) -> Result<RotationStart> {
    let before = keystore.get(name)?;
    let path = marker_path(keystore, name);
    if let Some(target) = target {
        let marker: Option<RewrapMarker> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if marker.is_some_and(|m| m.url == target.url() && m.version == before.current_version) {
            return Ok(RotationStart {
                key: before,
                rotated: false,
                resumed: true,
            });
        }
    }
    if !rotate {
        return Ok(RotationStart {
            key: before,
            rotated: false,
            resumed: false,
        });
    }
    let key = keystore.rotate(name)?;
    if let Some(target) = target {
        let marker = RewrapMarker {
            name: name.to_owned(),
            version: key.current_version,
            url: target.url(),
        };
        let json = serde_json::to_vec(&marker).map_err(|e| Error::InvalidInput(e.to_string()))?;
        std::fs::write(&path, json).map_err(Error::io(&path))?;
    }
    Ok(RotationStart {
        key,
        rotated: true,
        resumed: false,
    })
}

/// Rotates key `name` and rewraps the objects under `target` to the new version (or finishes
/// an interrupted rewrap of the same target): [`start_rotation`] then [`rewrap`], as the app's
/// Keys screen runs them in one step.
pub async fn rotate_and_rewrap(
    client: &Client,
    keystore: &Keystore,
    name: &str,
    target: &RewrapTarget<'_>,
    on_event: OnRewrap<'_>,
    cancel: &CancellationToken,
) -> Result<(RotationStart, RewrapCounts)> {
    let start = start_rotation(keystore, name, Some(target), true)?;
    let counts = rewrap(client, keystore, &start.key, target, on_event, cancel).await?;
    Ok((start, counts))
}

/// Rewraps every object under `target` that an older version of `key` wraps to its current
/// version. Objects already current, under other keys or unencrypted are skipped; a failed
/// object is reported through `on_event` and counted, the others go on. When none failed, the
/// rotation's marker is removed. Cancelling stops cleanly: no new object starts, those in
/// flight finish (each is written whole or not at all, so every object stays readable under
/// its old or its new version), and the counts so far come back with `cancelled` set.
pub async fn rewrap(
    client: &Client,
    keystore: &Keystore,
    key: &KeyInfo,
    target: &RewrapTarget<'_>,
    on_event: OnRewrap<'_>,
    cancel: &CancellationToken,
) -> Result<RewrapCounts> {
    let current = master_from_material(&keystore.secret(&key.name, Some(key.current_version))?)?;
    let mut old: HashMap<String, (u32, MasterKey)> = HashMap::new();
    for v in key
        .versions
        .iter()
        .filter(|v| v.version != key.current_version)
    {
        let master = master_from_material(&keystore.secret(&key.name, Some(v.version))?)?;
        old.insert(v.fingerprint.clone(), (v.version, master));
    }
    let (rewrapped, skipped, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let request = ListRequest {
        prefix: target.prefix.to_owned(),
        ..Default::default()
    };
    let listing = client
        .list_pages(target.bucket, request)
        .map_ok(|page| futures_util::stream::iter(page.objects.into_iter().map(Ok)))
        .try_flatten()
        .take_until(cancel.cancelled());
    let listing_error = Mutex::new(None);
    let work = listing
        .map(|entry: Result<ObjectEntry, ossvault_client::Error>| {
            let (old, current, on_event) = (&old, &current, &on_event);
            let (rewrapped, skipped, failed, listing_error) =
                (&rewrapped, &skipped, &failed, &listing_error);
            async move {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        *listing_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                };
                match rewrap_one(client, target.bucket, &entry.key, old, current).await {
                    Ok(Some(from_version)) => {
                        rewrapped.fetch_add(1, Ordering::Relaxed);
                        on_event(RewrapEvent::Rewrapped {
                            key: entry.key,
                            from_version,
                        });
                    }
                    Ok(None) => {
                        skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        on_event(RewrapEvent::Failed {
                            key: entry.key,
                            error,
                        });
                    }
                }
            }
        })
        .buffer_unordered(target.jobs.max(1))
        .collect::<()>();
    work.await;
    if let Some(e) = listing_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(e.into());
    }
    let counts = RewrapCounts {
        rewrapped: rewrapped.into_inner(),
        skipped: skipped.into_inner(),
        failed: failed.into_inner(),
        cancelled: cancel.is_cancelled(),
    };
    if counts.failed == 0 && !counts.cancelled {
        let _ = std::fs::remove_file(marker_path(keystore, &key.name));
    }
    Ok(counts)
}

/// Rewraps one object if an old version wraps it; returns that version, or `None` if skipped.
async fn rewrap_one(
    client: &Client,
    bucket: &str,
    key: &str,
    old: &HashMap<String, (u32, MasterKey)>,
    current: &MasterKey,
) -> Result<Option<u32>> {
    let meta = client.head_object(bucket, key).await?;
    let headers = ObjectHeaders::parse(&meta.headers)?;
    let Some(fp) = headers.key_fingerprint() else {
        return Ok(None);
    };
    let Some((version, old_key)) = old.get(&fp.to_hex()) else {
        // Already under the current version, or another key's.
        return Ok(None);
    };
    let new_headers = headers.rewrap(old_key, current).await?;
    let mut opts = carried_metadata(&meta);
    opts.headers
        .retain(|(name, _)| !names::is_encryption_header(name));
    opts.headers.extend(new_headers);
    // Only if the object is still the one read: a concurrent overwrite is never given this
    // object's wrapped key.
    opts.headers
        .push(("x-oss-copy-source-if-match".into(), meta.etag.clone()));
    client
        .copy_object(bucket, key, bucket, key, Some(&opts))
        .await?;
    Ok(Some(*version))
}

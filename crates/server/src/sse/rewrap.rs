//! Moves every data key onto the current SSE-OSS master key without touching content: after a
//! rotation, in the background. Each object is rewritten in its own metadata transaction and
//! only if its wrapped key is still the one read (a concurrent overwrite wins), so the job can
//! be killed at any point and simply run again.

use super::keys::KeyError;
use super::MasterKeys;
use crate::store::{SseRecord, Store, WrappedKey};

const PAGE: usize = 256;
/// Updates in flight at once: they share metadata commits (group commit).
const PARALLEL: usize = 16;

/// What a re-wrap pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub objects: u64,
    pub uploads: u64,
}

/// The same record with its data key wrapped by the current version, if it needs it.
fn rewrapped(master: &MasterKeys, sse: &SseRecord) -> Result<Option<SseRecord>, KeyError> {
    let WrappedKey::Master { version, blob } = &sse.wrapped else {
        return Ok(None);
    };
    if *version == master.current_version() {
        return Ok(None);
    }
    let key = master.unwrap(*version, blob)?;
    let (version, blob) = master.wrap(&key);
    Ok(Some(SseRecord {
        wrapped: WrappedKey::Master { version, blob },
        ..sse.clone()
    }))
}

/// Re-wraps every object's and upload's SSE-OSS data key under the current master key.
pub fn rewrap_all(store: &Store, master: &MasterKeys) -> Result<RewrapReport, KeyError> {
    let mut report = RewrapReport::default();
    let mut after: Option<(String, String)> = None;
    loop {
        let page =
            store.scan_objects(after.as_ref().map(|(b, k)| (b.as_str(), k.as_str())), PAGE)?;
        let Some((b, k, _)) = page.last() else { break };
        after = Some((b.clone(), k.clone()));
        let mut work = Vec::new();
        for (bucket, key, record) in page {
            if let Some(old) = record.sse {
                if let Some(new) = rewrapped(master, &old)? {
                    work.push((bucket, key, old, new));
                }
            }
        }
        let changed = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(work.len().div_ceil(PARALLEL).max(1))
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut changed = 0u64;
                        for (bucket, key, old, new) in chunk {
                            let (old, new) = (old.clone(), new.clone());
                            let result = store.update_object(bucket, key, move |o| {
                                if o.sse.as_ref() == Some(&old) {
                                    o.sse = Some(new);
                                }
                            });
                            match result {
                                Ok(_) => changed += 1,
                                // Deleted meanwhile: nothing to re-wrap.
                                Err(
                                    crate::store::StoreError::NoSuchKey
                                    | crate::store::StoreError::NoSuchBucket,
                                ) => {}
                                Err(e) => return Err(KeyError::Store(e)),
                            }
                        }
                        Ok(changed)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("re-wrap worker"))
                .sum::<Result<u64, KeyError>>()
        })?;
        report.objects += changed;
    }
    for upload in store.all_uploads()? {
        let Some(old) = upload.sse.clone() else {
            continue;
        };
        if let Some(new) = rewrapped(master, &old)? {
            store.update_upload(&upload.bucket, &upload.upload_id, move |u| {
                if u.sse.as_ref() == Some(&old) {
                    u.sse = Some(new);
                }
            })?;
            report.uploads += 1;
        }
    }
    Ok(report)
}

//! Scrub: read every stored object back at a bounded rate and check it (CRC-64 of each plain
//! segment, the AES-GCM tag of every sealed chunk), quarantining what fails (the object is
//! marked corrupt, as a read that finds damage does: see [`crate::integrity`]).
//!
//! Memory stays bounded: objects are visited in pages of the metadata, content in the read
//! path's pieces. Runs inside a server (`serve --scrub-interval`) or offline on a data
//! directory no server holds ([`scrub_data_dir`]).

use crate::body::read_segment;
use crate::integrity::{damage_of, quarantine, Damage};
use crate::kms::LocalKms;
use crate::sse::{KeyError, Kms, MasterKeys, Sse};
use crate::store::{ObjectRecord, Store, StoreError};
use crate::RootSecret;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Objects read from the metadata per page.
const PAGE: usize = 256;

/// How a scrub runs.
#[derive(Debug, Clone)]
pub struct ScrubOptions {
    /// Most bytes read per second (a token bucket refilled at this rate, one second deep,
    /// starting empty; plaintext bytes are counted); 0 is unbounded.
    pub max_bytes_per_sec: u64,
    /// Mark damaged objects corrupt (quarantine). Off: only report.
    pub quarantine: bool,
    /// Set to stop the scrub early (a server shutting down); the report covers what was done.
    pub cancel: Arc<AtomicBool>,
    pub progress: Option<Progress>,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            max_bytes_per_sec: 50 << 20,
            quarantine: true,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }
}

pub use ossvault_proto::admin::{CorruptObject, ScrubReport, UncheckedObject};

/// Told the report so far, about once a second while a scrub runs (the online scrub streams
/// it to its client).
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&ScrubReport) + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// What can stop a scrub (damage found does not: it is reported).
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading the server's keys failed: {0}")]
    Keys(#[from] KeyError),
    #[error("reading blob {blob} failed: {source}")]
    Read {
        blob: crate::store::BlobId,
        source: std::io::Error,
    },
}

/// A token bucket over bytes: `take(n)` sleeps until `n` bytes fit the rate.
struct RateLimit {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: u64) -> Self {
        // Starts empty: the bound holds from the first second, not after a burst.
        RateLimit {
            rate,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    fn take(&mut self, n: u64) {
        if self.rate == 0 {
            return;
        }
        let now = Instant::now();
        let burst = self.rate as f64;
        self.tokens = (self.tokens
            + now.duration_since(self.last).as_secs_f64() * self.rate as f64)
            .min(burst);
        self.last = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            let wait = -self.tokens / self.rate as f64;
            std::thread::sleep(Duration::from_secs_f64(wait));
            self.tokens = 0.0;
            self.last = Instant::now();
        }
    }
}

/// Scrubs every object of `store` (blocking). `keys` opens sealed objects' data keys; without
/// them sealed objects are listed as unchecked.
pub fn scrub(
    store: &Store,
    keys: Option<&Sse>,
    options: &ScrubOptions,
) -> Result<ScrubReport, ScrubError> {
    let started = Instant::now();
    let mut limit = RateLimit::new(options.max_bytes_per_sec);
    let mut report = ScrubReport::default();
    let mut after: Option<(String, String)> = None;
    let mut told = Instant::now();
    let mut check = |bucket, key, record| {
        check_object(
            store,
            keys,
            options,
            &mut limit,
            &mut report,
            bucket,
            key,
            record,
            &mut told,
        )
    };
    loop {
        if options.cancel.load(Ordering::Relaxed) {
            break;
        }
        let page =
            store.scan_objects(after.as_ref().map(|(b, k)| (b.as_str(), k.as_str())), PAGE)?;
        let Some((b, k, _)) = page.last() else { break };
        after = Some((b.clone(), k.clone()));
        for (bucket, key, record) in page {
            if options.cancel.load(Ordering::Relaxed) {
                break;
            }
            check(bucket, key, record)?;
        }
    }
    // Then every noncurrent version: its content is as much the store's to keep.
    let mut after: Option<Vec<u8>> = None;
    loop {
        if options.cancel.load(Ordering::Relaxed) {
            break;
        }
        let page = store.scan_versions(after.as_deref(), PAGE)?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.position.clone());
        for crate::store::StoredVersion {
            bucket,
            key,
            record,
            ..
        } in page
        {
            if options.cancel.load(Ordering::Relaxed) {
                break;
            }
            check(bucket, key, record)?;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.bytes_per_sec = report.bytes as f64 / report.seconds.max(1e-9);
    tracing::info!(
        objects = report.objects,
        bytes = report.bytes,
        corrupt = report.corrupt.len(),
        unchecked = report.unchecked.len(),
        seconds = report.seconds,
        "scrub finished"
    );
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn check_object(
    store: &Store,
    keys: Option<&Sse>,
    options: &ScrubOptions,
    limit: &mut RateLimit,
    report: &mut ScrubReport,
    bucket: String,
    key: String,
    record: ObjectRecord,
    told: &mut Instant,
) -> Result<(), ScrubError> {
    if let Some(mark) = &record.corrupt {
        report.corrupt.push(CorruptObject {
            bucket,
            key,
            detail: mark.detail.clone(),
            already_marked: true,
        });
        return Ok(());
    }
    let data_key = match (&record.sse, keys) {
        (None, _) => None,
        (Some(sse), Some(keys)) => match keys.open(sse) {
            Ok(k) => Some(k),
            Err(e) => {
                report.unchecked.push(UncheckedObject {
                    bucket,
                    key,
                    reason: e.message,
                });
                return Ok(());
            }
        },
        (Some(_), None) => {
            report.unchecked.push(UncheckedObject {
                bucket,
                key,
                reason: "sealed, and no root secret was given".into(),
            });
            return Ok(());
        }
    };
    for segment in &record.segments {
        let damage = match store.open_blob(segment.blob) {
            Ok(file) => {
                let checked =
                    read_segment(&file, segment, data_key.as_ref(), 0, segment.len, |piece| {
                        limit.take(piece.len() as u64);
                        report.bytes += piece.len() as u64;
                        if let Some(progress) = &options.progress {
                            if told.elapsed() >= Duration::from_secs(1) {
                                *told = Instant::now();
                                (progress.0)(report);
                            }
                        }
                        !options.cancel.load(Ordering::Relaxed)
                    });
                match checked {
                    Ok(()) => None,
                    Err(e) => match damage_of(&e) {
                        Some(d) => Some(d.clone()),
                        None => {
                            return Err(ScrubError::Read {
                                blob: segment.blob,
                                source: e,
                            })
                        }
                    },
                }
            }
            Err(StoreError::BlobMissing(blob)) => {
                // Overwritten or deleted since the page was read? Only damage if the object
                // still references the blob.
                store
                    .references_blob(&bucket, &key, blob)
                    .unwrap_or(false)
                    .then_some(Damage::Missing { blob })
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(damage) = damage {
            if options.quarantine {
                quarantine(store, &bucket, &key, &damage);
            } else {
                tracing::error!(bucket, key, damage = %damage, "stored content is corrupt");
            }
            report.corrupt.push(CorruptObject {
                bucket,
                key,
                detail: damage.to_string(),
                already_marked: false,
            });
            return Ok(());
        }
    }
    report.objects += 1;
    Ok(())
}

/// Scrubs a data directory no server is running on (blocking): `StoreError::InUse` if one is.
/// With `root`, sealed objects are checked too (the keys are loaded as the server loads them).
pub fn scrub_data_dir(
    data_dir: &Path,
    root: Option<RootSecret>,
    options: &ScrubOptions,
) -> Result<ScrubReport, ScrubError> {
    if !data_dir.join("meta.redb").exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} holds no ossvault data", data_dir.display()),
        ))
        .into());
    }
    let store = Store::open(data_dir)?;
    let keys = match root {
        Some(root) => {
            // Region and account only name keys in KMS answers; unwrapping does not use them.
            let kms = LocalKms::load(&store, &root, "", "")?;
            Some(Sse {
                master: MasterKeys::load(&store, root)?,
                kms: Some(Arc::new(kms) as Arc<dyn Kms>),
            })
        }
        None => None,
    };
    scrub(&store, keys.as_ref(), options)
}

/// Scrubs the running server's store every `interval`, starting one interval after start.
pub(crate) async fn periodic(
    state: Arc<crate::api::State>,
    interval: Duration,
    options: ScrubOptions,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let (state, run) = (state.clone(), options.clone());
        let mut job =
            tokio::task::spawn_blocking(move || scrub(&state.store, state.sse.as_ref(), &run));
        let done = tokio::select! {
            done = &mut job => done,
            _ = stopped.changed() => {
                options.cancel.store(true, Ordering::Relaxed);
                let _ = job.await;
                return;
            }
        };
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "scrub failed"),
            Err(e) => tracing::error!(error = %e, "scrub panicked"),
        }
    }
}

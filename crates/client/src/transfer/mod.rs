//! Resumable, parallel, streaming transfers between local files and objects.
//!
//! Files at or above `multipart_threshold` go up as multipart uploads with `jobs` parts in
//! flight; a checkpoint (one JSON file per transfer in `checkpoint_dir`) records the finished
//! parts, so an upload interrupted by a crash continues where it stopped. Downloads of large
//! objects use parallel ranged GETs into a temp file beside the target, checkpointed the same
//! way, verified against the object's CRC-64, and renamed into place only when complete.
//! Memory stays bounded by `jobs × chunk buffers`, whatever the file size.

mod checkpoint;
mod download;
mod rate;
mod upload;
mod util;

pub use download::download_file;
pub use rate::RateLimiter;
pub use upload::upload_file;

use crate::{ObjectMeta, PutOptions};
use std::path::PathBuf;
use std::sync::Arc;
pub use tokio_util::sync::CancellationToken;

/// Bytes done out of the total, reported as a transfer advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    pub done: u64,
    pub total: u64,
}

/// Called with the progress of one transfer (from any task; keep it cheap).
pub type OnProgress = Arc<dyn Fn(TransferProgress) + Send + Sync>;

/// What to do with a multipart upload when it is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCancel {
    /// Keep the upload and its checkpoint, so the same transfer resumes later. Without a
    /// `checkpoint_dir` nothing could resume it, so the upload is aborted all the same.
    #[default]
    KeepForResume,
    /// Abort the multipart upload and remove the checkpoint.
    Abort,
}

/// How to upload a file.
#[derive(Clone)]
pub struct UploadOptions {
    /// Part size of multipart uploads (100 KiB ..= 5 GiB; default 8 MiB).
    pub part_size: u64,
    /// Files this big or bigger go multipart (default 8 MiB).
    pub multipart_threshold: u64,
    /// Parts in flight at once (default 4; 0 counts as 1).
    pub jobs: usize,
    /// Where checkpoints live (created if missing); `None` disables resuming.
    pub checkpoint_dir: Option<PathBuf>,
    /// Metadata, Content-Type, overwrite protection of the object.
    pub put: PutOptions,
    pub progress: Option<OnProgress>,
    pub cancel: CancellationToken,
    pub on_cancel: OnCancel,
    /// Paces the bytes sent (a part waits for its bytes before it goes).
    pub limiter: Option<Arc<RateLimiter>>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: 8 << 20,
            multipart_threshold: 8 << 20,
            jobs: 4,
            checkpoint_dir: None,
            put: PutOptions::default(),
            progress: None,
            cancel: CancellationToken::new(),
            on_cancel: OnCancel::default(),
            limiter: None,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    pub size: u64,
    pub etag: String,
    pub crc64: Option<u64>,
    /// Parts found already uploaded in a checkpoint (0 for a fresh or simple upload).
    pub parts_resumed: u32,
    /// Parts sent by this call (1 for a simple upload).
    pub parts_sent: u32,
}

/// How to download an object.
#[derive(Clone)]
pub struct DownloadOptions {
    /// Range size of parallel downloads (default 8 MiB; not 0).
    pub part_size: u64,
    /// Objects this big or bigger are fetched in parallel ranges (default 16 MiB).
    pub parallel_threshold: u64,
    /// Ranges in flight at once (default 4; 0 counts as 1).
    pub jobs: usize,
    /// Where checkpoints of parallel downloads live; `None` disables resuming. A cancelled or
    /// failed download keeps its temp file for a resume only with a checkpoint.
    pub checkpoint_dir: Option<PathBuf>,
    pub progress: Option<OnProgress>,
    pub cancel: CancellationToken,
    /// The object's metadata when the caller has just read it (spares the HEAD the download
    /// would otherwise start with; the GETs still check the ETag against it).
    pub known_meta: Option<ObjectMeta>,
    /// Paces the bytes received (chunk by chunk).
    pub limiter: Option<Arc<RateLimiter>>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            part_size: 8 << 20,
            parallel_threshold: 16 << 20,
            jobs: 4,
            checkpoint_dir: None,
            progress: None,
            cancel: CancellationToken::new(),
            known_meta: None,
            limiter: None,
        }
    }
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    pub size: u64,
    pub etag: String,
    /// Bytes found already downloaded in a checkpoint.
    pub bytes_resumed: u64,
}

//! Helpers of the transfer tests: test files, digests, clients with a given retry policy,
//! progress recorders.

#![allow(dead_code)]

use ossvault_client::transfer::{OnProgress, TransferProgress};
use ossvault_client::{Client, ClientConfig, Credentials, RetryPolicy};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MIB: u64 = 1 << 20;

/// Writes `len` deterministic pseudo-random bytes (xorshift64*, seeded) to `path`, in chunks.
pub fn write_random_file(path: &Path, len: u64, seed: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            word.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
}

/// The SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> [u8; 32] {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hash.finalize().into();
        }
        hash.update(&buf[..n]);
    }
}

/// A client of `endpoint` with the test credentials and the given retry policy.
pub fn client_with_retries(endpoint: &str, retry: RetryPolicy) -> Client {
    let creds = Credentials {
        access_key_id: crate::common::AK.into(),
        access_key_secret: crate::common::SK.into(),
    };
    let mut config = ClientConfig::new(endpoint, "cn-hangzhou", creds);
    config.retry = retry;
    Client::new(config).unwrap()
}

/// Quick retries, so that failure tests run fast.
pub fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
    }
}

/// Records every progress report of a transfer.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<TransferProgress>>>);

impl Recorder {
    pub fn callback(&self) -> OnProgress {
        let reports = self.0.clone();
        Arc::new(move |p| reports.lock().unwrap().push(p))
    }

    pub fn reports(&self) -> Vec<TransferProgress> {
        self.0.lock().unwrap().clone()
    }

    /// Checks the reports never go back, keep one total, and end at it.
    pub fn assert_complete(&self, total: u64) {
        let reports = self.reports();
        assert!(!reports.is_empty(), "no progress reported");
        assert!(reports.iter().all(|p| p.total == total), "{reports:?}");
        assert!(reports.windows(2).all(|w| w[0].done <= w[1].done));
        assert_eq!(reports.last().unwrap().done, total);
    }
}

/// The checkpoint files in `dir` (none when it does not exist).
pub fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The in-progress multipart uploads of `bucket`, as (key, upload id).
pub async fn uploads_in(client: &Client, bucket: &str) -> Vec<(String, String)> {
    let (uploads, _) = client
        .list_multipart_uploads(bucket, "", "", "")
        .await
        .unwrap();
    uploads.into_iter().map(|u| (u.key, u.upload_id)).collect()
}

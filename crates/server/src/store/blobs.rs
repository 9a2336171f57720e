//! Content files: written in `tmp/`, fsynced, renamed into `blobs/`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A blob's random 128-bit id; its file is `blobs/<first two hex>/<32 hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobId(pub u128);

impl BlobId {
    /// A fresh random id.
    pub fn random() -> Self { todo!() }
    /// 32 lowercase hex digits.
    pub fn to_hex(self) -> String { todo!() }
    pub fn from_hex(s: &str) -> Option<Self> { todo!() }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.to_hex()) }
}

/// A blob being written. Blocking I/O. Dropped unfinished: the temp file is removed.
pub struct BlobWriter { /* private */ }

impl BlobWriter {
    pub fn id(&self) -> BlobId { todo!() }
    /// Appends bytes (buffered; large writes go straight through).
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> { todo!() }
    /// Bytes written so far.
    pub fn len(&self) -> u64 { todo!() }
    /// Flushes and fsyncs the temp file. The blob is not yet visible to anyone: pass the
    /// result to a `Store` write, which publishes it.
    pub fn finish(self) -> std::io::Result<NewBlob> { todo!() }
}

/// A durable, not yet published blob (still in `tmp/`). Dropped unpublished: removed.
#[derive(Debug)]
pub struct NewBlob { /* private */ }

impl NewBlob {
    pub fn id(&self) -> BlobId { todo!() }
    pub fn len(&self) -> u64 { todo!() }
}

//! Damage to stored content: how reads and the scrub recognise it, and what they do about it
//! (log it, mark the object corrupt, answer an error instead of data from then on).
//!
//! What is checked: a plain segment read as a whole is checked against the CRC-64 recorded for
//! it at write time (the last piece is held back until the check passes, so a damaged segment
//! is never sent complete); a sealed segment's chunks are each authenticated (AES-GCM) before
//! any of their bytes leave. A read of only part of a plain segment cannot be checked (its
//! CRC-64 covers the whole segment) and is served as stored unless the object is marked.

use crate::api::ApiError;
use crate::sse::seal::CHUNK;
use crate::store::{BlobId, CorruptMark, ObjectRecord, Segment, Store};
use ossvault_proto::ErrorCode;
use std::io;

/// What a check of stored content found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// A plain segment's bytes do not match the CRC-64 recorded when it was written.
    #[error("blob {blob}: CRC-64 {actual:016x} where {expected:016x} was recorded")]
    Crc {
        blob: BlobId,
        expected: u64,
        actual: u64,
    },
    /// A sealed chunk failed authentication (flipped bits, or a chunk moved or replaced).
    #[error("blob {blob}: sealed chunk {chunk} fails authentication")]
    Chunk { blob: BlobId, chunk: u64 },
    /// The blob file is shorter than its segment needs.
    #[error("blob {blob} is shorter than recorded")]
    Short { blob: BlobId },
    /// The blob file is gone although the record references it.
    #[error("blob {blob} is missing")]
    Missing { blob: BlobId },
}

impl Damage {
    /// The damaged blob.
    pub fn blob(&self) -> BlobId {
        match self {
            Damage::Crc { blob, .. }
            | Damage::Chunk { blob, .. }
            | Damage::Short { blob }
            | Damage::Missing { blob } => *blob,
        }
    }

    /// The mark that records this damage on the object.
    pub fn mark(&self) -> CorruptMark {
        CorruptMark {
            blob: self.blob(),
            chunk: match self {
                Damage::Chunk { chunk, .. } => Some(*chunk),
                _ => None,
            },
            detail: self.to_string(),
            found_ms: crate::api::now_ms(),
        }
    }
}

impl From<Damage> for io::Error {
    fn from(d: Damage) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, d)
    }
}

/// The damage an I/O error of [`crate::body::read_segment`] reports, if it is one.
pub fn damage_of(e: &io::Error) -> Option<&Damage> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Damage>())
}

/// Logs damage found in an object and marks the object corrupt (blocking). A failure to mark
/// is logged too: the read that found it fails either way.
pub fn quarantine(store: &Store, bucket: &str, key: &str, damage: &Damage) {
    tracing::error!(bucket, key, damage = %damage, "stored content is corrupt; object quarantined");
    if let Err(e) = store.mark_corrupt(bucket, key, damage.mark()) {
        tracing::error!(bucket, key, error = %e, "could not mark a corrupt object");
    }
}

/// The error every read of a corrupt object answers: 500 InternalError with a message that
/// names the corruption (OSS has no dedicated code; clients treat it as a server fault, which
/// it is, and the message tells a user what to do).
pub fn corrupt_error(mark: &CorruptMark) -> ApiError {
    ApiError::msg(
        ErrorCode::InternalError,
        format!(
            "The object's stored content is corrupt ({}); it is quarantined: delete or overwrite it.",
            mark.detail
        ),
    )
}

/// Whether a read of `plan` (from [`crate::body::plan_range`]) would touch the damaged part of
/// a marked object: the whole damaged segment when it is plain, the damaged chunk when sealed.
/// Reads elsewhere in the object (ranges of intact segments or chunks) still work.
pub fn touches_damage(record: &ObjectRecord, plan: &[(Segment, u64, u64)]) -> bool {
    let Some(mark) = &record.corrupt else {
        return false;
    };
    plan.iter().any(|(seg, offset, len)| {
        seg.blob == mark.blob
            && match mark.chunk {
                None => true,
                Some(c) => {
                    let (from, to) = (c * CHUNK as u64, (c + 1) * CHUNK as u64);
                    *offset < to && offset + len > from
                }
            }
    })
}

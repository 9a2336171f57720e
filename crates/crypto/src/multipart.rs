//! Multipart uploads of an encrypted object: one envelope for the whole upload, parts encrypted
//! independently (in any order, concurrently) so that the assembled object is exactly what one
//! stream would have produced.
//!
//! - compat: part `n` (1-based) starts at counter `IV + (n−1)·part_size/16`; the part size is a
//!   multiple of 16; the SDK headers (with `data-size` and `part-size`) go on the Initiate
//!   request *and* on every UploadPart, as the SDKs send them.
//! - sealed: the part size is a whole number of chunks, so part `n` holds chunks
//!   `(n−1)·k … n·k−1`; only the last part seals its final chunk as the object's final chunk.

use crate::compat;
use crate::envelope::{Envelope, Params};
use crate::error::{Error, Result};
use crate::headers::names::*;
use crate::stream::{Encryptor, PartLimit};
use ossvault_proto::limits::MAX_PARTS;

/// A planned multipart upload, from [`Envelope::multipart`].
#[derive(Clone, Debug)]
pub struct MultipartPlan {
    envelope: Envelope,
    part_size: u64,
    data_size: Option<u64>,
}

impl MultipartPlan {
    pub(crate) fn new(envelope: Envelope, part_size: u64, data_size: Option<u64>) -> Result<Self> {
        let unit = envelope.part_unit();
        if part_size == 0 || !part_size.is_multiple_of(unit) {
            return Err(Error::InvalidPart(format!(
                "the part size {part_size} is not a positive multiple of {unit} ({}); try {}",
                match envelope.format() {
                    crate::Format::Sealed => "the chunk size",
                    crate::Format::Compat => "the AES block",
                },
                envelope.align_part_size(part_size)
            )));
        }
        if let Some(total) = data_size {
            if total.div_ceil(part_size) > MAX_PARTS as u64 {
                return Err(Error::InvalidPart(format!(
                    "{total} bytes in parts of {part_size} is more than {MAX_PARTS} parts"
                )));
            }
        }
        Ok(MultipartPlan {
            envelope,
            part_size,
            data_size,
        })
    }

    /// The plaintext part size.
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// The number of parts for `data_size` plaintext bytes (at least one).
    pub fn part_count(&self, data_size: u64) -> u32 {
        data_size.div_ceil(self.part_size).max(1) as u32
    }

    /// The headers of InitiateMultipartUpload: the object's metadata (compat: plus `data-size`,
    /// when known and non-zero, and `part-size`).
    pub fn initiate_headers(&self) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = self.envelope.headers().to_vec();
        h.extend(self.size_headers());
        h
    }

    /// The headers every UploadPart repeats (compat: the SDK's CSE headers; sealed: none).
    pub fn part_headers(&self) -> Vec<(String, String)> {
        match self.envelope.params {
            Params::Sealed { .. } => Vec::new(),
            Params::Compat { .. } => {
                let mut h: Vec<(String, String)> = self
                    .envelope
                    .headers()
                    .iter()
                    .filter(|(k, _)| {
                        [CSE_MATDESC, CSE_KEY, CSE_START, CSE_WRAP_ALG, CSE_CEK_ALG]
                            .contains(&k.as_str())
                    })
                    .cloned()
                    .collect();
                h.extend(self.size_headers());
                h
            }
        }
    }

    fn size_headers(&self) -> Vec<(String, String)> {
        match self.envelope.params {
            Params::Sealed { .. } => Vec::new(),
            Params::Compat { .. } => {
                let mut h = Vec::new();
                if let Some(total) = self.data_size.filter(|&t| t > 0) {
                    h.push((CSE_DATA_SIZE.to_string(), total.to_string()));
                }
                h.push((CSE_PART_SIZE.to_string(), self.part_size.to_string()));
                h
            }
        }
    }

    /// The plaintext byte offset where part `part_number` (1-based) starts.
    pub fn part_offset(&self, part_number: u32) -> u64 {
        (part_number.max(1) as u64 - 1) * self.part_size
    }

    /// The compat counter offset of a part in 16-byte blocks: `(n−1)·part_size/16`.
    pub fn counter_offset(&self, part_number: u32) -> u64 {
        self.part_offset(part_number) / compat::BLOCK
    }

    /// The stored length of a part holding `plaintext_len` bytes.
    pub fn part_ciphertext_len(&self, plaintext_len: u64) -> u64 {
        self.envelope.ciphertext_len(plaintext_len)
    }

    /// An encryptor for part `part_number` (1-based); `last` tells whether it is the object's
    /// final part. Every part but the last must get exactly the part size, the last at most it
    /// (and, after part 1, at least one byte); `finish` checks.
    pub fn part_encryptor(&self, part_number: u32, last: bool) -> Result<Encryptor> {
        if part_number == 0 || part_number > MAX_PARTS {
            return Err(Error::InvalidPart(format!(
                "part number {part_number} is outside 1..={MAX_PARTS}"
            )));
        }
        Ok(self
            .envelope
            .encryptor_at(self.part_offset(part_number), last)
            .with_part(PartLimit {
                number: part_number,
                size: self.part_size,
                last,
            }))
    }

    /// The envelope the parts are encrypted under.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

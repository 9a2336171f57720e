//! Ranged reads: a plaintext byte range maps to the stored bytes to request (compat: the start
//! rounded down to a 16-byte block; sealed: the whole chunks that hold the range) and a decryptor
//! that turns exactly those bytes into exactly the plaintext asked for.

use std::ops::Range;

use crate::error::Result;
use crate::stream::Decryptor;

/// A planned ranged read, from [`Envelope::range`](crate::Envelope::range).
pub struct RangeRead {
    stored: Range<u64>,
    plain: Range<u64>,
    decryptor: Decryptor,
}

impl RangeRead {
    pub(crate) fn new(stored: Range<u64>, plain: Range<u64>, decryptor: Decryptor) -> RangeRead {
        RangeRead {
            stored,
            plain,
            decryptor,
        }
    }

    /// The stored bytes to request (end exclusive).
    pub fn stored_range(&self) -> Range<u64> {
        self.stored.clone()
    }

    /// The plaintext bytes the read yields (the request clamped to the object's length).
    pub fn plaintext_range(&self) -> Range<u64> {
        self.plain.clone()
    }

    /// Whether there is nothing to read (an empty or out-of-bounds range): skip the request.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// The HTTP `Range` header value for the stored range (`bytes=first-last`), or `None` when
    /// there is nothing to read.
    pub fn http_range(&self) -> Option<String> {
        (!self.stored.is_empty())
            .then(|| format!("bytes={}-{}", self.stored.start, self.stored.end - 1))
    }

    /// The decryptor to feed the stored range's bytes through, in order.
    pub fn into_decryptor(self) -> Decryptor {
        self.decryptor
    }

    /// Decrypts the stored range held in memory.
    pub fn decrypt(self, stored: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((self.plain.end - self.plain.start) as usize);
        let mut d = self.decryptor;
        d.update(stored, &mut out)?;
        d.finish(&mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for RangeRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeRead")
            .field("stored", &self.stored)
            .field("plain", &self.plain)
            .finish()
    }
}

//! The sealed format, version 1 (FORMAT.md): the plaintext in fixed-size chunks, each stored as
//! `nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16)` under a key derived from the object's content
//! key. The associated data binds the chunk's index and whether it is the final chunk, so
//! modified, reordered, dropped or appended chunks fail to open; a key commitment in the
//! metadata binds the content key to the layout, so a wrong key never yields plaintext.

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hmac;

use crate::error::{Error, Result};
use crate::keys::ContentKey;
use crate::window::Window;

/// The format version this module writes and reads.
pub const VERSION: u32 = 1;
/// The default plaintext bytes per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// The smallest chunk size the format allows.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// The largest chunk size the format allows.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Bytes of the per-chunk nonce stored before the ciphertext.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM tag stored after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes each chunk adds to its plaintext.
pub const CHUNK_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const AAD_LABEL: &[u8; 16] = b"ossvault-cse-v1\0";
const CHUNK_KEY_LABEL: &[u8] = b"ossvault-cse-v1 chunk key";
const COMMITMENT_LABEL: &[u8] = b"ossvault-cse-v1 key commitment";

/// Checks a chunk size against the format's rules (a power of two in 1 KiB..=16 MiB).
pub fn check_chunk_size(size: u32) -> Result<(), String> {
    if size.is_power_of_two() && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(format!(
            "chunk size {size} is not a power of two between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}"
        ))
    }
}

/// `HMAC-SHA256(content key, label ‖ chunk size as 4 bytes BE)`: stored in the metadata and
/// checked before any chunk is opened.
pub(crate) fn commitment(key: &ContentKey, chunk_size: u32) -> hmac::Tag {
    let mut msg = COMMITMENT_LABEL.to_vec();
    msg.extend_from_slice(&chunk_size.to_be_bytes());
    hmac::sign(&hmac_key(key), &msg)
}

/// Constant-time check of a stored key commitment.
pub(crate) fn verify_commitment(key: &ContentKey, chunk_size: u32, stored: &[u8]) -> Result<()> {
    let mut msg = COMMITMENT_LABEL.to_vec();
    msg.extend_from_slice(&chunk_size.to_be_bytes());
    hmac::verify(&hmac_key(key), &msg, stored).map_err(|_| Error::KeyCommitment)
}

fn hmac_key(key: &ContentKey) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key.0.as_slice())
}

/// The AES-256-GCM key that seals an object's chunks.
pub(crate) struct ChunkKey(LessSafeKey);

impl ChunkKey {
    /// `HMAC-SHA256(content key, "ossvault-cse-v1 chunk key")`.
    pub(crate) fn derive(key: &ContentKey) -> ChunkKey {
        let tag = hmac::sign(&hmac_key(key), CHUNK_KEY_LABEL);
        ChunkKey(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, tag.as_ref()).expect("32-byte key"),
        ))
    }

    fn seal(&self, nonce: [u8; NONCE_LEN], index: u64, last: bool, in_out: &mut [u8]) -> [u8; 16] {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(index, last)),
                in_out,
            )
            .expect("chunks are far below the GCM length limit");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Opens `ciphertext ‖ tag` in place; returns the plaintext length.
    fn open(&self, nonce: [u8; NONCE_LEN], index: u64, last: bool, in_out: &mut [u8]) -> bool {
        self.0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(index, last)),
                in_out,
            )
            .is_ok()
    }
}

fn aad(index: u64, last: bool) -> [u8; 25] {
    let mut a = [0u8; 25];
    a[..16].copy_from_slice(AAD_LABEL);
    a[16..24].copy_from_slice(&index.to_be_bytes());
    a[24] = last as u8;
    a
}

/// Where the chunks of a sealed object lie, given its chunk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) chunk: u64,
}

impl Layout {
    pub(crate) fn new(chunk_size: u32) -> Layout {
        Layout {
            chunk: chunk_size as u64,
        }
    }

    /// Stored bytes of a full chunk.
    pub(crate) fn frame(self) -> u64 {
        self.chunk + CHUNK_OVERHEAD as u64
    }

    /// The stored length of `plain` bytes of plaintext (an empty object is one empty chunk).
    pub(crate) fn ciphertext_len(self, plain: u64) -> u64 {
        plain + plain.div_ceil(self.chunk).max(1) * CHUNK_OVERHEAD as u64
    }

    /// The number of chunks in a stored object of `stored` bytes, checking that the length is one
    /// the format can produce.
    pub(crate) fn chunk_count(self, stored: u64) -> Result<u64> {
        let rest = stored % self.frame();
        if stored == 0 || (rest != 0 && rest < CHUNK_OVERHEAD as u64) {
            return Err(Error::Truncated(format!(
                "{stored} bytes is not the length of a sealed object with {}-byte chunks",
                self.chunk
            )));
        }
        Ok(stored.div_ceil(self.frame()))
    }

    /// The plaintext length of a stored object of `stored` bytes.
    pub(crate) fn plaintext_len(self, stored: u64) -> Result<u64> {
        Ok(stored - self.chunk_count(stored)? * CHUNK_OVERHEAD as u64)
    }
}

/// Seals a stream of plaintext into chunks.
pub(crate) struct SealedEncryptor {
    key: Arc<ChunkKey>,
    chunk: usize,
    /// Plaintext of a chunk not yet sealed because no later byte showed it is not the last.
    pending: Vec<u8>,
    /// Index (in the object) of the next chunk.
    index: u64,
    /// Nonce = `prefix ‖ counter`: a random prefix per encryptor keeps nonces unique even when a
    /// multipart part is re-encrypted, with other bytes, under the same content key.
    prefix: [u8; 8],
    counter: u32,
    /// Whether the final chunk of this stream is the object's final chunk (false for every
    /// multipart part but the last).
    ends_object: bool,
}

impl SealedEncryptor {
    pub(crate) fn new(
        key: Arc<ChunkKey>,
        chunk_size: u32,
        first_index: u64,
        ends_object: bool,
    ) -> Self {
        let mut prefix = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut prefix);
        SealedEncryptor {
            key,
            chunk: chunk_size as usize,
            pending: Vec::new(),
            index: first_index,
            prefix,
            counter: 0,
            ends_object,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while !data.is_empty() {
            if self.pending.is_empty() {
                // Whole chunks followed by more input are sealed straight from the input.
                while data.len() > self.chunk {
                    let (chunk, rest) = data.split_at(self.chunk);
                    self.seal_into(chunk, false, out)?;
                    data = rest;
                }
                self.pending.extend_from_slice(data);
                return Ok(());
            }
            if self.pending.len() == self.chunk {
                let pending = std::mem::take(&mut self.pending);
                self.seal_into(&pending, false, out)?;
                self.pending = pending;
                self.pending.clear();
                continue;
            }
            let n = (self.chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// Seals the held-back chunk (empty only for an empty object) as the stream's last.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.seal_into(&pending, self.ends_object, out)
    }

    fn seal_into(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        nonce[8..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter = self.counter.checked_add(1).ok_or_else(|| {
            Error::InvalidPart("more than 2^32 chunks in one encryption stream".into())
        })?;
        out.reserve(plain.len() + CHUNK_OVERHEAD);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self.key.seal(nonce, self.index, last, &mut out[start..]);
        out.extend_from_slice(&tag);
        self.index += 1;
        Ok(())
    }
}

/// Opens a stream of sealed chunks: a whole object (its end found where the stream ends) or
/// a run of chunks of a ranged read (the object's chunk count known from its length).
pub(crate) struct SealedDecryptor {
    key: Arc<ChunkKey>,
    layout: Layout,
    pending: Vec<u8>,
    index: u64,
    /// Ranged reads: the object's final chunk index and that chunk's stored length.
    known_end: Option<(u64, usize)>,
    window: Window,
    /// Chunks opened so far.
    opened: u64,
}

impl SealedDecryptor {
    /// A decryptor for a whole object read from its first byte to its end.
    pub(crate) fn whole(key: Arc<ChunkKey>, chunk_size: u32) -> Self {
        SealedDecryptor {
            key,
            layout: Layout::new(chunk_size),
            pending: Vec::new(),
            index: 0,
            known_end: None,
            window: Window::all(),
            opened: 0,
        }
    }

    /// A decryptor for the chunks that hold plaintext `[start, end)` of an object stored in
    /// `stored_len` bytes; returns it with the stored byte range to read.
    pub(crate) fn range(
        key: Arc<ChunkKey>,
        chunk_size: u32,
        stored_len: u64,
        start: u64,
        end: u64,
    ) -> Result<(Self, std::ops::Range<u64>)> {
        let layout = Layout::new(chunk_size);
        let chunks = layout.chunk_count(stored_len)?;
        let final_index = chunks - 1;
        let final_len = (stored_len - final_index * layout.frame()) as usize;
        let first = start / layout.chunk;
        let stored = if start >= end {
            first * layout.frame()..first * layout.frame()
        } else {
            let last = (end - 1) / layout.chunk;
            // Saturating: a stored length near u64::MAX (a hostile Content-Length) with a partial
            // final chunk would overflow here (found by fuzz/fuzz_targets/range.rs).
            first * layout.frame()..(last + 1).saturating_mul(layout.frame()).min(stored_len)
        };
        let skip = start - first * layout.chunk;
        let dec = SealedDecryptor {
            key,
            layout,
            pending: Vec::new(),
            index: first,
            known_end: Some((final_index, final_len)),
            window: Window::new(skip, end.saturating_sub(start), stored.end - stored.start),
            opened: 0,
        };
        Ok((dec, stored))
    }

    fn frame_len(&self, index: u64) -> usize {
        match self.known_end {
            Some((last, len)) if index == last => len,
            _ => self.layout.frame() as usize,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.window.take_input(data.len() as u64)?;
        // In a whole-object read a frame is known not to be the last only once a later byte
        // arrives; in a ranged read the object's length says which frame is the last.
        let ranged = self.known_end.is_some();
        while !data.is_empty() {
            let frame = self.frame_len(self.index);
            if self.pending.is_empty() {
                if data.len() > frame || (ranged && data.len() == frame) {
                    // Whole frames are opened straight from the input.
                    let (f, rest) = data.split_at(frame);
                    self.open_into(f, out)?;
                    data = rest;
                } else {
                    self.pending.extend_from_slice(data);
                    data = &[];
                }
                continue;
            }
            if self.pending.len() < frame {
                let n = (frame - self.pending.len()).min(data.len());
                self.pending.extend_from_slice(&data[..n]);
                data = &data[n..];
            }
            if self.pending.len() == frame && (ranged || !data.is_empty()) {
                let pending = std::mem::take(&mut self.pending);
                let r = self.open_into(&pending, out);
                self.pending = pending;
                self.pending.clear();
                r?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.known_end.is_some() {
            if !self.pending.is_empty() {
                return Err(Error::Truncated(format!(
                    "the range ends inside chunk {} ({} of {} bytes)",
                    self.index,
                    self.pending.len(),
                    self.frame_len(self.index)
                )));
            }
            return self.window.finish();
        }
        if self.pending.is_empty() {
            return Err(Error::Truncated(if self.opened == 0 {
                "no chunks: a sealed object has at least one chunk".into()
            } else {
                format!("the object ends after chunk {}", self.index - 1)
            }));
        }
        if self.pending.len() < CHUNK_OVERHEAD {
            return Err(Error::Truncated(format!(
                "the final chunk {} is {} bytes, shorter than a chunk's {CHUNK_OVERHEAD}-byte overhead",
                self.index,
                self.pending.len()
            )));
        }
        let pending = std::mem::take(&mut self.pending);
        self.open_last_into(&pending, out)
    }

    /// Opens a frame known not to be the object's last (or, in a ranged read, known to be
    /// whichever it is).
    fn open_into(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let last = matches!(self.known_end, Some((l, _)) if l == self.index);
        if frame.len() < CHUNK_OVERHEAD {
            return Err(Error::Truncated(format!(
                "chunk {} is cut short",
                self.index
            )));
        }
        if !self.try_open(frame, last, out) {
            // Diagnose: a chunk that opens as the final one means data was appended after it.
            if !last && self.opens_as(frame, true) {
                return Err(Error::TrailingData { index: self.index });
            }
            return Err(Error::TamperedChunk { index: self.index });
        }
        Ok(())
    }

    fn open_last_into(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if !self.try_open(frame, true, out) {
            // A final frame that opens as a middle chunk: the object was cut after it.
            if self.opens_as(frame, false) {
                return Err(Error::Truncated(format!(
                    "the object ends after chunk {}, which was not sealed as the final chunk",
                    self.index
                )));
            }
            return Err(Error::TamperedChunk { index: self.index });
        }
        Ok(())
    }

    fn try_open(&mut self, frame: &[u8], last: bool, out: &mut Vec<u8>) -> bool {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&frame[..NONCE_LEN]);
        let start = out.len();
        out.extend_from_slice(&frame[NONCE_LEN..]);
        if !self.key.open(nonce, self.index, last, &mut out[start..]) {
            // Nothing unauthenticated is left behind in the output.
            out.truncate(start);
            return false;
        }
        out.truncate(out.len() - TAG_LEN);
        self.window.trim(out, start);
        self.index += 1;
        self.opened += 1;
        true
    }

    fn opens_as(&self, frame: &[u8], last: bool) -> bool {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&frame[..NONCE_LEN]);
        let mut scratch = frame[NONCE_LEN..].to_vec();
        self.key.open(nonce, self.index, last, &mut scratch)
    }
}

/// Seals with a fixed nonce prefix: only for the published test vectors.
#[cfg(test)]
pub(crate) fn encryptor_with_prefix(
    key: Arc<ChunkKey>,
    chunk: u32,
    prefix: [u8; 8],
) -> SealedEncryptor {
    let mut e = SealedEncryptor::new(key, chunk, 0, true);
    e.prefix = prefix;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn key() -> Arc<ChunkKey> {
        Arc::new(ChunkKey::derive(&ContentKey(Zeroizing::new([3u8; 32]))))
    }

    fn seal(data: &[u8], chunk: u32, piece: usize) -> Vec<u8> {
        let mut e = SealedEncryptor::new(key(), chunk, 0, true);
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            e.update(p, &mut out).unwrap();
        }
        e.finish(&mut out).unwrap();
        out
    }

    fn open(stored: &[u8], chunk: u32, piece: usize) -> Result<Vec<u8>> {
        let mut d = SealedDecryptor::whole(key(), chunk);
        let mut out = Vec::new();
        for p in stored.chunks(piece.max(1)) {
            d.update(p, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn layout_lengths_round_trip() {
        let l = Layout::new(1024);
        for n in [0u64, 1, 1023, 1024, 1025, 4096, 5000] {
            assert_eq!(l.plaintext_len(l.ciphertext_len(n)).unwrap(), n, "{n}");
            assert_eq!(
                seal(&vec![1; n as usize], 1024, 333).len() as u64,
                l.ciphertext_len(n)
            );
        }
        assert!(l.plaintext_len(0).is_err());
        assert!(l.plaintext_len(1052 + 27).is_err());
    }

    #[test]
    fn any_piece_sizes_give_the_same_plaintext() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for piece in [1, 7, 1023, 1024, 1025, 1052, 1053, 4096, 10_000] {
            let stored = seal(&data, 1024, piece);
            for piece2 in [1, 28, 1051, 1052, 1053, 3000, 10_000] {
                assert_eq!(
                    open(&stored, 1024, piece2).unwrap(),
                    data,
                    "{piece} {piece2}"
                );
            }
        }
    }

    #[test]
    fn failures_leave_no_unauthenticated_bytes() {
        let data = vec![9u8; 3000];
        let mut stored = seal(&data, 1024, 3000);
        stored[1052 + 40] ^= 1;
        let mut d = SealedDecryptor::whole(key(), 1024);
        let mut out = Vec::new();
        let err = d.update(&stored, &mut out).unwrap_err();
        assert!(matches!(err, Error::TamperedChunk { index: 1 }), "{err}");
        assert_eq!(out.len(), 1024, "only chunk 0, which authenticated");
    }
}

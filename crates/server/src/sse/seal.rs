//! The sealed at-rest format of one segment (see `crates/server/FORMAT.md`): the plaintext in
//! chunks of `CHUNK` bytes, each stored as AES-256-GCM ciphertext followed by its 16-byte tag,
//! under a key derived for this blob from the object's data key. The nonce is the chunk index;
//! the associated data binds the format version, the index and whether the chunk is the last,
//! so flipped bits, reordered chunks and truncation all fail authentication.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hmac;
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes each chunk adds (the GCM tag).
pub const TAG: usize = 16;
const AAD_LABEL: &[u8; 16] = b"ossvault-sse-v1\0";
const KEY_LABEL: &[u8] = b"ossvault-sse-v1 segment key";

/// Why a sealed segment could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "chunk {0} of the stored object failed authentication (tampered, truncated or reordered)"
    )]
    Tampered(u64),
}

/// A 256-bit object data key; zeroed when dropped.
#[derive(Clone)]
pub struct DataKey(pub Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn random() -> DataKey {
        DataKey(Zeroizing::new(rand::random()))
    }

    /// The key of one blob: HMAC-SHA256(data key, label ‖ blob id). Every blob gets its own
    /// key, so chunk-index nonces never repeat under a key even when parts are re-uploaded or
    /// appended to.
    pub fn segment_cipher(&self, blob_id: u128) -> SegmentCipher {
        let prf = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_slice());
        let mut info = KEY_LABEL.to_vec();
        info.extend_from_slice(&blob_id.to_be_bytes());
        let tag = hmac::sign(&prf, &info);
        let key = UnboundKey::new(&AES_256_GCM, tag.as_ref()).expect("32-byte key");
        SegmentCipher {
            key: LessSafeKey::new(key),
        }
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Seals and opens the chunks of one blob.
pub struct SegmentCipher {
    key: LessSafeKey,
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(index: u64, last: bool) -> [u8; 25] {
    let mut a = [0u8; 25];
    a[..16].copy_from_slice(AAD_LABEL);
    a[16..24].copy_from_slice(&index.to_be_bytes());
    a[24] = last as u8;
    a
}

impl SegmentCipher {
    /// Encrypts `chunk` in place and appends its tag.
    /// Encrypts the chunk `buf[start..]` in place and appends its tag.
    pub fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>, start: usize) {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(index),
                Aad::from(aad(index, last)),
                &mut buf[start..],
            )
            .expect("chunks are far below the GCM length limit");
        buf.extend_from_slice(tag.as_ref());
    }

    /// Decrypts a stored chunk (ciphertext ‖ tag) in place; returns the plaintext part.
    pub fn open<'a>(
        &self,
        index: u64,
        last: bool,
        stored: &'a mut [u8],
    ) -> Result<&'a mut [u8], SealError> {
        self.key
            .open_in_place(nonce(index), Aad::from(aad(index, last)), stored)
            .map_err(|_| SealError::Tampered(index))
    }
}

/// Where the chunks of a segment of `plain_len` bytes lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub plain_len: u64,
}

impl Layout {
    /// Number of chunks (an empty segment still has one, empty, final chunk).
    pub fn chunks(self) -> u64 {
        self.plain_len.div_ceil(CHUNK as u64).max(1)
    }

    pub fn stored_len(self) -> u64 {
        self.plain_len + self.chunks() * TAG as u64
    }

    /// The stored offset and length of chunk `i`, and its plaintext length.
    pub fn chunk(self, i: u64) -> (u64, usize, usize) {
        let start = i * CHUNK as u64;
        let plain = (self.plain_len - start.min(self.plain_len)).min(CHUNK as u64) as usize;
        (i * (CHUNK + TAG) as u64, plain + TAG, plain)
    }

    pub fn is_last(self, i: u64) -> bool {
        i + 1 == self.chunks()
    }
}

/// Sealed bytes handed on in batches of about this size (fewer, larger writes).
const OUTPUT_BATCH: usize = 1 << 20;

/// Turns a stream of plaintext writes into sealed chunks. Plaintext is copied once, into the
/// output batch, and sealed there in place.
pub struct Sealer {
    cipher: SegmentCipher,
    /// Sealed chunks, then the plaintext of the chunk being filled (from `open`).
    buf: Vec<u8>,
    open: usize,
    index: u64,
}

impl Sealer {
    pub fn new(cipher: SegmentCipher) -> Self {
        Sealer {
            cipher,
            buf: Vec::with_capacity(OUTPUT_BATCH + CHUNK + TAG),
            open: 0,
            index: 0,
        }
    }

    /// Feeds plaintext; `out` receives sealed chunks in batches. A full chunk is held back
    /// until more data (or `finish`) shows whether it is the last.
    pub fn update(
        &mut self,
        mut data: &[u8],
        out: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        while !data.is_empty() {
            if self.buf.len() - self.open == CHUNK {
                self.seal_open(false);
                if self.open >= OUTPUT_BATCH {
                    out(&self.buf)?;
                    self.buf.clear();
                    self.open = 0;
                }
            }
            let n = (CHUNK - (self.buf.len() - self.open)).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// Seals the last chunk (possibly empty) and hands on everything left.
    pub fn finish(
        mut self,
        out: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.seal_open(true);
        out(&self.buf)
    }

    fn seal_open(&mut self, last: bool) {
        self.cipher.seal(self.index, last, &mut self.buf, self.open);
        self.open = self.buf.len();
        self.index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &DataKey, blob: u128, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| {
            out.extend_from_slice(c);
            Ok(())
        };
        let mut sealer = Sealer::new(key.segment_cipher(blob));
        // Feed in uneven pieces to exercise chunk boundaries.
        for piece in data.chunks(7919) {
            sealer.update(piece, &mut sink).unwrap();
        }
        sealer.finish(&mut sink).unwrap();
        out
    }

    fn open_all(
        key: &DataKey,
        blob: u128,
        plain_len: u64,
        stored: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let layout = Layout { plain_len };
        assert_eq!(stored.len() as u64, layout.stored_len());
        let cipher = key.segment_cipher(blob);
        let mut plain = Vec::new();
        for i in 0..layout.chunks() {
            let (off, len, _) = layout.chunk(i);
            let mut c = stored[off as usize..off as usize + len].to_vec();
            plain.extend_from_slice(cipher.open(i, layout.is_last(i), &mut c)?);
        }
        Ok(plain)
    }

    #[test]
    fn round_trips_at_chunk_edges() {
        let key = DataKey::random();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let stored = seal_all(&key, 7, &data);
            assert_eq!(
                open_all(&key, 7, len as u64, &stored).unwrap(),
                data,
                "len {len}"
            );
        }
    }

    #[test]
    fn tampering_truncation_reordering_and_wrong_keys_fail() {
        let key = DataKey::random();
        let data = vec![0x5Au8; 3 * CHUNK + 5];
        let stored = seal_all(&key, 1, &data);
        let len = data.len() as u64;
        let mut flipped = stored.clone();
        flipped[CHUNK + 100] ^= 1;
        assert_eq!(
            open_all(&key, 1, len, &flipped),
            Err(SealError::Tampered(1))
        );
        // Dropping the last chunk: the new last one was not sealed as last.
        let cut = Layout {
            plain_len: 3 * CHUNK as u64,
        };
        assert!(open_all(
            &key,
            1,
            3 * CHUNK as u64,
            &stored[..cut.stored_len() as usize]
        )
        .is_err());
        let mut swapped = stored.clone();
        let c = CHUNK + TAG;
        let (a, b) = swapped.split_at_mut(c);
        a.swap_with_slice(&mut b[..c]);
        assert_eq!(
            open_all(&key, 1, len, &swapped),
            Err(SealError::Tampered(0))
        );
        assert!(
            open_all(&DataKey::random(), 1, len, &stored).is_err(),
            "another data key"
        );
        assert!(
            open_all(&key, 2, len, &stored).is_err(),
            "another blob's key"
        );
    }

    /// The format is plain AES-256-GCM: an independent implementation (RustCrypto `aes-gcm`)
    /// opens what ring sealed, given the derived key, nonce and associated data of FORMAT.md.
    #[test]
    fn an_independent_aes_gcm_opens_the_chunks() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let key = DataKey(Zeroizing::new([7u8; 32]));
        let blob = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        let data = b"ossvault at-rest vector".repeat(5000);
        let stored = seal_all(&key, blob, &data);
        let mut info = KEY_LABEL.to_vec();
        info.extend_from_slice(&blob.to_be_bytes());
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]), &info);
        let gcm = aes_gcm::Aes256Gcm::new_from_slice(derived.as_ref()).unwrap();
        let layout = Layout {
            plain_len: data.len() as u64,
        };
        let mut plain = Vec::new();
        for i in 0..layout.chunks() {
            let (off, len, _) = layout.chunk(i);
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&i.to_be_bytes());
            let payload = Payload {
                msg: &stored[off as usize..off as usize + len],
                aad: &aad(i, layout.is_last(i)),
            };
            plain.extend(gcm.decrypt((&n).into(), payload).unwrap());
        }
        assert_eq!(plain, data);
    }
}

#[cfg(test)]
mod vectors {
    use super::*;

    /// The format is frozen: these bytes must never change (FORMAT.md,
    /// tests/vectors/sse-v1.json).
    #[test]
    fn matches_the_published_vector() {
        let text = include_str!("../../tests/vectors/sse-v1.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let key: [u8; 32] = hex::decode(v["data_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let blob = u128::from_str_radix(v["blob_id"].as_str().unwrap(), 16).unwrap();
        let len = v["plaintext_length"].as_u64().unwrap() as usize;
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| {
            out.extend_from_slice(c);
            Ok(())
        };
        let mut sealer = Sealer::new(DataKey(Zeroizing::new(key)).segment_cipher(blob));
        sealer.update(&plain, &mut sink).unwrap();
        sealer.finish(&mut sink).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &out);
        assert_eq!(out.len() as u64, v["stored_length"].as_u64().unwrap());
        assert_eq!(
            hex::encode(&out[out.len() - 56..]),
            v["stored_last_chunk"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(digest.as_ref()),
            v["stored_sha256"].as_str().unwrap()
        );
    }
}

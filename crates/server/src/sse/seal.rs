//! The sealed at-rest format of one segment (see `crates/server/FORMAT.md`): the plaintext in
//! chunks of `CHUNK` bytes, each stored as GCM ciphertext followed by its 16-byte tag, under a
//! key derived for this blob from the object's data key. The block cipher is AES-256 (SSE-OSS
//! `AES256`, SSE-KMS) or SM4 (SSE-OSS `SM4`, SSE-KMS with SM4 data encryption); the object's
//! record says which. The nonce is the chunk index; the associated data binds the format
//! version, the index and whether the chunk is the last, so flipped bits, reordered chunks and
//! truncation all fail authentication.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hmac;
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes each chunk adds (the GCM tag).
pub const TAG: usize = 16;
const AAD_LABEL: &[u8; 16] = b"ossvault-sse-v1\0";
const KEY_LABEL: &[u8] = b"ossvault-sse-v1 segment key";
const SM4_AAD_LABEL: &[u8; 16] = b"ossvault-sm4-v1\0";
const SM4_KEY_LABEL: &[u8] = b"ossvault-sm4-v1 segment key";

/// SM4-GCM (GB/T 32907 block cipher, 128-bit key, in GCM with a 96-bit nonce).
type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, U12>;

/// Why a sealed segment could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "chunk {0} of the stored object failed authentication (tampered, truncated or reordered)"
    )]
    Tampered(u64),
}

/// The block cipher an object is sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-256-GCM, 256-bit data keys.
    Aes256Gcm,
    /// SM4-GCM (国密), 128-bit data keys.
    Sm4Gcm,
}

/// An object data key (256 bits for AES, 128 for SM4); zeroed when dropped.
#[derive(Clone)]
pub enum DataKey {
    Aes256(Zeroizing<[u8; 32]>),
    Sm4(Zeroizing<[u8; 16]>),
}

impl DataKey {
    /// A fresh key for `cipher`.
    pub fn random(cipher: Cipher) -> DataKey {
        match cipher {
            Cipher::Aes256Gcm => DataKey::Aes256(Zeroizing::new(rand::random())),
            Cipher::Sm4Gcm => DataKey::Sm4(Zeroizing::new(rand::random())),
        }
    }

    /// A key from its bytes: 32 are an AES-256 key, 16 an SM4 key.
    pub fn from_bytes(bytes: &[u8]) -> Option<DataKey> {
        match bytes.len() {
            32 => Some(DataKey::Aes256(Zeroizing::new(bytes.try_into().ok()?))),
            16 => Some(DataKey::Sm4(Zeroizing::new(bytes.try_into().ok()?))),
            _ => None,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            DataKey::Aes256(k) => k.as_slice(),
            DataKey::Sm4(k) => k.as_slice(),
        }
    }

    pub fn cipher(&self) -> Cipher {
        match self {
            DataKey::Aes256(_) => Cipher::Aes256Gcm,
            DataKey::Sm4(_) => Cipher::Sm4Gcm,
        }
    }

    /// The key of one blob: HMAC-SHA256(data key, label ‖ blob id), all 32 bytes for AES-256,
    /// the first 16 for SM4. Every blob gets its own key, so chunk-index nonces never repeat
    /// under a key even when parts are re-uploaded or appended to.
    pub fn segment_cipher(&self, blob_id: u128) -> SegmentCipher {
        let label = match self {
            DataKey::Aes256(_) => KEY_LABEL,
            DataKey::Sm4(_) => SM4_KEY_LABEL,
        };
        let prf = hmac::Key::new(hmac::HMAC_SHA256, self.bytes());
        let mut info = label.to_vec();
        info.extend_from_slice(&blob_id.to_be_bytes());
        let tag = hmac::sign(&prf, &info);
        match self {
            DataKey::Aes256(_) => {
                let key = UnboundKey::new(&AES_256_GCM, tag.as_ref()).expect("32-byte key");
                SegmentCipher::Aes(LessSafeKey::new(key))
            }
            DataKey::Sm4(_) => SegmentCipher::Sm4(
                Sm4Gcm::new_from_slice(&tag.as_ref()[..16]).expect("16-byte key"),
            ),
        }
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({:?}, <redacted>)", self.cipher())
    }
}

/// Seals and opens the chunks of one blob. (One lives per blob being read or written, so the
/// AES variant's size, ring's expanded key, does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum SegmentCipher {
    Aes(LessSafeKey),
    Sm4(Sm4Gcm),
}

fn nonce_bytes(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

fn aad(label: &[u8; 16], index: u64, last: bool) -> [u8; 25] {
    let mut a = [0u8; 25];
    a[..16].copy_from_slice(label);
    a[16..24].copy_from_slice(&index.to_be_bytes());
    a[24] = last as u8;
    a
}

impl SegmentCipher {
    /// Encrypts the chunk `buf[start..]` in place and appends its tag.
    pub fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>, start: usize) {
        let n = nonce_bytes(index);
        match self {
            SegmentCipher::Aes(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(n),
                        Aad::from(aad(AAD_LABEL, index, last)),
                        &mut buf[start..],
                    )
                    .expect("chunks are far below the GCM length limit");
                buf.extend_from_slice(tag.as_ref());
            }
            SegmentCipher::Sm4(key) => {
                let tag = key
                    .encrypt_in_place_detached(
                        (&n).into(),
                        &aad(SM4_AAD_LABEL, index, last),
                        &mut buf[start..],
                    )
                    .expect("chunks are far below the GCM length limit");
                buf.extend_from_slice(&tag);
            }
        }
    }

    /// Decrypts a stored chunk (ciphertext ‖ tag) in place; returns the plaintext part.
    pub fn open<'a>(
        &self,
        index: u64,
        last: bool,
        stored: &'a mut [u8],
    ) -> Result<&'a mut [u8], SealError> {
        let n = nonce_bytes(index);
        match self {
            SegmentCipher::Aes(key) => key
                .open_in_place(
                    Nonce::assume_unique_for_key(n),
                    Aad::from(aad(AAD_LABEL, index, last)),
                    stored,
                )
                .map_err(|_| SealError::Tampered(index)),
            SegmentCipher::Sm4(key) => {
                let split = stored
                    .len()
                    .checked_sub(TAG)
                    .ok_or(SealError::Tampered(index))?;
                let (text, tag) = stored.split_at_mut(split);
                key.decrypt_in_place_detached(
                    (&n).into(),
                    &aad(SM4_AAD_LABEL, index, last),
                    text,
                    (&*tag).into(),
                )
                .map_err(|_| SealError::Tampered(index))?;
                Ok(text)
            }
        }
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
        for cipher in [Cipher::Aes256Gcm, Cipher::Sm4Gcm] {
            round_trips_with(DataKey::random(cipher));
        }
    }

    fn round_trips_with(key: DataKey) {
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
        for cipher in [Cipher::Aes256Gcm, Cipher::Sm4Gcm] {
            tampering_fails_with(cipher);
        }
    }

    fn tampering_fails_with(cipher: Cipher) {
        let key = DataKey::random(cipher);
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
            open_all(&DataKey::random(cipher), 1, len, &stored).is_err(),
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
        let key = DataKey::Aes256(Zeroizing::new([7u8; 32]));
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
                aad: &aad(AAD_LABEL, i, layout.is_last(i)),
            };
            plain.extend(gcm.decrypt((&n).into(), payload).unwrap());
        }
        assert_eq!(plain, data);
    }

    /// The block cipher is SM4 as GB/T 32907-2016 defines it (its appendix A example 1).
    #[test]
    fn sm4_matches_the_standard_block_vector() {
        use sm4::cipher::{BlockEncrypt, KeyInit as _};
        let k = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let cipher = sm4::Sm4::new_from_slice(&k).unwrap();
        let mut block = sm4::cipher::generic_array::GenericArray::clone_from_slice(&k);
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }

    /// A key's bytes say its cipher, and only key sizes of a cipher are accepted.
    #[test]
    fn data_keys_round_trip_through_their_bytes() {
        for cipher in [Cipher::Aes256Gcm, Cipher::Sm4Gcm] {
            let key = DataKey::random(cipher);
            let back = DataKey::from_bytes(key.bytes()).unwrap();
            assert_eq!((back.cipher(), back.bytes()), (cipher, key.bytes()));
        }
        assert_eq!(DataKey::random(Cipher::Sm4Gcm).bytes().len(), 16);
        assert!(DataKey::from_bytes(&[0; 24]).is_none());
        // The same bytes sealed as AES do not open as SM4 and the reverse.
        let aes = DataKey::random(Cipher::Aes256Gcm);
        let stored = seal_all(&aes, 3, b"one chunk");
        let sm4 = DataKey::Sm4(Zeroizing::new(aes.bytes()[..16].try_into().unwrap()));
        assert!(open_all(&sm4, 3, 9, &stored).is_err());
    }
}

#[cfg(test)]
mod vectors {
    use super::*;

    /// The format is frozen: these bytes must never change (FORMAT.md,
    /// tests/vectors/sse-v1.json).
    #[test]
    fn matches_the_published_vector() {
        check_vector(
            include_str!("../../tests/vectors/sse-v1.json"),
            Cipher::Aes256Gcm,
        );
    }

    /// SM4-GCM: the vector was made by OpenSSL's SM4-GCM (Python `cryptography`), so this also
    /// checks the RustCrypto SM4 in GCM against an independent implementation.
    #[test]
    fn matches_the_published_sm4_vector() {
        check_vector(
            include_str!("../../tests/vectors/sse-sm4-v1.json"),
            Cipher::Sm4Gcm,
        );
    }

    fn check_vector(text: &str, cipher: Cipher) {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let key =
            DataKey::from_bytes(&hex::decode(v["data_key"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(key.cipher(), cipher);
        let blob = u128::from_str_radix(v["blob_id"].as_str().unwrap(), 16).unwrap();
        let len = v["plaintext_length"].as_u64().unwrap() as usize;
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| {
            out.extend_from_slice(c);
            Ok(())
        };
        let mut sealer = Sealer::new(key.segment_cipher(blob));
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

//! CRC-64/XZ (the `x-oss-hash-crc64ecma` checksum), streaming and combinable.
//!
//! OSS calls it "crc64ecma", but it is the reflected ECMA-182 polynomial with all-ones init and
//! xorout, i.e. CRC-64/XZ (Go's `crc64.ECMA` table with `crc64.Update`). `crc-fast` provides a
//! SIMD implementation; this module only pins the algorithm and adds [`Crc64::resume`].

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// The CRC-64/XZ xorout; the internal register is the finished CRC xor this.
const XOROUT: u64 = u64::MAX;

/// Streaming CRC-64/XZ hasher. `Crc64::new().update(b"123456789").finish() == 11051210869376104954`.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest,
}

impl Crc64 {
    pub fn new() -> Self {
        Self {
            digest: Digest::new(ALGORITHM),
        }
    }

    /// Continues a CRC already computed over earlier bytes (as AppendObject does).
    pub fn resume(crc: u64) -> Self {
        // A finished CRC is the register xor xorout, so undoing the xorout restores the register
        // exactly as it was after the earlier bytes; CRC-64/XZ is reflected in and out, so the
        // register and the output share bit order and no reflection is needed.
        Self {
            digest: Digest::new_with_init_state(ALGORITHM, crc ^ XOROUT),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Crc64").field(&self.finish()).finish()
    }
}

/// CRC-64/XZ of a whole buffer.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)`, without the data.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(ALGORITHM, crc_a, crc_b, len_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Bit-at-a-time reference implementation, independent of `crc-fast`.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = u64::MAX;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xC96C_5795_D787_0F42
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ u64::MAX
    }

    #[test]
    fn vectors() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"123456789"), 11051210869376104954);
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b"hello world"), 5981764153023615706);
        assert_eq!(Crc64::new().finish(), 0);
        let mut c = Crc64::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 11051210869376104954);
    }

    #[test]
    fn matches_reference_implementation() {
        for len in [
            0, 1, 7, 8, 15, 16, 31, 63, 64, 65, 127, 128, 255, 256, 1000, 4097,
        ] {
            let data = sample(len);
            assert_eq!(checksum(&data), reference(&data), "len {len}");
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data = sample(10_000);
        for chunk in [1, 3, 16, 100, 4096] {
            let mut c = Crc64::default();
            for part in data.chunks(chunk) {
                c.update(part);
            }
            assert_eq!(c.finish(), checksum(&data), "chunk {chunk}");
        }
    }

    #[test]
    fn finish_does_not_consume() {
        let mut c = Crc64::new();
        c.update(b"1234");
        let _ = c.finish();
        c.update(b"56789");
        assert_eq!(c.finish(), 11051210869376104954);
    }

    #[test]
    fn combine_matches_concatenation() {
        let data = sample(3000);
        let splits = (0..=64).chain([100, 127, 128, 129, 1000, 1500, 2047, 2048, 2999, 3000]);
        for split in splits {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                checksum(&data),
                "split {split}"
            );
        }
    }

    #[test]
    fn combine_with_empty_parts() {
        let crc = checksum(b"hello world");
        assert_eq!(combine(crc, 0, 0), crc);
        assert_eq!(combine(0, crc, 11), crc);
    }

    #[test]
    fn resume_continues_a_finished_crc() {
        let data = sample(5000);
        for split in [0, 1, 5, 9, 16, 255, 256, 2500, 4999, 5000] {
            let (a, b) = data.split_at(split);
            let mut c = Crc64::resume(checksum(a));
            c.update(b);
            assert_eq!(c.finish(), checksum(&data), "split {split}");
        }
        // Appending in three steps, as successive AppendObject calls do.
        let mut crc = 0;
        for part in [&b"123"[..], b"456", b"789"] {
            let mut c = Crc64::resume(crc);
            c.update(part);
            crc = c.finish();
        }
        assert_eq!(crc, 11051210869376104954);
        assert_eq!(Crc64::resume(0).finish(), 0);
    }
}

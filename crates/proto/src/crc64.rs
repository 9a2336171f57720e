//! CRC-64/XZ (the `x-oss-hash-crc64ecma` checksum), streaming and combinable.

/// Streaming CRC-64/XZ hasher. `Crc64::new().update(b"123456789").finish() == 11051210869376104954`.
#[derive(Clone)]
pub struct Crc64 { /* private */ }

impl Crc64 {
    pub fn new() -> Self { todo!() }
    /// Continues a CRC already computed over earlier bytes (as AppendObject does).
    pub fn resume(crc: u64) -> Self { todo!() }
    pub fn update(&mut self, data: &[u8]) { todo!() }
    pub fn finish(&self) -> u64 { todo!() }
}

impl Default for Crc64 { fn default() -> Self { Self::new() } }

/// CRC-64/XZ of a whole buffer.
pub fn checksum(data: &[u8]) -> u64 { todo!() }

/// CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)`, without the data.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 { todo!() }

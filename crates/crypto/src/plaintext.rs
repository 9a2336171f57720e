//! Plaintext read into memory to be sealed, wiped when it is dropped.

use zeroize::Zeroize;

/// A buffer of plaintext (a file, or a part of one), wiped when dropped: its bytes and its
/// spare capacity, each in one bulk write behind zeroize's optimization barrier.
/// `Zeroizing<Vec<u8>>` wipes a `Vec` element by element, a volatile store per byte: 9 % of
/// the client's CPU in the sync of a 1 GiB file. It derefs to a slice, not to the `Vec`, so
/// nothing can grow it and leave a copy behind in a reallocation.
pub struct PlainBuf(Vec<u8>);

impl PlainBuf {
    /// `len` zero bytes, to read into.
    pub fn zeroed(len: usize) -> PlainBuf {
        PlainBuf(vec![0; len])
    }
}

impl From<Vec<u8>> for PlainBuf {
    fn from(bytes: Vec<u8>) -> PlainBuf {
        PlainBuf(bytes)
    }
}

impl std::ops::Deref for PlainBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for PlainBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Zeroize for PlainBuf {
    fn zeroize(&mut self) {
        self.0.spare_capacity_mut().zeroize();
        self.0.as_mut_slice().zeroize();
    }
}

impl Drop for PlainBuf {
    fn drop(&mut self) {
        self.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiping_clears_the_bytes_and_the_spare_capacity() {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&[0xAB; 40]);
        // Plaintext left beyond the length (as a shorter read into a reused buffer leaves it).
        bytes.extend_from_slice(&[0xCD; 24]);
        bytes.truncate(40);
        let mut buf = PlainBuf::from(bytes);
        assert_eq!(&buf[..], &[0xAB; 40][..]);
        buf.zeroize();
        assert_eq!(buf.len(), 40);
        assert!(buf.iter().all(|&b| b == 0));
        let spare = buf.0.spare_capacity_mut();
        assert_eq!(spare.len(), 24);
        // SAFETY: zeroize wrote every byte of the spare capacity.
        assert!(spare.iter().all(|b| unsafe { b.assume_init() } == 0));
    }
}

//! The plaintext window of a ranged read: the decrypted blocks or chunks cover more than was asked
//! for, so the head is dropped and the tail cut; the ciphertext expected is counted so that a
//! short or long response is an error, not a silently short result.

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Plaintext bytes still to drop before the range starts.
    skip: u64,
    /// Plaintext bytes still to emit.
    remaining: u64,
    /// Ciphertext bytes still expected (`None`: a whole object, its length found at its end).
    input_left: Option<u64>,
}

impl Window {
    /// No trimming, no expected length.
    pub(crate) fn all() -> Window {
        Window {
            skip: 0,
            remaining: u64::MAX,
            input_left: None,
        }
    }

    /// Drop `skip` bytes, then emit `len`, from exactly `input_len` bytes of ciphertext.
    pub(crate) fn new(skip: u64, len: u64, input_len: u64) -> Window {
        Window {
            skip,
            remaining: len,
            input_left: Some(input_len),
        }
    }

    pub(crate) fn take_input(&mut self, n: u64) -> Result<()> {
        if let Some(left) = self.input_left.as_mut() {
            if n > *left {
                return Err(Error::InvalidRange(format!(
                    "{} more ciphertext bytes than the requested range holds",
                    n - *left
                )));
            }
            *left -= n;
        }
        Ok(())
    }

    /// Trims the plaintext just appended to `out` at `start..` to the window.
    pub(crate) fn trim(&mut self, out: &mut Vec<u8>, start: usize) {
        let produced = (out.len() - start) as u64;
        let drop = self.skip.min(produced);
        if drop > 0 {
            out.drain(start..start + drop as usize);
            self.skip -= drop;
        }
        let keep = self.remaining.min((out.len() - start) as u64);
        out.truncate(start + keep as usize);
        self.remaining -= keep;
    }

    /// Whether the whole expected ciphertext arrived.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.input_left {
            Some(left) if left > 0 => Err(Error::Truncated(format!(
                "the ranged read ended {left} bytes early"
            ))),
            _ => Ok(()),
        }
    }
}

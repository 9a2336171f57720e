//! Streaming: a push API (`update` / `finish`, appending output to a caller's `Vec`) usable from
//! sync and async code alike, and [`CipherReader`], which turns any reader into an encrypted or
//! decrypted one. Memory stays bounded by the pieces pushed plus one chunk.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::compat::CtrStream;
use crate::error::{Error, Result};
use crate::sealed::{SealedDecryptor, SealedEncryptor};

/// A push-style cipher: feed input with `update`, end it with `finish`; output is appended to
/// `out` (which the caller drains or clears between calls).
///
/// After an error, or after `finish`, every call fails with [`Error::StreamClosed`]. A decryptor
/// only ever appends authenticated plaintext (sealed format), but a failure can come after some
/// chunks were emitted: write to a temporary file, as [`decrypt_to_file`](crate::decrypt_to_file)
/// does, when partial output must not be seen.
pub trait CipherStream: Send {
    /// Processes `input`, appending whatever output is ready to `out`.
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()>;
    /// Ends the input, appending the remaining output and checking the stream is complete.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<()>;
}

/// The plaintext limits of one multipart part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartLimit {
    pub(crate) number: u32,
    pub(crate) size: u64,
    pub(crate) last: bool,
}

enum EncryptorKind {
    Sealed(SealedEncryptor),
    Compat(Box<CtrStream>),
}

/// Encrypts a whole object, or one multipart part, as a stream.
pub struct Encryptor {
    kind: EncryptorKind,
    part: Option<PartLimit>,
    consumed: u64,
    closed: bool,
}

impl Encryptor {
    pub(crate) fn sealed(e: SealedEncryptor) -> Encryptor {
        Encryptor {
            kind: EncryptorKind::Sealed(e),
            part: None,
            consumed: 0,
            closed: false,
        }
    }

    pub(crate) fn compat(e: CtrStream) -> Encryptor {
        Encryptor {
            kind: EncryptorKind::Compat(Box::new(e)),
            part: None,
            consumed: 0,
            closed: false,
        }
    }

    pub(crate) fn with_part(mut self, part: PartLimit) -> Encryptor {
        self.part = Some(part);
        self
    }

    /// Plaintext bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Encrypts `plaintext`, appending ciphertext to `out`.
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.closed {
            return Err(Error::StreamClosed);
        }
        let r = self.update_inner(plaintext, out);
        self.closed = r.is_err();
        r
    }

    fn update_inner(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let consumed = self.consumed + plaintext.len() as u64;
        if let Some(p) = self.part {
            if consumed > p.size {
                return Err(Error::InvalidPart(format!(
                    "part {} is larger than the part size {}",
                    p.number, p.size
                )));
            }
        }
        self.consumed = consumed;
        match &mut self.kind {
            EncryptorKind::Sealed(e) => e.update(plaintext, out),
            EncryptorKind::Compat(e) => e.update(plaintext, out),
        }
    }

    /// Ends the plaintext, appending the final ciphertext to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.closed {
            return Err(Error::StreamClosed);
        }
        self.closed = true;
        if let Some(p) = self.part {
            if !p.last && self.consumed != p.size {
                return Err(Error::InvalidPart(format!(
                    "part {} holds {} bytes, but every part but the last must hold exactly the part size {}",
                    p.number, self.consumed, p.size
                )));
            }
            if p.last && p.number > 1 && self.consumed == 0 {
                return Err(Error::InvalidPart(format!(
                    "the last part ({}) is empty: end the upload with the previous part",
                    p.number
                )));
            }
        }
        match &mut self.kind {
            EncryptorKind::Sealed(e) => e.finish(out),
            EncryptorKind::Compat(e) => e.finish(out),
        }
    }
}

impl CipherStream for Encryptor {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        Encryptor::update(self, input, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        Encryptor::finish(self, out)
    }
}

enum DecryptorKind {
    Sealed(SealedDecryptor),
    Compat(Box<CtrStream>),
}

/// Decrypts a whole object, or the stored range of a [`RangeRead`](crate::RangeRead), as a
/// stream.
pub struct Decryptor {
    kind: DecryptorKind,
    closed: bool,
}

impl Decryptor {
    pub(crate) fn sealed(d: SealedDecryptor) -> Decryptor {
        Decryptor {
            kind: DecryptorKind::Sealed(d),
            closed: false,
        }
    }

    pub(crate) fn compat(d: CtrStream) -> Decryptor {
        Decryptor {
            kind: DecryptorKind::Compat(Box::new(d)),
            closed: false,
        }
    }

    /// Decrypts `ciphertext`, appending the plaintext that is ready (and, for the sealed
    /// format, authenticated) to `out`.
    pub fn update(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.closed {
            return Err(Error::StreamClosed);
        }
        let r = match &mut self.kind {
            DecryptorKind::Sealed(d) => d.update(ciphertext, out),
            DecryptorKind::Compat(d) => d.update(ciphertext, out),
        };
        self.closed = r.is_err();
        r
    }

    /// Ends the ciphertext: opens the final chunk and checks that nothing is missing.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.closed {
            return Err(Error::StreamClosed);
        }
        self.closed = true;
        match &mut self.kind {
            DecryptorKind::Sealed(d) => d.finish(out),
            DecryptorKind::Compat(d) => d.finish(out),
        }
    }
}

impl CipherStream for Decryptor {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        Decryptor::update(self, input, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        Decryptor::finish(self, out)
    }
}

/// The default input buffer of a [`CipherReader`].
pub const DEFAULT_READ_BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Reading,
    Done,
    Failed,
}

/// A reader of the output of a [`CipherStream`] fed from another reader: an
/// `AsyncRead` over an `AsyncRead` source (an upload body from a file, a download body to
/// decrypt) and a `std::io::Read` over a `Read` source.
///
/// Errors of the cipher come out as `io::Error`s of kind `InvalidData`;
/// [`Error::from_io`] recovers them.
pub struct CipherReader<R, S> {
    source: R,
    stream: S,
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    state: ReaderState,
}

impl<R, S: CipherStream> CipherReader<R, S> {
    /// Wraps `source`, reading it in pieces of [`DEFAULT_READ_BUFFER`] bytes.
    pub fn new(source: R, stream: S) -> Self {
        Self::with_buffer(source, stream, DEFAULT_READ_BUFFER)
    }

    /// Wraps `source`, reading it in pieces of `buffer` bytes.
    pub fn with_buffer(source: R, stream: S, buffer: usize) -> Self {
        CipherReader {
            source,
            stream,
            input: vec![0; buffer.max(1)],
            output: Vec::new(),
            pos: 0,
            state: ReaderState::Reading,
        }
    }

    /// The source reader.
    pub fn into_inner(self) -> R {
        self.source
    }

    /// Feeds `n` bytes read from the source (0 = end of input) through the cipher.
    fn process(&mut self, n: usize) -> io::Result<()> {
        self.output.clear();
        self.pos = 0;
        let r = if n == 0 {
            self.state = ReaderState::Done;
            self.stream.finish(&mut self.output)
        } else {
            self.stream.update(&self.input[..n], &mut self.output)
        };
        r.map_err(|e| {
            self.state = ReaderState::Failed;
            self.output.clear();
            io::Error::from(e)
        })
    }

    fn copy_out(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.output.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.output[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn failed() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, Error::StreamClosed)
    }
}

impl<R: AsyncRead + Unpin, S: CipherStream + Unpin> AsyncRead for CipherReader<R, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.output.len() {
                let n = this.copy_out(buf.initialize_unfilled());
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            match this.state {
                ReaderState::Done => return Poll::Ready(Ok(())),
                ReaderState::Failed => return Poll::Ready(Err(Self::failed())),
                ReaderState::Reading => {}
            }
            let mut rb = ReadBuf::new(&mut this.input);
            if let Err(e) = ready!(Pin::new(&mut this.source).poll_read(cx, &mut rb)) {
                this.state = ReaderState::Failed;
                return Poll::Ready(Err(e));
            }
            let n = rb.filled().len();
            this.process(n)?;
        }
    }
}

impl<R: io::Read, S: CipherStream> io::Read for CipherReader<R, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.output.len() {
                return Ok(self.copy_out(buf));
            }
            match self.state {
                ReaderState::Done => return Ok(0),
                ReaderState::Failed => return Err(Self::failed()),
                ReaderState::Reading => {}
            }
            let n = match self.source.read(&mut self.input) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.state = ReaderState::Failed;
                    return Err(e);
                }
            };
            self.process(n)?;
        }
    }
}

//! Request and response bodies: bounded reads of small bodies, streaming of object content
//! into the store (hashing MD5, CRC-64 and a declared SHA-256 on the way) and out of it.

use crate::api::ApiError;
use crate::integrity::{damage_of, quarantine, Damage};
use crate::limits::{BodyError, RequestBody};
use crate::sse::seal::{Layout, Sealer, CHUNK};
use crate::sse::DataKey;
use crate::store::{BlobContent, BlobWriter, Codec, NewBlob, Segment, Store, StoreError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, BodyStream, Empty, Full, StreamBody};
use md5::{Digest, Md5};
use ossvault_proto::{crc64::Crc64, ErrorCode};
use tokio::sync::mpsc;

/// Every response body.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Chunk size for reading content off disk.
const READ_CHUNK: usize = 256 << 10;
/// Chunks in flight between the network and the disk threads, each way.
const PIPELINE_DEPTH: usize = 8;
/// Bodies declared this small are gathered in memory and then hashed, written and fsynced in
/// one blocking call: for them the disk and hash threads' handoffs (two thread wake-ups per
/// frame) cost more than the overlap they buy.
const SMALL_BODY: u64 = 256 << 10;
/// Bodies declared this small, if the store keeps them inline, are hashed (and sealed) on the
/// task itself (MD5 of 32 KiB: ~55 µs): no file is involved, and a thread handoff would cost
/// about as much as the work.
const ON_TASK_BODY: u64 = 32 << 10;
/// Pieces of content queued towards the network per GET (a sealed object sends one per
/// 64 KiB chunk, a plain one per 256 KiB read).
const READ_PIPELINE_DEPTH: usize = 16;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Reads a whole small body (XML, JSON), refusing more than `limit` bytes with EntityTooLarge
/// before buffering them.
pub async fn read_limited(body: RequestBody, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = BodyStream::new(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(client_body_error)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ApiError::msg(
                    ErrorCode::EntityTooLarge,
                    format!("Your request body is larger than the {limit} bytes allowed here."),
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// An error answered before the request body was read to its end: the rest may still be on
/// its way, so the connection closes after the answer (a client must not send its next request
/// on it).
fn unread_body(e: ApiError) -> ApiError {
    if e.headers.iter().any(|(name, _)| *name == "connection") {
        e
    } else {
        e.with_header("connection", "close")
    }
}

fn client_body_error(e: BodyError) -> ApiError {
    let error = ApiError::msg(
        ErrorCode::RequestTimeout,
        format!("reading the request body failed: {e}"),
    );
    // The rest of a stalled body may never come: close rather than wait to drain it.
    error.with_header("connection", "close")
}

/// Content received into a durable (not yet published) blob.
pub struct Received {
    pub blob: NewBlob,
    pub len: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

/// Streams a request body into a new blob (sealed under `seal` when given), computing MD5 and
/// CRC-64 of the plaintext on a second thread while the first encrypts and writes, so the
/// slower of the two sets the pace rather than their sum. Refuses bodies over `max` bytes,
/// bodies whose length differs from `declared` when given, and bodies whose SHA-256 differs
/// from `sha256` when given (hashed only then).
pub async fn receive(
    store: &Store,
    body: RequestBody,
    declared: Option<u64>,
    max: u64,
    seal: Option<&DataKey>,
    sha256: Option<[u8; 32]>,
) -> Result<Received, ApiError> {
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    if let Some(declared) = declared.filter(|&n| n <= SMALL_BODY) {
        return receive_small(store, body, declared, seal, sha256).await;
    }
    // A declared length that would eat into the disk's reserve is refused before any byte.
    let incoming = declared.unwrap_or(0);
    let writer = blocking(store.clone(), move |s| {
        s.check_space(incoming)?;
        s.new_blob()
    })
    .await
    .map_err(unread_body)?;
    let writer = ContentWriter::new(writer, seal);
    let (to_disk, from_net) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let (to_hash, for_hash) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let disk = tokio::task::spawn_blocking(move || write_blob(writer, from_net));
    let hash = tokio::task::spawn_blocking(move || hash_chunks(for_hash, sha256.is_some()));

    let mut stream = BodyStream::new(body);
    let mut len: u64 = 0;
    let mut failure = None;
    let mut disk_failed = false;
    while let Some(frame) = stream.next().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                failure = Some(client_body_error(e));
                break;
            }
        };
        len += data.len() as u64;
        if len > max {
            failure = Some(too_large(max));
            break;
        }
        if to_hash.send(data.clone()).await.is_err() || to_disk.send(data).await.is_err() {
            disk_failed = true; // its error is reported below
            break;
        }
    }
    drop(to_disk);
    drop(to_hash);
    let written = disk.await.map_err(join_error)?;
    let (md5, crc64, received_sha256) = hash.await.map_err(join_error)?;
    if let Some(e) = failure {
        return Err(e); // the unfinished blob was removed when its writer dropped
    }
    let blob = written.map_err(|e| {
        let e = ApiError::from(StoreError::Io(e));
        if disk_failed {
            unread_body(e)
        } else {
            e
        }
    })?;
    // On a mismatch the blob is dropped here, unpublished, which removes it.
    crate::payload::check(sha256, received_sha256)?;
    if let Some(declared) = declared {
        if declared != len {
            return Err(length_mismatch(len, declared));
        }
    }
    Ok(Received {
        blob,
        len,
        md5,
        crc64,
    })
}

/// [`receive`] of a body declared at most [`SMALL_BODY`] bytes long (`declared` is within the
/// caller's maximum): gathered first, then one blocking call checks the space, hashes, writes
/// and fsyncs it.
async fn receive_small(
    store: &Store,
    body: RequestBody,
    declared: u64,
    seal: Option<&DataKey>,
    sha256: Option<[u8; 32]>,
) -> Result<Received, ApiError> {
    let mut stream = BodyStream::new(body);
    let mut buf = BytesMut::with_capacity(declared as usize);
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(client_body_error)?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > declared {
                return Err(length_mismatch(
                    buf.len() as u64 + data.len() as u64,
                    declared,
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    let len = buf.len() as u64;
    if len != declared {
        return Err(length_mismatch(len, declared));
    }
    let seal = seal.cloned();
    let store_small = move |s: &Store| {
        s.check_space(len)?;
        let mut writer = ContentWriter::new(s.new_blob()?, seal.as_ref());
        let mut md5 = Md5::new();
        let mut crc = Crc64::new();
        let mut sha = crate::payload::Hasher::new(sha256.is_some());
        md5.update(&buf);
        crc.update(&buf);
        sha.update(&buf);
        writer.write(&buf).map_err(StoreError::Io)?;
        let blob = writer.finish().map_err(StoreError::Io)?;
        Ok((blob, md5.finalize().into(), crc.finish(), sha.finish()))
    };
    // Sealing adds at most a tag per chunk: a body this small stays inline sealed or not.
    let inline = len <= ON_TASK_BODY && (len + 64) as usize <= store.inline_max();
    let (blob, md5, crc64, received_sha256) = if inline {
        store_small(store).map_err(ApiError::from)?
    } else {
        blocking(store.clone(), store_small).await?
    };
    // On a mismatch the blob is dropped here, unpublished, which removes it.
    crate::payload::check(sha256, received_sha256)?;
    Ok(Received {
        blob,
        len,
        md5,
        crc64,
    })
}

fn length_mismatch(len: u64, declared: u64) -> ApiError {
    ApiError::msg(
        ErrorCode::InvalidArgument,
        format!("The body is {len} bytes but Content-Length said {declared}."),
    )
}

fn too_large(max: u64) -> ApiError {
    ApiError::msg(
        ErrorCode::EntityTooLarge,
        format!("Your proposed upload exceeds the maximum allowed size of {max} bytes."),
    )
}

fn write_blob(
    mut writer: ContentWriter,
    mut chunks: mpsc::Receiver<Bytes>,
) -> std::io::Result<NewBlob> {
    while let Some(chunk) = chunks.blocking_recv() {
        writer.write(&chunk)?;
    }
    writer.finish()
}

fn hash_chunks(
    mut chunks: mpsc::Receiver<Bytes>,
    sha256: bool,
) -> ([u8; 16], u64, Option<[u8; 32]>) {
    let mut md5 = Md5::new();
    let mut crc = Crc64::new();
    let mut sha = crate::payload::Hasher::new(sha256);
    while let Some(chunk) = chunks.blocking_recv() {
        md5.update(&chunk);
        crc.update(&chunk);
        sha.update(&chunk);
    }
    (md5.finalize().into(), crc.finish(), sha.finish())
}

fn join_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("worker thread failed: {e}"))
}

/// Runs a blocking store call on the blocking pool.
pub async fn blocking<T, F>(store: Store, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(join_error)?
        .map_err(ApiError::from)
}

/// The part of each segment a byte range `[start, end)` of the object covers:
/// (segment, offset in segment, length).
pub fn plan_range(segments: &[Segment], start: u64, end: u64) -> Vec<(Segment, u64, u64)> {
    let mut plan = Vec::new();
    let mut seg_start = 0u64;
    for seg in segments {
        let seg_end = seg_start + seg.len;
        if seg_end > start && seg_start < end && seg.len > 0 {
            let from = start.max(seg_start) - seg_start;
            let to = end.min(seg_end) - seg_start;
            plan.push((seg.clone(), from, to - from));
        }
        if seg_start >= end {
            break;
        }
        seg_start = seg_end;
    }
    plan
}

/// Writes an object's plaintext into a blob, sealing it when the object is encrypted.
pub struct ContentWriter {
    writer: BlobWriter,
    sealer: Option<Sealer>,
}

impl ContentWriter {
    pub fn new(writer: BlobWriter, seal: Option<&DataKey>) -> Self {
        let sealer = seal.map(|key| Sealer::new(key.segment_cipher(writer.id().0)));
        ContentWriter { writer, sealer }
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.sealer {
            Some(sealer) => sealer.update(data, &mut |chunk| self.writer.write(chunk)),
            None => self.writer.write(data),
        }
    }

    pub fn finish(mut self) -> std::io::Result<NewBlob> {
        if let Some(sealer) = self.sealer.take() {
            sealer.finish(&mut |chunk| self.writer.write(chunk))?;
        }
        self.writer.finish()
    }
}

/// Reads `len` plaintext bytes of a segment from `offset` (blocking), handing them to `sink`
/// piece by piece until it returns false. A sealed segment is decrypted chunk by chunk, only
/// the chunks the range touches; a chunk that fails authentication is an error carrying
/// [`Damage`] and nothing of it is handed on. A plain segment read as a whole is checked
/// against its CRC-64 and its last piece handed on only if the check passes.
pub fn read_segment(
    file: &BlobContent,
    segment: &Segment,
    key: Option<&DataKey>,
    offset: u64,
    len: u64,
    mut sink: impl FnMut(Bytes) -> bool,
) -> std::io::Result<()> {
    let end = offset + len;
    let blob = segment.blob;
    let short = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => std::io::Error::from(Damage::Short { blob }),
        _ => e,
    };
    match (&segment.codec, key) {
        (Codec::Plain, _) => {
            // A read of the whole segment is checked against its CRC-64, the last piece held
            // back until the check passes: a damaged segment is never sent complete.
            let verify = offset == 0 && len == segment.len;
            let mut crc = Crc64::new();
            let mut held: Option<Bytes> = None;
            let mut pos = offset;
            while pos < end {
                let n = READ_CHUNK.min((end - pos) as usize);
                let buf = file.read_at(n, pos).map_err(short)?.freeze();
                pos += n as u64;
                if verify {
                    crc.update(&buf);
                    if let Some(previous) = held.replace(buf) {
                        if !sink(previous) {
                            return Ok(());
                        }
                    }
                } else if !sink(buf) {
                    return Ok(());
                }
            }
            if verify && crc.finish() != segment.crc64 {
                return Err(Damage::Crc {
                    blob,
                    expected: segment.crc64,
                    actual: crc.finish(),
                }
                .into());
            }
            if let Some(last) = held {
                sink(last);
            }
            Ok(())
        }
        (Codec::Sealed, Some(key)) => {
            let cipher = key.segment_cipher(segment.blob.0);
            let layout = Layout {
                plain_len: segment.len,
            };
            let (first, last) = (offset / CHUNK as u64, end.saturating_sub(1) / CHUNK as u64);
            let per_read = (READ_CHUNK / CHUNK).max(1) as u64;
            let mut i = first;
            // Several chunks per read: as few syscalls as the plain path.
            while i <= last.max(first) {
                let group_end = (i + per_read).min(last.max(first) + 1);
                let (stored_at, _, _) = layout.chunk(i);
                let (last_at, last_len, _) = layout.chunk(group_end - 1);
                let mut buf = file
                    .read_at((last_at + last_len as u64 - stored_at) as usize, stored_at)
                    .map_err(short)?;
                // Opened in place; each chunk's plaintext is handed on as a slice of the one
                // buffer (no compaction copy), the tags skipped.
                let mut opened = Vec::with_capacity((group_end - i) as usize);
                for k in i..group_end {
                    let (at, len, _) = layout.chunk(k);
                    let at = (at - stored_at) as usize;
                    let plain = cipher
                        .open(k, layout.is_last(k), &mut buf[at..at + len])
                        .map_err(|_| Damage::Chunk { blob, chunk: k })?
                        .len();
                    opened.push((k, at, plain));
                }
                let buf = buf.freeze();
                for (k, at, plain) in opened {
                    let chunk_start = k * CHUNK as u64;
                    let from = offset.saturating_sub(chunk_start) as usize;
                    let to = ((end - chunk_start) as usize).min(plain);
                    if from < to && !sink(buf.slice(at + from..at + to)) {
                        return Ok(());
                    }
                }
                i = group_end;
            }
            Ok(())
        }
        (Codec::Sealed, None) => Err(std::io::Error::other(
            "a sealed segment was read without its data key",
        )),
    }
}

/// Streams the planned pieces of content off disk, decrypting sealed ones with `key`. `first`
/// is the already opened file of the first piece (opened up front so a missing blob is
/// reported before the response starts).
///
/// Damage found on the way (see [`crate::integrity`]) ends the body with an error (the
/// connection is cut before the last byte) and quarantines the object `(bucket, key)`.
pub fn content_stream(
    store: Store,
    object: (String, String),
    plan: Vec<(Segment, u64, u64)>,
    first: Option<BlobContent>,
    key: Option<DataKey>,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(READ_PIPELINE_DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut first = first;
        for (seg, offset, len) in plan {
            let file = match first.take() {
                Some(f) => Ok(f),
                None => store
                    .open_blob(seg.blob)
                    .map_err(|e| std::io::Error::other(e.to_string())),
            };
            let mut client_gone = false;
            let result = file.and_then(|file| {
                read_segment(&file, &seg, key.as_ref(), offset, len, |data| {
                    client_gone = tx.blocking_send(Ok(Frame::data(data))).is_err();
                    !client_gone
                })
            });
            if let Err(e) = result {
                match damage_of(&e) {
                    Some(damage) => quarantine(&store, &object.0, &object.1, damage),
                    None => {
                        tracing::error!(blob = %seg.blob, error = %e, "reading stored content failed")
                    }
                }
                let _ = tx.blocking_send(Err(e));
                return;
            }
            if client_gone {
                return;
            }
        }
    });
    BodyExt::boxed(StreamBody::new(tokio_stream_from(rx)))
}

/// `body` gzip-compressed as it streams (`Content-Encoding: gzip`, see `get_object`). Each
/// piece of content is compressed and handed on at once with a sync flush, so a slow
/// client's progress shows and memory stays at one piece; errors pass through.
pub fn gzip(body: Body) -> Body {
    use flate2::write::GzEncoder;
    use std::io::Write as _;
    let encoder = Some(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let frames = BodyStream::new(body);
    let stream =
        futures_util::stream::unfold((frames, encoder), |(mut frames, mut encoder)| async move {
            loop {
                let enc = encoder.as_mut()?;
                match frames.next().await {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        let out = enc
                            .write_all(&data)
                            .and_then(|()| enc.flush())
                            .map(|()| Bytes::from(std::mem::take(enc.get_mut())));
                        match out {
                            Ok(b) if b.is_empty() => continue,
                            Ok(b) => return Some((Ok(Frame::data(b)), (frames, encoder))),
                            Err(e) => return Some((Err(e), (frames, None))),
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (frames, None))),
                    None => {
                        let last = encoder
                            .take()?
                            .finish()
                            .map(|v| Frame::data(Bytes::from(v)));
                        return Some((last, (frames, None)));
                    }
                }
            }
        });
    BodyExt::boxed(StreamBody::new(stream))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

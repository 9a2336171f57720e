//! The server's at-rest sealed format (`crates/server/src/sse/seal.rs`, `FORMAT.md`) through
//! the reader the server uses (`body::read_segment`), under the fixed data key of
//! `tests/vectors/sse-v1.json`.
//!
//! A fuzzed plaintext (up to ~3 chunks, grown from a seed) is sealed with `Sealer` (fed in
//! fuzzer-chosen pieces), then changed by fuzzer-chosen bit flips, a truncation, appended
//! bytes, a wrong blob id, key or declared length, and read back over a fuzzed range, from a
//! file or from inline content (as the metadata database holds small blobs), by the seed's
//! lowest bit.
//!
//! Asserts: the stored length is `Layout::stored_len`; the authentic blob reads back exactly
//! (any range); a read that succeeds returns exactly the authentic plaintext of the range,
//! whatever was changed; a read whose chunks include a changed byte, or that needs bytes cut
//! off, or uses another key or blob id, fails.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ossvault_fuzz::expand;
use ossvault_server::fuzzing::read_segment;
use ossvault_server::sse::seal::{Layout, Sealer, CHUNK, TAG};
use ossvault_server::sse::DataKey;
use ossvault_server::store::{BlobContent, BlobId, Codec, Segment};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;
use zeroize::Zeroizing;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    len: u32,
    pieces: Vec<u16>,
    flips: Vec<(u32, u8)>,
    truncate: Option<u32>,
    append: Vec<u8>,
    wrong: u8,
    declared_delta: i32,
    offset: u32,
    range_len: u32,
}

const BLOB: u128 = 0x0123456789abcdef0011223344556677;

fn key() -> DataKey {
    DataKey::Aes256(Zeroizing::new([7u8; 32]))
}

/// One in-memory file per process, rewritten for every input.
fn file() -> &'static File {
    static FILE: OnceLock<File> = OnceLock::new();
    FILE.get_or_init(|| {
        use std::os::fd::FromRawFd;
        // SAFETY: memfd_create returns a fresh descriptor that we own (or -1, checked).
        let fd = unsafe { libc::memfd_create(c"sealed".as_ptr(), 0) };
        assert!(fd >= 0, "memfd_create failed");
        unsafe { File::from_raw_fd(fd) }
    })
}

fn read(
    stored: &[u8],
    inline: bool,
    key: &DataKey,
    blob: u128,
    plain_len: u64,
    offset: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    let content = if inline {
        BlobContent::Inline(stored.to_vec().into())
    } else {
        let f = file();
        f.set_len(0)?;
        f.write_all_at(stored, 0)?;
        BlobContent::File(f.try_clone()?)
    };
    let segment = Segment {
        blob: BlobId(blob),
        len: plain_len,
        crc64: 0,
        codec: Codec::Sealed,
    };
    let mut out = Vec::new();
    read_segment(&content, &segment, Some(key), offset, len, |b| {
        out.extend_from_slice(&b);
        true
    })?;
    Ok(out)
}

fuzz_target!(|input: Input| {
    let len = (input.len % (3 * CHUNK as u32 + 64)) as usize;
    let plain = expand(input.seed, len);
    let inline = input.seed & 1 == 1;

    // Seal, fed in fuzzer-chosen pieces.
    let mut stored = Vec::new();
    let mut sink = |c: &[u8]| {
        stored.extend_from_slice(c);
        Ok(())
    };
    let mut sealer = Sealer::new(key().segment_cipher(BLOB));
    let mut rest = &plain[..];
    for &p in input.pieces.iter().take(64) {
        let n = (p as usize).min(rest.len());
        sealer.update(&rest[..n], &mut sink).unwrap();
        rest = &rest[n..];
    }
    sealer.update(rest, &mut sink).unwrap();
    sealer.finish(&mut sink).unwrap();
    let layout = Layout {
        plain_len: len as u64,
    };
    assert_eq!(stored.len() as u64, layout.stored_len());
    assert_eq!(stored.len(), len + layout.chunks() as usize * TAG);

    // The range read, as `plan_range` hands them out: non-empty and within the segment (an
    // empty read at a chunk-aligned end would address a chunk past the last one; the server
    // never asks for one). An empty segment is read as its one empty chunk.
    let (offset, range_len) = if len == 0 {
        (0, 0)
    } else {
        let offset = u64::from(input.offset) % len as u64;
        (
            offset,
            1 + u64::from(input.range_len) % (len as u64 - offset),
        )
    };
    let end = offset + range_len;
    let expected = &plain[offset as usize..end as usize];
    assert_eq!(
        read(&stored, inline, &key(), BLOB, len as u64, offset, range_len).expect("authentic read"),
        expected
    );

    // Changes.
    let mut changed = stored.clone();
    for &(at, x) in input.flips.iter().take(16) {
        if !changed.is_empty() {
            let at = at as usize % changed.len();
            changed[at] ^= x;
        }
    }
    if let Some(t) = input.truncate {
        changed.truncate(t as usize % (changed.len() + 1));
    }
    changed.extend_from_slice(&input.append);
    let wrong = input.wrong % 4;
    let (key, blob, declared) = match wrong {
        1 => (key(), BLOB ^ 1, len as u64),
        2 => (DataKey::Aes256(Zeroizing::new([8u8; 32])), BLOB, len as u64),
        3 => {
            let delta = i64::from(input.declared_delta % (2 * CHUNK as i32));
            let declared = (len as i64 + delta).clamp(0, 4 * CHUNK as i64) as u64;
            (key(), BLOB, declared)
        }
        _ => (key(), BLOB, len as u64),
    };
    // Keep the range within the declared length (the reader's contract).
    if end > declared {
        return;
    }
    let result = read(&changed, inline, &key, blob, declared, offset, range_len);

    // The stored bytes the read opens: whole chunks first..=last.
    let (first, last) = (offset / CHUNK as u64, end.saturating_sub(1) / CHUNK as u64);
    let last = last.max(first);
    let span_start = layout.chunk(first).0 as usize;
    let (last_at, last_len, _) = layout.chunk(last);
    let span_end = last_at as usize + last_len;
    let span_intact =
        changed.len() >= span_end && changed[span_start..span_end] == stored[span_start..span_end];

    match (&result, wrong) {
        (Ok(out), _) => {
            assert!(end as usize <= len, "read past the authentic plaintext");
            assert_eq!(
                out.as_slice(),
                expected,
                "a read returned other than the authentic plaintext"
            );
            assert!(
                wrong == 0 || wrong == 3,
                "read under a wrong key or blob id"
            );
            if wrong == 0 {
                assert!(
                    span_intact,
                    "a changed or missing byte inside the chunks read went unnoticed"
                );
            }
        }
        (Err(e), 0) => assert!(!span_intact, "the authentic chunks failed: {e}"),
        (Err(e), 3) => assert!(
            !(span_intact && declared == len as u64),
            "the authentic chunks failed: {e}"
        ),
        (Err(_), _) => {}
    }
});

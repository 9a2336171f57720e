//! Range handling, with a fuzzed object length:
//! - the shared parser (`ossvault_proto::range`: `parse_range_header`, `parse_range_spec` —
//!   the latter is also the CLI's `--range` and the copy-source range): a parsed spec prints
//!   back (`Display`) to a header that parses to the same spec; a resolved range is non-empty
//!   and lies within the object;
//! - the server's `Range` header resolution (`api::object::resolve_range`, both behaviours):
//!   a resolved range is non-empty and lies within the object; without
//!   `x-oss-range-behavior: standard` an unsatisfiable range never errors; with it, the result
//!   agrees with the shared parser;
//! - the server's range → segment plan (`body::plan_range`): every piece lies inside its
//!   segment, pieces are contiguous and cover exactly the requested bytes;
//! - the client-side-encryption range planner (`Envelope::range`, sealed and compat): the
//!   stored range lies within the stored object and the plaintext range is the request clamped
//!   to the object.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ossvault_fuzz::keys::envelopes;
use ossvault_proto::range::{parse_range_header, parse_range_spec};
use ossvault_server::fuzzing::{plan_range, resolve_range};
use ossvault_server::store::{BlobId, Codec, Segment};

/// The input: 96 bytes of numbers (read with `arbitrary`), then the `Range` header text.
const HEAD: usize = 96;

#[derive(Arbitrary, Debug)]
struct Numbers {
    size: u64,
    small_size: u16,
    start: u64,
    end: u64,
    envelope: u8,
    stored_len: u64,
    small_stored_len: u32,
    segments: [u16; 8],
    big_segments: [u32; 4],
}

fuzz_target!(|data: &[u8]| {
    let (head, header) = data.split_at(data.len().min(HEAD));
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let Ok(n) = Numbers::arbitrary(&mut Unstructured::new(head)) else {
        return;
    };
    let spec = parse_range_header(header);
    if let Ok(spec) = spec {
        assert_eq!(
            parse_range_header(&spec.to_string()),
            Ok(spec),
            "{header:?} → {spec}"
        );
    }
    if let Ok(one) = parse_range_spec(header) {
        let printed = one.to_string();
        assert_eq!(
            parse_range_header(&printed),
            Ok(one),
            "{header:?} → {printed}"
        );
    }
    for size in [n.size, u64::from(n.small_size)] {
        if let Ok(spec) = spec {
            if let Ok(r) = spec.resolve(size) {
                assert!(
                    r.start < r.end && r.end <= size,
                    "{r:?} outside {size} for {header:?}"
                );
                assert_eq!(r.len(), r.end - r.start);
            }
            // The server's standard behaviour is the shared resolution.
            assert_eq!(
                resolve_range(Some(header), size, true).ok().flatten(),
                spec.resolve(size).ok(),
                "{header:?} / {size}"
            );
        }
        for standard in [false, true] {
            match resolve_range(Some(header), size, standard) {
                Ok(Some(r)) => assert!(
                    r.start < r.end && r.end <= size,
                    "{r:?} outside a {size}-byte object for {:?}",
                    header
                ),
                Ok(None) => {}
                Err(e) => assert!(standard, "error without standard behaviour: {e:?}"),
            }
        }
    }

    // The segment plan of a resolved range, as get_object uses it.
    let lens = n.segments.iter().map(|&l| u64::from(l));
    let lens = lens.chain(n.big_segments.iter().map(|&l| u64::from(l)));
    let segments: Vec<Segment> = lens
        .enumerate()
        .map(|(i, len)| Segment {
            blob: BlobId(i as u128),
            len,
            crc64: 0,
            codec: Codec::Plain,
        })
        .collect();
    let total: u64 = segments.iter().map(|s| s.len).sum();
    if let Ok(Some(r)) = resolve_range(Some(header), total, true) {
        let plan = plan_range(&segments, r.start, r.end);
        let mut covered = 0u64;
        let mut seg_starts = std::collections::HashMap::new();
        let mut at = 0u64;
        for s in &segments {
            seg_starts.insert(s.blob.0, at);
            at += s.len;
        }
        let mut pos = r.start;
        for (seg, from, len) in &plan {
            assert!(
                *len > 0 && from + len <= seg.len,
                "piece outside its segment: {plan:?}"
            );
            assert_eq!(
                seg_starts[&seg.blob.0] + from,
                pos,
                "pieces not contiguous: {plan:?}"
            );
            pos += len;
            covered += len;
        }
        assert_eq!(
            covered,
            r.end - r.start,
            "plan does not cover {r:?}: {plan:?}"
        );
    }

    // Client-side encryption: plaintext range → stored range.
    let envelopes = envelopes();
    let envelope = &envelopes[usize::from(n.envelope) % envelopes.len()];
    let (start, end) = (n.start, n.end);
    for stored_len in [n.stored_len, u64::from(n.small_stored_len)] {
        if let Ok(read) = envelope.range(start..end, stored_len) {
            let total = envelope.plaintext_len(stored_len).unwrap();
            let plain = read.plaintext_range();
            let stored = read.stored_range();
            assert_eq!(plain.end, end.min(total));
            assert_eq!(plain.start, start.min(plain.end));
            assert!(
                stored.start <= stored.end && stored.end <= stored_len,
                "{stored:?} / {}",
                stored_len
            );
            assert_eq!(read.http_range().is_some(), !stored.is_empty());
            if !plain.is_empty() {
                assert!(!stored.is_empty());
            }
        } else {
            assert!(start > end || envelope.plaintext_len(stored_len).is_err());
        }
    }
});

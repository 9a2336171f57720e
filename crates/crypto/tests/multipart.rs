//! Sealed multipart uploads: parts of whole chunks, encrypted independently and in any order,
//! assemble into an object that decrypts (and range-reads) as one stream.

mod common;

use common::*;
use ossvault_crypto::{Error, DEFAULT_CHUNK_SIZE};

const CHUNK: u64 = DEFAULT_CHUNK_SIZE as u64;

async fn parts_of(plain: &[u8], part: u64) -> (ossvault_crypto::Envelope, Vec<Vec<u8>>) {
    let env = sealed(&aes_key(1)).await;
    let plan = env.multipart(part, Some(plain.len() as u64)).unwrap();
    let count = plan.part_count(plain.len() as u64);
    let mut parts = vec![Vec::new(); count as usize];
    // Encrypt from the last part to the first, as concurrent uploads may.
    for n in (1..=count).rev() {
        let s = plan.part_offset(n) as usize;
        let e = (s + part as usize).min(plain.len());
        let mut enc = plan.part_encryptor(n, n == count).unwrap();
        let out = &mut parts[n as usize - 1];
        for piece in plain[s..e].chunks(10_000) {
            enc.update(piece, out).unwrap();
        }
        enc.finish(out).unwrap();
        assert_eq!(out.len() as u64, plan.part_ciphertext_len((e - s) as u64));
    }
    (env, parts)
}

#[tokio::test]
async fn parts_assemble_into_one_stream() {
    let part = 2 * CHUNK;
    for len in [1, CHUNK, part, part + 1, 3 * part, 3 * part + CHUNK / 3] {
        let plain = pattern(len as usize);
        let (env, parts) = parts_of(&plain, part).await;
        let object = parts.concat();
        assert_eq!(object.len() as u64, env.ciphertext_len(len), "{len}");
        let opened = reparse(&env).open(&aes_key(1)).await.unwrap();
        assert_eq!(opened.decrypt_to_vec(&object).unwrap(), plain, "{len}");
        // Ranged reads across part boundaries.
        for (a, b) in [(part - 1, part + 1), (0, len), (len / 2, len)] {
            let (a, b) = (a.min(len), b.min(len));
            let r = opened.range(a..b, object.len() as u64).unwrap();
            let s = r.stored_range();
            let got = r
                .decrypt(&object[s.start as usize..s.end as usize])
                .unwrap();
            assert_eq!(got, plain[a as usize..b as usize], "{len}: {a}..{b}");
        }
    }
}

#[tokio::test]
async fn a_retried_part_gets_fresh_nonces_and_still_fits() {
    let part = CHUNK;
    let plain = pattern(3 * part as usize);
    let (env, mut parts) = parts_of(&plain, part).await;
    let plan = env.multipart(part, None).unwrap();
    let mut again = Vec::new();
    let mut enc = plan.part_encryptor(2, false).unwrap();
    enc.update(&plain[part as usize..2 * part as usize], &mut again)
        .unwrap();
    enc.finish(&mut again).unwrap();
    assert_ne!(again, parts[1], "a re-encrypted part never repeats a nonce");
    parts[1] = again;
    assert_eq!(env.decrypt_to_vec(&parts.concat()).unwrap(), plain);
}

#[tokio::test]
async fn missing_swapped_or_mislabelled_parts_fail() {
    let part = CHUNK;
    let plain = pattern(3 * part as usize + 10);
    let (env, parts) = parts_of(&plain, part).await;
    // A part missing from the middle: chunk 1 is not where chunk 2 was sealed.
    let missing = [parts[0].clone(), parts[2].clone(), parts[3].clone()].concat();
    assert!(matches!(
        env.decrypt_to_vec(&missing),
        Err(Error::TamperedChunk { index: 1 })
    ));
    // The last part missing: the object now ends on a chunk not sealed as final.
    let cut = parts[..3].concat();
    assert!(matches!(env.decrypt_to_vec(&cut), Err(Error::Truncated(_))));
    // Two parts swapped.
    let swapped = [
        parts[1].clone(),
        parts[0].clone(),
        parts[2].clone(),
        parts[3].clone(),
    ]
    .concat();
    assert!(matches!(
        env.decrypt_to_vec(&swapped),
        Err(Error::TamperedChunk { index: 0 })
    ));
    // A middle part sealed as if it were the last.
    let plan = env.multipart(part, None).unwrap();
    let mut wrong = Vec::new();
    let mut enc = plan.part_encryptor(2, true).unwrap();
    enc.update(&plain[part as usize..2 * part as usize], &mut wrong)
        .unwrap();
    enc.finish(&mut wrong).unwrap();
    let bad = [parts[0].clone(), wrong, parts[2].clone(), parts[3].clone()].concat();
    assert!(matches!(
        env.decrypt_to_vec(&bad),
        Err(Error::TrailingData { index: 1 })
    ));
}

#[tokio::test]
async fn part_sizes_must_be_whole_chunks() {
    let env = sealed(&aes_key(2)).await;
    let e = env.multipart(100 * 1024, None).unwrap_err();
    assert!(e.to_string().contains("try 131072"), "{e}");
    assert_eq!(env.align_part_size(100 * 1024), 2 * CHUNK);
    assert_eq!(env.align_part_size(5 << 20), 5 << 20);
    let plan = env.multipart(CHUNK, None).unwrap();
    assert!(
        plan.part_headers().is_empty(),
        "sealed parts need no headers"
    );
    assert_eq!(plan.initiate_headers(), env.headers());
    let mut out = Vec::new();
    let mut e = plan.part_encryptor(2, true).unwrap();
    assert!(
        matches!(e.finish(&mut out), Err(Error::InvalidPart(_))),
        "empty last part"
    );
}

//! The reader adapters and the atomic file output.

mod common;

use std::io::Read;

use common::*;
use ossvault_crypto::{decrypt_to_file, CipherReader, EncryptOptions, Envelope, Error};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn async_and_sync_readers_encrypt_and_decrypt() {
    for opts in [EncryptOptions::sealed(), EncryptOptions::compat()] {
        let key = rsa_key();
        let env = Envelope::new(&key, &opts).await.unwrap();
        let plain = pattern(1_000_000);
        let mut stored = Vec::new();
        let mut r = CipherReader::with_buffer(&plain[..], env.encryptor(), 4099);
        AsyncReadExt::read_to_end(&mut r, &mut stored)
            .await
            .unwrap();
        if opts.format == ossvault_crypto::Format::Compat {
            // Deterministic given the envelope: the reader adds nothing and loses nothing.
            assert!(stored == env.encrypt_to_vec(&plain).unwrap());
        }
        assert_eq!(stored.len() as u64, env.ciphertext_len(plain.len() as u64));
        let mut back = Vec::new();
        let mut r = CipherReader::new(std::io::Cursor::new(&stored), env.decryptor());
        Read::read_to_end(&mut r, &mut back).unwrap();
        assert!(back == plain, "{:?}", opts.format);
    }
}

#[tokio::test]
async fn reader_errors_carry_the_crypto_error() {
    let env = sealed(&aes_key(1)).await;
    let mut stored = env.encrypt_to_vec(&pattern(200_000)).unwrap();
    stored[100] ^= 1;
    let mut out = Vec::new();
    let mut r = CipherReader::new(&stored[..], env.decryptor());
    let err = AsyncReadExt::read_to_end(&mut r, &mut out)
        .await
        .unwrap_err();
    assert!(
        matches!(
            Error::from_io(&err),
            Some(Error::TamperedChunk { index: 0 })
        ),
        "{err}"
    );
    assert!(out.is_empty(), "nothing from the failed chunk");
}

#[tokio::test]
async fn a_cancelled_download_leaves_no_file() {
    let env = sealed(&aes_key(2)).await;
    let stored = env.encrypt_to_vec(&pattern(4 << 20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big.bin");
    // A source that stalls forever after 1 MiB: the download is dropped mid-way.
    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
    let feeder = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        tx.write_all(&stored[..1 << 20]).await.unwrap();
        std::future::pending::<()>().await;
    });
    let download = decrypt_to_file(rx, env.decryptor(), &target);
    let r = tokio::time::timeout(std::time::Duration::from_millis(300), download).await;
    assert!(r.is_err(), "still waiting for data");
    feeder.abort();
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn a_range_decrypts_straight_to_a_file() {
    let env = sealed(&aes_key(3)).await;
    let plain = pattern(300_000);
    let stored = env.encrypt_to_vec(&plain).unwrap();
    let r = env.range(70_000..200_001, stored.len() as u64).unwrap();
    let s = r.stored_range();
    let dir = tempfile::tempdir().unwrap();
    let n = decrypt_to_file(
        &stored[s.start as usize..s.end as usize],
        r.into_decryptor(),
        dir.path().join("part"),
    )
    .await
    .unwrap();
    assert_eq!(n, 130_001);
    assert_eq!(
        std::fs::read(dir.path().join("part")).unwrap(),
        plain[70_000..200_001]
    );
}

#[test]
fn streams_refuse_use_after_finish() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let env = rt.block_on(sealed(&aes_key(4)));
    let mut e = env.encryptor();
    let mut out = Vec::new();
    e.finish(&mut out).unwrap();
    assert!(matches!(e.update(b"x", &mut out), Err(Error::StreamClosed)));
    assert!(matches!(e.finish(&mut out), Err(Error::StreamClosed)));
}

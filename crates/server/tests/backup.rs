//! Backup while writers run, through the real server on 127.0.0.1: 8 writers PUT new objects
//! (plain, SSE-OSS AES256 and SSE-OSS SM4) and overwrite a few hot keys (so that blobs of the snapshot are unlinked
//! while it is copied) during `RunningServer::backup`; a second server started on the copy
//! (same root secret) serves every object acknowledged before the backup started byte-exact, and
//! every hot key as one of its acknowledged versions no older than the last one acknowledged
//! before the backup.

#[allow(dead_code)]
mod common;

use ossvault_client::{Client, ClientConfig, Credentials, PutOptions};
use ossvault_server::RootSecret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROOT: [u8; 32] = [0x17; 32];

fn content(key: &str, version: u64, len: usize) -> Vec<u8> {
    let mut x = (key.len() as u64 * 31 + version).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

type Acked = Arc<Mutex<HashMap<String, Vec<u64>>>>;

fn client(endpoint: String) -> Client {
    Client::new(ClientConfig::new(
        endpoint,
        "cn-hangzhou",
        Credentials {
            access_key_id: common::AK.into(),
            access_key_secret: common::SK.into(),
        },
    ))
    .unwrap()
}

/// Plain, AES256 or SM4 by `n`.
fn options(n: u64) -> PutOptions {
    PutOptions {
        headers: match n % 3 {
            0 => Vec::new(),
            1 => vec![("x-oss-server-side-encryption".into(), "AES256".into())],
            _ => vec![("x-oss-server-side-encryption".into(), "SM4".into())],
        },
        ..Default::default()
    }
}

fn size_of(key: &str, version: u64) -> usize {
    (key.len() * 977 + version as usize * 7_919) % 200_000 + 1
}

async fn get(c: &Client, key: &str) -> Vec<u8> {
    let (_, response) = c.get_object("backup", key, None).await.unwrap();
    assert!(
        response.status().is_success(),
        "{key}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_writers_restores_every_acknowledged_object() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config_in(dir.path());
    config.root_secret = Some(RootSecret::from_bytes(ROOT));
    let server = ossvault_server::start(config).await.unwrap();
    let c = client(server.endpoint());
    c.create_bucket("backup", None).await.unwrap();

    let acked: Acked = Default::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Every third write overwrites one of a few hot keys.
                let (key, version) = if n.is_multiple_of(3) {
                    (format!("hot/{}", n % 4), w * 1_000_000 + n)
                } else {
                    (format!("w{w}/{n:06}"), 0)
                };
                let data = content(&key, version, size_of(&key, version));
                let body = ossvault_client::RequestBody::Bytes(data.into());
                c.put_object("backup", &key, body, &options(w + n))
                    .await
                    .unwrap();
                acked.lock().unwrap().entry(key).or_default().push(version);
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: HashMap<String, Vec<u64>> = acked.lock().unwrap().clone();
    let out = dir.path().join("copy");
    let report = server.backup(out.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let all: HashMap<String, Vec<u64>> = acked.lock().unwrap().clone();
    assert!(
        before.len() > 20,
        "the writers wrote too little before the backup: {}",
        before.len()
    );
    assert!(report.objects as usize >= before.len(), "{report:?}");
    server.shutdown().await;

    let mut config = common::config_in(dir.path());
    config.data_dir = out;
    config.root_secret = Some(RootSecret::from_bytes(ROOT));
    let restored = ossvault_server::start(config).await.unwrap();
    let c = client(restored.endpoint());
    for (key, versions) in &before {
        let got = get(&c, key).await;
        if key.starts_with("hot/") {
            // The version in the copy: acknowledged, and not older than the last one
            // acknowledged before the backup started (versions of one hot key interleave
            // between writers, so compare by the order they were acknowledged in).
            let order = &all[key];
            let last_before = order
                .iter()
                .position(|v| v == versions.last().unwrap())
                .unwrap();
            // Writers in flight may have their acknowledgements recorded out of commit order.
            let found = order[last_before.saturating_sub(8)..]
                .iter()
                .any(|&v| content(key, v, size_of(key, v)) == got);
            assert!(
                found,
                "{key}: the copy holds no acknowledged version since the backup began"
            );
        } else {
            assert_eq!(got, content(key, 0, size_of(key, 0)), "{key}");
        }
    }
    restored.shutdown().await;
}

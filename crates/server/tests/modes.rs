//! Finding 7 of the security review: stored objects must not be readable by other local users,
//! whatever the umask. The data directory is 0700 and its files 0600; an existing data
//! directory that is more open is fixed at start.
#![cfg(unix)]

use ossvault_server::{Config, Credential};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry below `dir` (and `dir`) with its mode.
fn modes(dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut out = vec![(dir.to_owned(), mode(dir))];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.clone(), mode(&path)));
        }
    }
    out
}

fn assert_private(dir: &Path) {
    let all = modes(dir);
    assert!(all.len() > 200, "the walk saw the store: {}", all.len());
    for (path, mode) in all {
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} is {mode:o}", path.display());
    }
}

async fn start_and_store(data: &Path) {
    let config = Config::new(
        data.to_owned(),
        "127.0.0.1:0".parse().unwrap(),
        vec![Credential {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
        }],
    );
    let server = ossvault_server::start(config).await.unwrap();
    let client = ossvault_client::Client::new(ossvault_client::ClientConfig::new(
        server.endpoint(),
        "cn-hangzhou",
        ossvault_client::Credentials {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
        },
    ))
    .unwrap();
    let bucket = format!("b{}", rand_suffix());
    client.create_bucket(&bucket, None).await.unwrap();
    // One object inline in the metadata, one too large for that: a content file.
    for (key, len) in [("small.txt", 7), ("large.bin", 100 << 10)] {
        client
            .put_object(
                &bucket,
                key,
                ossvault_client::RequestBody::Bytes(vec![b'p'; len].into()),
                &Default::default(),
            )
            .await
            .unwrap();
    }
    server.shutdown().await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap_or_default()
        .as_nanos()
}

#[tokio::test]
async fn the_data_directory_is_private_whatever_the_umask() {
    // SAFETY: umask only sets the process's file creation mask; this test binary runs this
    // test alone.
    unsafe { libc::umask(0o022) };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    start_and_store(&data).await;
    assert_private(&data);

    // A data directory left open (an earlier version, or made by hand) is closed at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let blobs = data.join("blobs");
    std::fs::set_permissions(&blobs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let some_blob = modes(&blobs)
        .into_iter()
        .find(|(p, _)| p.is_file())
        .map(|(p, _)| p)
        .expect("a stored blob");
    std::fs::set_permissions(&some_blob, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        data.join("meta.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    start_and_store(&data).await;
    assert_private(&data);
}

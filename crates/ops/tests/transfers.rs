//! The transfer queue against the real embedded server on 127.0.0.1: round trips of files and
//! trees, plain and client-side encrypted; pause and resume, and a killed process, continuing
//! from the parts already sent; cancel aborting the multipart upload; failures with their OSS
//! code; downloads that never replace a file and refuse keys leaving their folder; a private
//! queue directory.

use ossvault_client::{Client, ClientConfig, Credentials, PutOptions, RequestBody};
use ossvault_crypto::{Format, ObjectHeaders};
use ossvault_keystore::{Backend, KeyKind, Keystore};
use ossvault_ops::transfers::{
    stored_transfers, ClientSideEncryption, DownloadRequest, QueueSettings, TransferEvent,
    TransferId, TransferInfo, TransferQueue, TransferState, UploadRequest,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "transfers-ak";
const SK: &str = "transfers-sk";
const BUCKET: &str = "queue";
const MIB: usize = 1 << 20;

struct Fixture {
    server: ossvault_server::RunningServer,
    client: Client,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ossvault_server::Config::new(
        dir.path().join("data"),
        "127.0.0.1:0".parse().unwrap(),
        vec![ossvault_server::Credential {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        }],
    );
    config.root_secret = Some(ossvault_server::RootSecret::from_bytes([5; 32]));
    let server = ossvault_server::start(config).await.unwrap();
    let client = client_of(&server.endpoint());
    client.create_bucket(BUCKET, None).await.unwrap();
    // A key for client-side encryption, in a passphrase-file keystore (no keychain here).
    let keys = keystore(dir.path());
    keys.generate("docs", KeyKind::Aes256).unwrap();
    // The OSS SDKs' format (compat) needs an RSA key.
    keys.generate("rsa", KeyKind::Rsa2048).unwrap();
    Fixture {
        server,
        client,
        dir,
    }
}

fn client_of(endpoint: &str) -> Client {
    Client::new(ClientConfig::new(
        endpoint.to_owned(),
        "cn-hangzhou",
        Credentials {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        },
    ))
    .unwrap()
}

fn keystore(dir: &Path) -> Keystore {
    Keystore::open(
        dir.join("config"),
        Backend::PassphraseFile {
            path: dir.join("keys.enc"),
            passphrase: zeroize::Zeroizing::new("correct horse".into()),
        },
    )
    .unwrap()
}

impl Fixture {
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Small parts, so that a few MiB make many parts.
    fn settings(&self) -> QueueSettings {
        QueueSettings {
            part_size: Some(256 << 10),
            multipart_threshold: Some(512 << 10),
            parts_per_file: 2,
            progress_interval: Duration::from_millis(20),
            ..QueueSettings::new(self.state_dir())
        }
    }

    fn open(&self, settings: QueueSettings) -> TransferQueue {
        let endpoint = self.server.endpoint();
        let dir = self.dir.path().to_owned();
        TransferQueue::open(
            settings,
            Arc::new(move |name: &str| {
                assert_eq!(name, "local");
                Ok(client_of(&endpoint))
            }),
            Arc::new(move || Ok(keystore(&dir))),
        )
        .unwrap_or_else(|e| panic!("open: {e}"))
    }

    fn write(&self, rel: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let (_, body) = self.client.get_object(BUCKET, key, None).await.unwrap();
        body.bytes().await.unwrap().to_vec()
    }

    async fn pending_uploads(&self) -> usize {
        let (uploads, _) = self
            .client
            .list_multipart_uploads(BUCKET, "", "", "")
            .await
            .unwrap();
        uploads.len()
    }
}

fn upload(source: &Path, key: &str, encrypted: bool) -> UploadRequest {
    upload_as(source, key, encrypted.then_some(Format::Sealed))
}

/// An upload, client-side encrypted in `format` (sealed under the AES key, compat under the
/// RSA key) or not.
fn upload_as(source: &Path, key: &str, format: Option<Format>) -> UploadRequest {
    UploadRequest {
        connection: "local".into(),
        source: source.to_owned(),
        bucket: BUCKET.into(),
        key: key.into(),
        encryption: format.map(|format| ClientSideEncryption {
            key: match format {
                Format::Sealed => "docs".into(),
                Format::Compat => "rsa".into(),
            },
            format,
            matdesc: Vec::new(),
        }),
        server_side: None,
    }
}

fn download(key: &str, folder: &Path, recursive: bool) -> DownloadRequest {
    DownloadRequest {
        connection: "local".into(),
        bucket: BUCKET.into(),
        key: key.into(),
        folder: folder.to_owned(),
        recursive,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn info(queue: &TransferQueue, id: TransferId) -> TransferInfo {
    queue.get(id).unwrap()
}

fn assert_completed(queue: &TransferQueue, ids: &[TransferId]) {
    for &id in ids {
        let t = info(queue, id);
        assert_eq!(t.state, TransferState::Completed, "{t:?}");
    }
}

/// Waits until transfer `id` reports at least `bytes` done.
async fn until_done_at_least(queue: &TransferQueue, id: TransferId, bytes: u64) {
    let mut events = queue.subscribe();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if info(queue, id).done >= bytes {
                return;
            }
            match events.recv().await {
                Ok(TransferEvent::Progress { id: i, done, .. }) if i == id && done >= bytes => {
                    return
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the transfer advanced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_trees_go_up_and_come_down_plain_and_encrypted() {
    let f = fixture().await;
    let queue = f.open(QueueSettings {
        files_at_once: 1,
        ..f.settings()
    });
    let mut events = queue.subscribe();
    // Sizes around the multipart threshold and part size (and an empty file).
    let files = [
        ("tree/a.txt", pattern(1000, 1)),
        ("tree/d/b.bin", pattern(700 << 10, 2)),
        ("tree/d/e/深.txt", pattern(300 << 10, 3)),
        ("tree/z/empty", Vec::new()),
    ];
    for (rel, content) in &files {
        f.write(rel, content);
    }
    let single = f.write("one.bin", &pattern(MIB + 17, 4));
    let mut ids = Vec::new();
    for encrypted in [false, true] {
        let prefix = if encrypted { "enc" } else { "plain" };
        let tree = queue
            .upload(upload(&f.dir.path().join("tree"), prefix, encrypted))
            .await
            .unwrap();
        assert_eq!(tree.len(), files.len());
        ids.extend(tree);
        ids.extend(
            queue
                .upload(upload(&single, &format!("{prefix}/single/"), encrypted))
                .await
                .unwrap(),
        );
    }
    // One file at a time: the others wait their turn, in order.
    let running: Vec<TransferId> = queue
        .list()
        .iter()
        .filter(|t| t.state == TransferState::Running)
        .map(|t| t.id)
        .collect();
    assert!(running.len() <= 1, "{running:?}");
    queue.set_files_at_once(4);
    tokio::time::timeout(Duration::from_secs(120), queue.wait_idle())
        .await
        .unwrap();
    assert_completed(&queue, &ids);
    // The encrypted objects are sealed on the server.
    let meta = f.client.head_object(BUCKET, "enc/d/b.bin").await.unwrap();
    assert!(ObjectHeaders::parse(&meta.headers).unwrap().is_encrypted());
    assert_ne!(f.object("enc/d/b.bin").await, files[1].1);
    assert_eq!(f.object("plain/d/b.bin").await, files[1].1);
    assert_eq!(f.object("plain/single/one.bin").await, pattern(MIB + 17, 4));

    // Events: every transfer was added, changed state and, the big ones, reported progress.
    let (mut added, mut progress) = (0, 0);
    while let Ok(event) = events.try_recv() {
        match event {
            TransferEvent::Added { .. } => added += 1,
            TransferEvent::Progress { .. } => progress += 1,
            _ => {}
        }
    }
    assert_eq!(added, ids.len());
    assert!(progress > 0);

    for prefix in ["plain", "enc"] {
        let folder = f.dir.path().join(format!("down-{prefix}"));
        let down = queue
            .download(download(prefix, &folder, true))
            .await
            .unwrap();
        assert_eq!(down.len(), files.len() + 1);
        let one = queue
            .download(download(
                &format!("{prefix}/single/one.bin"),
                &folder,
                false,
            ))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(120), queue.wait_idle())
            .await
            .unwrap();
        assert_completed(&queue, &down);
        assert_completed(&queue, &one);
        for (rel, content) in &files {
            let rel = rel.strip_prefix("tree/").unwrap();
            assert_eq!(&std::fs::read(folder.join(rel)).unwrap(), content, "{rel}");
        }
        assert_eq!(
            std::fs::read(folder.join("single/one.bin")).unwrap(),
            pattern(MIB + 17, 4)
        );
        assert_eq!(
            std::fs::read(folder.join("one.bin")).unwrap(),
            pattern(MIB + 17, 4)
        );
        // Nothing but the files: no temp file left behind.
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }
    queue.shutdown().await;
    f.server.shutdown().await;
}

/// Pauses a 40 MiB upload (160 parts of 256 KiB) after some parts, resumes it: it continues
/// from the parts done; plain and client-side encrypted in both formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_upload_resumes_from_its_parts() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    let content = pattern(40 * MIB, 9);
    let path = f.write("big.bin", &content);
    let parts_total = (40 * MIB).div_ceil(256 << 10) as u32;
    for (key, format) in [
        ("big-plain", None),
        ("big-sealed", Some(Format::Sealed)),
        ("big-compat", Some(Format::Compat)),
    ] {
        let id = queue.upload(upload_as(&path, key, format)).await.unwrap()[0];
        until_done_at_least(&queue, id, 4 << 20).await;
        queue.pause(id).await.unwrap();
        let paused = info(&queue, id);
        assert_eq!(paused.state, TransferState::Paused);
        assert!(paused.done >= 4 << 20, "{paused:?}");
        // Still paused on disk, and the multipart upload is kept for the resume.
        let stored = stored_transfers(&f.state_dir()).unwrap();
        assert_eq!(
            stored.iter().find(|t| t.id == id).unwrap().state,
            paused.state
        );
        assert_eq!(f.pending_uploads().await, 1);

        queue.resume(id).await.unwrap();
        tokio::time::timeout(Duration::from_secs(120), queue.wait_idle())
            .await
            .unwrap();
        let t = info(&queue, id);
        assert_eq!(t.state, TransferState::Completed, "{t:?}");
        assert!(t.parts_resumed >= 16, "{key}: {t:?}");
        assert!(t.parts_sent < parts_total, "{key}: {t:?}");
        assert_eq!(t.parts_resumed + t.parts_sent, parts_total, "{key}: {t:?}");
        assert_eq!(f.pending_uploads().await, 0);
        let stored = f.object(key).await;
        assert_eq!(stored == content, format.is_none(), "{key}");
        // Byte-exact through the queue's download (decrypting the encrypted one).
        let folder = f.dir.path().join(format!("out-{key}"));
        let down = queue.download(download(key, &folder, false)).await.unwrap();
        queue.wait_idle().await;
        assert_completed(&queue, &down);
        assert!(std::fs::read(folder.join(key)).unwrap() == content, "{key}");
    }
    queue.shutdown().await;
    f.server.shutdown().await;
}

/// A process killed in the middle of an upload and a download: the queue opened again finishes
/// both from their checkpoints.
#[test]
fn a_killed_queue_resumes_where_it_stopped() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let f = server_rt.block_on(fixture());
    let content = pattern(40 * MIB, 11);
    let path = f.write("big.bin", &content);
    server_rt
        .block_on(f.client.put_object(
            BUCKET,
            "remote.bin",
            RequestBody::Bytes(content.clone().into()),
            &PutOptions::default(),
        ))
        .unwrap();
    let folder = f.dir.path().join("down");

    let first = tokio::runtime::Runtime::new().unwrap();
    let (queue, ids) = first.block_on(async {
        let queue = f.open(f.settings());
        let up = queue.upload(upload(&path, "big", true)).await.unwrap()[0];
        let plain = queue
            .upload(upload(&path, "big-plain", false))
            .await
            .unwrap()[0];
        let down = queue
            .download(download("remote.bin", &folder, false))
            .await
            .unwrap()[0];
        for id in [up, plain, down] {
            until_done_at_least(&queue, id, 4 << 20).await;
        }
        (queue, [up, plain, down])
    });
    // The kill: every task of the process dropped where it stands, nothing tidied (waiting
    // only until the runtime's threads have dropped them, as the exit of a process would).
    first.shutdown_timeout(Duration::from_secs(10));
    drop(queue);
    for t in stored_transfers(&f.state_dir()).unwrap() {
        assert_eq!(t.state, TransferState::Queued, "{t:?}");
    }
    assert_eq!(server_rt.block_on(f.pending_uploads()), 2);

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let queue = f.open(f.settings());
        tokio::time::timeout(Duration::from_secs(120), queue.wait_idle())
            .await
            .unwrap();
        assert_completed(&queue, &ids);
        for id in &ids[..2] {
            let t = info(&queue, *id);
            assert!(t.parts_resumed > 0, "{t:?}");
            assert!(t.parts_sent < 160, "{t:?}");
        }
        queue.shutdown().await;
    });
    server_rt.block_on(async {
        assert!(f.object("big-plain").await == content);
        assert_eq!(f.pending_uploads().await, 0);
    });
    assert!(std::fs::read(folder.join("remote.bin")).unwrap() == content);
    // The encrypted upload decrypts to the file: the resumed parts used the same data key.
    let check = tokio::runtime::Runtime::new().unwrap();
    check.block_on(async {
        let queue = f.open(f.settings());
        let out = f.dir.path().join("check");
        let id = queue.download(download("big", &out, false)).await.unwrap()[0];
        queue.wait_idle().await;
        assert_completed(&queue, &[id]);
        assert!(std::fs::read(out.join("big")).unwrap() == content);
        queue.shutdown().await;
    });
    drop(check);
    server_rt.block_on(f.server.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_aborts_the_upload_and_removes_temp_files() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    let path = f.write("big.bin", &pattern(16 * MIB, 3));
    // Running, then cancelled.
    let running = queue.upload(upload(&path, "a", false)).await.unwrap()[0];
    until_done_at_least(&queue, running, MIB as u64).await;
    queue.cancel(running).await.unwrap();
    assert_eq!(info(&queue, running).state, TransferState::Cancelled);
    assert_eq!(f.pending_uploads().await, 0);
    // Paused, then cancelled (nothing running it any more: the queue aborts it itself); an
    // encrypted one, whose checkpoint is the queue's own.
    let paused = queue.upload(upload(&path, "b", true)).await.unwrap()[0];
    until_done_at_least(&queue, paused, MIB as u64).await;
    queue.pause(paused).await.unwrap();
    assert_eq!(f.pending_uploads().await, 1);
    queue.cancel(paused).await.unwrap();
    assert_eq!(info(&queue, paused).state, TransferState::Cancelled);
    assert_eq!(f.pending_uploads().await, 0);
    // A download cancelled mid-way leaves no temp file.
    f.client
        .put_object(
            BUCKET,
            "remote",
            RequestBody::Bytes(pattern(16 * MIB, 4).into()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    let folder = f.dir.path().join("down");
    let down = queue
        .download(download("remote", &folder, false))
        .await
        .unwrap()[0];
    until_done_at_least(&queue, down, MIB as u64).await;
    queue.cancel(down).await.unwrap();
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    // Cancelled transfers are finished: cleared, they leave the stored queue too, with their
    // checkpoints.
    assert_eq!(queue.clear_finished().await.unwrap(), 3);
    assert!(stored_transfers(&f.state_dir()).unwrap().is_empty());
    for id in [running, paused, down] {
        let checkpoints = f.state_dir().join("checkpoints").join(id.to_string());
        assert!(!checkpoints.exists());
    }
    queue.shutdown().await;
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_the_oss_code_and_retry_works() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    let path = f.write("small.txt", b"hello");
    let mut missing = upload(&path, "x", false);
    missing.bucket = "no-such-bucket".into();
    let id = queue.upload(missing).await.unwrap()[0];
    let gone = queue
        .download(download("nothing-here", f.dir.path(), false))
        .await
        .unwrap()[0];
    queue.wait_idle().await;
    match info(&queue, id).state {
        TransferState::Failed {
            code, request_id, ..
        } => {
            assert_eq!(code, "NoSuchBucket");
            assert!(request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    match info(&queue, gone).state {
        TransferState::Failed { code, .. } => assert_eq!(code, "NoSuchKey"),
        other => panic!("{other:?}"),
    }
    // Stored failed, with the code.
    let stored = stored_transfers(&f.state_dir()).unwrap();
    assert_eq!(stored[0].state, info(&queue, id).state);
    // Once the bucket exists, a retry succeeds.
    f.client
        .create_bucket("no-such-bucket", None)
        .await
        .unwrap();
    queue.retry(id).await.unwrap();
    queue.wait_idle().await;
    assert_completed(&queue, &[id]);
    assert!(
        queue.resume(id).await.is_err(),
        "a completed transfer resumes nothing"
    );
    queue.shutdown().await;
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_never_replace_a_file_nor_leave_their_folder() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    for key in ["dl/a.txt", "dl/../escape", "dl/sub/b.txt"] {
        f.client
            .put_object(
                BUCKET,
                key,
                RequestBody::Bytes(key.as_bytes().to_vec().into()),
                &PutOptions::default(),
            )
            .await
            .unwrap();
    }
    let folder = f.dir.path().join("into");
    let mine = f.write("into/a.txt", b"mine");
    let ids = queue.download(download("dl", &folder, true)).await.unwrap();
    let again = queue
        .download(download("dl/a.txt", &folder, false))
        .await
        .unwrap();
    queue.wait_idle().await;
    assert_eq!(std::fs::read(&mine).unwrap(), b"mine");
    // Both downloads of `a.txt` run at once: whichever names its file first takes `a (1)`.
    let copies = [folder.join("a (1).txt"), folder.join("a (2).txt")];
    for copy in &copies {
        assert_eq!(std::fs::read(copy).unwrap(), b"dl/a.txt");
    }
    let tree_copy = ids
        .iter()
        .map(|&id| info(&queue, id))
        .find(|t| t.key == "dl/a.txt")
        .unwrap()
        .local;
    let single_copy = info(&queue, again[0]).local;
    assert_ne!(tree_copy, single_copy);
    assert!(copies.contains(&tree_copy) && copies.contains(&single_copy));
    assert_eq!(
        std::fs::read(folder.join("sub/b.txt")).unwrap(),
        b"dl/sub/b.txt"
    );
    assert!(!f.dir.path().join("escape").exists());
    let refused: Vec<TransferInfo> = ids
        .iter()
        .map(|&id| info(&queue, id))
        .filter(|t| !matches!(t.state, TransferState::Completed))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].key, "dl/../escape");
    assert!(matches!(&refused[0].state, TransferState::Failed { code, .. } if code == "UnsafeKey"));
    queue.shutdown().await;
    f.server.shutdown().await;
}

/// A crash after a download got its name but before the queue stored it completed: the queue
/// opened again completes it without a second copy (`name (1)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_published_before_a_crash_is_not_made_twice() {
    let f = fixture().await;
    f.client
        .put_object(
            BUCKET,
            "doc.txt",
            RequestBody::Bytes(b"once".to_vec().into()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    let folder = f.dir.path().join("docs");
    let queue = f.open(f.settings());
    let id = queue
        .download(download("doc.txt", &folder, false))
        .await
        .unwrap()[0];
    queue.wait_idle().await;
    assert_completed(&queue, &[id]);
    queue.shutdown().await;
    drop(queue);
    // The state on disk as the crash left it: queued, with the name it was published under.
    let record = f.state_dir().join("queue").join(format!("{id:020}.json"));
    let stored = std::fs::read_to_string(&record).unwrap();
    std::fs::write(
        &record,
        stored.replace(r#""state": "completed""#, r#""state": "queued""#),
    )
    .unwrap();
    assert_eq!(
        stored_transfers(&f.state_dir()).unwrap()[0].state,
        TransferState::Queued
    );
    let checkpoints = f.state_dir().join("checkpoints").join(id.to_string());
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(
        checkpoints.join("published"),
        folder.join("doc.txt").to_str().unwrap(),
    )
    .unwrap();

    let queue = f.open(f.settings());
    queue.wait_idle().await;
    assert_completed(&queue, &[id]);
    assert_eq!(info(&queue, id).local, folder.join("doc.txt"));
    let names: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!checkpoints.exists());
    queue.shutdown().await;
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_private_and_open_in_one_process_at_a_time() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    let path = f.write("small.txt", b"hello");
    queue.upload(upload(&path, "p", false)).await.unwrap();
    queue.wait_idle().await;
    let second = TransferQueue::open(
        f.settings(),
        Arc::new(|_: &str| unreachable!()),
        Arc::new(|| unreachable!()),
    );
    assert!(second.is_err(), "opened twice");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = f.state_dir();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("queue")), 0o700);
        let record = std::fs::read_dir(dir.join("queue"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(mode(&record), 0o600);
    }
    queue.shutdown().await;
    drop(queue);
    // Checkpoints nobody owns (a crash's leftovers) go at the next open.
    let stray = f.state_dir().join("checkpoints").join("999");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("upload-x.json"), b"{}").unwrap();
    // Closed, it opens again and remembers.
    let queue = f.open(f.settings());
    assert_eq!(queue.list().len(), 1);
    assert_eq!(queue.list()[0].state, TransferState::Completed);
    assert!(!stray.exists());
    queue.shutdown().await;
    f.server.shutdown().await;
}

#[tokio::test]
async fn dropped_paths_keep_their_names_in_the_folder_and_come_back_into_one() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    let note = f.write("drop/note.txt", &pattern(1000, 1));
    f.write("drop/album/2026/beach.jpg", &pattern(3000, 2));
    f.write("drop/album/cover.jpg", &pattern(2000, 3));
    let album = f.dir.path().join("drop/album");

    // The destination must be a folder, and something must be dropped.
    let refused = queue
        .upload_into("local", BUCKET, "inbox", vec![note.clone()], None, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "InvalidInput", "{refused}");
    let refused = queue
        .upload_into("local", BUCKET, "inbox/", Vec::new(), None, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "InvalidInput", "{refused}");

    let ids = queue
        .upload_into("local", BUCKET, "inbox/", vec![note, album], None, None)
        .await
        .unwrap();
    assert_eq!(ids.len(), 3, "one transfer per file");
    queue.wait_idle().await;
    assert_completed(&queue, &ids);
    assert_eq!(f.object("inbox/note.txt").await, pattern(1000, 1));
    assert_eq!(
        f.object("inbox/album/2026/beach.jpg").await,
        pattern(3000, 2)
    );
    assert_eq!(f.object("inbox/album/cover.jpg").await, pattern(2000, 3));

    // An object and a folder (trailing '/') come back into one local folder.
    let back = f.dir.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let ids = queue
        .download_into(
            "local",
            BUCKET,
            vec!["inbox/note.txt".into(), "inbox/album/".into()],
            &back,
        )
        .await
        .unwrap();
    queue.wait_idle().await;
    assert_completed(&queue, &ids);
    assert_eq!(
        std::fs::read(back.join("note.txt")).unwrap(),
        pattern(1000, 1)
    );
    assert_eq!(
        std::fs::read(back.join("album/2026/beach.jpg")).unwrap(),
        pattern(3000, 2)
    );
    let refused = queue
        .download_into("local", BUCKET, Vec::new(), &back)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "InvalidInput", "{refused}");
}

#[tokio::test]
async fn an_upload_may_ask_for_server_side_encryption_over_the_bucket_default() {
    let f = fixture().await;
    let queue = f.open(f.settings());
    // One small file (one PUT) and one of several parts (multipart), plain and encrypted.
    let small = f.write("sse/small.txt", &pattern(1000, 4));
    let big = f.write("sse/big.bin", &pattern(2 * MIB, 5));
    let mut ids = Vec::new();
    for (source, key, format) in [
        (&small, "aes/small.txt", None),
        (&big, "aes/big.bin", None),
        (&big, "aes/big-sealed.bin", Some(Format::Sealed)),
    ] {
        let mut request = upload_as(source, key, format);
        request.server_side = Some(ossvault_ops::sse::ObjectSse::Aes256);
        ids.extend(queue.upload(request).await.unwrap());
    }
    ids.extend(
        queue
            .upload(upload(&small, "default/small.txt", false))
            .await
            .unwrap(),
    );
    queue.wait_idle().await;
    assert_completed(&queue, &ids);
    for key in ["aes/small.txt", "aes/big.bin", "aes/big-sealed.bin"] {
        let meta = f.client.head_object(BUCKET, key).await.unwrap();
        assert_eq!(sse_of(&meta), Some("AES256"), "{key}");
    }
    // The bucket has no default encryption: without the override, none.
    let meta = f
        .client
        .head_object(BUCKET, "default/small.txt")
        .await
        .unwrap();
    assert_eq!(sse_of(&meta), None);
    assert_eq!(f.object("aes/big.bin").await, pattern(2 * MIB, 5));
    // The choice is stored with the transfer (a resumed upload keeps it).
    assert_eq!(
        info(&queue, ids[0]).server_side,
        Some(ossvault_ops::sse::ObjectSse::Aes256)
    );
}

fn sse_of(meta: &ossvault_client::ObjectMeta) -> Option<&str> {
    meta.headers
        .iter()
        .find(|(name, _)| name == "x-oss-server-side-encryption")
        .map(|(_, value)| value.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_pace_uploads_and_downloads_plain_and_encrypted() {
    let f = fixture().await;
    let queue = f.open(QueueSettings {
        upload_limit: Some(512 << 10),
        download_limit: Some(MIB as u64),
        ..f.settings()
    });
    assert_eq!(
        queue.bandwidth_limits(),
        (Some(512 << 10), Some(MIB as u64))
    );
    let content = pattern(3 * MIB / 2, 9);
    let source = f.write("paced/one.bin", &content);
    let started = std::time::Instant::now();
    let mut ids = queue
        .upload(upload(&source, "paced/plain/", false))
        .await
        .unwrap();
    ids.extend(
        queue
            .upload(upload(&source, "paced/enc/", true))
            .await
            .unwrap(),
    );
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .unwrap();
    assert_completed(&queue, &ids);
    // 3 MiB at 512 KiB/s, less the bucket's first second: 5 s at the least.
    let took = started.elapsed().as_secs_f64();
    assert!(took >= 4.5, "uploads took {took:.2} s");
    assert_eq!(f.object("paced/plain/one.bin").await, content);

    let folder = f.dir.path().join("paced-down");
    let started = std::time::Instant::now();
    let ids = queue
        .download(download("paced/", &folder, true))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .unwrap();
    assert_completed(&queue, &ids);
    // 3 MiB (and the ciphertext's few bytes more) at 1 MiB/s, less the first second.
    let took = started.elapsed().as_secs_f64();
    assert!(took >= 1.8, "downloads took {took:.2} s");
    for sub in ["plain", "enc"] {
        let got = std::fs::read(folder.join(sub).join("one.bin")).unwrap();
        assert!(got == content, "{sub} came down changed");
    }

    // Lifted: the limits in force say so.
    queue.set_bandwidth_limits(None, Some(2 * MIB as u64));
    assert_eq!(queue.bandwidth_limits(), (None, Some(2 * MIB as u64)));
}

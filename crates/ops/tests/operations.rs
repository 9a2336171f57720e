//! The operations crate driven directly (no binary) against the real embedded server on
//! 127.0.0.1: encrypted round trips with each kind of master key, the lookup of the key that
//! opens an object, and a rewrap interrupted and resumed. Keys live in a passphrase-file
//! keystore here (the OS keychain is covered by the CLI's keychain test).

use ossvault_client::transfer::{CancellationToken, TransferProgress};
use ossvault_client::{Client, ClientConfig, Credentials, PutOptions};
use ossvault_crypto::{Format, ObjectHeaders};
use ossvault_keystore::{Backend, KeyKind, Keystore};
use ossvault_ops::encrypted::{download, EncryptedUpload};
use ossvault_ops::keys::{encryption_key, open_object};
use ossvault_ops::rewrap::{self, RewrapEvent, RewrapTarget};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const AK: &str = "ops-ak";
const SK: &str = "ops-sk";

struct Fixture {
    server: ossvault_server::RunningServer,
    client: Client,
    dir: tempfile::TempDir,
    keystore: Keystore,
}

/// The embedded server on 127.0.0.1 (SSE on; with `https`, an HTTPS listener too).
async fn start_server(dir: &Path, https: bool) -> ossvault_server::RunningServer {
    let mut config = ossvault_server::Config::new(
        dir.join("data"),
        "127.0.0.1:0".parse().unwrap(),
        vec![ossvault_server::Credential {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        }],
    );
    config.root_secret = Some(ossvault_server::RootSecret::from_bytes([3; 32]));
    if https {
        config.https_address = Some("127.0.0.1:0".parse().unwrap());
    }
    ossvault_server::start(config).await.unwrap()
}

/// A client of `endpoint` trusting `server`'s certificate.
fn client_of(server: &ossvault_server::RunningServer, endpoint: String) -> Client {
    let mut config = ClientConfig::new(
        endpoint,
        "cn-hangzhou",
        Credentials {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        },
    );
    config.pinned_certificate_pem = server.certificate_pem().map(|p| p.as_bytes().to_vec());
    Client::new(config).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), false).await;
    let client = client_of(&server, server.endpoint());
    client.create_bucket("ops", None).await.unwrap();
    let keystore = reopen(dir.path());
    Fixture {
        server,
        client,
        dir,
        keystore,
    }
}

fn upload_with<'a>(
    client: &'a Client,
    master: &'a ossvault_crypto::MasterKey,
    format: Format,
    progress: Arc<AtomicU64>,
) -> EncryptedUpload<'a> {
    EncryptedUpload {
        client,
        master,
        format,
        matdesc: Vec::new(),
        part_size: 256 << 10,
        threshold: 1 << 20,
        jobs: 3,
        put: PutOptions::default(),
        progress: Arc::new(move |p: TransferProgress| {
            progress.fetch_max(p.done, Ordering::Relaxed);
        }),
        cancel: CancellationToken::new(),
        limiter: None,
        checkpoint: None,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Uploads `plain` encrypted under `spec`, checks no plaintext reached the server, downloads it
/// through the key lookup and compares.
async fn round_trip(f: &Fixture, spec: &str, format: Format, plain: &[u8], key: &str) {
    let file = f.dir.path().join(format!("{key}.in"));
    std::fs::write(&file, plain).unwrap();
    let keystore = || Ok(reopen(f.dir.path()));
    let master = encryption_key(&f.client, spec, keystore).await.unwrap();
    let progress = Arc::new(AtomicU64::new(0));
    let outcome = upload_with(&f.client, &master, format, progress.clone())
        .upload(&file, "ops", key)
        .await
        .unwrap();
    assert_eq!(outcome.size, plain.len() as u64);
    assert_eq!(progress.load(Ordering::Relaxed), plain.len() as u64);
    let (_, stored) = f.client.get_object("ops", key, None).await.unwrap();
    let stored = stored.bytes().await.unwrap();
    assert_ne!(&stored[..], plain, "{spec}: stored in plaintext");

    let meta = f.client.head_object("ops", key).await.unwrap();
    let headers = ObjectHeaders::parse(&meta.headers).unwrap();
    let opened = open_object(&f.client, &headers, keystore).await.unwrap();
    let target = f.dir.path().join(format!("{key}.out"));
    let written = download(
        &f.client,
        "ops",
        key,
        &meta,
        &opened.envelope,
        &target,
        None,
        None,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(written, plain.len() as u64);
    assert_eq!(std::fs::read(&target).unwrap(), plain, "{spec}");
}

/// A second handle on the fixture's keystore (as a front end would open it per operation).
fn reopen(dir: &Path) -> Keystore {
    Keystore::open(
        dir.join("config"),
        Backend::PassphraseFile {
            path: dir.join("keys.enc"),
            passphrase: zeroize::Zeroizing::new("correct horse".into()),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_round_trips_with_each_key_kind() {
    let f = fixture().await;
    f.keystore.generate("aes", KeyKind::Aes256).unwrap();
    f.keystore.generate("rsa", KeyKind::Rsa2048).unwrap();
    let cmk = f
        .client
        .create_key(&Default::default())
        .await
        .unwrap()
        .key_id;
    let small = pattern(100_000, 1);
    let large = pattern(3 << 20, 2); // multipart: above the 1 MiB threshold
    round_trip(&f, "aes", Format::Sealed, &small, "aes-small").await;
    round_trip(&f, "aes", Format::Sealed, &large, "aes-large").await;
    round_trip(&f, "rsa", Format::Sealed, &small, "rsa-small").await;
    round_trip(&f, "rsa", Format::Compat, &large, "rsa-compat").await;
    round_trip(
        &f,
        &format!("kms:{cmk}"),
        Format::Sealed,
        &large,
        "kms-large",
    )
    .await;
    round_trip(&f, "aes", Format::Sealed, &[], "empty").await;

    // A key the keystore does not hold is named by its fingerprint, with a stable code.
    let other = f.dir.path().join("other");
    let stranger = Keystore::open(
        other.join("config"),
        Backend::PassphraseFile {
            path: other.join("keys.enc"),
            passphrase: zeroize::Zeroizing::new("x".into()),
        },
    )
    .unwrap();
    let meta = f.client.head_object("ops", "aes-small").await.unwrap();
    let headers = ObjectHeaders::parse(&meta.headers).unwrap();
    let err = match open_object(&f.client, &headers, || Ok(stranger)).await {
        Err(e) => e,
        Ok(_) => panic!("opened with a keystore that lacks the key"),
    };
    assert_eq!(err.code(), "MissingKey");
    assert!(err.to_string().contains("is not in the keychain"), "{err}");
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rewrap_resumes_without_rotating_again() {
    let f = fixture().await;
    let key = f.keystore.generate("docs", KeyKind::Aes256).unwrap();
    let v1 = key.fingerprint.clone();
    let master = encryption_key(&f.client, "docs", || Ok(reopen(f.dir.path())))
        .await
        .unwrap();
    let file = f.dir.path().join("doc");
    let objects = 12;
    for i in 0..objects {
        std::fs::write(&file, pattern(10_000 + i, i as u8)).unwrap();
        upload_with(
            &f.client,
            &master,
            Format::Sealed,
            Arc::new(AtomicU64::new(0)),
        )
        .upload(&file, "ops", &format!("docs/{i:02}"))
        .await
        .unwrap();
    }
    let target = RewrapTarget {
        bucket: "ops",
        prefix: "docs/",
        jobs: 1,
    };
    let start = rewrap::start_rotation(&f.keystore, "docs", Some(&target), true).unwrap();
    assert!(start.rotated && !start.resumed);
    assert_eq!(start.key.current_version, 2);

    // Interrupted after 4 objects.
    let cancel = CancellationToken::new();
    let done = AtomicU64::new(0);
    let stop_after_four = |event: RewrapEvent| {
        if let RewrapEvent::Rewrapped { .. } = event {
            if done.fetch_add(1, Ordering::Relaxed) + 1 == 4 {
                cancel.cancel();
            }
        }
    };
    let stopped = rewrap::rewrap(
        &f.client,
        &f.keystore,
        &start.key,
        &target,
        &stop_after_four,
        &cancel,
    )
    .await
    .unwrap();
    // A clean stop: the object in flight finished, no other started, and the count says so.
    assert!(stopped.cancelled);
    assert_eq!(stopped.rewrapped, 4);
    assert_eq!(stopped.failed, 0);
    let first_pass = done.load(Ordering::Relaxed);
    assert_eq!(first_pass, 4);
    // Right after the stop every object opens, 4 under version 2 and the rest under version 1.
    let mut under_v2 = 0;
    for i in 0..objects {
        let key = format!("docs/{i:02}");
        let meta = f.client.head_object("ops", &key).await.unwrap();
        let headers = ObjectHeaders::parse(&meta.headers).unwrap();
        let opened = open_object(&f.client, &headers, || Ok(reopen(f.dir.path())))
            .await
            .unwrap();
        under_v2 += u32::from(opened.key_label == "docs@v2");
        let out = f.dir.path().join("mid");
        download(
            &f.client,
            "ops",
            &key,
            &meta,
            &opened.envelope,
            &out,
            None,
            None,
            |_| {},
        )
        .await
        .unwrap();
        assert!(
            std::fs::read(&out).unwrap() == pattern(10_000 + i, i as u8),
            "{key}"
        );
    }
    assert_eq!(under_v2, 4);

    // The same rotation again finishes the rewrap: no third version.
    let again = rewrap::start_rotation(&f.keystore, "docs", Some(&target), true).unwrap();
    assert!(again.resumed && !again.rotated);
    assert_eq!(again.key.current_version, 2);
    let counts = rewrap::rewrap(
        &f.client,
        &f.keystore,
        &again.key,
        &target,
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.rewrapped + first_pass, objects as u64);
    assert_eq!(counts.skipped, first_pass);
    // The marker is gone: the next rotation makes version 3.
    let next = rewrap::start_rotation(&f.keystore, "docs", Some(&target), true).unwrap();
    assert!(next.rotated && !next.resumed);
    assert_eq!(next.key.current_version, 3);

    // Every object opens under version 2 now, and its content is intact.
    let v2 = again.key.fingerprint.clone();
    assert_ne!(v1, v2);
    for i in 0..objects {
        let key = format!("docs/{i:02}");
        let meta = f.client.head_object("ops", &key).await.unwrap();
        let headers = ObjectHeaders::parse(&meta.headers).unwrap();
        assert_eq!(headers.key_fingerprint().unwrap().to_hex(), v2, "{key}");
        let opened = open_object(&f.client, &headers, || Ok(reopen(f.dir.path())))
            .await
            .unwrap();
        assert_eq!(opened.key_label, "docs@v2");
        let out = f.dir.path().join("out");
        download(
            &f.client,
            "ops",
            &key,
            &meta,
            &opened.envelope,
            &out,
            None,
            None,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), pattern(10_000 + i, i as u8));
    }
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trees_go_up_come_down_and_copy_with_unsafe_keys_refused() {
    use ossvault_client::RequestBody;
    use ossvault_ops::copy::{Copier, CopySettings, TreeItem};
    use ossvault_ops::location::OssUrl;
    use std::sync::Mutex;

    let f = fixture().await;
    let root = f.dir.path().join("tree");
    let mut expected = Vec::new();
    for (i, rel) in ["a.txt", "d/b.bin", "d/e/c.txt", "d/e/f/深.txt", "z/empty"]
        .iter()
        .enumerate()
    {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let content = if rel.ends_with("empty") {
            Vec::new()
        } else {
            pattern(1000 * (i + 1), i as u8)
        };
        std::fs::write(&path, &content).unwrap();
        expected.push((rel.to_string(), content));
    }
    let copier = Copier {
        client: &f.client,
        settings: CopySettings {
            jobs: Some(3),
            ..Default::default()
        },
        cancel: CancellationToken::new(),
        keystore: Arc::new({
            let dir = f.dir.path().to_owned();
            move || Ok(reopen(&dir))
        }),
    };
    let moved = Arc::new(AtomicU64::new(0));
    let on_bytes = {
        let moved = moved.clone();
        Arc::new(move |n| {
            moved.fetch_add(n, Ordering::Relaxed);
        })
    };
    let items = Mutex::new(Vec::new());
    let record = |item: TreeItem| items.lock().unwrap().push(format!("{item:?}"));
    let total: u64 = expected.iter().map(|(_, c)| c.len() as u64).sum();
    let up = copier
        .upload_tree(&root, &OssUrl::new("ops", "up"), on_bytes.clone(), &record)
        .await
        .unwrap();
    assert_eq!((up.files, up.bytes, up.failed), (5, total, 0));
    assert_eq!(moved.load(Ordering::Relaxed), total);
    assert!(items.lock().unwrap()[0].starts_with("Total { files: 5"));

    // A key that would escape the target directory, put there by someone else.
    f.client
        .put_object(
            "ops",
            "up/../escape",
            RequestBody::Bytes(bytes_of(b"outside")),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    let down_root = f.dir.path().join("down");
    items.lock().unwrap().clear();
    let down = copier
        .download_tree(
            &OssUrl::new("ops", "up"),
            &down_root,
            on_bytes.clone(),
            &record,
        )
        .await
        .unwrap();
    assert_eq!((down.files, down.failed), (5, 1));
    let items = items.into_inner().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i.contains("UnsafeKey") && i.contains("up/../escape")),
        "{items:?}"
    );
    assert!(!f.dir.path().join("escape").exists());
    for (rel, content) in &expected {
        assert_eq!(
            &std::fs::read(down_root.join(rel)).unwrap(),
            content,
            "{rel}"
        );
    }

    let copied = copier
        .copy_tree(
            &OssUrl::new("ops", "up/d"),
            &OssUrl::new("ops", "copy"),
            on_bytes,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!((copied.files, copied.failed), (3, 0));
    let (_, body) = f
        .client
        .get_object("ops", "copy/e/f/深.txt", None)
        .await
        .unwrap();
    assert_eq!(body.bytes().await.unwrap().to_vec(), expected[3].1);
    f.server.shutdown().await;
}

fn bytes_of(b: &'static [u8]) -> bytes::Bytes {
    bytes::Bytes::from_static(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_is_deleted_in_batches_and_refused_keys_are_counted() {
    use ossvault_client::RequestBody;
    let f = fixture().await;
    for i in 0..40 {
        let key = if i == 7 {
            "gone/keep/x".to_owned()
        } else {
            format!("gone/{i:03}")
        };
        f.client
            .put_object(
                "ops",
                &key,
                RequestBody::Bytes(bytes_of(b"x")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
    }
    f.client
        .set_bucket_policy(
            "ops",
            &format!(
                r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":["oss:DeleteObject"],"Principal":["{AK}"],"Resource":["acs:oss:*:*:ops/gone/keep/*"]}}]}}"#
            ),
        )
        .await
        .unwrap();
    let heard = AtomicU64::new(0);
    let summary = ossvault_ops::delete::delete_prefix(
        &f.client,
        "ops",
        "gone/",
        &|n| {
            heard.fetch_add(n, Ordering::Relaxed);
        },
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((summary.deleted, summary.not_deleted), (39, 1));
    assert_eq!(heard.load(Ordering::Relaxed), 39);
    assert!(f.client.head_object("ops", "gone/keep/x").await.is_ok());
    assert!(f.client.head_object("ops", "gone/001").await.is_err());
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_versioned_bucket_is_emptied_of_every_version_and_removed() {
    use ossvault_client::{RequestBody, VersioningStatus};
    let f = fixture().await;
    f.client.create_bucket("kept", None).await.unwrap();
    f.client
        .set_bucket_versioning("kept", VersioningStatus::Enabled)
        .await
        .unwrap();
    for i in 0..3 {
        for key in ["a.txt", "d/b.txt"] {
            f.client
                .put_object(
                    "kept",
                    key,
                    RequestBody::Bytes(bytes::Bytes::from(vec![b'0' + i])),
                    &PutOptions::default(),
                )
                .await
                .unwrap();
        }
    }
    f.client.delete_object("kept", "a.txt").await.unwrap();
    // With its objects deleted, the bucket still holds their versions.
    let never = CancellationToken::new();
    let current = ossvault_ops::delete::delete_prefix(&f.client, "kept", "", &|_| {}, &never)
        .await
        .unwrap();
    assert_eq!(current.deleted, 1);
    assert_eq!(
        f.client.delete_bucket("kept").await.unwrap_err().code(),
        Some("BucketNotEmpty")
    );
    // The app's "empty and delete": 6 versions and 2 delete markers go, then the bucket.
    let deleted = ossvault_ops::buckets::remove(&f.client, "kept", true)
        .await
        .unwrap();
    assert_eq!(deleted, 8);
    assert!(f.client.bucket_info("kept").await.is_err());
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_encryption_and_https_only_switch_on_and_off() {
    use ossvault_ops::buckets::{
        cmk_warning, default_encryption, https_only_status, set_default_encryption, set_https_only,
        DefaultEncryption,
    };
    use ossvault_ops::sse::DataEncryption;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), true).await;
    let http = client_of(&server, server.endpoint());
    let https = client_of(&server, server.https_endpoint().unwrap());
    http.create_bucket("settings", None).await.unwrap();

    assert_eq!(
        default_encryption(&http, "settings").await.unwrap(),
        DefaultEncryption::None
    );
    let cmk = http.create_key(&Default::default()).await.unwrap().key_id;
    for wanted in [
        DefaultEncryption::Aes256,
        DefaultEncryption::Sm4,
        DefaultEncryption::Kms {
            key_id: Some(cmk.clone()),
            data_encryption: None,
        },
        DefaultEncryption::Kms {
            key_id: Some(cmk.clone()),
            data_encryption: Some(DataEncryption::Sm4),
        },
        DefaultEncryption::None,
    ] {
        let warning = set_default_encryption(&http, "settings", &wanted)
            .await
            .unwrap();
        assert_eq!(warning, None, "{wanted:?}");
        assert_eq!(default_encryption(&http, "settings").await.unwrap(), wanted);
    }

    // A CMK the KMS does not have: saved (as OSS does), with a warning; writes then fail.
    let missing = DefaultEncryption::Kms {
        key_id: Some("no-such-cmk".into()),
        data_encryption: None,
    };
    let warning = set_default_encryption(&http, "settings", &missing)
        .await
        .unwrap()
        .expect("a warning for a missing CMK");
    assert_eq!(warning.key_id, "no-such-cmk");
    assert_eq!(warning.key_state, None);
    assert!(warning.to_string().contains("KmsKeyNotFound"), "{warning}");
    assert_eq!(
        default_encryption(&http, "settings").await.unwrap(),
        missing
    );
    let refused = http
        .put_object(
            "settings",
            "x",
            ossvault_client::RequestBody::Bytes(bytes_of(b"data")),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KmsKeyNotFound"));
    // Named by its ARN, an existing CMK is found; a disabled one is named with its state.
    let arn = http.describe_key(&cmk).await.unwrap().arn;
    assert_eq!(cmk_warning(&http, &arn).await, None);
    http.disable_key(&cmk).await.unwrap();
    let disabled = cmk_warning(&http, &cmk).await.unwrap();
    assert_eq!(disabled.key_state.as_deref(), Some("Disabled"));
    http.enable_key(&cmk).await.unwrap();
    // An endpoint without this KMS (as OSS itself): nothing can be said, so nothing is.
    let elsewhere = client_of(&server, "http://127.0.0.1:9".into());
    assert_eq!(cmk_warning(&elsewhere, "no-such-cmk").await, None);
    set_default_encryption(&http, "settings", &DefaultEncryption::None)
        .await
        .unwrap();

    assert!(!https_only_status(&http, "settings").await.unwrap());
    set_https_only(&http, "settings", true).await.unwrap();
    // Plain HTTP is refused from now on; HTTPS sees the switch on.
    let refused = http.bucket_policy("settings").await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"));
    assert!(https_only_status(&https, "settings").await.unwrap());
    set_https_only(&https, "settings", true).await.unwrap(); // already on: nothing to do
    set_https_only(&https, "settings", false).await.unwrap();
    assert!(!https_only_status(&http, "settings").await.unwrap());

    // A policy of the bucket's own is never replaced by the switch.
    let own = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["*"],"Resource":["acs:oss:*:*:settings/*"]}]}"#;
    http.set_bucket_policy("settings", own).await.unwrap();
    let err = set_https_only(&http, "settings", true).await.unwrap_err();
    assert_eq!(err.code(), "InvalidInput");
    assert_eq!(
        http.bucket_policy("settings").await.unwrap().as_deref(),
        Some(own)
    );
    server.shutdown().await;
}

/// One object's download, whole or a range, plain or client-side encrypted (the range is then
/// one of the plaintext): the target holds exactly the asked bytes, and a failed download
/// leaves neither the target nor a temporary file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_downloads_take_ranges_and_are_all_or_nothing() {
    use ossvault_client::RangeSpec;
    use ossvault_ops::copy::{Copier, CopySettings, Encryption};
    use ossvault_ops::location::OssUrl;

    let f = fixture().await;
    let plain = pattern(300_000, 9);
    let file = f.dir.path().join("src.bin");
    std::fs::write(&file, &plain).unwrap();
    f.keystore.generate("aes", KeyKind::Aes256).unwrap();
    let master = encryption_key(&f.client, "aes", || Ok(reopen(f.dir.path())))
        .await
        .unwrap();
    let plain_copier = Copier {
        client: &f.client,
        settings: CopySettings::default(),
        cancel: CancellationToken::new(),
        keystore: Arc::new({
            let dir = f.dir.path().to_owned();
            move || Ok(reopen(&dir))
        }),
    };
    let sealed_copier = Copier {
        settings: CopySettings {
            encrypt: Some(Encryption {
                master,
                format: Format::Sealed,
                matdesc: Vec::new(),
            }),
            ..Default::default()
        },
        ..Copier {
            client: &f.client,
            settings: CopySettings::default(),
            cancel: CancellationToken::new(),
            keystore: plain_copier.keystore.clone(),
        }
    };
    let nothing: ossvault_ops::copy::OnBytes = Arc::new(|_| {});
    let progress = || Arc::new(|_: TransferProgress| {}) as _;
    let out = f.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    for (name, copier) in [("plain", &plain_copier), ("sealed", &sealed_copier)] {
        let url = OssUrl::new("ops", name);
        copier.upload_file(&file, &url, progress()).await.unwrap();
        let ranges = [
            (None, 0..plain.len()),
            (
                Some(RangeSpec::From {
                    start: 70_000,
                    end: Some(200_000),
                }),
                70_000..200_001,
            ),
            (Some(RangeSpec::Last(1000)), plain.len() - 1000..plain.len()),
        ];
        for (i, (range, expect)) in ranges.into_iter().enumerate() {
            let target = out.join(format!("{name}-{i}"));
            let inspected = copier.inspect(&url).await.unwrap();
            assert_eq!(inspected.1.is_some(), name == "sealed");
            let done = copier
                .download_inspected(&url, &target, inspected, range, &nothing)
                .await
                .unwrap();
            assert_eq!(done.written, expect.len() as u64, "{name} {i}");
            assert_eq!(std::fs::read(&target).unwrap(), plain[expect], "{name} {i}");
        }
        // A range past the end fails, and nothing is left in the folder.
        let target = out.join(format!("{name}-bad"));
        let inspected = copier.inspect(&url).await.unwrap();
        let past_end = Some(RangeSpec::From {
            start: plain.len() as u64 + 10,
            end: None,
        });
        assert!(copier
            .download_inspected(&url, &target, inspected, past_end, &nothing)
            .await
            .is_err());
        assert!(!target.exists());
    }
    let mut left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left.len(), 6, "only the six finished downloads: {left:?}");
    assert!(left.iter().all(|n| !n.starts_with('.')), "{left:?}");
    f.server.shutdown().await;
}

/// The properties a panel shows: tags (asked only when HEAD counts some), the storage class,
/// and the restore state of an archived object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_show_tags_storage_class_and_restore_state() {
    use ossvault_client::RequestBody;
    use ossvault_ops::properties::{object_properties, RestoreState};
    let f = fixture().await;
    let put = |key: &'static str, class: &'static str| {
        let opts = PutOptions {
            headers: vec![("x-oss-storage-class".into(), class.into())],
            ..PutOptions::default()
        };
        let client = f.client.clone();
        async move {
            client
                .put_object("ops", key, RequestBody::Bytes(bytes_of(b"p")), &opts)
                .await
                .unwrap();
        }
    };
    put("tagged", "Standard").await;
    put("ia", "IA").await;
    put("cold", "Archive").await;
    f.client
        .set_object_tagging(
            "ops",
            "tagged",
            &[
                ("project".into(), "易".into()),
                ("tier".into(), "gold".into()),
            ],
        )
        .await
        .unwrap();
    let no_keystore = || Err(ossvault_ops::Error::InvalidInput("none here".into()));

    let tagged = object_properties(&f.client, "ops", "tagged", no_keystore)
        .await
        .unwrap();
    assert_eq!(
        tagged.tags,
        [
            ("project".to_owned(), "易".to_owned()),
            ("tier".to_owned(), "gold".to_owned())
        ]
    );
    assert_eq!(tagged.tags_error, None);
    assert_eq!(tagged.storage_class.as_deref(), Some("Standard"));
    assert_eq!(tagged.restore, None);
    assert_eq!(
        tagged.versions,
        Some(1),
        "never versioned: one (null) version"
    );
    // With versioning on, each write is a version; a deletion's marker is not one.
    f.client
        .set_bucket_versioning("ops", ossvault_client::VersioningStatus::Enabled)
        .await
        .unwrap();
    put("tagged", "Standard").await;
    put("tagged", "Standard").await;
    put("tagged-not", "Standard").await;
    let versioned = object_properties(&f.client, "ops", "tagged", no_keystore)
        .await
        .unwrap();
    assert_eq!(versioned.versions, Some(3));
    f.client.delete_object("ops", "tagged-not").await.unwrap();
    put("tagged-not", "Standard").await;
    let after_marker = object_properties(&f.client, "ops", "tagged-not", no_keystore)
        .await
        .unwrap();
    assert_eq!(after_marker.versions, Some(2));

    let ia = object_properties(&f.client, "ops", "ia", no_keystore)
        .await
        .unwrap();
    assert_eq!(ia.storage_class.as_deref(), Some("IA"));
    assert!(ia.tags.is_empty());

    let cold = object_properties(&f.client, "ops", "cold", no_keystore)
        .await
        .unwrap();
    assert_eq!(cold.storage_class.as_deref(), Some("Archive"));
    assert_eq!(cold.restore, None, "no restore asked yet");
    assert!(f
        .client
        .restore_object("ops", "cold", Some(1), None)
        .await
        .unwrap());
    let restoring = object_properties(&f.client, "ops", "cold", no_keystore)
        .await
        .unwrap();
    assert_eq!(
        restoring.restore,
        Some(RestoreState {
            ongoing: true,
            expiry: None
        })
    );
    f.server.shutdown().await;
}

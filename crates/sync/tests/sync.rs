//! Folder sync against the real embedded server on 127.0.0.1, with real files and real
//! file-system events, with and without client-side encryption.

use ossvault_client::{Client, ClientConfig, Credentials, ListRequest};
use ossvault_crypto::{MasterKey, ObjectHeaders};
use ossvault_keystore::{Backend, KeyKind, Keystore};
use ossvault_ops::copy::KeystoreOpener;
use ossvault_sync::{FileState, Mode, Pair, PairState, PairStore, PairSync, RunOptions};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AK: &str = "sync-ak";
const SK: &str = "sync-sk";
const BUCKET: &str = "sync";
const KEY: &str = "k1";

struct Fx {
    dir: tempfile::TempDir,
    server: Option<ossvault_server::RunningServer>,
    addr: SocketAddr,
    client: Client,
    store: PairStore,
    keystore: KeystoreOpener,
}

fn server_config(dir: &Path, addr: SocketAddr) -> ossvault_server::Config {
    let mut config = ossvault_server::Config::new(
        dir.join("data"),
        addr,
        vec![ossvault_server::Credential {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        }],
    );
    config.root_secret = Some(ossvault_server::RootSecret::from_bytes([5; 32]));
    config
}

fn open_keystore(dir: &Path) -> ossvault_ops::Result<Keystore> {
    Ok(Keystore::open(
        dir.join("config"),
        Backend::PassphraseFile {
            path: dir.join("keys.enc"),
            passphrase: zeroize::Zeroizing::new("correct horse".into()),
        },
    )?)
}

fn client_for(endpoint: String) -> Client {
    let mut config = ClientConfig::new(
        endpoint,
        "cn-hangzhou",
        Credentials {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        },
    );
    // Fail fast while the server is down: the engine does the waiting.
    config.retry.max_attempts = 2;
    Client::new(config).unwrap()
}

async fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let server = ossvault_server::start(server_config(dir.path(), "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let client = client_for(server.endpoint());
    client.create_bucket(BUCKET, None).await.unwrap();
    open_keystore(dir.path())
        .unwrap()
        .generate(KEY, KeyKind::Aes256)
        .unwrap();
    let ks_dir = dir.path().to_owned();
    let keystore: KeystoreOpener = Arc::new(move || open_keystore(&ks_dir));
    let store = PairStore::new(dir.path().join("sync"));
    Fx {
        dir,
        server: Some(server),
        addr,
        client,
        store,
        keystore,
    }
}

impl Fx {
    fn add(&self, name: &str, mode: Mode, key: Option<&str>, prefix: &str) -> Pair {
        let local = self.dir.path().join(name);
        std::fs::create_dir_all(&local).unwrap();
        let mut pair = Pair::new(name, local, BUCKET, prefix);
        pair.mode = mode;
        pair.key = key.map(str::to_owned);
        self.store.add(pair.clone()).unwrap();
        pair
    }

    async fn open(&self, name: &str, options: RunOptions) -> Arc<PairSync> {
        Arc::new(
            PairSync::open(
                &self.store,
                name,
                self.client.clone(),
                self.keystore.clone(),
                options,
            )
            .await
            .unwrap(),
        )
    }

    async fn master(&self) -> MasterKey {
        let ks = self.keystore.clone();
        ossvault_ops::keys::encryption_key(&self.client, KEY, move || ks())
            .await
            .unwrap()
    }

    /// The objects under `prefix` (the trash left out), decrypted; checks that encrypted
    /// pairs stored only ciphertext.
    async fn remote_tree(
        &self,
        prefix: &str,
        master: Option<&MasterKey>,
    ) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut marker = None;
        loop {
            let page = self
                .client
                .list_objects(
                    BUCKET,
                    &ListRequest {
                        prefix: prefix.into(),
                        continuation_token: marker.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            for o in page.objects {
                let rel = o.key[prefix.len()..].to_owned();
                // Folder objects (`name/`, empty) are looked at by `remote_folders`.
                if rel.starts_with(".ossvault-trash/") || rel.ends_with('/') {
                    continue;
                }
                // Deleted since the listing (the sync is at work): seen on the next look.
                let Ok((meta, body)) = self.client.get_object(BUCKET, &o.key, None).await else {
                    out.insert(format!("{rel} (vanished)"), Vec::new());
                    continue;
                };
                let Ok(body) = body.bytes().await else {
                    out.insert(format!("{rel} (vanished)"), Vec::new());
                    continue;
                };
                let body = body.to_vec();
                let headers = ObjectHeaders::parse(&meta.headers).unwrap();
                let plain = match master {
                    Some(m) => {
                        assert!(headers.is_encrypted(), "{rel} is stored in plaintext");
                        let plain = headers
                            .open(m)
                            .await
                            .unwrap()
                            .decrypt_to_vec(&body)
                            .unwrap();
                        assert!(
                            plain.len() < 16 || !body.windows(16).any(|w| w == &plain[..16]),
                            "{rel}: plaintext on the server"
                        );
                        plain
                    }
                    None => {
                        assert!(!headers.is_encrypted());
                        body
                    }
                };
                out.insert(rel, plain);
            }
            match page.next_token {
                Some(t) => marker = Some(t),
                None => break,
            }
        }
        out
    }

    /// The folder objects (`name/`) under `prefix`, relative to it; checks that they are
    /// empty.
    async fn remote_folders(&self, prefix: &str) -> Vec<String> {
        let page = self
            .client
            .list_objects(
                BUCKET,
                &ListRequest {
                    prefix: prefix.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        page.objects
            .into_iter()
            .filter(|o| o.key.ends_with('/') && !o.key.contains(".ossvault-trash/"))
            .map(|o| {
                assert_eq!(o.size, 0, "{} holds bytes", o.key);
                o.key[prefix.len()..].to_owned()
            })
            .collect()
    }
}

/// Every synced file of a folder (sync's trash and ignored files left out).
fn local_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(root.join(&d)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if ossvault_sync::scan::builtin_ignored(&name) {
                continue;
            }
            let rel = d.join(&name);
            if e.file_type().unwrap().is_dir() {
                dirs.push(rel);
            } else {
                let key = rel.to_str().unwrap().replace('\\', "/");
                out.insert(key, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn content(i: usize, version: u8) -> Vec<u8> {
    format!("file {i} version {version} ")
        .repeat(1 + i % 37)
        .into_bytes()
}

/// Waits until `check` holds (polling), or fails with `what`.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn fast_options() -> RunOptions {
    RunOptions {
        remote_poll: Duration::from_millis(500),
        rescan_interval: Duration::from_secs(600),
        ..Default::default()
    }
}

/// [`fast_options`] with no transfer slot: a pass plans and then waits until the test adds
/// permits to `shared_jobs`.
fn without_slots() -> RunOptions {
    RunOptions {
        shared_jobs: Arc::new(tokio::sync::Semaphore::new(0)),
        ..fast_options()
    }
}

async fn upload_pass_then_restart(key: Option<&str>) {
    let fx = fixture().await;
    // `kms` stands for a CMK of the server's KMS, created here.
    let spec = match key {
        Some("kms") => {
            let cmk = fx
                .client
                .create_key(&ossvault_client::CreateKeyOptions::default())
                .await
                .unwrap();
            Some(format!("kms:{}", cmk.key_id))
        }
        other => other.map(str::to_owned),
    };
    let key = spec.as_deref();
    let pair = fx.add("up", Mode::Upload, key, "docs/");
    for i in 0..40 {
        write(&pair.local, &format!("d{}/f{i}.txt", i % 4), &content(i, 1));
    }
    let master = match key {
        Some(spec) => {
            let ks = fx.keystore.clone();
            Some(
                ossvault_ops::keys::encryption_key(&fx.client, spec, move || ks())
                    .await
                    .unwrap(),
            )
        }
        None => None,
    };
    let sync = fx.open("up", RunOptions::default()).await;
    let r = sync.pass(true, None).await.unwrap();
    assert_eq!((r.uploaded, r.failed.len()), (40, 0), "{r:?}");
    assert_eq!(
        fx.remote_tree("docs/", master.as_ref()).await,
        local_tree(&pair.local)
    );
    drop(sync);

    // A restart reads nothing unchanged; an mtime-only change (same bytes) uploads nothing; a
    // real change uploads that file only.
    let sync = fx.open("up", RunOptions::default()).await;
    let r = sync.pass(true, None).await.unwrap();
    assert_eq!(
        (r.uploaded, r.touched, r.scanned, r.hashed),
        (0, 0, 40, 0),
        "{r:?}"
    );
    let f3 = pair.local.join("d3/f3.txt");
    std::fs::write(&f3, content(3, 1)).unwrap(); // same bytes, new mtime
    write(&pair.local, "d1/f1.txt", &content(1, 2));
    let r = sync.pass(true, None).await.unwrap();
    // Only the two files whose metadata changed at the same size were read (the edit keeps
    // the size: its hash tells it apart from the mtime-only change).
    assert_eq!(content(1, 2).len(), content(1, 1).len());
    assert_eq!((r.uploaded, r.touched, r.hashed), (1, 1, 2), "{r:?}");
    assert_eq!(
        fx.remote_tree("docs/", master.as_ref()).await,
        local_tree(&pair.local)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_pass_and_restart_encrypted() {
    upload_pass_then_restart(Some(KEY)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_pass_and_restart_kms() {
    upload_pass_then_restart(Some("kms")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_pass_and_restart_plain() {
    upload_pass_then_restart(None).await;
}

async fn watch_converges(key: Option<&str>) {
    let fx = fixture().await;
    let pair = fx.add("w", Mode::Upload, key, "w/");
    let master = match key {
        Some(_) => Some(fx.master().await),
        None => None,
    };
    let sync = fx.open("w", fast_options()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    let converged = |what: &'static str| {
        let (fx, pair, master) = (&fx, &pair, &master);
        async move {
            let mut last = BTreeMap::new();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(90) {
                last = fx.remote_tree("w/", master.as_ref()).await;
                if last == local_tree(&pair.local) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            panic!(
                "{what}: the remote did not converge ({} objects, {} local files)",
                last.len(),
                local_tree(&pair.local).len()
            );
        }
    };
    for i in 0..500 {
        write(
            &pair.local,
            &format!("a{}/b{}/f{i}.txt", i % 5, i % 7),
            &content(i, 1),
        );
    }
    converged("500 created").await;
    for i in 0..100 {
        write(
            &pair.local,
            &format!("a{}/b{}/f{i}.txt", i % 5, i % 7),
            &content(i, 2),
        );
    }
    for i in 100..150 {
        let from = pair.local.join(format!("a{}/b{}/f{i}.txt", i % 5, i % 7));
        std::fs::create_dir_all(pair.local.join("renamed")).unwrap();
        std::fs::rename(from, pair.local.join(format!("renamed/f{i}.txt"))).unwrap();
    }
    for i in 150..200 {
        std::fs::remove_file(pair.local.join(format!("a{}/b{}/f{i}.txt", i % 5, i % 7))).unwrap();
    }
    converged("100 modified, 50 renamed, 50 deleted").await;
    assert_eq!(local_tree(&pair.local).len(), 450);
    sync.stop();
    runner.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_converges_encrypted() {
    watch_converges(Some(KEY)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_converges_plain() {
    watch_converges(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_carries_changes_and_keeps_both_versions_of_a_conflict() {
    let fx = fixture().await;
    let a = fx.add("a", Mode::TwoWay, Some(KEY), "shared/");
    let mut b = Pair::new("b", fx.dir.path().join("b"), BUCKET, "shared/");
    b.mode = Mode::TwoWay;
    b.key = Some(KEY.into());
    std::fs::create_dir_all(&b.local).unwrap();
    fx.store.add(b.clone()).unwrap();
    let sa = fx.open("a", RunOptions::default()).await;
    let sb = fx.open("b", RunOptions::default()).await;

    write(&a.local, "notes/todo.txt", b"from a, v1");
    write(&a.local, "photo.jpg", b"jpeg bytes");
    sa.pass(true, None).await.unwrap();
    let r = sb.pass(true, None).await.unwrap();
    assert_eq!(r.downloaded, 2, "{r:?}");
    assert_eq!(local_tree(&a.local), local_tree(&b.local));

    // A poll of a quiet remote compares a listing with the index: the folder is not walked.
    let r = sa.poll_remote(None).await.unwrap();
    assert_eq!((r.scanned, r.downloaded, r.uploaded), (0, 0, 0), "{r:?}");
    // The next ones only read the bucket's listing token: nothing was written since.
    let listings = sa.listings();
    for _ in 0..3 {
        let r = sa.poll_remote(None).await.unwrap();
        assert_eq!((r.scanned, r.downloaded, r.uploaded), (0, 0, 0), "{r:?}");
    }
    assert_eq!(
        sa.listings(),
        listings,
        "an unchanged bucket was listed again"
    );
    // A write elsewhere in the bucket moves the token: one listing, which finds nothing.
    fx.client
        .put_object(
            BUCKET,
            "elsewhere/x",
            ossvault_client::RequestBody::Bytes(b"x".to_vec().into()),
            &Default::default(),
        )
        .await
        .unwrap();
    let r = sa.poll_remote(None).await.unwrap();
    assert_eq!((r.scanned, r.downloaded), (0, 0), "{r:?}");
    assert_eq!(sa.listings(), listings + 1);

    // A change on b reaches a, by a poll.
    write(&b.local, "notes/todo.txt", b"from b, v2");
    sb.pass(true, None).await.unwrap();
    let r = sa.poll_remote(None).await.unwrap();
    assert_eq!(r.downloaded, 1, "{r:?}");
    assert!(r.scanned > 0, "a changed remote costs a pass: {r:?}");
    assert_eq!(
        std::fs::read(a.local.join("notes/todo.txt")).unwrap(),
        b"from b, v2"
    );

    // Both change the same file: both versions survive on both sides.
    write(&a.local, "notes/todo.txt", b"a's edit");
    write(&b.local, "notes/todo.txt", b"b's edit");
    sa.pass(true, None).await.unwrap();
    let r = sb.pass(true, None).await.unwrap();
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(r.conflicts[0].starts_with("notes/todo.conflict-") && r.conflicts[0].ends_with(".txt"));
    for _ in 0..2 {
        sb.pass(true, None).await.unwrap();
        sa.pass(true, None).await.unwrap();
    }
    let ta = local_tree(&a.local);
    assert_eq!(ta, local_tree(&b.local));
    let versions: Vec<&Vec<u8>> = ta
        .iter()
        .filter(|(k, _)| k.starts_with("notes/todo"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(versions.len(), 2, "{:?}", ta.keys());
    assert!(versions.contains(&&b"a's edit".to_vec()) && versions.contains(&&b"b's edit".to_vec()));
    let master = fx.master().await;
    assert_eq!(fx.remote_tree("shared/", Some(&master)).await, ta);
    assert_eq!(ossvault_sync::conflicts(&fx.store, "b").unwrap().len(), 1);

    // A deletion on a reaches b (into b's local trash, recoverable).
    std::fs::remove_file(a.local.join("photo.jpg")).unwrap();
    sa.pass(true, None).await.unwrap();
    let r = sb.pass(true, None).await.unwrap();
    assert_eq!(r.deleted_local, 1, "{r:?}");
    assert!(!b.local.join("photo.jpg").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_run_with_the_same_options_share_their_transfer_slots() {
    let fx = fixture().await;
    // No slot at all: neither pair transfers anything until one is given.
    let options = without_slots();
    let mut passes = Vec::new();
    for name in ["a", "b"] {
        let pair = fx.add(name, Mode::Upload, None, &format!("{name}/"));
        write(&pair.local, "f.txt", name.as_bytes());
        let sync = fx.open(name, options.clone()).await;
        passes.push(tokio::spawn(async move { sync.pass(true, None).await }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        passes.iter().all(|p| !p.is_finished()),
        "a pass transferred without a slot"
    );
    options.shared_jobs.add_permits(1);
    for pass in passes {
        let r = tokio::time::timeout(Duration::from_secs(30), pass)
            .await
            .expect("the passes share the one slot")
            .unwrap()
            .unwrap();
        assert_eq!(r.uploaded, 1, "{r:?}");
    }
}

/// A pause in the middle of a pass: the status says paused at once (the files still
/// pending), no transfer starts while paused even when a slot comes free, and the resume
/// finishes the same pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_during_a_pass_shows_and_holds_until_the_resume() {
    let fx = fixture().await;
    // No transfer slot yet: the pass plans its uploads and waits.
    let options = without_slots();
    let pair = fx.add("held", Mode::Upload, None, "held/");
    write(&pair.local, "a.txt", b"one");
    write(&pair.local, "b.txt", b"two");
    let sync = fx.open("held", options.clone()).await;
    let watching = tokio::spawn({
        let sync = sync.clone();
        async move { sync.watch().await }
    });
    let state = || sync.status().state;
    eventually(Duration::from_secs(10), "syncing", || async {
        state() == PairState::Syncing
    })
    .await;
    // Before, the status said syncing until the resume.
    sync.pause();
    eventually(Duration::from_secs(5), "paused mid-pass", || async {
        state() == PairState::Paused
    })
    .await;
    let status = sync.status();
    assert_eq!(
        (status.files_total, status.files_done),
        (2, 0),
        "{status:?}"
    );
    assert_eq!(
        status.files.get("a.txt"),
        Some(&ossvault_sync::FileState::Pending)
    );

    // A slot while paused starts nothing.
    options.shared_jobs.add_permits(2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fx.remote_tree("held/", None).await.is_empty());
    assert_eq!(state(), PairState::Paused);

    sync.resume();
    eventually(Duration::from_secs(20), "both up, idle", || async {
        state() == PairState::Idle && fx.remote_tree("held/", None).await.len() == 2
    })
    .await;
    sync.stop();
    watching.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_listing_tokens_every_poll_lists_and_still_finds_changes() {
    let fx = fixture().await;
    let pair = fx.add("oss", Mode::TwoWay, None, "oss/");
    write(&pair.local, "a.txt", b"one");
    let proxy = tokenless_proxy(fx.addr).await;
    let sync = Arc::new(
        PairSync::open(
            &fx.store,
            "oss",
            client_for(format!("http://{proxy}")),
            fx.keystore.clone(),
            fast_options(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(sync.pass(true, None).await.unwrap().uploaded, 1);
    let listings = sync.listings();
    for _ in 0..3 {
        let r = sync.poll_remote(None).await.unwrap();
        assert_eq!((r.scanned, r.downloaded, r.uploaded), (0, 0, 0), "{r:?}");
    }
    assert_eq!(
        sync.listings(),
        listings + 3,
        "a poll without a token lists"
    );
    // A change on the server is still found by a poll.
    fx.client
        .put_object(
            BUCKET,
            "oss/b.txt",
            ossvault_client::RequestBody::Bytes(b"two".to_vec().into()),
            &Default::default(),
        )
        .await
        .unwrap();
    let r = sync.poll_remote(None).await.unwrap();
    assert_eq!(r.downloaded, 1, "{r:?}");
    assert_eq!(std::fs::read(pair.local.join("b.txt")).unwrap(), b"two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_two_way_pair_polls_the_remote_without_walking_its_folder() {
    let fx = fixture().await;
    // Plain: what is looked at does not depend on encryption, and it keeps the test short.
    let pair = fx.add("idle", Mode::TwoWay, None, "idle/");
    for i in 0..300 {
        write(&pair.local, &format!("d{}/f{i}.txt", i % 7), &content(i, 1));
    }
    let sync = fx.open("idle", fast_options()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    eventually(Duration::from_secs(60), "300 files synced", || async {
        let s = sync.status();
        s.state == PairState::Idle && s.indexed == 300
    })
    .await;
    // Quiet on both sides: the remote is polled (every 0.5 s, then less often), the folder is
    // not walked, not even after the walks the sync made itself (their directory opens are
    // file-system events too).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (walks, polled) = (sync.walks(), sync.status().last_sync_ms);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sync.walks(), walks, "an idle pair walked its folder");
    assert!(
        sync.status().last_sync_ms > polled,
        "the remote was not polled"
    );
    // Idle, it holds no database open: its index file can be opened (redb locks an open one).
    let index = fx.store.state_dir("idle").join("index.redb");
    drop(redb::Database::open(&index).expect("the idle pair's index is closed"));
    // A change on the remote side is found by a poll and carried.
    let mut other = Pair::new("other", fx.dir.path().join("other"), BUCKET, "idle/");
    other.mode = Mode::TwoWay;
    std::fs::create_dir_all(&other.local).unwrap();
    fx.store.add(other.clone()).unwrap();
    let so = fx.open("other", RunOptions::default()).await;
    so.pass(true, None).await.unwrap();
    write(&other.local, "d0/f0.txt", b"changed elsewhere");
    so.pass(true, None).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the remote change carried",
        || async { std::fs::read(pair.local.join("d0/f0.txt")).unwrap() == b"changed elsewhere" },
    )
    .await;
    sync.stop();
    runner.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deletion_is_refused_and_old_versions_restore() {
    let fx = fixture().await;
    let pair = fx.add("del", Mode::Upload, Some(KEY), "del/");
    for i in 0..40 {
        write(&pair.local, &format!("f{i}.txt"), &content(i, 1));
    }
    let sync = fx.open("del", RunOptions::default()).await;
    sync.pass(true, None).await.unwrap();
    let master = fx.master().await;

    // The folder looks emptied (an unmounted drive, a wrong move): nothing is deleted.
    let moved = fx.dir.path().join("moved-away");
    std::fs::rename(&pair.local, &moved).unwrap();
    std::fs::create_dir(&pair.local).unwrap();
    let r = sync.pass(true, None).await.unwrap();
    assert!(r.refused_deletions.is_some(), "{r:?}");
    assert_eq!(r.deleted_remote, 0);
    assert!(
        matches!(sync.status().state, PairState::Error { ref code, .. } if code == "DeletionRefused")
    );
    assert_eq!(fx.remote_tree("del/", Some(&master)).await.len(), 40);
    std::fs::remove_dir(&pair.local).unwrap();
    std::fs::rename(&moved, &pair.local).unwrap();

    // One file deleted and one overwritten: both old versions are kept and restorable.
    std::fs::remove_file(pair.local.join("f1.txt")).unwrap();
    write(&pair.local, "f2.txt", b"new content of f2");
    let r = sync.pass(true, None).await.unwrap();
    assert_eq!((r.deleted_remote, r.uploaded), (1, 1), "{r:?}");
    let remote = fx.remote_tree("del/", Some(&master)).await;
    assert!(!remote.contains_key("f1.txt"));
    let pairs = fx.store.list().unwrap();
    let restored = ossvault_sync::restore::restore(
        &fx.client,
        &fx.keystore,
        &pairs,
        BUCKET,
        "del/f1.txt",
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(restored.path, pair.local.join("f1.txt"));
    assert_eq!(std::fs::read(&restored.path).unwrap(), content(1, 1));
    let to = fx.dir.path().join("old-f2.txt");
    let restored = ossvault_sync::restore::restore(
        &fx.client,
        &fx.keystore,
        &pairs,
        BUCKET,
        "del/f2.txt",
        None,
        Some(&to),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&restored.path).unwrap(), content(2, 1));
    // Trash versions are ciphertext too.
    let versions = ossvault_sync::restore::versions(&fx.client, BUCKET, "del/f2.txt")
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    let (_, body) = fx
        .client
        .get_object(BUCKET, &versions[0].key, None)
        .await
        .unwrap();
    assert_ne!(body.bytes().await.unwrap().to_vec(), content(2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_folder_is_copied_on_the_server_not_uploaded_nor_refused_as_a_mass_deletion() {
    let fx = fixture().await;
    let pair = fx.add("mv", Mode::Upload, Some(KEY), "mv/");
    for i in 0..30 {
        write(&pair.local, &format!("old/f{i}.txt"), &content(i, 1));
    }
    for i in 0..5 {
        write(&pair.local, &format!("keep/k{i}.txt"), &content(i, 2));
    }
    let sync = fx.open("mv", RunOptions::default()).await;
    sync.pass(true, None).await.unwrap();

    // The folder moves (86 % of the files: as deletions, the safety check would refuse), and
    // one moved file is edited in place with its size and mtime put back: only its content
    // tells, so it is uploaded, not copied.
    std::fs::rename(pair.local.join("old"), pair.local.join("new")).unwrap();
    let edited = pair.local.join("new/f3.txt");
    let mtime = std::fs::metadata(&edited).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&edited).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&edited, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&edited)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = sync.pass(true, None).await.unwrap();
    assert!(
        r.refused_deletions.is_none() && r.failed.is_empty(),
        "{r:?}"
    );
    assert_eq!((r.renamed, r.uploaded), (29, 1), "{r:?}");
    let master = fx.master().await;
    assert_eq!(
        fx.remote_tree("mv/", Some(&master)).await,
        local_tree(&pair.local)
    );
    // The index follows the move: the next pass has nothing to do.
    let r = sync.pass(true, None).await.unwrap();
    assert!(!r.changed() && r.hashed == 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_folders_are_kept_on_both_sides_and_their_removal_follows() {
    let fx = fixture().await;
    let a = fx.add("fa", Mode::TwoWay, Some(KEY), "folders/");
    let b = fx.add("fb", Mode::TwoWay, Some(KEY), "folders/");
    let sa = fx.open("fa", RunOptions::default()).await;
    let sb = fx.open("fb", RunOptions::default()).await;
    // Empty folders (one holding only OS litter), a folder holding an empty one, and folders
    // holding files (no object of their own).
    for d in ["empty", "outer/inner", "litter", "full/sub"] {
        std::fs::create_dir_all(a.local.join(d)).unwrap();
    }
    write(&a.local, "litter/.DS_Store", b"finder state");
    write(&a.local, "full/sub/f.txt", b"a file");
    sa.pass(true, None).await.unwrap();
    assert_eq!(
        fx.remote_folders("folders/").await,
        ["empty/", "litter/", "outer/inner/"]
    );
    // A folder made on the server (as the OSS console makes one) reaches both sides.
    fx.client
        .put_object(
            BUCKET,
            "folders/console/",
            ossvault_client::RequestBody::Bytes(Default::default()),
            &Default::default(),
        )
        .await
        .unwrap();
    sa.pass(true, None).await.unwrap();
    let r = sb.pass(true, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    for d in ["empty", "outer/inner", "litter", "console", "full/sub"] {
        assert!(b.local.join(d).is_dir(), "{d} on b");
    }
    assert!(a.local.join("console").is_dir());
    assert_eq!(local_tree(&a.local), local_tree(&b.local));

    // An empty folder removed on b goes from the server and from a; a whole folder removed
    // with its files (and its folder object) on b goes from a too, files into a's trash.
    std::fs::remove_dir(b.local.join("empty")).unwrap();
    write(&b.local, "gone/f.txt", b"soon gone");
    sb.pass(true, None).await.unwrap();
    sa.pass(true, None).await.unwrap();
    assert!(a.local.join("gone/f.txt").is_file());
    std::fs::remove_dir_all(b.local.join("gone")).unwrap();
    std::fs::remove_dir_all(b.local.join("full")).unwrap();
    sb.pass(true, None).await.unwrap();
    let r = sa.pass(true, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    for d in ["empty", "gone", "full"] {
        assert!(!a.local.join(d).exists(), "{d} still on a: {r:?}");
    }
    assert_eq!(
        fx.remote_folders("folders/").await,
        ["console/", "litter/", "outer/inner/"]
    );
    // A folder that receives a file keeps its object; nothing is left to do.
    write(&a.local, "console/now-a-file.txt", b"content");
    sa.pass(true, None).await.unwrap();
    sb.pass(true, None).await.unwrap();
    assert_eq!(local_tree(&a.local), local_tree(&b.local));
    let r = sa.pass(true, None).await.unwrap();
    assert!(!r.changed(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_under_a_bandwidth_limit_starts_at_once_and_keeps_to_the_rate() {
    let fx = fixture().await;
    let pair = fx.add("pace", Mode::Download, None, "pace/");
    const RATE: u64 = 256 * 1024;
    fx.store
        .update("pace", |p| p.bandwidth_limit = Some(RATE))
        .unwrap();
    let body = content(5, 1).repeat(1 + (1536 * 1024) / content(5, 1).len());
    fx.client
        .put_object(
            BUCKET,
            "pace/big.bin",
            ossvault_client::RequestBody::Bytes(body.clone().into()),
            &Default::default(),
        )
        .await
        .unwrap();
    let sync = fx.open("pace", RunOptions::default()).await;
    let started = Instant::now();
    let pass = {
        let s = sync.clone();
        tokio::spawn(async move { s.pass(true, None).await })
    };
    // Paced chunk by chunk: bytes arrive from the start (not after waiting out the whole
    // file's worth of the rate, then all at once).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = sync.status();
    let midway = status.bytes_done;
    assert!(
        midway > 0 && midway < body.len() as u64,
        "{midway} of {} bytes after 1.5 s",
        body.len()
    );
    // The file shows its own percentage.
    assert!(
        matches!(status.files.get("big.bin"), Some(FileState::Transferring { percent }) if (1..100).contains(percent)),
        "{:?}",
        status.files
    );
    let r = pass.await.unwrap().unwrap();
    assert_eq!(r.downloaded, 1, "{r:?}");
    let took = started.elapsed().as_secs_f64();
    // A second's burst, then the rate.
    let floor = (body.len() as u64 - RATE) as f64 / RATE as f64 * 0.9;
    assert!(took >= floor, "{took:.2} s, at least {floor:.2} s expected");
    assert_eq!(std::fs::read(pair.local.join("big.bin")).unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_encrypted_upload_resumes() {
    let fx = fixture().await;
    let pair = fx.add("big", Mode::Upload, Some(KEY), "big/");
    let data: Vec<u8> = (0..(40u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write(&pair.local, "video.bin", &data);
    let options = RunOptions {
        part_size: 4 << 20,
        multipart_threshold: 4 << 20,
        part_jobs: 2,
        ..Default::default()
    };
    // Slow it down (2 MiB/s), stop it after a few parts, as a crash would.
    fx.store
        .update("big", |p| p.bandwidth_limit = Some(2 << 20))
        .unwrap();
    let sync = fx.open("big", options.clone()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.pass(true, None).await })
    };
    let status = sync.clone();
    eventually(Duration::from_secs(60), "some parts uploaded", || {
        let s = status.status();
        async move { s.bytes_done >= 12 << 20 }
    })
    .await;
    sync.stop();
    assert!(runner.await.unwrap().is_err(), "stopped");
    drop(status);
    drop(sync);
    // Nothing half-uploaded is visible.
    let head = fx.client.head_object(BUCKET, "big/video.bin").await;
    assert_eq!(head.unwrap_err().code(), Some("NoSuchKey"));

    fx.store
        .update("big", |p| p.bandwidth_limit = None)
        .unwrap();
    let sync = fx.open("big", options).await;
    let r = sync.pass(true, None).await.unwrap();
    assert_eq!(r.uploaded, 1, "{r:?}");
    assert!(r.parts_resumed >= 2, "{r:?}");
    assert_eq!(r.parts_resumed + r.parts_sent, 10, "{r:?}");
    let master = fx.master().await;
    assert_eq!(
        fx.remote_tree("big/", Some(&master)).await["video.bin"],
        data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outage_is_recovered_from_without_help() {
    let mut fx = fixture().await;
    let pair = fx.add("out", Mode::Upload, Some(KEY), "out/");
    write(&pair.local, "first.txt", b"before the outage");
    let sync = fx.open("out", fast_options()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    let master = fx.master().await;
    let fxr = &fx;
    eventually(Duration::from_secs(30), "first sync", || async {
        fxr.remote_tree("out/", Some(&master)).await.len() == 1
    })
    .await;
    fx.server.take().unwrap().shutdown().await;
    write(
        &pair.local,
        "during.txt",
        b"written while the server is down",
    );
    let s = sync.clone();
    eventually(Duration::from_secs(30), "offline or retrying", || {
        let st = s.status().state;
        async move { matches!(st, PairState::Offline { .. } | PairState::Retrying { .. }) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fx.server = Some(
        ossvault_server::start(server_config(fx.dir.path(), fx.addr))
            .await
            .unwrap(),
    );
    let fxr = &fx;
    eventually(
        Duration::from_secs(60),
        "convergence after the outage",
        || async { fxr.remote_tree("out/", Some(&master)).await == local_tree(&pair.local) },
    )
    .await;
    sync.stop();
    runner.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rules_editor_saves_and_files_being_written() {
    let fx = fixture().await;
    let pair = fx.add("ed", Mode::Upload, Some(KEY), "ed/");
    write(&pair.local, ".ossvaultignore", b"*.log\ncache/\n");
    let sync = fx.open("ed", fast_options()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    // Ignored: the rules, and the built-in temp and lock files.
    write(&pair.local, "app.log", b"log");
    write(&pair.local, "cache/blob", b"cache");
    write(&pair.local, "~$report.docx", b"office lock");
    write(&pair.local, ".report.docx.swp", b"vim swap");
    // An editor's save: write a temp file, rename it over the document.
    write(&pair.local, "report.docx", b"draft 1");
    for v in 2..5 {
        let tmp = pair.local.join(format!(".report.docx.{v}.tmp"));
        std::fs::write(&tmp, format!("draft {v}")).unwrap();
        std::fs::rename(&tmp, pair.local.join("report.docx")).unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    // A file written slowly, in pieces.
    let growing = pair.local.join("recording.wav");
    let mut expected = Vec::new();
    for i in 0..15u8 {
        use std::io::Write;
        let piece = vec![i; 10_000];
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&growing)
            .unwrap();
        f.write_all(&piece).unwrap();
        expected.extend_from_slice(&piece);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let master = fx.master().await;
    let fxr = &fx;
    let want: BTreeMap<String, Vec<u8>> = [
        (".ossvaultignore".to_string(), b"*.log\ncache/\n".to_vec()),
        ("recording.wav".to_string(), expected.clone()),
        ("report.docx".to_string(), b"draft 4".to_vec()),
    ]
    .into();
    eventually(
        Duration::from_secs(30),
        "the final states, nothing ignored uploaded",
        || async { fxr.remote_tree("ed/", Some(&master)).await == want },
    )
    .await;
    sync.stop();
    runner.await.unwrap().unwrap();
}

/// Lowers the inotify queue so that a burst overflows it (restored after), when permitted.
struct QueueLimit(Option<String>);

impl QueueLimit {
    const PATH: &'static str = "/proc/sys/fs/inotify/max_queued_events";
    fn lower(to: u32) -> QueueLimit {
        let old = std::fs::read_to_string(Self::PATH).ok();
        match &old {
            Some(_) if std::fs::write(Self::PATH, to.to_string()).is_ok() => QueueLimit(old),
            _ => QueueLimit(None),
        }
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(Self::PATH, old.trim());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_queue_overflow_ends_in_convergence() {
    let fx = fixture().await;
    let pair = fx.add("ov", Mode::Upload, None, "ov/");
    // Watches are created with the lowered limit in force.
    let limit = QueueLimit::lower(32);
    let sync = fx.open("ov", fast_options()).await;
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    // The watcher is made before the first pass walks the folder: wait for that walk (a fixed
    // sleep was too short on a loaded machine, and the watcher then got the default queue).
    eventually(Duration::from_secs(30), "the first pass", || async {
        sync.walks() > 0
    })
    .await;
    // The queue size is fixed when the watcher's inotify instance is made: restore the
    // system-wide setting at once (other processes on the machine).
    let lowered = limit.0.is_some();
    drop(limit);
    // Far more events than the queue holds, in one burst.
    for i in 0..800 {
        write(
            &pair.local,
            &format!("burst/{}/f{i}", i % 20),
            &content(i, 1),
        );
    }
    let fxr = &fx;
    eventually(
        Duration::from_secs(90),
        "convergence after an overflow",
        || async { fxr.remote_tree("ov/", None).await == local_tree(&pair.local) },
    )
    .await;
    if lowered {
        assert!(sync.overflows() > 0, "the burst did not overflow the queue");
    } else {
        eprintln!("could not lower the inotify queue: tested a burst without an overflow");
    }
    sync.stop();
    runner.await.unwrap().unwrap();
}

/// A TCP proxy in front of the server that breaks connections: of every three, one is refused
/// at once, one is cut after forwarding some hundred KiB of requests (mid-request), one works.
/// A proxy whose answers carry no listing token, as OSS's do not: the header's name is changed
/// on the way back (same length; a piece that could be its start is held until the next read).
async fn tokenless_proxy(upstream: SocketAddr) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const NAME: &[u8] = ossvault_proto::headers::LISTING_TOKEN.as_bytes();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut ci, mut co) = inbound.into_split();
                let (mut si, mut so) = outbound.into_split();
                let up = tokio::io::copy(&mut ci, &mut so);
                let down = async {
                    let (mut held, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
                    while let Ok(k) = si.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                        held.extend_from_slice(&buf[..k]);
                        while let Some(at) = held.windows(NAME.len()).position(|w| w == NAME) {
                            held[at] = b'y';
                        }
                        let keep = (1..NAME.len())
                            .rev()
                            .find(|&n| held.ends_with(&NAME[..n]))
                            .unwrap_or(0);
                        let send = held.len() - keep;
                        if co.write_all(&held[..send]).await.is_err() {
                            break;
                        }
                        held.drain(..send);
                    }
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    addr
}

async fn flaky_proxy(upstream: SocketAddr) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                return;
            };
            n += 1;
            if n.is_multiple_of(3) {
                drop(inbound);
                continue;
            }
            let budget = if n % 3 == 1 {
                64 * 1024 + (n * 7919 % 13) as usize * 48 * 1024
            } else {
                usize::MAX
            };
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut ci, mut co) = inbound.into_split();
                let (mut si, mut so) = outbound.into_split();
                let up = async {
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(k) = ci.read(&mut buf).await {
                        if k == 0 || so.write_all(&buf[..k]).await.is_err() {
                            break;
                        }
                        sent += k;
                        if sent > budget {
                            break; // cut mid-request
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut si, &mut co).await;
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_drops_requests_only_delays_convergence() {
    let fx = fixture().await;
    let pair = fx.add("flaky", Mode::Upload, Some(KEY), "flaky/");
    let proxy = flaky_proxy(fx.addr).await;
    let flaky_client = client_for(format!("http://{proxy}"));
    let options = RunOptions {
        part_size: 4 << 20,
        multipart_threshold: 4 << 20,
        max_backoff: Duration::from_secs(2),
        ..fast_options()
    };
    let sync = Arc::new(
        PairSync::open(
            &fx.store,
            "flaky",
            flaky_client,
            fx.keystore.clone(),
            options,
        )
        .await
        .unwrap(),
    );
    let runner = {
        let s = sync.clone();
        tokio::spawn(async move { s.watch().await })
    };
    for i in 0..60 {
        write(
            &pair.local,
            &format!("docs/f{i}.txt"),
            &content(i, 1).repeat(40),
        );
    }
    let big: Vec<u8> = (0..(12u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    write(&pair.local, "big.bin", &big);
    let master = fx.master().await;
    let fxr = &fx;
    eventually(
        Duration::from_secs(120),
        "convergence through the flaky proxy",
        || async { fxr.remote_tree("flaky/", Some(&master)).await == local_tree(&pair.local) },
    )
    .await;
    sync.stop();
    runner.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_mode_mirrors_the_remote_and_keeps_local_edits_aside() {
    let fx = fixture().await;
    let up = fx.add("src", Mode::Upload, Some(KEY), "mirror/");
    let mut down = Pair::new("dst", fx.dir.path().join("dst"), BUCKET, "mirror/");
    down.mode = Mode::Download;
    down.key = Some(KEY.into());
    std::fs::create_dir_all(&down.local).unwrap();
    fx.store.add(down.clone()).unwrap();
    let su = fx.open("src", RunOptions::default()).await;
    let sd = fx.open("dst", RunOptions::default()).await;
    write(&up.local, "a.txt", b"a1");
    write(&up.local, "sub/b.txt", b"b1");
    su.pass(true, None).await.unwrap();
    let r = sd.pass(true, None).await.unwrap();
    assert_eq!(r.downloaded, 2, "{r:?}");
    assert_eq!(local_tree(&down.local), local_tree(&up.local));

    // A local-only file stays local; a local edit is kept aside when the remote changes.
    write(&down.local, "mine.txt", b"only here");
    write(&down.local, "a.txt", b"edited in the mirror");
    write(&up.local, "a.txt", b"a2 from the source");
    su.pass(true, None).await.unwrap();
    let r = sd.pass(true, None).await.unwrap();
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(
        std::fs::read(down.local.join("a.txt")).unwrap(),
        b"a2 from the source"
    );
    assert_eq!(
        std::fs::read(down.local.join(&r.conflicts[0])).unwrap(),
        b"edited in the mirror"
    );
    assert_eq!(
        std::fs::read(down.local.join("mine.txt")).unwrap(),
        b"only here"
    );
    let master = fx.master().await;
    assert!(!fx
        .remote_tree("mirror/", Some(&master))
        .await
        .contains_key("mine.txt"));

    // A deletion at the source reaches the mirror.
    std::fs::remove_file(up.local.join("sub/b.txt")).unwrap();
    su.pass(true, None).await.unwrap();
    let r = sd.pass(true, None).await.unwrap();
    assert_eq!(r.deleted_local, 1, "{r:?}");
    assert!(!down.local.join("sub/b.txt").exists());
}

fn engine_of(fx: &Fx, options: RunOptions) -> Arc<ossvault_sync::SyncEngine> {
    let client = fx.client.clone();
    Arc::new(ossvault_sync::SyncEngine::new(
        fx.store.clone(),
        Arc::new(move |_| Ok(client.clone())),
        fx.keystore.clone(),
        options,
    ))
}

fn new_pair(local: &Path, mode: Mode, key: Option<&str>, prefix: &str) -> ossvault_sync::NewPair {
    ossvault_sync::NewPair {
        local: local.to_owned(),
        profile: None,
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        key: key.map(str::to_owned),
        mode,
        name: None,
    }
}

/// The app's path through the engine: add a pair (checked), its live statuses, its files,
/// a conflict resolved each way, pause and resume, a deleted version restored, removal that
/// keeps both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_adds_resolves_pauses_restores_and_removes() {
    let fx = fixture().await;
    let engine = engine_of(&fx, fast_options());
    let folder = fx.dir.path().join("docs");
    std::fs::create_dir_all(&folder).unwrap();
    // The key must exist.
    let err = engine
        .add(new_pair(&folder, Mode::TwoWay, Some("missing"), "docs/"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "KeyNotFound", "{err}");
    assert!(fx.store.list().unwrap().is_empty());

    // Every status change reaches a watcher, coalesced; what it saw last is the truth.
    let seen: Arc<std::sync::Mutex<Vec<Vec<ossvault_sync::PairOverview>>>> = Default::default();
    let watcher = {
        let (engine, seen) = (engine.clone(), seen.clone());
        tokio::spawn(async move {
            engine
                .watch_statuses(Duration::from_millis(100), |s| {
                    seen.lock().unwrap().push(s.to_vec());
                    true
                })
                .await
        })
    };
    let pair = engine
        .add(new_pair(&folder, Mode::TwoWay, Some(KEY), "docs/"))
        .await
        .unwrap();
    assert_eq!(pair.name, "docs");
    assert!(engine
        .add(new_pair(&folder, Mode::Upload, None, "other/"))
        .await
        .is_err());
    write(&folder, "a.txt", b"one");
    write(&folder, "b.txt", b"two");
    let master = fx.master().await;
    let fxr = &fx;
    let mut want: BTreeMap<String, Vec<u8>> = [
        ("a.txt".into(), b"one".to_vec()),
        ("b.txt".into(), b"two".to_vec()),
    ]
    .into();
    eventually(Duration::from_secs(20), "the files up", || async {
        fxr.remote_tree("docs/", Some(&master)).await == want
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "idle with 2 files indexed",
        || async {
            let last = seen.lock().unwrap().last().cloned().unwrap_or_default();
            last.len() == 1
                && last[0].status.state == PairState::Idle
                && last[0].status.indexed == 2
        },
    )
    .await;
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "only changes are sent"
        );
        assert!(
            seen[0].is_empty(),
            "the first update comes at once, before any pair"
        );
    }
    let page = engine.files("docs", None, 1).unwrap();
    assert_eq!(page.files.len(), 1);
    assert_eq!(page.files[0].path, "a.txt");
    assert_eq!(page.files[0].state, ossvault_sync::FileState::Synced);
    let rest = engine.files("docs", page.next.as_deref(), 10).unwrap();
    assert_eq!(
        rest.files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["b.txt"]
    );
    assert_eq!(rest.next, None);

    // Pause: a file written meanwhile stays local until resume. A command's change reaches a
    // watcher at once, even one that coalesces statuses over 5 s.
    let slow: Arc<std::sync::Mutex<Vec<Vec<ossvault_sync::PairOverview>>>> = Default::default();
    let slow_watcher = {
        let (engine, slow) = (engine.clone(), slow.clone());
        tokio::spawn(async move {
            engine
                .watch_statuses(Duration::from_secs(5), |s| {
                    slow.lock().unwrap().push(s.to_vec());
                    true
                })
                .await
        })
    };
    eventually(
        Duration::from_secs(5),
        "the slow watcher's first update",
        || async { !slow.lock().unwrap().is_empty() },
    )
    .await;
    let asked = std::time::Instant::now();
    engine.pause("docs").unwrap();
    eventually(Duration::from_secs(10), "paused", || async {
        engine.statuses()[0].state == PairState::Paused
    })
    .await;
    eventually(Duration::from_secs(10), "the pause sent", || async {
        let slow = slow.lock().unwrap();
        slow.last().is_some_and(|l| l[0].pair.paused)
    })
    .await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "a pause waited for the coalescing interval: {:?}",
        asked.elapsed()
    );
    slow_watcher.abort();
    assert!(fx.store.get("docs").unwrap().paused);
    // Paused, it holds no database open: its index file can be opened (redb locks an open one).
    let index = fx.store.state_dir("docs").join("index.redb");
    drop(redb::Database::open(&index).expect("the paused pair's index is closed"));
    write(&folder, "c.txt", b"three");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fx.remote_tree("docs/", Some(&master)).await, want);
    engine.resume("docs").unwrap();
    want.insert("c.txt".into(), b"three".to_vec());
    eventually(Duration::from_secs(20), "c.txt up after resume", || async {
        fxr.remote_tree("docs/", Some(&master)).await == want
    })
    .await;

    // Two conflicts (a second pair on the same prefix edits the same files).
    let other = fx.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut b = Pair::new("other", other.clone(), BUCKET, "docs/");
    b.mode = Mode::TwoWay;
    b.key = Some(KEY.into());
    fx.store.add(b).unwrap();
    let sb = fx.open("other", RunOptions::default()).await;
    sb.pass(true, None).await.unwrap();
    engine.pause("docs").unwrap();
    eventually(Duration::from_secs(10), "paused", || async {
        engine.statuses()[0].state == PairState::Paused
    })
    .await;
    write(&folder, "a.txt", b"local a");
    write(&folder, "b.txt", b"local b");
    write(&other, "a.txt", b"remote a");
    write(&other, "b.txt", b"remote b");
    sb.pass(true, None).await.unwrap();
    engine.resume("docs").unwrap();
    eventually(Duration::from_secs(20), "two conflicts", || async {
        engine.conflicts("docs").unwrap().len() == 2
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the conflicts in the status",
        || async {
            let last = seen.lock().unwrap().last().cloned().unwrap_or_default();
            last[0]
                .status
                .files
                .values()
                .filter(|f| matches!(f, ossvault_sync::FileState::Conflict { .. }))
                .count()
                == 2
        },
    )
    .await;
    let conflicts = engine.conflicts("docs").unwrap();
    let ca = conflicts
        .iter()
        .find(|c| c.path == "a.txt")
        .unwrap()
        .clone();
    let cb = conflicts
        .iter()
        .find(|c| c.path == "b.txt")
        .unwrap()
        .clone();
    assert_eq!(ca.local_version, "a.txt");
    assert_eq!(
        std::fs::read(engine.conflict_file("docs", &ca.copy, true).unwrap()).unwrap(),
        b"remote a"
    );
    assert_eq!(
        std::fs::read(engine.conflict_file("docs", &ca.copy, false).unwrap()).unwrap(),
        b"local a"
    );
    engine
        .resolve_conflict("docs", &ca.copy, ossvault_sync::Resolution::KeepRemote)
        .unwrap();
    engine
        .resolve_conflict("docs", &cb.copy, ossvault_sync::Resolution::KeepLocal)
        .unwrap();
    assert!(engine
        .resolve_conflict("docs", &cb.copy, ossvault_sync::Resolution::KeepBoth)
        .is_err());
    assert!(engine.conflicts("docs").unwrap().is_empty());
    want.insert("a.txt".into(), b"remote a".to_vec());
    want.insert("b.txt".into(), b"local b".to_vec());
    eventually(
        Duration::from_secs(20),
        "the choices on both sides",
        || async {
            local_tree(&folder) == want && fxr.remote_tree("docs/", Some(&master)).await == want
        },
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "no conflict in the status",
        || async {
            !engine.statuses()[0]
                .files
                .values()
                .any(|f| matches!(f, ossvault_sync::FileState::Conflict { .. }))
        },
    )
    .await;

    // The overwritten versions are in the trash, newest first; one comes back beside the file.
    let trash = engine.trash("docs", 100).await.unwrap();
    assert!(
        trash.iter().any(|v| v.original == "docs/a.txt"),
        "{trash:?}"
    );
    assert!(trash.windows(2).all(|w| w[0].stamp >= w[1].stamp));
    let old_a = trash
        .iter()
        .rev()
        .find(|v| v.original == "docs/a.txt")
        .unwrap();
    let restored = engine
        .restore("docs", "docs/a.txt", &old_a.stamp)
        .await
        .unwrap();
    assert!(restored
        .path
        .starts_with(std::fs::canonicalize(&folder).unwrap()));
    assert!(restored
        .path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .contains(".restored-"));
    assert_eq!(std::fs::read(&restored.path).unwrap(), b"one");

    // Bandwidth is remembered; removal keeps the folder and the objects.
    engine.set_bandwidth_limit("docs", Some(1 << 20)).unwrap();
    assert_eq!(fx.store.get("docs").unwrap().bandwidth_limit, Some(1 << 20));
    engine.remove("docs").await.unwrap();
    assert!(fx.store.get("docs").is_err());
    assert!(folder.join("a.txt").exists());
    assert!(fx
        .remote_tree("docs/", Some(&master))
        .await
        .contains_key("a.txt"));
    eventually(
        Duration::from_secs(5),
        "the watcher sees the removal",
        || async {
            seen.lock()
                .unwrap()
                .last()
                .is_some_and(|s| s.iter().all(|p| p.pair.name != "docs"))
        },
    )
    .await;
    watcher.abort();
}

/// The app's engine follows the pairs file as another process (the CLI) changes it: a pair
/// added there starts and syncs, a pause there pauses the running pair, a removal stops it,
/// and a pair another process holds is left to it, then taken over once it lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_follows_pairs_added_paused_and_removed_by_another_process() {
    let fx = fixture().await;
    let engine = engine_of(&fx, fast_options());
    let follower = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.follow_store(ossvault_sync::Follow::All).await })
    };
    let seen: Arc<std::sync::Mutex<Vec<ossvault_sync::PairOverview>>> = Default::default();
    let watcher = {
        let (engine, seen) = (engine.clone(), seen.clone());
        tokio::spawn(async move {
            engine
                .watch_statuses(Duration::from_millis(100), |s| {
                    *seen.lock().unwrap() = s.to_vec();
                    true
                })
                .await
        })
    };
    let last = || seen.lock().unwrap().clone();
    // The CLI: its own store on the same directory.
    let cli = PairStore::new(fx.store.dir().to_owned());
    let folder = fx.dir.path().join("docs");
    write(&folder, "a.txt", b"one");
    cli.create(new_pair(&folder, Mode::Upload, Some(KEY), "docs/"), |_| {
        Ok(())
    })
    .unwrap();
    let master = fx.master().await;
    let fxr = &fx;
    eventually(
        Duration::from_secs(20),
        "the new pair's file up",
        || async {
            fxr.remote_tree("docs/", Some(&master)).await
                == BTreeMap::from([("a.txt".to_owned(), b"one".to_vec())])
        },
    )
    .await;
    assert!(engine.get("docs").is_some(), "the engine runs the pair");
    eventually(
        Duration::from_secs(10),
        "the watcher sent it idle",
        || async {
            let l = last();
            l.len() == 1 && l[0].pair.name == "docs" && l[0].status.state == PairState::Idle
        },
    )
    .await;

    // Paused elsewhere: the running pair pauses (a file written meanwhile stays local).
    cli.update("docs", |p| p.paused = true).unwrap();
    eventually(Duration::from_secs(5), "paused", || async {
        let l = last();
        l.len() == 1 && l[0].pair.paused && l[0].status.state == PairState::Paused
    })
    .await;
    assert!(engine.get("docs").unwrap().is_paused());
    write(&folder, "b.txt", b"two");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!fx
        .remote_tree("docs/", Some(&master))
        .await
        .contains_key("b.txt"));
    cli.update("docs", |p| p.paused = false).unwrap();
    eventually(Duration::from_secs(20), "resumed and synced", || async {
        fxr.remote_tree("docs/", Some(&master))
            .await
            .contains_key("b.txt")
    })
    .await;

    // Removed elsewhere: the engine stops it (its lock and state go), both sides stay.
    cli.remove("docs").unwrap();
    eventually(Duration::from_secs(10), "stopped and gone", || async {
        engine.get("docs").is_none() && last().is_empty()
    })
    .await;
    eventually(Duration::from_secs(5), "its state deleted", || async {
        !fxr.store.state_dir("docs").exists()
    })
    .await;
    assert!(!cli.is_locked("docs"));
    assert!(folder.join("a.txt").exists());

    // Held by another process (`sync run --watch`): shown stopped, taken over once free.
    let other = fx.dir.path().join("other");
    write(&other, "c.txt", b"three");
    let held = cli.lock("other").unwrap();
    cli.create(new_pair(&other, Mode::Upload, None, "other/"), |_| Ok(()))
        .unwrap();
    eventually(Duration::from_secs(5), "the held pair listed", || async {
        last().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(engine.get("other").is_none());
    assert_eq!(last()[0].status.state, PairState::Stopped);
    drop(held);
    eventually(Duration::from_secs(20), "taken over and synced", || async {
        fxr.remote_tree("other/", None).await.contains_key("c.txt")
    })
    .await;
    assert!(engine.get("other").is_some());

    follower.abort();
    watcher.abort();
    engine.stop_all().await;
}

//! Crashes, I/O errors and power cuts at every durability step of the store's write paths
//! (the failpoints of `src/failpoints.rs`), through the real server on 127.0.0.1 and the real
//! client. Needs the `failpoints` feature:
//! `cargo test -p ossvault-server --features failpoints --test failpoints`.
//!
//! * `crash_at_every_failpoint`: for every failpoint and every write kind that reaches it, a
//!   server (a child process: this test binary running `server_process`) is set to abort right
//!   there, the write is sent, the process must die of it; restarted without failpoints, the
//!   object is wholly its old or wholly its new version (the acknowledged old one never lost),
//!   `tmp/` is empty, the listing agrees, and once interrupted uploads are aborted every content
//!   file belongs to a live object and every live object's content file exists.
//! * `io_error_at_every_failpoint`: the same with an injected I/O error: the write fails with a
//!   clean OSS error (5xx with a code), `tmp/` is empty at once, the server keeps serving, and
//!   after a restart the same checks hold. (An error in the unlink of replaced content only
//!   leaves a file for the next start to remove: that write succeeds.)
//! * `failpoints_come_from_the_environment`: `FAILPOINTS` configures a starting server.
//! * `power_loss_*`: writers of every kind against an in-process server whose data directory
//!   the power-loss simulation tracks; crash images (only what was fsynced) taken while they
//!   write must each open with no acknowledged write lost and nothing torn. With the fsync of
//!   content files, or of `blobs/` directories, skipped, the same checks must fail.

#[allow(dead_code)]
mod common;

use bytes::Bytes;
use md5::Md5;
use ossvault_client::{
    Client, ClientConfig, Credentials, Error, ListRequest, PartInfo, PutOptions, RequestBody,
    VersioningStatus,
};
use ossvault_server::failpoints::{power, Failpoint};
use ossvault_server::sse::RootSecret;
use ossvault_server::store::{BlobContent, BlobId, Store};
use rand::{Rng, SeedableRng};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Set in the environment of the child process that runs the server (its directory).
const SERVER_ENV: &str = "OSSVAULT_FAILPOINTS_SERVER_DIR";
const ROOT: [u8; 32] = [0x5a; 32];
const BUCKET: &str = "failpoints";
const KEY: &str = "obj";
const SOURCE: &str = "src";
const AES256: (&str, &str) = ("x-oss-server-side-encryption", "AES256");
const KMS: (&str, &str) = ("x-oss-server-side-encryption", "KMS");

fn server_config(dir: &Path) -> ossvault_server::Config {
    let mut config = common::config_in(dir);
    config.root_secret = Some(RootSecret::from_bytes(ROOT));
    config.min_free_space = 0;
    config
}

fn client(endpoint: &str) -> Client {
    let creds = Credentials {
        access_key_id: common::AK.into(),
        access_key_secret: common::SK.into(),
    };
    let mut config = ClientConfig::new(endpoint, "cn-hangzhou", creds);
    config.retry.max_attempts = 1;
    config.read_timeout = Duration::from_secs(30);
    Client::new(config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn random_bytes(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn bytes_between(rng: &mut impl Rng, low: usize, high: usize) -> Vec<u8> {
    let len = rng.gen_range(low..high);
    random_bytes(rng, len)
}

fn opts(header: Option<(&str, &str)>) -> PutOptions {
    PutOptions {
        headers: header
            .map(|(k, v)| vec![(k.to_owned(), v.to_owned())])
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn body(data: &[u8]) -> RequestBody {
    RequestBody::Bytes(Bytes::copy_from_slice(data))
}

async fn get(c: &Client, key: &str) -> Result<Option<Vec<u8>>, Error> {
    match c.get_object(BUCKET, key, None).await {
        Ok((_, response)) => Ok(Some(response.bytes().await?.to_vec())),
        Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn listed(c: &Client) -> BTreeSet<String> {
    let page = c
        .list_objects(BUCKET, &ListRequest::default())
        .await
        .unwrap();
    assert!(page.next_token.is_none());
    page.objects.into_iter().map(|o| o.key).collect()
}

async fn abort_uploads(c: &Client) {
    let (uploads, _) = c.list_multipart_uploads(BUCKET, "", "", "").await.unwrap();
    for u in uploads {
        c.abort_multipart(BUCKET, &u.key, &u.upload_id)
            .await
            .unwrap();
    }
}

/// Checks a stopped server's data directory: `tmp/` empty, and the content files in `blobs/`
/// exactly the ones the live objects and uploads reference that are not inline in the metadata
/// (no orphan, none missing).
fn check_files(data: &Path) -> Result<(), String> {
    let tmp: Vec<_> = std::fs::read_dir(data.join("tmp")).unwrap().collect();
    if !tmp.is_empty() {
        return Err(format!("{} files left in tmp/", tmp.len()));
    }
    let mut files = BTreeSet::new();
    for fanout in std::fs::read_dir(data.join("blobs")).unwrap() {
        for f in std::fs::read_dir(fanout.unwrap().path()).unwrap() {
            files.insert(f.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    // Opened after the listing above: opening removes orphans.
    let store = Store::open(data).map_err(|e| e.to_string())?;
    let mut referenced = BTreeSet::new();
    for (_, _, record) in store.scan_objects(None, usize::MAX).unwrap() {
        referenced.extend(record.segments.iter().map(|s| s.blob.to_hex()));
    }
    // Noncurrent versions keep their content too.
    for version in store.scan_versions(None, usize::MAX).unwrap() {
        referenced.extend(version.record.segments.iter().map(|s| s.blob.to_hex()));
    }
    if !store.all_uploads().unwrap().is_empty() {
        return Err("uploads left after aborting them all".into());
    }
    // Inline content has no file; every referenced blob must be one or the other.
    let mut inline = BTreeSet::new();
    for hex in &referenced {
        let id = BlobId::from_hex(hex).expect("a blob id");
        if let Ok(BlobContent::Inline(_)) = store.open_blob(id) {
            inline.insert(hex.clone());
        }
    }
    let referenced: BTreeSet<String> = referenced.difference(&inline).cloned().collect();
    if files != referenced {
        let orphans = files.difference(&referenced).count();
        let missing = referenced.difference(&files).count();
        return Err(format!(
            "{orphans} orphan content files, {missing} referenced but missing"
        ));
    }
    Ok(())
}

// ---- the server child process ----

/// Not a test of its own: the server of the failpoint tests, run in a child process of this
/// test binary (`SERVER_ENV` names its directory). Prints `endpoint: URL`, then takes
/// `arm SPEC` lines (FAILPOINTS syntax) on stdin, answering `armed`; stops at the end of stdin.
#[test]
fn server_process() {
    let Some(dir) = std::env::var_os(SERVER_ENV) else {
        return;
    };
    // An abort per case would otherwise leave a core file each.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct it is given.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    runtime().block_on(async {
        let server = ossvault_server::start(server_config(Path::new(&dir)))
            .await
            .unwrap();
        println!("endpoint: {}", server.endpoint());
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| {
            for line in std::io::stdin().lock().lines() {
                let line = line.unwrap();
                if let Some(spec) = line.strip_prefix("arm ") {
                    ossvault_server::failpoints::configure(spec).unwrap();
                    println!("armed");
                    std::io::stdout().flush().unwrap();
                }
            }
        })
        .await
        .unwrap();
        server.shutdown().await;
    });
}

struct ServerChild {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    endpoint: String,
}

impl ServerChild {
    fn start(dir: &Path) -> ServerChild {
        Self::start_with(dir, None)
    }

    /// A server whose environment sets `FAILPOINTS` to `failpoints` (none when `None`).
    fn start_with(dir: &Path, failpoints: Option<&str>) -> ServerChild {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.env_remove("FAILPOINTS");
        if let Some(spec) = failpoints {
            command.env("FAILPOINTS", spec);
        }
        let mut child = command
            .args([
                "server_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVER_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerChild {
            stdin: child.stdin.take(),
            child,
            lines,
            endpoint: String::new(),
        };
        server.endpoint = server
            .expect_line("endpoint: ")
            .trim_start_matches("endpoint: ")
            .to_owned();
        server
    }

    /// The first line containing `prefix`, from it on.
    fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // libtest's "test server_process ... " may precede the first line.
                Ok(line) if line.contains(prefix) => {
                    return line[line.find(prefix).unwrap()..].to_owned()
                }
                Ok(_) => {}
                Err(e) => panic!("the server child printed no {prefix:?} line: {e}"),
            }
        }
    }

    fn arm(&mut self, spec: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "arm {spec}").unwrap();
        stdin.flush().unwrap();
        self.expect_line("armed");
    }

    /// Waits for the process to end (20 s at most).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server child did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ends the server cleanly (end of its stdin).
    fn stop(mut self) {
        drop(self.stdin.take());
        let status = self.wait();
        assert!(status.success(), "server child: {status}");
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- the write kinds ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PutSmall,
    /// Above the server's in-memory limit for bodies and its write buffer: several writes.
    PutStreamed,
    PutSseOss,
    PutSseKms,
    UploadPart,
    CompleteUpload,
    Append,
    Copy,
    Delete,
    /// An overwrite on a versioning-enabled bucket: the old version must survive as a
    /// noncurrent one, whatever happens to the new.
    PutVersioned,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::PutSmall,
        Kind::PutStreamed,
        Kind::PutSseOss,
        Kind::PutSseKms,
        Kind::UploadPart,
        Kind::CompleteUpload,
        Kind::Append,
        Kind::Copy,
        Kind::Delete,
        Kind::PutVersioned,
    ];

    /// Whether it writes content to a file: content larger than the server stores inline (see
    /// the sizes in `Case::setup`; small content is committed with its record, and passes no
    /// file's failpoint).
    fn writes_a_file(self) -> bool {
        matches!(self, Kind::PutStreamed | Kind::PutSseOss | Kind::Copy)
    }

    /// Whether a committed write of this kind drops content files (of the version it
    /// replaces).
    fn drops_content(self) -> bool {
        !matches!(self, Kind::UploadPart | Kind::Append | Kind::PutVersioned)
    }

    fn sse(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::PutSseOss => Some(AES256),
            Kind::PutSseKms => Some(KMS),
            _ => None,
        }
    }
}

/// Whether a write of `kind` passes `fp`. Exhaustive: a new failpoint must say which writes
/// reach it.
fn reaches(fp: Failpoint, kind: Kind) -> bool {
    match fp {
        Failpoint::BlobAfterCreate
        | Failpoint::BlobBeforeWrite
        | Failpoint::BlobBeforeFsync
        | Failpoint::BlobAfterFsync
        | Failpoint::BlobBeforeRename
        | Failpoint::BlobAfterRename
        | Failpoint::BlobAfterDirFsync => kind.writes_a_file(),
        Failpoint::MetaBeforeCommit | Failpoint::MetaAfterCommit => true,
        Failpoint::BlobBeforeUnlink => kind.drops_content(),
    }
}

/// What a case wrote before the failpoint was armed, and what its write sends.
struct Case {
    kind: Kind,
    old: Vec<u8>,
    new: Vec<u8>,
    source: Vec<u8>,
    upload: Option<(String, Vec<PartInfo>)>,
    /// The parts' bytes of the upload, in order.
    parts: Vec<Vec<u8>>,
    /// The old object's version id, on a versioned bucket.
    old_version: Option<String>,
}

impl Case {
    async fn setup(c: &Client, kind: Kind, rng: &mut impl Rng) -> Case {
        c.create_bucket(BUCKET, None).await.unwrap();
        let source = random_bytes(rng, 200_000);
        c.put_object(BUCKET, SOURCE, body(&source), &PutOptions::default())
            .await
            .unwrap();
        let old = random_bytes(rng, 100_000);
        let new_len = match kind {
            Kind::PutSmall => 1_000,
            Kind::PutStreamed => 3 << 20,
            Kind::PutSseOss => 300_000,
            Kind::PutSseKms => 10_000,
            Kind::UploadPart | Kind::Append => 50_000,
            Kind::PutVersioned => 20_000,
            Kind::CompleteUpload | Kind::Copy | Kind::Delete => 0,
        };
        let new = random_bytes(rng, new_len);
        let mut case = Case {
            kind,
            old,
            new,
            source,
            upload: None,
            parts: Vec::new(),
            old_version: None,
        };
        if kind == Kind::PutVersioned {
            c.set_bucket_versioning(BUCKET, VersioningStatus::Enabled)
                .await
                .unwrap();
        }
        if kind == Kind::Append {
            c.append_object(BUCKET, KEY, 0, body(&case.old), &PutOptions::default())
                .await
                .unwrap();
        } else {
            let put = c
                .put_object(BUCKET, KEY, body(&case.old), &opts(kind.sse()))
                .await
                .unwrap();
            case.old_version = put.version_id;
        }
        if matches!(kind, Kind::UploadPart | Kind::CompleteUpload) {
            let id = c
                .initiate_multipart(BUCKET, KEY, &PutOptions::default())
                .await
                .unwrap();
            case.parts.push(random_bytes(rng, 100 << 10));
            if kind == Kind::CompleteUpload {
                case.parts.push(random_bytes(rng, 30_000));
            }
            let mut infos = Vec::new();
            for (i, part) in case.parts.iter().enumerate() {
                infos.push(
                    c.upload_part(BUCKET, KEY, &id, i as u32 + 1, body(part))
                        .await
                        .unwrap(),
                );
            }
            case.upload = Some((id, infos));
        }
        if kind == Kind::Copy {
            case.new = case.source.clone();
        }
        if kind == Kind::CompleteUpload {
            case.new = case.parts.concat();
        }
        case
    }

    /// The write under test.
    async fn write(&self, c: &Client) -> Result<(), Error> {
        match self.kind {
            Kind::PutSmall
            | Kind::PutStreamed
            | Kind::PutSseOss
            | Kind::PutSseKms
            | Kind::PutVersioned => c
                .put_object(BUCKET, KEY, body(&self.new), &opts(self.kind.sse()))
                .await
                .map(drop),
            Kind::UploadPart => {
                let (id, _) = self.upload.as_ref().unwrap();
                c.upload_part(BUCKET, KEY, id, 2, body(&self.new))
                    .await
                    .map(drop)
            }
            Kind::CompleteUpload => {
                let (id, parts) = self.upload.as_ref().unwrap();
                c.complete_multipart(BUCKET, KEY, id, parts).await.map(drop)
            }
            Kind::Append => c
                .append_object(
                    BUCKET,
                    KEY,
                    self.old.len() as u64,
                    body(&self.new),
                    &PutOptions::default(),
                )
                .await
                .map(drop),
            Kind::Copy => c
                .copy_object(BUCKET, SOURCE, BUCKET, KEY, None)
                .await
                .map(drop),
            Kind::Delete => c.delete_object(BUCKET, KEY).await,
        }
    }

    /// The object's state is the old version or (unless `acked` says the write must have
    /// happened) the new one; an upload is intact. Finishes what the case left open (completes
    /// or aborts the upload) and checks the listing.
    async fn check(&self, c: &Client, acked: bool) -> Result<(), String> {
        let state = get(c, KEY).await.map_err(|e| format!("{KEY}: {e}"))?;
        let new_state = match self.kind {
            Kind::Delete => None,
            Kind::Append => Some([&self.old[..], &self.new[..]].concat()),
            Kind::UploadPart => Some(self.old.clone()),
            _ => Some(self.new.clone()),
        };
        let is_new = state == new_state;
        let is_old = state.as_deref() == Some(&self.old[..]);
        if !is_new && !is_old {
            return Err(format!(
                "{KEY} is neither its old nor its new version ({} bytes)",
                state.as_ref().map_or(0, Vec::len)
            ));
        }
        if acked && !is_new {
            return Err(format!("{KEY}: an acknowledged write was lost"));
        }
        self.check_old_version(c).await?;
        if let Some((id, _)) = &self.upload {
            let completed = self.kind == Kind::CompleteUpload && is_new && !is_old;
            if completed {
                let (uploads, _) = c.list_multipart_uploads(BUCKET, "", "", "").await.unwrap();
                if !uploads.is_empty() {
                    return Err("the upload outlived its Complete".into());
                }
            } else {
                // The upload is intact: each part is whole (its ETag is its bytes' MD5) and
                // completing it gives their concatenation.
                let parts = c
                    .list_parts(BUCKET, KEY, id)
                    .await
                    .map_err(|e| format!("the upload is gone: {e}"))?;
                let mut expected = Vec::new();
                let mut infos = Vec::new();
                for p in &parts {
                    let bytes = match p.part_number {
                        1 => &self.parts[0],
                        2 if self.kind == Kind::UploadPart => &self.new,
                        2 => &self.parts[1],
                        n => return Err(format!("a part {n} nobody sent")),
                    };
                    let md5 = format!("\"{}\"", hex::encode(Md5::digest(bytes)).to_uppercase());
                    if !p.etag.eq_ignore_ascii_case(&md5) || p.size != bytes.len() as u64 {
                        return Err(format!("part {} is torn", p.part_number));
                    }
                    expected.extend_from_slice(bytes);
                    infos.push(PartInfo {
                        number: p.part_number,
                        etag: p.etag.clone(),
                        size: p.size,
                        crc64: None,
                    });
                }
                if acked && self.kind == Kind::UploadPart && parts.len() != 2 {
                    return Err("an acknowledged part was lost".into());
                }
                c.complete_multipart(BUCKET, KEY, id, &infos)
                    .await
                    .map_err(|e| format!("completing the upload: {e}"))?;
                if get(c, KEY).await.map_err(|e| e.to_string())? != Some(expected) {
                    return Err("the completed upload is not its parts".into());
                }
            }
        }
        if get(c, SOURCE).await.map_err(|e| e.to_string())?.as_ref() != Some(&self.source) {
            return Err(format!("{SOURCE} changed"));
        }
        // The listing shows exactly the readable objects.
        let mut live = BTreeSet::new();
        for key in [SOURCE, KEY, "after"] {
            if get(c, key).await.map_err(|e| e.to_string())?.is_some() {
                live.insert(key.to_owned());
            }
        }
        let listed = listed(c).await;
        if listed != live {
            return Err(format!("listed {listed:?}, readable {live:?}"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inject {
    Abort,
    Eio,
}

/// One failpoint, one write kind, one injection; `Err` describes what went wrong.
fn run_case(fp: Failpoint, kind: Kind, inject: Inject, seed: u64) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = runtime();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = ServerChild::start(dir.path());
    let c = client(&server.endpoint);
    let case = rt.block_on(Case::setup(&c, kind, &mut rng));
    let action = match inject {
        Inject::Abort => "return(abort)",
        Inject::Eio => "return(eio)",
    };
    server.arm(&format!("{}={action}", fp.name()));
    let written = rt.block_on(case.write(&c));
    let mut acked = false;
    match inject {
        Inject::Abort => {
            if written.is_ok() {
                return Err("the write succeeded: the failpoint was not reached".into());
            }
            let status = server.wait();
            if status.signal() != Some(libc::SIGABRT) {
                return Err(format!("the server did not abort: {status}"));
            }
        }
        Inject::Eio if fp == Failpoint::BlobBeforeUnlink => {
            // Only a file left behind for the next start: the write itself succeeded.
            written.map_err(|e| format!("the write failed: {e}"))?;
            acked = true;
            server.arm(&format!("{}=off", fp.name()));
        }
        Inject::Eio => {
            match written {
                Ok(()) => return Err("the write succeeded: the failpoint was not reached".into()),
                Err(Error::Service(e)) if e.status >= 500 && !e.code.is_empty() => {}
                Err(e) => return Err(format!("not a clean OSS error: {e}")),
            }
            server.arm(&format!("{}=off", fp.name()));
            let tmp = std::fs::read_dir(data.join("tmp")).unwrap().count();
            if tmp != 0 {
                return Err(format!("{tmp} files left in tmp/ by the failed write"));
            }
        }
    }
    if inject == Inject::Eio {
        // Keeps serving: a write and a read, and the object is consistent right away.
        rt.block_on(async {
            c.put_object(BUCKET, "after", body(b"after"), &PutOptions::default())
                .await
                .map_err(|e| format!("the server stopped serving: {e}"))?;
            case.check_state_only(&c, acked).await
        })?;
        server.stop();
    } else {
        drop(server);
    }
    let server = ServerChild::start(dir.path());
    let c = client(&server.endpoint);
    rt.block_on(async {
        case.check(&c, acked).await?;
        abort_uploads(&c).await;
        Ok::<_, String>(())
    })?;
    server.stop();
    check_files(&data)
}

impl Case {
    /// On a versioned bucket the old version stays readable by its id, current or not.
    async fn check_old_version(&self, c: &Client) -> Result<(), String> {
        let Some(id) = &self.old_version else {
            return Ok(());
        };
        let mut out = Vec::new();
        c.download_version(BUCKET, KEY, Some(id), None, &mut out, None, |_| {})
            .await
            .map_err(|e| format!("{KEY} version {id}: {e}"))?;
        if out != self.old {
            return Err(format!("{KEY} version {id} is not the old content"));
        }
        Ok(())
    }

    /// The object's state alone (no upload finished, nothing changed).
    async fn check_state_only(&self, c: &Client, acked: bool) -> Result<(), String> {
        let state = get(c, KEY).await.map_err(|e| format!("{KEY}: {e}"))?;
        let old = state.as_deref() == Some(&self.old[..]);
        let new = match self.kind {
            Kind::Delete => state.is_none(),
            Kind::Append => state == Some([&self.old[..], &self.new[..]].concat()),
            Kind::UploadPart => old,
            _ => state.as_deref() == Some(&self.new[..]),
        };
        match (old, new) {
            (false, false) => Err(format!("{KEY} is neither its old nor its new version")),
            (_, false) if acked => Err(format!("{KEY}: an acknowledged write was lost")),
            _ => Ok(()),
        }
    }
}

/// Runs every (failpoint, kind) pair that reaches it, on a few threads; fails listing every
/// case that went wrong.
fn every_failpoint(inject: Inject) {
    let cases: Vec<(Failpoint, Kind)> = Failpoint::ALL
        .iter()
        .flat_map(|&fp| Kind::ALL.iter().map(move |&k| (fp, k)))
        .filter(|&(fp, k)| reaches(fp, k))
        .collect();
    for &fp in Failpoint::ALL {
        assert!(
            cases.iter().any(|&(f, _)| f == fp),
            "{} is reached by no write kind",
            fp.name()
        );
    }
    let queue = Mutex::new(cases.into_iter().enumerate().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::new());
    // Mostly waiting for fsyncs and process starts: more cases than cores in flight.
    let threads = 4;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some((i, (fp, kind))) = queue.lock().unwrap().pop() else {
                    return;
                };
                if let Err(e) = run_case(fp, kind, inject, i as u64) {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{} / {kind:?}: {e}", fp.name()));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn crash_at_every_failpoint() {
    every_failpoint(Inject::Abort);
}

#[test]
fn io_error_at_every_failpoint() {
    every_failpoint(Inject::Eio);
}

#[test]
fn failpoints_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // One that starting the server does not reach (its metadata commits would).
    let spec = format!("{}=return(eio)", Failpoint::BlobBeforeRename.name());
    let server = ServerChild::start_with(dir.path(), Some(&spec));
    let c = client(&server.endpoint);
    let refused = runtime().block_on(async {
        c.create_bucket(BUCKET, None).await.unwrap();
        // Larger than what is stored inline: a content file, renamed into place.
        c.put_object(
            BUCKET,
            KEY,
            body(&[b'x'; 100 << 10]),
            &PutOptions::default(),
        )
        .await
    });
    assert!(
        matches!(&refused, Err(Error::Service(e)) if e.status == 500),
        "{refused:?}"
    );
    server.stop();
}

#[test]
fn configure_refuses_unknown_failpoints() {
    let e = ossvault_server::failpoints::configure("store::no_such_point=return(abort)");
    assert!(e.is_err());
    assert!(ossvault_server::failpoints::configure("no equals sign").is_err());
    for fp in Failpoint::ALL.iter() {
        ossvault_server::failpoints::configure(&format!("{}=off", fp.name())).unwrap();
    }
}

// ---- power loss ----

/// One clock for sends, acknowledgements and crash images.
static TICKS: AtomicU64 = AtomicU64::new(1);

fn tick() -> u64 {
    TICKS.fetch_add(1, Ordering::SeqCst)
}

/// A write of the power-loss workload: its key, the SHA-256 of the bytes it leaves (`None`: a
/// delete), when it was sent and acknowledged (`u64::MAX`: never).
struct Attempt {
    key: String,
    content: Option<[u8; 32]>,
    sent: u64,
    acked: u64,
}

/// Appends to one object in order: bytes, sent, acknowledged (`u64::MAX`: never).
type Chunks = Vec<(Vec<u8>, u64, u64)>;

/// A writer's appendable object.
#[derive(Default)]
struct AppendLog {
    chunks: Chunks,
}

const POWER_KEYS: usize = 12;
const POWER_WRITERS: usize = 8;
const POWER_IMAGES: usize = 4;

fn sha(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

fn seed_key(i: usize) -> String {
    format!("seed/{i}")
}

/// One writer of the power-loss workload: PUT (small, streamed, SSE-OSS, SSE-KMS), multipart
/// (2 parts), copy, delete, and appends to an object of its own, until `stop`.
async fn power_writer(
    c: Client,
    seed: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    appends: Arc<Mutex<AppendLog>>,
    seeds: Arc<Vec<Vec<u8>>>,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let append_key = format!("append/{seed}");
    let mut appended = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if rng.gen_bool(0.15) {
            let data = bytes_between(&mut rng, 1, 20_000);
            let sent = tick();
            let i = {
                let mut log = appends.lock().unwrap();
                log.chunks.push((data.clone(), sent, u64::MAX));
                log.chunks.len() - 1
            };
            let sse = (appended == 0 && rng.gen_bool(0.5)).then_some(AES256);
            if c.append_object(BUCKET, &append_key, appended, body(&data), &opts(sse))
                .await
                .is_err()
            {
                return;
            }
            appended += data.len() as u64;
            appends.lock().unwrap().chunks[i].2 = tick();
            continue;
        }
        let key = format!("k{}", rng.gen_range(0..POWER_KEYS));
        let sse = [None, None, Some(AES256), Some(KMS)][rng.gen_range(0..4)];
        let kind = rng.gen_range(0..6);
        let data = match kind {
            0 | 1 => bytes_between(&mut rng, 0, 100_000),
            2 => random_bytes(&mut rng, 300_000),
            3 => bytes_between(&mut rng, (100 << 10) + 1, (100 << 10) + 50_000),
            4 => seeds[rng.gen_range(0..seeds.len())].clone(),
            _ => Vec::new(),
        };
        let attempt = Attempt {
            key: key.clone(),
            content: (kind != 5).then(|| sha(&data)),
            sent: tick(),
            acked: u64::MAX,
        };
        let i = {
            let mut attempts = attempts.lock().unwrap();
            attempts.push(attempt);
            attempts.len() - 1
        };
        let written = match kind {
            0..=2 => c
                .put_object(BUCKET, &key, body(&data), &opts(sse))
                .await
                .map(drop),
            3 => {
                async {
                    let id = c.initiate_multipart(BUCKET, &key, &opts(sse)).await?;
                    let one = c
                        .upload_part(BUCKET, &key, &id, 1, body(&data[..100 << 10]))
                        .await?;
                    let two = c
                        .upload_part(BUCKET, &key, &id, 2, body(&data[100 << 10..]))
                        .await?;
                    c.complete_multipart(BUCKET, &key, &id, &[one, two])
                        .await
                        .map(drop)
                }
                .await
            }
            4 => {
                let source = seed_key(seeds.iter().position(|s| *s == data).unwrap());
                c.copy_object(BUCKET, &source, BUCKET, &key, Some(&opts(sse)))
                    .await
                    .map(drop)
            }
            _ => c.delete_object(BUCKET, &key).await,
        };
        if written.is_err() {
            return;
        }
        attempts.lock().unwrap()[i].acked = tick();
    }
}

/// Checks a server started on a crash image taken at tick `at`: every key is a version some
/// write sent before `at` left (or absent when none was acknowledged), none superseded by a
/// later acknowledged write; appendable objects are whole appends covering the acknowledged
/// ones; the listing agrees; seeds intact. Returns what is wrong.
async fn check_image(
    c: &Client,
    at: u64,
    attempts: &[Attempt],
    appends: &BTreeMap<String, Chunks>,
    seeds: &[Vec<u8>],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut readable = BTreeSet::new();
    for k in 0..POWER_KEYS {
        let key = format!("k{k}");
        let tries: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| a.key == key && a.sent < at)
            .collect();
        let acked_before = |a: &Attempt| a.acked < at;
        let state = match get(c, &key).await {
            Ok(state) => state.map(|b| sha(&b)),
            Err(e) => {
                problems.push(format!("{key}: unreadable: {e}"));
                continue;
            }
        };
        if state.is_some() {
            readable.insert(key.clone());
        }
        if state.is_none() && !tries.iter().any(|a| acked_before(a)) {
            continue;
        }
        let matching: Vec<&&Attempt> = tries.iter().filter(|a| a.content == state).collect();
        if matching.is_empty() {
            problems.push(format!("{key}: a version no write left (torn or lost)"));
            continue;
        }
        let latest_acked_sent = tries
            .iter()
            .filter(|a| acked_before(a))
            .map(|a| a.sent)
            .max()
            .unwrap_or(0);
        if !matching.iter().any(|a| a.acked >= latest_acked_sent) {
            problems.push(format!("{key}: an acknowledged write was lost"));
        }
    }
    for (key, chunks) in appends {
        let state = match get(c, key).await {
            Ok(state) => state,
            Err(e) => {
                problems.push(format!("{key}: unreadable: {e}"));
                continue;
            }
        };
        let must = chunks.iter().filter(|(_, _, acked)| *acked < at).count();
        let mut prefix = Vec::new();
        let mut whole = None;
        for (i, (data, sent, _)) in chunks.iter().enumerate() {
            if state.as_deref() == Some(&prefix[..]) && i > 0 {
                whole = Some(i);
            }
            if *sent >= at {
                break;
            }
            prefix.extend_from_slice(data);
            if state.as_deref() == Some(&prefix[..]) {
                whole = Some(i + 1);
            }
        }
        match (&state, whole) {
            (None, _) if must == 0 => {}
            (Some(_), Some(n)) if n >= must => {
                readable.insert(key.clone());
            }
            (Some(_), Some(n)) => problems.push(format!("{key}: {n} appends, {must} acknowledged")),
            _ => problems.push(format!("{key}: not whole appends (torn or lost)")),
        }
    }
    for (i, data) in seeds.iter().enumerate() {
        match get(c, &seed_key(i)).await {
            Ok(Some(got)) if got == *data => {
                readable.insert(seed_key(i));
            }
            _ => problems.push(format!("{}: changed or lost", seed_key(i))),
        }
    }
    match c.list_objects(BUCKET, &ListRequest::default()).await {
        Ok(page) => {
            let listed: BTreeSet<String> = page.objects.into_iter().map(|o| o.key).collect();
            if listed != readable {
                problems.push(format!(
                    "listing disagrees: {:?}",
                    listed.symmetric_difference(&readable).collect::<Vec<_>>()
                ));
            }
        }
        Err(e) => problems.push(format!("listing failed: {e}")),
    }
    problems
}

/// Serialises the power-loss tests: the simulation tracks one directory per process.
static POWER: Mutex<()> = Mutex::new(());

/// Writers of every kind against an in-process server on a tracked directory, crash images
/// taken while they write; then each image is opened and checked. Returns each image's
/// problems and how many writes were acknowledged before it.
fn power_loss_run(skip: power::Skip) -> Vec<(usize, Vec<String>)> {
    let _one = POWER.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ossvault_fs::create_private_dir_all(&data).unwrap();
    power::track(&data).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let seeds: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..3)
            .map(|i| random_bytes(&mut rng, 50_000 + i * 40_000))
            .collect(),
    );
    let logs: Vec<Arc<Mutex<AppendLog>>> = (0..POWER_WRITERS).map(|_| Arc::default()).collect();
    let images: Vec<(u64, PathBuf)> = rt.block_on(async {
        let server = ossvault_server::start(server_config(dir.path()))
            .await
            .unwrap();
        let c = client(&server.endpoint());
        c.create_bucket(BUCKET, None).await.unwrap();
        for (i, s) in seeds.iter().enumerate() {
            c.put_object(BUCKET, &seed_key(i), body(s), &opts(Some(KMS)))
                .await
                .unwrap();
        }
        power::set_skip(skip);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..POWER_WRITERS)
            .map(|i| {
                tokio::spawn(power_writer(
                    client(&server.endpoint()),
                    i as u64,
                    stop.clone(),
                    attempts.clone(),
                    logs[i].clone(),
                    seeds.clone(),
                ))
            })
            .collect();
        let mut images = Vec::new();
        for i in 0..POWER_IMAGES {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(200..600))).await;
            let root = dir.path().join(format!("image{i}"));
            std::fs::create_dir(&root).unwrap();
            let at = tick();
            let image = root.join("data");
            tokio::task::spawn_blocking(move || power::crash_image(&image))
                .await
                .unwrap()
                .unwrap();
            images.push((at, root));
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        server.shutdown().await;
        images
    });
    power::stop();
    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let appends: BTreeMap<String, Chunks> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            let chunks = std::mem::take(&mut log.lock().unwrap().chunks);
            (format!("append/{i}"), chunks)
        })
        .collect();
    images
        .into_iter()
        .map(|(at, root)| {
            let acked = attempts.iter().filter(|a| a.acked < at).count()
                + appends
                    .values()
                    .flatten()
                    .filter(|(_, _, acked)| *acked < at)
                    .count();
            let mut problems = rt.block_on(async {
                let server = ossvault_server::start(server_config(&root)).await.unwrap();
                let c = client(&server.endpoint());
                let problems = check_image(&c, at, &attempts, &appends, &seeds).await;
                abort_uploads(&c).await;
                server.shutdown().await;
                problems
            });
            if let Err(e) = check_files(&root.join("data")) {
                problems.push(e);
            }
            (acked, problems)
        })
        .collect()
}

#[test]
fn power_loss_keeps_every_acknowledged_write() {
    let images = power_loss_run(power::Skip::Nothing);
    for (i, (acked, problems)) in images.iter().enumerate() {
        println!(
            "image {i}: {acked} writes acknowledged before it, {} problems",
            problems.len()
        );
    }
    assert!(
        images.iter().all(|(acked, _)| *acked > 0),
        "no write acknowledged"
    );
    let problems: Vec<_> = images.into_iter().flat_map(|(_, p)| p).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks above must be able to fail: with a fsync skipped, a power cut loses or tears
/// acknowledged writes, and every image after the first acknowledged write shows it.
fn power_loss_caught_without(skip: power::Skip) {
    let images = power_loss_run(skip);
    for (i, (acked, problems)) in images.iter().enumerate() {
        println!(
            "image {i} ({skip:?} skipped): {acked} writes acknowledged before it, {} problems, e.g. {:?}",
            problems.len(),
            problems.first()
        );
        if *acked > 0 {
            assert!(
                !problems.is_empty(),
                "image {i}: the lost fsync went unnoticed"
            );
        }
    }
    assert!(
        images.iter().any(|(acked, _)| *acked > 0),
        "no write acknowledged"
    );
}

#[test]
fn power_loss_without_content_fsync_is_caught() {
    power_loss_caught_without(power::Skip::FileData);
}

#[test]
fn power_loss_without_directory_fsync_is_caught() {
    power_loss_caught_without(power::Skip::Directories);
}

/// Most of the workload's writes are small enough to be kept inline in the metadata database
/// (bytes committed with their record, in group commits): without the commits' syncs, the
/// acknowledged ones are lost.
#[test]
fn power_loss_without_metadata_sync_is_caught() {
    power_loss_caught_without(power::Skip::Metadata);
}

//! `ossvault sync` as a user runs it, against `ossvault serve`: pairs, a watching process
//! killed (SIGKILL) during a large encrypted upload and restarted, status, the pair lock,
//! restore, pause and removal.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ossvault");
const KEY_ID: &str = "LTAISYNCTEST";
const SECRET: &str = "sync-test-secret";

struct Env {
    server: Child,
    endpoint: String,
    home: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let mut server = Command::new(BIN)
            .args(["serve", "--no-profile", "--data-dir"])
            .arg(home.path().join("data"))
            .args(["--address", "127.0.0.1:0"])
            .args(["--access-key-id", KEY_ID, "--access-key-secret", SECRET])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(server.stdout.take().unwrap());
        let endpoint = loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "serve exited");
            if let Some(e) = line.trim().strip_prefix("endpoint: ") {
                break e.to_owned();
            }
        };
        Env {
            server,
            endpoint,
            home,
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env("OSSVAULT_ENDPOINT", &self.endpoint)
            .env("OSSVAULT_ACCESS_KEY_ID", KEY_ID)
            .env("OSSVAULT_ACCESS_KEY_SECRET", SECRET)
            .env("OSSVAULT_CONFIG", self.dir().join("config.toml"))
            .env("OSSVAULT_CONFIG_DIR", self.dir().join("config"))
            .env("OSSVAULT_NO_KEYCHAIN", "1")
            .env("OSSVAULT_KEYSTORE_FILE", self.dir().join("keys.age"))
            .env("OSSVAULT_KEYSTORE_PASSPHRASE", "sync test passphrase")
            .env("XDG_CACHE_HOME", self.dir().join("cache"))
            .stdin(Stdio::null());
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        expect(self.cmd(args).output().unwrap(), args, true)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn fails(&self, args: &[&str]) -> String {
        expect(self.cmd(args).output().unwrap(), args, false)
    }

    fn uploads_dir(&self, pair: &str) -> PathBuf {
        self.dir()
            .join("config/sync/pairs")
            .join(pair)
            .join("uploads")
    }
}

fn expect(out: Output, args: &[&str], success: bool) -> String {
    assert_eq!(
        out.status.success(),
        success,
        "ossvault {args:?} ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if success {
        String::from_utf8(out.stdout).unwrap()
    } else {
        String::from_utf8(out.stderr).unwrap()
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn checkpoint_parts(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter_map(|v| v["parts"].as_array().map(|p| p.len()))
        .max()
        .unwrap_or(0)
}

/// A child process killed when dropped (a failing test leaves no watcher behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn sync_survives_sigkill_resumes_and_restores() {
    let env = Env::new();
    env.ok(&["mb", "oss://cli"]);
    env.ok(&["key", "gen", "--name", "docs"]);
    let folder = env.dir().join("Documents");
    std::fs::create_dir_all(&folder).unwrap();
    // 6 MiB/s: the 48 MiB file takes seconds, time enough to kill the process mid-upload.
    env.ok(&[
        "sync",
        "add",
        s(&folder),
        "oss://cli/docs/",
        "--key",
        "docs",
        "--name",
        "docs",
        "--bandwidth-limit",
        "6291456",
    ]);
    let listed = env.json(&["sync", "ls"]);
    assert_eq!(listed["name"], "docs");
    assert_eq!(listed["key"], "docs");
    assert_eq!(listed["mode"], "upload");
    for i in 0..20 {
        std::fs::write(
            folder.join(format!("f{i:02}.txt")),
            format!("small file {i}"),
        )
        .unwrap();
    }
    let first = env.json(&["sync", "run", "docs"]);
    assert_eq!(first["uploaded"], 20, "{first}");
    let big = pseudo_random(48 << 20, 7);
    std::fs::write(folder.join("big.bin"), &big).unwrap();

    let mut watcher = Killed(
        env.cmd(&["sync", "run", "docs", "--watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = env.json(&["sync", "status", "docs"]);
        if checkpoint_parts(&env.uploads_dir("docs")) >= 2 {
            assert_eq!(
                status["pid"].as_u64(),
                Some(watcher.0.id() as u64),
                "{status}"
            );
            assert_eq!(status["state"], "syncing", "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upload did not progress: {status}"
        );
        assert!(
            watcher.0.try_wait().unwrap().is_none(),
            "the watcher exited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // One process at a time per pair.
    let err = env.fails(&["sync", "run", "docs"]);
    assert!(err.contains("another process"), "{err}");
    watcher.0.kill().unwrap(); // SIGKILL
    watcher.0.wait().unwrap();
    let parts_before = checkpoint_parts(&env.uploads_dir("docs"));

    // Changed while down: one edited, one new.
    std::fs::write(folder.join("f03.txt"), "edited while sync was down").unwrap();
    std::fs::write(folder.join("new.txt"), "created while sync was down").unwrap();
    let status = env.json(&["sync", "status", "docs"]);
    assert_eq!(status["state"], "stopped", "{status}");

    let report = env.json(&["sync", "run", "docs"]);
    assert_eq!(report["uploaded"], 3, "only what changed goes up: {report}");
    assert!(
        report["parts_resumed"].as_u64().unwrap() >= parts_before as u64 - 1,
        "{report}"
    );
    assert!(report["parts_resumed"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(
        report["parts_resumed"].as_u64().unwrap() + report["parts_sent"].as_u64().unwrap() - 2,
        6,
        "{report}"
    );
    assert_eq!(checkpoint_parts(&env.uploads_dir("docs")), 0);
    let back = env.dir().join("big.back");
    env.ok(&["cp", "oss://cli/docs/big.bin", s(&back)]);
    assert!(
        std::fs::read(&back).unwrap() == big,
        "the resumed upload decrypts to the file"
    );
    let raw = env.dir().join("big.raw");
    let again = env.json(&["sync", "run", "docs"]);
    assert_eq!(again["uploaded"], 0, "{again}");

    // A deleted file is restorable.
    std::fs::remove_file(folder.join("f05.txt")).unwrap();
    let r = env.json(&["sync", "run", "docs"]);
    assert_eq!(r["deleted_remote"], 1, "{r}");
    let restored = env.json(&["sync", "restore", "oss://cli/docs/f05.txt", "--to", s(&raw)]);
    assert_eq!(restored["bytes"], "small file 5".len());
    assert_eq!(std::fs::read_to_string(&raw).unwrap(), "small file 5");

    env.ok(&["sync", "pause", "docs"]);
    assert_eq!(env.json(&["sync", "ls"])["paused"], true);
    env.ok(&["sync", "rm", "docs"]);
    assert_eq!(env.ok(&["sync", "ls"]).trim(), "");
}

/// A key a sync folder encrypts with cannot be deleted, not even with --force, until the
/// folder is removed: deleting it would leave what the folder stored unreadable.
#[test]
fn a_key_bound_to_a_sync_folder_is_not_deleted() {
    let env = Env::new();
    env.ok(&["mb", "oss://guard"]);
    env.ok(&["key", "gen", "--name", "bound"]);
    let folder = env.dir().join("Bound");
    std::fs::create_dir_all(&folder).unwrap();
    env.ok(&[
        "sync",
        "add",
        s(&folder),
        "oss://guard/b/",
        "--key",
        "bound",
        "--name",
        "bound-pair",
    ]);
    let refused = env.fails(&["key", "rm", "bound", "--force"]);
    assert!(refused.contains("bound-pair"), "{refused}");
    let keys = env.ok(&["--json", "key", "ls"]);
    assert!(keys.contains("\"bound\""), "{keys}");
    env.ok(&["sync", "rm", "bound-pair"]);
    env.ok(&["key", "rm", "bound", "--force"]);
    let keys = env.ok(&["--json", "key", "ls"]);
    assert!(!keys.contains("\"bound\""), "{keys}");
}

/// `key rename`: an object uploaded under the old name still decrypts (objects name keys by
/// fingerprint), and the sync folder bound to the key follows it and keeps syncing,
/// encrypted under the same key.
#[test]
fn a_renamed_key_still_opens_its_objects_and_its_sync_folder_follows() {
    let env = Env::new();
    env.ok(&["mb", "oss://ren"]);
    let key = env.json(&["key", "gen", "--name", "old-name"]);
    let fp = key["fingerprint"].as_str().unwrap().to_owned();
    env.ok(&["key", "gen", "--name", "taken"]);
    let file = env.dir().join("note.txt");
    std::fs::write(&file, b"written before the rename").unwrap();
    env.ok(&[
        "cp",
        s(&file),
        "oss://ren/cp/note.txt",
        "--encrypt",
        "old-name",
    ]);
    let folder = env.dir().join("Renamed");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.txt"), b"synced before").unwrap();
    env.ok(&[
        "sync",
        "add",
        s(&folder),
        "oss://ren/sync/",
        "--key",
        "old-name",
        "--name",
        "ren",
    ]);
    assert_eq!(env.json(&["sync", "run", "ren"])["uploaded"], 1);

    // Refusals change nothing.
    assert!(env
        .fails(&["key", "rename", "old-name", "taken"])
        .contains("already exists"));
    assert!(env
        .fails(&["key", "rename", "nope", "x"])
        .contains("no key named 'nope'"));
    assert!(env
        .fails(&["key", "rename", "old-name", "a/b"])
        .contains("invalid name"));

    let renamed = env.json(&["key", "rename", "old-name", "new-name"]);
    assert_eq!(renamed["name"], "new-name");
    assert_eq!(renamed["fingerprint"], fp.as_str());
    assert_eq!(renamed["sync_pairs"], serde_json::json!(["ren"]));
    let listed = env.ok(&["--json", "key", "ls"]);
    let listed: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(listed["name"], "new-name");
    assert_eq!(listed["default"], true);
    assert_eq!(env.json(&["sync", "ls"])["key"], "new-name");

    // The object uploaded under the old name decrypts; stat names the key's new name.
    let back = env.dir().join("back.txt");
    env.ok(&["cp", "oss://ren/cp/note.txt", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), b"written before the rename");
    let text = env.ok(&["stat", "oss://ren/cp/note.txt"]);
    assert!(
        text.contains(&format!("{fp} (in the keystore: new-name@v1)")),
        "{text}"
    );

    // The pair keeps syncing, encrypted under the same key.
    std::fs::write(folder.join("b.txt"), b"synced after").unwrap();
    assert_eq!(env.json(&["sync", "run", "ren"])["uploaded"], 1);
    let stat = env.json(&["stat", "oss://ren/sync/b.txt"]);
    assert_eq!(
        stat["client_side_encryption"]["key_fingerprint"],
        fp.as_str()
    );
    let back = env.dir().join("b-back.txt");
    env.ok(&["cp", "oss://ren/sync/b.txt", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), b"synced after");
}

/// A watching `sync run --watch` follows what other commands (or the app) change in the pairs
/// file: a pause and a resume reach it at once, a removal stops it (it exits, the pair's state
/// goes, and the name can be used again).
#[test]
fn a_watching_process_pauses_resumes_and_stops_as_other_commands_say() {
    let env = Env::new();
    env.ok(&["mb", "oss://watched"]);
    let folder = env.dir().join("Watched");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.txt"), b"one").unwrap();
    let add = ["sync", "add", s(&folder), "oss://watched/w/", "--name", "w"];
    env.ok(&add);
    let mut watcher = Killed(
        env.cmd(&["sync", "run", "w", "--watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let wait_state = |state: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = env.json(&["sync", "status", "w"]);
            if status["state"] == state {
                return;
            }
            assert!(Instant::now() < deadline, "not {state}: {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_state("idle");
    let paused_at = Instant::now();
    env.ok(&["sync", "pause", "w"]);
    wait_state("paused");
    assert!(
        paused_at.elapsed() < Duration::from_secs(2),
        "the pause took {:?}",
        paused_at.elapsed()
    );
    std::fs::write(folder.join("b.txt"), b"two").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(!env.ok(&["ls", "oss://watched/w/"]).contains("b.txt"));
    env.ok(&["sync", "resume", "w"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["ls", "oss://watched/w/"]).contains("b.txt") {
        assert!(Instant::now() < deadline, "b.txt not synced after resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.ok(&["sync", "rm", "w"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = watcher.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the watcher did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(watcher.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("removed"), "{stderr}");
    assert!(!env.dir().join("config/sync/pairs/w").exists());
    env.ok(&add);
}

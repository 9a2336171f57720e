//! Client-side encryption through the command line, against the real embedded server, both as
//! subprocesses: `key` commands, `cp --encrypt` and automatic decryption, `stat`, and
//! `key rotate --rewrap` killed midway and rerun.
//!
//! The keys live in the passphrase-file keystore (`OSSVAULT_KEYSTORE_FILE` +
//! `OSSVAULT_KEYSTORE_PASSPHRASE`): these tests run under plain `cargo test`, without a Secret
//! Service (tests/keychain.rs covers the system keychain).

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ossvault");
const KEY_ID: &str = "LTAICSETEST";
const SECRET: &str = "cse-test-secret";
const PASSPHRASE: &str = "cse test passphrase";
const MIB: usize = 1 << 20;

/// A running `ossvault serve` on a free port, stopped on drop.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--no-profile", "--data-dir"])
            .arg(data)
            .args(["--address", "127.0.0.1:0"])
            .args(["--access-key-id", KEY_ID, "--access-key-secret", SECRET])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ossvault serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let endpoint = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("ossvault serve exited before printing its endpoint");
            }
            if let Some(e) = line.trim().strip_prefix("endpoint: ") {
                break e.to_owned();
            }
        };
        Server { child, endpoint }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    server: Server,
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        Env {
            server: Server::start(&home.path().join("data")),
            home,
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn config_dir(&self) -> PathBuf {
        self.dir().join("config")
    }

    /// A command with the server, a private config and the passphrase-file keystore.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env("OSSVAULT_ENDPOINT", &self.server.endpoint)
            .env("OSSVAULT_ACCESS_KEY_ID", KEY_ID)
            .env("OSSVAULT_ACCESS_KEY_SECRET", SECRET)
            .env("OSSVAULT_CONFIG", self.dir().join("config.toml"))
            .env("OSSVAULT_CONFIG_DIR", self.config_dir())
            .env("OSSVAULT_KEYSTORE_FILE", self.dir().join("keystore.age"))
            .env("OSSVAULT_KEYSTORE_PASSPHRASE", PASSPHRASE)
            .env("XDG_CACHE_HOME", self.dir().join("cache"))
            .env("XDG_CONFIG_HOME", self.dir().join("xdg-config"))
            .stdin(Stdio::null());
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.cmd(args).output().unwrap(), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            !out.status.success(),
            "ossvault {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

fn expect_ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "ossvault {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Deterministic bytes that do not compress (xorshift).
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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// key → (etag, size, last_modified) of every object under a prefix.
fn listing(env: &Env, url: &str) -> BTreeMap<String, (String, u64, String)> {
    env.json_lines(&["ls", url])
        .into_iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_owned(),
                (
                    o["etag"].as_str().unwrap().to_owned(),
                    o["size"].as_u64().unwrap(),
                    o["last_modified"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn encrypted_uploads_decrypt_on_download_whole_and_ranged() {
    let env = Env::new();
    env.ok(&["mb", "oss://cse-data"]);
    let aes = env.json(&["key", "gen", "--name", "docs"]);
    assert_eq!(aes["type"], "AES-256");
    let rsa = env.json(&["key", "gen", "--name", "pair", "--type", "rsa2048"]);
    let listed = env.json_lines(&["key", "ls"]);
    assert_eq!(listed.len(), 2);
    assert!(env
        .ok(&["key", "public", "pair"])
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    let up = env.dir().join("up");
    std::fs::create_dir_all(&up).unwrap();
    // (size, key, format): simple and multipart uploads of both formats.
    let cases = [
        (0, "docs", "sealed"),
        (100_003, "docs", "sealed"),
        (9 * MIB + 17, "docs", "sealed"),
        (100_003, "pair", "compat"),
        (9 * MIB + 17, "pair", "compat"),
        (70_000, "pair", "sealed"),
    ];
    for (i, (size, key, format)) in cases.iter().enumerate() {
        let plain = pseudo_random(*size, i as u64 + 1);
        let file = up.join(format!("f{i}"));
        std::fs::write(&file, &plain).unwrap();
        let url = format!("oss://cse-data/f{i}");
        let r = env.json(&[
            "cp",
            s(&file),
            &url,
            "--encrypt",
            key,
            "--format",
            format,
            "--part-size",
            "5MiB",
        ]);
        assert_eq!(r["size"], *size as u64);
        if *size > 8 * MIB {
            assert_eq!(r["parts_sent"], 2, "{r}");
        }
        let stat = env.json(&["stat", &url]);
        let cse = &stat["client_side_encryption"];
        assert_eq!(cse["format"], *format, "{stat}");
        assert_eq!(cse["key_in_keystore"], true);
        assert_eq!(cse["plaintext_length"], *size as u64);
        let fp = if *key == "docs" { &aes } else { &rsa }["fingerprint"].clone();
        assert_eq!(cse["key_fingerprint"], fp);
        let text = env.ok(&["stat", &url]);
        assert!(
            text.contains(&format!(
                "{} (in the keystore: {key}@v1)",
                fp.as_str().unwrap()
            )),
            "{text}"
        );

        let out = env.dir().join(format!("down{i}"));
        let d = env.json(&["cp", &url, s(&out)]);
        assert_eq!(d["key"], format!("{key}@v1"));
        assert!(std::fs::read(&out).unwrap() == plain, "case {i}");
        if *size > 10 {
            for (range, want) in [
                ("5-1000", 5..1001.min(*size)),
                ("-7", size - 7..*size),
                (&format!("{}-", size / 2) as &str, size / 2..*size),
            ] {
                env.ok(&["cp", &url, s(&out), "--range", range]);
                assert!(
                    std::fs::read(&out).unwrap() == plain[want.clone()],
                    "case {i} range {range}"
                );
            }
        }
    }

    // Recursive download decrypts too; the unencrypted fast path still works beside it.
    std::fs::write(up.join("plain.txt"), b"not encrypted").unwrap();
    env.ok(&["cp", s(&up.join("plain.txt")), "oss://cse-data/plain.txt"]);
    let tree = env.dir().join("tree");
    env.ok(&["cp", "-r", "oss://cse-data/", s(&tree)]);
    assert_eq!(
        std::fs::read(tree.join("f1")).unwrap(),
        pseudo_random(100_003, 2)
    );
    assert_eq!(
        std::fs::read(tree.join("plain.txt")).unwrap(),
        b"not encrypted"
    );
    assert!(env.json(&["stat", "oss://cse-data/plain.txt"])["client_side_encryption"].is_null());

    // Compat needs an RSA key; --encrypt is for uploads only.
    let err = env.fails(&[
        "cp",
        s(&up.join("f1")),
        "oss://cse-data/x",
        "--encrypt",
        "docs",
        "--format",
        "compat",
    ]);
    assert!(err.contains("compat"), "{err}");
    let err = env.fails(&[
        "cp",
        "oss://cse-data/f1",
        s(&up.join("x")),
        "--encrypt",
        "docs",
    ]);
    assert!(err.contains("uploads"), "{err}");

    // Another machine without the key: one line naming the fingerprint, no file written.
    let mut other = env.cmd(&["cp", "oss://cse-data/f1", s(&env.dir().join("nokey"))]);
    other
        .env("OSSVAULT_CONFIG_DIR", env.dir().join("other-config"))
        .env("OSSVAULT_KEYSTORE_FILE", env.dir().join("other.age"));
    let out = other.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ossvault: the key with fingerprint {} is not in the keychain (key import / key restore it)",
            aes["fingerprint"].as_str().unwrap()
        )
    );
    assert!(!env.dir().join("nokey").exists());
    assert!(std::fs::read_dir(env.dir()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("ossvault-tmp")));

    // Backup and restore on the other machine: now it decrypts.
    let backup = env.dir().join("docs.backup");
    let mut export = env.cmd(&[
        "key",
        "export",
        "docs",
        "--out",
        s(&backup),
        "--passphrase-env",
        "BACKUP_PASS",
    ]);
    export.env("BACKUP_PASS", "backup words");
    expect_ok(export.output().unwrap(), &["key", "export"]);
    let mut restore = env.cmd(&[
        "key",
        "restore",
        s(&backup),
        "--passphrase-env",
        "BACKUP_PASS",
    ]);
    restore
        .env("BACKUP_PASS", "backup words")
        .env("OSSVAULT_CONFIG_DIR", env.dir().join("other-config"))
        .env("OSSVAULT_KEYSTORE_FILE", env.dir().join("other.age"));
    expect_ok(restore.output().unwrap(), &["key", "restore"]);
    let mut again = env.cmd(&["cp", "oss://cse-data/f1", s(&env.dir().join("nokey"))]);
    again
        .env("OSSVAULT_CONFIG_DIR", env.dir().join("other-config"))
        .env("OSSVAULT_KEYSTORE_FILE", env.dir().join("other.age"));
    expect_ok(again.output().unwrap(), &["cp"]);
    assert_eq!(
        std::fs::read(env.dir().join("nokey")).unwrap(),
        pseudo_random(100_003, 2)
    );

    // key rm refuses without --force off a terminal.
    let err = env.fails(&["key", "rm", "pair"]);
    assert!(err.contains("--force"), "{err}");
    env.ok(&["key", "rm", "pair", "--force"]);
    assert_eq!(env.json_lines(&["key", "ls"]).len(), 1);
}

#[test]
fn kms_wrapped_uploads_decrypt_with_the_servers_kms() {
    let env = Env::new();
    env.ok(&["mb", "oss://cse-kms"]);
    let cmk = env.json(&["kms", "create"]);
    let cmk = cmk["KeyId"].as_str().unwrap().to_owned();
    let file = env.dir().join("f");
    let plain = pseudo_random(200_000, 9);
    std::fs::write(&file, &plain).unwrap();
    env.ok(&[
        "cp",
        s(&file),
        "oss://cse-kms/f",
        "--encrypt",
        &format!("kms:{cmk}"),
    ]);
    let stat = env.json(&["stat", "oss://cse-kms/f"]);
    assert_eq!(stat["client_side_encryption"]["kms_key_id"], cmk.as_str());
    assert_eq!(stat["client_side_encryption"]["wrap_alg"], "KMS");
    let out = env.dir().join("out");
    env.ok(&["cp", "oss://cse-kms/f", s(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), plain);
}

/// Reads `key rotate` output lines until `n` objects were rewrapped, then SIGKILLs it.
fn kill_after_rewraps(mut child: Child, n: usize) -> usize {
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("rewrap: ") {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    seen
}

#[test]
fn rotation_rewraps_a_hundred_objects_resuming_after_sigkill_without_reupload() {
    let env = Env::new();
    env.ok(&["mb", "oss://cse-rot"]);
    env.ok(&["key", "gen", "--name", "rot"]);
    let v1 = env.json_lines(&["key", "ls"])[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let src = env.dir().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..100 {
        std::fs::write(
            src.join(format!("o{i:03}")),
            pseudo_random(3000 + i, i as u64),
        )
        .unwrap();
    }
    env.ok(&["cp", "-r", s(&src), "oss://cse-rot/p/", "--encrypt", "rot"]);
    // An object under another key and a plain one: skipped, untouched.
    env.ok(&["key", "gen", "--name", "other"]);
    env.ok(&[
        "cp",
        s(&src.join("o000")),
        "oss://cse-rot/p/zz-other",
        "--encrypt",
        "other",
    ]);
    env.ok(&["cp", s(&src.join("o000")), "oss://cse-rot/p/zz-plain"]);
    let before = listing(&env, "oss://cse-rot/p/");
    assert_eq!(before.len(), 102);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let child = env
        .cmd(&[
            "key",
            "rotate",
            "rot",
            "--rewrap",
            "oss://cse-rot/p/",
            "--jobs",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = kill_after_rewraps(child, 30);
    assert_eq!(first, 30, "the first run ended before it was killed");

    // Killed midway: every object still decrypts (with v1 or v2, both in the keystore).
    let mid = env.dir().join("mid");
    env.ok(&["cp", "-r", "oss://cse-rot/p/", s(&mid)]);
    for i in 0..100 {
        assert_eq!(
            std::fs::read(mid.join(format!("o{i:03}"))).unwrap(),
            pseudo_random(3000 + i, i as u64)
        );
    }

    // The rerun finishes the same rotation (no third version) and skips what is done.
    let out = env.ok(&["key", "rotate", "rot", "--rewrap", "oss://cse-rot/p/"]);
    assert!(out.contains("resuming the interrupted rewrap"), "{out}");
    let summary = out.lines().last().unwrap();
    let counts: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect();
    let (rewrapped, skipped, failed) = (counts[0], counts[1], counts[2]);
    assert_eq!(failed, 0, "{out}");
    assert!((60..=70).contains(&rewrapped), "{out}");
    assert_eq!(rewrapped + skipped, 102, "{out}");
    let keys = env.json_lines(&["key", "ls"]);
    let rot = keys.iter().find(|k| k["name"] == "rot").unwrap();
    assert_eq!(rot["current_version"], 2);
    let v2 = rot["fingerprint"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);

    // Nothing re-uploaded: same ETag and size everywhere (a re-encryption would change both
    // the content and so the ETag); the rewrapped ones got new metadata (Last-Modified moved).
    let after = listing(&env, "oss://cse-rot/p/");
    for (key, (etag, size, modified)) in &before {
        let (etag2, size2, modified2) = &after[key];
        assert_eq!((etag, size), (etag2, size2), "{key}");
        if key.starts_with("p/o") {
            assert_ne!(modified, modified2, "{key} was not rewritten");
        } else {
            assert_eq!(modified, modified2, "{key} should not have been touched");
        }
    }
    for i in [0, 29, 30, 99] {
        let stat = env.json(&["stat", &format!("oss://cse-rot/p/o{i:03}")]);
        assert_eq!(
            stat["client_side_encryption"]["key_fingerprint"],
            v2.as_str()
        );
        assert_eq!(stat["client_side_encryption"]["keystore_key"], "rot@v2");
    }
    let done = env.dir().join("done");
    env.ok(&["cp", "-r", "oss://cse-rot/p/", s(&done)]);
    for i in 0..100 {
        assert_eq!(
            std::fs::read(done.join(format!("o{i:03}"))).unwrap(),
            pseudo_random(3000 + i, i as u64)
        );
    }

    // Once finished, a rerun rotates again (v3) and rewraps all 100 once more.
    let out = env.ok(&["key", "rotate", "rot", "--rewrap", "oss://cse-rot/p/"]);
    assert!(out.contains("new objects use v3"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("100 rewrapped, 2 skipped, 0 failed"),
        "{out}"
    );
    let out = env.ok(&[
        "key",
        "rotate",
        "rot",
        "--rewrap",
        "oss://cse-rot/p/",
        "--no-rotate",
    ]);
    assert!(
        out.trim_end()
            .ends_with("0 rewrapped, 102 skipped, 0 failed"),
        "{out}"
    );
}

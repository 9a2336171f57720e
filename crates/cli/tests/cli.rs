//! The `ossvault` command line against the real embedded server, both as subprocesses, the way
//! a user runs them.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ossvault");
const KEY_ID: &str = "LTAICLITEST";
const SECRET: &str = "cli-test-secret";
const MIB: usize = 1 << 20;

/// A running `ossvault serve` on a free port, stopped on drop.
struct Server {
    child: Child,
    endpoint: String,
    https_endpoint: String,
    certificate: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        Server::start_saving_profile_in(None)
    }

    /// With `Some(file)`, the server saves its profile `local` in `file` (no keychain).
    fn start_saving_profile_in(profiles: Option<&Path>) -> Server {
        let data = tempfile::tempdir().unwrap();
        // A subdirectory, so that whatever the server keeps beside its data dir stays inside
        // the temp dir too.
        let mut command = Command::new(BIN);
        match profiles {
            Some(file) => command
                .env("OSSVAULT_CONFIG", file)
                .env("OSSVAULT_NO_KEYCHAIN", "1")
                .arg("serve"),
            None => command.args(["serve", "--no-profile"]),
        };
        let mut child = command
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .args(["--address", "127.0.0.1:0", "--https-address", "127.0.0.1:0"])
            .args(["--access-key-id", KEY_ID, "--access-key-secret", SECRET])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ossvault serve");
        // `endpoint: http://…` is the readiness line (other lines, e.g. HTTPS, may come first).
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut https_endpoint, mut certificate) = (String::new(), String::new());
        let endpoint = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("ossvault serve exited before printing its endpoint");
            }
            let line = line.trim();
            if let Some(e) = line.strip_prefix("https endpoint: ") {
                https_endpoint = e.to_owned();
            } else if let Some(c) = line.strip_prefix("certificate: ") {
                certificate = c.to_owned();
            } else if let Some(e) = line.strip_prefix("endpoint: ") {
                break e.to_owned();
            }
        };
        Server {
            child,
            endpoint,
            https_endpoint,
            certificate,
            _data: data,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI's environment: the server's endpoint and credentials, a private config file and
/// cache directory.
struct Env {
    server: Server,
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            server: Server::start(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    /// A command with no connection in its environment: only config and cache locations.
    fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("OSSVAULT_ENDPOINT")
            .env_remove("OSSVAULT_ACCESS_KEY_ID")
            .env_remove("OSSVAULT_ACCESS_KEY_SECRET")
            .env_remove("OSSVAULT_REGION")
            .env_remove("OSSVAULT_SIGN_VERSION")
            .env_remove("RUST_LOG")
            .env("OSSVAULT_CONFIG", self.dir().join("config.toml"))
            .env("XDG_CACHE_HOME", self.dir().join("cache"))
            .env("XDG_CONFIG_HOME", self.dir().join("config"))
            // Profile secrets in the 0600 file: a developer's own keychain stays untouched
            // (tests/keychain.rs covers the keychain).
            .env("OSSVAULT_NO_KEYCHAIN", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// A command connected through the environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare(args);
        cmd.env("OSSVAULT_ENDPOINT", &self.server.endpoint)
            .env("OSSVAULT_ACCESS_KEY_ID", KEY_ID)
            .env("OSSVAULT_ACCESS_KEY_SECRET", SECRET);
        cmd
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.cmd(args).output().unwrap(), args)
    }

    /// Runs with `--json` and parses the one document printed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs with `--json` and parses the JSON lines printed.
    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Runs and expects failure; returns (exit code, stderr).
    fn fails(&self, args: &[&str]) -> (i32, String) {
        expect_failure(self.cmd(args).output().unwrap(), args)
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

fn expect_failure(out: Output, args: &[&str]) -> (i32, String) {
    assert!(
        !out.status.success(),
        "ossvault {args:?} should have failed:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap_or(-1), stderr)
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

fn sha256_file(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `root`: relative path (`/`-joined) → content.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                into.insert(rel.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut map = BTreeMap::new();
    walk(root, root, &mut map);
    map
}

/// Finished parts recorded in the upload checkpoints of `dir`.
fn checkpoint_parts(dir: &Path) -> Option<usize> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter_map(|v| v["parts"].as_array().map(|p| p.len()))
        .max()
}

#[test]
fn make_list_and_remove_buckets() {
    let env = Env::new();
    assert_eq!(env.ok(&["mb", "oss://alpha"]).trim(), "created oss://alpha");
    assert_eq!(env.json(&["mb", "oss://beta"])["created"], true);

    let text = env.ok(&["ls"]);
    assert!(
        text.contains("oss://alpha") && text.contains("oss://beta"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("Bucket Number is: 2"), "{text}");
    let names: Vec<Value> = env
        .json_lines(&["ls"])
        .into_iter()
        .map(|b| b["name"].clone())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    // A non-empty bucket is kept unless -f.
    let file = env.dir().join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    env.ok(&["cp", s(&file), "oss://beta/f.txt"]);
    let (_, stderr) = env.fails(&["rb", "oss://beta"]);
    assert!(stderr.contains("BucketNotEmpty"), "{stderr}");
    assert_eq!(env.ok(&["rb", "oss://alpha"]).trim(), "removed oss://alpha");
    let removed = env.json(&["rb", "-f", "oss://beta"]);
    assert_eq!(removed["objects_deleted"], 1);
    assert!(env.ok(&["ls"]).contains("Bucket Number is: 0"));
}

#[test]
fn round_trips_ranges_copies_and_listings() {
    let env = Env::new();
    env.ok(&["mb", "oss://data"]);
    let sizes = [0, 1, 5 * MIB + 1, 64 * MIB];
    let up = env.dir().join("up");
    let down = env.dir().join("down");
    std::fs::create_dir_all(&up).unwrap();
    for (i, size) in sizes.iter().enumerate() {
        let name = format!("file-{size}.bin");
        let src = up.join(&name);
        std::fs::write(&src, pseudo_random(*size, i as u64 + 7)).unwrap();
        let result = env.json(&["cp", s(&src), "oss://data/sizes/", "--part-size", "5MiB"]);
        assert_eq!(result["size"], *size as u64);
        assert_eq!(result["destination"], format!("oss://data/sizes/{name}"));
        let expected_parts = if *size == 64 * MIB { 13 } else { 1 };
        assert_eq!(result["parts_sent"], expected_parts, "{name}: {result}");
        assert_eq!(result["parts_resumed"], 0);

        // Into a directory that does not exist yet (trailing `/`): created, key's name kept.
        let url = format!("oss://data/sizes/{name}");
        let dl = env.json(&["cp", &url, &format!("{}/", down.display())]);
        assert_eq!(dl["size"], *size as u64);
        assert_eq!(sha256_file(&down.join(&name)), sha256_file(&src), "{name}");
    }

    // Ranged downloads: a-b, and the last n bytes.
    let big = std::fs::read(up.join(format!("file-{}.bin", 64 * MIB))).unwrap();
    let url = format!("oss://data/sizes/file-{}.bin", 64 * MIB);
    let part = down.join("range.bin");
    let r = env.json(&["cp", &url, s(&part), "--range", "1000000-1999999"]);
    assert_eq!(r["size"], 1_000_000);
    assert_eq!(std::fs::read(&part).unwrap(), &big[1_000_000..2_000_000]);
    env.ok(&["cp", &url, s(&part), "--range", "-10"]);
    assert_eq!(std::fs::read(&part).unwrap(), &big[big.len() - 10..]);

    // Server-side copies: CopyObject, and UploadPartCopy in parts above the threshold.
    let c = env.json(&["cp", &url, "oss://data/copies/"]);
    assert_eq!(c["parts"], 0);
    let c = env.json(&[
        "cp",
        &url,
        "oss://data/copies/parts.bin",
        "--bigfile-threshold",
        "8MiB",
        "--part-size",
        "5MiB",
    ]);
    assert_eq!(c["parts"], 13);
    let copied = down.join("copied.bin");
    env.ok(&["cp", "oss://data/copies/parts.bin", s(&copied)]);
    assert_eq!(sha256_file(&copied), Sha256::digest(&big).to_vec());

    // Listings: all pages, --limit, one level with -d.
    let listed = env.json_lines(&["ls", "oss://data/sizes/"]);
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|o| o["type"] == "object"));
    assert_eq!(
        env.json_lines(&["ls", "oss://data", "--limit", "2"]).len(),
        2
    );
    let text = env.ok(&["ls", "oss://data"]);
    assert!(text.trim_end().ends_with("Object Number is: 6"), "{text}");
    assert!(text.contains("oss://data/sizes/file-1.bin"), "{text}");
    let level = env.json_lines(&["ls", "-d", "oss://data"]);
    let prefixes: Vec<&Value> = level.iter().map(|e| &e["prefix"]).collect();
    assert_eq!(prefixes, ["copies/", "sizes/"]);

    // du and stat agree with what was sent.
    let total: u64 = sizes.iter().map(|s| *s as u64).sum();
    let du = env.json(&["du", "oss://data/sizes/"]);
    assert_eq!(du["objects"], 4);
    assert_eq!(du["bytes"], total);
    assert_eq!(du["storage_classes"]["Standard"]["bytes"], total);
    let du_text = env.ok(&["du", "oss://data/sizes/"]);
    assert!(
        du_text.contains(&format!("4 objects, {total} bytes")),
        "{du_text}"
    );
}

#[test]
fn recursive_copies_of_a_thousand_files_and_recursive_delete() {
    let env = Env::new();
    env.ok(&["mb", "oss://tree"]);
    let src = env.dir().join("src");
    let mut n = 0;
    for a in 0..10 {
        for b in 0..10 {
            let dir = src.join(format!("dir{a}")).join(format!("sub {b}"));
            std::fs::create_dir_all(&dir).unwrap();
            for c in 0..10 {
                let content = pseudo_random(n % 300, n as u64);
                std::fs::write(dir.join(format!("file{c}.txt")), content).unwrap();
                n += 1;
            }
        }
    }
    assert_eq!(n, 1000);
    let up = env.json(&["cp", "-r", s(&src), "oss://tree/backup", "--jobs", "8"]);
    assert_eq!(up["files"], 1000);
    assert_eq!(up["failed"], 0);
    assert_eq!(env.json(&["du", "oss://tree/backup/"])["objects"], 1000);
    assert_eq!(
        env.json_lines(&["ls", "oss://tree/backup/dir3/sub 4/"])
            .len(),
        10
    );

    let dst = env.dir().join("fresh");
    let down = env.json(&["cp", "-r", "oss://tree/backup/", s(&dst), "--jobs", "8"]);
    assert_eq!(down["files"], 1000);
    let (a, b) = (tree(&src), tree(&dst));
    assert_eq!(a.len(), 1000);
    assert!(a == b, "the trees differ");

    // Recursive delete wants confirmation, which a pipe cannot give.
    let (_, stderr) = env.fails(&["rm", "-r", "oss://tree/backup/"]);
    assert!(stderr.contains("not a terminal"), "{stderr}");
    let rm = env.json(&["rm", "-r", "-f", "oss://tree/backup/"]);
    assert_eq!(rm["deleted"], 1000);
    assert!(env.json_lines(&["ls", "oss://tree"]).is_empty());
    assert!(env
        .ok(&["ls", "oss://tree"])
        .contains("Object Number is: 0"));
}

#[test]
fn stat_du_and_sign() {
    let env = Env::new();
    env.ok(&["mb", "oss://info"]);
    let file = env.dir().join("page.html");
    std::fs::write(&file, b"<p>hello</p>").unwrap();
    let up = env.json(&["cp", s(&file), "oss://info/web/page.html"]);

    let stat = env.json(&["stat", "oss://info/web/page.html"]);
    assert_eq!(stat["size"], 12);
    assert_eq!(stat["content_type"], "text/html");
    assert_eq!(stat["object_type"], "Normal");
    assert_eq!(stat["etag"], up["etag"]);
    assert_eq!(stat["crc64"], up["crc64"]);
    assert!(stat["crc64"].as_str().unwrap().parse::<u64>().is_ok());
    let text = env.ok(&["stat", "oss://info/web/page.html"]);
    for field in [
        "Content-Length",
        "ETag",
        "CRC-64",
        "Content-Type",
        "Last-Modified",
    ] {
        assert!(text.contains(field), "{field} missing: {text}");
    }
    let bucket = env.json(&["stat", "oss://info"]);
    assert_eq!(bucket["name"], "info");
    assert_eq!(bucket["object_count"], 1);
    assert_eq!(bucket["storage"], 12);
    assert!(env.ok(&["stat", "oss://info"]).contains("ObjectCount"));

    let du = env.ok(&["du", "oss://info"]);
    assert!(
        du.contains("Standard") && du.contains("1 objects, 12 bytes"),
        "{du}"
    );

    // A presigned URL works for a plain HTTP client, with either signature version.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for version in ["v4", "v1"] {
        let url = env.ok(&[
            "sign",
            "oss://info/web/page.html",
            "--expires",
            "300",
            "--sign-version",
            version,
        ]);
        let body = rt.block_on(async {
            let response = reqwest::get(url.trim()).await.unwrap();
            assert_eq!(response.status(), 200, "{version}");
            response.bytes().await.unwrap()
        });
        assert_eq!(&body[..], b"<p>hello</p>");
    }
    let put = env.json(&["sign", "oss://info/uploaded.txt", "--method", "PUT"]);
    let status = rt.block_on(async {
        reqwest::Client::new()
            .put(put["url"].as_str().unwrap())
            .body("via presigned PUT")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    assert_eq!(env.json(&["stat", "oss://info/uploaded.txt"])["size"], 17);
}

#[test]
fn failures_are_one_line_naming_the_oss_code() {
    let env = Env::new();
    let (code, stderr) = env.fails(&["ls", "oss://nosuchbucket"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("ossvault: NoSuchBucket: "), "{stderr}");
    assert!(stderr.contains("request id"), "{stderr}");

    let out = env
        .cmd(&["ls"])
        .env("OSSVAULT_ACCESS_KEY_SECRET", "wrong")
        .output()
        .unwrap();
    let (_, stderr) = expect_failure(out, &["ls"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");

    env.ok(&["mb", "oss://errs"]);
    let (_, stderr) = env.fails(&["stat", "oss://errs/none"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NoSuchKey"), "{stderr}");
    let (_, stderr) = env.fails(&["cp", "oss://errs/none", s(&env.dir().join("x"))]);
    assert!(stderr.contains("NoSuchKey"), "{stderr}");
    assert!(!env.dir().join("x").exists());

    let (_, stderr) = env.fails(&["ls", "oss://Bad_Name"]);
    assert!(stderr.contains("invalid bucket name"), "{stderr}");
    let (_, stderr) = expect_failure(env.bare(&["ls"]).output().unwrap(), &["ls"]);
    assert!(stderr.starts_with("ossvault: no endpoint"), "{stderr}");
}

#[test]
fn recursive_download_refuses_keys_that_escape() {
    let env = Env::new();
    env.ok(&["mb", "oss://evil"]);
    let file = env.dir().join("payload");
    std::fs::write(&file, b"payload").unwrap();
    let bad = [
        "p/../escape.txt",
        "p/a/../../../up3.txt",
        "p/C:/drive.txt",
        "p/a\\..\\..\\win.txt",
    ];
    for key in bad.iter().chain(&["p/fine/ok.txt"]) {
        env.ok(&["cp", s(&file), &format!("oss://evil/{key}")]);
    }
    let outer = env.dir().join("outer");
    let target = outer.join("inner");
    std::fs::create_dir_all(&target).unwrap();
    let (code, stderr) = env.fails(&["cp", "-r", "oss://evil/p/", s(&target)]);
    assert_eq!(code, 1);
    for key in bad {
        assert!(
            stderr.contains(&format!("oss://evil/{key}: refused")),
            "{key} not refused: {stderr}"
        );
    }
    assert!(stderr.contains("4 of 5 objects failed"), "{stderr}");
    // The good key was written; nothing else, anywhere.
    let written: Vec<String> = tree(env.dir()).into_keys().collect();
    assert_eq!(written, ["outer/inner/fine/ok.txt", "payload"]);
    // A single download to a directory refuses a `..` name too.
    env.ok(&["cp", s(&file), "oss://evil/q/.."]);
    let (_, stderr) = env.fails(&["cp", "oss://evil/q/..", &format!("{}/", target.display())]);
    assert!(stderr.contains("refused"), "{stderr}");
}

#[test]
fn profiles_set_list_use_and_remove() {
    let env = Env::new();
    let endpoint = env.server.endpoint.clone();
    let mut set = env.bare(&[
        "profile",
        "set",
        "work",
        "--endpoint",
        &endpoint,
        "-i",
        KEY_ID,
        "-k",
        SECRET,
        "--region",
        "cn-hangzhou",
        "--sign-version",
        "v1",
    ]);
    expect_ok(set.output().unwrap(), &["profile", "set"]);
    let config = env.dir().join("config.toml");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let list = expect_ok(
        env.bare(&["profile", "ls"]).output().unwrap(),
        &["profile", "ls"],
    );
    assert!(list.contains("work") && list.contains(&endpoint), "{list}");
    assert!(!list.contains(SECRET), "the secret is shown: {list}");
    let json = expect_ok(
        env.bare(&["--json", "profile", "ls"]).output().unwrap(),
        &["profile", "ls"],
    );
    assert!(!json.contains(SECRET), "the secret is shown: {json}");
    let doc: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(doc["name"], "work");
    assert_eq!(doc["has_secret"], true);

    // Used through --profile, with no connection in the environment.
    let mut mb = env.bare(&["mb", "oss://via-profile", "--profile", "work"]);
    expect_ok(mb.output().unwrap(), &["mb"]);
    let ls = expect_ok(
        env.bare(&["ls", "--profile", "work"]).output().unwrap(),
        &["ls"],
    );
    assert!(ls.contains("oss://via-profile"), "{ls}");
    // Flags beat the profile: a wrong secret on the command line is used, and fails.
    let out = env
        .bare(&["ls", "--profile", "work", "-k", "wrong"])
        .output()
        .unwrap();
    let (_, stderr) = expect_failure(out, &["ls"]);
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
    // An unknown profile is an error; the default one is used when it exists.
    let (_, stderr) = expect_failure(
        env.bare(&["ls", "--profile", "nope"]).output().unwrap(),
        &["ls"],
    );
    assert!(stderr.contains("no profile \"nope\""), "{stderr}");
    let mut set_default = env.bare(&[
        "profile", "set", "default", "-e", &endpoint, "-i", KEY_ID, "-k", SECRET,
    ]);
    expect_ok(set_default.output().unwrap(), &["profile", "set"]);
    expect_ok(env.bare(&["ls"]).output().unwrap(), &["ls"]);

    expect_ok(
        env.bare(&["profile", "rm", "work"]).output().unwrap(),
        &["profile", "rm"],
    );
    let list = expect_ok(
        env.bare(&["profile", "ls"]).output().unwrap(),
        &["profile", "ls"],
    );
    assert!(!list.contains("work"), "{list}");
}

/// Starts a slow-enough multipart upload of `file` and waits until its checkpoint records at
/// least `parts` finished parts. `None` when the upload finished first (too fast to catch).
fn upload_until_checkpoint(env: &Env, args: &[&str], ckpt: &Path, parts: usize) -> Option<Child> {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if checkpoint_parts(ckpt).is_some_and(|n| n >= parts) {
            return Some(child);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the upload failed: {status}");
            return None;
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
}

const RESUME_SIZE: usize = 60 * MIB;
const RESUME_PARTS: u64 = 12; // 60 MiB in 5 MiB parts

fn resume_args<'a>(file: &'a str, url: &'a str, ckpt: &'a str) -> Vec<&'a str> {
    vec![
        "cp",
        file,
        url,
        "--part-size",
        "5MiB",
        "--jobs",
        "1",
        "--checkpoint-dir",
        ckpt,
    ]
}

#[test]
fn sigkill_then_rerun_resumes_from_the_checkpoint() {
    let env = Env::new();
    env.ok(&["mb", "oss://resume"]);
    let file = env.dir().join("big.bin");
    std::fs::write(&file, pseudo_random(RESUME_SIZE, 42)).unwrap();
    let ckpt = env.dir().join("ckpt");
    let args = resume_args(s(&file), "oss://resume/big.bin", s(&ckpt));
    // The machine may be fast enough to finish before the kill: then try again.
    let mut killed = false;
    for _ in 0..5 {
        if let Some(mut child) = upload_until_checkpoint(&env, &args, &ckpt, 2) {
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            if !status.success() {
                killed = true;
                break;
            }
        }
        env.ok(&["rm", "oss://resume/big.bin"]);
    }
    assert!(
        killed,
        "the upload always finished before it could be killed"
    );
    assert!(checkpoint_parts(&ckpt).unwrap() >= 2);

    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let result: Value = serde_json::from_str(env.ok(&json_args).trim()).unwrap();
    let resumed = result["parts_resumed"].as_u64().unwrap();
    let sent = result["parts_sent"].as_u64().unwrap();
    assert!(resumed >= 2, "{result}");
    assert_eq!(sent, RESUME_PARTS - resumed, "{result}");
    assert_eq!(
        checkpoint_parts(&ckpt),
        None,
        "the checkpoint outlived the upload"
    );

    let back = env.dir().join("back.bin");
    env.ok(&["cp", "oss://resume/big.bin", s(&back)]);
    assert_eq!(sha256_file(&back), sha256_file(&file));
}

#[test]
fn sigint_cancels_with_exit_130_and_keeps_the_checkpoint() {
    let env = Env::new();
    env.ok(&["mb", "oss://cancel"]);
    let file = env.dir().join("big.bin");
    std::fs::write(&file, pseudo_random(RESUME_SIZE, 43)).unwrap();
    let ckpt = env.dir().join("ckpt");
    let args = resume_args(s(&file), "oss://cancel/big.bin", s(&ckpt));
    let mut cancelled = None;
    for _ in 0..5 {
        if let Some(child) = upload_until_checkpoint(&env, &args, &ckpt, 1) {
            // SAFETY: kill(2) on the pid of a child we own and have not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let out = child.wait_with_output().unwrap();
            if !out.status.success() {
                cancelled = Some(out);
                break;
            }
        }
        env.ok(&["rm", "oss://cancel/big.bin"]);
    }
    let out = cancelled.expect("the upload always finished before SIGINT");
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(checkpoint_parts(&ckpt).unwrap() >= 1, "no checkpoint kept");

    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let result: Value = serde_json::from_str(env.ok(&json_args).trim()).unwrap();
    let resumed = result["parts_resumed"].as_u64().unwrap();
    assert!(resumed >= 1, "{result}");
    assert_eq!(
        result["parts_sent"].as_u64().unwrap(),
        RESUME_PARTS - resumed
    );
    let back = env.dir().join("back.bin");
    env.ok(&["cp", "oss://cancel/big.bin", s(&back)]);
    assert_eq!(sha256_file(&back), sha256_file(&file));
}

#[test]
fn piped_output_is_plain() {
    // Piped output carries no ANSI escapes and no progress bar.
    let env = Env::new();
    env.ok(&["mb", "oss://plain"]);
    let file = env.dir().join("a.txt");
    std::fs::write(&file, pseudo_random(3 * MIB, 5)).unwrap();
    let out = env
        .cmd(&["cp", s(&file), "oss://plain/a.txt"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.contains(&0x1b));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "upload: {} -> oss://plain/a.txt (3.00 MiB, 1 part sent)",
            file.display()
        )
    );
}

#[test]
fn object_tagging_and_symlinks() {
    let env = Env::new();
    let file = env.dir().join("doc.txt");
    std::fs::write(&file, b"tagged content").unwrap();
    env.ok(&["mb", "oss://objs"]);
    env.ok(&["cp", s(&file), "oss://objs/doc.txt"]);

    let none = env.json(&["object-tagging", "oss://objs/doc.txt"]);
    assert_eq!(none["tags"], serde_json::json!({}));
    let set = env.json(&[
        "object-tagging",
        "oss://objs/doc.txt",
        "--set",
        "project=中文",
        "--set",
        "empty=",
    ]);
    assert_eq!(
        set["tags"],
        serde_json::json!({"project": "中文", "empty": ""})
    );
    let text = env.ok(&["object-tagging", "oss://objs/doc.txt"]);
    assert!(text.contains("project=中文"), "{text}");
    let (_, err) = env.fails(&["object-tagging", "oss://objs/doc.txt", "--set", "bad=%x"]);
    assert!(err.contains("InvalidTag"), "{err}");
    let cleared = env.json(&["object-tagging", "oss://objs/doc.txt", "--delete"]);
    assert_eq!(cleared["tags"], serde_json::json!({}));

    let link = env.json(&["create-symlink", "oss://objs/latest", "oss://objs/doc.txt"]);
    assert_eq!(link["target"], "oss://objs/doc.txt");
    let read = env.ok(&["read-symlink", "oss://objs/latest"]);
    assert_eq!(read.trim(), "oss://objs/latest -> oss://objs/doc.txt");
    // Downloading the link downloads the target's content.
    let back = env.dir().join("back.txt");
    env.ok(&["cp", "oss://objs/latest", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), b"tagged content");
    let (_, err) = env.fails(&["create-symlink", "oss://objs/x", "oss://other/doc.txt"]);
    assert!(err.contains("its own bucket"), "{err}");
    let (_, err) = env.fails(&["read-symlink", "oss://objs/doc.txt"]);
    assert!(err.contains("NotSymlink"), "{err}");
}

#[test]
fn archive_restore_and_block_public_access() {
    let env = Env::new();
    let file = env.dir().join("cold.txt");
    std::fs::write(&file, b"frozen bytes").unwrap();
    env.ok(&["mb", "oss://cold", "--storage-class", "Archive"]);
    env.ok(&["cp", s(&file), "oss://cold/cold.txt"]);
    // Frozen until restored (the server's restore takes a minute: it is only started here).
    let (_, err) = env.fails(&["cp", "oss://cold/cold.txt", s(&env.dir().join("back"))]);
    assert!(err.contains("InvalidObjectState"), "{err}");
    let started = env.json(&["restore-object", "oss://cold/cold.txt", "--days", "2"]);
    assert_eq!(started["started"], true);
    assert_eq!(started["restore"], "ongoing-request=\"true\"");
    let (_, err) = env.fails(&["restore-object", "oss://cold/cold.txt"]);
    assert!(err.contains("RestoreAlreadyInProgress"), "{err}");

    let shown = env.json(&["public-access-block", "oss://cold"]);
    assert_eq!(shown["block_public_access"], false);
    let on = env.json(&["public-access-block", "oss://cold", "--on"]);
    assert_eq!(on["block_public_access"], true);
    assert!(env
        .ok(&["public-access-block"])
        .contains("the server: public access not blocked"));
    let off = env.json(&["public-access-block", "oss://cold", "--off"]);
    assert_eq!(off["block_public_access"], false);
}

#[test]
fn bucket_encryption_sse_uploads_and_the_https_only_policy() {
    let env = Env::new();
    let file = env.dir().join("secret.txt");
    std::fs::write(&file, b"classified").unwrap();
    env.ok(&["mb", "oss://enc"]);

    let shown = env.json(&["bucket-encryption", "oss://enc"]);
    assert_eq!(shown["sse_algorithm"], Value::Null);
    env.ok(&["cp", s(&file), "oss://enc/explicit", "--sse", "AES256"]);
    let stat = env.ok(&["stat", "oss://enc/explicit"]);
    assert!(stat.contains("AES256"), "stat shows the encryption: {stat}");

    let set = env.json(&["bucket-encryption", "oss://enc", "--sse", "AES256"]);
    assert_eq!(set["sse_algorithm"], "AES256");
    env.ok(&["cp", s(&file), "oss://enc/by-default"]);
    assert!(env.ok(&["stat", "oss://enc/by-default"]).contains("AES256"));
    env.ok(&["cp", "oss://enc/by-default", s(&env.dir().join("back.txt"))]);
    assert_eq!(
        std::fs::read(env.dir().join("back.txt")).unwrap(),
        b"classified"
    );

    // SM4, per object and as the default.
    env.ok(&["cp", s(&file), "oss://enc/sm4", "--sse", "SM4"]);
    assert!(env.ok(&["stat", "oss://enc/sm4"]).contains("SM4"));
    let set = env.json(&["bucket-encryption", "oss://enc", "--sse", "sm4"]);
    assert_eq!(set["sse_algorithm"], "SM4");
    env.ok(&["cp", s(&file), "oss://enc/sm4-default"]);
    assert!(env.ok(&["stat", "oss://enc/sm4-default"]).contains("SM4"));
    env.ok(&["cp", "oss://enc/sm4-default", s(&env.dir().join("sm4.txt"))]);
    assert_eq!(
        std::fs::read(env.dir().join("sm4.txt")).unwrap(),
        b"classified"
    );
    let deleted = env.json(&["bucket-encryption", "oss://enc", "--delete"]);
    assert_eq!(deleted["sse_algorithm"], Value::Null);

    // GetBucketPolicyStatus: no policy is no public access.
    let status = env.json(&["bucket-policy", "oss://enc", "--status"]);
    assert_eq!(status["is_public"], Value::Bool(false));

    // HTTPS-only: plain HTTP is refused, HTTPS with the pinned certificate works.
    env.ok(&["bucket-policy", "oss://enc", "--https-only"]);
    let (_, err) = env.fails(&["ls", "oss://enc"]);
    assert!(err.contains("AccessDenied"), "{err}");
    let https = [
        "-e",
        env.server.https_endpoint.as_str(),
        "--ca-cert",
        env.server.certificate.as_str(),
    ];
    let mut ls = vec!["ls", "oss://enc"];
    ls.extend_from_slice(&https);
    assert!(env.ok(&ls).contains("oss://enc/explicit"));
    let mut without_pin = vec!["ls", "oss://enc", "-e", env.server.https_endpoint.as_str()];
    let (_, err) = env.fails(&without_pin);
    assert!(
        err.contains("network error") && err.to_lowercase().contains("certificate"),
        "an unpinned self-signed certificate is not trusted: {err}"
    );
    without_pin.clear();
    let mut delete = vec!["bucket-policy", "oss://enc", "--delete"];
    delete.extend_from_slice(&https);
    env.ok(&delete);
    assert!(env.ok(&["ls", "oss://enc"]).contains("oss://enc/explicit"));

    // A policy that lets anyone read is public.
    let public = env.dir().join("public.json");
    std::fs::write(
        &public,
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Principal":["*"],"Action":["oss:GetObject"],"Resource":["acs:oss:*:*:enc/*"]}]}"#,
    )
    .unwrap();
    env.ok(&["bucket-policy", "oss://enc", "--file", s(&public)]);
    assert!(env
        .ok(&["bucket-policy", "oss://enc", "--status"])
        .contains("grants public access"));
}

/// SSE-KMS with SM4 data encryption, as a bucket's default and per upload; a rule naming a
/// CMK the server's KMS does not have is saved with a warning on stderr.
#[test]
fn kms_with_sm4_data_and_a_warning_for_a_missing_cmk() {
    let env = Env::new();
    let file = env.dir().join("f.txt");
    std::fs::write(&file, b"guomi").unwrap();
    env.ok(&["mb", "oss://kms-sm4"]);
    let cmk = env.json(&["kms", "create"])["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    let args = [
        "--json",
        "bucket-encryption",
        "oss://kms-sm4",
        "--sse",
        "KMS",
        "--kms-key-id",
        &cmk,
        "--sse-data-encryption",
        "SM4",
    ];
    let out = env.cmd(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let set: Value = serde_json::from_str(expect_ok(out, &args).trim()).unwrap();
    assert_eq!(set["sse_algorithm"], "KMS");
    assert_eq!(set["kms_master_key_id"], cmk.as_str());
    assert_eq!(set["kms_data_encryption"], "SM4");
    assert!(!stderr.contains("warning"), "an existing CMK: {stderr}");
    env.ok(&["cp", s(&file), "oss://kms-sm4/by-default"]);
    let sse = &env.json(&["stat", "oss://kms-sm4/by-default"])["server_side_encryption"];
    assert_eq!(sse["x-oss-server-side-encryption"], "KMS");
    assert_eq!(sse["x-oss-server-side-data-encryption"], "SM4");

    // Per upload, into a bucket without a default.
    env.ok(&["mb", "oss://plain"]);
    env.ok(&[
        "cp",
        s(&file),
        "oss://plain/explicit",
        "--sse",
        "kms",
        "--kms-key-id",
        &cmk,
        "--sse-data-encryption",
        "sm4",
    ]);
    let sse = &env.json(&["stat", "oss://plain/explicit"])["server_side_encryption"];
    assert_eq!(sse["x-oss-server-side-data-encryption"], "SM4");
    assert_eq!(sse["x-oss-server-side-encryption-key-id"], cmk.as_str());
    env.ok(&["cp", "oss://plain/explicit", s(&env.dir().join("back"))]);
    assert_eq!(std::fs::read(env.dir().join("back")).unwrap(), b"guomi");
    let (_, err) = env.fails(&[
        "cp",
        s(&file),
        "oss://plain/x",
        "--sse",
        "AES256",
        "--sse-data-encryption",
        "SM4",
    ]);
    assert!(err.contains("--sse KMS"), "{err}");

    // A CMK that does not exist: the rule is saved, the warning says writes fail until it does.
    let args = [
        "bucket-encryption",
        "oss://kms-sm4",
        "--sse",
        "KMS",
        "--kms-key-id",
        "not-yet-made",
    ];
    let out = env.cmd(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = expect_ok(out, &args);
    assert!(stdout.contains("with CMK not-yet-made"), "{stdout}");
    assert!(
        stderr.contains("warning: the CMK not-yet-made is not in this server's KMS")
            && stderr.contains("KmsKeyNotFound"),
        "{stderr}"
    );
    let (_, err) = env.fails(&["cp", s(&file), "oss://kms-sm4/fails"]);
    assert!(err.contains("KmsKeyNotFound"), "{err}");
    // A disabled CMK is named with its state.
    env.ok(&["kms", "disable", &cmk]);
    let args = [
        "bucket-encryption",
        "oss://kms-sm4",
        "--sse",
        "KMS",
        "--kms-key-id",
        &cmk,
    ];
    let out = env.cmd(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    expect_ok(out, &args);
    assert!(stderr.contains("is Disabled"), "{stderr}");
}

#[test]
fn serve_saves_a_local_profile_that_reaches_it() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    let server = Server::start_saving_profile_in(Some(&config));
    let env = Env { server, home };
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[profiles.local]"), "{text}");
    assert!(text.contains(&env.server.endpoint), "{text}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    expect_ok(
        env.bare(&["mb", "oss://via-local", "--profile", "local"])
            .output()
            .unwrap(),
        &["mb"],
    );
    let ls = expect_ok(
        env.bare(&["ls", "--profile", "local"]).output().unwrap(),
        &["ls"],
    );
    assert!(ls.contains("oss://via-local"), "{ls}");
}

#[test]
fn versioning_commands() {
    let env = Env::new();
    env.ok(&["mb", "oss://vers"]);
    let never = env.json(&["bucket-versioning", "oss://vers"]);
    assert_eq!(never["versioning"], Value::Null);
    assert!(env
        .ok(&["bucket-versioning", "oss://vers"])
        .contains("never enabled"));
    assert_eq!(
        env.json(&["bucket-versioning", "oss://vers", "enabled"])["versioning"],
        "Enabled"
    );
    let file = env.dir().join("v.txt");
    for text in ["first", "second!"] {
        std::fs::write(&file, text).unwrap();
        env.ok(&["cp", s(&file), "oss://vers/doc.txt"]);
    }
    let versions = env.json_lines(&["ls", "oss://vers", "--all-versions"]);
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0]["is_latest"], true);
    assert_eq!(versions[1]["is_latest"], false);
    assert_eq!(versions[1]["size"], 5);
    let old = versions[1]["version_id"].as_str().unwrap().to_owned();
    let text = env.ok(&["ls", "oss://vers", "--all-versions"]);
    assert!(
        text.contains(&old) && text.contains("Version Number is: 2"),
        "{text}"
    );

    // stat and cp of the old version.
    let stat = env.json(&["stat", "oss://vers/doc.txt", "--version-id", &old]);
    assert_eq!(
        (stat["size"].clone(), stat["version_id"].clone()),
        (5.into(), old.clone().into())
    );
    let got = env.dir().join("old.txt");
    env.ok(&["cp", "oss://vers/doc.txt", s(&got), "--version-id", &old]);
    assert_eq!(std::fs::read(&got).unwrap(), b"first");

    // rm adds a delete marker; the old version comes back by a copy onto its own key.
    let deleted = env.json(&["rm", "oss://vers/doc.txt"]);
    assert_eq!(deleted["delete_marker"], true);
    let marker = deleted["version_id"].as_str().unwrap().to_owned();
    assert!(env.json_lines(&["ls", "oss://vers"]).is_empty());
    env.ok(&[
        "cp",
        "oss://vers/doc.txt",
        "oss://vers/doc.txt",
        "--version-id",
        &old,
    ]);
    let back = env.dir().join("back.txt");
    env.ok(&["cp", "oss://vers/doc.txt", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), b"first");
    let listed = env.json_lines(&["ls", "oss://vers", "--all-versions"]);
    // Newest first, the delete marker in its place between the versions.
    let kinds: Vec<_> = listed.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["version", "delete_marker", "version", "version"],
        "{listed:?}"
    );
    assert_eq!(listed[1]["version_id"], marker.as_str());
    assert_eq!(listed[3]["version_id"], old.as_str());

    // A versioned bucket is not empty until every version is gone.
    let (_, err) = env.fails(&["rb", "oss://vers"]);
    assert!(err.contains("BucketNotEmpty"), "{err}");
    let gone = env.json(&["rm", "oss://vers/doc.txt", "--version-id", &old]);
    assert_eq!(gone["version_id"], old.as_str());
    let removed = env.json(&["rm", "oss://vers/doc.txt", "--all-versions"]);
    assert_eq!(removed["versions_deleted"], 3);
    assert!(env
        .json_lines(&["ls", "oss://vers", "--all-versions"])
        .is_empty());
    assert_eq!(
        env.json(&["bucket-versioning", "oss://vers", "suspended"])["versioning"],
        "Suspended"
    );
    env.ok(&["rb", "oss://vers"]);

    // rb -f empties a versioned bucket of every version and delete marker.
    env.ok(&["mb", "oss://vers2"]);
    env.ok(&["bucket-versioning", "oss://vers2", "enabled"]);
    for _ in 0..3 {
        env.ok(&["cp", s(&file), "oss://vers2/a/b.txt"]);
    }
    env.ok(&["rm", "oss://vers2/a/b.txt"]);
    let removed = env.json(&["rb", "-f", "oss://vers2"]);
    assert_eq!(removed["removed"], true);
    assert_eq!(
        removed["objects_deleted"], 4,
        "3 versions and 1 delete marker"
    );
}

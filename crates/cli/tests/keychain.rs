//! `ossvault key` and `cp --encrypt` with the system keychain (the default backend, service
//! `ossvault`), against the real embedded server.
//!
//! Runs only with `OSSVAULT_REQUIRE_KEYCHAIN=1`, as `scripts/keychain-tests.sh` sets it inside a
//! throw-away HOME with a private session bus and gnome-keyring: the CLI stores its keys under
//! the real service name, which must never touch a developer's own keychain. Without the
//! variable the test prints why it skipped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ossvault");

#[test]
fn keys_in_the_system_keychain_encrypt_and_decrypt() {
    if std::env::var("OSSVAULT_REQUIRE_KEYCHAIN").as_deref() != Ok("1") {
        eprintln!("SKIPPED: set OSSVAULT_REQUIRE_KEYCHAIN=1 (scripts/keychain-tests.sh) to run");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    // The server saves the profile `local`, its secret in the (test session's) keychain.
    let mut server = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.join("data"))
        .env("OSSVAULT_CONFIG", dir.join("config.toml"))
        .env("OSSVAULT_CONFIG_DIR", dir.join("config"))
        .env_remove("OSSVAULT_NO_KEYCHAIN")
        .args(["--address", "127.0.0.1:0"])
        .args([
            "--access-key-id",
            "AKKEYCHAIN",
            "--access-key-secret",
            "keychain-secret",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let endpoint = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "serve exited");
        if let Some(e) = line.trim().strip_prefix("endpoint: ") {
            break e.to_owned();
        }
    };
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("OSSVAULT_ENDPOINT", &endpoint)
            .env("OSSVAULT_ACCESS_KEY_ID", "AKKEYCHAIN")
            .env("OSSVAULT_ACCESS_KEY_SECRET", "keychain-secret")
            .env("OSSVAULT_CONFIG", dir.join("config.toml"))
            .env("OSSVAULT_CONFIG_DIR", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env_remove("OSSVAULT_KEYSTORE_FILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ossvault {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Profiles: `local` reaches the server with nothing but its name; no secret in the file.
    let with_profile = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("OSSVAULT_CONFIG", dir.join("config.toml"))
            .env("OSSVAULT_CONFIG_DIR", dir.join("config"))
            .env_remove("OSSVAULT_ENDPOINT")
            .env_remove("OSSVAULT_ACCESS_KEY_ID")
            .env_remove("OSSVAULT_ACCESS_KEY_SECRET")
            .env_remove("OSSVAULT_NO_KEYCHAIN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ossvault {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    with_profile(&["mb", "oss://from-the-local-profile", "--profile", "local"]);
    assert!(with_profile(&["ls", "--profile", "local"]).contains("from-the-local-profile"));
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(!config.contains("keychain-secret"), "{config}");
    assert!(config.contains("secret_in_keychain = true"), "{config}");
    // A secret an older version left in the file moves into the keychain at first use.
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "{config}\n[profiles.old]\nendpoint = \"{endpoint}\"\naccess_key_id = \"AKKEYCHAIN\"\naccess_key_secret = \"keychain-secret\"\n"
        ),
    )
    .unwrap();
    assert!(with_profile(&["ls", "--profile", "old"]).contains("from-the-local-profile"));
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(!config.contains("keychain-secret"), "{config}");
    assert!(with_profile(&["profile", "ls"]).contains("(keychain)"));

    let name = format!("kc-{}", std::process::id());
    run(&["key", "gen", "--name", &name, "--type", "rsa2048"]);
    assert!(run(&["key", "ls"]).contains(&name));
    run(&["mb", "oss://keychain-test"]);
    let file = dir.join("plain");
    std::fs::write(&file, b"kept in the keychain".repeat(1000)).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    run(&["cp", &s(&file), "oss://keychain-test/f", "--encrypt", &name]);
    run(&["key", "rotate", &name, "--rewrap", "oss://keychain-test/"]);
    let out = dir.join("out");
    run(&["cp", "oss://keychain-test/f", &s(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    // Nothing secret beside the metadata: the config dir holds no keystore file.
    let names: Vec<String> = std::fs::read_dir(dir.join("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".age")), "{names:?}");
    run(&["key", "rm", &name, "--force"]);
    let _ = server.kill();
    let _ = server.wait();
}

//! The keystore against the real OS keychain (on Linux: a Secret Service such as gnome-keyring).
//!
//! CI runs these through `scripts/keychain-tests.sh`: a throw-away HOME, a private session bus
//! (`dbus-run-session`) and an unlocked gnome-keyring, with `OSSVAULT_REQUIRE_KEYCHAIN=1`, which
//! turns "no keychain reachable" into a failure. Without that variable the tests skip (with the
//! reason printed) where no keychain is reachable.
//!
//! Every test uses its own keychain service name (`ossvault-test-<random>`) and deletes what it
//! stored, so running them in a developer's desktop session leaves their real keys alone.

use std::path::Path;

use base64::Engine as _;
use ossvault_keystore::{
    aes256_fingerprint, Backend, DeleteCheck, Error, KeyKind, Keystore, KEYCHAIN_HINT,
};
use rand::RngCore;

const REQUIRE: &str = "OSSVAULT_REQUIRE_KEYCHAIN";

fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// A keystore on the real keychain under a unique service name, with its config dir.
/// `None` (test skipped) if no keychain is reachable and it is not required.
fn real_keystore(test: &str) -> Option<(tempfile::TempDir, Keystore, String)> {
    let dir = tempfile::tempdir().unwrap();
    let service = format!("ossvault-test-{test}-{:08x}", rand::rngs::OsRng.next_u32());
    match Keystore::open(
        dir.path().join("config"),
        Backend::SystemKeychainService(service.clone()),
    ) {
        Ok(keystore) => Some((dir, keystore, service)),
        Err(e @ (Error::KeychainUnavailable { .. } | Error::KeychainLocked { .. })) => {
            if required() {
                panic!("{REQUIRE}=1 but the keychain is not usable: {e}");
            }
            eprintln!(
                "SKIPPED {test}: no usable OS keychain ({e}); set {REQUIRE}=1 to fail instead"
            );
            None
        }
        Err(e) => panic!("opening the keychain keystore: {e}"),
    }
}

/// Every encoding of `secret` that a careless implementation might write to disk.
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
    ];
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        let text = engine.encode(secret);
        out.push(text.as_bytes()[..text.len() - 4].to_vec());
    }
    out
}

/// Fails if any file under `root` holds one of `secrets` raw, as hex or as base64.
fn assert_no_secret_on_disk(root: &Path, secrets: &[(String, Vec<u8>)]) {
    let mut stack = vec![root.to_path_buf()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for (what, secret) in secrets {
                for needle in encodings(secret) {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                        "{what} in plaintext in {}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(files > 0, "nothing scanned under {}", root.display());
}

fn stored_bytes(keystore: &Keystore, name: &str, version: u32) -> Vec<u8> {
    use rsa::pkcs8::EncodePrivateKey;
    let material = keystore.secret(name, Some(version)).unwrap();
    match (material.aes256(), material.rsa_private()) {
        (Some(aes), _) => aes.to_vec(),
        (_, Some(rsa)) => rsa.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        _ => unreachable!(),
    }
}

#[test]
fn keys_live_in_the_real_keychain() {
    let Some((dir, keystore, service)) = real_keystore("keys") else {
        return;
    };
    let config = dir.path().join("config");
    let mut secrets = Vec::new();

    // generate, both families
    let aes = keystore.generate("aes", KeyKind::Aes256).unwrap();
    let rsa = keystore.generate("rsa", KeyKind::Rsa2048).unwrap();
    assert!(aes.default && !rsa.default);
    secrets.push(("aes@v1".into(), stored_bytes(&keystore, "aes", 1)));
    secrets.push(("rsa@v1".into(), stored_bytes(&keystore, "rsa", 1)));

    // The secret is in the keychain itself, under service/account, not anywhere else.
    let entry = keyring::Entry::new(&service, "key/aes/v1").unwrap();
    assert_eq!(entry.get_secret().unwrap(), secrets[0].1);
    assert!(keystore
        .public_key_pem("rsa")
        .unwrap()
        .contains("BEGIN PUBLIC KEY"));

    // import: AES hex and RSA PKCS#8 PEM
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let imported = keystore
        .import("imported", hex::encode(raw).as_bytes())
        .unwrap();
    assert_eq!(imported.fingerprint, aes256_fingerprint(&raw));
    secrets.push(("imported AES".into(), raw.to_vec()));
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap();
        keystore.import("imported-rsa", pem.as_bytes()).unwrap();
        secrets.push((
            "imported RSA".into(),
            rsa_key.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        ));
    }
    assert_eq!(
        keystore.secret("imported-rsa", None).unwrap().rsa_private(),
        Some(&rsa_key)
    );

    // rotate: old versions stay, the new one is current, fingerprints find each
    let rotated = keystore.rotate("aes").unwrap();
    assert_eq!(rotated.current_version, 2);
    secrets.push(("aes@v2".into(), stored_bytes(&keystore, "aes", 2)));
    assert_eq!(
        keystore.by_fingerprint(&aes.fingerprint).unwrap(),
        Some(("aes".into(), 1))
    );
    assert_eq!(
        keystore.by_fingerprint(&rotated.fingerprint).unwrap(),
        Some(("aes".into(), 2))
    );
    assert_eq!(
        keystore.secret("aes", Some(1)).unwrap().fingerprint(),
        aes.fingerprint
    );

    // rename moves every version's item
    keystore.rename("aes", "main").unwrap();
    assert!(matches!(
        keyring::Entry::new(&service, "key/aes/v1")
            .unwrap()
            .get_secret(),
        Err(keyring::Error::NoEntry)
    ));
    assert_eq!(stored_bytes(&keystore, "main", 1), secrets[0].1);
    assert_eq!(stored_bytes(&keystore, "main", 2), secrets[4].1);
    assert_eq!(
        keystore.by_fingerprint(&aes.fingerprint).unwrap(),
        Some(("main".into(), 1))
    );
    let v2 = keyring::Entry::new(&service, "key/main/v2").unwrap();
    assert_eq!(v2.get_secret().unwrap(), secrets[4].1);
    let main = keystore.get("main").unwrap();
    assert!(main.default && main.versions == rotated.versions);
    assert!(matches!(
        keystore.rename("main", "rsa"),
        Err(Error::KeyExists { .. })
    ));
    assert!(matches!(
        keystore.rename("aes", "other"),
        Err(Error::KeyNotFound { .. })
    ));
    assert!(matches!(
        keystore.rename("main", "a/b"),
        Err(Error::InvalidName { .. })
    ));
    assert_eq!(stored_bytes(&keystore, "main", 1), secrets[0].1);

    // default
    keystore.set_default("rsa").unwrap();
    assert_eq!(keystore.default_key().unwrap().unwrap().name, "rsa");

    // backup and restore into another keystore (another machine, other service)
    let backup = keystore
        .export_backup("main", "correct horse battery")
        .unwrap();
    let (other_dir, other, _other_service) = real_keystore("restore").unwrap();
    assert!(matches!(
        other.restore_backup(&backup, "wrong"),
        Err(Error::WrongPassphrase)
    ));
    let restored = other
        .restore_backup(&backup, "correct horse battery")
        .unwrap();
    assert_eq!(restored.versions, rotated.versions);
    assert_eq!(stored_bytes(&other, "main", 1), secrets[0].1);
    assert_eq!(stored_bytes(&other, "main", 2), secrets[4].1);

    // delete: refused while in use, refused with a count, then forced
    let in_use = DeleteCheck {
        in_use_by_sync: true,
        objects_only_it_opens: 0,
    };
    assert!(matches!(
        keystore.delete("main", in_use, true),
        Err(Error::KeyInUse { .. })
    ));
    let orphans = DeleteCheck {
        in_use_by_sync: false,
        objects_only_it_opens: 3,
    };
    assert!(matches!(
        keystore.delete("main", orphans, false),
        Err(Error::WouldOrphanObjects { count: 3, .. })
    ));
    keystore.delete("main", orphans, true).unwrap();
    for v in ["key/main/v1", "key/main/v2"] {
        assert!(matches!(
            keyring::Entry::new(&service, v).unwrap().get_secret(),
            Err(keyring::Error::NoEntry)
        ));
    }

    // Nothing secret in either config dir, in any encoding.
    assert_no_secret_on_disk(&config, &secrets);
    assert_no_secret_on_disk(&other_dir.path().join("config"), &secrets);

    // Clean up what is left in the keychain.
    for name in ["rsa", "imported", "imported-rsa"] {
        keystore
            .delete(name, DeleteCheck::default(), false)
            .unwrap();
    }
    other.delete("main", DeleteCheck::default(), false).unwrap();
    assert!(keystore.list().unwrap().is_empty());
}

#[test]
fn credentials_live_in_the_real_keychain() {
    let Some((dir, keystore, service)) = real_keystore("creds") else {
        return;
    };
    let secret = format!("oss-secret-{:016x}", rand::rngs::OsRng.next_u64());
    keystore.set_credential("prod", &secret).unwrap();
    assert_eq!(keystore.credential("prod").unwrap().expose(), secret);
    let entry = keyring::Entry::new(&service, "profile/prod").unwrap();
    assert_eq!(entry.get_password().unwrap(), secret);
    assert!(!format!("{:?}", keystore.credential("prod").unwrap()).contains(&secret));
    assert_no_secret_on_disk(
        dir.path(),
        &[("credential".into(), secret.clone().into_bytes())],
    );
    assert!(keystore.delete_credential("prod").unwrap());
    assert!(matches!(
        keystore.credential("prod"),
        Err(Error::CredentialNotFound { .. })
    ));
    assert!(!keystore.delete_credential("prod").unwrap());
}

#[test]
fn the_production_service_opens() {
    // Opening probes the keychain with a throw-away item (written, read back, deleted).
    let dir = tempfile::tempdir().unwrap();
    match Keystore::open(dir.path(), Backend::SystemKeychain) {
        Ok(keystore) => assert!(keystore.list().unwrap().is_empty()),
        Err(e) if !required() => eprintln!("SKIPPED the_production_service_opens: {e}"),
        Err(e) => panic!("{REQUIRE}=1 but the keychain is not usable: {e}"),
    }
}

/// Without a session bus the error says what is missing and how to get a keychain.
#[cfg(target_os = "linux")]
#[test]
fn no_session_bus_is_a_clear_error() {
    const CHILD: &str = "OSSVAULT_KEYSTORE_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let err = Keystore::open(dir.path(), Backend::SystemKeychain).unwrap_err();
        assert!(
            matches!(err, Error::KeychainUnavailable { .. }),
            "expected KeychainUnavailable, got: {err}"
        );
        let message = err.to_string();
        assert!(message.contains(KEYCHAIN_HINT), "{message}");
        assert!(message.contains("dbus-run-session"), "{message}");
        assert!(
            message.contains("gnome-keyring-daemon --unlock"),
            "{message}"
        );
        assert!(
            message.contains("passphrase-encrypted file keystore"),
            "{message}"
        );
        return;
    }
    // Run this test again in a child process whose session bus address leads nowhere (an
    // environment change in this process would race with the other tests).
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_session_bus_is_a_clear_error", "--nocapture"])
        .env(CHILD, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", empty.path().display()),
        )
        .env_remove("DISPLAY")
        .env("XDG_RUNTIME_DIR", empty.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Secret Service that is running but locked (here: gnome-keyring in a fresh HOME, never
/// unlocked) is `KeychainLocked`, whose message says how to unlock or what to use instead.
#[cfg(target_os = "linux")]
#[test]
fn locked_keyring_is_a_clear_error() {
    const CHILD: &str = "OSSVAULT_KEYSTORE_TEST_LOCKED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let err = Keystore::open(
            dir.path(),
            Backend::SystemKeychainService("ossvault-test-locked".into()),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::KeychainLocked { .. }),
            "expected KeychainLocked, got: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("gnome-keyring-daemon --unlock"),
            "{message}"
        );
        assert!(
            message.contains("passphrase-encrypted file keystore"),
            "{message}"
        );
        return;
    }
    let missing: Vec<_> = ["dbus-run-session", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|tool| {
            !std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .any(|dir| dir.join(tool).is_file())
        })
        .collect();
    if !missing.is_empty() {
        if required() {
            panic!("{REQUIRE}=1 but {missing:?} not found in PATH");
        }
        eprintln!("SKIPPED locked_keyring_is_a_clear_error: {missing:?} not installed");
        return;
    }
    // A session of its own: fresh HOME (no login keyring) and runtime dir (so that
    // `--start` does not find the daemon of the session these tests may run in).
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("dbus-run-session")
        .args([
            "--",
            "sh",
            "-c",
            "gnome-keyring-daemon --start --components=secrets >/dev/null && \
             exec \"$0\" --exact locked_keyring_is_a_clear_error --nocapture",
        ])
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("GNOME_KEYRING_CONTROL")
        .env_remove("DISPLAY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

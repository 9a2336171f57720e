//! Keystore operations on the passphrase file backend (no keychain needed). The same operations
//! run against a real Secret Service in `tests/secret_service.rs`.

use std::path::Path;

use base64::Engine as _;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;

use super::*;
use crate::filestore::tests::TEST_PARAMS;

struct Fixture {
    dir: tempfile::TempDir,
    keystore: Keystore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keystore = open_file_keystore(dir.path(), "test passphrase");
        Fixture { dir, keystore }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }
}

fn open_file_keystore(root: &Path, passphrase: &str) -> Keystore {
    let store = FileStore::open(
        &root.join("secrets.ossvault"),
        Zeroizing::new(passphrase.to_owned()),
        TEST_PARAMS,
    )
    .unwrap();
    let mut keystore = Keystore::with_store(&root.join("config"), Box::new(store)).unwrap();
    keystore.backup_work_factor = Some(10);
    keystore
}

/// Every encoding of `secret` that a careless implementation might write to disk.
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![secret.to_vec(), hex::encode(secret).into_bytes()];
    out.push(hex::encode_upper(secret).into_bytes());
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        // Drop the last 4 characters: base64 of a prefix of the secret shares them.
        let text = engine.encode(secret);
        out.push(text.as_bytes()[..text.len().saturating_sub(4)].to_vec());
    }
    out
}

/// Fails if any file under `root` contains `secret` raw, as hex or as base64.
fn assert_not_on_disk(root: &Path, secret: &[u8], what: &str) {
    let needles = encodings(secret);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{what} found in plaintext in {}",
                    path.display()
                );
            }
        }
    }
}

fn rsa_pem_pkcs1(bits: usize) -> (rsa::RsaPrivateKey, String) {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).unwrap();
    let pem = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    (key, pem)
}

#[test]
fn generate_every_kind_and_read_back() {
    let f = Fixture::new();
    for (name, kind) in [
        ("aes", KeyKind::Aes256),
        ("r2048", KeyKind::Rsa2048),
        ("r3072", KeyKind::Rsa3072),
        ("r4096", KeyKind::Rsa4096),
    ] {
        let info = f.keystore.generate(name, kind).unwrap();
        assert_eq!((info.kind, info.current_version), (kind, 1));
        assert_eq!(info.public_key_pem.is_some(), kind.is_rsa());
        let material = f.keystore.secret(name, None).unwrap();
        assert_eq!(material.kind(), kind);
        assert_eq!(material.fingerprint(), info.fingerprint);
        assert_eq!(material.aes256().is_some(), !kind.is_rsa());
        // Windows Credential Manager keeps at most 2560 bytes per credential.
        assert!(material.secret.to_stored().unwrap().len() <= 2560);
        if let Some(public) = material.rsa_public() {
            assert_eq!(public.size() * 8, kind.rsa_bits().unwrap());
            assert_eq!(rsa_fingerprint(&public).unwrap(), info.fingerprint);
            assert_eq!(
                f.keystore.public_key_pem(name).unwrap(),
                info.public_key_pem.unwrap()
            );
        } else {
            assert!(matches!(
                f.keystore.public_key_pem(name),
                Err(Error::NotRsa { .. })
            ));
        }
    }
    // The first key became the default; the others did not.
    assert_eq!(f.keystore.default_key().unwrap().unwrap().name, "aes");
    let names: Vec<_> = f
        .keystore
        .list()
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["aes", "r2048", "r3072", "r4096"]);
    assert!(matches!(
        f.keystore.generate("aes", KeyKind::Aes256),
        Err(Error::KeyExists { .. })
    ));
    assert!(matches!(
        f.keystore.generate("bad/name", KeyKind::Aes256),
        Err(Error::InvalidName { .. })
    ));
    for name in ["aes", "r2048"] {
        let material = f.keystore.secret(name, None).unwrap();
        let stored = material.secret.to_stored().unwrap();
        assert_not_on_disk(&f.config(), &stored, name);
    }
    let aes = f.keystore.secret("aes", None).unwrap();
    assert_not_on_disk(f.dir.path(), aes.aes256().unwrap(), "AES key");
}

#[test]
fn import_formats_and_duplicates() {
    let f = Fixture::new();
    let aes: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let info = f
        .keystore
        .import("hex", hex::encode(aes).as_bytes())
        .unwrap();
    assert_eq!(info.kind, KeyKind::Aes256);
    assert_eq!(info.fingerprint, aes256_fingerprint(&aes));
    assert_eq!(f.keystore.secret("hex", None).unwrap().aes256(), Some(&aes));
    let b64 = base64::engine::general_purpose::STANDARD.encode(aes);
    match f.keystore.import("b64", b64.as_bytes()) {
        Err(Error::DuplicateKey { existing }) => assert_eq!(existing, "hex@v1"),
        other => panic!("{other:?}"),
    }

    let (key, pkcs1) = rsa_pem_pkcs1(2048);
    let info = f.keystore.import("pkcs1", pkcs1.as_bytes()).unwrap();
    assert_eq!(info.kind, KeyKind::Rsa2048);
    assert_eq!(
        info.fingerprint,
        rsa_fingerprint(&key.to_public_key()).unwrap()
    );
    let pkcs8 = key.to_pkcs8_pem(LineEnding::CRLF).unwrap();
    assert!(matches!(
        f.keystore.import("pkcs8", pkcs8.as_bytes()),
        Err(Error::DuplicateKey { .. })
    ));
    let (other, _) = rsa_pem_pkcs1(3072);
    let pkcs8 = other.to_pkcs8_pem(LineEnding::LF).unwrap();
    let info = f.keystore.import("pkcs8", pkcs8.as_bytes()).unwrap();
    assert_eq!(info.kind, KeyKind::Rsa3072);
    assert_eq!(
        f.keystore.secret("pkcs8", None).unwrap().rsa_private(),
        Some(&other)
    );

    let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let pem = small.to_pkcs1_pem(LineEnding::LF).unwrap();
    assert!(matches!(
        f.keystore.import("small", pem.as_bytes()),
        Err(Error::UnsupportedRsaSize { bits: 1024 })
    ));
    let public =
        rsa::pkcs8::EncodePublicKey::to_public_key_pem(&key.to_public_key(), LineEnding::LF)
            .unwrap();
    let err = f.keystore.import("pub", public.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("public key"), "{err}");
    assert!(f.keystore.import("junk", b"not a key").is_err());
    assert!(f.keystore.get("small").is_err() && f.keystore.get("junk").is_err());

    assert_not_on_disk(&f.config(), &aes, "imported AES key");
    assert_not_on_disk(
        f.dir.path(),
        key.to_pkcs8_der().unwrap().as_bytes(),
        "imported RSA key",
    );
}

#[test]
fn rotate_keeps_old_versions_and_fingerprints_find_them() {
    let f = Fixture::new();
    let v1 = f.keystore.generate("main", KeyKind::Aes256).unwrap();
    let v2 = f.keystore.rotate("main").unwrap();
    let v3 = f.keystore.rotate("main").unwrap();
    assert_eq!(v3.current_version, 3);
    assert_eq!(v3.versions.len(), 3);
    assert_ne!(v1.fingerprint, v2.fingerprint);
    assert_eq!(v3.versions[0].fingerprint, v1.fingerprint);
    let current = f.keystore.secret("main", None).unwrap();
    assert_eq!(
        (current.version(), current.fingerprint()),
        (3, v3.fingerprint.as_str())
    );
    let old = f.keystore.secret("main", Some(1)).unwrap();
    assert_eq!(old.fingerprint(), v1.fingerprint);
    let by_ref = f
        .keystore
        .secret_by_ref(&"main@v2".parse().unwrap())
        .unwrap();
    assert_eq!(by_ref.fingerprint(), v2.fingerprint);
    assert!(matches!(
        f.keystore.secret("main", Some(9)),
        Err(Error::VersionNotFound { version: 9, .. })
    ));
    assert_eq!(
        f.keystore
            .by_fingerprint(&v1.fingerprint.to_uppercase())
            .unwrap(),
        Some(("main".to_string(), 1))
    );
    assert_eq!(
        f.keystore.by_fingerprint(&v3.fingerprint).unwrap(),
        Some(("main".to_string(), 3))
    );
    assert_eq!(f.keystore.by_fingerprint(&"0".repeat(64)).unwrap(), None);

    let rsa = f.keystore.generate("rsa", KeyKind::Rsa2048).unwrap();
    let rotated = f.keystore.rotate("rsa").unwrap();
    assert_eq!(rotated.kind, KeyKind::Rsa2048);
    assert_ne!(rotated.public_key_pem, rsa.public_key_pem);
    assert_eq!(rotated.versions[0].public_key_pem, rsa.public_key_pem);
}

#[test]
fn rename_default_and_delete_rules() {
    let f = Fixture::new();
    let a = f.keystore.generate("a", KeyKind::Aes256).unwrap();
    f.keystore.rotate("a").unwrap();
    f.keystore.generate("b", KeyKind::Aes256).unwrap();
    assert!(a.default);

    let renamed = f.keystore.rename("a", "alpha").unwrap();
    assert_eq!(renamed.name, "alpha");
    assert!(renamed.default, "a rename keeps the default flag");
    assert!(f.keystore.get("a").is_err());
    assert_eq!(
        f.keystore.secret("alpha", Some(1)).unwrap().fingerprint(),
        a.fingerprint
    );
    assert_eq!(
        f.keystore
            .by_fingerprint(&a.fingerprint)
            .unwrap()
            .unwrap()
            .0,
        "alpha"
    );
    // The old accounts are gone from the secret store.
    assert!(f.keystore.store.get("key/a/v1").unwrap().is_none());
    assert!(f.keystore.store.get("key/a/v2").unwrap().is_none());
    assert!(matches!(
        f.keystore.rename("alpha", "b"),
        Err(Error::KeyExists { .. })
    ));
    assert!(matches!(
        f.keystore.rename("zzz", "y"),
        Err(Error::KeyNotFound { .. })
    ));

    f.keystore.set_default("b").unwrap();
    let defaults: Vec<_> = f
        .keystore
        .list()
        .unwrap()
        .into_iter()
        .filter(|k| k.default)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0].name, "b");
    assert!(f.keystore.set_default("nope").is_err());

    let in_use = DeleteCheck {
        in_use_by_sync: true,
        objects_only_it_opens: 0,
    };
    assert!(matches!(
        f.keystore.delete("alpha", in_use, true),
        Err(Error::KeyInUse { .. })
    ));
    let orphans = DeleteCheck {
        in_use_by_sync: false,
        objects_only_it_opens: 12,
    };
    let err = f.keystore.delete("alpha", orphans, false).unwrap_err();
    assert!(matches!(err, Error::WouldOrphanObjects { count: 12, .. }));
    assert!(err.to_string().contains("12 object"), "{err}");
    assert!(f.keystore.get("alpha").is_ok());
    f.keystore.delete("alpha", orphans, true).unwrap();
    assert!(matches!(
        f.keystore.get("alpha"),
        Err(Error::KeyNotFound { .. })
    ));
    assert!(f.keystore.store.get("key/alpha/v1").unwrap().is_none());
    assert!(f.keystore.store.get("key/alpha/v2").unwrap().is_none());
    f.keystore
        .delete("b", DeleteCheck::default(), false)
        .unwrap();
    assert!(f.keystore.list().unwrap().is_empty());
    assert!(f.keystore.default_key().unwrap().is_none());
}

#[test]
fn backup_round_trip_wrong_passphrase_and_restore_as() {
    let f = Fixture::new();
    f.keystore.generate("k", KeyKind::Rsa2048).unwrap();
    let info = f.keystore.rotate("k").unwrap();
    let before: Vec<_> = [1, 2]
        .iter()
        .map(|v| {
            f.keystore
                .secret("k", Some(*v))
                .unwrap()
                .secret
                .to_stored()
                .unwrap()
        })
        .collect();
    let backup = f.keystore.export_backup("k", "backup pass").unwrap();
    assert!(backup.starts_with(b"age-encryption.org/v1\n"));
    for secret in &before {
        for needle in encodings(secret) {
            assert!(!backup.windows(needle.len()).any(|w| w == needle.as_slice()));
        }
    }
    assert!(matches!(
        f.keystore.export_backup("k", ""),
        Err(Error::EmptyPassphrase)
    ));

    // Restore into a fresh keystore (another machine).
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_file_keystore(other_dir.path(), "other machine");
    assert!(matches!(
        other.restore_backup(&backup, "wrong pass"),
        Err(Error::WrongPassphrase)
    ));
    let err = other.restore_backup(b"hello", "x").unwrap_err();
    assert!(matches!(err, Error::NotABackup(_)), "{err}");
    let restored = other.restore_backup(&backup, "backup pass").unwrap();
    assert_eq!(restored.versions, info.versions);
    assert_eq!(restored.current_version, 2);
    assert_eq!(restored.created, info.created);
    assert!(restored.default, "first key of the other keystore");
    for (i, v) in [1u32, 2].iter().enumerate() {
        let material = other.secret("k", Some(*v)).unwrap();
        assert_eq!(material.secret.to_stored().unwrap(), before[i]);
    }

    // Same keystore: the name is taken, and under a new name the key is a duplicate.
    assert!(matches!(
        f.keystore.restore_backup(&backup, "backup pass"),
        Err(Error::KeyExists { .. })
    ));
    assert!(matches!(
        f.keystore
            .restore_backup_as(&backup, "backup pass", Some("copy")),
        Err(Error::DuplicateKey { .. })
    ));
    // After deletion it comes back, under another name if asked.
    f.keystore
        .delete("k", DeleteCheck::default(), false)
        .unwrap();
    let back = f
        .keystore
        .restore_backup_as(&backup, "backup pass", Some("k-restored"))
        .unwrap();
    assert_eq!(back.name, "k-restored");
    assert_eq!(back.fingerprint, info.fingerprint);
    assert_not_on_disk(f.dir.path(), &before[0], "RSA v1");
    assert_not_on_disk(other_dir.path(), &before[1], "RSA v2");
}

#[test]
fn tampered_backup_and_secret_mismatch_are_detected() {
    let f = Fixture::new();
    f.keystore.generate("k", KeyKind::Aes256).unwrap();
    let mut backup = f.keystore.export_backup("k", "pw").unwrap();
    let last = backup.len() - 5;
    backup[last] ^= 0x40;
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_file_keystore(other_dir.path(), "x");
    assert!(other.restore_backup(&backup, "pw").is_err());
    assert!(other.list().unwrap().is_empty());

    // A secret replaced behind the keystore's back is refused, not used.
    f.keystore.store.set("key/k/v1", &[1u8; 32]).unwrap();
    assert!(matches!(
        f.keystore.secret("k", None),
        Err(Error::SecretMismatch { .. })
    ));
    f.keystore.store.delete("key/k/v1").unwrap();
    assert!(matches!(
        f.keystore.secret("k", None),
        Err(Error::SecretMissing { .. })
    ));
}

#[test]
fn credentials() {
    let f = Fixture::new();
    let secret = "LTAI-secret-0123456789abcdefXYZ";
    assert!(matches!(
        f.keystore.credential("prod"),
        Err(Error::CredentialNotFound { .. })
    ));
    f.keystore.set_credential("prod", secret).unwrap();
    assert_eq!(f.keystore.credential("prod").unwrap().expose(), secret);
    f.keystore.set_credential("prod", "replaced").unwrap();
    assert_eq!(f.keystore.credential("prod").unwrap().expose(), "replaced");
    assert!(f.keystore.delete_credential("prod").unwrap());
    assert!(!f.keystore.delete_credential("prod").unwrap());
    assert!(f.keystore.set_credential("../x", "s").is_err());
    assert_not_on_disk(f.dir.path(), secret.as_bytes(), "credential");
}

#[test]
fn metadata_survives_reopen_and_file_backend_needs_its_passphrase() {
    let f = Fixture::new();
    let info = f.keystore.generate("k", KeyKind::Aes256).unwrap();
    let Fixture { dir, keystore } = f;
    drop(keystore);
    let f = Fixture {
        keystore: open_file_keystore(dir.path(), "test passphrase"),
        dir,
    };
    let again = &f.keystore;
    assert_eq!(again.get("k").unwrap(), info);
    assert_eq!(
        again.secret("k", None).unwrap().fingerprint(),
        info.fingerprint
    );
    let err = Keystore::open(
        f.config(),
        Backend::PassphraseFile {
            path: f.dir.path().join("secrets.ossvault"),
            passphrase: Zeroizing::new("nope".into()),
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase), "{err}");
    let json = std::fs::read_to_string(f.config().join(METADATA_FILE)).unwrap();
    for field in [
        "\"name\"",
        "\"kind\"",
        "\"fingerprint\"",
        "\"created\"",
        "\"default\"",
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.config()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn public_backend_with_default_kdf_works() {
    // The public constructor with the real Argon2id parameters (64 MiB, 3 passes).
    let dir = tempfile::tempdir().unwrap();
    let backend = || Backend::PassphraseFile {
        path: dir.path().join("keys.ossvault"),
        passphrase: Zeroizing::new("a long passphrase".into()),
    };
    let keystore = Keystore::open(dir.path().join("config"), backend()).unwrap();
    keystore.generate("k", KeyKind::Aes256).unwrap();
    assert!(format!("{:?}", backend()).contains("<redacted>"));
    let reopened = Keystore::open(dir.path().join("config"), backend()).unwrap();
    assert!(reopened.secret("k", None).is_ok());
}

#[test]
fn keystore_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Keystore>();
    assert_send_sync::<KeyMaterial>();
}

#[test]
fn an_export_is_recorded_until_the_next_rotation_and_a_restored_key_counts_as_backed_up() {
    let f = Fixture::new();
    let key = f.keystore.generate("k", KeyKind::Aes256).unwrap();
    assert!(!key.backed_up());
    let backup = f.keystore.export_backup("k", "pw").unwrap();
    // Making the bytes is not a backup: the caller records it once they are written.
    assert!(!f.keystore.get("k").unwrap().backed_up());
    let recorded = f.keystore.record_export("k").unwrap();
    assert!(recorded.backed_up());
    assert_eq!(recorded.last_export.unwrap().version, 1);
    // Kept in the metadata file, read back by another keystore.
    let again = open_file_keystore(f.dir.path(), "test passphrase");
    assert!(again.get("k").unwrap().backed_up());
    // A rotation adds a version no backup holds.
    f.keystore.rotate("k").unwrap();
    assert!(!f.keystore.get("k").unwrap().backed_up());
    assert!(f.keystore.record_export("nope").is_err());

    let other = tempfile::tempdir().unwrap();
    let other = open_file_keystore(other.path(), "other");
    assert!(other.restore_backup(&backup, "pw").unwrap().backed_up());
}

#[test]
fn a_rename_takes_every_metadata_field_along_and_refuses_bad_names() {
    let f = Fixture::new();
    f.keystore.generate("a", KeyKind::Aes256).unwrap();
    f.keystore.rotate("a").unwrap();
    f.keystore.record_export("a").unwrap();
    let before = f.keystore.get("a").unwrap();
    let renamed = f.keystore.rename("a", "team.main-2").unwrap();
    assert_eq!(
        KeyInfo {
            name: "a".into(),
            ..renamed.clone()
        },
        before,
        "only the name changes"
    );
    assert_eq!(f.keystore.get("team.main-2").unwrap(), renamed);
    assert!(renamed.backed_up() && renamed.default);

    for bad in ["", "-x", "a/b", "a@v1", "sp ace"] {
        assert!(
            matches!(
                f.keystore.rename("team.main-2", bad),
                Err(Error::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        f.keystore.rename("team.main-2", "team.main-2"),
        Err(Error::KeyExists { .. })
    ));
    assert!(matches!(
        f.keystore.rename("a", "b"),
        Err(Error::KeyNotFound { .. })
    ));
    // Nothing changed by the refusals.
    assert_eq!(f.keystore.list().unwrap(), vec![renamed]);
}

/// A secret store that fails every write after the first `budget` ones, or (with `garble`)
/// stores something else than it is given: the rename's crash points, one function's test.
struct Faulty {
    inner: FileStore,
    budget: std::sync::atomic::AtomicI64,
    garble: bool,
}

impl Faulty {
    fn spend(&self, account: &str) -> Result<()> {
        if self
            .budget
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            <= 0
        {
            return Err(Error::Keychain {
                account: account.into(),
                detail: "injected failure".into(),
            });
        }
        Ok(())
    }
}

impl SecretStore for Faulty {
    fn get(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.inner.get(account)
    }
    fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
        self.spend(account)?;
        if self.garble {
            return self.inner.set(account, b"not the secret");
        }
        self.inner.set(account, secret)
    }
    fn delete(&self, account: &str) -> Result<bool> {
        self.spend(account)?;
        self.inner.delete(account)
    }
    fn probe(&self) -> Result<()> {
        self.inner.probe()
    }
}

#[test]
fn a_rename_stopped_at_any_write_leaves_a_complete_key() {
    // Writes of a rename of a 3-version key: 3 copies, then 3 deletions of the old items. A
    // failed write is where a crash would stop it (the metadata is written between the two).
    let cases = (0..=6).map(|budget| (budget, false)).chain([(100, true)]);
    for (budget, garble) in cases {
        let root = tempfile::tempdir().unwrap();
        let setup = open_file_keystore(root.path(), "pw");
        setup.generate("old", KeyKind::Aes256).unwrap();
        setup.rotate("old").unwrap();
        let info = setup.rotate("old").unwrap();
        drop(setup);

        let store = FileStore::open(
            &root.path().join("secrets.ossvault"),
            Zeroizing::new("pw".to_owned()),
            TEST_PARAMS,
        )
        .unwrap();
        let faulty = Faulty {
            inner: store,
            budget: budget.into(),
            garble,
        };
        let keystore = Keystore::with_store(&root.path().join("config"), Box::new(faulty)).unwrap();
        let result = keystore.rename("old", "new");
        // Copies that fail (or read back wrong) fail the rename; failing deletions do not.
        assert_eq!(
            result.is_ok(),
            budget >= 3 && !garble,
            "budget {budget}, garble {garble}: {result:?}"
        );
        drop(keystore);

        // What another process (or the next start) finds: one key, every version's secret
        // under the name the metadata gives, each found by its fingerprint.
        let after = open_file_keystore(root.path(), "pw");
        let keys = after.list().unwrap();
        assert_eq!(keys.len(), 1, "budget {budget}");
        let name = if budget >= 3 && !garble { "new" } else { "old" };
        assert_eq!(keys[0].name, name, "budget {budget}, garble {garble}");
        assert_eq!(keys[0].versions, info.versions);
        for v in &info.versions {
            assert_eq!(
                after.by_fingerprint(&v.fingerprint).unwrap(),
                Some((name.to_owned(), v.version))
            );
            assert_eq!(
                after.secret(name, Some(v.version)).unwrap().fingerprint(),
                v.fingerprint
            );
        }
        if budget == 6 {
            for v in 1..=3 {
                assert!(after.store.get(&key_account("old", v)).unwrap().is_none());
            }
        }
    }
}

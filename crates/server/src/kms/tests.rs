//! The local KMS against a real store: states, the deletion window (with a test clock),
//! BYOK, the default key, persistence across a reload, and the SSE seam.

use super::*;
use rsa::pkcs8::DecodePublicKey;
use std::cell::Cell;

const DAY: u64 = 24 * 3600 * 1000;

thread_local! {
    /// The test clock: each test thread has its own.
    static NOW: Cell<u64> = const { Cell::new(1_700_000_000_000) };
}

fn clock() -> u64 {
    NOW.with(Cell::get)
}

fn advance(ms: u64) {
    NOW.with(|n| n.set(n.get() + ms));
}

fn root(byte: u8) -> RootSecret {
    RootSecret::from_bytes([byte; 32])
}

fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn load(store: &Store) -> LocalKms {
    LocalKms::load_with_clock(store, &root(1), "cn-hangzhou", "acct", clock).unwrap()
}

fn state(kms: &LocalKms, id: &str) -> KeyState {
    kms.describe_key(id).unwrap().state
}

#[test]
fn created_keys_encrypt_and_their_states_gate_decryption() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    let r = kms.create_key("mine", Origin::Kms, "acct").unwrap();
    assert_eq!(r.state, KeyState::Enabled);
    assert_eq!(r.description, "mine");
    assert_eq!(
        kms.arn(&r.id),
        format!("acs:kms:cn-hangzhou:acct:key/{}", r.id)
    );

    let (key, blob, id) = kms
        .generate_data_key(Some(&r.id), Cipher::Aes256Gcm)
        .unwrap();
    assert_eq!(id, r.id);
    assert_eq!(kms.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());
    // An ARN names the key as well.
    let (_, _, by_arn) = kms
        .generate_data_key(Some(&kms.arn(&r.id)), Cipher::Aes256Gcm)
        .unwrap();
    // SM4 data encryption: a 128-bit data key, which unwraps as an SM4 key.
    let (sm4, sm4_blob, _) = kms.generate_data_key(Some(&r.id), Cipher::Sm4Gcm).unwrap();
    let opened = kms.decrypt_data_key(&sm4_blob).unwrap();
    assert_eq!(
        (opened.cipher(), opened.bytes()),
        (Cipher::Sm4Gcm, sm4.bytes())
    );
    assert_eq!(sm4.bytes().len(), 16);
    assert_eq!(by_arn, r.id);

    kms.disable_key(&r.id).unwrap();
    assert_eq!(state(&kms, &r.id), KeyState::Disabled);
    assert!(matches!(kms.decrypt_data_key(&blob), Err(KmsError::Disabled(k)) if k == r.id));
    assert!(matches!(
        kms.generate_data_key(Some(&r.id), Cipher::Aes256Gcm),
        Err(KmsError::Disabled(_))
    ));
    kms.disable_key(&r.id).unwrap(); // idempotent
    kms.enable_key(&r.id).unwrap();
    assert_eq!(kms.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());

    kms.schedule_key_deletion(&r.id, 7).unwrap();
    let pending = kms.describe_key(&r.id).unwrap();
    assert_eq!(pending.state, KeyState::PendingDeletion);
    assert_eq!(pending.delete_ms, Some(clock() + 7 * DAY));
    assert!(matches!(
        kms.decrypt_data_key(&blob),
        Err(KmsError::PendingDeletion(_))
    ));
    assert!(matches!(
        kms.enable_key(&r.id),
        Err(OpError::UnexpectedState(_))
    ));
    assert!(matches!(
        kms.schedule_key_deletion(&r.id, 7),
        Err(OpError::UnexpectedState(_))
    ));
    kms.cancel_key_deletion(&r.id).unwrap();
    let back = kms.describe_key(&r.id).unwrap();
    assert_eq!((back.state, back.delete_ms), (KeyState::Enabled, None));
    assert!(matches!(
        kms.cancel_key_deletion(&r.id),
        Err(OpError::UnexpectedState(_))
    ));
    assert_eq!(kms.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());

    // A disabled key scheduled for deletion and cancelled is disabled again.
    kms.disable_key(&r.id).unwrap();
    kms.schedule_key_deletion(&r.id, 30).unwrap();
    kms.cancel_key_deletion(&r.id).unwrap();
    assert_eq!(state(&kms, &r.id), KeyState::Disabled);

    for days in [0, 6, 367] {
        assert!(matches!(
            kms.schedule_key_deletion(&r.id, days),
            Err(OpError::InvalidParameter(_))
        ));
    }
    assert!(matches!(
        kms.describe_key("no-such-key"),
        Err(OpError::Key(KmsError::NotFound(_)))
    ));
}

#[test]
fn a_key_is_gone_when_its_pending_window_ends() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    let r = kms.create_key("", Origin::Kms, "acct").unwrap();
    let keep = kms.create_key("keep", Origin::Kms, "acct").unwrap();
    let (_, blob, _) = kms
        .generate_data_key(Some(&r.id), Cipher::Aes256Gcm)
        .unwrap();
    kms.schedule_key_deletion(&r.id, 7).unwrap();
    advance(7 * DAY - 1);
    assert!(matches!(
        kms.decrypt_data_key(&blob),
        Err(KmsError::PendingDeletion(_))
    ));
    advance(1);
    // Treated as deleted at once, before any purge.
    assert!(matches!(
        kms.decrypt_data_key(&blob),
        Err(KmsError::NotFound(_))
    ));
    assert!(matches!(
        kms.describe_key(&r.id),
        Err(OpError::Key(KmsError::NotFound(_)))
    ));
    assert!(matches!(
        kms.cancel_key_deletion(&r.id),
        Err(OpError::Key(KmsError::NotFound(_)))
    ));
    let ids: Vec<String> = kms.list_keys().into_iter().map(|k| k.id).collect();
    assert_eq!(ids, [keep.id.as_str()]);
    // The purge removes the record, material included.
    assert!(store
        .setting(&format!("{}{}", records::PREFIX, r.id))
        .unwrap()
        .is_some());
    assert_eq!(kms.purge_expired().unwrap(), 1);
    assert!(store
        .setting(&format!("{}{}", records::PREFIX, r.id))
        .unwrap()
        .is_none());
    assert_eq!(kms.purge_expired().unwrap(), 0);
    assert_eq!(state(&kms, &keep.id), KeyState::Enabled);
}

#[test]
fn the_default_key_is_made_once_and_is_service_managed() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    assert!(kms.list_keys().is_empty());
    let (key, blob, id) = kms.generate_data_key(None, Cipher::Aes256Gcm).unwrap();
    let (_, _, again) = kms.generate_data_key(None, Cipher::Aes256Gcm).unwrap();
    assert_eq!(id, again);
    assert_eq!(kms.default_key_id().unwrap(), id);
    let r = kms.describe_key(&id).unwrap();
    assert_eq!(r.description, "Default master key for OSS in cn-hangzhou");
    assert_eq!(r.creator, "Oss");
    assert_eq!(r.default_for_region.as_deref(), Some("cn-hangzhou"));
    assert!(matches!(
        kms.disable_key(&id),
        Err(OpError::ServiceManaged(_))
    ));
    assert!(matches!(
        kms.schedule_key_deletion(&id, 7),
        Err(OpError::ServiceManaged(_))
    ));
    assert_eq!(kms.list_keys().len(), 1);

    // Persisted: a reload finds the same default key and opens its data keys.
    drop(kms);
    let kms = load(&store);
    assert_eq!(kms.default_key_id().unwrap(), id);
    assert_eq!(kms.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());
    // Another region gets its own default key; the old one still decrypts.
    let other = LocalKms::load_with_clock(&store, &root(1), "cn-beijing", "acct", clock).unwrap();
    assert_ne!(other.default_key_id().unwrap(), id);
    assert_eq!(other.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());
}

#[test]
fn state_and_material_survive_a_reload_and_need_the_root_secret() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    let a = kms.create_key("a", Origin::Kms, "acct").unwrap();
    let b = kms.create_key("b", Origin::Kms, "acct").unwrap();
    let (key, blob, _) = kms
        .generate_data_key(Some(&a.id), Cipher::Aes256Gcm)
        .unwrap();
    kms.disable_key(&b.id).unwrap();
    drop(kms);

    let kms = load(&store);
    assert_eq!(state(&kms, &a.id), KeyState::Enabled);
    assert_eq!(state(&kms, &b.id), KeyState::Disabled);
    assert_eq!(kms.decrypt_data_key(&blob).unwrap().bytes(), key.bytes());
    // The stored material is wrapped: the raw record does not contain a usable key, and
    // another root secret cannot load it.
    let raw = store
        .setting(&format!("{}{}", records::PREFIX, a.id))
        .unwrap()
        .unwrap();
    let record: CmkRecord = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        record.wrapped_material.as_ref().unwrap().len(),
        12 + 32 + 16
    );
    assert!(matches!(
        LocalKms::load_with_clock(&store, &root(2), "cn-hangzhou", "acct", clock),
        Err(crate::sse::KeyError::Unwrap)
    ));
}

#[test]
fn encrypt_and_decrypt_with_an_encryption_context() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    let r = kms.create_key("", Origin::Kms, "acct").unwrap();
    let ctx = blob::canonical_context(Some(r#"{"purpose":"test"}"#)).unwrap();
    let sealed = kms.encrypt(Some(&r.id), b"hello kms", &ctx).unwrap();
    assert_eq!(sealed.key_id, r.id);
    assert_eq!(Some(sealed.key_version_id.clone()), r.key_version_id);
    let opened = kms.decrypt(&sealed.blob, &ctx).unwrap();
    assert_eq!(opened.plaintext.as_slice(), b"hello kms");
    assert_eq!(opened.key_id, r.id);
    assert!(matches!(
        kms.decrypt(&sealed.blob, b""),
        Err(KmsError::InvalidCiphertext(_))
    ));
    // Not a data key: SSE refuses it.
    let plain = kms.encrypt(Some(&r.id), b"short", &[]).unwrap();
    assert!(matches!(
        kms.decrypt_data_key(&plain.blob),
        Err(KmsError::InvalidCiphertext(_))
    ));
    assert!(matches!(
        kms.decrypt(b"garbage", b""),
        Err(KmsError::InvalidCiphertext(_))
    ));
}

#[test]
fn byok_keys_wait_for_their_material() {
    let (_dir, store) = open_store();
    let kms = load(&store);
    let r = kms.create_key("byok", Origin::External, "acct").unwrap();
    assert_eq!(r.state, KeyState::PendingImport);
    assert!(r.wrapped_material.is_none());
    assert!(matches!(
        kms.generate_data_key(Some(&r.id), Cipher::Aes256Gcm),
        Err(KmsError::PendingImport(_))
    ));
    assert!(matches!(
        kms.enable_key(&r.id),
        Err(OpError::UnexpectedState(_))
    ));

    let (id, params) = kms.get_parameters_for_import(&r.id).unwrap();
    assert_eq!(id, r.id);
    let material = [0x42u8; 32];
    let public = rsa::RsaPublicKey::from_public_key_der(&params.public_key_der).unwrap();
    let encrypted = public
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha2::Sha256>(),
            &material,
        )
        .unwrap();
    let other = kms.create_key("", Origin::External, "acct").unwrap();
    assert!(matches!(
        kms.import_key_material(&other.id, &params.token, &encrypted),
        Err(OpError::Import(import::ImportError::OtherKey))
    ));
    let imported = kms
        .import_key_material(&r.id, &params.token, &encrypted)
        .unwrap();
    assert_eq!(imported.state, KeyState::Enabled);
    // The token is spent, and an enabled key takes no more material.
    assert!(matches!(
        kms.import_key_material(&r.id, &params.token, &encrypted),
        Err(OpError::UnexpectedState(_))
    ));
    assert!(matches!(
        kms.get_parameters_for_import(&r.id),
        Err(OpError::UnexpectedState(_))
    ));
    let own = kms.create_key("", Origin::Kms, "acct").unwrap();
    assert!(matches!(
        kms.get_parameters_for_import(&own.id),
        Err(OpError::UnexpectedState(_))
    ));

    // The imported material is what seals: an independent AES-256-GCM opens the blob with it.
    let sealed = kms.encrypt(Some(&r.id), b"byok", &[]).unwrap();
    let (_, header_len) = blob::Header::parse(&sealed.blob).unwrap();
    let cipher = cipher_of(&material).unwrap();
    assert_eq!(
        blob::open(&cipher, &sealed.blob, header_len, &[])
            .unwrap()
            .as_slice(),
        b"byok"
    );
    // And it survives a reload.
    drop(kms);
    let kms = load(&store);
    assert_eq!(
        kms.decrypt(&sealed.blob, &[]).unwrap().plaintext.as_slice(),
        b"byok"
    );
}

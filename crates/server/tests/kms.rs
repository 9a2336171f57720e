//! The local KMS end to end: the real server on 127.0.0.1 with a root secret, driven by
//! `ossvault_client` (which signs KMS calls with V4 and a signed body hash, whatever its
//! configured version) and by hand-signed requests: key management and states, cryptography,
//! BYOK, SSE-KMS objects under named and default keys, what a disabled or deleted key does to
//! them, and the signing schemes the KMS API refuses.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ossvault_client::{
    Client, ClientConfig, CreateKeyOptions, Credentials, Error, PutOptions, RangeSpec, RequestBody,
    SignVersion,
};
use ossvault_proto::xml::{ApplyServerSideEncryptionByDefault, ServerSideEncryptionRule};
use ossvault_server::{Config, Credential, RootSecret, RunningServer};
use rsa::pkcs8::DecodePublicKey;
use std::collections::BTreeMap;
use std::path::Path;

const AK: &str = "kms-test-ak";
const SK: &str = "kms-test-secret";
const SSE: &str = "x-oss-server-side-encryption";
const SSE_KEY_ID: &str = "x-oss-server-side-encryption-key-id";

struct TestServer {
    server: RunningServer,
    dir: tempfile::TempDir,
}

async fn start_on(data: &Path, root_secret: Option<[u8; 32]>) -> RunningServer {
    let credentials = vec![Credential {
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
    }];
    let mut config = Config::new(
        data.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        credentials,
    );
    config.root_secret = root_secret.map(RootSecret::from_bytes);
    ossvault_server::start(config).await.unwrap()
}

impl TestServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start_on(&dir.path().join("data"), Some([9; 32])).await;
        TestServer { server, dir }
    }

    fn client_as(&self, version: SignVersion, secret: &str) -> Client {
        let creds = Credentials {
            access_key_id: AK.into(),
            access_key_secret: secret.into(),
        };
        let mut config = ClientConfig::new(self.server.endpoint(), "cn-hangzhou", creds);
        config.sign_version = version;
        config.retry.max_attempts = 1;
        Client::new(config).unwrap()
    }

    fn client(&self) -> Client {
        self.client_as(SignVersion::V4, SK)
    }
}

fn code(e: &Error) -> (u16, &str) {
    match e {
        Error::Service(s) => (s.status, s.code.as_str()),
        other => panic!("not a service error: {other}"),
    }
}

fn message(e: &Error) -> &str {
    match e {
        Error::Service(s) => &s.message,
        other => panic!("not a service error: {other}"),
    }
}

fn kms_put(key_id: Option<&str>) -> PutOptions {
    let mut headers = vec![(SSE.to_owned(), "KMS".to_owned())];
    if let Some(id) = key_id {
        headers.push((SSE_KEY_ID.to_owned(), id.to_owned()));
    }
    PutOptions {
        headers,
        ..Default::default()
    }
}

fn kms_rule(key_id: Option<&str>) -> ServerSideEncryptionRule {
    ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
            sse_algorithm: "KMS".into(),
            kms_master_key_id: key_id.map(str::to_owned),
            kms_data_encryption: None,
        },
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn get(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    client
        .download(bucket, key, None, &mut out, None, |_| {})
        .await?;
    Ok(out)
}

#[tokio::test]
async fn key_management_and_states() {
    let t = TestServer::start().await;
    let c = t.client();
    let created = c
        .create_key(&CreateKeyOptions {
            description: Some("test key".into()),
            external: false,
        })
        .await
        .unwrap();
    assert_eq!(created.key_state, "Enabled");
    assert_eq!(created.description, "test key");
    assert_eq!(created.origin, "Aliyun_KMS");
    assert_eq!(created.key_spec, "Aliyun_AES_256");
    assert_eq!(created.key_usage, "ENCRYPT/DECRYPT");
    assert_eq!(created.creator, AK);
    assert_eq!(created.key_id.len(), 36, "UUID-shaped: {}", created.key_id);
    assert_eq!(
        created.arn,
        format!("acs:kms:cn-hangzhou:{AK}:key/{}", created.key_id)
    );
    assert!(created.creation_date.ends_with('Z'));
    assert_eq!(created.delete_date, None);
    let id = created.key_id.clone();

    let described = c.describe_key(&id).await.unwrap();
    assert_eq!(described, created);

    // ListKeys pages, oldest first.
    let mut ids = vec![id.clone()];
    for i in 0..4 {
        let k = c
            .create_key(&CreateKeyOptions {
                description: Some(format!("k{i}")),
                external: false,
            })
            .await
            .unwrap();
        ids.push(k.key_id);
    }
    let page = c.list_keys(1, 2).await.unwrap();
    assert_eq!(
        (page.total_count, page.page_number, page.page_size),
        (5, 1, 2)
    );
    assert_eq!(page.keys.len(), 2);
    assert_eq!(page.keys[0].key_id, ids[0]);
    assert_eq!(page.keys[0].key_arn, created.arn);
    let last = c.list_keys(3, 2).await.unwrap();
    assert_eq!(last.keys.len(), 1);
    let all: Vec<String> = c
        .all_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(all, ids);

    c.disable_key(&id).await.unwrap();
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Disabled");
    c.enable_key(&id).await.unwrap();
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Enabled");

    c.schedule_key_deletion(&id, 7).await.unwrap();
    let pending = c.describe_key(&id).await.unwrap();
    assert_eq!(pending.key_state, "PendingDeletion");
    assert!(pending.delete_date.is_some());
    let e = c.enable_key(&id).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.UnexpectedKeyState"));
    c.cancel_key_deletion(&id).await.unwrap();
    let back = c.describe_key(&id).await.unwrap();
    assert_eq!(
        (back.key_state.as_str(), back.delete_date),
        ("Enabled", None)
    );

    let e = c.schedule_key_deletion(&id, 3).await.unwrap_err();
    assert_eq!(code(&e), (400, "InvalidParameter"));
    let e = c.describe_key("no-such-key").await.unwrap_err();
    assert_eq!(code(&e), (404, "Forbidden.KeyNotFound"));
    let e = c.cancel_key_deletion(&id).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.UnexpectedKeyState"));

    // A client configured for V1 signs its KMS calls with V4 all the same.
    let v1 = t.client_as(SignVersion::V1, SK);
    assert_eq!(v1.describe_key(&id).await.unwrap().key_id, id);
    t.server.shutdown().await;
}

#[tokio::test]
async fn generate_encrypt_decrypt() {
    let t = TestServer::start().await;
    let c = t.client();
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;

    let dk = c.generate_data_key(Some(&id), None, None).await.unwrap();
    assert_eq!(dk.key_id, id);
    assert_eq!(dk.plaintext.len(), 32);
    let opened = c.decrypt(&dk.ciphertext_blob, None).await.unwrap();
    assert_eq!(opened.key_id, id);
    assert_eq!(opened.plaintext.as_slice(), dk.plaintext.as_slice());
    let short = c
        .generate_data_key(Some(&id), Some(16), None)
        .await
        .unwrap();
    assert_eq!(short.plaintext.len(), 16);

    let mut context = BTreeMap::new();
    context.insert("bucket".to_owned(), "photos".to_owned());
    let secret = b"a database password \x00\xff with binary".to_vec();
    let sealed = c.encrypt(&id, &secret, Some(&context)).await.unwrap();
    assert_eq!(sealed.key_id, id);
    assert_eq!(sealed.key_version_id, dk.key_version_id);
    let opened = c
        .decrypt(&sealed.ciphertext_blob, Some(&context))
        .await
        .unwrap();
    assert_eq!(opened.plaintext.as_slice(), secret.as_slice());
    let e = c.decrypt(&sealed.ciphertext_blob, None).await.unwrap_err();
    assert_eq!(code(&e), (400, "InvalidParameter.CiphertextBlob"));
    let e = c.decrypt("bm90IGEgYmxvYg==", None).await.unwrap_err();
    assert_eq!(code(&e), (400, "InvalidParameter.CiphertextBlob"));

    // A disabled key neither encrypts nor decrypts, with a clear code; enabled again, it does.
    c.disable_key(&id).await.unwrap();
    let e = c.decrypt(&dk.ciphertext_blob, None).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.Disabled"));
    assert!(message(&e).contains(&id), "{}", message(&e));
    let e = c.encrypt(&id, b"x", None).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.Disabled"));
    c.enable_key(&id).await.unwrap();
    c.decrypt(&dk.ciphertext_blob, None).await.unwrap();
    c.schedule_key_deletion(&id, 30).await.unwrap();
    let e = c.decrypt(&dk.ciphertext_blob, None).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.PendingDeletion"));

    // GenerateDataKey without a key id uses the default CMK.
    let default = c.generate_data_key(None, None, None).await.unwrap();
    let meta = c.describe_key(&default.key_id).await.unwrap();
    assert_eq!(
        meta.description,
        "Default master key for OSS in cn-hangzhou"
    );
    let e = c.disable_key(&default.key_id).await.unwrap_err();
    assert_eq!(code(&e), (403, "Forbidden.ServiceManagedKey"));
    t.server.shutdown().await;
}

#[tokio::test]
async fn byok_import_then_use() {
    let t = TestServer::start().await;
    let c = t.client();
    c.create_bucket("byok", None).await.unwrap();
    let key = c
        .create_key(&CreateKeyOptions {
            description: Some("imported".into()),
            external: true,
        })
        .await
        .unwrap();
    assert_eq!(
        (key.key_state.as_str(), key.origin.as_str()),
        ("PendingImport", "EXTERNAL")
    );
    let id = key.key_id;
    let e = c.encrypt(&id, b"x", None).await.unwrap_err();
    assert_eq!(code(&e), (403, "Rejected.UnexpectedKeyState"));
    let e = c
        .put_object(
            "byok",
            "early",
            RequestBody::Bytes(b"x".to_vec().into()),
            &kms_put(Some(&id)),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), (403, "KmsServiceNotEnabled"));

    let params = c.get_parameters_for_import(&id).await.unwrap();
    assert_eq!(params.key_id, id);
    assert!(params.token_expire_time.ends_with('Z'));
    // Wrap 32 random bytes with the returned public key, independently of the client's helper.
    let material: [u8; 32] = rand::random();
    let public =
        rsa::RsaPublicKey::from_public_key_der(&BASE64.decode(&params.public_key).unwrap())
            .unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&public), 256, "RSA-2048");
    let wrapped = public
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha2::Sha256>(),
            &material,
        )
        .unwrap();
    let e = c
        .import_key_material(&id, "bogus-token", &BASE64.encode(&wrapped))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "InvalidParameter.ImportToken"));
    let e = c
        .import_key_material(&id, &params.import_token, &BASE64.encode(&wrapped[1..]))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "InvalidParameter.EncryptedKeyMaterial"));
    c.import_key_material(&id, &params.import_token, &BASE64.encode(&wrapped))
        .await
        .unwrap();
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Enabled");

    let sealed = c.encrypt(&id, b"byok secret", None).await.unwrap();
    let opened = c.decrypt(&sealed.ciphertext_blob, None).await.unwrap();
    assert_eq!(opened.plaintext.as_slice(), b"byok secret");

    // The blob is sealed with the imported material itself (CiphertextBlob format v1):
    // version, id length, id, material version, nonce, ciphertext ‖ tag.
    let blob = BASE64.decode(&sealed.ciphertext_blob).unwrap();
    let n = blob[1] as usize;
    let header = &blob[..2 + n + 4];
    assert_eq!(&blob[2..2 + n], id.as_bytes());
    let mut aad = b"ossvault kms blob\0".to_vec();
    aad.extend_from_slice(header);
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let gcm = aes_gcm::Aes256Gcm::new_from_slice(&material).unwrap();
    let nonce = &blob[2 + n + 4..2 + n + 16];
    let plain = gcm
        .decrypt(
            nonce.into(),
            Payload {
                msg: &blob[2 + n + 16..],
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(plain, b"byok secret");

    // An SSE-KMS object under the imported key.
    let content = data(200_000, 3);
    let put = c
        .put_object(
            "byok",
            "obj",
            RequestBody::Bytes(content.clone().into()),
            &kms_put(Some(&id)),
        )
        .await
        .unwrap();
    assert_eq!(put.sse_key_id.as_deref(), Some(id.as_str()));
    assert_eq!(get(&c, "byok", "obj").await.unwrap(), content);

    // The client's own helper does the whole import too.
    let other = c
        .create_key(&CreateKeyOptions {
            description: None,
            external: true,
        })
        .await
        .unwrap();
    c.import_raw_key_material(&other.key_id, &rand::random::<[u8; 32]>())
        .await
        .unwrap();
    assert_eq!(
        c.describe_key(&other.key_id).await.unwrap().key_state,
        "Enabled"
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn sse_kms_objects_follow_their_key_state() {
    let t = TestServer::start().await;
    let c = t.client();
    c.create_bucket("kms-objects", None).await.unwrap();
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;
    let content = data(150_000, 7);
    let put = c
        .put_object(
            "kms-objects",
            "named",
            RequestBody::Bytes(content.clone().into()),
            &kms_put(Some(&id)),
        )
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption.as_deref(), Some("KMS"));
    assert_eq!(put.sse_key_id.as_deref(), Some(id.as_str()));
    assert_eq!(get(&c, "kms-objects", "named").await.unwrap(), content);
    let (meta, body) = c
        .get_object(
            "kms-objects",
            "named",
            Some(RangeSpec::From {
                start: 65_530,
                end: Some(131_080),
            }),
        )
        .await
        .unwrap();
    assert_eq!(meta.header(SSE), Some("KMS"));
    assert_eq!(meta.header(SSE_KEY_ID), Some(id.as_str()));
    assert_eq!(
        body.bytes().await.unwrap().as_ref(),
        &content[65_530..=131_080]
    );

    c.disable_key(&id).await.unwrap();
    let e = get(&c, "kms-objects", "named").await.unwrap_err();
    assert_eq!(code(&e), (403, "KmsServiceNotEnabled"));
    assert!(
        message(&e).contains(&id) && message(&e).contains("disabled"),
        "{}",
        message(&e)
    );
    // The metadata stays readable.
    let head = c.head_object("kms-objects", "named").await.unwrap();
    assert_eq!(head.header(SSE_KEY_ID), Some(id.as_str()));
    assert_eq!(head.size, content.len() as u64);
    // New objects cannot use it either.
    let e = c
        .put_object(
            "kms-objects",
            "new",
            RequestBody::Bytes(b"x".to_vec().into()),
            &kms_put(Some(&id)),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), (403, "KmsServiceNotEnabled"));

    c.enable_key(&id).await.unwrap();
    assert_eq!(get(&c, "kms-objects", "named").await.unwrap(), content);

    c.schedule_key_deletion(&id, 7).await.unwrap();
    let e = get(&c, "kms-objects", "named").await.unwrap_err();
    assert_eq!(code(&e), (403, "KmsServiceNotEnabled"));
    assert!(message(&e).contains("pending deletion"), "{}", message(&e));
    c.cancel_key_deletion(&id).await.unwrap();
    assert_eq!(get(&c, "kms-objects", "named").await.unwrap(), content);

    // An unknown key id is refused on write.
    let e = c
        .put_object(
            "kms-objects",
            "bad",
            RequestBody::Bytes(b"x".to_vec().into()),
            &kms_put(Some("no-such-key")),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), (404, "KmsKeyNotFound"));
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_default_cmk_multipart_and_bucket_rules() {
    let t = TestServer::start().await;
    let c = t.client();
    c.create_bucket("kms-default", None).await.unwrap();
    let put = c
        .put_object(
            "kms-default",
            "default",
            RequestBody::Bytes(b"default key".to_vec().into()),
            &kms_put(None),
        )
        .await
        .unwrap();
    let default_id = put
        .sse_key_id
        .clone()
        .expect("key id always present for KMS");
    let meta = c.describe_key(&default_id).await.unwrap();
    assert_eq!(
        meta.description,
        "Default master key for OSS in cn-hangzhou"
    );
    assert_eq!(meta.creator, "Oss");
    // The same default key every time.
    let again = c
        .put_object(
            "kms-default",
            "again",
            RequestBody::Bytes(b"x".to_vec().into()),
            &kms_put(None),
        )
        .await
        .unwrap();
    assert_eq!(again.sse_key_id, Some(default_id.clone()));
    let head = c.head_object("kms-default", "default").await.unwrap();
    assert_eq!(head.header(SSE), Some("KMS"));
    assert_eq!(head.header(SSE_KEY_ID), Some(default_id.as_str()));
    assert_eq!(
        get(&c, "kms-default", "default").await.unwrap(),
        b"default key"
    );

    // Multipart under a named CMK: chosen at Initiate.
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;
    let upload = c
        .initiate_multipart("kms-default", "multi", &kms_put(Some(&id)))
        .await
        .unwrap();
    let parts_data = [data(120 * 1024, 1), data(70_000, 2)];
    let mut parts = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        parts.push(
            c.upload_part(
                "kms-default",
                "multi",
                &upload,
                i as u32 + 1,
                RequestBody::Bytes(d.clone().into()),
            )
            .await
            .unwrap(),
        );
    }
    c.complete_multipart("kms-default", "multi", &upload, &parts)
        .await
        .unwrap();
    let head = c.head_object("kms-default", "multi").await.unwrap();
    assert_eq!(head.header(SSE_KEY_ID), Some(id.as_str()));
    assert_eq!(
        get(&c, "kms-default", "multi").await.unwrap(),
        parts_data.concat()
    );

    // Bucket default rule: a KMS key id that names no key is kept (as OSS does), and the
    // writes it governs fail until the key exists.
    c.set_bucket_encryption("kms-default", &kms_rule(Some("no-such-key")))
        .await
        .unwrap();
    let e = c
        .put_object(
            "kms-default",
            "unkeyed",
            RequestBody::Bytes(b"u".to_vec().into()),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), (404, "KmsKeyNotFound"));
    assert!(message(&e).contains("no-such-key"), "{}", message(&e));
    c.set_bucket_encryption("kms-default", &kms_rule(Some(&id)))
        .await
        .unwrap();
    let ruled = c
        .put_object(
            "kms-default",
            "ruled",
            RequestBody::Bytes(b"r".to_vec().into()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(ruled.server_side_encryption.as_deref(), Some("KMS"));
    assert_eq!(ruled.sse_key_id.as_deref(), Some(id.as_str()));
    t.server.shutdown().await;
}

#[tokio::test]
async fn keys_and_objects_survive_a_restart_and_rotation_works() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let t = TestServer {
        server: start_on(&data_dir, Some([5; 32])).await,
        dir,
    };
    let c = t.client();
    c.create_bucket("persist", None).await.unwrap();
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;
    c.put_object(
        "persist",
        "k",
        RequestBody::Bytes(b"kms".to_vec().into()),
        &kms_put(Some(&id)),
    )
    .await
    .unwrap();
    let aes = PutOptions {
        headers: vec![(SSE.to_owned(), "AES256".to_owned())],
        ..Default::default()
    };
    c.put_object(
        "persist",
        "a",
        RequestBody::Bytes(b"oss".to_vec().into()),
        &aes,
    )
    .await
    .unwrap();
    let rotation = c.rotate_master_key().await.unwrap();
    assert_eq!(rotation.version, 2);
    assert_eq!(rotation.rewrapped_objects, 1, "only the SSE-OSS object");
    c.disable_key(&id).await.unwrap();
    let TestServer { server, dir } = t;
    server.shutdown().await;

    let t = TestServer {
        server: start_on(&data_dir, Some([5; 32])).await,
        dir,
    };
    let c = t.client();
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Disabled");
    c.enable_key(&id).await.unwrap();
    assert_eq!(get(&c, "persist", "k").await.unwrap(), b"kms");
    assert_eq!(get(&c, "persist", "a").await.unwrap(), b"oss");
    t.server.shutdown().await;
}

#[tokio::test]
async fn kms_requests_must_be_signed() {
    let t = TestServer::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/_kms/?Action=ListKeys", t.server.endpoint());
    let r = http.post(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["Code"], "AccessDenied");
    assert!(body["RequestId"].as_str().is_some_and(|s| !s.is_empty()));

    for version in [SignVersion::V4, SignVersion::V1] {
        let wrong = t.client_as(version, "not-the-secret");
        let e = wrong.list_keys(1, 10).await.unwrap_err();
        assert_eq!(code(&e), (403, "SignatureDoesNotMatch"), "{version:?}");
    }
    // Nothing lies below /_kms/, and unknown actions are named.
    let c = t.client();
    let e = c.describe_key("").await.unwrap_err();
    assert_eq!(code(&e), (400, "MissingParameter"));
    let r = http
        .post(format!("{}/_kms/sub", t.server.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["Code"], "InvalidArgument");
    t.server.shutdown().await;
}

#[tokio::test]
async fn without_a_root_secret_the_kms_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestServer {
        server: start_on(&dir.path().join("data"), None).await,
        dir,
    };
    let e = t.client().list_keys(1, 10).await.unwrap_err();
    assert_eq!(code(&e), (501, "UnsupportedOperation"));
    t.server.shutdown().await;
}

/// How a hand-made KMS request is signed.
#[derive(Debug, Clone, Copy)]
enum Signing {
    V1Header,
    V1Presigned,
    V4Presigned,
    /// V4 in the header with `x-oss-content-sha256: UNSIGNED-PAYLOAD`.
    V4Unsigned,
    /// V4 in the header with the SHA-256 of the body signed: what the KMS API requires.
    V4SignedBody,
}

/// A captured (or freshly made) request: its headers and full query, sendable again as is.
#[derive(Clone)]
struct Signed {
    headers: http::HeaderMap,
    query: Vec<(String, String)>,
}

/// Signs `POST /_kms/?<query>` carrying `body` by hand, as `how`.
fn sign_kms(how: Signing, query: &[(&str, &str)], body: &str) -> Signed {
    use ossvault_proto::sign::{v1, v4, RequestParts};
    let now = std::time::SystemTime::now();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let mut query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if matches!(how, Signing::V1Header) {
        let date = ossvault_proto::time::http_date(now);
        headers.insert("date", date.parse().unwrap());
    }
    let parts = RequestParts {
        method: "POST",
        bucket: Some("_kms"),
        key: None,
        query: &query,
        headers: &headers,
    };
    let (added, auth) = match how {
        Signing::V1Header => (vec![], Some(v1::authorization(&parts, AK, SK))),
        Signing::V1Presigned => {
            let expires = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
            let extra = v1::presign(&parts, AK, SK, expires);
            query.extend(extra);
            (vec![], None)
        }
        Signing::V4Presigned => {
            let extra = v4::presign(&parts, AK, SK, "cn-hangzhou", now, 600);
            query.extend(extra);
            (vec![], None)
        }
        Signing::V4Unsigned => {
            let (added, auth) = v4::authorization(&parts, AK, SK, "cn-hangzhou", now, &[]);
            (added, Some(auth))
        }
        Signing::V4SignedBody => {
            let hash = v4::payload_sha256(body.as_bytes());
            let (added, auth) =
                v4::authorization_with_payload(&parts, AK, SK, "cn-hangzhou", now, &[], &hash);
            (added, Some(auth))
        }
    };
    for (name, value) in added {
        headers.insert(name, value.parse().unwrap());
    }
    if let Some(auth) = auth {
        headers.insert("authorization", auth.parse().unwrap());
    }
    Signed { headers, query }
}

/// Sends a signed KMS request with `body` (which may differ from the one signed) and `query`
/// (which may differ from the one signed); answers (status, JSON).
async fn send_kms(
    t: &TestServer,
    signed: &Signed,
    query: &[(String, String)],
    body: &str,
) -> (u16, serde_json::Value) {
    use ossvault_proto::encode::uri_encode;
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{}/_kms/?{}", t.server.endpoint(), q.join("&")))
        .headers(signed.headers.clone())
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
    )
}

/// A `POST /_kms/?Action=…` with a JSON body, signed by hand as the KMS API requires.
async fn post_json(t: &TestServer, action: &str, body: &str) -> (u16, serde_json::Value) {
    let signed = sign_kms(Signing::V4SignedBody, &[("Action", action)], body);
    send_kms(t, &signed, &signed.query.clone(), body).await
}

/// What every refused signing scheme gets: 403 AccessDenied naming what the API needs.
fn assert_needs_v4_signed_body(status: u16, answer: &serde_json::Value, what: &str) {
    assert_eq!(
        (status, answer["Code"].as_str()),
        (403, Some("AccessDenied")),
        "{what}: {answer}"
    );
    let message = answer["Message"].as_str().unwrap();
    assert!(
        message.contains("V4 Authorization header") && message.contains("x-oss-content-sha256"),
        "{what}: {message}"
    );
}

/// Finding 3 of issue 8: with V1 neither `Action` nor its parameters are signed on `/_kms/`,
/// presigned URLs sign no body, and UNSIGNED-PAYLOAD leaves a JSON body unsigned; each let a
/// request be turned into another action. All are refused now, before anything runs.
#[tokio::test]
async fn kms_refuses_schemes_that_do_not_sign_everything() {
    let t = TestServer::start().await;
    let c = t.client();
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;
    let disable = [("Action", "DisableKey"), ("KeyId", id.as_str())];
    for how in [
        Signing::V1Header,
        Signing::V1Presigned,
        Signing::V4Presigned,
        Signing::V4Unsigned,
    ] {
        let signed = sign_kms(how, &disable, "");
        let (status, answer) = send_kms(&t, &signed, &signed.query.clone(), "").await;
        assert_needs_v4_signed_body(status, &answer, &format!("{how:?}"));
        // The parameters in a JSON body instead: refused the same way.
        let body = format!(r#"{{"KeyId": "{id}"}}"#);
        let signed = sign_kms(how, &[("Action", "DisableKey")], &body);
        let (status, answer) = send_kms(&t, &signed, &signed.query.clone(), &body).await;
        assert_needs_v4_signed_body(status, &answer, &format!("{how:?} with a body"));
    }
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Enabled");

    // V4 with a signed hash, but another body sent: the hash is checked, nothing runs.
    let body = format!(r#"{{"KeyId": "{id}"}}"#);
    let signed = sign_kms(
        Signing::V4SignedBody,
        &[("Action", "DisableKey")],
        r#"{"KeyId": "another"}"#,
    );
    let (status, answer) = send_kms(&t, &signed, &signed.query.clone(), &body).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("InvalidDigest")),
        "{answer}"
    );
    // A hash that is not hex is no signed body either.
    let mut signed = sign_kms(Signing::V4SignedBody, &disable, "");
    signed
        .headers
        .insert("x-oss-content-sha256", "not-a-hash".parse().unwrap());
    let (status, answer) = send_kms(&t, &signed, &signed.query.clone(), "").await;
    assert_needs_v4_signed_body(status, &answer, "a hash that is not hex");
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Enabled");

    // Signed as required, the same request works.
    let signed = sign_kms(Signing::V4SignedBody, &disable, "");
    let (status, answer) = send_kms(&t, &signed, &signed.query.clone(), "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Disabled");
    t.server.shutdown().await;
}

/// A captured, validly signed ListKeys cannot be replayed as DisableKey, neither by changing
/// the query nor by putting the action in another body.
#[tokio::test]
async fn a_captured_kms_request_cannot_be_replayed_as_another() {
    let t = TestServer::start().await;
    let c = t.client();
    let id = c
        .create_key(&CreateKeyOptions::default())
        .await
        .unwrap()
        .key_id;

    // Captured: ListKeys in the query, empty body.
    let captured = sign_kms(Signing::V4SignedBody, &[("Action", "ListKeys")], "");
    let (status, answer) = send_kms(&t, &captured, &captured.query.clone(), "").await;
    assert_eq!(status, 200, "{answer}");
    // Replayed as it was: the same action (a replay within the time window is still valid).
    let (status, _) = send_kms(&t, &captured, &captured.query.clone(), "").await;
    assert_eq!(status, 200);

    // Another Action and parameter in the query: the signature covers the query.
    let query = vec![
        ("Action".to_owned(), "DisableKey".to_owned()),
        ("KeyId".to_owned(), id.clone()),
    ];
    let (status, answer) = send_kms(&t, &captured, &query, "").await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (403, Some("SignatureDoesNotMatch")),
        "{answer}"
    );
    // Another body: the signed hash covers the body.
    let (status, answer) = send_kms(
        &t,
        &captured,
        &captured.query.clone(),
        &format!(r#"{{"KeyId": "{id}"}}"#),
    )
    .await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("InvalidDigest")),
        "{answer}"
    );

    // Captured with the action in the body; the body swapped for another action.
    let captured = sign_kms(Signing::V4SignedBody, &[], r#"{"Action": "ListKeys"}"#);
    let (status, answer) = send_kms(
        &t,
        &captured,
        &captured.query.clone(),
        r#"{"Action": "ListKeys"}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = send_kms(
        &t,
        &captured,
        &captured.query.clone(),
        &format!(r#"{{"Action": "DisableKey", "KeyId": "{id}"}}"#),
    )
    .await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("InvalidDigest")),
        "{answer}"
    );
    assert_eq!(c.describe_key(&id).await.unwrap().key_state, "Enabled");
    t.server.shutdown().await;
}

#[tokio::test]
async fn parameters_may_come_in_a_json_body() {
    let t = TestServer::start().await;
    let (status, created) = post_json(&t, "CreateKey", r#"{"Description": "from a body"}"#).await;
    assert_eq!(status, 200, "{created}");
    let id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(created["KeyMetadata"]["Description"], "from a body");
    // An EncryptionContext may be a JSON object; numbers become strings.
    let (status, sealed) = post_json(
        &t,
        "Encrypt",
        &format!(r#"{{"KeyId": "{id}", "Plaintext": "aGk=", "EncryptionContext": {{"n": 1}}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{sealed}");
    let blob = sealed["CiphertextBlob"].as_str().unwrap();
    let mut context = BTreeMap::new();
    context.insert("n".to_owned(), "1".to_owned());
    let opened = t.client().decrypt(blob, Some(&context)).await.unwrap();
    assert_eq!(opened.plaintext.as_slice(), b"hi");

    let (status, e) = post_json(&t, "DescribeKey", r#"{"Action": "ListKeys"}"#).await;
    assert_eq!(
        (status, e["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{e}"
    );
    let (status, e) = post_json(&t, "DescribeKey", "not json").await;
    assert_eq!(
        (status, e["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{e}"
    );
    t.server.shutdown().await;
}

//! The app's commands without a window, on Tauri's mock runtime: input validation and the
//! mapping of errors to `{code, message, requestId}`, against the real embedded server on
//! 127.0.0.1 (no mock of the server or the client).

use ossvault_app::state::{AppDirs, AppState, ServerStatus, SettingsState};
use ossvault_ops::app_settings::{AppSettings, SettingsStore};
use ossvault_ops::local_server::{self, LocalServerOptions};
use ossvault_ops::profiles::Profiles;
use ossvault_ops::registry::ConnectionRegistry;
use serde_json::{json, Value};
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

struct Fixture {
    dir: tempfile::TempDir,
    app: tauri::App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

/// The app's commands over a real embedded server in a temporary directory (secrets in files,
/// no profile saved: nothing outside the directory is touched).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut options =
        LocalServerOptions::new(dir.path().join("server"), "127.0.0.1:0".parse().unwrap());
    options.https_address = Some("127.0.0.1:0".parse().unwrap());
    options.profile = None;
    let prepared = local_server::prepare(&options, || None).unwrap();
    let server = tauri::async_runtime::block_on(local_server::start(prepared, || {
        unreachable!("no profile is saved")
    }))
    .unwrap();
    let status = ServerStatus::of(&server);
    let config = server.client_config();
    assert!(
        config.endpoint.starts_with("https://"),
        "{}",
        config.endpoint
    );
    let profiles = Profiles::new(dir.path().join("config.toml"), None);
    let config_dir = dir.path().join("keys");
    let keystore_dir = config_dir.clone();
    let keystore: ossvault_ops::copy::KeystoreOpener = Arc::new(move || {
        Ok(ossvault_keystore::Keystore::open(
            &keystore_dir,
            ossvault_keystore::Backend::PassphraseFile {
                path: keystore_dir.join("keys.age"),
                passphrase: "test passphrase".to_owned().into(),
            },
        )?)
    });
    let connections = Arc::new(ConnectionRegistry::new(profiles, Some(config)));
    let transfers = tauri::async_runtime::block_on(async {
        let clients_from = connections.clone();
        ossvault_ops::transfers::TransferQueue::open(
            ossvault_ops::transfers::QueueSettings::new(dir.path().join("transfers")),
            Arc::new(move |name: &str| clients_from.client(name)),
            keystore.clone(),
        )
        .map_err(|e| e.to_string())
    });
    let sync = {
        let connections = connections.clone();
        Arc::new(ossvault_sync::SyncEngine::new(
            ossvault_sync::PairStore::new(dir.path().join("sync")),
            Arc::new(move |_| Ok(connections.client("local")?)),
            keystore.clone(),
            Default::default(),
        ))
    };
    let state = AppState {
        sync,
        server: status,
        // The server runs as long as the app (the fixture) does.
        running: std::sync::Mutex::new(Some(server)),
        connections,
        dirs: AppDirs {
            data: dir.path().to_owned(),
            logs: dir.path().join("logs"),
            config: config_dir,
        },
        keystore,
        transfers,
        settings: SettingsState::new(
            SettingsStore::in_dir(&dir.path().join("settings")),
            AppSettings::default(),
            None,
            None,
        ),
        rewraps: Default::default(),
    };
    let app = ossvault_app::with_commands(mock_builder())
        .manage(state)
        .build(mock_context(noop_assets()))
        .unwrap();
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Fixture { dir, app, webview }
}

impl Fixture {
    fn call(&self, cmd: &str, body: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                // The mock runtime on Linux takes requests from this origin only.
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, body: Value) -> Value {
        self.call(cmd, body.clone())
            .unwrap_or_else(|e| panic!("{cmd} {body}: {e}"))
    }

    fn err(&self, cmd: &str, body: Value) -> Value {
        match self.call(cmd, body.clone()) {
            Ok(v) => panic!("{cmd} {body} succeeded: {v}"),
            Err(e) => e,
        }
    }
}

#[test]
fn bad_input_is_refused_with_invalid_input_before_anything_is_called() {
    let f = fixture();
    let cases = [
        (
            "create_bucket",
            json!({"connection": "local", "name": "Bad_Name"}),
        ),
        (
            "create_bucket",
            json!({"connection": "no spaces", "name": "good-name"}),
        ),
        (
            "list_objects",
            json!({"connection": "local", "bucket": "ab", "prefix": ""}),
        ),
        (
            "list_objects",
            json!({"connection": "local", "bucket": "abc", "prefix": "/rooted"}),
        ),
        (
            "presign_url",
            json!({"connection": "local", "bucket": "abc", "key": "k", "expiresSecs": 0}),
        ),
        (
            "presign_url",
            json!({"connection": "local", "bucket": "abc", "key": "k", "expiresSecs": 8 * 24 * 3600}),
        ),
        (
            "delete_bucket",
            json!({"connection": "local", "name": "abc", "empty": true, "confirmName": "abd"}),
        ),
        (
            "delete_objects",
            json!({"connection": "local", "bucket": "abc", "keys": [], "folders": [""]}),
        ),
        (
            "set_bucket_encryption",
            json!({"connection": "local", "bucket": "abc", "encryption": {"algorithm": "SM9"}}),
        ),
        (
            "set_bucket_encryption",
            json!({"connection": "local", "bucket": "abc", "encryption": {"algorithm": "AES256", "keyId": "k"}}),
        ),
        (
            "set_bucket_acl",
            json!({"connection": "local", "bucket": "abc", "acl": "public"}),
        ),
        (
            "create_folder",
            json!({"connection": "local", "bucket": "abc", "prefix": "", "name": "a/b"}),
        ),
        (
            "save_connection",
            json!({"form": {"name": "local", "region": "cn-hangzhou", "accessKeyId": "id", "accessKeySecret": "s"}}),
        ),
        (
            "save_connection",
            json!({"form": {"name": "work", "accessKeyId": "id", "accessKeySecret": "s"}}),
        ),
        ("remove_connection", json!({"name": "local"})),
        ("transfer_action", json!({"id": 1, "action": "explode"})),
        (
            "upload_paths",
            json!({"connection": "local", "bucket": "abc", "prefix": "", "paths": ["relative/file"]}),
        ),
        (
            "upload_paths",
            json!({"connection": "local", "bucket": "abc", "prefix": "no-slash", "paths": ["/tmp"]}),
        ),
        (
            "upload_paths",
            json!({"connection": "local", "bucket": "abc", "prefix": "", "paths": []}),
        ),
        (
            "upload_paths",
            json!({"connection": "local", "bucket": "abc", "prefix": "", "paths": ["/tmp"],
                   "serverSide": {"algorithm": "KMS", "keyId": " "}}),
        ),
        (
            "download_objects",
            json!({"connection": "local", "bucket": "abc", "keys": ["k"], "destination": "relative"}),
        ),
    ];
    for (cmd, body) in cases {
        let e = f.err(cmd, body.clone());
        assert_eq!(e["code"], "InvalidInput", "{cmd} {body}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        assert_eq!(e["requestId"], Value::Null);
    }
    // Nothing was created on the way.
    assert_eq!(
        f.ok("list_buckets", json!({"connection": "local"})),
        json!([])
    );
}

#[test]
fn service_errors_keep_their_oss_code_and_request_id() {
    let f = fixture();
    f.ok(
        "create_bucket",
        json!({"connection": "local", "name": "full-bucket", "acl": "private"}),
    );
    f.ok(
        "create_folder",
        json!({"connection": "local", "bucket": "full-bucket", "prefix": "", "name": "docs"}),
    );

    // A non-empty bucket is refused with its OSS code and request id, and survives.
    let e = f.err(
        "delete_bucket",
        json!({"connection": "local", "name": "full-bucket", "empty": false}),
    );
    assert_eq!(e["code"], "BucketNotEmpty", "{e}");
    assert!(
        e["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{e}"
    );
    let page = f.ok(
        "list_objects",
        json!({"connection": "local", "bucket": "full-bucket", "prefix": ""}),
    );
    assert_eq!(page["folders"], json!(["docs/"]));

    // Emptied on the explicit, confirmed request.
    let deleted = f.ok(
        "delete_bucket",
        json!({"connection": "local", "name": "full-bucket", "empty": true, "confirmName": "full-bucket"}),
    );
    assert_eq!(deleted, json!(1));
    let e = f.err(
        "bucket_settings",
        json!({"connection": "local", "bucket": "full-bucket"}),
    );
    assert_eq!(e["code"], "NoSuchBucket", "{e}");

    let e = f.err("list_buckets", json!({"connection": "nobody"}));
    assert_eq!(e["code"], "NoSuchProfile", "{e}");
}

#[test]
fn bucket_badges_follow_the_settings_and_https_only_buckets_stay_reachable() {
    let f = fixture();
    f.ok(
        "create_bucket",
        json!({"connection": "local", "name": "vault"}),
    );
    let badge = |f: &Fixture| {
        let list = f.ok("list_buckets", json!({"connection": "local"}));
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == "vault")
            .unwrap()
            .clone();
        (row["encryption"].clone(), row["httpsOnly"].clone())
    };
    assert_eq!(badge(&f), (json!({"algorithm": "none"}), json!(false)));

    f.ok(
        "set_bucket_encryption",
        json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "AES256"}}),
    );
    assert_eq!(badge(&f).0, json!({"algorithm": "AES256"}));

    // KMS with the KMS's default key, then with a CMK named by id.
    f.ok(
        "set_bucket_encryption",
        json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "KMS"}}),
    );
    assert_eq!(badge(&f).0, json!({"algorithm": "KMS"}));
    // A CMK the KMS does not have yet is taken as given, as OSS does (writes fail until it
    // exists); the badge names it.
    f.ok("set_bucket_encryption", json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "KMS", "keyId": "cmk-missing"}}));
    assert_eq!(
        badge(&f).0,
        json!({"algorithm": "KMS", "keyId": "cmk-missing"})
    );
    // SM4 (国密), as OSS offers it.
    f.ok(
        "set_bucket_encryption",
        json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "SM4"}}),
    );
    assert_eq!(badge(&f).0, json!({"algorithm": "SM4"}));
    f.ok(
        "set_bucket_encryption",
        json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "KMS"}}),
    );
    assert_eq!(badge(&f).0, json!({"algorithm": "KMS"}));

    f.ok(
        "set_https_only",
        json!({"connection": "local", "bucket": "vault", "on": true}),
    );
    // The app reaches the embedded server over HTTPS, so the HTTPS-only bucket still lists.
    assert_eq!(badge(&f).1, json!(true));
    let settings = f.ok(
        "bucket_settings",
        json!({"connection": "local", "bucket": "vault"}),
    );
    assert_eq!(settings["httpsOnly"], json!(true));
    assert_eq!(settings["acl"], json!("private"));

    f.ok(
        "set_bucket_encryption",
        json!({"connection": "local", "bucket": "vault", "encryption": {"algorithm": "none"}}),
    );
    assert_eq!(badge(&f).0, json!({"algorithm": "none"}));
}

#[test]
fn presigned_links_and_properties_of_an_object() {
    let f = fixture();
    f.ok(
        "create_bucket",
        json!({"connection": "local", "name": "share"}),
    );
    let key = f.ok(
        "create_folder",
        json!({"connection": "local", "bucket": "share", "prefix": "", "name": "reports"}),
    );
    assert_eq!(key, json!("reports/"));
    let props = f.ok(
        "object_properties",
        json!({"connection": "local", "bucket": "share", "key": "reports/"}),
    );
    assert_eq!(props["size"], json!(0));
    assert_eq!(props["cse"], Value::Null);
    let url = f.ok(
        "presign_url",
        json!({"connection": "local", "bucket": "share", "key": "reports/", "expiresSecs": 3600}),
    );
    let url = url.as_str().unwrap();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.contains("/share/reports"),
        "{url}"
    );
    assert!(url.contains("x-oss-expires=3600"), "{url}");
    let e = f.err(
        "object_properties",
        json!({"connection": "local", "bucket": "share", "key": "missing"}),
    );
    assert_eq!(e["code"], "NoSuchKey", "{e}");
}

#[test]
fn the_app_status_tells_where_the_server_and_its_secrets_are() {
    let f = fixture();
    let status = f.ok("app_status", json!({}));
    assert_eq!(status["server"]["running"], json!(true));
    assert!(status["server"]["endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(status["server"]["httpsEndpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
    assert_eq!(status["server"]["secrets"], json!("files"));
    let conns = f.ok("list_connections", json!({}));
    assert_eq!(conns[0]["name"], json!("local"));
    assert_eq!(conns[0]["local"], json!(true));
}

#[test]
fn key_commands_refuse_bad_input_and_name_the_keystore_errors() {
    let f = fixture();
    let code = |e: Value| e["code"].as_str().unwrap().to_owned();
    assert_eq!(f.ok("list_keys", json!({})), json!([]));
    let cases = [
        (
            "generate_key",
            json!({"name": "bad name", "kind": "AES-256"}),
        ),
        ("generate_key", json!({"name": "k", "kind": "AES-128"})),
        ("import_key", json!({"name": "k"})),
        (
            "import_key",
            json!({"name": "k", "path": "/x", "text": "00"}),
        ),
        ("import_key", json!({"name": "k", "text": "  "})),
        ("import_key", json!({"name": "k", "path": ""})),
        (
            "export_key_backup",
            json!({"name": "k", "passphrase": "", "confirm": "", "path": "/tmp/x"}),
        ),
        (
            "export_key_backup",
            json!({"name": "k", "passphrase": "one", "confirm": "two", "path": "/tmp/x"}),
        ),
        (
            "restore_key_backup",
            json!({"path": "", "passphrase": "p", "name": null}),
        ),
        ("delete_key", json!({"name": "k", "confirmName": "K"})),
    ];
    for (cmd, body) in cases {
        let e = f.err(cmd, body.clone());
        assert!(
            ["InvalidInput", "InvalidKeyName"].contains(&e["code"].as_str().unwrap()),
            "{cmd} {body}: {e}"
        );
        assert_eq!(e["requestId"], Value::Null);
    }
    // Nothing was made by the refused calls.
    assert_eq!(f.ok("list_keys", json!({})), json!([]));

    f.ok("generate_key", json!({"name": "k", "kind": "AES-256"}));
    assert_eq!(
        code(f.err("generate_key", json!({"name": "k", "kind": "RSA-2048"}))),
        "KeyExists"
    );
    assert_eq!(
        code(f.err("key_public_pem", json!({"name": "k"}))),
        "NotRsa"
    );
    assert_eq!(
        code(f.err("rotate_key", json!({"name": "missing"}))),
        "KeyNotFound"
    );
    assert_eq!(
        code(f.err("import_key", json!({"name": "j", "text": "not a key"}))),
        "InvalidKeyMaterial"
    );
    // A typed name that differs keeps the key.
    f.err("delete_key", json!({"name": "k", "confirmName": "k2"}));
    assert_eq!(f.ok("list_keys", json!({})).as_array().unwrap().len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("k.age");
    f.ok(
        "export_key_backup",
        json!({"name": "k", "passphrase": "pass phrase", "confirm": "pass phrase",
               "path": backup.to_str().unwrap()}),
    );
    assert_eq!(
        code(f.err(
            "restore_key_backup",
            json!({"path": backup.to_str().unwrap(), "passphrase": "wrong", "name": "k2"})
        )),
        "WrongPassphrase"
    );
    let not_backup = dir.path().join("not.age");
    std::fs::write(&not_backup, b"hello").unwrap();
    assert_eq!(
        code(f.err(
            "restore_key_backup",
            json!({"path": not_backup.to_str().unwrap(), "passphrase": "x", "name": "k2"})
        )),
        "NotABackup"
    );
}

#[test]
fn a_key_survives_a_backup_file_rotation_and_typed_deletion() {
    let f = fixture();
    let made = f.ok(
        "generate_key",
        json!({"name": "photos", "kind": "RSA-2048"}),
    );
    assert_eq!(made["kind"], "RSA-2048");
    assert_eq!(made["versions"], 1);
    assert_eq!(made["hasPublicKey"], true);
    let pem = f.ok("key_public_pem", json!({"name": "photos"}));
    assert!(pem
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("photos.age");
    f.ok(
        "export_key_backup",
        json!({"name": "photos", "passphrase": "a long pass phrase", "confirm": "a long pass phrase",
               "path": backup.to_str().unwrap()}),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let sealed = std::fs::read(&backup).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"), "an age file");

    // The same key twice is refused; once the original is gone, the backup brings it back
    // under another name.
    let restore = json!({"path": backup.to_str().unwrap(), "passphrase": "a long pass phrase", "name": "photos-copy"});
    assert_eq!(
        f.err("restore_key_backup", restore.clone())["code"],
        "DuplicateKey"
    );
    f.ok(
        "delete_key",
        json!({"name": "photos", "confirmName": "photos"}),
    );
    let restored = f.ok("restore_key_backup", restore);
    assert_eq!(restored["name"], "photos-copy");
    assert_eq!(restored["fingerprint"], made["fingerprint"]);

    let rotated = f.ok("rotate_key", json!({"name": "photos-copy"}));
    assert_eq!(rotated["versions"], 2);
    assert_eq!(rotated["currentVersion"], 2);
    assert_ne!(rotated["fingerprint"], made["fingerprint"]);

    f.ok("generate_key", json!({"name": "other", "kind": "AES-256"}));
    f.ok("set_default_key", json!({"name": "other"}));
    let list = f.ok("list_keys", json!({}));
    let default: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["default"] == true)
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(default, vec![json!("other")]);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{list}");
}

#[test]
fn a_rename_checks_both_names_and_takes_the_sync_folders_along() {
    let f = fixture();
    let code = |e: Value| e["code"].as_str().unwrap().to_owned();
    let made = f.ok("generate_key", json!({"name": "docs", "kind": "AES-256"}));
    f.ok("generate_key", json!({"name": "other", "kind": "AES-256"}));
    let pairs = ossvault_sync::PairStore::new(f.dir.path().join("sync"));
    let mut pair = ossvault_sync::Pair::new("folder", f.dir.path().join("folder"), "b", "");
    pair.key = Some("docs".into());
    pairs.add(pair).unwrap();

    for (body, expected) in [
        (
            json!({"name": "docs", "newName": "bad name"}),
            "InvalidKeyName",
        ),
        (json!({"name": "docs", "newName": ""}), "InvalidKeyName"),
        (
            json!({"name": "bad/name", "newName": "x"}),
            "InvalidKeyName",
        ),
        (json!({"name": "docs", "newName": "other"}), "KeyExists"),
        (json!({"name": "missing", "newName": "x"}), "KeyNotFound"),
    ] {
        assert_eq!(code(f.err("rename_key", body.clone())), expected, "{body}");
    }
    assert_eq!(pairs.using_key("docs").unwrap(), ["folder"]);

    let renamed = f.ok(
        "rename_key",
        json!({"name": "docs", "newName": "team-docs"}),
    );
    assert_eq!(renamed["key"]["name"], "team-docs");
    assert_eq!(renamed["key"]["fingerprint"], made["fingerprint"]);
    assert_eq!(renamed["key"]["default"], true);
    assert_eq!(renamed["syncPairs"], json!(["folder"]));
    assert_eq!(pairs.using_key("team-docs").unwrap(), ["folder"]);
    let names: Vec<_> = f
        .ok("list_keys", json!({}))
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names, [json!("other"), json!("team-docs")]);
}

#[test]
fn kms_commands_validate_their_input_and_drive_the_local_kms() {
    let f = fixture();
    let code = |e: Value| e["code"].as_str().unwrap().to_owned();
    let cases = [
        ("kms_list_keys", json!({"connection": "no spaces"})),
        (
            "kms_set_key_enabled",
            json!({"connection": "local", "keyId": "", "enabled": true}),
        ),
        (
            "kms_set_key_enabled",
            json!({"connection": "local", "keyId": "a b", "enabled": true}),
        ),
        (
            "kms_schedule_deletion",
            json!({"connection": "local", "keyId": "k", "days": 6}),
        ),
        (
            "kms_schedule_deletion",
            json!({"connection": "local", "keyId": "k", "days": 367}),
        ),
        (
            "kms_import_material",
            json!({"connection": "local", "keyId": "k", "path": " "}),
        ),
    ];
    for (cmd, body) in cases {
        let e = f.err(cmd, body.clone());
        assert!(
            ["InvalidInput", "InvalidProfileName"].contains(&e["code"].as_str().unwrap())
                || e["code"].as_str().unwrap().starts_with("Invalid"),
            "{cmd} {body}: {e}"
        );
    }

    let made = f.ok(
        "kms_create_key",
        json!({"connection": "local", "description": "for photos", "external": false}),
    );
    let id = made["keyId"].as_str().unwrap().to_owned();
    assert_eq!(made["state"], "Enabled");
    assert_eq!(made["description"], "for photos");
    let state_of = |id: &str| {
        f.ok("kms_list_keys", json!({"connection": "local"}))
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["keyId"] == id)
            .map(|k| k["state"].as_str().unwrap().to_owned())
    };
    f.ok(
        "kms_set_key_enabled",
        json!({"connection": "local", "keyId": id, "enabled": false}),
    );
    assert_eq!(state_of(&id).as_deref(), Some("Disabled"));
    f.ok(
        "kms_set_key_enabled",
        json!({"connection": "local", "keyId": id, "enabled": true}),
    );
    assert_eq!(state_of(&id).as_deref(), Some("Enabled"));
    f.ok(
        "kms_schedule_deletion",
        json!({"connection": "local", "keyId": id, "days": 7}),
    );
    assert_eq!(state_of(&id).as_deref(), Some("PendingDeletion"));
    f.ok(
        "kms_cancel_deletion",
        json!({"connection": "local", "keyId": id}),
    );
    assert_eq!(state_of(&id).as_deref(), Some("Enabled"));

    // An unknown key: the KMS's own error code, with its request id.
    let e = f.err(
        "kms_set_key_enabled",
        json!({"connection": "local", "keyId": "no-such-key", "enabled": true}),
    );
    assert_ne!(code(e.clone()), "InvalidInput", "{e}");
    assert!(e["requestId"].is_string(), "{e}");

    // BYOK: a key waiting for material, a file that is not material, then 32 hex bytes.
    let byok = f.ok(
        "kms_create_key",
        json!({"connection": "local", "description": null, "external": true}),
    );
    assert_eq!(byok["state"], "PendingImport");
    assert_eq!(byok["origin"], "EXTERNAL");
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.hex");
    std::fs::write(&short, "abcd").unwrap();
    let byok_id = byok["keyId"].as_str().unwrap();
    assert_eq!(
        code(f.err(
            "kms_import_material",
            json!({"connection": "local", "keyId": byok_id, "path": short.to_str().unwrap()})
        )),
        "InvalidInput"
    );
    let material = dir.path().join("material.hex");
    std::fs::write(&material, "ab".repeat(32)).unwrap();
    let imported = f.ok(
        "kms_import_material",
        json!({"connection": "local", "keyId": byok_id, "path": material.to_str().unwrap()}),
    );
    assert_eq!(imported["state"], "Enabled");

    let rotated = f.ok("kms_rotate_master_key", json!({"connection": "local"}));
    assert!(rotated["version"].as_u64().unwrap() >= 2, "{rotated}");
    assert!(rotated["rewrappedObjects"].is_u64());
}

#[test]
fn keys_are_imported_from_pasted_text_or_a_file() {
    let f = fixture();
    let pasted = f.ok(
        "import_key",
        json!({"name": "pasted", "text": format!("  {}\n", "11".repeat(32))}),
    );
    assert_eq!(pasted["kind"], "AES-256");
    assert_eq!(pasted["hasPublicKey"], false);
    // The same secret under another name is the keystore's DuplicateKey.
    assert_eq!(
        f.err(
            "import_key",
            json!({"name": "again", "text": "11".repeat(32)})
        )["code"],
        "DuplicateKey"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.hex");
    std::fs::write(&file, "22".repeat(32)).unwrap();
    let from_file = f.ok(
        "import_key",
        json!({"name": "from-file", "path": file.to_str().unwrap()}),
    );
    assert_eq!(from_file["kind"], "AES-256");
    assert_ne!(from_file["fingerprint"], pasted["fingerprint"]);
    let missing = dir.path().join("missing.hex");
    assert_eq!(
        f.err(
            "import_key",
            json!({"name": "nope", "path": missing.to_str().unwrap()})
        )["code"],
        "Io"
    );
}

#[test]
fn settings_are_validated_saved_and_applied_to_the_transfer_queue() {
    use tauri::Manager;
    let f = fixture();
    let view = f.ok("settings_get", json!({}));
    assert_eq!(view["settings"]["transfers"]["filesAtOnce"], json!(3));
    assert_eq!(view["settings"]["server"]["https"], json!(true));
    assert_eq!(view["logLevelLive"], json!(false));
    assert!(view["versions"]["app"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    let file = f.dir.path().join("settings").join("settings.json");

    let mut settings = view["settings"].clone();
    for (path, bad) in [
        (("transfers", "filesAtOnce"), json!(0)),
        (("transfers", "filesAtOnce"), json!(17)),
        (("transfers", "uploadLimit"), json!(100)),
        (("server", "httpPort"), json!(80)),
        (("server", "dataDir"), json!("relative")),
    ] {
        let mut wrong = settings.clone();
        wrong[path.0][path.1] = bad.clone();
        let e = f.err("settings_set", json!({ "settings": wrong }));
        assert_eq!(e["code"], json!("InvalidInput"), "{bad}: {e}");
        assert!(!file.exists(), "nothing is saved for {bad}");
    }
    // Not a log level at all: refused by the argument's type.
    let mut wrong = settings.clone();
    wrong["logLevel"] = json!("chatty");
    assert!(f
        .call("settings_set", json!({ "settings": wrong }))
        .is_err());

    settings["transfers"]["filesAtOnce"] = json!(7);
    settings["transfers"]["downloadLimit"] = json!(262144);
    settings["server"]["httpPort"] = json!(18080);
    settings["logLevel"] = json!("debug");
    f.ok("settings_set", json!({ "settings": settings }));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["transfers"]["filesAtOnce"], json!(7));
    assert_eq!(saved["server"]["httpPort"], json!(18080));
    let state = f.app.state::<AppState>();
    let queue = state.transfers.as_ref().unwrap();
    assert_eq!(queue.files_at_once(), 7);
    assert_eq!(queue.bandwidth_limits(), (None, Some(262144)));
    let view = f.ok("settings_get", json!({}));
    assert_eq!(view["settings"]["logLevel"], json!("debug"));
    // The server keeps the port it started with until a restart.
    assert_eq!(view["serverAtStart"]["httpPort"], json!(0));
}

/// The UI tells the core its language: kept in the settings (a screen's older copy of the
/// settings does not undo it), and the tray menu says its words in it at once.
#[test]
fn the_ui_language_is_kept_and_the_tray_menu_follows_it() {
    use ossvault_app::desktop::TrayMenu;
    use ossvault_ops::app_settings::UiLanguage;
    use tauri::Manager;
    let f = fixture();
    ossvault_app::desktop::install_tray_menu(f.app.handle()).unwrap();
    let texts = || f.app.state::<TrayMenu<MockRuntime>>().texts().unwrap();
    let older = f.ok("settings_get", json!({}))["settings"].clone();
    f.ok("set_ui_language", json!({"language": "zh-CN"}));
    assert_eq!(
        f.app.state::<AppState>().settings.current().language,
        Some(UiLanguage::SimplifiedChinese)
    );
    assert_eq!(
        texts(),
        [
            "没有同步文件夹",
            "打开 ossvault",
            "全部暂停同步",
            "全部继续同步",
            "退出 ossvault"
        ]
    );
    f.ok("settings_set", json!({ "settings": older }));
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(f.dir.path().join("settings").join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["language"], json!("zh-CN"));
    f.ok("set_ui_language", json!({"language": "en"}));
    assert_eq!(texts()[1], "Open ossvault");
    let e = f.err("set_ui_language", json!({"language": "fr"}));
    assert!(e.to_string().contains("unknown variant"), "{e}");
    assert_eq!(
        f.app.state::<AppState>().settings.current().language,
        Some(UiLanguage::English)
    );
}

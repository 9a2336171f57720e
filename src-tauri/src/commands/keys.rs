//! The Keys screen: the keystore's master keys (client-side encryption). Secrets never go to
//! the UI: it gets names, kinds, fingerprints and RSA public keys; what it sends (a pasted key,
//! a passphrase) is wiped here once used.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_client::transfer::CancellationToken;
use ossvault_keystore::{KeyKind, Keystore};
use ossvault_ops::keys::{self, KeySummary};
use ossvault_ops::rewrap::{self, RewrapEvent, RewrapTarget};
use ossvault_sync::PairStore;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

/// Runs `f` on the keystore off the UI thread (keychain calls and the backup's scrypt take time).
async fn with_keystore<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Keystore) -> CmdResult<T> + Send + 'static,
) -> CmdResult<T> {
    let open = state.keystore.clone();
    tauri::async_runtime::spawn_blocking(move || f(&open()?))
        .await
        .map_err(|e| CommandError::invalid(format!("the keystore task failed: {e}")))?
}

fn key_name(name: &str) -> CmdResult<()> {
    ossvault_keystore::validate_name(name).map_err(CommandError::from)
}

fn file(path: &str) -> CmdResult<PathBuf> {
    if path.trim().is_empty() {
        return Err(CommandError::invalid("no file chosen"));
    }
    Ok(PathBuf::from(path))
}

#[tauri::command]
pub async fn list_keys(state: tauri::State<'_, AppState>) -> CmdResult<Vec<KeySummary>> {
    with_keystore(&state, |ks| Ok(keys::key_summaries(ks)?)).await
}

/// Generates a key of `kind` (`AES-256`, `RSA-2048`, `RSA-3072`, `RSA-4096`).
#[tauri::command]
pub async fn generate_key(
    state: tauri::State<'_, AppState>,
    name: String,
    kind: String,
) -> CmdResult<KeySummary> {
    key_name(&name)?;
    let kind: KeyKind = kind.parse()?;
    with_keystore(&state, move |ks| {
        Ok(KeySummary::from(&ks.generate(&name, kind)?))
    })
    .await
}

/// Imports a key from a file (`path`) or from pasted PEM/hex/base64 (`text`): exactly one.
#[tauri::command]
pub async fn import_key(
    state: tauri::State<'_, AppState>,
    name: String,
    path: Option<String>,
    text: Option<String>,
) -> CmdResult<KeySummary> {
    let text = text.map(Zeroizing::new);
    key_name(&name)?;
    match (path, text) {
        (Some(path), None) => {
            let path = file(&path)?;
            with_keystore(&state, move |ks| {
                Ok(keys::import_key_file(ks, &name, &path)?)
            })
            .await
        }
        (None, Some(text)) if !text.trim().is_empty() => {
            with_keystore(&state, move |ks| {
                Ok(KeySummary::from(&ks.import(&name, text.trim().as_bytes())?))
            })
            .await
        }
        _ => Err(CommandError::invalid(
            "import a key from a file or from pasted text: one of them",
        )),
    }
}

/// Writes an encrypted backup of `name` to `path`; `passphrase` must be typed twice.
#[tauri::command]
pub async fn export_key_backup(
    state: tauri::State<'_, AppState>,
    name: String,
    passphrase: String,
    confirm: String,
    path: String,
) -> CmdResult<()> {
    let passphrase = Zeroizing::new(passphrase);
    let confirm = Zeroizing::new(confirm);
    key_name(&name)?;
    if passphrase.is_empty() {
        return Err(CommandError::invalid("a backup needs a passphrase"));
    }
    if *passphrase != *confirm {
        return Err(CommandError::invalid("the two passphrases differ"));
    }
    let path = file(&path)?;
    with_keystore(&state, move |ks| {
        Ok(keys::export_backup_file(ks, &name, &passphrase, &path)?)
    })
    .await
}

/// Restores a key from a backup file, under `name` if given (else the name it had).
#[tauri::command]
pub async fn restore_key_backup(
    state: tauri::State<'_, AppState>,
    path: String,
    passphrase: String,
    name: Option<String>,
) -> CmdResult<KeySummary> {
    let passphrase = Zeroizing::new(passphrase);
    let name = name.filter(|n| !n.trim().is_empty());
    if let Some(n) = &name {
        key_name(n)?;
    }
    let path = file(&path)?;
    with_keystore(&state, move |ks| {
        Ok(keys::restore_backup_file(
            ks,
            &path,
            &passphrase,
            name.as_deref(),
        )?)
    })
    .await
}

/// The PEM public key of an RSA key (`NotRsa` for an AES key).
#[tauri::command]
pub async fn key_public_pem(state: tauri::State<'_, AppState>, name: String) -> CmdResult<String> {
    key_name(&name)?;
    with_keystore(&state, move |ks| Ok(ks.public_key_pem(&name)?)).await
}

#[tauri::command]
pub async fn set_default_key(
    state: tauri::State<'_, AppState>,
    name: String,
) -> CmdResult<KeySummary> {
    key_name(&name)?;
    with_keystore(&state, move |ks| {
        Ok(KeySummary::from(&ks.set_default(&name)?))
    })
    .await
}

/// Adds a new version of the key (new encryptions use it; older versions stay to decrypt).
#[tauri::command]
pub async fn rotate_key(state: tauri::State<'_, AppState>, name: String) -> CmdResult<KeySummary> {
    key_name(&name)?;
    with_keystore(&state, move |ks| Ok(KeySummary::from(&ks.rotate(&name)?))).await
}

/// A renamed key and the sync folders that follow it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenamedKey {
    pub key: KeySummary,
    pub sync_pairs: Vec<String>,
}

/// Renames key `name` to `new_name`: the fingerprint stays (every object stays readable) and
/// the sync folders that encrypt with it follow. Refused while the key is being rewrapped.
#[tauri::command]
pub async fn rename_key(
    state: tauri::State<'_, AppState>,
    name: String,
    new_name: String,
) -> CmdResult<RenamedKey> {
    key_name(&name)?;
    key_name(&new_name)?;
    if state
        .rewraps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&name)
    {
        return Err(CommandError::invalid(format!(
            "key {name:?} is being rewrapped: rename it once the rewrap is done"
        )));
    }
    let pairs = state.sync.store().clone();
    with_keystore(&state, move |ks| {
        let renamed = pairs.rename_key(ks, &name, &new_name)?;
        Ok(RenamedKey {
            key: KeySummary::from(&renamed.key),
            sync_pairs: renamed.pairs,
        })
    })
    .await
}

/// Deletes a key once its name was typed to confirm.
#[tauri::command]
pub async fn delete_key(
    state: tauri::State<'_, AppState>,
    name: String,
    confirm_name: String,
) -> CmdResult<()> {
    key_name(&name)?;
    if confirm_name != name {
        return Err(CommandError::invalid(
            "deleting a key needs its name typed to confirm",
        ));
    }
    with_keystore(&state, move |ks| {
        // A key a sync folder encrypts with is refused (KeyInUse) until the folder is unbound.
        let in_use = !PairStore::open_default()?.using_key(&name)?.is_empty();
        Ok(keys::delete_confirmed(ks, &name, &confirm_name, in_use)?)
    })
    .await
}

/// A rewrap as it goes: the counts so far and the object just handled.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewrapProgress {
    pub rewrapped: u64,
    pub failed: u64,
    pub key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewrapResult {
    pub key: KeySummary,
    pub resumed: bool,
    pub rewrapped: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Stopped by `cancel_rewrap`: the counts are those done before the stop (running the
    /// same rotation again finishes the rewrap without another version).
    pub cancelled: bool,
}

/// Rotates key `name` and rewraps the objects under `bucket`/`prefix` of `connection` to the
/// new version (their content is not re-uploaded), reporting each object on `progress`;
/// [`cancel_rewrap`] stops it cleanly.
#[tauri::command]
pub async fn rotate_key_rewrap(
    state: tauri::State<'_, AppState>,
    name: String,
    connection: String,
    bucket: String,
    prefix: String,
    progress: tauri::ipc::Channel<RewrapProgress>,
) -> CmdResult<RewrapResult> {
    key_name(&name)?;
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::prefix(&prefix)?;
    let client = state.connections.client(&connection)?;
    let open = state.keystore.clone();
    let keystore = tauri::async_runtime::spawn_blocking(move || open())
        .await
        .map_err(|e| CommandError::invalid(format!("the keystore task failed: {e}")))??;
    let target = RewrapTarget {
        bucket: &bucket,
        prefix: &prefix,
        jobs: 4,
    };
    let (rewrapped, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let on_event = |event: RewrapEvent| {
        let key = match event {
            RewrapEvent::Rewrapped { key, .. } => {
                rewrapped.fetch_add(1, Ordering::Relaxed);
                key
            }
            RewrapEvent::Failed { key, error } => {
                tracing::warn!("rewrap of {bucket}/{key}: {error}");
                failed.fetch_add(1, Ordering::Relaxed);
                key
            }
        };
        let _ = progress.send(RewrapProgress {
            rewrapped: rewrapped.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
            key,
        });
    };
    let cancel = CancellationToken::new();
    {
        let mut running = state.rewraps.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains_key(&name) {
            return Err(CommandError::invalid(format!(
                "key {name:?} is being rewrapped already"
            )));
        }
        running.insert(name.clone(), cancel.clone());
    }
    let result =
        rewrap::rotate_and_rewrap(&client, &keystore, &name, &target, &on_event, &cancel).await;
    state
        .rewraps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&name);
    let (start, counts) = result?;
    Ok(RewrapResult {
        key: KeySummary::from(&start.key),
        resumed: start.resumed,
        rewrapped: counts.rewrapped,
        skipped: counts.skipped,
        failed: counts.failed,
        cancelled: counts.cancelled,
    })
}

/// Stops the rewrap of key `name` (the objects in flight finish; the rewrap then returns what
/// it did). `false`: none was running.
#[tauri::command]
pub fn cancel_rewrap(state: tauri::State<'_, AppState>, name: String) -> CmdResult<bool> {
    key_name(&name)?;
    let running = state.rewraps.lock().unwrap_or_else(|p| p.into_inner());
    Ok(running.get(&name).map(|c| c.cancel()).is_some())
}

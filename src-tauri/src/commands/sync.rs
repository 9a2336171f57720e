//! The Sync screen: pairs of a local folder and a bucket prefix, run by the app's
//! [`ossvault_sync::SyncEngine`] (the pairs `ossvault sync` keeps). One path-taking command
//! adds a pair for both the folder picker and a folder dropped on the window; every pair's
//! status streams over a channel, on change only.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_sync::restore::{Restored, TrashVersion};
use ossvault_sync::{FilesPage, NewPair, OpenConflict, Pair, PairOverview, Resolution};
use std::time::Duration;
use tauri::ipc::Channel;

/// At most ten status updates a second reach the UI.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

fn pair_name(name: &str) -> CmdResult<()> {
    ossvault_ops::profiles::validate_name(name).map_err(CommandError::from)
}

/// Every pair with its status now (the channel of [`watch_sync`] sends the same shape).
#[tauri::command]
pub fn list_sync_pairs(state: tauri::State<'_, AppState>) -> Vec<PairOverview> {
    state.sync.overview()
}

/// Streams every pair with its status to the UI: now, then after each change (coalesced to
/// at most ten a second), until the window goes away.
#[tauri::command]
pub fn watch_sync(state: tauri::State<'_, AppState>, channel: Channel<Vec<PairOverview>>) {
    let engine = state.sync.clone();
    tauri::async_runtime::spawn(async move {
        engine
            .watch_statuses(STATUS_INTERVAL, |all| channel.send(all.to_vec()).is_ok())
            .await;
    });
}

/// Pairs an existing folder with `oss://bucket/prefix` on a connection, with a key and a
/// mode, and starts it: what the folder picker and a folder dropped on the window both feed.
#[tauri::command]
pub async fn add_sync_pair(state: tauri::State<'_, AppState>, pair: NewPair) -> CmdResult<Pair> {
    if let Some(c) = &pair.profile {
        validate::connection(c)?;
    }
    validate::bucket(&pair.bucket)?;
    validate::prefix(&pair.prefix)?;
    if !pair.local.is_absolute() {
        return Err(CommandError::invalid(format!(
            "not an absolute path: {}",
            pair.local.display()
        )));
    }
    if let Some(n) = &pair.name {
        pair_name(n)?;
    }
    Ok(state.sync.add(pair).await?)
}

#[tauri::command]
pub fn pause_sync_pair(state: tauri::State<'_, AppState>, name: String) -> CmdResult<()> {
    pair_name(&name)?;
    Ok(state.sync.pause(&name)?)
}

#[tauri::command]
pub fn resume_sync_pair(state: tauri::State<'_, AppState>, name: String) -> CmdResult<()> {
    pair_name(&name)?;
    Ok(state.sync.resume(&name)?)
}

/// Stops syncing a pair and forgets it: the folder and the remote objects stay.
#[tauri::command]
pub async fn remove_sync_pair(state: tauri::State<'_, AppState>, name: String) -> CmdResult<()> {
    pair_name(&name)?;
    Ok(state.sync.remove(&name).await?)
}

/// Bytes per second, up and down together; `null` or 0: unlimited.
#[tauri::command]
pub fn set_sync_bandwidth(
    state: tauri::State<'_, AppState>,
    name: String,
    limit: Option<u64>,
) -> CmdResult<Pair> {
    pair_name(&name)?;
    if limit.is_some_and(|l| l > 0 && l < 1024) {
        return Err(CommandError::invalid(
            "a bandwidth limit below 1 KiB/s would stall the pair",
        ));
    }
    Ok(state.sync.set_bandwidth_limit(&name, limit)?)
}

/// A page of the pair's files with their state (`after`: the last path of the page before).
#[tauri::command]
pub fn sync_files(
    state: tauri::State<'_, AppState>,
    name: String,
    after: Option<String>,
    limit: usize,
) -> CmdResult<FilesPage> {
    pair_name(&name)?;
    Ok(state.sync.files(&name, after.as_deref(), limit)?)
}

#[tauri::command]
pub fn sync_conflicts(
    state: tauri::State<'_, AppState>,
    name: String,
) -> CmdResult<Vec<OpenConflict>> {
    pair_name(&name)?;
    Ok(state.sync.conflicts(&name)?)
}

/// Keeps the local version, the remote one, or both, of the conflict whose copy is `copy`.
#[tauri::command]
pub fn resolve_sync_conflict(
    state: tauri::State<'_, AppState>,
    name: String,
    copy: String,
    resolution: Resolution,
) -> CmdResult<OpenConflict> {
    pair_name(&name)?;
    Ok(state.sync.resolve_conflict(&name, &copy, resolution)?)
}

/// Opens one version of a conflict (both are files in the folder) with the OS's default app.
#[tauri::command]
pub fn open_sync_conflict_version(
    state: tauri::State<'_, AppState>,
    name: String,
    copy: String,
    remote: bool,
) -> CmdResult<()> {
    pair_name(&name)?;
    let file = state.sync.conflict_file(&name, &copy, remote)?;
    crate::opener::open(&file).map_err(|e| CommandError {
        code: "OpenFailed".into(),
        message: format!("cannot open {}: {e}", file.display()),
        request_id: None,
    })
}

/// The pair's recently deleted and overwritten versions, newest first.
#[tauri::command]
pub async fn sync_trash(
    state: tauri::State<'_, AppState>,
    name: String,
) -> CmdResult<Vec<TrashVersion>> {
    pair_name(&name)?;
    Ok(state.sync.trash(&name, 500).await?)
}

/// Restores one kept version into the folder (beside the file when its name is taken).
#[tauri::command]
pub async fn restore_sync_version(
    state: tauri::State<'_, AppState>,
    name: String,
    key: String,
    stamp: String,
) -> CmdResult<Restored> {
    pair_name(&name)?;
    validate::key(&key)?;
    Ok(state.sync.restore(&name, &key, &stamp).await?)
}

/// The pair's ignore rules (`.ossvaultignore` in its folder, gitignore syntax).
#[tauri::command]
pub fn sync_ignore_rules(state: tauri::State<'_, AppState>, name: String) -> CmdResult<String> {
    pair_name(&name)?;
    Ok(state.sync.ignore_rules(&name)?)
}

#[tauri::command]
pub fn set_sync_ignore_rules(
    state: tauri::State<'_, AppState>,
    name: String,
    rules: String,
) -> CmdResult<()> {
    pair_name(&name)?;
    if rules.len() > 64 * 1024 {
        return Err(CommandError::invalid("ignore rules longer than 64 KiB"));
    }
    Ok(state.sync.set_ignore_rules(&name, &rules)?)
}

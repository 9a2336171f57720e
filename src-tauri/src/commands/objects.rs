//! The object browser: pages of a level, new folder, delete, properties, the encryption
//! badges of listed objects, presigned links.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_ops::browse::{self, ObjectPage};
use ossvault_ops::delete::DeleteSummary;
use ossvault_ops::properties::{EncryptionBadges, ObjectProperties};
use std::time::Duration;

/// Most rows [`object_badges`] looks at in one call (a screenful and its margins).
const MAX_BADGE_KEYS: usize = 200;

/// Longest validity of a presigned link (what a V4 signature allows).
pub const MAX_LINK_SECS: u64 = 7 * 24 * 3600;

/// One page (at most 1000 entries) of the level `prefix` of `bucket`, after `token`.
#[tauri::command]
pub async fn list_objects(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    prefix: String,
    token: Option<String>,
    max: Option<u32>,
) -> CmdResult<ObjectPage> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::prefix(&prefix)?;
    let client = state.connections.client(&connection)?;
    Ok(browse::page(&client, &bucket, &prefix, token, max.unwrap_or(1000)).await?)
}

/// Makes the folder `prefix` + `name` + `/`; returns its key.
#[tauri::command]
pub async fn create_folder(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    prefix: String,
    name: String,
) -> CmdResult<String> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::prefix(&prefix)?;
    if name.contains('/') || name.trim().is_empty() {
        return Err(CommandError::invalid(format!(
            "invalid folder name {name:?}: not empty, no '/'"
        )));
    }
    validate::key(&format!("{prefix}{name}/"))?;
    let client = state.connections.client(&connection)?;
    Ok(browse::create_folder(&client, &bucket, &format!("{prefix}{name}")).await?)
}

/// Deletes the selected objects and everything under the selected folders.
#[tauri::command]
pub async fn delete_objects(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    keys: Vec<String>,
    folders: Vec<String>,
) -> CmdResult<DeleteSummary> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    for k in &keys {
        validate::key(k)?;
    }
    for f in &folders {
        // An empty folder would be the whole bucket: that is bucket deletion, not this.
        if !f.ends_with('/') {
            return Err(CommandError::invalid(format!(
                "a folder ends with '/': {f:?}"
            )));
        }
        validate::key(f)?;
    }
    let client = state.connections.client(&connection)?;
    Ok(ossvault_ops::delete::delete_selection(&client, &bucket, &keys, &folders).await?)
}

/// Size, ETag, CRC-64, type, metadata and encryption of one object.
#[tauri::command]
pub async fn object_properties(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    key: String,
) -> CmdResult<ObjectProperties> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::key(&key)?;
    let client = state.connections.client(&connection)?;
    let keystore = state.keystore.clone();
    Ok(
        ossvault_ops::properties::object_properties(&client, &bucket, &key, move || keystore())
            .await?,
    )
}

/// A GET link valid for `expires_secs` (1 s to 7 days).
#[tauri::command]
pub fn presign_url(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    key: String,
    expires_secs: u64,
) -> CmdResult<String> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::key(&key)?;
    if !(1..=MAX_LINK_SECS).contains(&expires_secs) {
        return Err(CommandError::invalid(format!(
            "a link is valid for 1 s to 7 days, not {expires_secs} s"
        )));
    }
    let client = state.connections.client(&connection)?;
    Ok(client.presign("GET", &bucket, &key, Duration::from_secs(expires_secs))?)
}

/// The encryption badges of the objects a list shows (one HEAD each, a few in flight).
#[tauri::command]
pub async fn object_badges(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    keys: Vec<String>,
) -> CmdResult<Vec<EncryptionBadges>> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    if keys.len() > MAX_BADGE_KEYS {
        return Err(CommandError::invalid(format!(
            "at most {MAX_BADGE_KEYS} objects at a time, not {}",
            keys.len()
        )));
    }
    for k in &keys {
        validate::key(k)?;
    }
    let client = state.connections.client(&connection)?;
    let keystore = state.keystore.clone();
    Ok(
        ossvault_ops::properties::encryption_badges(&client, &bucket, &keys, move || keystore())
            .await,
    )
}

//! The KMS tab: the CMKs of the embedded server's local KMS (SSE-KMS), BYOK import, and the
//! rotation of the SSE-OSS master key.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_client::{CreateKeyOptions, KeyMetadata};
use serde::Serialize;
use std::path::PathBuf;

/// Shortest and longest wait before a scheduled deletion (what KMS allows).
pub const DELETION_DAYS: std::ops::RangeInclusive<u32> = 7..=366;

/// A CMK as the KMS tab shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CmkRow {
    pub key_id: String,
    /// `Enabled`, `Disabled`, `PendingDeletion` or `PendingImport`.
    pub state: String,
    pub description: String,
    pub created: String,
    /// `Aliyun_KMS`, or `EXTERNAL` (BYOK).
    pub origin: String,
    pub delete_date: Option<String>,
}

impl From<KeyMetadata> for CmkRow {
    fn from(k: KeyMetadata) -> Self {
        CmkRow {
            key_id: k.key_id,
            state: k.key_state,
            description: k.description,
            created: k.creation_date,
            origin: k.origin,
            delete_date: k.delete_date,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MasterKeyRotated {
    pub version: u32,
    pub rewrapped_objects: u64,
    pub rewrapped_uploads: u64,
}

fn key_id(id: &str) -> CmdResult<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '/'))
    {
        return Err(CommandError::invalid(format!("invalid KMS key id {id:?}")));
    }
    Ok(())
}

#[tauri::command]
pub async fn kms_list_keys(
    state: tauri::State<'_, AppState>,
    connection: String,
) -> CmdResult<Vec<CmkRow>> {
    validate::connection(&connection)?;
    let client = state.connections.client(&connection)?;
    Ok(ossvault_ops::kms::list_keys(&client)
        .await?
        .into_iter()
        .map(CmkRow::from)
        .collect())
}

/// Creates a CMK; `external` makes a BYOK key waiting for its material.
#[tauri::command]
pub async fn kms_create_key(
    state: tauri::State<'_, AppState>,
    connection: String,
    description: Option<String>,
    external: bool,
) -> CmdResult<CmkRow> {
    validate::connection(&connection)?;
    let description = description.filter(|d| !d.trim().is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 8192)
    {
        return Err(CommandError::invalid(
            "a description has at most 8192 characters",
        ));
    }
    let client = state.connections.client(&connection)?;
    let options = CreateKeyOptions {
        description,
        external,
    };
    Ok(client.create_key(&options).await?.into())
}

/// Enables or disables a CMK (nothing under a disabled key decrypts).
#[tauri::command]
pub async fn kms_set_key_enabled(
    state: tauri::State<'_, AppState>,
    connection: String,
    key_id: String,
    enabled: bool,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    self::key_id(&key_id)?;
    let client = state.connections.client(&connection)?;
    if enabled {
        Ok(client.enable_key(&key_id).await?)
    } else {
        Ok(client.disable_key(&key_id).await?)
    }
}

/// Schedules the deletion of a CMK in `days` (7 to 366).
#[tauri::command]
pub async fn kms_schedule_deletion(
    state: tauri::State<'_, AppState>,
    connection: String,
    key_id: String,
    days: u32,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    self::key_id(&key_id)?;
    if !DELETION_DAYS.contains(&days) {
        return Err(CommandError::invalid(format!(
            "a deletion is scheduled 7 to 366 days ahead, not {days}"
        )));
    }
    let client = state.connections.client(&connection)?;
    Ok(client.schedule_key_deletion(&key_id, days).await?)
}

#[tauri::command]
pub async fn kms_cancel_deletion(
    state: tauri::State<'_, AppState>,
    connection: String,
    key_id: String,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    self::key_id(&key_id)?;
    let client = state.connections.client(&connection)?;
    Ok(client.cancel_key_deletion(&key_id).await?)
}

/// BYOK: imports AES-256 material from a file (32 raw bytes or 64 hex digits) into a key made
/// for it; the material is wrapped under the server's import key in this process.
#[tauri::command]
pub async fn kms_import_material(
    state: tauri::State<'_, AppState>,
    connection: String,
    key_id: String,
    path: String,
) -> CmdResult<CmkRow> {
    validate::connection(&connection)?;
    self::key_id(&key_id)?;
    if path.trim().is_empty() {
        return Err(CommandError::invalid("no file chosen"));
    }
    let material = ossvault_ops::kms::read_key_material(&PathBuf::from(path))?;
    let client = state.connections.client(&connection)?;
    Ok(
        ossvault_ops::kms::import_key_material(&client, &key_id, &material)
            .await?
            .into(),
    )
}

/// Rotates the SSE-OSS master key of the embedded server; returns what was re-wrapped.
#[tauri::command]
pub async fn kms_rotate_master_key(
    state: tauri::State<'_, AppState>,
    connection: String,
) -> CmdResult<MasterKeyRotated> {
    validate::connection(&connection)?;
    let client = state.connections.client(&connection)?;
    let r = client.rotate_master_key().await?;
    Ok(MasterKeyRotated {
        version: r.version,
        rewrapped_objects: r.rewrapped_objects,
        rewrapped_uploads: r.rewrapped_uploads,
    })
}

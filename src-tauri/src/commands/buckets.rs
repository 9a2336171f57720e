//! Buckets: the list with encryption and HTTPS-only badges, create, delete, settings.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_ops::buckets::{
    self, BucketOverview, BucketSettings, CmkWarning, DefaultEncryption, EncryptionView,
};
use serde::Serialize;

#[tauri::command]
pub async fn list_buckets(
    state: tauri::State<'_, AppState>,
    connection: String,
) -> CmdResult<Vec<BucketOverview>> {
    validate::connection(&connection)?;
    let client = state.connections.client(&connection)?;
    Ok(buckets::overview(&client).await?)
}

#[tauri::command]
pub async fn create_bucket(
    state: tauri::State<'_, AppState>,
    connection: String,
    name: String,
    acl: Option<String>,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    validate::bucket(&name)?;
    let client = state.connections.client(&connection)?;
    Ok(buckets::create(&client, &name, acl.as_deref()).await?)
}

/// Deletes a bucket. A non-empty one is refused (`BucketNotEmpty`) unless `empty` is set,
/// which the UI sends only after the name was typed to confirm. Returns the objects deleted.
#[tauri::command]
pub async fn delete_bucket(
    state: tauri::State<'_, AppState>,
    connection: String,
    name: String,
    empty: bool,
    confirm_name: Option<String>,
) -> CmdResult<u64> {
    validate::connection(&connection)?;
    validate::bucket(&name)?;
    if empty && confirm_name.as_deref() != Some(name.as_str()) {
        return Err(CommandError::invalid(
            "emptying a bucket needs its name typed to confirm",
        ));
    }
    let client = state.connections.client(&connection)?;
    Ok(buckets::remove(&client, &name, empty).await?)
}

#[tauri::command]
pub async fn bucket_settings(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
) -> CmdResult<BucketSettings> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    let client = state.connections.client(&connection)?;
    Ok(buckets::settings(&client, &bucket).await?)
}

/// Sets the default server-side encryption: `{algorithm: "none" | "AES256" | "SM4" | "KMS",
/// keyId?, dataEncryption?: "SM4"}`. The rule is saved even when its CMK is not in the
/// server's KMS (as OSS does); that comes back as a warning.
#[tauri::command]
pub async fn set_bucket_encryption(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    encryption: EncryptionView,
) -> CmdResult<Option<CmkWarning>> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    let encryption = DefaultEncryption::try_from(&encryption)?;
    let client = state.connections.client(&connection)?;
    Ok(buckets::set_default_encryption(&client, &bucket, &encryption).await?)
}

#[tauri::command]
pub async fn set_https_only(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    on: bool,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    let client = state.connections.client(&connection)?;
    Ok(buckets::set_https_only(&client, &bucket, on).await?)
}

#[tauri::command]
pub async fn set_bucket_acl(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    acl: String,
) -> CmdResult<()> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    buckets::check_acl(&acl)?;
    let client = state.connections.client(&connection)?;
    Ok(client.set_bucket_acl(&bucket, &acl).await?)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsKey {
    pub key_id: String,
}

/// The CMKs of the connection's KMS (the embedded server's local KMS for Local).
#[tauri::command]
pub async fn list_kms_keys(
    state: tauri::State<'_, AppState>,
    connection: String,
) -> CmdResult<Vec<KmsKey>> {
    validate::connection(&connection)?;
    let client = state.connections.client(&connection)?;
    Ok(client
        .all_keys()
        .await?
        .into_iter()
        .map(|k| KmsKey { key_id: k.key_id })
        .collect())
}

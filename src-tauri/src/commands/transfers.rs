//! Uploads and downloads through the persistent transfer queue (`ossvault_ops::transfers`):
//! the one path-taking upload command that the file dialog and the drop event both feed,
//! downloads into a chosen folder, the list, its live events over a channel, and the actions.

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::validate;
use ossvault_ops::sse::ObjectSse;
use ossvault_ops::transfers::{
    ClientSideEncryption, TransferEvent, TransferId, TransferInfo, TransferQueue,
};
use std::path::PathBuf;
use tauri::ipc::Channel;
use tokio::sync::broadcast::error::RecvError;

fn queue(state: &AppState) -> CmdResult<TransferQueue> {
    match &state.transfers {
        Ok(q) => Ok(q.clone()),
        Err(e) => Err(CommandError {
            code: "TransfersUnavailable".into(),
            message: e.clone(),
            request_id: None,
        }),
    }
}

/// Queues the upload of each path (a file, or a folder with everything in it) under `prefix`
/// of `bucket`: a file becomes `prefix + its name`, a folder `prefix + its name + /…`;
/// `server_side` asks for server-side encryption instead of the bucket's default.
#[tauri::command]
pub async fn upload_paths(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    prefix: String,
    paths: Vec<PathBuf>,
    encryption: Option<ClientSideEncryption>,
    server_side: Option<ObjectSse>,
) -> CmdResult<Vec<TransferId>> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    validate::prefix(&prefix)?;
    for p in &paths {
        if !p.is_absolute() {
            return Err(CommandError::invalid(format!(
                "not an absolute path: {}",
                p.display()
            )));
        }
    }
    if let Some(e) = &encryption {
        if e.key.trim().is_empty() {
            return Err(CommandError::invalid("the encryption key name is empty"));
        }
    }
    if let Some(ObjectSse::Kms {
        key_id: Some(id), ..
    }) = &server_side
    {
        if id.trim().is_empty() || id.chars().any(char::is_control) {
            return Err(CommandError::invalid(format!("not a CMK id: {id:?}")));
        }
    }
    Ok(queue(&state)?
        .upload_into(
            &connection,
            &bucket,
            &prefix,
            paths,
            encryption,
            server_side,
        )
        .await?)
}

/// Queues the download of each key (an object, or with a trailing `/` everything under it)
/// into `destination`, decrypting client-side encrypted objects on the way.
#[tauri::command]
pub async fn download_objects(
    state: tauri::State<'_, AppState>,
    connection: String,
    bucket: String,
    keys: Vec<String>,
    destination: PathBuf,
) -> CmdResult<Vec<TransferId>> {
    validate::connection(&connection)?;
    validate::bucket(&bucket)?;
    for k in &keys {
        validate::key(k)?;
    }
    if !destination.is_absolute() {
        return Err(CommandError::invalid(format!(
            "not an absolute path: {}",
            destination.display()
        )));
    }
    Ok(queue(&state)?
        .download_into(&connection, &bucket, keys, &destination)
        .await?)
}

#[tauri::command]
pub fn list_transfers(state: tauri::State<'_, AppState>) -> CmdResult<Vec<TransferInfo>> {
    Ok(queue(&state)?.list())
}

/// Streams the queue's events to the UI until the window goes away. A listener that fell
/// behind gets a `resync` with the whole list.
#[tauri::command]
pub fn watch_transfers(
    state: tauri::State<'_, AppState>,
    channel: Channel<serde_json::Value>,
) -> CmdResult<()> {
    let queue = queue(&state)?;
    let mut events = queue.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            let message = match events.recv().await {
                Ok(event) => serde_json::to_value::<&TransferEvent>(&event),
                Err(RecvError::Lagged(_)) => serde_json::to_value(
                    serde_json::json!({"event": "resync", "transfers": queue.list()}),
                ),
                Err(RecvError::Closed) => break,
            };
            let Ok(message) = message else { continue };
            if channel.send(message).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// `pause`, `resume`, `cancel` or `retry` one transfer.
#[tauri::command]
pub async fn transfer_action(
    state: tauri::State<'_, AppState>,
    id: TransferId,
    action: String,
) -> CmdResult<()> {
    let queue = queue(&state)?;
    match action.as_str() {
        "pause" => queue.pause(id).await?,
        "resume" => queue.resume(id).await?,
        "cancel" => queue.cancel(id).await?,
        "retry" => queue.retry(id).await?,
        other => {
            return Err(CommandError::invalid(format!(
                "unknown action {other:?}: pause, resume, cancel or retry"
            )))
        }
    }
    Ok(())
}

/// Removes completed, cancelled and failed transfers from the list; returns how many.
#[tauri::command]
pub async fn clear_finished_transfers(state: tauri::State<'_, AppState>) -> CmdResult<usize> {
    Ok(queue(&state)?.clear_finished().await?)
}

//! Connections: the built-in Local one and the saved profiles (shared with the CLI).

use crate::error::CmdResult;
use crate::state::AppState;
use crate::validate;
use ossvault_ops::registry::{ConnectionForm, ConnectionInfo};

#[tauri::command]
pub fn list_connections(state: tauri::State<'_, AppState>) -> CmdResult<Vec<ConnectionInfo>> {
    Ok(state.connections.list()?)
}

/// Creates or updates a remote connection; its secret goes to the OS keychain.
#[tauri::command]
pub fn save_connection(
    state: tauri::State<'_, AppState>,
    form: ConnectionForm,
) -> CmdResult<ConnectionInfo> {
    validate::connection(&form.name)?;
    Ok(state.connections.save(form)?)
}

#[tauri::command]
pub fn remove_connection(state: tauri::State<'_, AppState>, name: String) -> CmdResult<()> {
    validate::connection(&name)?;
    Ok(state.connections.remove(&name)?)
}

/// Reaches the connection and lists its buckets; returns how many it sees.
#[tauri::command]
pub async fn test_connection(state: tauri::State<'_, AppState>, name: String) -> CmdResult<usize> {
    validate::connection(&name)?;
    Ok(state.connections.test(&name).await?)
}

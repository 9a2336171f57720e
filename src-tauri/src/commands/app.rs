//! The app itself: the embedded server's state and the app's directories.

use crate::state::{AppDirs, AppState, ServerStatus};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub server: ServerStatus,
    pub dirs: AppDirs,
    pub version: &'static str,
}

/// The embedded server (endpoint, where its secrets are, why it does not run) and directories.
#[tauri::command]
pub fn app_status(state: tauri::State<'_, AppState>) -> AppStatus {
    AppStatus {
        server: state.server.clone(),
        dirs: state.dirs.clone(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

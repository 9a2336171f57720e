//! What the commands share: the embedded server (or why it is not running), the connections,
//! and the app's directories.

use ossvault_ops::local_server::{LocalServer, Note, SecretsPlace};
use ossvault_ops::registry::ConnectionRegistry;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// The embedded server as the UI shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub running: bool,
    pub endpoint: Option<String>,
    pub https_endpoint: Option<String>,
    /// Where its secrets are: `keychain`, or `files` (then the UI warns).
    pub secrets: Option<SecretsPlace>,
    pub notes: Vec<Note>,
    /// Why it does not run.
    pub error: Option<String>,
    /// The CLI profile that reaches it, or why it could not be saved.
    pub profile_saved: bool,
    pub profile_error: Option<String>,
}

impl ServerStatus {
    pub fn of(server: &LocalServer) -> Self {
        let (profile_saved, profile_error) = match &server.profile {
            Some((_, Ok(_))) => (true, None),
            Some((_, Err(e))) => (false, Some(e.clone())),
            None => (false, None),
        };
        ServerStatus {
            running: true,
            endpoint: Some(server.endpoint()),
            https_endpoint: server.https_endpoint(),
            secrets: Some(server.secrets),
            notes: server.notes.clone(),
            error: None,
            profile_saved,
            profile_error,
        }
    }

    pub fn failed(error: String) -> Self {
        ServerStatus {
            running: false,
            endpoint: None,
            https_endpoint: None,
            secrets: None,
            notes: Vec::new(),
            error: Some(error),
            profile_saved: false,
            profile_error: None,
        }
    }
}

/// The app's directories.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDirs {
    pub data: PathBuf,
    pub logs: PathBuf,
    pub config: PathBuf,
}

pub struct AppState {
    pub server: ServerStatus,
    /// The embedded server while it runs; taken and shut down when the app exits.
    pub running: std::sync::Mutex<Option<LocalServer>>,
    pub connections: Arc<ConnectionRegistry>,
    pub dirs: AppDirs,
    /// Opens the keystore of master keys (client-side encryption).
    pub keystore: ossvault_ops::copy::KeystoreOpener,
    /// The persistent upload/download queue, or why it could not be opened.
    pub transfers: Result<ossvault_ops::transfers::TransferQueue, String>,
    /// The sync pairs (the store `ossvault sync` uses), run in this process.
    pub sync: Arc<ossvault_sync::SyncEngine>,
    /// The app's settings file (`settings.json` in the config directory).
    pub settings: ossvault_ops::app_settings::SettingsStore,
}

//! What the commands share: the embedded server (or why it is not running), the connections,
//! and the app's directories.

use ossvault_client::transfer::CancellationToken;
use ossvault_ops::app_settings::{AppSettings, LogLevel, SettingsStore};
use ossvault_ops::local_server::{LocalServer, Note, SecretsPlace};
use ossvault_ops::registry::ConnectionRegistry;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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

    /// Not started: the settings turn it off.
    pub fn off() -> Self {
        ServerStatus {
            error: None,
            ..Self::failed(String::new())
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
    /// The app's settings (`settings.json` in the config directory).
    pub settings: SettingsState,
    /// The rewraps running, by key name: cancelling the token stops one cleanly.
    pub rewraps: Mutex<HashMap<String, CancellationToken>>,
}

/// Changes the log level of the running app.
pub type LogLevelControl = Arc<dyn Fn(LogLevel) -> Result<(), String> + Send + Sync>;

/// The settings file, what it held at start (what the server runs with) and what it holds now.
pub struct SettingsState {
    pub store: SettingsStore,
    /// As read at start: the server's settings apply after a restart.
    pub at_start: AppSettings,
    current: Mutex<AppSettings>,
    /// Why the file could not be read at start (the app runs on defaults then).
    pub load_error: Option<String>,
    /// `None`: the level applies at the next start (no reloadable subscriber).
    pub log_level: Option<LogLevelControl>,
}

impl SettingsState {
    pub fn new(
        store: SettingsStore,
        settings: AppSettings,
        load_error: Option<String>,
        log_level: Option<LogLevelControl>,
    ) -> Self {
        SettingsState {
            store,
            at_start: settings.clone(),
            current: Mutex::new(settings),
            load_error,
            log_level,
        }
    }

    pub fn current(&self) -> AppSettings {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the current settings, then validates and saves them.
    pub fn update(
        &self,
        change: impl FnOnce(&mut AppSettings),
    ) -> ossvault_ops::Result<AppSettings> {
        let mut settings = self.current();
        change(&mut settings);
        self.save(settings.clone())?;
        Ok(settings)
    }

    /// Validates and saves `settings`, then makes them current.
    pub fn save(&self, settings: AppSettings) -> ossvault_ops::Result<()> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        self.store.save_valid(&settings)?;
        *current = settings;
        Ok(())
    }
}

//! The Settings screen: the settings file of `ossvault_ops::app_settings` (validated there),
//! applied at once where the running app allows it (transfers, log level, start at login) and
//! at the next start for the embedded server; the log folder; the versions for "About".

use crate::error::{CmdResult, CommandError};
use crate::startup::{ENV_ADDRESS, ENV_DATA_DIR, ENV_HTTPS_ADDRESS};
use crate::state::AppState;
use ossvault_ops::app_settings::{AppSettings, NotificationSettings, ServerSettings, UiLanguage};
use serde::Serialize;
use tauri::Manager;

/// The environment variables that override a server setting (scripts and tests set them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    pub address: bool,
    pub https_address: bool,
    pub data_dir: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub settings: AppSettings,
    /// The server settings the running server started with (others apply after a restart).
    pub server_at_start: ServerSettings,
    /// Why the settings file could not be read at start (the app runs on defaults).
    pub load_error: Option<String>,
    pub overrides: Overrides,
    /// The log level changes at once (else at the next start).
    pub log_level_live: bool,
    pub versions: Versions,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    /// The app and the ossvault crates (the embedded server among them): one workspace version.
    pub app: &'static str,
    pub tauri: &'static str,
    pub webview: Option<String>,
}

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

#[tauri::command]
pub fn settings_get(state: tauri::State<'_, AppState>) -> SettingsView {
    SettingsView {
        settings: state.settings.current(),
        server_at_start: state.settings.at_start.server.clone(),
        load_error: state.settings.load_error.clone(),
        overrides: Overrides {
            address: set(ENV_ADDRESS),
            https_address: set(ENV_HTTPS_ADDRESS),
            data_dir: set(ENV_DATA_DIR),
        },
        log_level_live: state.settings.log_level.is_some(),
        versions: Versions {
            app: env!("CARGO_PKG_VERSION"),
            tauri: tauri::VERSION,
            webview: tauri::webview_version().ok(),
        },
    }
}

/// Validates and saves the settings (`InvalidInput` names the field), then applies what applies
/// at once: files at once and the bandwidth limits of the transfer queue, the log level, start
/// at login. The embedded server's settings apply at the next start. The notification switches
/// and what the app has told the user keep their saved values: they change through their own
/// commands, and a screen's older copy must not undo them.
#[tauri::command]
pub fn settings_set<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: tauri::State<'_, AppState>,
    mut settings: AppSettings,
) -> CmdResult<AppSettings> {
    settings.validate()?;
    let before = state.settings.current();
    settings.notifications = before.notifications.clone();
    settings.told_about_tray = before.told_about_tray;
    settings.language = before.language;
    if settings.start_at_login != before.start_at_login {
        // Only the real app has the plugin (not the mock runtime of the command tests).
        if let Some(autostart) = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>() {
            let done = if settings.start_at_login {
                autostart.enable()
            } else {
                autostart.disable()
            };
            done.map_err(|e| CommandError::invalid(format!("start at login: {e}")))?;
        }
    }
    state.settings.save(settings.clone())?;
    if let Ok(queue) = &state.transfers {
        queue.set_files_at_once(settings.transfers.files_at_once);
        queue.set_bandwidth_limits(
            settings.transfers.upload_limit,
            settings.transfers.download_limit,
        );
    }
    if settings.log_level != before.log_level {
        if let Some(apply) = &state.settings.log_level {
            apply(settings.log_level).map_err(CommandError::invalid)?;
        }
        tracing::info!("log level: {}", settings.log_level.as_str());
    }
    Ok(settings)
}

/// Opens the log folder in the file manager.
#[tauri::command]
pub fn open_log_folder(state: tauri::State<'_, AppState>) -> CmdResult<()> {
    let dir = &state.dirs.logs;
    ossvault_fs::create_private_dir_all(dir)
        .map_err(|e| CommandError::invalid(format!("{}: {e}", dir.display())))?;
    tauri_plugin_opener::open_path(dir, None::<&str>)
        .map_err(|e| CommandError::invalid(format!("cannot open {}: {e}", dir.display())))
}

/// Which desktop notifications are on.
#[tauri::command]
pub fn notification_settings(state: tauri::State<'_, AppState>) -> NotificationSettings {
    state.settings.current().notifications
}

/// Turns kinds of desktop notifications on or off (the other settings stay as saved).
#[tauri::command]
pub fn set_notification_settings(
    state: tauri::State<'_, AppState>,
    notifications: NotificationSettings,
) -> CmdResult<()> {
    state.settings.update(|s| s.notifications = notifications)?;
    Ok(())
}

/// The language the window shows, as the UI picks it (at start and on each change): the tray
/// menu and tooltip switch to it at once, and notifications are said in it.
#[tauri::command]
pub fn set_ui_language<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: tauri::State<'_, AppState>,
    language: UiLanguage,
) -> CmdResult<()> {
    if state.settings.current().language != Some(language) {
        state.settings.update(|s| s.language = Some(language))?;
    }
    crate::desktop::language_changed(&app);
    Ok(())
}

//! The app's settings that the Rust core acts on (`ossvault_ops::app_settings`).

use crate::error::CmdResult;
use crate::state::AppState;
use ossvault_ops::app_settings::NotificationSettings;

/// Which desktop notifications are on.
#[tauri::command]
pub fn notification_settings(state: tauri::State<'_, AppState>) -> CmdResult<NotificationSettings> {
    Ok(state.settings.load()?.notifications)
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

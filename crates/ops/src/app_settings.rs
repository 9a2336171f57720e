//! The desktop app's settings: one JSON file (`settings.json` in the app's config directory),
//! written atomically and durably, owner-only. A missing file or a missing field means the
//! default, so a newer app reads an older file; an unreadable file is an error that names it
//! (the app then runs on defaults and says so, it never overwrites the user's file silently).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything the Settings screen changes that the Rust core acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppSettings {
    pub notifications: NotificationSettings,
    /// The person was told once that closing the window keeps sync running in the tray.
    pub told_about_tray: bool,
}

/// Which desktop notifications the app shows; each kind can be turned off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NotificationSettings {
    /// A sync folder met a conflict (both sides changed).
    pub conflicts: bool,
    /// A sync folder stopped on an error that needs the user.
    pub sync_errors: bool,
    /// A large upload or download finished.
    pub large_transfers: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            conflicts: true,
            sync_errors: true,
            large_transfers: true,
        }
    }
}

/// The settings file.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    /// The store whose file is `settings.json` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        SettingsStore {
            path: dir.join("settings.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved settings, or the defaults when nothing was saved yet.
    pub fn load(&self) -> Result<AppSettings> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AppSettings::default()),
            Err(e) => return Err(Error::io(&self.path)(e)),
        };
        serde_json::from_str(&text).map_err(|e| Error::ConfigFile {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// Saves the settings atomically and durably, mode 0600 (the directory 0700 when created).
    pub fn save(&self, settings: &AppSettings) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        ossvault_fs::create_private_dir_all(dir).map_err(Error::io(dir))?;
        let mut text = serde_json::to_string_pretty(settings).map_err(|e| Error::ConfigFile {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        text.push('\n');
        ossvault_fs::write_durably(&self.path, text.as_bytes(), 0o600)
            .map_err(Error::io(&self.path))
    }
}

impl SettingsStore {
    /// Loads, changes and saves the settings (a broken file is an error, never replaced).
    pub fn update(&self, change: impl FnOnce(&mut AppSettings)) -> Result<AppSettings> {
        let mut settings = self.load()?;
        change(&mut settings);
        self.save(&settings)?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_saved_reads_as_defaults_and_a_save_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::in_dir(&dir.path().join("config"));
        assert_eq!(store.load().unwrap(), AppSettings::default());
        assert!(store.load().unwrap().notifications.conflicts);

        let mut s = AppSettings::default();
        s.notifications.large_transfers = false;
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        let after = store.update(|s| s.told_about_tray = true).unwrap();
        assert!(after.told_about_tray && !after.notifications.large_transfers);
        assert_eq!(store.load().unwrap(), after);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_fields_take_their_defaults_and_a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::in_dir(dir.path());
        std::fs::write(store.path(), r#"{"notifications":{"conflicts":false}}"#).unwrap();
        let s = store.load().unwrap();
        assert!(!s.notifications.conflicts);
        assert!(s.notifications.sync_errors);

        std::fs::write(store.path(), "{not json").unwrap();
        let err = store.load().unwrap_err();
        assert_eq!(err.code(), "ConfigFile");
        assert!(err.to_string().contains("settings.json"), "{err}");
    }
}

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
    /// The embedded server (read at start: changes apply after a restart).
    pub server: ServerSettings,
    /// The transfer queue (applied at once).
    pub transfers: TransferSettings,
    pub log_level: LogLevel,
    /// Start the app when the user logs in (an OS autostart entry).
    pub start_at_login: bool,
    /// The first-run offer to create a master key was dismissed (or taken): not shown again.
    pub key_prompt_done: bool,
    /// The language the window shows (the UI picks and keeps it, and tells the core, whose tray
    /// and notifications say their words in it); `None`: not told yet, the OS's.
    pub language: Option<UiLanguage>,
}

/// The languages of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiLanguage {
    #[serde(rename = "en")]
    English,
    #[serde(rename = "zh-CN")]
    SimplifiedChinese,
}

impl UiLanguage {
    /// The language of a locale name (`LANG`'s `zh_CN.UTF-8`, a browser's `zh-TW`): Chinese of
    /// any region is Simplified Chinese, anything else English (as the UI decides).
    pub fn of_locale(name: &str) -> UiLanguage {
        if name.to_ascii_lowercase().starts_with("zh") {
            UiLanguage::SimplifiedChinese
        } else {
            UiLanguage::English
        }
    }
}

/// Lowest port a setting may name (0 aside): lower ones need privileges.
pub const MIN_PORT: u16 = 1024;
/// Most files a transfer queue moves at once.
pub const MAX_FILES_AT_ONCE: usize = 16;
/// Lowest bandwidth limit, bytes per second (lower would stall every request).
pub const MIN_BANDWIDTH: u64 = 1024;

/// How the app runs its embedded OSS server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerSettings {
    /// Plain-HTTP port on 127.0.0.1; 0 picks a free one at each start.
    pub http_port: u16,
    /// HTTPS port on 127.0.0.1 (when `https`); 0 picks a free one.
    pub https_port: u16,
    /// Serve HTTPS too (a self-signed certificate).
    pub https: bool,
    /// Where the server keeps its data; `None`: `server` in the app's data directory.
    pub data_dir: Option<PathBuf>,
    /// Start the server with the app.
    pub start_with_app: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            http_port: 0,
            https_port: 0,
            https: true,
            data_dir: None,
            start_with_app: true,
        }
    }
}

/// The transfer queue's pace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TransferSettings {
    /// Files moving at once (1 to [`MAX_FILES_AT_ONCE`]).
    pub files_at_once: usize,
    /// Upload limit of the whole queue, bytes per second; `None`: unlimited.
    pub upload_limit: Option<u64>,
    /// Download limit of the whole queue, bytes per second; `None`: unlimited.
    pub download_limit: Option<u64>,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            files_at_once: 3,
            upload_limit: None,
            download_limit: None,
        }
    }
}

/// The least severe log events written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

impl LogLevel {
    /// The `tracing` filter directive (`error`, `warn`, `info`, `debug`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl AppSettings {
    /// Checks every field: ports 0 or [`MIN_PORT`] and above, and not the same twice; the data
    /// directory absolute and writable (created if missing); files at once 1 to
    /// [`MAX_FILES_AT_ONCE`]; bandwidth limits at least [`MIN_BANDWIDTH`].
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(Error::InvalidInput(m));
        let server = &self.server;
        for (what, port) in [("HTTP", server.http_port), ("HTTPS", server.https_port)] {
            if port != 0 && port < MIN_PORT {
                return invalid(format!(
                    "{what} port {port}: 0 (a free port) or {MIN_PORT} to 65535"
                ));
            }
        }
        if server.https && server.http_port != 0 && server.http_port == server.https_port {
            return invalid(format!(
                "HTTP and HTTPS cannot share port {}",
                server.http_port
            ));
        }
        if let Some(dir) = &server.data_dir {
            check_writable_dir(dir)?;
        }
        let t = &self.transfers;
        if !(1..=MAX_FILES_AT_ONCE).contains(&t.files_at_once) {
            return invalid(format!(
                "files at once: 1 to {MAX_FILES_AT_ONCE}, not {}",
                t.files_at_once
            ));
        }
        for (what, limit) in [("upload", t.upload_limit), ("download", t.download_limit)] {
            if limit.is_some_and(|l| l < MIN_BANDWIDTH) {
                return invalid(format!(
                    "{what} limit: at least {MIN_BANDWIDTH} bytes/s, or none"
                ));
            }
        }
        Ok(())
    }
}

/// An absolute directory that exists (made if missing) and takes a new file.
fn check_writable_dir(dir: &Path) -> Result<()> {
    if !dir.is_absolute() {
        return Err(Error::InvalidInput(format!(
            "data directory {}: give an absolute path",
            dir.display()
        )));
    }
    ossvault_fs::create_private_dir_all(dir).map_err(Error::io(dir))?;
    let probe = dir.join(format!(".ossvault-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(Error::io(dir))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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

    /// Validates the settings ([`AppSettings::validate`]) and saves them.
    pub fn save_valid(&self, settings: &AppSettings) -> Result<()> {
        settings.validate()?;
        self.save(settings)
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
        s.told_about_tray = true;
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
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

        assert_eq!(s.server, ServerSettings::default());
        assert_eq!(s.transfers.files_at_once, 3);
        assert_eq!(s.log_level, LogLevel::Info);
        assert!(!s.key_prompt_done && !s.start_at_login);

        std::fs::write(store.path(), "{not json").unwrap();
        let err = store.load().unwrap_err();
        assert_eq!(err.code(), "ConfigFile");
        assert!(err.to_string().contains("settings.json"), "{err}");
    }

    #[test]
    fn every_field_is_saved_and_read_back_in_camel_case() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::in_dir(dir.path());
        let data = dir.path().join("server-data");
        let s = AppSettings {
            server: ServerSettings {
                http_port: 9000,
                https_port: 9443,
                https: false,
                data_dir: Some(data.clone()),
                start_with_app: false,
            },
            transfers: TransferSettings {
                files_at_once: 5,
                upload_limit: Some(1 << 20),
                download_limit: None,
            },
            log_level: LogLevel::Debug,
            start_at_login: true,
            key_prompt_done: true,
            language: Some(UiLanguage::SimplifiedChinese),
            ..Default::default()
        };
        store.save_valid(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        let text = std::fs::read_to_string(store.path()).unwrap();
        for field in [
            "httpPort",
            "filesAtOnce",
            "uploadLimit",
            "\"logLevel\": \"debug\"",
            "keyPromptDone",
            "\"language\": \"zh-CN\"",
        ] {
            assert!(text.contains(field), "{field} in {text}");
        }
        assert!(data.is_dir(), "the data directory is made when checked");
    }

    #[test]
    fn validation_refuses_what_cannot_work_and_saves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::in_dir(dir.path());
        let bad = |f: &dyn Fn(&mut AppSettings)| {
            let mut s = AppSettings::default();
            f(&mut s);
            let err = store.save_valid(&s).unwrap_err();
            assert_eq!(err.code(), "InvalidInput", "{err}");
            assert!(!store.path().exists());
            err.to_string()
        };
        assert!(bad(&|s| s.server.http_port = 80).contains("HTTP port 80"));
        assert!(bad(&|s| s.server.https_port = 1023).contains("HTTPS port 1023"));
        assert!(bad(&|s| {
            s.server.http_port = 9000;
            s.server.https_port = 9000;
        })
        .contains("share port 9000"));
        assert!(bad(&|s| s.server.data_dir = Some("relative/dir".into())).contains("absolute"));
        assert!(bad(&|s| s.transfers.files_at_once = 0).contains("files at once"));
        assert!(bad(&|s| s.transfers.files_at_once = 17).contains("not 17"));
        assert!(bad(&|s| s.transfers.upload_limit = Some(10)).contains("upload limit"));
        assert!(bad(&|s| s.transfers.download_limit = Some(0)).contains("download limit"));

        // The same port twice is fine when HTTPS is off; the edges are accepted.
        let mut ok = AppSettings::default();
        ok.server.http_port = 65535;
        ok.server.https_port = 65535;
        ok.server.https = false;
        ok.transfers.files_at_once = MAX_FILES_AT_ONCE;
        ok.transfers.download_limit = Some(MIN_BANDWIDTH);
        store.save_valid(&ok).unwrap();
    }

    #[test]
    fn a_data_directory_that_cannot_be_made_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let mut s = AppSettings::default();
        s.server.data_dir = Some(file.join("data"));
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}

//! Named connection profiles, shared by the CLI and the desktop app: the non-secret fields in a
//! TOML file (mode 0600), the access key secret in the OS keychain. Where no keychain is
//! reachable (a headless server, `OSSVAULT_NO_KEYCHAIN=1`), the secret stays in the 0600 file
//! and the caller is told so; a secret found in the file while a keychain is reachable is moved
//! into it (older versions kept every secret in the file).

use crate::error::{Error, Result};
use ossvault_client::SignVersion;
use ossvault_keystore::{Backend, Keystore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// The profile of the embedded server (`ossvault serve` and the app's Local connection).
pub const LOCAL_PROFILE: &str = "local";
/// Overrides where the profiles file is.
pub const ENV_CONFIG: &str = "OSSVAULT_CONFIG";
/// Overrides the keystore's metadata directory (`<config dir>/ossvault`).
pub const ENV_CONFIG_DIR: &str = "OSSVAULT_CONFIG_DIR";
/// `1`: never use the OS keychain for profile secrets (tests, and machines whose keychain
/// prompts would block a script).
pub const ENV_NO_KEYCHAIN: &str = "OSSVAULT_NO_KEYCHAIN";

/// The signature version a profile asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignVersionName {
    V1,
    V4,
}

impl From<SignVersionName> for SignVersion {
    fn from(v: SignVersionName) -> Self {
        match v {
            SignVersionName::V1 => SignVersion::V1,
            SignVersionName::V4 => SignVersion::V4,
        }
    }
}

/// One named connection; every field optional (flags and environment fill the gaps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Only where no keychain is reachable (see the module documentation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_version: Option<SignVersionName>,
    /// The profile's secret is in the OS keychain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret_in_keychain: bool,
}

impl Profile {
    /// A secret is stored for this profile (in the keychain or the file).
    pub fn has_secret(&self) -> bool {
        self.secret_in_keychain || self.access_key_secret.is_some()
    }
}

/// The whole profiles file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfilesFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct ProfileUpdate {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<Zeroizing<String>>,
    pub sign_version: Option<SignVersionName>,
}

/// Where a profile's secret ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPlace {
    /// No secret was given or stored.
    None,
    Keychain,
    /// The 0600 profiles file: no keychain was reachable.
    File,
}

/// What [`Profiles::set`] did.
#[derive(Debug, Clone)]
pub struct SetOutcome {
    /// The profile was new.
    pub created: bool,
    pub profile: Profile,
    pub secret: SecretPlace,
}

/// The profiles file and the keychain holding the profiles' secrets.
pub struct Profiles {
    path: PathBuf,
    /// `None`: no keychain reachable (or turned off); secrets stay in the file.
    keychain: Option<Keystore>,
}

/// `$OSSVAULT_CONFIG`, else `<config dir>/ossvault/config.toml`.
pub fn default_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_CONFIG).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = dirs::config_dir().ok_or_else(|| {
        Error::InvalidInput(
            "no config directory on this system: set OSSVAULT_CONFIG to a file path".into(),
        )
    })?;
    Ok(dir.join("ossvault").join("config.toml"))
}

/// The keystore's metadata directory: `$OSSVAULT_CONFIG_DIR`, else `<config dir>/ossvault`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(dirs::config_dir()
        .ok_or_else(|| {
            Error::InvalidInput(
                "no config directory on this system: set OSSVAULT_CONFIG_DIR".into(),
            )
        })?
        .join("ossvault"))
}

/// The system keychain for profile secrets, unless turned off or unreachable (then `None`,
/// logged once at debug level: the file fallback is the documented behaviour there).
pub fn system_keychain() -> Option<Keystore> {
    if std::env::var(ENV_NO_KEYCHAIN).is_ok_and(|v| v == "1") {
        return None;
    }
    let dir = config_dir().ok()?;
    match Keystore::open(&dir, Backend::SystemKeychain) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::debug!(error = %e, "no keychain for profile secrets: they stay in the 0600 file");
            None
        }
    }
}

impl Profiles {
    /// The profiles in `path`, their secrets in `keychain` when given.
    pub fn new(path: PathBuf, keychain: Option<Keystore>) -> Profiles {
        Profiles { path, keychain }
    }

    /// The default file with the system keychain (when reachable).
    pub fn open_default() -> Result<Profiles> {
        Ok(Profiles::new(default_path()?, system_keychain()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Secrets go to the keychain.
    pub fn uses_keychain(&self) -> bool {
        self.keychain.is_some()
    }

    /// Reads the file (a missing file is no profiles), moving secrets still in it into the
    /// keychain when one is reachable.
    pub fn load(&self) -> Result<ProfilesFile> {
        let mut file = self.read()?;
        if let Some(keychain) = &self.keychain {
            let mut moved = Vec::new();
            for (name, profile) in &mut file.profiles {
                if let Some(secret) = profile.access_key_secret.take() {
                    keychain.set_credential(name, &secret)?;
                    profile.secret_in_keychain = true;
                    moved.push(name.clone());
                }
            }
            if !moved.is_empty() {
                self.write(&file)?;
                tracing::info!(profiles = ?moved, file = %self.path.display(), "moved profile secrets from the file into the OS keychain");
            }
        }
        Ok(file)
    }

    /// One profile, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Profile>> {
        Ok(self.load()?.profiles.remove(name))
    }

    /// The secret of profile `name`, wherever it is kept; `None` if none is stored.
    pub fn secret(&self, name: &str, profile: &Profile) -> Result<Option<Zeroizing<String>>> {
        if let Some(s) = &profile.access_key_secret {
            return Ok(Some(Zeroizing::new(s.clone())));
        }
        if !profile.secret_in_keychain {
            return Ok(None);
        }
        let keychain = self.keychain.as_ref().ok_or_else(|| {
            Error::InvalidInput(format!(
                "the secret of profile {name:?} is in the OS keychain, which is not reachable now"
            ))
        })?;
        match keychain.credential(name) {
            Ok(secret) => Ok(Some(Zeroizing::new(secret.expose().to_owned()))),
            Err(ossvault_keystore::Error::CredentialNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates or updates profile `name`. A new profile needs an endpoint.
    pub fn set(&self, name: &str, update: ProfileUpdate) -> Result<SetOutcome> {
        validate_name(name)?;
        let mut file = self.load()?;
        let created = !file.profiles.contains_key(name);
        let profile = file.profiles.entry(name.to_owned()).or_default();
        if let Some(e) = update.endpoint {
            profile.endpoint = Some(crate::connection::validate_endpoint(&e)?);
        }
        if profile.endpoint.is_none() {
            return Err(Error::InvalidInput(
                "a new profile needs an endpoint".into(),
            ));
        }
        if let Some(v) = update.access_key_id {
            profile.access_key_id = Some(v);
        }
        if let Some(v) = update.region {
            profile.region = Some(v);
        }
        if let Some(v) = update.sign_version {
            profile.sign_version = Some(v);
        }
        let mut secret = SecretPlace::None;
        if let Some(s) = update.access_key_secret {
            match &self.keychain {
                Some(keychain) => {
                    keychain.set_credential(name, &s)?;
                    profile.access_key_secret = None;
                    profile.secret_in_keychain = true;
                    secret = SecretPlace::Keychain;
                }
                None => {
                    profile.access_key_secret = Some(s.to_string());
                    profile.secret_in_keychain = false;
                    secret = SecretPlace::File;
                }
            }
        } else if profile.secret_in_keychain {
            secret = SecretPlace::Keychain;
        } else if profile.access_key_secret.is_some() {
            secret = SecretPlace::File;
        }
        let profile = profile.clone();
        self.write(&file)?;
        Ok(SetOutcome {
            created,
            profile,
            secret,
        })
    }

    /// Removes profile `name` and its secret.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut file = self.load()?;
        let Some(profile) = file.profiles.remove(name) else {
            return Err(Error::NoSuchProfile(name.to_owned()));
        };
        self.write(&file)?;
        if profile.secret_in_keychain {
            if let Some(keychain) = &self.keychain {
                keychain.delete_credential(name)?;
            }
        }
        Ok(())
    }

    fn read(&self) -> Result<ProfilesFile> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProfilesFile::default())
            }
            Err(e) => return Err(Error::io(&self.path)(e)),
        };
        #[cfg(unix)]
        if let Ok(meta) = fs::metadata(&self.path) {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "{} is readable by other users: it may hold secrets, run `chmod 600` on it",
                    self.path.display()
                );
            }
        }
        toml::from_str(&text).map_err(|e| Error::ConfigFile {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// Writes the file atomically and durably, mode 0600 (its directory 0700 when created).
    fn write(&self, file: &ProfilesFile) -> Result<()> {
        let path = &self.path;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        ossvault_fs::create_private_dir_all(dir).map_err(Error::io(dir))?;
        let body = toml::to_string(file).map_err(|e| Error::ConfigFile {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let text = format!(
            "# ossvault connection profiles (`ossvault profile set|ls|rm`, shared with the app).\n\
             # Secrets are kept in the OS keychain; where none is reachable they are kept here,\n\
             # so keep this file private.\n\n{body}"
        );
        ossvault_fs::write_durably(path, text.as_bytes(), 0o600).map_err(Error::io(path))
    }
}

/// Profile names: letters, digits, `-`, `_` and `.` (they become keychain account names).
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::InvalidInput(format!(
            "invalid profile name {name:?}: use letters, digits, `-`, `_` and `.`"
        )));
    }
    Ok(())
}

/// Saves (or updates) profile `name` (usually [`LOCAL_PROFILE`]) for a running embedded
/// server, so that the next `ossvault` command or the app reaches it with no copying of
/// credentials.
pub fn save_server_profile(
    profiles: &Profiles,
    name: &str,
    endpoint: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> Result<SetOutcome> {
    profiles.set(
        name,
        ProfileUpdate {
            endpoint: Some(endpoint.to_owned()),
            access_key_id: Some(access_key_id.to_owned()),
            access_key_secret: Some(Zeroizing::new(access_key_secret.to_owned())),
            region: None,
            sign_version: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(endpoint: &str, secret: &str) -> ProfileUpdate {
        ProfileUpdate {
            endpoint: Some(endpoint.into()),
            access_key_id: Some("id".into()),
            access_key_secret: Some(Zeroizing::new(secret.into())),
            sign_version: Some(SignVersionName::V1),
            region: None,
        }
    }

    #[test]
    fn without_a_keychain_secrets_stay_in_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let profiles = Profiles::new(path.clone(), None);
        let outcome = profiles
            .set("default", update("http://127.0.0.1:9000", "s3cret"))
            .unwrap();
        assert!(outcome.created);
        assert_eq!(outcome.secret, SecretPlace::File);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let p = profiles.get("default").unwrap().unwrap();
        assert_eq!(p.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(p.sign_version, Some(SignVersionName::V1));
        assert_eq!(
            profiles
                .secret("default", &p)
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("s3cret")
        );
        // An update keeps what it does not name.
        let again = profiles
            .set(
                "default",
                ProfileUpdate {
                    region: Some("cn-beijing".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.profile.access_key_id.as_deref(), Some("id"));
        assert_eq!(again.secret, SecretPlace::File);
        profiles.remove("default").unwrap();
        assert!(matches!(
            profiles.remove("default"),
            Err(Error::NoSuchProfile(_))
        ));
        assert!(profiles.load().unwrap().profiles.is_empty());
    }

    #[test]
    fn a_new_profile_needs_an_endpoint_and_a_good_name() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::new(dir.path().join("c.toml"), None);
        assert!(profiles.set("x", ProfileUpdate::default()).is_err());
        assert!(profiles
            .set("a b", update("http://127.0.0.1:1", "s"))
            .is_err());
        assert!(validate_name("work-2_a.b").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\"]").is_err());
    }

    #[test]
    fn files_of_older_versions_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "[profiles.default]\nendpoint = \"http://h:1\"\naccess_key_id = \"i\"\naccess_key_secret = \"s\"\nsign_version = \"v4\"\n",
        )
        .unwrap();
        let profiles = Profiles::new(path, None);
        let p = profiles.get("default").unwrap().unwrap();
        assert!(p.has_secret() && !p.secret_in_keychain);
        assert_eq!(
            profiles
                .secret("default", &p)
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("s")
        );
    }
}

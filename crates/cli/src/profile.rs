//! Named connection profiles in a TOML config file (mode 0600), and `ossvault profile …`.
//!
//! The access key secret is kept in the file for now; a later version moves it into the OS
//! keychain and leaves only the non-secret fields here.

use crate::connection::{self, SignVersionArg};
use crate::output::Output;
use crate::{ProfileCommand, ProfileSetArgs};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_PROFILE: &str = "default";
pub const ENV_CONFIG: &str = "OSSVAULT_CONFIG";

/// The whole config file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_version: Option<SignVersionArg>,
}

/// `$OSSVAULT_CONFIG`, else `<config dir>/ossvault/config.toml`.
pub fn config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_CONFIG).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = dirs::config_dir()
        .context("no config directory on this system: set OSSVAULT_CONFIG to a file path")?;
    Ok(dir.join("ossvault").join("config.toml"))
}

/// Reads the config file; a missing file is an empty config.
pub fn load(path: &Path) -> Result<ConfigFile> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by other users: it holds secrets, run `chmod 600` on it",
                path.display()
            );
        }
    }
    toml::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))
}

/// Writes the config file atomically, mode 0600 (its directory 0700 when created).
pub fn save(path: &Path, config: &ConfigFile) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let text = format!(
        "# ossvault connection profiles (`ossvault profile set|ls|rm`). Keep this file private:\n\
         # it holds access key secrets until they move into the OS keychain.\n\n{}",
        toml::to_string(config)?
    );
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An existing temp file keeps its old mode: force it.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(out: &Output, command: ProfileCommand) -> Result<()> {
    let path = config_path()?;
    match command {
        ProfileCommand::Set(args) => set(out, &path, args),
        ProfileCommand::Ls => list(out, &path),
        ProfileCommand::Rm { name } => remove(out, &path, &name),
    }
}

fn set(out: &Output, path: &Path, args: ProfileSetArgs) -> Result<()> {
    validate_name(&args.name)?;
    let mut config = load(path)?;
    let existed = config.profiles.contains_key(&args.name);
    let profile = config.profiles.entry(args.name.clone()).or_default();
    let f = args.flags;
    if let Some(e) = f.endpoint {
        profile.endpoint = Some(connection::validate_endpoint(&e)?);
    }
    if profile.endpoint.is_none() {
        bail!("a new profile needs --endpoint");
    }
    let assign = |slot: &mut Option<String>, value: Option<String>| {
        if let Some(v) = value {
            *slot = Some(v);
        }
    };
    assign(&mut profile.access_key_id, f.access_key_id);
    let secret = match f.access_key_secret.as_deref() {
        Some("-") => Some(read_secret()?),
        _ => f.access_key_secret,
    };
    assign(&mut profile.access_key_secret, secret);
    assign(&mut profile.region, f.region);
    if f.sign_version.is_some() {
        profile.sign_version = f.sign_version;
    }
    let summary = describe(&args.name, profile);
    save(path, &config)?;
    if out.json {
        out.json(&summary)?;
    } else {
        out.line(format!(
            "profile {:?} {} in {}",
            args.name,
            if existed { "updated" } else { "saved" },
            path.display()
        ))?;
    }
    Ok(())
}

/// The secret, from the first line of stdin.
fn read_secret() -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("access key secret: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("no secret on stdin");
    }
    Ok(secret)
}

fn list(out: &Output, path: &Path) -> Result<()> {
    let config = load(path)?;
    if out.json {
        for (name, p) in &config.profiles {
            out.json(&describe(name, p))?;
        }
        return Ok(());
    }
    out.line(format!(
        "{:<16} {:<40} {:<16} {:<24} {:<6} SECRET",
        "NAME", "ENDPOINT", "REGION", "ACCESS KEY ID", "SIGN"
    ))?;
    for (name, p) in &config.profiles {
        out.line(format!(
            "{:<16} {:<40} {:<16} {:<24} {:<6} {}",
            name,
            p.endpoint.as_deref().unwrap_or("-"),
            p.region.as_deref().unwrap_or("-"),
            p.access_key_id.as_deref().unwrap_or("-"),
            match p.sign_version {
                Some(SignVersionArg::V1) => "v1",
                Some(SignVersionArg::V4) => "v4",
                None => "-",
            },
            if p.access_key_secret.is_some() {
                "(set)"
            } else {
                "-"
            }
        ))?;
    }
    Ok(())
}

fn remove(out: &Output, path: &Path, name: &str) -> Result<()> {
    let mut config = load(path)?;
    if config.profiles.remove(name).is_none() {
        bail!("no profile {name:?} in {}", path.display());
    }
    save(path, &config)?;
    if out.json {
        out.json(&json!({ "profile": name, "removed": true }))?;
    } else {
        out.line(format!("profile {name:?} removed"))?;
    }
    Ok(())
}

/// What may be shown of a profile: everything but the secret.
fn describe(name: &str, p: &Profile) -> serde_json::Value {
    json!({
        "name": name,
        "endpoint": p.endpoint,
        "region": p.region,
        "access_key_id": p.access_key_id,
        "sign_version": p.sign_version,
        "has_secret": p.access_key_secret.is_some(),
    })
}

fn validate_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!("invalid profile name {name:?}: use letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let mut config = ConfigFile::default();
        config.profiles.insert(
            "default".into(),
            Profile {
                endpoint: Some("http://127.0.0.1:9000".into()),
                access_key_id: Some("id".into()),
                access_key_secret: Some("secret".into()),
                region: None,
                sign_version: Some(SignVersionArg::V1),
            },
        );
        save(&path, &config).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.profiles["default"], config.profiles["default"]);
        assert!(load(&dir.path().join("none.toml"))
            .unwrap()
            .profiles
            .is_empty());
    }

    #[test]
    fn names() {
        assert!(validate_name("work-2_a.b").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a\"]").is_err());
    }
}

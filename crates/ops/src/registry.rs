//! The connections a front end offers: the built-in Local connection (the embedded server this
//! process runs, reached over HTTPS with its certificate pinned) and every saved profile, with
//! one cached client per connection. The CLI's profiles are the connections: the app and
//! `ossvault --profile NAME` see the same list, the secrets in the OS keychain for both.

use crate::connection::{resolve, ConnectionSettings, ProfileWithSecret};
use crate::error::{Error, Result};
use crate::profiles::{validate_name, ProfileUpdate, Profiles, SignVersionName, LOCAL_PROFILE};
use ossvault_client::{Client, ClientConfig, SignVersion};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use zeroize::Zeroizing;

/// A connection as a list shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub name: String,
    pub endpoint: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub sign_version: SignVersionName,
    /// The built-in connection to the embedded server.
    pub local: bool,
    pub has_secret: bool,
}

/// A remote connection as a form gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionForm {
    pub name: String,
    /// An endpoint URL, or empty to derive it from the region (`oss-REGION.aliyuncs.com`).
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub region: String,
    pub access_key_id: String,
    /// Empty keeps the stored secret (editing a connection without retyping it).
    #[serde(default)]
    pub access_key_secret: String,
    pub sign_version: Option<SignVersionName>,
}

/// Where each connection's client comes from.
pub struct ConnectionRegistry {
    profiles: Profiles,
    /// The embedded server's client configuration, while it runs.
    local: RwLock<Option<ClientConfig>>,
    clients: Mutex<HashMap<String, Client>>,
}

/// `oss-cn-hangzhou` style region ids: lowercase letters, digits and dashes.
fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The public endpoint of an Alibaba Cloud OSS region.
pub fn region_endpoint(region: &str) -> String {
    format!("https://oss-{region}.aliyuncs.com")
}

impl ConnectionRegistry {
    pub fn new(profiles: Profiles, local: Option<ClientConfig>) -> Self {
        ConnectionRegistry {
            profiles,
            local: RwLock::new(local),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The profiles behind the remote connections.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// Every connection: Local first (when the embedded server runs), then the profiles by
    /// name. The profile `local` is the Local connection, not listed twice.
    pub fn list(&self) -> Result<Vec<ConnectionInfo>> {
        let mut out = Vec::new();
        if let Some(local) = self.local.read().unwrap().as_ref() {
            out.push(ConnectionInfo {
                name: LOCAL_PROFILE.to_owned(),
                endpoint: local.endpoint.clone(),
                region: Some(local.region.clone()),
                access_key_id: Some(local.credentials.access_key_id.clone()),
                sign_version: SignVersionName::V4,
                local: true,
                has_secret: true,
            });
        }
        for (name, p) in self.profiles.load()?.profiles {
            if name == LOCAL_PROFILE && !out.is_empty() {
                continue;
            }
            out.push(ConnectionInfo {
                endpoint: p.endpoint.clone().unwrap_or_default(),
                region: p.region.clone(),
                access_key_id: p.access_key_id.clone(),
                sign_version: p.sign_version.unwrap_or(SignVersionName::V4),
                local: false,
                has_secret: p.has_secret(),
                name,
            });
        }
        Ok(out)
    }

    /// Creates or updates a remote connection (a profile). The Local connection is the
    /// embedded server's own and cannot be edited.
    pub fn save(&self, form: ConnectionForm) -> Result<ConnectionInfo> {
        validate_name(&form.name)?;
        if form.name == LOCAL_PROFILE {
            return Err(Error::InvalidInput(format!(
                "{LOCAL_PROFILE:?} is the built-in connection to the embedded server: choose another name"
            )));
        }
        let region = form.region.trim();
        if !region.is_empty() && !valid_region(region) {
            return Err(Error::InvalidInput(format!(
                "invalid region {region:?}: e.g. cn-hangzhou"
            )));
        }
        let endpoint = match (form.endpoint.trim(), region) {
            ("", "") => return Err(Error::InvalidInput("give an endpoint or a region".into())),
            ("", r) => region_endpoint(r),
            (e, _) => e.to_owned(),
        };
        if form.access_key_id.trim().is_empty() {
            return Err(Error::InvalidInput("the access key id is empty".into()));
        }
        let exists = self.profiles.get(&form.name)?.is_some();
        if !exists && form.access_key_secret.is_empty() {
            return Err(Error::InvalidInput("the access key secret is empty".into()));
        }
        self.profiles.set(
            &form.name,
            ProfileUpdate {
                endpoint: Some(endpoint),
                region: (!region.is_empty()).then(|| region.to_owned()),
                access_key_id: Some(form.access_key_id.trim().to_owned()),
                access_key_secret: (!form.access_key_secret.is_empty())
                    .then(|| Zeroizing::new(form.access_key_secret.clone())),
                sign_version: form.sign_version,
            },
        )?;
        self.clients.lock().unwrap().remove(&form.name);
        self.list()?
            .into_iter()
            .find(|c| c.name == form.name)
            .ok_or_else(|| Error::NoSuchProfile(form.name.clone()))
    }

    /// Removes a remote connection and its secret.
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == LOCAL_PROFILE {
            return Err(Error::InvalidInput(
                "the built-in Local connection cannot be removed".into(),
            ));
        }
        self.profiles.remove(name)?;
        self.clients.lock().unwrap().remove(name);
        Ok(())
    }

    /// The client of connection `name` (made once, then shared).
    pub fn client(&self, name: &str) -> Result<Client> {
        if let Some(c) = self.clients.lock().unwrap().get(name) {
            return Ok(c.clone());
        }
        let config = match (name, self.local.read().unwrap().as_ref()) {
            (LOCAL_PROFILE, Some(local)) => local.clone(),
            _ => self.profile_config(name)?,
        };
        let client = Client::new(config)?;
        self.clients
            .lock()
            .unwrap()
            .insert(name.to_owned(), client.clone());
        Ok(client)
    }

    /// Lists the connection's buckets: reachable and signed right. Returns how many.
    pub async fn test(&self, name: &str) -> Result<usize> {
        let client = self.client(name)?;
        Ok(client
            .list_buckets("", "", 1000)
            .await?
            .buckets
            .bucket
            .len())
    }

    /// A profile's client configuration, from the profile alone (the app ignores the CLI's
    /// environment variables).
    fn profile_config(&self, name: &str) -> Result<ClientConfig> {
        let settings = ConnectionSettings {
            profile: Some(name.to_owned()),
            ..Default::default()
        };
        let mut config = resolve(
            &settings,
            |_| None,
            |name| {
                let Some(profile) = self.profiles.get(name)? else {
                    return Ok(None);
                };
                let secret = self.profiles.secret(name, &profile)?;
                Ok(Some(ProfileWithSecret { profile, secret }))
            },
        )?;
        if config.sign_version == SignVersion::V4 && config.region.is_empty() {
            config.region = crate::connection::DEFAULT_REGION.to_owned();
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(dir: &std::path::Path) -> ConnectionRegistry {
        ConnectionRegistry::new(Profiles::new(dir.join("config.toml"), None), None)
    }

    fn form(name: &str) -> ConnectionForm {
        ConnectionForm {
            name: name.into(),
            region: "cn-shanghai".into(),
            access_key_id: "LTAIexample".into(),
            access_key_secret: "secret".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_region_alone_gives_the_public_endpoint_and_edits_keep_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let saved = r.save(form("work")).unwrap();
        assert_eq!(saved.endpoint, "https://oss-cn-shanghai.aliyuncs.com");
        assert!(saved.has_secret);
        let mut edit = form("work");
        edit.access_key_secret.clear();
        edit.sign_version = Some(SignVersionName::V1);
        let edited = r.save(edit).unwrap();
        assert!(edited.has_secret);
        assert_eq!(edited.sign_version, SignVersionName::V1);
        let p = r.profiles().get("work").unwrap().unwrap();
        assert_eq!(
            r.profiles().secret("work", &p).unwrap().unwrap().as_str(),
            "secret"
        );
    }

    #[test]
    fn bad_forms_are_refused_and_nothing_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        for bad in [
            ConnectionForm {
                region: String::new(),
                ..form("a")
            },
            ConnectionForm {
                region: "CN Hangzhou".into(),
                ..form("a")
            },
            ConnectionForm {
                access_key_id: " ".into(),
                ..form("a")
            },
            ConnectionForm {
                access_key_secret: String::new(),
                ..form("a")
            },
            form("has space"),
            form(LOCAL_PROFILE),
        ] {
            let e = r.save(bad).unwrap_err();
            assert_eq!(e.code(), "InvalidInput", "{e}");
        }
        assert!(r.list().unwrap().is_empty());
        assert_eq!(r.remove("nothing").unwrap_err().code(), "NoSuchProfile");
        assert_eq!(r.remove(LOCAL_PROFILE).unwrap_err().code(), "InvalidInput");
    }
}

//! From explicit settings, environment and profile to a [`ClientConfig`]: explicit settings
//! (the CLI's flags, the app's form) win over the environment, the environment over the
//! profile, field by field.

use crate::error::{Error, Result};
use crate::profiles::{Profile, Profiles, SignVersionName, DEFAULT_PROFILE};
use ossvault_client::{Client, ClientConfig, Credentials};
use std::path::PathBuf;
use zeroize::Zeroizing;

pub const ENV_ENDPOINT: &str = "OSSVAULT_ENDPOINT";
pub const ENV_ACCESS_KEY_ID: &str = "OSSVAULT_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "OSSVAULT_ACCESS_KEY_SECRET";
pub const ENV_REGION: &str = "OSSVAULT_REGION";
pub const ENV_SIGN_VERSION: &str = "OSSVAULT_SIGN_VERSION";

/// The region used when nothing names one and the endpoint's name tells none (the embedded
/// server's default).
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// Connection settings given explicitly; each `None` is filled from the environment, then
/// from the profile.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSettings {
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub region: Option<String>,
    pub sign_version: Option<SignVersionName>,
    /// The profile to fill gaps from (`default` when not named; a named one must exist).
    pub profile: Option<String>,
    /// A PEM certificate to trust besides the system roots (the embedded server's).
    pub ca_cert: Option<PathBuf>,
}

/// A profile with its secret, as [`resolve`] consumes it.
pub struct ProfileWithSecret {
    pub profile: Profile,
    pub secret: Option<Zeroizing<String>>,
}

/// A client for `settings`, with the process environment and the default profiles.
pub fn client(settings: &ConnectionSettings) -> Result<Client> {
    let mut config = resolve(
        settings,
        |name| std::env::var(name).ok(),
        |name| {
            let profiles = Profiles::open_default()?;
            let Some(profile) = profiles.get(name)? else {
                return Ok(None);
            };
            let secret = profiles.secret(name, &profile)?;
            Ok(Some(ProfileWithSecret { profile, secret }))
        },
    )?;
    if let Some(path) = &settings.ca_cert {
        config.pinned_certificate_pem = Some(std::fs::read(path).map_err(Error::io(path))?);
    }
    Ok(Client::new(config)?)
}

/// Merges settings, environment (`env`) and profile (`load`, called only when needed).
pub fn resolve(
    settings: &ConnectionSettings,
    env: impl Fn(&str) -> Option<String>,
    load: impl FnOnce(&str) -> Result<Option<ProfileWithSecret>>,
) -> Result<ClientConfig> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let s = settings;
    let mut endpoint = s.endpoint.clone().or_else(|| env(ENV_ENDPOINT));
    let mut id = s.access_key_id.clone().or_else(|| env(ENV_ACCESS_KEY_ID));
    let mut secret = s
        .access_key_secret
        .clone()
        .or_else(|| env(ENV_ACCESS_KEY_SECRET))
        .map(Zeroizing::new);
    let mut region = s.region.clone().or_else(|| env(ENV_REGION));
    let mut sign_version = match s.sign_version {
        Some(v) => Some(v),
        None => env(ENV_SIGN_VERSION)
            .map(|v| parse_sign_version(&v))
            .transpose()?,
    };

    let complete = endpoint.is_some() && id.is_some() && secret.is_some();
    if s.profile.is_some() || !complete {
        let name = s.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        match load(name)? {
            Some(ProfileWithSecret {
                profile: p,
                secret: stored,
            }) => {
                endpoint = endpoint.or(p.endpoint);
                id = id.or(p.access_key_id);
                secret = secret.or(stored);
                region = region.or(p.region);
                sign_version = sign_version.or(p.sign_version);
            }
            None if s.profile.is_some() => return Err(Error::NoSuchProfile(name.to_owned())),
            None => {}
        }
    }

    let endpoint = normalize_endpoint(&endpoint.ok_or(Error::NoEndpoint)?);
    let (Some(id), Some(secret)) = (id, secret) else {
        return Err(Error::NoCredentials);
    };
    let region = region
        .or_else(|| region_from_endpoint(&endpoint))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let mut config = ClientConfig::new(
        endpoint,
        region,
        Credentials {
            access_key_id: id,
            access_key_secret: secret.to_string(),
        },
    );
    config.sign_version = sign_version.map(Into::into).unwrap_or_default();
    Ok(config)
}

/// `v1` or `v4`, in any case.
pub fn parse_sign_version(v: &str) -> Result<SignVersionName> {
    match v.to_ascii_lowercase().as_str() {
        "v1" => Ok(SignVersionName::V1),
        "v4" => Ok(SignVersionName::V4),
        _ => Err(Error::InvalidInput(format!(
            "{ENV_SIGN_VERSION}={v:?}: expected v1 or v4"
        ))),
    }
}

/// `oss-cn-hangzhou.aliyuncs.com` → `https://oss-cn-hangzhou.aliyuncs.com` (as ossutil takes it).
pub fn normalize_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_owned()
    } else {
        format!("https://{e}")
    }
}

/// `https://oss-cn-hangzhou[-internal].aliyuncs.com` → `cn-hangzhou`.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host_port = rest.split('/').next()?;
    let host = host_port.split(':').next().unwrap_or(host_port);
    let first = host.strip_suffix(".aliyuncs.com")?.split('.').next_back()?;
    let region = first.strip_prefix("oss-")?;
    let region = region.strip_suffix("-internal").unwrap_or(region);
    (!region.is_empty()).then(|| region.to_owned())
}

/// Checks a user-supplied endpoint the way the client will; returns it normalised.
pub fn validate_endpoint(endpoint: &str) -> Result<String> {
    let e = normalize_endpoint(endpoint);
    let config = ClientConfig::new(
        e.clone(),
        DEFAULT_REGION,
        Credentials {
            access_key_id: String::new(),
            access_key_secret: String::new(),
        },
    );
    Client::new(config)
        .map_err(|err| Error::InvalidInput(format!("invalid endpoint {endpoint:?}: {err}")))?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossvault_client::SignVersion;
    use std::collections::HashMap;

    fn profile() -> ProfileWithSecret {
        ProfileWithSecret {
            profile: Profile {
                endpoint: Some("http://profile:1".into()),
                access_key_id: Some("pid".into()),
                region: Some("cn-profile".into()),
                sign_version: Some(SignVersionName::V1),
                ..Default::default()
            },
            secret: Some(Zeroizing::new("psecret".into())),
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_beat_env_beat_profile() {
        let settings = ConnectionSettings {
            endpoint: Some("http://flag:1".into()),
            ..Default::default()
        };
        let env = env_of(&[
            (ENV_ENDPOINT, "http://env:1"),
            (ENV_ACCESS_KEY_ID, "eid"),
            (ENV_REGION, "cn-env"),
        ]);
        let c = resolve(&settings, env, |name| {
            assert_eq!(name, "default");
            Ok(Some(profile()))
        })
        .unwrap();
        assert_eq!(c.endpoint, "http://flag:1");
        assert_eq!(c.credentials.access_key_id, "eid");
        assert_eq!(c.credentials.access_key_secret, "psecret");
        assert_eq!(c.region, "cn-env");
        assert_eq!(c.sign_version, SignVersion::V1);
    }

    #[test]
    fn profile_not_read_when_complete_without_naming_one() {
        let env = env_of(&[
            (ENV_ENDPOINT, "oss-cn-beijing.aliyuncs.com"),
            (ENV_ACCESS_KEY_ID, "eid"),
            (ENV_ACCESS_KEY_SECRET, "es"),
        ]);
        let c = resolve(&ConnectionSettings::default(), env, |_| {
            panic!("profile read")
        })
        .unwrap();
        assert_eq!(c.endpoint, "https://oss-cn-beijing.aliyuncs.com");
        assert_eq!(c.region, "cn-beijing");
        assert_eq!(c.sign_version, SignVersion::V4);
    }

    #[test]
    fn what_is_missing_is_named() {
        let named = ConnectionSettings {
            profile: Some("work".into()),
            ..Default::default()
        };
        let err = resolve(&named, env_of(&[]), |_| Ok(None)).unwrap_err();
        assert_eq!(err.code(), "NoSuchProfile");
        let none = ConnectionSettings::default();
        let err = resolve(&none, env_of(&[]), |_| Ok(None)).unwrap_err();
        assert_eq!(err.code(), "NoEndpoint");
        let err =
            resolve(&none, env_of(&[(ENV_ENDPOINT, "http://x:1")]), |_| Ok(None)).unwrap_err();
        assert_eq!(err.code(), "NoCredentials");
        let err = resolve(&none, env_of(&[(ENV_SIGN_VERSION, "v3")]), |_| Ok(None)).unwrap_err();
        assert_eq!(err.code(), "InvalidInput");
    }

    #[test]
    fn regions_from_endpoints() {
        for (e, r) in [
            ("https://oss-cn-hangzhou.aliyuncs.com", Some("cn-hangzhou")),
            (
                "https://oss-ap-southeast-1-internal.aliyuncs.com",
                Some("ap-southeast-1"),
            ),
            ("http://127.0.0.1:9000", None),
            ("https://example.com", None),
        ] {
            assert_eq!(region_from_endpoint(e).as_deref(), r, "{e}");
        }
    }
}

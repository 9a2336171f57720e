//! From flags, environment and profile to a [`ClientConfig`]: flags win over the environment,
//! the environment over the profile, field by field.

use crate::profile::{self, Profile};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use ossvault_client::{Client, ClientConfig, Credentials, SignVersion};
use serde::{Deserialize, Serialize};

pub const ENV_ENDPOINT: &str = "OSSVAULT_ENDPOINT";
pub const ENV_ACCESS_KEY_ID: &str = "OSSVAULT_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "OSSVAULT_ACCESS_KEY_SECRET";
pub const ENV_REGION: &str = "OSSVAULT_REGION";
pub const ENV_SIGN_VERSION: &str = "OSSVAULT_SIGN_VERSION";

/// The region used when neither flags, environment, profile nor the endpoint's name tell one
/// (the embedded server's default).
const DEFAULT_REGION: &str = "cn-hangzhou";

/// The connection flags, shared by every command that talks to OSS and by `profile set`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionFlags {
    /// OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000
    #[arg(short = 'e', long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Access key id
    #[arg(short = 'i', long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Access key secret (arguments show in `ps`: prefer the environment or a profile)
    #[arg(short = 'k', long, value_name = "SECRET")]
    pub access_key_secret: Option<String>,
    /// Region, e.g. cn-hangzhou (V4 signatures sign it; guessed from Alibaba Cloud endpoint
    /// names)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Signature version [default: v4]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub sign_version: Option<SignVersionArg>,
}

/// The connection flags plus the profile to fill the gaps from.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectionArgs {
    #[command(flatten)]
    pub flags: ConnectionFlags,
    /// Profile of the config file to use [default: default]
    #[arg(long, value_name = "NAME", help_heading = "Connection")]
    pub profile: Option<String>,
    /// A PEM certificate to trust besides the system roots (the embedded server's self-signed
    /// one: `<data-dir>/tls/cert.pem`)
    #[arg(
        long,
        value_name = "FILE",
        env = "OSSVAULT_CA_CERT",
        help_heading = "Connection"
    )]
    pub ca_cert: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignVersionArg {
    V1,
    V4,
}

impl From<SignVersionArg> for SignVersion {
    fn from(v: SignVersionArg) -> Self {
        match v {
            SignVersionArg::V1 => SignVersion::V1,
            SignVersionArg::V4 => SignVersion::V4,
        }
    }
}

/// A client for the resolved connection.
pub fn client(args: &ConnectionArgs) -> Result<Client> {
    let mut config = resolve(args, |name| std::env::var(name).ok(), load_profile)?;
    if let Some(path) = &args.ca_cert {
        config.pinned_certificate_pem = Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the certificate {}", path.display()))?,
        );
    }
    Ok(Client::new(config)?)
}

/// Loads a profile from the config file: `Ok(None)` when the file or the profile is absent.
fn load_profile(name: &str) -> Result<Option<Profile>> {
    let path = profile::config_path()?;
    let file = profile::load(&path)?;
    Ok(file.profiles.get(name).cloned())
}

/// Merges flags, environment (`env`) and profile (`load`, called only when needed).
pub fn resolve(
    args: &ConnectionArgs,
    env: impl Fn(&str) -> Option<String>,
    load: impl FnOnce(&str) -> Result<Option<Profile>>,
) -> Result<ClientConfig> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let f = &args.flags;
    let mut endpoint = f.endpoint.clone().or_else(|| env(ENV_ENDPOINT));
    let mut id = f.access_key_id.clone().or_else(|| env(ENV_ACCESS_KEY_ID));
    let mut secret = f
        .access_key_secret
        .clone()
        .or_else(|| env(ENV_ACCESS_KEY_SECRET));
    let mut region = f.region.clone().or_else(|| env(ENV_REGION));
    let mut sign_version = match f.sign_version {
        Some(v) => Some(v),
        None => env(ENV_SIGN_VERSION)
            .map(|v| {
                SignVersionArg::from_str(&v, true)
                    .map_err(|_| anyhow!("{ENV_SIGN_VERSION}={v:?}: expected v1 or v4"))
            })
            .transpose()?,
    };

    let complete = endpoint.is_some() && id.is_some() && secret.is_some();
    if args.profile.is_some() || !complete {
        let name = args.profile.as_deref().unwrap_or(profile::DEFAULT_PROFILE);
        match load(name)? {
            Some(p) => {
                endpoint = endpoint.or(p.endpoint);
                id = id.or(p.access_key_id);
                secret = secret.or(p.access_key_secret);
                region = region.or(p.region);
                sign_version = sign_version.or(p.sign_version);
            }
            None if args.profile.is_some() => {
                bail!("no profile {name:?} (see `ossvault profile ls`)")
            }
            None => {}
        }
    }

    let endpoint = endpoint.ok_or_else(|| {
        anyhow!(
            "no endpoint: pass -e/--endpoint, set {ENV_ENDPOINT}, or save a profile with \
             `ossvault profile set default --endpoint URL -i ID -k SECRET`"
        )
    })?;
    let endpoint = normalize_endpoint(&endpoint);
    let (Some(id), Some(secret)) = (id, secret) else {
        bail!(
            "no credentials: pass -i/--access-key-id and -k/--access-key-secret, set \
             {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or save them in a profile"
        );
    };
    let region = region
        .or_else(|| region_from_endpoint(&endpoint))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let mut config = ClientConfig::new(
        endpoint,
        region,
        Credentials {
            access_key_id: id,
            access_key_secret: secret,
        },
    );
    config.sign_version = sign_version.map(Into::into).unwrap_or_default();
    Ok(config)
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
fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = url_host(endpoint)?;
    let first = host.strip_suffix(".aliyuncs.com")?.split('.').next_back()?;
    let region = first.strip_prefix("oss-")?;
    let region = region.strip_suffix("-internal").unwrap_or(region);
    (!region.is_empty()).then(|| region.to_owned())
}

fn url_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host_port = rest.split('/').next()?;
    Some(host_port.split(':').next().unwrap_or(host_port))
}

/// Checks a user-supplied endpoint the way the client will.
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
    Client::new(config).with_context(|| format!("invalid endpoint {endpoint:?}"))?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn profile() -> Profile {
        Profile {
            endpoint: Some("http://profile:1".into()),
            access_key_id: Some("pid".into()),
            access_key_secret: Some("psecret".into()),
            region: Some("cn-profile".into()),
            sign_version: Some(SignVersionArg::V1),
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
    fn flags_beat_env_beat_profile() {
        let args = ConnectionArgs {
            flags: ConnectionFlags {
                endpoint: Some("http://flag:1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let env = env_of(&[
            (ENV_ENDPOINT, "http://env:1"),
            (ENV_ACCESS_KEY_ID, "eid"),
            (ENV_REGION, "cn-env"),
        ]);
        let c = resolve(&args, env, |name| {
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
    fn profile_not_read_when_complete_without_flag() {
        let args = ConnectionArgs::default();
        let env = env_of(&[
            (ENV_ENDPOINT, "oss-cn-beijing.aliyuncs.com"),
            (ENV_ACCESS_KEY_ID, "eid"),
            (ENV_ACCESS_KEY_SECRET, "es"),
        ]);
        let c = resolve(&args, env, |_| panic!("profile read")).unwrap();
        assert_eq!(c.endpoint, "https://oss-cn-beijing.aliyuncs.com");
        assert_eq!(c.region, "cn-beijing");
        assert_eq!(c.sign_version, SignVersion::V4);
    }

    #[test]
    fn named_profile_must_exist() {
        let args = ConnectionArgs {
            profile: Some("work".into()),
            ..Default::default()
        };
        let err = resolve(&args, env_of(&[]), |_| Ok(None)).unwrap_err();
        assert!(err.to_string().contains("no profile \"work\""), "{err}");
        // The implicit default profile may be absent; then what is missing is named.
        let err = resolve(&ConnectionArgs::default(), env_of(&[]), |_| Ok(None)).unwrap_err();
        assert!(err.to_string().starts_with("no endpoint"), "{err}");
        let err = resolve(
            &ConnectionArgs::default(),
            env_of(&[(ENV_ENDPOINT, "http://x:1")]),
            |_| Ok(None),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("no credentials"), "{err}");
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

//! The connection flags of every command that talks to OSS, handed to
//! `ossvault_ops::connection`, which merges them with the environment and the profile.

use clap::{Args, ValueEnum};
use ossvault_client::Client;
use ossvault_ops::connection::ConnectionSettings;
use ossvault_ops::profiles::SignVersionName;
use serde::{Deserialize, Serialize};

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

impl From<SignVersionArg> for SignVersionName {
    fn from(v: SignVersionArg) -> Self {
        match v {
            SignVersionArg::V1 => SignVersionName::V1,
            SignVersionArg::V4 => SignVersionName::V4,
        }
    }
}

impl ConnectionArgs {
    /// The settings these flags give explicitly.
    pub fn settings(&self) -> ConnectionSettings {
        let f = &self.flags;
        ConnectionSettings {
            endpoint: f.endpoint.clone(),
            access_key_id: f.access_key_id.clone(),
            access_key_secret: f.access_key_secret.clone(),
            region: f.region.clone(),
            sign_version: f.sign_version.map(Into::into),
            profile: self.profile.clone(),
            ca_cert: self.ca_cert.clone(),
        }
    }
}

/// A client for the resolved connection.
pub fn client(args: &ConnectionArgs) -> anyhow::Result<Client> {
    Ok(ossvault_ops::connection::client(&args.settings())?)
}

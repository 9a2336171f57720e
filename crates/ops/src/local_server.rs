//! The embedded server as a front end runs it on this machine: `ossvault serve` (headless) and
//! the desktop app (in-process) start it through here, so that the secrets it needs, the data
//! directory and the connection profile that reaches it are set up one way.
//!
//! Two secrets are needed: the access key pair clients sign with, and the root secret that wraps
//! the server's encryption keys. Each is taken, in this order, from what the caller gives, from
//! the files an earlier start made (`<data-dir>/credentials.json` and `<data-dir>.root-key`, mode
//! 0600), from the OS keychain when the caller asks for it, or made anew (in the keychain when
//! asked and reachable, else in those files). A server whose secrets went to the keychain once
//! never silently makes new ones when the keychain is unreachable later (the data would no
//! longer decrypt): that start fails instead.

use crate::error::{Error, Result};
use crate::profiles::{save_server_profile, Profiles, SecretPlace};
use ossvault_client::{ClientConfig, Credentials};
use ossvault_keystore::Keystore;
use ossvault_server::{Config, Credential, RootSecret, RunningServer, TlsSource};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// File in the data directory holding generated credentials (mode 0600).
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// Marker in the data directory: this server's secrets live in the OS keychain.
const KEYCHAIN_MARKER: &str = "secrets-in-keychain";

/// Where the root secret comes from.
#[derive(Debug, Clone)]
pub enum RootSecretSource {
    /// 64 hex digits given by the caller (an environment variable).
    Hex(Zeroizing<String>),
    /// A 0600 file, made on first start (default `<data-dir>.root-key`).
    File(Option<PathBuf>),
    /// The OS keychain (entry named after `keychain_name`), falling back to the default file
    /// when no keychain is reachable on the first start.
    Keychain,
}

/// How to set up the server.
#[derive(Debug, Clone)]
pub struct LocalServerOptions {
    pub data_dir: PathBuf,
    /// Plain-HTTP address (port 0 picks a free one).
    pub address: SocketAddr,
    pub https_address: Option<SocketAddr>,
    pub tls: TlsSource,
    /// Given credentials; `None`: the ones generated on an earlier start, or new ones.
    pub credential: Option<Credential>,
    /// Keep generated credentials in the OS keychain (else in the data directory's 0600 file).
    pub credentials_in_keychain: bool,
    pub root_secret: RootSecretSource,
    /// Prefix of this server's keychain entries (one server per prefix), e.g. `ossvault-app-server`;
    /// they sit beside the profiles' secrets, as `PREFIX.access-key` and `PREFIX.root-secret`.
    pub keychain_name: String,
    /// The profile saved (or updated) with this server's endpoint and credentials.
    pub profile: Option<String>,
}

impl LocalServerOptions {
    /// Today's `ossvault serve` defaults: secrets in files, profile `local`.
    pub fn new(data_dir: PathBuf, address: SocketAddr) -> Self {
        LocalServerOptions {
            data_dir,
            address,
            https_address: None,
            tls: TlsSource::SelfSigned,
            credential: None,
            credentials_in_keychain: false,
            root_secret: RootSecretSource::File(None),
            keychain_name: "ossvault-local-server".to_owned(),
            profile: Some(crate::profiles::LOCAL_PROFILE.to_owned()),
        }
    }
}

/// Something worth telling the person who started the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Note {
    /// New credentials were made and kept at `place`.
    CredentialsMade {
        access_key_id: String,
        place: String,
    },
    /// Credentials from an earlier start, kept at `place`.
    CredentialsFound {
        access_key_id: String,
        place: String,
    },
    /// A new root secret was made and kept at `place`.
    RootSecretMade { place: String },
    /// A secret that was meant for the keychain went to a 0600 file: no keychain reachable.
    KeychainFallback { detail: String },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::CredentialsMade {
                access_key_id,
                place,
            }
            | Note::CredentialsFound {
                access_key_id,
                place,
            } => write!(
                f,
                "access key id: {access_key_id}\naccess key secret: in {place}"
            ),
            Note::RootSecretMade { place } => write!(
                f,
                "root secret: made in {place}; keep it with the data, apart from it"
            ),
            Note::KeychainFallback { detail } => write!(
                f,
                "no OS keychain reachable ({detail}): the server's secrets are in 0600 files"
            ),
        }
    }
}

/// Where the server's secrets ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretsPlace {
    Keychain,
    Files,
    /// Given by the caller (flags, environment).
    Given,
}

/// A server ready to start: its configuration (which the caller may still tune: limits,
/// region, rotation) and what was found or made on the way.
pub struct Prepared {
    pub config: Config,
    pub notes: Vec<Note>,
    pub secrets: SecretsPlace,
    profile: Option<String>,
}

/// Where the profile was saved (its file, where its secret went), or why it was not.
pub type SavedProfile = std::result::Result<(PathBuf, SecretPlace), String>;

/// A running server with the profile that reaches it.
pub struct LocalServer {
    server: RunningServer,
    credential: Credential,
    region: String,
    /// Where the HTTPS certificate is, when HTTPS is on.
    pub certificate_file: Option<PathBuf>,
    pub secrets: SecretsPlace,
    pub notes: Vec<Note>,
    /// The profile saved and where its secret went; `Err`: saving failed (the server serves
    /// anyway).
    pub profile: Option<(String, SavedProfile)>,
}

impl LocalServer {
    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn https_endpoint(&self) -> Option<String> {
        self.server.https_endpoint()
    }

    /// A client configuration for this server: over HTTPS with its certificate pinned when
    /// HTTPS is on (so that HTTPS-only buckets stay reachable), else over HTTP.
    pub fn client_config(&self) -> ClientConfig {
        let credentials = Credentials {
            access_key_id: self.credential.access_key_id.clone(),
            access_key_secret: self.credential.access_key_secret.clone(),
        };
        match (self.server.https_endpoint(), self.server.certificate_pem()) {
            (Some(https), Some(pem)) => {
                let mut config = ClientConfig::new(https, &self.region, credentials);
                config.pinned_certificate_pem = Some(pem.as_bytes().to_vec());
                config
            }
            _ => ClientConfig::new(self.server.endpoint(), &self.region, credentials),
        }
    }

    /// Stops accepting, lets requests in flight finish (bounded).
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    access_key_secret: String,
}

/// Creates the data directory and finds or makes the secrets; `keychain` is opened only when a
/// secret is to be looked for or kept there.
pub fn prepare(
    options: &LocalServerOptions,
    keychain: impl FnOnce() -> Option<Keystore>,
) -> Result<Prepared> {
    let data_dir = &options.data_dir;
    ossvault_fs::create_private_dir_all(data_dir).map_err(Error::io(data_dir))?;
    let mut notes = Vec::new();
    let wants_keychain = options.credentials_in_keychain
        || matches!(options.root_secret, RootSecretSource::Keychain);
    // Opened once, and only when a secret is to be looked for or kept there.
    let keychain = if wants_keychain { keychain() } else { None };
    let marker = data_dir.join(KEYCHAIN_MARKER);
    let mut secrets = SecretsPlace::Files;

    let credential = match &options.credential {
        Some(c) => {
            secrets = SecretsPlace::Given;
            c.clone()
        }
        None => {
            let file = data_dir.join(CREDENTIALS_FILE);
            let account = format!("{}.access-key", options.keychain_name);
            if let Some(stored) = read_credentials_file(&file)? {
                notes.push(Note::CredentialsFound {
                    access_key_id: stored.access_key_id.clone(),
                    place: format!("{} (mode 0600)", file.display()),
                });
                stored_credential(stored)
            } else if let (true, Some(ks)) = (options.credentials_in_keychain, &keychain) {
                let (stored, made) = match ks.credential(&account) {
                    Ok(secret) => (
                        serde_json::from_str::<StoredCredentials>(secret.expose()).map_err(
                            |e| Error::InvalidInput(format!("keychain entry {account}: {e}")),
                        )?,
                        false,
                    ),
                    Err(ossvault_keystore::Error::CredentialNotFound { .. }) => {
                        let stored = new_credentials();
                        let json = Zeroizing::new(serde_json::to_string(&stored).unwrap());
                        ks.set_credential(&account, &json)?;
                        (stored, true)
                    }
                    Err(e) => return Err(e.into()),
                };
                let place = "the OS keychain".to_owned();
                let access_key_id = stored.access_key_id.clone();
                notes.push(if made {
                    Note::CredentialsMade {
                        access_key_id,
                        place,
                    }
                } else {
                    Note::CredentialsFound {
                        access_key_id,
                        place,
                    }
                });
                secrets = SecretsPlace::Keychain;
                stored_credential(stored)
            } else {
                if options.credentials_in_keychain {
                    notes.push(Note::KeychainFallback {
                        detail: "access key".into(),
                    });
                }
                let stored = new_credentials();
                let mut f = ossvault_fs::create_new_private(&file).map_err(Error::io(&file))?;
                f.write_all(&serde_json::to_vec_pretty(&stored).unwrap())
                    .and_then(|_| f.sync_all())
                    .map_err(Error::io(&file))?;
                notes.push(Note::CredentialsMade {
                    access_key_id: stored.access_key_id.clone(),
                    place: format!("{} (mode 0600)", file.display()),
                });
                stored_credential(stored)
            }
        }
    };

    let root_secret = match &options.root_secret {
        RootSecretSource::Hex(hex_digits) => parse_root_secret(hex_digits)?,
        RootSecretSource::File(path) => {
            let path = path.clone().unwrap_or_else(|| root_key_file(data_dir));
            root_secret_from_file(&path, &mut notes)?
        }
        RootSecretSource::Keychain => {
            let file = root_key_file(data_dir);
            let account = format!("{}.root-secret", options.keychain_name);
            if file.exists() {
                secrets = SecretsPlace::Files;
                root_secret_from_file(&file, &mut notes)?
            } else if let Some(ks) = &keychain {
                match ks.credential(&account) {
                    Ok(secret) => {
                        secrets = SecretsPlace::Keychain;
                        parse_root_secret(secret.expose())?
                    }
                    Err(ossvault_keystore::Error::CredentialNotFound { .. }) => {
                        refuse_if_marked(&marker)?;
                        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
                        ks.set_credential(&account, &hex::encode(*secret))?;
                        mark_keychain(&marker)?;
                        notes.push(Note::RootSecretMade {
                            place: "the OS keychain".into(),
                        });
                        secrets = SecretsPlace::Keychain;
                        RootSecret::from_bytes(*secret)
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                refuse_if_marked(&marker)?;
                notes.push(Note::KeychainFallback {
                    detail: "root secret".into(),
                });
                secrets = SecretsPlace::Files;
                root_secret_from_file(&file, &mut notes)?
            }
        }
    };

    let mut config = Config::new(data_dir.clone(), options.address, vec![credential]);
    config.root_secret = Some(root_secret);
    config.https_address = options.https_address;
    config.tls = options.tls.clone();
    Ok(Prepared {
        config,
        notes,
        secrets,
        profile: options.profile.clone(),
    })
}

/// Starts a prepared server (inside a runtime whose blocking pool allows
/// `prepared.config.blocking_threads()`), then saves its profile.
pub async fn start(
    prepared: Prepared,
    profiles: impl FnOnce() -> Result<Profiles>,
) -> Result<LocalServer> {
    let Prepared {
        config,
        notes,
        secrets,
        profile,
    } = prepared;
    let credential = config.credentials[0].clone();
    let region = config.region.clone();
    let certificate_file = config.https_address.map(|_| match &config.tls {
        TlsSource::Files { cert, .. } => cert.clone(),
        TlsSource::SelfSigned => config.data_dir.join("tls").join("cert.pem"),
    });
    let server = ossvault_server::start(config)
        .await
        .map_err(|e| Error::InvalidInput(format!("the embedded server cannot start: {e}")))?;
    let profile = profile.map(|name| {
        let saved = profiles().and_then(|profiles| {
            let outcome = save_server_profile(
                &profiles,
                &name,
                &server.endpoint(),
                &credential.access_key_id,
                &credential.access_key_secret,
            )?;
            Ok((profiles.path().to_owned(), outcome.secret))
        });
        (name, saved.map_err(|e| e.to_string()))
    });
    Ok(LocalServer {
        server,
        credential,
        region,
        certificate_file,
        secrets,
        notes,
        profile,
    })
}

/// `/path/to/data` → `/path/to/data.root-key`: beside the data, never in it, so that a copy of
/// the data directory alone reveals nothing.
pub fn root_key_file(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "ossvault".into());
    name.push(".root-key");
    data_dir.with_file_name(name)
}

/// Parses a root secret written as 64 hex digits.
pub fn parse_root_secret(hex_digits: &str) -> Result<RootSecret> {
    let bytes = Zeroizing::new(
        hex::decode(hex_digits.trim())
            .map_err(|_| Error::InvalidInput("the root secret is not hex".into()))?,
    );
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Error::InvalidInput("the root secret must be 32 bytes (64 hex digits)".into())
    })?;
    Ok(RootSecret::from_bytes(bytes))
}

fn new_credentials() -> StoredCredentials {
    StoredCredentials {
        access_key_id: format!("LTAI{}", hex::encode_upper(rand::random::<[u8; 10]>())),
        access_key_secret: hex::encode(rand::random::<[u8; 20]>()),
    }
}

fn stored_credential(s: StoredCredentials) -> Credential {
    Credential {
        access_key_id: s.access_key_id,
        access_key_secret: s.access_key_secret,
    }
}

fn read_credentials_file(path: &Path) -> Result<Option<StoredCredentials>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::ConfigFile {
                path: path.to_owned(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path)(e)),
    }
}

fn mark_keychain(marker: &Path) -> Result<()> {
    ossvault_fs::write_durably(marker, b"keychain\n", 0o600).map_err(Error::io(marker))
}

fn refuse_if_marked(marker: &Path) -> Result<()> {
    // The marker is written once the root secret is in the keychain: a new one now would
    // leave every object stored so far undecryptable.
    if marker.exists() {
        return Err(Error::InvalidInput(
            "this server's root secret is in the OS keychain, which is not reachable now or \
             lost it: unlock the keychain and start again"
                .into(),
        ));
    }
    Ok(())
}

/// Reads the root secret, or makes one (mode 0600) on first start.
fn root_secret_from_file(path: &Path, notes: &mut Vec<Note>) -> Result<RootSecret> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            parse_root_secret(&text).map_err(|e| Error::ConfigFile {
                path: path.to_owned(),
                detail: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
            let mut file = ossvault_fs::create_new_private(path).map_err(Error::io(path))?;
            file.write_all(hex::encode(*secret).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(Error::io(path))?;
            notes.push(Note::RootSecretMade {
                place: format!("{} (mode 0600)", path.display()),
            });
            Ok(RootSecret::from_bytes(*secret))
        }
        Err(e) => Err(Error::io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> LocalServerOptions {
        let mut o = LocalServerOptions::new(dir.join("data"), "127.0.0.1:0".parse().unwrap());
        o.profile = None;
        o
    }

    #[test]
    fn secrets_made_on_first_start_are_found_again_in_0600_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(&options(dir.path()), || None).unwrap();
        assert_eq!(first.secrets, SecretsPlace::Files);
        assert!(matches!(first.notes[0], Note::CredentialsMade { .. }));
        assert!(matches!(first.notes[1], Note::RootSecretMade { .. }));
        let second = prepare(&options(dir.path()), || None).unwrap();
        assert!(matches!(second.notes[0], Note::CredentialsFound { .. }));
        assert_eq!(second.notes.len(), 1, "the root secret is not made twice");
        assert_eq!(
            first.config.credentials[0].access_key_id,
            second.config.credentials[0].access_key_id
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [
                dir.path().join("data").join(CREDENTIALS_FILE),
                root_key_file(&dir.path().join("data")),
            ] {
                let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", f.display());
            }
        }
    }

    #[test]
    fn without_a_keychain_the_secrets_fall_back_to_files_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path());
        o.credentials_in_keychain = true;
        o.root_secret = RootSecretSource::Keychain;
        let p = prepare(&o, || None).unwrap();
        assert_eq!(p.secrets, SecretsPlace::Files);
        assert!(p
            .notes
            .iter()
            .any(|n| matches!(n, Note::KeychainFallback { .. })));
        assert!(root_key_file(&o.data_dir).exists());
    }

    #[test]
    fn a_server_whose_root_secret_was_in_the_keychain_never_gets_a_new_one_silently() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path());
        o.root_secret = RootSecretSource::Keychain;
        std::fs::create_dir_all(&o.data_dir).unwrap();
        mark_keychain(&o.data_dir.join(KEYCHAIN_MARKER)).unwrap();
        let e = prepare(&o, || None).err().expect("refused");
        assert_eq!(e.code(), "InvalidInput");
        assert!(
            !root_key_file(&o.data_dir).exists(),
            "no new secret was made"
        );
    }

    #[test]
    fn root_secrets_parse_as_64_hex_digits_only() {
        assert!(parse_root_secret(&"ab".repeat(32)).is_ok());
        assert!(parse_root_secret(&"ab".repeat(31)).is_err());
        assert!(parse_root_secret("not hex").is_err());
        assert_eq!(
            root_key_file(Path::new("/x/data")),
            PathBuf::from("/x/data.root-key")
        );
    }
}

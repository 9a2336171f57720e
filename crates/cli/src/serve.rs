//! `ossvault serve`: the embedded server, headless.

use anyhow::{bail, Context, Result};
use clap::Args;
use ossvault_server::{Config, Credential, RootSecret, TlsSource};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// File in the data directory holding the generated credentials (mode 0600).
const CREDENTIALS_FILE: &str = "credentials.json";

#[derive(Args)]
pub struct ServeArgs {
    /// Where buckets, objects and metadata live.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on for HTTP.
    #[arg(long, default_value = "127.0.0.1:9000")]
    address: SocketAddr,
    /// Also serve HTTPS here (self-signed certificate for localhost made on first start and kept
    /// in the data directory, unless --tls-cert/--tls-key are given).
    #[arg(long, value_name = "ADDRESS")]
    https_address: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Access key id clients sign with (generated on first start when absent).
    #[arg(long, env = "OSSVAULT_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// Access key secret (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "OSSVAULT_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: Option<String>,
    #[command(flatten)]
    root: RootSecretArgs,
    /// Scrub every stored object this often (e.g. `24h`, `30m`; first run one interval after
    /// start): damaged objects are quarantined (reads answer an error naming the damage).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    scrub_interval: Option<std::time::Duration>,
    /// Free space kept on the data directory's disk: uploads that would eat into it are refused
    /// (503 naming the cause) while deletes and metadata changes still work; 0 is off.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = crate::units::parse_size)]
    min_free_space: u64,
    /// Most bytes per second a periodic scrub reads.
    #[arg(long, value_name = "SIZE", default_value = "50MiB", value_parser = crate::units::parse_size)]
    scrub_rate: u64,
    /// Days between automatic rotations of the SSE-OSS master key.
    #[arg(long, default_value_t = 90)]
    master_key_rotation_days: u64,
    /// Region the server reports for its buckets.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
    /// Most connections each listener (HTTP, HTTPS) serves at once [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Most connections open at once from one client address [default: 256].
    #[arg(long, value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// Seconds a request body may go without a byte before it is cut [default: 30].
    #[arg(long, value_name = "SECONDS")]
    body_idle_timeout: Option<u64>,
    /// Lowest average request-body rate in bytes per second, after a 10 s grace; 0 is off
    /// [default: 1024].
    #[arg(long, value_name = "BYTES")]
    body_min_rate: Option<u64>,
    /// The connection profile saved (or updated) with this server's endpoint and credentials,
    /// so that `ossvault --profile local …` and the app reach it with no copying.
    #[arg(long, value_name = "NAME", default_value = ossvault_ops::profiles::LOCAL_PROFILE)]
    profile_name: String,
    /// Save no profile (test servers, or a server for another user).
    #[arg(long)]
    no_profile: bool,
}

/// Where the root secret comes from (shared by `serve` and the offline `scrub`).
#[derive(Args)]
pub struct RootSecretArgs {
    /// File holding the root secret that wraps the server's encryption keys (64 hex digits,
    /// made on first start, mode 0600). It lives beside the data directory, never in it, so a
    /// copy of the data directory alone reveals nothing. Default: `<data-dir>.root-key`.
    #[arg(long, value_name = "FILE")]
    root_secret_file: Option<PathBuf>,
    /// The root secret itself, as 64 hex digits (instead of a file).
    #[arg(
        long,
        env = "OSSVAULT_ROOT_SECRET",
        hide_env_values = true,
        conflicts_with = "root_secret_file"
    )]
    root_secret: Option<String>,
}

impl RootSecretArgs {
    fn file(&self, data_dir: &Path) -> PathBuf {
        self.root_secret_file
            .clone()
            .unwrap_or_else(|| sibling_root_key_file(data_dir))
    }

    /// The root secret if one is given or its file exists; never makes one.
    pub fn read_existing(&self, data_dir: &Path) -> Result<Option<RootSecret>> {
        if let Some(hex_digits) = &self.root_secret {
            return parse_root_secret(hex_digits)
                .context("OSSVAULT_ROOT_SECRET / --root-secret")
                .map(Some);
        }
        let path = self.file(data_dir);
        if !path.exists() {
            return Ok(None);
        }
        root_secret_from_file(&path).map(Some)
    }
}

/// `90s`, `30m`, `24h`, `7d`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 30m, 24h)"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("invalid duration {s:?}: unit is s, m, h or d")),
    };
    if n == 0 {
        return Err("the scrub interval must be positive".into());
    }
    Ok(std::time::Duration::from_secs(n * secs))
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    access_key_secret: String,
}

pub fn run(args: ServeArgs) -> Result<()> {
    // The server holds the root secret and every unwrapped key: no core files.
    if let Err(e) = ossvault_keystore::disable_core_dumps() {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    // A panic (a bug) is logged as one line through the log, without a backtrace per
    // request; the server answers that request with a 500 and goes on.
    std::panic::set_hook(Box::new(|info| tracing::error!(panic = %info, "panic")));
    ossvault_server::store::private::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let credential = match (args.access_key_id, args.access_key_secret) {
        (Some(id), Some(secret)) => Credential {
            access_key_id: id,
            access_key_secret: secret,
        },
        (None, None) => generated_credentials(&args.data_dir)?,
        _ => bail!(
            "give both --access-key-id and --access-key-secret, or neither to use generated ones"
        ),
    };
    let root_secret = match &args.root.root_secret {
        Some(hex_digits) => {
            parse_root_secret(hex_digits).context("OSSVAULT_ROOT_SECRET / --root-secret")?
        }
        None => root_secret_from_file(&args.root.file(&args.data_dir))?,
    };
    let profile = (!args.no_profile).then(|| (args.profile_name.clone(), credential.clone()));
    let mut config = Config::new(args.data_dir, args.address, vec![credential]);
    config.region = args.region;
    config.root_secret = Some(root_secret);
    config.master_key_rotation =
        std::time::Duration::from_secs(args.master_key_rotation_days.max(1) * 24 * 3600);
    config.https_address = args.https_address;
    config.scrub_interval = args.scrub_interval;
    config.scrub_rate = args.scrub_rate;
    config.min_free_space = args.min_free_space;
    if let Some(n) = args.max_connections {
        config.max_connections = n;
    }
    if let Some(n) = args.max_connections_per_ip {
        config.max_connections_per_ip = n;
    }
    if let Some(secs) = args.body_idle_timeout {
        config.body_idle_timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(rate) = args.body_min_rate {
        config.body_min_rate = rate;
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = TlsSource::Files { cert, key };
    }
    let certificate_file = match &config.tls {
        TlsSource::Files { cert, .. } => cert.clone(),
        TlsSource::SelfSigned => config.data_dir.join("tls").join("cert.pem"),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.blocking_threads())
        .build()?;
    runtime.block_on(async move {
        let server = ossvault_server::start(config).await?;
        // The HTTPS lines come first: `endpoint:` is the readiness signal scripts wait for.
        if let Some(https) = server.https_endpoint() {
            println!("https endpoint: {https}");
            println!("certificate: {}", certificate_file.display());
        }
        if let Some((name, credential)) = &profile {
            save_profile(name, &server.endpoint(), credential);
        }
        println!("endpoint: {}", server.endpoint());
        std::io::stdout().flush()?;
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

/// Saves the profile that reaches this server. A failure only warns: the server serves anyway.
fn save_profile(name: &str, endpoint: &str, credential: &Credential) {
    use ossvault_ops::profiles::{save_server_profile, Profiles, SecretPlace};
    let saved = Profiles::open_default().and_then(|profiles| {
        let outcome = save_server_profile(
            &profiles,
            name,
            endpoint,
            &credential.access_key_id,
            &credential.access_key_secret,
        )?;
        Ok((profiles.path().to_owned(), outcome.secret))
    });
    match saved {
        Ok((path, place)) => {
            let secret = match place {
                SecretPlace::Keychain => "secret in the OS keychain",
                _ => "secret in the file, mode 0600: no keychain reachable",
            };
            eprintln!(
                "profile {name:?} saved in {} ({secret}): `ossvault --profile {name} ls` reaches this server",
                path.display()
            );
        }
        Err(e) => tracing::warn!(error = %e, "cannot save the profile {name:?} for this server"),
    }
}

/// Reads the credentials generated on an earlier start, or generates and keeps a new pair.
fn generated_credentials(data_dir: &Path) -> Result<Credential> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let stored: StoredCredentials = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stored = StoredCredentials {
                access_key_id: format!("LTAI{}", hex::encode_upper(rand::random::<[u8; 10]>())),
                access_key_secret: hex::encode(rand::random::<[u8; 20]>()),
            };
            let mut file = ossvault_fs::create_new_private(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&serde_json::to_vec_pretty(&stored)?)?;
            file.sync_all()?;
            stored
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    eprintln!("access key id: {}", stored.access_key_id);
    eprintln!("access key secret: in {} (mode 0600)", path.display());
    Ok(Credential {
        access_key_id: stored.access_key_id,
        access_key_secret: stored.access_key_secret,
    })
}

fn parse_root_secret(hex_digits: &str) -> Result<RootSecret> {
    let bytes = hex::decode(hex_digits.trim()).context("the root secret is not hex")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the root secret must be 32 bytes (64 hex digits)"))?;
    Ok(RootSecret::from_bytes(bytes))
}

/// `/path/to/data` → `/path/to/data.root-key`.
fn sibling_root_key_file(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "ossvault".into());
    name.push(".root-key");
    data_dir.with_file_name(name)
}

/// Reads the root secret, or makes one (mode 0600) on first start.
fn root_secret_from_file(path: &Path) -> Result<RootSecret> {
    match fs::read_to_string(path) {
        Ok(text) => parse_root_secret(&text)
            .with_context(|| format!("{} is not a valid root secret", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let mut file = ossvault_fs::create_new_private(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(hex::encode(secret).as_bytes())?;
            file.sync_all()?;
            eprintln!(
                "root secret: made {} (mode 0600); keep it with the data, apart from it",
                path.display()
            );
            Ok(RootSecret::from_bytes(secret))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

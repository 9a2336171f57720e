//! `ossvault serve`: the embedded server, headless.

use anyhow::{bail, Context, Result};
use clap::Args;
use ossvault_ops::local_server::{self, LocalServerOptions, RootSecretSource};
use ossvault_ops::profiles::{Profiles, SecretPlace};
use ossvault_server::{Credential, RootSecret, TlsSource};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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
    /// Content of at most this size (an object, a part, an append) is stored inline in the
    /// metadata database, committed with its record, rather than as a file of its own; 0 stores
    /// every content as a file.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = crate::units::parse_size)]
    inline_max: u64,
    /// How long RestoreObject takes before an archived object (Archive, ColdArchive) is
    /// readable, e.g. `1m`, `0s`.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_delay)]
    restore_delay: std::time::Duration,
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
    /// Where `serve` takes the root secret from (made on first start when it is a file).
    fn source(&self) -> RootSecretSource {
        match &self.root_secret {
            Some(hex_digits) => RootSecretSource::Hex(Zeroizing::new(hex_digits.clone())),
            None => RootSecretSource::File(self.root_secret_file.clone()),
        }
    }

    /// The root secret if one is given or its file exists; never makes one.
    pub fn read_existing(&self, data_dir: &Path) -> Result<Option<RootSecret>> {
        if let Some(hex_digits) = &self.root_secret {
            return local_server::parse_root_secret(hex_digits)
                .context("OSSVAULT_ROOT_SECRET / --root-secret")
                .map(Some);
        }
        let path = self
            .root_secret_file
            .clone()
            .unwrap_or_else(|| local_server::root_key_file(data_dir));
        match std::fs::read_to_string(&path) {
            Ok(text) => local_server::parse_root_secret(&Zeroizing::new(text))
                .with_context(|| format!("{} holds no root secret", path.display()))
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, or plain seconds.
/// A duration as [`parse_duration`] reads it, or zero (`0`, `0s`).
fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().trim_end_matches(['s', 'm', 'h', 'd']) {
        zero if !zero.is_empty() && zero.bytes().all(|b| b == b'0') => Ok(Default::default()),
        _ => parse_duration(s),
    }
}

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

pub fn run(args: ServeArgs) -> Result<()> {
    // The server holds the root secret and every unwrapped key: no core files.
    if let Err(e) = ossvault_keystore::disable_core_dumps() {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    // A panic (a bug) is logged as one line through the log, without a backtrace per
    // request; the server answers that request with a 500 and goes on.
    std::panic::set_hook(Box::new(|info| tracing::error!(panic = %info, "panic")));
    let mut options = LocalServerOptions::new(args.data_dir.clone(), args.address);
    options.credential = match (args.access_key_id, args.access_key_secret) {
        (Some(id), Some(secret)) => Some(Credential {
            access_key_id: id,
            access_key_secret: secret,
        }),
        (None, None) => None,
        _ => bail!(
            "give both --access-key-id and --access-key-secret, or neither to use generated ones"
        ),
    };
    options.root_secret = args.root.source();
    options.https_address = args.https_address;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        options.tls = TlsSource::Files { cert, key };
    }
    options.profile = (!args.no_profile).then_some(args.profile_name);
    let mut prepared = local_server::prepare(&options, || None)
        .with_context(|| format!("cannot set up the server in {}", args.data_dir.display()))?;
    for note in &prepared.notes {
        eprintln!("{note}");
    }
    let config = &mut prepared.config;
    config.region = args.region;
    config.master_key_rotation =
        std::time::Duration::from_secs(args.master_key_rotation_days.max(1) * 24 * 3600);
    config.scrub_interval = args.scrub_interval;
    config.scrub_rate = args.scrub_rate;
    config.min_free_space = args.min_free_space;
    config.inline_max = usize::try_from(args.inline_max).unwrap_or(usize::MAX);
    config.restore_delay = args.restore_delay;
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

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(prepared.config.blocking_threads())
        .build()?;
    runtime.block_on(async move {
        let server = local_server::start(prepared, Profiles::open_default).await?;
        // The HTTPS lines come first: `endpoint:` is the readiness signal scripts wait for.
        if let (Some(https), Some(cert)) = (server.https_endpoint(), &server.certificate_file) {
            println!("https endpoint: {https}");
            println!("certificate: {}", cert.display());
        }
        match &server.profile {
            Some((name, Ok((path, place)))) => {
                let secret = match place {
                    SecretPlace::Keychain => "secret in the OS keychain",
                    _ => "secret in the file, mode 0600: no keychain reachable",
                };
                eprintln!(
                    "profile {name:?} saved in {} ({secret}): `ossvault --profile {name} ls` reaches this server",
                    path.display()
                );
            }
            Some((name, Err(e))) => {
                tracing::warn!(error = %e, "cannot save the profile {name:?} for this server")
            }
            None => {}
        }
        println!("endpoint: {}", server.endpoint());
        std::io::stdout().flush()?;
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
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

//! `ossvault serve`: the embedded server, headless.

use anyhow::{bail, Context, Result};
use clap::Args;
use ossvault_server::{Config, Credential, TlsSource};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
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
    /// Region the server reports for its buckets.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    access_key_secret: String,
}

pub fn run(args: ServeArgs) -> Result<()> {
    disable_core_dumps();
    fs::create_dir_all(&args.data_dir).with_context(|| {
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
    let mut config = Config::new(args.data_dir, args.address, vec![credential]);
    config.region = args.region;
    config.https_address = args.https_address;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = TlsSource::Files { cert, key };
    }
    let certificate_file = match &config.tls {
        TlsSource::Files { cert, .. } => cert.clone(),
        TlsSource::SelfSigned => config.data_dir.join("tls").join("cert.pem"),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = ossvault_server::start(config).await?;
        // The HTTPS lines come first: `endpoint:` is the readiness signal scripts wait for.
        if let Some(https) = server.https_endpoint() {
            println!("https endpoint: {https}");
            println!("certificate: {}", certificate_file.display());
        }
        println!("endpoint: {}", server.endpoint());
        std::io::stdout().flush()?;
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
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
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
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

/// A process holding secrets should not write them into core files.
fn disable_core_dumps() {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid, initialised struct; failure only leaves dumps enabled.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &limit);
    }
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

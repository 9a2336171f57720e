//! HTTPS: the server's certificate (given, or self-signed on first start and kept in the data
//! directory) and the rustls configuration.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// `tls/cert.pem` and `tls/key.pem` in the data directory, self-signed for `localhost`,
    /// `127.0.0.1` and `::1`, made on first start.
    SelfSigned,
    /// PEM files given by the operator.
    Files { cert: PathBuf, key: PathBuf },
}

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate chain (PEM) clients should pin, and the rustls server configuration.
pub struct Tls {
    pub certificate_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

impl Tls {
    pub fn load(source: &TlsSource, data_dir: &Path) -> Result<Tls, TlsError> {
        let (cert_path, key_path) = match source {
            TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
            TlsSource::SelfSigned => {
                let dir = data_dir.join("tls");
                let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
                if !cert.exists() || !key.exists() {
                    generate(&dir, &cert, &key)?;
                }
                (cert, key)
            }
        };
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::Io { path, source }
        };
        let certificate_pem = fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
                .collect::<Result<_, _>>()
                .ok()
                .filter(|c: &Vec<_>| !c.is_empty())
                .ok_or_else(|| TlsError::Pem {
                    path: cert_path.clone(),
                    what: "certificate",
                })?;
        let key_pem = fs::read(&key_path).map_err(io(&key_path))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::Pem {
            path: key_path.clone(),
            what: "private key",
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            certificate_pem,
            config: Arc::new(config),
        })
    }
}

/// Makes a self-signed certificate for the loopback names; the key file is 0600.
fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    crate::store::private::create_dir_all(dir).map_err(io(dir))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    // Durable replacement: a crash never leaves a torn key or certificate behind.
    let write = |path: &Path, contents: &str, mode: u32| -> Result<(), TlsError> {
        ossvault_fs::write_durably(path, contents.as_bytes(), mode).map_err(io(path))
    };
    write(key_path, &generated.key_pair.serialize_pem(), 0o600)?;
    write(cert_path, &generated.cert.pem(), 0o644)?;
    tracing::info!(certificate = %cert_path.display(), "made a self-signed certificate for localhost");
    Ok(())
}

//! The listeners: plain HTTP and HTTPS. Each accepts connections, applies the connection
//! limits and timeouts, and hands every request to [`api::serve`].
//!
//! Limits: each listener serves at most `max_connections` at once (more wait in its accept
//! queue, so a full HTTP listener does not block HTTPS); one address holds at most
//! `max_connections_per_ip` over both (more are closed on accept, and the loop goes on
//! accepting others). A request head, and the wait for the next request on a keep-alive
//! connection, get `header_timeout` (hyper restarts that timer when a connection goes idle);
//! bodies get the idle and rate limits of [`crate::limits::RequestBody`], and responses
//! `send_timeout` ([`SendTimeout`]).

use crate::api::{self, Connection, State};
use crate::kms::LocalKms;
use crate::limits::{PerIp, SendTimeout};
use crate::sse::{KeyError, Kms, MasterKeys, Sse};
use crate::store::{Store, StoreError};
use crate::tls::{Tls, TlsError};
use crate::Config;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Request heads larger than this are refused by hyper (431).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long a shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the data directory: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up HTTPS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot load the encryption keys: {0}")]
    Keys(#[from] KeyError),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    local_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    certificate_pem: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    store: Store,
}

impl RunningServer {
    /// Copies a consistent snapshot of the server's data into `out` (a new directory) while it
    /// goes on serving: see [`Store::backup`]. The root secret is not part of it.
    pub async fn backup(
        &self,
        out: std::path::PathBuf,
    ) -> Result<crate::store::BackupReport, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.backup(&out))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }

    /// The HTTP address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://host:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// `https://host:port`, when HTTPS is on.
    pub fn https_endpoint(&self) -> Option<String> {
        self.https_addr.map(|a| format!("https://{a}"))
    }

    /// The HTTPS certificate chain in PEM, for clients to pin.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Stops accepting, lets requests in flight finish (bounded), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the store (running crash recovery) and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    // A server built for crash tests takes its failpoints from FAILPOINTS (a misspelt one is
    // an error, not a test of nothing).
    #[cfg(feature = "failpoints")]
    crate::failpoints::configure_from_env()
        .map_err(|e| StoreError::Io(std::io::Error::other(format!("FAILPOINTS: {e}"))))?;
    let (dir, cache) = (config.data_dir.clone(), config.metadata_cache);
    let store = tokio::task::spawn_blocking(move || Store::open_with_cache(&dir, cache))
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
    store.set_min_free_space(config.min_free_space);
    store.set_inline_max(config.inline_max);
    let (sse, kms) = match &config.root_secret {
        Some(root) => {
            let (store, root) = (store.clone(), root.clone());
            let region = config.region.clone();
            let account = config
                .credentials
                .first()
                .map(|c| c.access_key_id.clone())
                .unwrap_or_default();
            let (master, kms) = tokio::task::spawn_blocking(move || {
                let kms = LocalKms::load(&store, &root, &region, &account)?;
                Ok::<_, KeyError>((MasterKeys::load(&store, root)?, Arc::new(kms)))
            })
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
            let sse = Sse {
                master,
                kms: Some(kms.clone() as Arc<dyn Kms>),
            };
            (Some(sse), Some(kms))
        }
        None => (None, None),
    };
    let tls = match config.https_address {
        Some(_) => Some(Tls::load(&config.tls, &config.data_dir)?),
        None => None,
    };
    let bind = |address: SocketAddr| async move {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        Ok::<_, StartError>((listener, local))
    };
    let (listener, local_addr) = bind(config.address).await?;
    let https = match config.https_address {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let public_access_block = store
        .setting(crate::api::PUBLIC_ACCESS_BLOCK_SETTING)
        .map_err(StartError::Store)?
        .is_some_and(|v| v == b"true");
    let state = Arc::new(State {
        sse,
        kms,
        store,
        public_access_block: public_access_block.into(),
        public_host: local_addr.to_string(),
        config,
    });
    let per_ip = PerIp::new(state.config.max_connections_per_ip);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(accept_loop(
        listener,
        None,
        state.clone(),
        per_ip.clone(),
        stopped.clone(),
    ))];
    tracing::info!(address = %local_addr, "serving the OSS API over HTTP");
    if let Some(interval) = state.config.scrub_interval {
        let options = crate::scrub::ScrubOptions {
            max_bytes_per_sec: state.config.scrub_rate,
            ..Default::default()
        };
        tasks.push(tokio::spawn(crate::scrub::periodic(
            state.clone(),
            interval,
            options,
            stopped.clone(),
        )));
    }
    if state.sse.is_some() {
        tasks.push(tokio::spawn(crate::sse::maintain(
            state.clone(),
            stopped.clone(),
        )));
    }
    let https_addr = https.as_ref().map(|(_, a)| *a);
    let store = state.store.clone();
    let certificate_pem = tls.as_ref().map(|t| t.certificate_pem.clone());
    if let (Some((listener, address)), Some(tls)) = (https, tls) {
        let acceptor = TlsAcceptor::from(tls.config);
        tasks.push(tokio::spawn(accept_loop(
            listener,
            Some(acceptor),
            state,
            per_ip,
            stopped,
        )));
        tracing::info!(%address, "serving the OSS API over HTTPS");
    }
    Ok(RunningServer {
        local_addr,
        https_addr,
        certificate_pem,
        stop,
        tasks,
        store,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    per_ip: PerIp,
    mut stopped: watch::Receiver<bool>,
) {
    // Each listener its own cap, so that filling one does not lock clients out of the other.
    let permits = Arc::new(Semaphore::new(state.config.max_connections));
    let graceful = GracefulShutdown::new();
    let header_timeout = state.config.header_timeout;
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, remote) = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(ip_slot) = per_ip.acquire(remote.ip()) else {
            // Closed at once (dropping the stream and its permit); the loop goes straight
            // back to accepting, so other addresses are not held up.
            tracing::debug!(%remote, "too many connections from this address; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Below TLS, so that TLS records waiting to be sent count too.
        let stream = SendTimeout::new(stream, state.config.send_timeout);
        let conn = Connection {
            remote,
            secure: tls.is_some(),
        };
        let (state, tls, watcher) = (state.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, conn, state, watcher, header_timeout).await,
                Some(acceptor) => {
                    // The handshake gets the same deadline as a request head.
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(tls_stream, conn, state, watcher, header_timeout).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
            drop((permit, ip_slot));
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("shutdown timed out with requests in flight"),
    }
}

async fn serve_connection<S>(
    stream: S,
    conn: Connection,
    state: Arc<State>,
    watcher: Watcher,
    header_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(api::serve(state, req, conn).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, remote = %conn.remote, "connection ended with an error");
    }
}

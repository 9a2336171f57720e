//! Start-up: directories, logs, the embedded server, the connections.

use crate::state::{AppDirs, AppState, LogLevelControl, ServerStatus, SettingsState};
use ossvault_ops::app_settings::{AppSettings, LogLevel, SettingsStore};
use ossvault_ops::local_server::{self, LocalServerOptions, Prepared, RootSecretSource};
use ossvault_ops::profiles::{self, Profiles};
use ossvault_ops::registry::ConnectionRegistry;
use ossvault_ops::transfers::{self, QueueSettings, TransferQueue};
use ossvault_sync::{Follow, PairStore, RunOptions, SyncEngine};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The app's identifier (tauri.conf.json), which names its data directory.
pub const APP_ID: &str = "dev.ossvault.app";
/// Where the app keeps its data (default: the OS data directory / `dev.ossvault.app`).
pub const ENV_DATA_DIR: &str = "OSSVAULT_APP_DATA_DIR";
pub const ENV_ADDRESS: &str = "OSSVAULT_APP_ADDRESS";
pub const ENV_HTTPS_ADDRESS: &str = "OSSVAULT_APP_HTTPS_ADDRESS";

pub struct Setup {
    pub dirs: AppDirs,
    pub settings: SettingsState,
    pub runtime: tokio::runtime::Runtime,
    pub prepared: Result<Prepared, String>,
    pub log_guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

pub fn app_dirs() -> AppDirs {
    let data = std::env::var_os(ENV_DATA_DIR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::data_dir().map(|d| d.join(APP_ID)))
        .unwrap_or_else(|| PathBuf::from(APP_ID));
    AppDirs {
        logs: data.join("logs"),
        config: profiles::config_dir().unwrap_or_else(|_| data.join("config")),
        data,
    }
}

/// Log lines waiting for the log file's writer thread; more are dropped (never blocking the
/// thread that logs).
const LOG_QUEUE_LINES: usize = 8192;

/// Logs to a daily-rotated file in the log directory (at most 7 kept) and to stderr, at the
/// settings' level (`RUST_LOG` wins at start); the returned control changes the level live.
fn init_logs(
    dir: &std::path::Path,
    level: LogLevel,
) -> (
    Option<tracing_appender::non_blocking::WorkerGuard>,
    Option<LogLevelControl>,
) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{reload, EnvFilter};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    let (filter, handle) = reload::Layer::new(filter);
    let file = ossvault_fs::create_private_dir_all(dir).ok().and_then(|_| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("ossvault-app")
            .filename_suffix("log")
            .max_log_files(7)
            .build(dir)
            .ok()
    });
    let (file_layer, guard) = match file {
        Some(appender) => {
            // The default queue (128,000 lines) is an array allocated and touched up front:
            // 3.9 MiB of the idle app for a writer thread that keeps up with a desktop's logs.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_QUEUE_LINES)
                .finish(appender);
            (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer),
                ),
                Some(guard),
            )
        }
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init()
        .is_ok();
    let control: Option<LogLevelControl> = installed.then(|| {
        std::sync::Arc::new(move |level: LogLevel| {
            handle
                .reload(EnvFilter::new(level.as_str()))
                .map_err(|e| e.to_string())
        }) as LogLevelControl
    });
    (guard, control)
}

/// The address in `var` if set (scripts and the end-to-end tests), else 127.0.0.1 on `port`.
fn address(var: &str, port: u16) -> Result<SocketAddr, String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v.parse().map_err(|e| format!("{var}={v:?}: {e}")),
        _ => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
    }
}

/// The saved settings, or the defaults with the reason when the file cannot be read.
fn load_settings(dirs: &AppDirs) -> (SettingsStore, AppSettings, Option<String>) {
    let store = SettingsStore::in_dir(&dirs.config);
    match store.load() {
        Ok(settings) => (store, settings, None),
        Err(e) => (store, AppSettings::default(), Some(e.to_string())),
    }
}

/// Directories, logs, the server's secrets and configuration, and the runtime sized for it.
pub fn prepare() -> Setup {
    let dirs = app_dirs();
    let (store, settings, load_error) = load_settings(&dirs);
    let (log_guard, log_level) = init_logs(&dirs.logs, settings.log_level);
    if let Some(e) = &load_error {
        tracing::error!("the settings file cannot be read, running on defaults: {e}");
    }
    // The app holds the server's root secret and unwrapped keys: no core files.
    if let Err(e) = ossvault_keystore::disable_core_dumps() {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    let server = &settings.server;
    // The environment's data directory (OSSVAULT_APP_DATA_DIR) wins over the settings' one.
    let data_dir = match (&server.data_dir, std::env::var_os(ENV_DATA_DIR)) {
        (Some(dir), None) => dir.clone(),
        _ => dirs.data.join("server"),
    };
    let prepared = (|| {
        if !server.start_with_app {
            return Err(NOT_STARTED.to_owned());
        }
        let mut options =
            LocalServerOptions::new(data_dir, address(ENV_ADDRESS, server.http_port)?);
        let https = server.https || std::env::var_os(ENV_HTTPS_ADDRESS).is_some();
        options.https_address = https
            .then(|| address(ENV_HTTPS_ADDRESS, server.https_port))
            .transpose()?;
        options.credentials_in_keychain = true;
        // As `ossvault serve` does: credentials given in the environment are used as they are
        // (scripts and the end-to-end tests know them); else they are made and kept in the
        // keychain.
        if let (Ok(id), Ok(secret)) = (
            std::env::var(ossvault_ops::connection::ENV_ACCESS_KEY_ID),
            std::env::var(ossvault_ops::connection::ENV_ACCESS_KEY_SECRET),
        ) {
            if !id.is_empty() && !secret.is_empty() {
                options.credential = Some(ossvault_server::Credential {
                    access_key_id: id,
                    access_key_secret: secret,
                });
            }
        }
        options.root_secret = RootSecretSource::Keychain;
        options.keychain_name = "ossvault-app-server".into();
        let mut prepared = local_server::prepare(&options, profiles::system_keychain)
            .map_err(|e| e.to_string())?;
        prepared.config.metadata_cache = SERVER_METADATA_CACHE;
        Ok(prepared)
    })();
    // An upload holds blocking-pool threads while its body arrives: size the pool as
    // `ossvault serve` does, or slow clients would stall every request.
    let blocking = prepared
        .as_ref()
        .map(|p| p.config.blocking_threads())
        .unwrap_or(512);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking)
        .build()
        .expect("cannot start the async runtime");
    Setup {
        dirs,
        settings: SettingsState::new(store, settings, load_error, log_level),
        runtime,
        prepared,
        log_guard,
    }
}

/// The embedded server's metadata page cache: a desktop's buckets are read a few keys at a time
/// (the server's own default, 256 MiB, would end up holding most of a 50,000-object database,
/// 49 MiB), and idle sync pairs no longer list them (listing tokens); the upper levels of its
/// B-trees still fit, the rest comes from the OS's page cache (8 MiB before: 6 MiB more of the
/// idle app's memory for no measured gain).
const SERVER_METADATA_CACHE: usize = 2 << 20;

/// Why the server is not running when the settings say not to start it.
pub const NOT_STARTED: &str = "not started with the app (Settings)";

/// Starts the embedded server (when prepared) and opens the connections.
pub async fn start(
    dirs: AppDirs,
    settings: SettingsState,
    prepared: Result<Prepared, String>,
) -> AppState {
    let profiles = || Profiles::open_default();
    let started = match prepared {
        Ok(p) => local_server::start(p, profiles)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let (server, local, running) = match started {
        Ok(server) => {
            println!("endpoint: {}", server.endpoint());
            tracing::info!("endpoint: {}", server.endpoint());
            for note in &server.notes {
                tracing::info!("{note}");
            }
            let status = ServerStatus::of(&server);
            let config = server.client_config();
            (status, Some(config), Some(server))
        }
        Err(e) if e == NOT_STARTED => {
            tracing::info!("the embedded server is off in the settings");
            (ServerStatus::off(), None, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "the embedded server did not start");
            (ServerStatus::failed(e), None, None)
        }
    };
    let registry = match Profiles::open_default() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "no profiles file: remote connections unavailable");
            Profiles::new(dirs.config.join("config.toml"), None)
        }
    };
    let connections = Arc::new(ConnectionRegistry::new(registry, local));
    let keystore: ossvault_ops::copy::KeystoreOpener =
        Arc::new(|| ossvault_ops::keys::open_keystore(ossvault_keystore::Backend::SystemKeychain));
    let transfers = open_transfers(
        connections.clone(),
        keystore.clone(),
        &settings.current().transfers,
    );
    let sync = Arc::new(sync_engine(connections.clone(), keystore.clone(), &dirs));
    AppState {
        server,
        running: std::sync::Mutex::new(running),
        connections,
        dirs,
        keystore,
        transfers,
        sync,
        settings,
        rewraps: Default::default(),
    }
}

/// The sync engine over the pairs `ossvault sync` keeps (`<config dir>/sync`), its clients
/// from the connections (a pair with no profile is on the Local connection).
pub fn sync_engine(
    connections: Arc<ConnectionRegistry>,
    keystore: ossvault_ops::copy::KeystoreOpener,
    dirs: &AppDirs,
) -> SyncEngine {
    let store = PairStore::open_default().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no config directory for sync pairs");
        PairStore::new(dirs.config.join("sync"))
    });
    let connector: ossvault_sync::Connector = Arc::new(move |pair| {
        let name = pair.profile.as_deref().unwrap_or(profiles::LOCAL_PROFILE);
        Ok(connections.client(name)?)
    });
    SyncEngine::new(store, connector, keystore, RunOptions::default())
}

/// Starts every pair (in the background: the window does not wait), then follows the pairs
/// file: pairs `ossvault sync` adds, removes, pauses or resumes while the app runs start, stop,
/// pause and resume here too. A pair that cannot start shows why on the Sync screen.
pub fn start_sync(engine: Arc<SyncEngine>) {
    tauri::async_runtime::spawn(async move {
        match engine.start_all().await {
            Ok(failed) => {
                for (name, e) in failed {
                    tracing::warn!(pair = %name, error = %e, "sync pair not started");
                }
            }
            Err(e) => tracing::error!(error = %e, "sync pairs not read"),
        }
        engine.follow_store(Follow::All).await;
    });
}

/// At exit: the transfer queue stores its checkpoints, the pairs stop (each pass keeps what
/// it finished in its index), with at most `limit` for all of it; then the embedded server.
pub async fn shut_down(state: &AppState, limit: std::time::Duration) {
    let work = async {
        if let Ok(queue) = &state.transfers {
            queue.shutdown().await;
        }
        state.sync.stop_all().await;
    };
    if tokio::time::timeout(limit, work).await.is_err() {
        tracing::warn!("shutdown took longer than {limit:?}: exiting anyway");
    }
    // Requests in flight get 2 s at most: the window is gone, the process must not linger on
    // a keep-alive.
    let server = state.running.lock().ok().and_then(|mut s| s.take());
    if let Some(server) = server {
        if tokio::time::timeout(SERVER_DRAIN, server.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the embedded server did not stop within {SERVER_DRAIN:?}");
        }
    }
}

/// How long the embedded server may take to finish its requests at exit.
const SERVER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the transfer queue shared with `ossvault transfers` (one process at a time), its
/// unfinished transfers resuming at once.
pub fn open_transfers(
    connections: Arc<ConnectionRegistry>,
    keystore: ossvault_ops::copy::KeystoreOpener,
    pace: &ossvault_ops::app_settings::TransferSettings,
) -> Result<TransferQueue, String> {
    let dir = transfers::default_state_dir().map_err(|e| e.to_string())?;
    let clients: transfers::ClientSource = Arc::new(move |name| connections.client(name));
    let settings = QueueSettings {
        files_at_once: pace.files_at_once,
        upload_limit: pace.upload_limit,
        download_limit: pace.download_limit,
        ..QueueSettings::new(dir)
    };
    TransferQueue::open(settings, clients, keystore).map_err(|e| {
        tracing::error!(error = %e, "the transfer queue did not open");
        e.to_string()
    })
}

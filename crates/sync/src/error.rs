//! The one error type of sync, with a stable [`Error::code`] and a notion of transience: a
//! transient failure (network, 5xx, timeouts, a full disk) is retried by the engine with a
//! backoff, never left for the user to repair.

use std::path::PathBuf;

/// Why a sync operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operation of `ossvault-ops` (service, network, keys, encryption) failed.
    #[error(transparent)]
    Ops(#[from] ossvault_ops::Error),
    /// A local file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The per-pair index database failed.
    #[error("sync index: {0}")]
    Index(String),
    /// The pairs file cannot be parsed.
    #[error("{path} is not a valid sync pairs file: {detail}")]
    Config { path: PathBuf, detail: String },
    /// No pair by that name.
    #[error("no sync pair {0:?} (see `ossvault sync ls`)")]
    NoSuchPair(String),
    /// A pair by that name (or for that folder and prefix) exists already.
    #[error("{0}")]
    PairExists(String),
    /// Another process syncs this pair.
    #[error("the pair {0:?} is being synced by another process")]
    Locked(String),
    /// The caller's input is not valid.
    #[error("{0}")]
    InvalidInput(String),
    /// The local folder is missing (an unmounted drive looks empty: nothing is deleted).
    #[error("the local folder {} is missing: nothing synced (is it unmounted?)", .0.display())]
    LocalRootMissing(PathBuf),
    /// A pass would delete more than the pair allows.
    #[error(
        "refused to delete {deletes} of {total} files in one pass (the limit is {limit}); \
         if this is intended, raise the pair's limit or delete in smaller steps"
    )]
    DeletionRefused {
        deletes: u64,
        total: u64,
        limit: String,
    },
    /// A write lost a race (the object changed or appeared meanwhile): replanned next pass.
    #[error("{0} changed meanwhile; it is planned again")]
    Changed(String),
    /// Stopped through the engine.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// A stable code for the kind of failure (the ops code for service and key errors).
    pub fn code(&self) -> &str {
        match self {
            Error::Ops(e) => e.code(),
            Error::Io { .. } => "Io",
            Error::Index(_) => "Index",
            Error::Config { .. } => "ConfigFile",
            Error::NoSuchPair(_) => "NoSuchPair",
            Error::PairExists(_) => "PairExists",
            Error::Locked(_) => "PairLocked",
            Error::InvalidInput(_) => "InvalidInput",
            Error::LocalRootMissing(_) => "LocalRootMissing",
            Error::DeletionRefused { .. } => "DeletionRefused",
            Error::Changed(_) => "Changed",
            Error::Cancelled => "Cancelled",
        }
    }

    /// Whether waiting and trying again may succeed: the network, the service's 5xx and 429,
    /// timeouts, a full disk, a write race. Keys, permissions and bad input are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Ops(ossvault_ops::Error::Client(c)) => match c {
                ossvault_client::Error::Service(s) => {
                    s.status >= 500
                        || s.status == 429
                        || matches!(s.code.as_str(), "RequestTimeout" | "PreconditionFailed")
                }
                ossvault_client::Error::Transport(_) => true,
                ossvault_client::Error::Crc { .. } => true,
                ossvault_client::Error::InvalidResponse(_) => true,
                ossvault_client::Error::Io { source, .. } => io_transient(source),
                _ => false,
            },
            Error::Ops(ossvault_ops::Error::Io { source, .. }) => io_transient(source),
            Error::Io { source, .. } => io_transient(source),
            Error::Changed(_) => true,
            _ => false,
        }
    }

    /// Whether the service could not be reached at all (the pair is shown offline).
    pub fn is_offline(&self) -> bool {
        match self {
            Error::Ops(ossvault_ops::Error::Client(c)) => match c {
                ossvault_client::Error::Transport(_) => true,
                ossvault_client::Error::Service(s) => s.status >= 500,
                _ => false,
            },
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl From<ossvault_client::Error> for Error {
    fn from(e: ossvault_client::Error) -> Self {
        Error::Ops(e.into())
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Index(e.to_string())
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Index(e.to_string())
            }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A full disk or quota, an interrupted call, a timeout: worth another try later.
fn io_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        StorageFull
            | QuotaExceeded
            | Interrupted
            | TimedOut
            | WouldBlock
            | ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | UnexpectedEof
            | ResourceBusy
    )
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Client errors. A service error keeps OSS's code, message and request id.

use std::fmt;

/// An error answered by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    /// `NoSuchKey`, `SignatureDoesNotMatch`, …
    pub code: String,
    pub message: String,
    pub request_id: String,
    /// OSS's fine-grained error code (`EC`), when sent.
    pub ec: Option<String>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)?;
        if !self.request_id.is_empty() {
            write!(f, " [request id {}]", self.request_id)?;
        }
        Ok(())
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error.
    #[error("{0}")]
    Service(ServiceError),
    /// No usable answer: connection refused or reset, timeout, TLS failure.
    #[error("network error: {0}")]
    Transport(#[from] reqwest::Error),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The data received is not what the service said it sent.
    #[error("integrity check failed for {what}: expected CRC-64 {expected}, got {actual}")]
    Crc {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// The service answered something that is not valid OSS.
    #[error("unexpected response: {0}")]
    InvalidResponse(String),
    /// A bad argument (endpoint, bucket name, key…), caught before any request.
    #[error("{0}")]
    InvalidInput(String),
    /// The transfer was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// The OSS error code, if the service answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service(e) => Some(&e.code),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

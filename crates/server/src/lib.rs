//! The embedded OSS-compatible server.
//!
//! [`start`] binds a listener and serves the OSS API over HTTP from a data directory: buckets,
//! objects, listings, multipart uploads, ACLs, with V1/V4 signatures. Storage is the
//! crash-safe [`store::Store`].

mod api;
mod auth;
mod body;
mod config;
pub mod kms;
mod limits;
mod listener;
mod payload;
mod policy;
pub mod sse;
pub mod store;
mod tls;

pub use config::{Config, Credential, RootSecret, TlsSource};
pub use listener::{start, RunningServer, StartError};
pub use tls::TlsError;

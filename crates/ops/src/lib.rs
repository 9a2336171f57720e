//! User-level operations of ossvault, shared by the `ossvault` CLI, the desktop app and folder
//! sync, so that each fix is made once: connections and profiles (secrets in the OS keychain),
//! master keys and the lookup of the key that opens an object, the local KMS, encrypted uploads and
//! downloads, key rotation with rewrap. Long operations take a progress callback and a
//! cancellation token, as `ossvault_client::transfer` does; every failure is an [`Error`]
//! with a stable [`Error::code`].
//!
//! Front ends only parse, print and map errors: nothing here writes to a terminal.

pub mod app_settings;
pub mod browse;
pub mod buckets;
pub mod connection;
pub mod copy;
pub mod delete;
pub mod encrypted;
mod error;
pub mod keys;
pub mod kms;
pub mod local_server;
pub mod location;
pub mod profiles;
pub mod properties;
pub mod registry;
pub mod rewrap;
pub mod sse;
pub mod transfers;

pub use error::{Error, Result};

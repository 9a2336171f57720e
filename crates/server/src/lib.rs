//! The embedded OSS-compatible server.
//!
//! [`start`] binds a listener and serves the OSS API over HTTP from a data directory: buckets,
//! objects, listings, multipart uploads, ACLs, with V1/V4 signatures. Storage is the
//! crash-safe [`store::Store`].

/// Evaluates a failpoint ([`failpoints`]) in a function whose error type takes an
/// `io::Error`: returns the error it injects. Expands to nothing without the `failpoints`
/// feature.
#[cfg(feature = "failpoints")]
macro_rules! failpoint {
    ($fp:ident) => {
        if let Some(e) = $crate::failpoints::eval($crate::failpoints::Failpoint::$fp) {
            return Err(e.into());
        }
    };
}
#[cfg(not(feature = "failpoints"))]
macro_rules! failpoint {
    ($fp:ident) => {};
}

mod admin;
mod api;
mod auth;
mod body;
mod config;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod integrity;
pub mod kms;
mod limits;
mod listener;
mod payload;
mod policy;
pub mod scrub;
pub mod sse;
pub mod store;
mod tls;

pub use config::{Config, Credential, RootSecret, TlsSource};
pub use listener::{start, RunningServer, StartError};
pub use tls::TlsError;

/// Entry points for the fuzz targets in `fuzz/` (not a stable API): re-exports of and thin
/// wrappers around crate-private parsers, so the fuzzers exercise exactly the code the server runs.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::object::resolve_range;
    pub use crate::body::{plan_range, read_segment};
    pub use crate::policy::{Decision, Policy, PolicyRequest};

    /// The KMS API's request parser (query pairs + JSON body → typed request).
    pub fn kms_parse_request(
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<ossvault_proto::kms::KmsRequest, String> {
        crate::kms::api::parse_request(query, body).map_err(|e| format!("{e:?}"))
    }
}

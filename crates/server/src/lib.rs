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
mod listener;
mod policy;
pub mod sse;
pub mod store;
mod tls;

pub use config::{Config, Credential, RootSecret, TlsSource};
pub use listener::{start, RunningServer, StartError};
pub use tls::TlsError;

/// Entry points for the fuzz targets in `fuzz/` (not a stable API): thin wrappers around
/// crate-private parsers, so the fuzzers exercise exactly the code the server runs.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::object::{resolve_range, ByteRange};
    pub use crate::body::{plan_range, read_segment};
    pub use crate::policy::{Decision, Policy, PolicyRequest};

    /// The parameters of a KMS request (`kms::api` `Params::parse`), with the accessors every
    /// action uses applied to `names`: per name, `(get, required, number, base64, one_of)`
    /// results rendered as text, plus the canonical encryption context. `Err` is the failure.
    #[allow(clippy::type_complexity)]
    pub fn kms_params(
        query: &[(String, String)],
        body: &[u8],
        names: &[&str],
    ) -> Result<(Vec<KmsParam>, Result<Vec<u8>, String>), String> {
        let params = crate::kms::api::Params::parse(query, body).map_err(|e| format!("{e:?}"))?;
        let per_name = names
            .iter()
            .map(|name| KmsParam {
                get: params.get(name).map(str::to_owned),
                required: params.required(name).map(str::to_owned).is_ok(),
                number: params.number(name, 1..=1000).map_err(|e| format!("{e:?}")),
                base64: params
                    .base64(name)
                    .map(|b| b.to_vec())
                    .map_err(|e| format!("{e:?}")),
                one_of: params
                    .one_of(name, &["AES_256", "RSA_2048"])
                    .map_err(|e| format!("{e:?}")),
            })
            .collect();
        let context = params.context().map_err(|e| format!("{e:?}"));
        Ok((per_name, context))
    }

    /// What the KMS parameter accessors made of one name.
    #[derive(Debug)]
    pub struct KmsParam {
        pub get: Option<String>,
        pub required: bool,
        pub number: Result<Option<u64>, String>,
        pub base64: Result<Vec<u8>, String>,
        pub one_of: Result<(), String>,
    }
}

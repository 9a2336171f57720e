//! Server-side verification of every supported scheme, in one function.

use super::RequestParts;
use std::time::SystemTime;

/// Maximum difference between the request time and the server's clock.
pub const MAX_SKEW_SECS: u64 = 15 * 60;

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// No signature of any kind was presented.
    Anonymous,
    /// Signed by this access key id.
    Signed { access_key_id: String },
}

/// Why a request's signature was refused; each maps to one OSS error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// 403 InvalidAccessKeyId.
    #[error("The OSS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId { access_key_id: String },
    /// 403 SignatureDoesNotMatch; `string_to_sign` is what the server computed.
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch { access_key_id: String, string_to_sign: String },
    /// 403 AccessDenied for an expired presigned URL or one without a valid expiry.
    #[error("{0}")]
    AccessDenied(String),
    /// 403 RequestTimeTooSkewed.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// 400 InvalidArgument: a malformed Authorization header or signature parameters.
    #[error("{0}")]
    InvalidArgument(String),
}

impl AuthError {
    pub fn code(&self) -> crate::ErrorCode { todo!() }
}

/// Verifies a request signed by any scheme (V1/V4, header/presigned) or recognises an anonymous
/// one. `secret_of` maps an access key id to its secret. Signatures are compared in constant time.
pub fn verify(
    req: &RequestParts<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Verified, AuthError> { todo!() }

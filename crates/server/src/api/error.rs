//! API errors: an OSS error code, a message, and what the `<Error>` body and headers carry.

use crate::store::StoreError;
use ossvault_proto::sign::AuthError;
use ossvault_proto::ErrorCode;

/// An error answered as OSS does: status from the code, `<Error>` XML body (or `x-oss-err` on
/// HEAD), plus any extra headers.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra response headers (e.g. `x-oss-next-append-position`).
    pub headers: Vec<(&'static str, String)>,
    /// SignatureDoesNotMatch details: what the server signed, and the presented key id.
    pub string_to_sign: Option<String>,
    pub access_key_id: Option<String>,
    /// OSS's fine-grained code (`x-oss-ec`, `<EC>`) when this occurrence has its own; else the
    /// code's usual one ([`ErrorCode::ec`]) is answered.
    pub ec: Option<&'static str>,
}

impl ApiError {
    /// An error with the code's standard message.
    pub fn new(code: ErrorCode) -> Self {
        Self::msg(code, code.default_message())
    }

    pub fn msg(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            headers: Vec::new(),
            string_to_sign: None,
            access_key_id: None,
            ec: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::msg(ErrorCode::InternalError, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::msg(ErrorCode::InvalidArgument, message)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        fn e_text(e: &StoreError) -> String {
            e.to_string()
        }
        match e {
            StoreError::NoSuchBucket => ApiError::new(ErrorCode::NoSuchBucket),
            StoreError::BucketAlreadyExists => ApiError::new(ErrorCode::BucketAlreadyExists),
            StoreError::BucketNotEmpty => ApiError::new(ErrorCode::BucketNotEmpty),
            StoreError::NoSuchKey => ApiError::new(ErrorCode::NoSuchKey),
            StoreError::NoSuchUpload => ApiError::new(ErrorCode::NoSuchUpload),
            StoreError::NoSuchVersion => ApiError::new(ErrorCode::NoSuchVersion),
            StoreError::DeleteMarker(id) => ApiError::msg(
                ErrorCode::MethodNotAllowed,
                "The specified version is a delete marker, which this operation does not apply to.",
            )
            .with_header(ossvault_proto::headers::DELETE_MARKER, "true".to_owned())
            .with_header(ossvault_proto::headers::VERSION_ID, id),
            StoreError::FileAlreadyExists => ApiError::new(ErrorCode::FileAlreadyExists),
            StoreError::PreconditionFailed => ApiError::new(ErrorCode::PreconditionFailed),
            StoreError::PositionNotEqualToLength { next_position } => {
                ApiError::new(ErrorCode::PositionNotEqualToLength).with_header(
                    ossvault_proto::headers::NEXT_APPEND_POSITION,
                    next_position.to_string(),
                )
            }
            StoreError::ObjectNotAppendable => ApiError::new(ErrorCode::ObjectNotAppendable),
            StoreError::InvalidPart => ApiError::new(ErrorCode::InvalidPart),
            e @ StoreError::InsufficientStorage { .. } => storage_full(&e_text(&e)),
            StoreError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                storage_full(&io.to_string())
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal(other.to_string())
            }
        }
    }
}

/// A full disk (or one down to its reserve): 503 ServiceUnavailable, as a service that cannot
/// take writes for now answers (OSS has no code for a full disk; SDKs back off and retry 503),
/// with a message naming the cause. The body of the refused upload is not read: close.
fn storage_full(cause: &str) -> ApiError {
    tracing::warn!(cause, "write refused: insufficient storage");
    ApiError::msg(
        ErrorCode::ServiceUnavailable,
        format!(
            "Insufficient storage: {cause}. Uploads are refused until space is freed; reads and \
             deletes still work."
        ),
    )
    .with_header("connection", "close")
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = e.code();
        let message = e.to_string();
        let mut err = ApiError::msg(code, message);
        err.ec = e.ec();
        match e {
            AuthError::SignatureDoesNotMatch {
                access_key_id,
                string_to_sign,
            } => {
                err.string_to_sign = Some(string_to_sign);
                err.access_key_id = Some(access_key_id);
            }
            AuthError::InvalidAccessKeyId { access_key_id } => {
                err.access_key_id = Some(access_key_id)
            }
            _ => {}
        }
        err
    }
}

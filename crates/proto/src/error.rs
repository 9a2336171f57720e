//! OSS error codes with their HTTP status and default message.

/// An OSS error code. `as_str()` is the `<Code>` string, `status()` the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AccessDenied,
    BucketAlreadyExists,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    FileAlreadyExists,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidEncryptionAlgorithmError,
    InvalidObjectName,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    MalformedXML,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchServerSideEncryptionRule,
    NoSuchUpload,
    NotImplemented,
    ObjectNotAppendable,
    PositionNotEqualToLength,
    PreconditionFailed,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    TooManyBuckets,
    /// 304: not an error on the wire (empty body) but handled as one.
    NotModified,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str { todo!() }
    pub fn status(self) -> u16 { todo!() }
    /// The message OSS uses for this code (e.g. NoSuchKey: "The specified key does not exist.").
    pub fn default_message(self) -> &'static str { todo!() }
    /// Parses a `<Code>` string.
    pub fn from_code(s: &str) -> Option<Self> { todo!() }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
}

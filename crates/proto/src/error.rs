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
    InvalidObjectState,
    InvalidObjectName,
    InvalidPart,
    InvalidPartOrder,
    InvalidPolicyDocument,
    InvalidRange,
    InvalidTag,
    KmsKeyNotFound,
    KmsServiceNotEnabled,
    MalformedXML,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchRegion,
    NoSuchServerSideEncryptionRule,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    NotSymlink,
    ObjectNotAppendable,
    OperationNotSupported,
    PositionNotEqualToLength,
    PreconditionFailed,
    RequestTimeTooSkewed,
    RequestTimeout,
    RestoreAlreadyInProgress,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SymlinkTargetNotExist,
    TooManyBuckets,
    /// 304: not an error on the wire (empty body) but handled as one.
    NotModified,
}

/// One row per code: (code, `<Code>` string, HTTP status, default message). A single table keeps
/// the three mappings and their inverse from drifting apart.
const TABLE: &[(ErrorCode, &str, u16, &str)] = {
    use ErrorCode::*;
    &[
        (AccessDenied, "AccessDenied", 403, "You have no right to access this object."),
        (
            BucketAlreadyExists,
            "BucketAlreadyExists",
            409,
            "The requested bucket name is not available. The bucket namespace is shared by all \
             users of the system. Please select a different name and try again.",
        ),
        (BucketNotEmpty, "BucketNotEmpty", 409, "The bucket you tried to delete is not empty."),
        (
            EntityTooLarge,
            "EntityTooLarge",
            400,
            "Your proposed upload exceeds the maximum allowed size.",
        ),
        (
            EntityTooSmall,
            "EntityTooSmall",
            400,
            "Your proposed upload is smaller than the minimum allowed size.",
        ),
        (
            FileAlreadyExists,
            "FileAlreadyExists",
            409,
            "The object you specified already exists and can not be overwritten.",
        ),
        (
            InternalError,
            "InternalError",
            500,
            "We encountered an internal error. Please try again.",
        ),
        (
            InvalidAccessKeyId,
            "InvalidAccessKeyId",
            403,
            "The OSS Access Key Id you provided does not exist in our records.",
        ),
        (InvalidArgument, "InvalidArgument", 400, "Invalid Argument."),
        (InvalidBucketName, "InvalidBucketName", 400, "The specified bucket is not valid."),
        (InvalidDigest, "InvalidDigest", 400, "The Content-MD5 you specified is not valid."),
        (
            InvalidEncryptionAlgorithmError,
            "InvalidEncryptionAlgorithmError",
            400,
            "The Encryption request you specified is not valid. Supported value: AES256/KMS/SM4.",
        ),
        (
            InvalidObjectState,
            "InvalidObjectState",
            403,
            "The operation is not valid for the object's state.",
        ),
        (InvalidObjectName, "InvalidObjectName", 400, "The specified object is not valid."),
        (
            InvalidPart,
            "InvalidPart",
            400,
            "One or more of the specified parts could not be found or the specified entity tag \
             might not have matched the part's entity tag.",
        ),
        (
            InvalidPartOrder,
            "InvalidPartOrder",
            400,
            "The list of parts was not in ascending order. Parts list must be specified in order \
             by part number.",
        ),
        (
            InvalidPolicyDocument,
            "InvalidPolicyDocument",
            400,
            "The content of the policy document is invalid.",
        ),
        (InvalidRange, "InvalidRange", 416, "The requested range is not satisfiable."),
        (InvalidTag, "InvalidTag", 400, "The tag key or value you provided is not valid."),
        (KmsKeyNotFound, "KmsKeyNotFound", 404, "The specified KMS key does not exist."),
        (
            KmsServiceNotEnabled,
            "KmsServiceNotEnabled",
            403,
            "The KMS key of this object cannot be used (disabled, pending deletion or not enabled).",
        ),
        (
            MalformedXML,
            "MalformedXML",
            400,
            "The XML you provided was not well-formed or did not validate against our published \
             schema.",
        ),
        (
            MethodNotAllowed,
            "MethodNotAllowed",
            405,
            "The specified method is not allowed against this resource.",
        ),
        (
            MissingContentLength,
            "MissingContentLength",
            411,
            "You must provide the Content-Length HTTP header.",
        ),
        (NoSuchBucket, "NoSuchBucket", 404, "The specified bucket does not exist."),
        (NoSuchBucketPolicy, "NoSuchBucketPolicy", 404, "The bucket policy does not exist."),
        (NoSuchKey, "NoSuchKey", 404, "The specified key does not exist."),
        (NoSuchRegion, "NoSuchRegion", 404, "The specified region does not exist."),
        (
            NoSuchServerSideEncryptionRule,
            "NoSuchServerSideEncryptionRule",
            404,
            "The server side encryption configuration was not found.",
        ),
        (
            NoSuchUpload,
            "NoSuchUpload",
            404,
            "The specified upload does not exist. The upload ID may be invalid, or the upload \
             may have been aborted or completed.",
        ),
        (NoSuchVersion, "NoSuchVersion", 404, "The specified version does not exist."),
        (
            NotImplemented,
            "NotImplemented",
            501,
            "A header you provided implies functionality that is not implemented.",
        ),
        (NotSymlink, "NotSymlink", 400, "The specified object is not a symlink."),
        (ObjectNotAppendable, "ObjectNotAppendable", 409, "The object is not appendable."),
        (
            OperationNotSupported,
            "OperationNotSupported",
            400,
            "The operation is not supported for this resource.",
        ),
        (
            PositionNotEqualToLength,
            "PositionNotEqualToLength",
            409,
            "Position is not equal to file length.",
        ),
        (
            PreconditionFailed,
            "PreconditionFailed",
            412,
            "At least one of the pre-conditions you specified did not hold.",
        ),
        (
            RequestTimeTooSkewed,
            "RequestTimeTooSkewed",
            403,
            "The difference between the request time and the current time is too large.",
        ),
        (
            RequestTimeout,
            "RequestTimeout",
            400,
            "Your socket connection to the server was not read from or written to within the \
             timeout period.",
        ),
        (
            RestoreAlreadyInProgress,
            "RestoreAlreadyInProgress",
            409,
            "The restore operation is in progress.",
        ),
        (ServiceUnavailable, "ServiceUnavailable", 503, "Please reduce your request rate."),
        (
            SignatureDoesNotMatch,
            "SignatureDoesNotMatch",
            403,
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        ),
        (
            SymlinkTargetNotExist,
            "SymlinkTargetNotExist",
            404,
            "The symlink target object does not exist.",
        ),
        (
            TooManyBuckets,
            "TooManyBuckets",
            400,
            "You have attempted to create more buckets than allowed.",
        ),
        (NotModified, "NotModified", 304, "The object was not modified since the given time."),
    ]
};

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 45] = {
        use ErrorCode::*;
        [
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
            InvalidObjectState,
            InvalidObjectName,
            InvalidPart,
            InvalidPartOrder,
            InvalidPolicyDocument,
            InvalidRange,
            InvalidTag,
            KmsKeyNotFound,
            KmsServiceNotEnabled,
            MalformedXML,
            MethodNotAllowed,
            MissingContentLength,
            NoSuchBucket,
            NoSuchBucketPolicy,
            NoSuchKey,
            NoSuchRegion,
            NoSuchServerSideEncryptionRule,
            NoSuchUpload,
            NoSuchVersion,
            NotImplemented,
            NotSymlink,
            ObjectNotAppendable,
            OperationNotSupported,
            PositionNotEqualToLength,
            PreconditionFailed,
            RequestTimeTooSkewed,
            RequestTimeout,
            RestoreAlreadyInProgress,
            ServiceUnavailable,
            SignatureDoesNotMatch,
            SymlinkTargetNotExist,
            TooManyBuckets,
            NotModified,
        ]
    };

    fn row(self) -> &'static (ErrorCode, &'static str, u16, &'static str) {
        // The table lists every variant in declaration order (checked by a test), so the
        // discriminant is the index.
        &TABLE[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn status(self) -> u16 {
        self.row().2
    }

    /// The message OSS uses for this code (e.g. NoSuchKey: "The specified key does not exist.").
    pub fn default_message(self) -> &'static str {
        self.row().3
    }

    /// OSS's fine-grained error code (`x-oss-ec`, `<EC>`) for this code where one applies to
    /// every occurrence of it (the SDKs' tests check these).
    pub fn ec(self) -> Option<&'static str> {
        match self {
            ErrorCode::NoSuchKey => Some("0026-00000001"),
            ErrorCode::NoSuchBucket => Some("0015-00000101"),
            _ => None,
        }
    }

    /// Parses a `<Code>` string.
    pub fn from_code(s: &str) -> Option<Self> {
        TABLE.iter().find(|row| row.1 == s).map(|row| row.0)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_ordered() {
        assert_eq!(TABLE.len(), ErrorCode::ALL.len());
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].0, *code, "row {i}");
            assert_eq!(*code as usize, i);
            // The wire string is the variant name.
            assert_eq!(format!("{code:?}"), code.as_str());
        }
    }

    #[test]
    fn round_trip_through_code_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.default_message().is_empty());
        }
        assert_eq!(ErrorCode::from_code("NoSuchThing"), None);
        assert_eq!(ErrorCode::from_code("nosuchkey"), None);
    }

    #[test]
    fn statuses() {
        use ErrorCode::*;
        let expected = [
            (AccessDenied, 403),
            (BucketAlreadyExists, 409),
            (BucketNotEmpty, 409),
            (EntityTooLarge, 400),
            (EntityTooSmall, 400),
            (FileAlreadyExists, 409),
            (InternalError, 500),
            (InvalidAccessKeyId, 403),
            (InvalidArgument, 400),
            (InvalidBucketName, 400),
            (InvalidDigest, 400),
            (InvalidEncryptionAlgorithmError, 400),
            (InvalidObjectState, 403),
            (InvalidObjectName, 400),
            (InvalidPart, 400),
            (InvalidPartOrder, 400),
            (InvalidPolicyDocument, 400),
            (InvalidRange, 416),
            (InvalidTag, 400),
            (KmsKeyNotFound, 404),
            (KmsServiceNotEnabled, 403),
            (MalformedXML, 400),
            (MethodNotAllowed, 405),
            (MissingContentLength, 411),
            (NoSuchBucket, 404),
            (NoSuchBucketPolicy, 404),
            (NoSuchKey, 404),
            (NoSuchRegion, 404),
            (NoSuchServerSideEncryptionRule, 404),
            (NoSuchUpload, 404),
            (NoSuchVersion, 404),
            (NotImplemented, 501),
            (NotSymlink, 400),
            (ObjectNotAppendable, 409),
            (OperationNotSupported, 400),
            (PositionNotEqualToLength, 409),
            (PreconditionFailed, 412),
            (RequestTimeTooSkewed, 403),
            (RequestTimeout, 400),
            (RestoreAlreadyInProgress, 409),
            (ServiceUnavailable, 503),
            (SignatureDoesNotMatch, 403),
            (SymlinkTargetNotExist, 404),
            (TooManyBuckets, 400),
            (NotModified, 304),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, status) in expected {
            assert_eq!(code.status(), status, "{code}");
        }
    }

    #[test]
    fn messages_as_oss_writes_them() {
        assert_eq!(
            ErrorCode::NoSuchKey.default_message(),
            "The specified key does not exist."
        );
        assert_eq!(
            ErrorCode::NoSuchBucket.default_message(),
            "The specified bucket does not exist."
        );
        assert_eq!(
            ErrorCode::BucketNotEmpty.default_message(),
            "The bucket you tried to delete is not empty."
        );
        assert_eq!(
            ErrorCode::RequestTimeTooSkewed.default_message(),
            "The difference between the request time and the current time is too large."
        );
    }
}

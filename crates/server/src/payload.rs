//! The payload hash a request declares in `x-oss-content-sha256`, checked against the body it
//! sends.
//!
//! A V4 signature covers that header, so a hex SHA-256 there signs the body too — but only if
//! the server checks it. Without the check, a captured request could be replayed with another
//! body under the same signature. `UNSIGNED-PAYLOAD` (what every SDK sends) declares nothing,
//! and costs nothing: SHA-256 is computed only when a hash was declared. The header is checked
//! whatever signed the request (V1 signs `x-oss-*` headers as well; an anonymous client gets
//! what it asked for).

use crate::api::ApiError;
use http::HeaderMap;
use ossvault_proto::headers::OSS_CONTENT_SHA256;
use ossvault_proto::sign::v4::UNSIGNED_PAYLOAD;
use ossvault_proto::ErrorCode;
use sha2::{Digest, Sha256};

/// The SHA-256 a request declares for its body, if any: `None` without the header or with
/// `UNSIGNED-PAYLOAD`. Anything else that is not 64 hex digits is `InvalidArgument` (OSS
/// refuses such values too, EC 0002-00000214).
pub fn declared(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let mut values = headers.get_all(OSS_CONTENT_SHA256).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid_argument(format!(
            "{OSS_CONTENT_SHA256} must be {UNSIGNED_PAYLOAD} or the hex SHA-256 of the body, \
             once."
        ))
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let value = value.to_str().map_err(|_| invalid())?.trim();
    if value == UNSIGNED_PAYLOAD {
        return Ok(None);
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(value, &mut hash).map_err(|_| invalid())?;
    Ok(Some(hash))
}

/// SHA-256 fed piece by piece when a hash was declared; nothing at all otherwise.
pub struct Hasher(Option<Sha256>);

impl Hasher {
    pub fn new(wanted: bool) -> Self {
        Hasher(wanted.then(Sha256::new))
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.0 {
            h.update(data);
        }
    }

    pub fn finish(self) -> Option<[u8; 32]> {
        self.0.map(|h| h.finalize().into())
    }
}

/// Fails unless the body hashed to what was declared. `received` is the body's hash, computed
/// whenever `declared` is given.
pub fn check(declared: Option<[u8; 32]>, received: Option<[u8; 32]>) -> Result<(), ApiError> {
    match declared {
        Some(d) if Some(d) != received => Err(mismatch()),
        _ => Ok(()),
    }
}

/// Checks a whole (small) body against the declared hash.
pub fn check_bytes(declared: Option<[u8; 32]>, body: &[u8]) -> Result<(), ApiError> {
    check(declared, declared.map(|_| Sha256::digest(body).into()))
}

/// OSS has no code of its own for this: it refuses every `x-oss-content-sha256` but
/// `UNSIGNED-PAYLOAD`, so it never compares one. This is its answer to the analogous
/// Content-MD5 mismatch, `400 InvalidDigest` (S3 says `XAmzContentSHA256Mismatch`).
fn mismatch() -> ApiError {
    ApiError::msg(
        ErrorCode::InvalidDigest,
        format!("The {OSS_CONTENT_SHA256} you specified did not match what we received."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(OSS_CONTENT_SHA256, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn declared_values() {
        assert_eq!(declared(&with(&[])).unwrap(), None);
        assert_eq!(declared(&with(&["UNSIGNED-PAYLOAD"])).unwrap(), None);
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(declared(&with(&[EMPTY])).unwrap(), Some(empty));
        assert_eq!(
            declared(&with(&[&EMPTY.to_ascii_uppercase()])).unwrap(),
            Some(empty)
        );
        for bad in [
            "",
            "unsigned-payload",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            &EMPTY[..63],
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
        ] {
            let e = declared(&with(&[bad])).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad:?}");
        }
        // Two values, even the same one twice, are refused rather than joined.
        let e = declared(&with(&[EMPTY, EMPTY])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn bodies_are_checked_against_the_declared_hash() {
        let d = declared(&with(&[EMPTY])).unwrap();
        assert!(check_bytes(d, b"").is_ok());
        let e = check_bytes(d, b"x").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDigest);
        assert_eq!(e.code.status(), 400);
        // Nothing declared: anything goes, and nothing is hashed.
        assert!(check_bytes(None, b"x").is_ok());
        let mut h = Hasher::new(false);
        h.update(b"x");
        assert_eq!(h.finish(), None);
        // Streamed in pieces, the same hash as at once.
        let mut h = Hasher::new(true);
        h.update(b"hello ");
        h.update(b"world");
        let whole: [u8; 32] = Sha256::digest(b"hello world").into();
        assert_eq!(h.finish(), Some(whole));
        assert!(check(Some(whole), Some(whole)).is_ok());
        assert!(check(Some(whole), None).is_err());
    }
}

//! The `CiphertextBlob` of a data key (GenerateDataKey, SSE-KMS) or of Encrypt, version 1:
//!
//! ```text
//! offset  size  field
//! 0       1     format version = 1
//! 1       1     n = length of the key id (1..=64)
//! 2       n     key id (ASCII): the CMK that sealed it
//! 2+n     4     key material version, big-endian
//! 6+n     12    nonce (random)
//! 18+n    …     AES-256-GCM ciphertext ‖ 16-byte tag, under the CMK's material
//! ```
//!
//! The associated data is `"ossvault kms blob" ‖ 0x00 ‖ bytes 0..6+n (the header) ‖ context`,
//! where `context` is the EncryptionContext as canonical JSON (keys sorted, no spaces), empty
//! when there is none. So the key id and version cannot be swapped for another key's, and a blob
//! made with a context only opens with the same context. Nonces are random: a CMK should seal
//! well under 2^32 blobs (a local server makes one per object or upload).

use crate::sse::KmsError;
use ring::aead::LessSafeKey;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const AAD_LABEL: &[u8] = b"ossvault kms blob\0";
pub const MAX_KEY_ID: usize = 64;
/// Version byte, length byte, material version, nonce, tag.
const OVERHEAD: usize = 1 + 1 + 4 + 12 + 16;

/// What the header of a blob says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key_id: String,
    pub material_version: u32,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(6 + self.key_id.len());
        h.push(VERSION);
        h.push(self.key_id.len() as u8);
        h.extend_from_slice(self.key_id.as_bytes());
        h.extend_from_slice(&self.material_version.to_be_bytes());
        h
    }

    /// The header of `blob` and where the sealed part starts.
    pub fn parse(blob: &[u8]) -> Result<(Header, usize), KmsError> {
        let bad = |why: &str| KmsError::InvalidCiphertext(why.to_owned());
        let (&version, rest) = blob.split_first().ok_or_else(|| bad("empty"))?;
        if version != VERSION {
            return Err(bad("unknown format version"));
        }
        let (&n, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let n = n as usize;
        if n == 0 || n > MAX_KEY_ID || rest.len() < n + OVERHEAD - 2 {
            return Err(bad("truncated or malformed"));
        }
        let key_id = std::str::from_utf8(&rest[..n])
            .ok()
            .filter(|s| s.is_ascii())
            .ok_or_else(|| bad("the key id is not ASCII"))?
            .to_owned();
        let material_version = u32::from_be_bytes(rest[n..n + 4].try_into().expect("4 bytes"));
        Ok((
            Header {
                key_id,
                material_version,
            },
            2 + n + 4,
        ))
    }
}

/// An EncryptionContext in canonical form: a JSON object of strings, keys sorted.
pub fn canonical_context(json: Option<&str>) -> Result<Vec<u8>, String> {
    let Some(json) = json.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| format!("EncryptionContext is not a JSON object: {e}"))?;
    let mut canonical = BTreeMap::new();
    for (k, v) in map {
        let v = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        canonical.insert(k, v);
    }
    if canonical.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::to_vec(&canonical).expect("strings serialise"))
}

fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_LABEL.len() + header.len() + context.len());
    a.extend_from_slice(AAD_LABEL);
    a.extend_from_slice(header);
    a.extend_from_slice(context);
    a
}

/// Seals `plain` under `cmk` (whose id and material version `header` names).
pub fn seal(cmk: &LessSafeKey, header: &Header, context: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut blob = header.encode();
    let sealed = crate::sse::wrap_key(cmk, &aad(&blob, context), plain);
    blob.extend_from_slice(&sealed);
    blob
}

/// Opens a blob whose header was parsed as `header_len` bytes, under `cmk`.
pub fn open(
    cmk: &LessSafeKey,
    blob: &[u8],
    header_len: usize,
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let (header, sealed) = blob.split_at(header_len);
    crate::sse::unwrap_key(cmk, &aad(header, context), sealed).ok_or_else(|| {
        KmsError::InvalidCiphertext(
            "it does not authenticate (tampered, or another encryption context)".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::aead::{UnboundKey, AES_256_GCM};

    fn cmk(byte: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[byte; 32]).unwrap())
    }

    fn header() -> Header {
        Header {
            key_id: "0b6f1d7e-2c3a-4d5e-8f90-123456789abc".into(),
            material_version: 1,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let blob = seal(&cmk(1), &header(), b"", b"secret data key");
        assert_eq!(blob[0], 1);
        assert_eq!(blob[1] as usize, 36);
        assert_eq!(&blob[2..38], header().key_id.as_bytes());
        assert_eq!(&blob[38..42], &[0, 0, 0, 1]);
        assert_eq!(blob.len(), 2 + 36 + 4 + 12 + 15 + 16);
        let (parsed, len) = Header::parse(&blob).unwrap();
        assert_eq!(parsed, header());
        assert_eq!(len, 42);
        assert_eq!(
            open(&cmk(1), &blob, len, b"").unwrap().as_slice(),
            b"secret data key"
        );
    }

    #[test]
    fn the_header_context_and_key_are_bound() {
        let ctx = canonical_context(Some(r#"{"b":"2","a":"1"}"#)).unwrap();
        assert_eq!(ctx, br#"{"a":"1","b":"2"}"#);
        let blob = seal(&cmk(1), &header(), &ctx, b"x");
        let (_, len) = Header::parse(&blob).unwrap();
        assert!(open(&cmk(1), &blob, len, &ctx).is_ok());
        assert!(open(&cmk(1), &blob, len, b"").is_err(), "context dropped");
        assert!(open(&cmk(2), &blob, len, &ctx).is_err(), "another key");
        // Another key id of the same length in the header: the AAD no longer matches.
        let mut moved = blob.clone();
        moved[2] = b'1';
        assert!(open(&cmk(1), &moved, len, &ctx).is_err());
        let mut version = blob.clone();
        version[41] = 2;
        assert!(open(&cmk(1), &version, len, &ctx).is_err());
    }

    #[test]
    fn malformed_blobs_are_refused() {
        assert!(Header::parse(b"").is_err());
        assert!(Header::parse(&[2, 1, b'k']).is_err());
        assert!(Header::parse(&[1, 0]).is_err());
        assert!(Header::parse(&[1, 3, b'a', b'b', b'c', 0, 0, 0, 1]).is_err());
        let blob = seal(&cmk(1), &header(), b"", b"");
        assert!(Header::parse(&blob).is_ok());
        assert!(Header::parse(&blob[..blob.len() - 1]).is_err());
        assert!(canonical_context(Some("[1]")).is_err());
        assert_eq!(canonical_context(Some("{}")).unwrap(), b"");
        assert_eq!(canonical_context(None).unwrap(), b"");
    }
}

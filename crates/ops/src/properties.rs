//! What an object's metadata says of its encryption, for the properties a front end shows:
//! the server-side encryption headers, and the client-side envelope with where its key is.

use ossvault_crypto::ObjectHeaders;
use ossvault_keystore::Keystore;

/// Response headers that tell how an object is encrypted at rest.
pub const SSE_HEADERS: [&str; 3] = [
    "x-oss-server-side-encryption",
    "x-oss-server-side-encryption-key-id",
    "x-oss-server-side-data-encryption",
];

/// What an object's metadata tells of its client-side encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSide {
    None,
    Invalid(String),
    Encrypted {
        format: String,
        wrap_alg: String,
        fingerprint: Option<String>,
        /// `name@vN` in the keystore; `Err`: not there, or the keystore could not be opened.
        keystore: std::result::Result<Option<String>, String>,
        kms_key_id: Option<String>,
        matdesc: Option<String>,
        plaintext_len: Option<u64>,
    },
}

/// The client-side encryption of an object with these response headers and `stored` bytes;
/// `keystore` is opened only for an object whose key is named by fingerprint.
pub fn client_side(
    headers: &[(String, String)],
    stored: u64,
    keystore: impl FnOnce() -> crate::Result<Keystore>,
) -> ClientSide {
    let h = match ObjectHeaders::parse(headers) {
        Ok(h) if h.is_encrypted() => h,
        Ok(_) => return ClientSide::None,
        Err(e) => return ClientSide::Invalid(e.to_string()),
    };
    let fingerprint = h.key_fingerprint().map(|f| f.to_hex());
    let keystore = match (&fingerprint, h.kms_key_id()) {
        (_, Some(_)) | (None, _) => Ok(None),
        (Some(fp), None) => keystore()
            .map_err(|e| e.to_string())
            .and_then(|ks| ks.by_fingerprint(fp).map_err(|e| e.to_string()))
            .map(|found| found.map(|(name, v)| format!("{name}@v{v}"))),
    };
    ClientSide::Encrypted {
        format: h.format().map(|f| f.to_string()).unwrap_or_default(),
        wrap_alg: h.wrap_alg().unwrap_or_default().to_owned(),
        fingerprint,
        keystore,
        kms_key_id: h.kms_key_id().map(str::to_owned),
        matdesc: h.matdesc().map(str::to_owned),
        plaintext_len: h.plaintext_len(stored).ok(),
    }
}

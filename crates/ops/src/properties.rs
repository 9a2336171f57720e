//! What an object's metadata says, for the properties a front end shows: its storage class
//! and restore state, its tags, the server-side encryption headers, and the client-side
//! envelope with where its key is.

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

/// Everything a properties panel shows of one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectProperties {
    pub key: String,
    /// Stored bytes (with client-side encryption, the ciphertext).
    pub size: u64,
    pub etag: String,
    /// CRC-64/ECMA as OSS prints it (decimal), when known.
    pub crc64: Option<String>,
    pub content_type: Option<String>,
    /// RFC 3339.
    pub last_modified: Option<String>,
    /// `Standard`, `IA`, `Archive`, `ColdArchive` or `DeepColdArchive`.
    pub storage_class: Option<String>,
    /// Of an archived object a restore was asked for (`x-oss-restore`).
    pub restore: Option<RestoreState>,
    /// How many versions the bucket keeps of this key, the current one included (delete
    /// markers not counted; 1 where versioning was never enabled); `None`: the versions
    /// could not be listed.
    pub versions: Option<u64>,
    /// The object's tags (GetObjectTagging, asked only when HEAD counts some).
    pub tags: Vec<(String, String)>,
    /// Why the tags could not be read (e.g. `AccessDenied`), when they could not.
    pub tags_error: Option<String>,
    /// User metadata without the client-side encryption envelope (shown apart).
    pub metadata: Vec<(String, String)>,
    /// `AES256`, `SM4`, `KMS`, or none.
    pub sse: Option<String>,
    pub sse_key_id: Option<String>,
    /// `SM4` for SSE-KMS with SM4 data encryption.
    pub sse_data_encryption: Option<String>,
    pub cse: Option<CseView>,
}

/// Where the restore of an archived object stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreState {
    /// Still being restored (not readable yet).
    pub ongoing: bool,
    /// Readable until then (RFC 3339), once restored.
    pub expiry: Option<String>,
}

impl RestoreState {
    /// Reads `x-oss-restore`: `ongoing-request="true"`, or `ongoing-request="false",
    /// expiry-date="Sun, 16 Apr 2017 08:12:33 GMT"`.
    pub fn parse(header: &str) -> Option<RestoreState> {
        let mut ongoing = None;
        let mut expiry = None;
        // `name="value"` pairs, separated by commas (the date holds one too, inside quotes).
        let mut rest = header;
        while let Some((name, after)) = rest.split_once("=\"") {
            let Some((value, after)) = after.split_once('"') else {
                break;
            };
            match name.trim_start_matches([',', ' ']) {
                "ongoing-request" => ongoing = Some(value.eq_ignore_ascii_case("true")),
                "expiry-date" => {
                    expiry = Some(
                        ossvault_proto::time::parse_http_date(value)
                            .map_or_else(|| value.to_owned(), rfc3339),
                    )
                }
                _ => {}
            }
            rest = after;
        }
        Some(RestoreState {
            ongoing: ongoing?,
            expiry,
        })
    }
}

/// The client-side encryption of an object, as a properties panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CseView {
    pub format: String,
    pub wrap: String,
    pub fingerprint: Option<String>,
    /// `name@vN` of the key in this keychain; `None`: not in this keychain.
    pub key_name: Option<String>,
    /// Why the keystore could not be asked, if it could not.
    pub keystore_error: Option<String>,
    pub kms_key_id: Option<String>,
    pub plaintext_size: Option<u64>,
    /// The metadata could not be parsed (why).
    pub invalid: Option<String>,
}

/// Reads an object's metadata (HEAD) and what it says of its encryption.
pub async fn object_properties(
    client: &ossvault_client::Client,
    bucket: &str,
    key: &str,
    keystore: impl FnOnce() -> crate::Result<Keystore>,
) -> crate::Result<ObjectProperties> {
    let meta = client.head_object(bucket, key).await?;
    let header = |name: &str| {
        meta.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let cse = match client_side(&meta.headers, meta.size, keystore) {
        ClientSide::None => None,
        ClientSide::Invalid(why) => Some(CseView {
            format: String::new(),
            wrap: String::new(),
            fingerprint: None,
            key_name: None,
            keystore_error: None,
            kms_key_id: None,
            plaintext_size: None,
            invalid: Some(why),
        }),
        ClientSide::Encrypted {
            format,
            wrap_alg,
            fingerprint,
            keystore,
            kms_key_id,
            plaintext_len,
            ..
        } => {
            let (key_name, keystore_error) = match keystore {
                Ok(name) => (name, None),
                Err(e) => (None, Some(e)),
            };
            Some(CseView {
                format,
                wrap: wrap_alg,
                fingerprint,
                key_name,
                keystore_error,
                kms_key_id,
                plaintext_size: plaintext_len,
                invalid: None,
            })
        }
    };
    let tag_count = header(ossvault_proto::headers::TAGGING_COUNT)
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let (tags, tags_error) = if tag_count == 0 {
        (Vec::new(), None)
    } else {
        match client.object_tagging(bucket, key).await {
            Ok(tags) => (tags, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    };
    let versions = match client.key_versions(bucket, key).await {
        Ok(v) => Some(v.iter().filter(|v| !v.delete_marker).count() as u64),
        Err(e) => {
            tracing::debug!(bucket, key, "versions not listed: {e}");
            None
        }
    };
    let metadata = meta
        .user_metadata()
        .map(|(k, v)| (k.strip_prefix("x-oss-meta-").unwrap_or(k), v))
        .filter(|(k, _)| {
            !k.starts_with("client-side-encryption") && !k.starts_with("ossvault-cse-")
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(ObjectProperties {
        key: key.to_owned(),
        size: meta.size,
        etag: meta.etag.clone(),
        crc64: meta.crc64.map(|c| c.to_string()),
        content_type: meta.content_type.clone(),
        last_modified: meta.last_modified.map(rfc3339),
        storage_class: meta.storage_class.clone(),
        restore: header("x-oss-restore").and_then(|h| RestoreState::parse(&h)),
        versions,
        tags,
        tags_error,
        metadata,
        sse: header(SSE_HEADERS[0]),
        sse_key_id: header(SSE_HEADERS[1]),
        sse_data_encryption: header(SSE_HEADERS[2]),
        cse,
    })
}

/// How many HEAD requests [`encryption_badges`] keeps in flight.
const BADGE_HEADS_IN_FLIGHT: usize = 8;

/// What a list row shows of an object's encryption.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionBadges {
    pub key: String,
    /// `AES256`, `KMS`, or none.
    pub sse: Option<String>,
    pub sse_key_id: Option<String>,
    pub cse: Option<CseBadge>,
    /// Why the object's metadata could not be read (it was deleted meanwhile, access denied…).
    pub error: Option<String>,
}

/// A client-side encrypted object's key, as a list row names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CseBadge {
    /// `name@vN` of the key in this keychain; `None`: not in this keychain (or a KMS key).
    pub key_name: Option<String>,
    pub fingerprint: Option<String>,
    pub kms_key_id: Option<String>,
    /// The envelope could not be parsed.
    pub invalid: bool,
}

/// The encryption of each of `keys` (one HEAD each, a few in flight), in the order given, for
/// the rows a list shows. The keystore is opened once, and only when an object names its key
/// by fingerprint.
pub async fn encryption_badges(
    client: &ossvault_client::Client,
    bucket: &str,
    keys: &[String],
    keystore: impl FnOnce() -> crate::Result<Keystore>,
) -> Vec<EncryptionBadges> {
    use futures_util::StreamExt;
    let heads: Vec<_> = futures_util::stream::iter(keys.iter().cloned())
        .map(|key| async move {
            let head = client.head_object(bucket, &key).await;
            (key, head)
        })
        .buffered(BADGE_HEADS_IN_FLIGHT)
        .collect()
        .await;
    let mut rows: Vec<EncryptionBadges> = heads
        .into_iter()
        .map(|(key, head)| {
            let mut row = EncryptionBadges {
                key,
                sse: None,
                sse_key_id: None,
                cse: None,
                error: None,
            };
            let meta = match head {
                Ok(meta) => meta,
                Err(e) => {
                    row.error = Some(e.to_string());
                    return row;
                }
            };
            let header = |name: &str| {
                meta.headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            row.sse = header(SSE_HEADERS[0]);
            row.sse_key_id = header(SSE_HEADERS[1]);
            // Keys are named below, with one keystore for all rows.
            let unnamed = || Err(crate::Error::InvalidInput(String::new()));
            row.cse = match client_side(&meta.headers, meta.size, unnamed) {
                ClientSide::None => None,
                ClientSide::Invalid(_) => Some(CseBadge {
                    key_name: None,
                    fingerprint: None,
                    kms_key_id: None,
                    invalid: true,
                }),
                ClientSide::Encrypted {
                    fingerprint,
                    kms_key_id,
                    ..
                } => Some(CseBadge {
                    key_name: None,
                    fingerprint,
                    kms_key_id,
                    invalid: false,
                }),
            };
            row
        })
        .collect();
    let named_by_fingerprint = rows
        .iter()
        .any(|r| r.cse.as_ref().is_some_and(|c| c.fingerprint.is_some()));
    if named_by_fingerprint {
        if let Ok(ks) = keystore() {
            for cse in rows.iter_mut().filter_map(|r| r.cse.as_mut()) {
                if let Some(fp) = &cse.fingerprint {
                    cse.key_name = ks
                        .by_fingerprint(fp)
                        .ok()
                        .flatten()
                        .map(|(name, v)| format!("{name}@v{v}"));
                }
            }
        }
    }
    rows
}

/// A time as RFC 3339 (UTC).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723)),
            "2000-02-29T01:02:03Z"
        );
    }

    #[test]
    fn restore_states_as_oss_writes_them() {
        assert_eq!(
            RestoreState::parse(r#"ongoing-request="true""#),
            Some(RestoreState {
                ongoing: true,
                expiry: None
            })
        );
        assert_eq!(
            RestoreState::parse(
                r#"ongoing-request="false", expiry-date="Sun, 16 Apr 2017 08:12:33 GMT""#
            ),
            Some(RestoreState {
                ongoing: false,
                expiry: Some("2017-04-16T08:12:33Z".into())
            })
        );
        assert_eq!(RestoreState::parse("nonsense"), None);
    }
}

//! Server-side encryption at rest: the sealed chunk format, the SSE-OSS master keys, the KMS
//! seam for SSE-KMS, and the choice of encryption for a write.

mod keys;
mod rewrap;
pub mod seal;

pub(crate) use keys::{unwrap as unwrap_key, wrap as wrap_key};
pub use keys::{KeyError, MasterKeys, RootSecret};
pub use rewrap::rewrap_all;
pub use seal::{Cipher, DataKey};

use crate::api::ApiError;
use crate::store::{BucketEncryption, SseRecord, WrappedKey};
use http::HeaderMap;
use ossvault_proto::{headers, ErrorCode};
use std::sync::Arc;

/// Why a KMS operation failed; each maps to a clear OSS/KMS error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KmsError {
    #[error("The KMS key {0} does not exist (or was deleted).")]
    NotFound(String),
    #[error("The KMS key {0} is disabled: enable it (EnableKey) to use the data it protects.")]
    Disabled(String),
    #[error("The KMS key {0} is pending deletion: cancel the deletion (CancelKeyDeletion) to use the data it protects.")]
    PendingDeletion(String),
    #[error("The KMS key {0} has no key material yet: import it first (GetParametersForImport, ImportKeyMaterial).")]
    PendingImport(String),
    #[error("The ciphertext blob is not valid: {0}.")]
    InvalidCiphertext(String),
    #[error("The KMS failed: {0}")]
    Internal(String),
}

/// The key management service SSE-KMS uses: in-process, so one call per request at most.
pub trait Kms: Send + Sync {
    /// A fresh data key for `cipher` under `key_id`, or the default CMK when `None`; returns
    /// the key, its wrapped form and the id of the CMK that wrapped it.
    fn generate_data_key(
        &self,
        key_id: Option<&str>,
        cipher: Cipher,
    ) -> Result<(DataKey, Vec<u8>, String), KmsError>;
    /// Unwraps a data key made by `generate_data_key` (the blob names its CMK).
    fn decrypt_data_key(&self, wrapped: &[u8]) -> Result<DataKey, KmsError>;
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> Self {
        let code = match e {
            KmsError::NotFound(_) => ErrorCode::KmsKeyNotFound,
            KmsError::InvalidCiphertext(_) | KmsError::Internal(_) => ErrorCode::InternalError,
            _ => ErrorCode::KmsServiceNotEnabled,
        };
        ApiError::msg(code, e.to_string())
    }
}

/// The encryption a write asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseRequest {
    Aes256,
    /// SSE-OSS with SM4 (国密).
    Sm4,
    /// SSE-KMS; `sm4` when the data is to be encrypted with SM4 (KMSDataEncryption).
    Kms {
        key_id: Option<String>,
        sm4: bool,
    },
}

/// The one value OSS takes for `KMSDataEncryption` / `x-oss-server-side-data-encryption`.
const DATA_SM4: &str = "SM4";

/// `400 InvalidEncryptionAlgorithmError` for an encryption method (`data` false: AES256, KMS or
/// SM4) or a KMS data encryption method (`data` true: SM4 only) this server does not take.
pub(crate) fn unsupported(data: bool, value: &str) -> ApiError {
    let (what, choices) = if data {
        ("data encryption method", "SM4")
    } else {
        ("encryption method", "AES256, KMS or SM4")
    };
    ApiError::msg(
        ErrorCode::InvalidEncryptionAlgorithmError,
        format!("The {what} '{value}' is not supported here (use {choices})."),
    )
}

impl SseRequest {
    /// What the request headers ask for; invalid values are refused as OSS does. The data
    /// encryption header counts only with KMS (OSS ignores it with AES256, SM4 or no SSE).
    pub fn from_headers(h: &HeaderMap) -> Result<Option<SseRequest>, ApiError> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
        let key_id = get(headers::SERVER_SIDE_ENCRYPTION_KEY_ID).filter(|v| !v.is_empty());
        let data = get(headers::SERVER_SIDE_DATA_ENCRYPTION).filter(|v| !v.is_empty());
        let request = match get(headers::SERVER_SIDE_ENCRYPTION) {
            None => None,
            Some("AES256") => Some(SseRequest::Aes256),
            Some("SM4") => Some(SseRequest::Sm4),
            Some("KMS") => Some(SseRequest::Kms {
                key_id: key_id.map(str::to_owned),
                sm4: match data {
                    None => false,
                    Some(DATA_SM4) => true,
                    Some(other) => return Err(unsupported(true, other)),
                },
            }),
            Some(other) => return Err(unsupported(false, other)),
        };
        if key_id.is_some() && !matches!(request, Some(SseRequest::Kms { .. })) {
            return Err(ApiError::invalid_argument(
                "x-oss-server-side-encryption-key-id is only valid with x-oss-server-side-encryption: KMS.",
            ));
        }
        Ok(request)
    }

    /// A bucket's default rule as a request.
    pub fn from_rule(rule: &BucketEncryption) -> Option<SseRequest> {
        match rule.algorithm.as_str() {
            "AES256" => Some(SseRequest::Aes256),
            "SM4" => Some(SseRequest::Sm4),
            "KMS" => Some(SseRequest::Kms {
                key_id: rule.kms_master_key_id.clone(),
                sm4: rule.kms_data_encryption.as_deref() == Some(DATA_SM4),
            }),
            _ => None,
        }
    }

    /// This request as a bucket's default rule (SSE headers on PutBucket).
    pub fn to_rule(&self) -> BucketEncryption {
        let (algorithm, key_id, data) = match self {
            SseRequest::Aes256 => ("AES256", None, None),
            SseRequest::Sm4 => ("SM4", None, None),
            SseRequest::Kms { key_id, sm4 } => {
                ("KMS", key_id.clone(), sm4.then(|| DATA_SM4.to_owned()))
            }
        };
        BucketEncryption {
            algorithm: algorithm.to_owned(),
            kms_master_key_id: key_id,
            kms_data_encryption: data,
        }
    }

    /// The header's, else the bucket default's.
    pub fn effective(
        h: &HeaderMap,
        default: Option<&BucketEncryption>,
    ) -> Result<Option<SseRequest>, ApiError> {
        Ok(SseRequest::from_headers(h)?.or_else(|| default.and_then(SseRequest::from_rule)))
    }

    /// Whether `record` already is what this asks for (a copy onto itself need not reseal).
    pub fn satisfied_by(this: Option<&SseRequest>, record: Option<&SseRecord>) -> bool {
        match (this, record) {
            (None, None) => true,
            (Some(SseRequest::Aes256), Some(r)) => r.algorithm == "AES256",
            (Some(SseRequest::Sm4), Some(r)) => r.algorithm == "SM4",
            (Some(SseRequest::Kms { key_id, sm4 }), Some(r)) => {
                r.algorithm == "KMS"
                    && (key_id.is_none() || key_id == &r.kms_key_id)
                    && *sm4 == (r.data_encryption.as_deref() == Some(DATA_SM4))
            }
            _ => false,
        }
    }
}

/// The server's encryption keys.
pub struct Sse {
    pub master: MasterKeys,
    pub kms: Option<Arc<dyn Kms>>,
}

impl Sse {
    /// A fresh data key for a new object or upload, and its record: 256 bits for AES-256-GCM,
    /// 128 for SM4-GCM.
    pub fn new_key(&self, request: &SseRequest) -> Result<(DataKey, SseRecord), ApiError> {
        match request {
            SseRequest::Aes256 | SseRequest::Sm4 => {
                let (cipher, algorithm) = match request {
                    SseRequest::Sm4 => (Cipher::Sm4Gcm, "SM4"),
                    _ => (Cipher::Aes256Gcm, "AES256"),
                };
                let key = DataKey::random(cipher);
                let (version, blob) = self.master.wrap(&key);
                let record = SseRecord {
                    algorithm: algorithm.into(),
                    kms_key_id: None,
                    data_encryption: None,
                    wrapped: WrappedKey::Master { version, blob },
                };
                Ok((key, record))
            }
            SseRequest::Kms { key_id, sm4 } => {
                let kms = self.kms.as_ref().ok_or_else(kms_unavailable)?;
                let cipher = if *sm4 {
                    Cipher::Sm4Gcm
                } else {
                    Cipher::Aes256Gcm
                };
                let (key, blob, id) = kms.generate_data_key(key_id.as_deref(), cipher)?;
                let record = SseRecord {
                    algorithm: "KMS".into(),
                    kms_key_id: Some(id),
                    data_encryption: sm4.then(|| DATA_SM4.to_owned()),
                    wrapped: WrappedKey::Kms { blob },
                };
                Ok((key, record))
            }
        }
    }

    /// The data key of an encrypted object or upload; it must be a key of the cipher the
    /// record names.
    pub fn open(&self, record: &SseRecord) -> Result<DataKey, ApiError> {
        let key = match &record.wrapped {
            WrappedKey::Master { version, blob } => {
                self.master.unwrap(*version, blob).map_err(|e| {
                    tracing::error!(error = %e, "an SSE-OSS data key does not unwrap");
                    ApiError::internal(format!("the object's data key cannot be unwrapped: {e}"))
                })?
            }
            WrappedKey::Kms { blob } => self
                .kms
                .as_ref()
                .ok_or_else(kms_unavailable)?
                .decrypt_data_key(blob)?,
        };
        if key.cipher() != record.cipher() {
            return Err(ApiError::internal(format!(
                "the object's data key is a {:?} key, its record says {:?}",
                key.cipher(),
                record.cipher()
            )));
        }
        Ok(key)
    }
}

fn kms_unavailable() -> ApiError {
    ApiError::msg(
        ErrorCode::KmsServiceNotEnabled,
        "SSE-KMS needs the server's KMS, which is not running.",
    )
}

/// The headers that describe an encrypted object on responses (as oss2 `tests/test_server_side_encryotion.py::test_put_object_with_encryption` sees
/// real OSS answer).
pub fn response_headers(record: Option<&SseRecord>) -> Vec<(&'static str, String)> {
    let Some(r) = record else { return Vec::new() };
    let mut h = vec![(headers::SERVER_SIDE_ENCRYPTION, r.algorithm.clone())];
    if let Some(data) = &r.data_encryption {
        h.push((headers::SERVER_SIDE_DATA_ENCRYPTION, data.clone()));
    }
    if let Some(id) = &r.kms_key_id {
        h.push((headers::SERVER_SIDE_ENCRYPTION_KEY_ID, id.clone()));
    }
    h
}

/// Setting: the master key version every data key was last moved onto.
const REWRAPPED_SETTING: &str = "sse.rewrapped-version";

/// Rotates the SSE-OSS master key and moves every data key onto it (blocking).
pub fn rotate_master(state: &crate::api::State) -> Result<rewrap::RewrapReport, KeyError> {
    let sse = state.sse.as_ref().expect("called with SSE on");
    sse.master.rotate(&state.store)?;
    finish_rewrap(state)
}

/// Re-wraps whatever still uses an older master key, then records that all is current.
fn finish_rewrap(state: &crate::api::State) -> Result<rewrap::RewrapReport, KeyError> {
    let sse = state.sse.as_ref().expect("called with SSE on");
    let version = sse.master.current_version();
    let report = rewrap_all(&state.store, &sse.master)?;
    state
        .store
        .put_setting(REWRAPPED_SETTING, version.to_be_bytes().to_vec())?;
    tracing::info!(
        version,
        objects = report.objects,
        uploads = report.uploads,
        "data keys re-wrapped"
    );
    Ok(report)
}

/// The background duties of SSE: finish a re-wrap a crash interrupted, and rotate the master
/// key on schedule.
pub async fn maintain(
    state: Arc<crate::api::State>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let run = |f: fn(&crate::api::State) -> Result<rewrap::RewrapReport, KeyError>| {
        let state = state.clone();
        async move {
            match tokio::task::spawn_blocking(move || f(&state)).await {
                Ok(Err(e)) => tracing::error!(error = %e, "SSE key maintenance failed"),
                Err(e) => tracing::error!(error = %e, "SSE key maintenance panicked"),
                Ok(Ok(_)) => {}
            }
        }
    };
    let sse = state.sse.as_ref().expect("called with SSE on");
    let done = state.store.setting(REWRAPPED_SETTING).ok().flatten();
    if done.as_deref() != Some(&sse.master.current_version().to_be_bytes()[..]) {
        run(finish_rewrap).await;
    }
    loop {
        let age_ms = crate::api::now_ms().saturating_sub(sse.master.current_created_ms());
        if age_ms >= state.config.master_key_rotation.as_millis() as u64 {
            run(rotate_master).await;
        }
        // KMS keys whose deletion date passed: their records and material go.
        if let Some(kms) = state.kms.clone() {
            match tokio::task::spawn_blocking(move || kms.purge_expired()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "purging deleted KMS keys failed"),
                Err(e) => tracing::error!(error = %e, "purging deleted KMS keys panicked"),
                Ok(Ok(_)) => {}
            }
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

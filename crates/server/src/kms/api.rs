//! The KMS HTTP API: `POST /_kms/?Action=<Name>&<Param>=<value>…` (GET works too). An
//! underscore is never valid in a bucket name, so the path cannot collide with a bucket.
//!
//! Requests are signed with the OSS credentials, V4 in the `Authorization` header only, as if
//! the bucket were `_kms` and there were no key (canonical URI `/_kms/`), with
//! `x-oss-content-sha256` the hex SHA-256 of the body: V4 signs every query parameter and that
//! hash signs the body, which the server checks as it reads it. So every action and parameter
//! is covered, and a captured request cannot be replayed as another action or with another
//! body. V1 (which signs neither `Action` nor any parameter), presigned URLs (which sign no
//! body; a V1 one has no expiry cap) and `UNSIGNED-PAYLOAD` are refused with 403 AccessDenied
//! before the signature is even looked at ([`require_signed_body`]).
//!
//! Parameters come from the query string; a JSON object body is accepted too (string, number
//! or boolean values; an object value such as EncryptionContext is taken as its JSON text).
//! A parameter given in both is refused.
//!
//! Answers are JSON with Alibaba Cloud KMS's field names, always with `RequestId`; errors are
//! `{"Code", "Message", "RequestId"}` with an HTTP status (codes as Alibaba Cloud KMS's where
//! it has one: `Forbidden.KeyNotFound`, `Rejected.Disabled`, `InvalidParameter`, …).
//! Binary values (Plaintext, CiphertextBlob, EncryptedKeyMaterial, PublicKey) are base64.
//! `RotateMasterKey` is ossvault's own: it rotates the SSE-OSS master key and re-wraps.
//!
//! The wire models (actions, typed requests, answers, error codes) are
//! [`ossvault_proto::kms`]'s, shared with the client. Here a request is parsed once into a
//! [`KmsRequest`] ([`parse_request`]), then served by one function per action.

use super::records::{kms_date, CmkRecord, Origin};
use super::{LocalKms, OpError};
use crate::api::{ApiError, Ctx, State};
use crate::body::{self, Body};
use crate::sse::KmsError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::{header, Method, Response, StatusCode};
use ossvault_proto::kms::{
    self, CreateKey, DataKeySpec, Decrypt, EmptyResponse, Encrypt, EncryptResponse,
    GenerateDataKey, GenerateDataKeyResponse, GetParametersForImportResponse, ImportKeyMaterial,
    KeyId, KeyList, KeyListEntry, KeyMetadata, KeyMetadataResponse, KeyOrigin, KmsAction,
    KmsErrorCode, KmsRequest, ListKeys, ListKeysResponse, RotateMasterKeyResponse,
    ScheduleKeyDeletion, MAX_DESCRIPTION, MAX_PLAINTEXT, WRAPPING_ALGORITHM, WRAPPING_KEY_SPEC,
};
use ossvault_proto::sign::{self, RequestParts, Scheme};
use ossvault_proto::ErrorCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The first path segment of the KMS API.
pub const SEGMENT: &str = "_kms";

/// An error answer: a KMS code (or the OSS code of an error met reading the body) with its
/// status and message.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: KmsErrorCode, message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.as_str(),
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(KmsErrorCode::InvalidParameter, message)
    }

    fn missing(name: &str) -> Self {
        Self::new(
            KmsErrorCode::MissingParameter,
            format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        )
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(KmsErrorCode::InternalFailure, message)
    }

    /// An OSS error (reading the body) answered in the KMS's JSON shape.
    fn oss(e: ApiError) -> Self {
        Failure {
            status: StatusCode::from_u16(e.code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code.as_str(),
            message: e.message,
        }
    }

    /// The `Code` of the answer.
    pub fn code(&self) -> &str {
        self.code
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn response(self, request_id: &str) -> Response<Body> {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.code, message = %self.message, request_id, "KMS failure");
        }
        let body = json!({
            "Code": self.code,
            "Message": self.message,
            "RequestId": request_id,
        });
        json_response(self.status, &body)
    }
}

impl From<KmsError> for Failure {
    fn from(e: KmsError) -> Self {
        let message = e.to_string();
        let code = match e {
            KmsError::NotFound(_) => KmsErrorCode::KeyNotFound,
            KmsError::Disabled(_) => KmsErrorCode::Disabled,
            KmsError::PendingDeletion(_) => KmsErrorCode::PendingDeletion,
            KmsError::PendingImport(_) => KmsErrorCode::UnexpectedKeyState,
            KmsError::InvalidCiphertext(_) => KmsErrorCode::InvalidCiphertext,
            KmsError::Internal(_) => KmsErrorCode::InternalFailure,
        };
        Failure::new(code, message)
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        use super::import::ImportError;
        let message = e.to_string();
        let code = match e {
            OpError::Key(k) => return k.into(),
            OpError::InvalidParameter(_) => KmsErrorCode::InvalidParameter,
            OpError::UnexpectedState(_) => KmsErrorCode::UnexpectedKeyState,
            OpError::ServiceManaged(_) => KmsErrorCode::ServiceManagedKey,
            OpError::Import(ImportError::UnknownToken | ImportError::OtherKey) => {
                KmsErrorCode::InvalidImportToken
            }
            OpError::Import(ImportError::Undecryptable | ImportError::WrongLength(_)) => {
                KmsErrorCode::InvalidKeyMaterial
            }
            OpError::Import(ImportError::KeyGeneration(_)) | OpError::Store(_) => {
                KmsErrorCode::InternalFailure
            }
        };
        Failure::new(code, message)
    }
}

/// An OSS error met before the KMS handler ran (signature, routing), as a KMS answer.
pub fn error_from_api(e: ApiError, request_id: &str) -> Response<Body> {
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "Code": e.code.as_str(),
        "Message": e.message,
        "RequestId": request_id,
    });
    if let Some(sts) = e.string_to_sign {
        body["StringToSign"] = Value::String(sts);
    }
    let mut response = json_response(status, &body);
    for (name, value) in e.headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("JSON values serialise");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json;charset=utf-8")
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(body::full(bytes))
        .expect("valid response")
}

/// The KMS API's signing rule (module documentation): a V4 `Authorization` header whose
/// `x-oss-content-sha256` is a hex SHA-256, else 403 AccessDenied. The signature itself is
/// verified next like any other, and the hash against the body when it is read.
pub fn require_signed_body(req: &RequestParts<'_>) -> Result<(), ApiError> {
    let refuse = || {
        ApiError::msg(
            ErrorCode::AccessDenied,
            "The KMS and admin APIs need a V4 Authorization header (OSS4-HMAC-SHA256) with a signed \
             body hash: x-oss-content-sha256 set to the hex SHA-256 of the body. V1 \
             signatures, presigned URLs and UNSIGNED-PAYLOAD are refused here.",
        )
    };
    if sign::scheme(req)? != Scheme::V4Header {
        return Err(refuse());
    }
    match crate::payload::declared(req.headers) {
        Ok(Some(_)) => Ok(()),
        _ => Err(refuse()),
    }
}

/// The request's parameters: query string and JSON body merged.
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(query: &[(String, String)], body: &[u8]) -> Result<Params, Failure> {
        let mut map = BTreeMap::new();
        for (k, v) in query {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            let object: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
                Failure::invalid(format!("The request body is not a JSON object: {e}"))
            })?;
            for (k, v) in object {
                let v = match v {
                    Value::Null => continue,
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                if map.insert(k.clone(), v).is_some() {
                    return Err(Failure::invalid(format!(
                        "The parameter {k} is given both in the query string and in the body."
                    )));
                }
            }
        }
        Ok(Params(map))
    }

    /// A parameter, unless absent or blank.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }

    fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    Failure::invalid(format!(
                        "{name} must be a number between {} and {}.",
                        range.start(),
                        range.end()
                    ))
                }),
        }
    }

    fn base64(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
        BASE64
            .decode(self.required(name)?)
            .map(Zeroizing::new)
            .map_err(|_| Failure::invalid(format!("{name} is not valid base64.")))
    }

    fn key_id(&self) -> Result<KeyId, Failure> {
        Ok(KeyId {
            key_id: self.required("KeyId")?.to_owned(),
        })
    }

    /// The typed request, every parameter checked as Alibaba Cloud KMS checks it.
    fn request(&self) -> Result<KmsRequest, Failure> {
        let name = self.required("Action")?;
        let action = KmsAction::parse(name).ok_or_else(|| {
            Failure::new(
                KmsErrorCode::ActionNotFound,
                format!("The action '{name}' is not supported by this KMS."),
            )
        })?;
        Ok(match action {
            KmsAction::CreateKey => {
                self.one_of("KeyUsage", &["ENCRYPT/DECRYPT"])?;
                self.one_of("KeySpec", &["Aliyun_AES_256"])?;
                self.one_of("ProtectionLevel", &["SOFTWARE"])?;
                let origin = match self.get("Origin") {
                    None => None,
                    Some(o) => Some(KeyOrigin::parse(o).ok_or_else(|| {
                        Failure::invalid("Origin must be Aliyun_KMS or EXTERNAL.")
                    })?),
                };
                let description = self.get("Description").map(str::to_owned);
                if description
                    .as_ref()
                    .is_some_and(|d| d.len() > MAX_DESCRIPTION)
                {
                    return Err(Failure::invalid(
                        "Description is longer than 8192 characters.",
                    ));
                }
                KmsRequest::CreateKey(CreateKey {
                    description,
                    origin,
                })
            }
            KmsAction::ListKeys => KmsRequest::ListKeys(ListKeys {
                page_number: Some(
                    self.number("PageNumber", 1..=u64::from(u32::MAX))?
                        .unwrap_or(1) as u32,
                ),
                page_size: Some(self.number("PageSize", 1..=100)?.unwrap_or(10) as u32),
            }),
            KmsAction::DescribeKey => KmsRequest::DescribeKey(self.key_id()?),
            KmsAction::EnableKey => KmsRequest::EnableKey(self.key_id()?),
            KmsAction::DisableKey => KmsRequest::DisableKey(self.key_id()?),
            KmsAction::CancelKeyDeletion => KmsRequest::CancelKeyDeletion(self.key_id()?),
            KmsAction::ScheduleKeyDeletion => {
                let KeyId { key_id } = self.key_id()?;
                self.required("PendingWindowInDays")?;
                let days = self
                    .number(
                        "PendingWindowInDays",
                        u64::from(super::MIN_PENDING_DAYS)..=u64::from(super::MAX_PENDING_DAYS),
                    )?
                    .expect("required") as u32;
                KmsRequest::ScheduleKeyDeletion(ScheduleKeyDeletion {
                    key_id,
                    pending_window_in_days: days,
                })
            }
            KmsAction::GenerateDataKey => {
                let key_id = self.get("KeyId").map(str::to_owned);
                let (number_of_bytes, key_spec) =
                    match (self.get("NumberOfBytes"), self.get("KeySpec")) {
                        (Some(_), _) => (
                            Some(self.number("NumberOfBytes", 1..=1024)?.expect("present") as u32),
                            None,
                        ),
                        (None, None) => (None, None),
                        (None, Some("AES_256")) => (None, Some(DataKeySpec::Aes256)),
                        (None, Some("AES_128")) => (None, Some(DataKeySpec::Aes128)),
                        (None, Some(other)) => {
                            return Err(Failure::invalid(format!(
                                "KeySpec '{other}' is not supported (AES_256 or AES_128)."
                            )))
                        }
                    };
                KmsRequest::GenerateDataKey(GenerateDataKey {
                    key_id,
                    number_of_bytes,
                    key_spec,
                    encryption_context: self.context()?,
                })
            }
            KmsAction::Encrypt => {
                let KeyId { key_id } = self.key_id()?;
                let plaintext = self.base64("Plaintext")?;
                if plaintext.len() > MAX_PLAINTEXT {
                    return Err(Failure::invalid("Plaintext is larger than 6 KiB."));
                }
                KmsRequest::Encrypt(Encrypt {
                    key_id,
                    plaintext,
                    encryption_context: self.context()?,
                })
            }
            KmsAction::Decrypt => KmsRequest::Decrypt(Decrypt {
                ciphertext_blob: self.base64("CiphertextBlob")?.to_vec(),
                encryption_context: self.context()?,
            }),
            KmsAction::GetParametersForImport => {
                let key = self.key_id()?;
                self.one_of("WrappingAlgorithm", &[WRAPPING_ALGORITHM])?;
                self.one_of("WrappingKeySpec", &[WRAPPING_KEY_SPEC])?;
                KmsRequest::GetParametersForImport(key)
            }
            KmsAction::ImportKeyMaterial => {
                let KeyId { key_id } = self.key_id()?;
                let import_token = self.required("ImportToken")?.to_owned();
                let encrypted_key_material = self.base64("EncryptedKeyMaterial")?.to_vec();
                if self.get("KeyMaterialExpireUnix").is_some_and(|v| v != "0") {
                    return Err(Failure::invalid(
                        "KeyMaterialExpireUnix is not supported: imported material does not expire here (give 0 or leave it out).",
                    ));
                }
                KmsRequest::ImportKeyMaterial(ImportKeyMaterial {
                    key_id,
                    import_token,
                    encrypted_key_material,
                })
            }
            KmsAction::RotateMasterKey => KmsRequest::RotateMasterKey,
        })
    }

    /// `EncryptionContext`, checked to be a JSON object of strings.
    fn context(&self) -> Result<Option<String>, Failure> {
        let context = self.get("EncryptionContext");
        super::blob::canonical_context(context).map_err(Failure::invalid)?;
        Ok(context.map(str::to_owned))
    }

    /// `name` must be absent or one of `allowed`.
    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<(), Failure> {
        match self.get(name) {
            Some(v) if !allowed.contains(&v) => Err(Failure::invalid(format!(
                "{name} '{v}' is not supported here (supported: {}).",
                allowed.join(", ")
            ))),
            _ => Ok(()),
        }
    }
}

/// Parses a KMS request: its query pairs and body (a JSON object, or blank) into the typed
/// request, as the handler does (the entry point of the KMS parser for fuzzing).
pub fn parse_request(query: &[(String, String)], body: &[u8]) -> Result<KmsRequest, Failure> {
    Params::parse(query, body)?.request()
}

/// KeyMetadata of a record.
fn metadata(kms: &LocalKms, r: &CmkRecord) -> KeyMetadata {
    KeyMetadata {
        key_id: r.id.clone(),
        arn: kms.arn(&r.id),
        key_state: r.state.as_str().to_owned(),
        creation_date: kms_date(r.created_ms),
        description: r.description.clone(),
        key_usage: "ENCRYPT/DECRYPT".to_owned(),
        key_spec: "Aliyun_AES_256".to_owned(),
        origin: r.origin.as_str().to_owned(),
        creator: r.creator.clone(),
        protection_level: Some("SOFTWARE".to_owned()),
        automatic_rotation: Some("Disabled".to_owned()),
        delete_date: r.delete_ms.map(kms_date),
        primary_key_version: r.key_version_id.clone(),
    }
}

/// An answer model as the JSON object the response carries (its `RequestId` added later).
fn answer(model: impl Serialize) -> Result<Value, Failure> {
    serde_json::to_value(model).map_err(|e| Failure::internal(format!("KMS answer: {e}")))
}

/// Serves `/_kms/`: errors of the action become KMS error answers, never OSS ones.
pub async fn handle(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let request_id = ctx.request_id.clone();
    Ok(match run(&mut ctx).await {
        Ok(mut body) => {
            body["RequestId"] = Value::String(request_id);
            json_response(StatusCode::OK, &body)
        }
        Err(failure) => failure.response(&request_id),
    })
}

/// Runs `f` with the KMS on the blocking pool.
async fn blocking<T: Send + 'static>(
    kms: &Arc<LocalKms>,
    f: impl FnOnce(&LocalKms) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let kms = kms.clone();
    tokio::task::spawn_blocking(move || {
        kms.purge_expired()
            .map_err(|e| Failure::internal(format!("KMS storage failure: {e}")))?;
        f(&kms)
    })
    .await
    .map_err(|e| Failure::internal(format!("the KMS task failed: {e}")))?
}

async fn run(ctx: &mut Ctx) -> Result<Value, Failure> {
    if ctx.method != Method::POST && ctx.method != Method::GET {
        return Err(Failure::new(
            KmsErrorCode::MethodNotAllowed,
            "The KMS API answers POST (and GET) only.",
        ));
    }
    let body = ctx.small_body().await.map_err(Failure::oss)?;
    let params = Params::parse(&ctx.query.0, &body)?;
    let kms = ctx.state.kms.clone().ok_or_else(|| {
        Failure::new(
            KmsErrorCode::UnsupportedOperation,
            "The KMS is off: this server was started without a root secret.",
        )
    })?;
    let owner = ctx.state.owner().id;
    match params.request()? {
        KmsRequest::CreateKey(r) => create_key(&kms, r, owner).await,
        KmsRequest::ListKeys(r) => list_keys(&kms, r).await,
        KmsRequest::DescribeKey(k) => describe_key(&kms, k).await,
        KmsRequest::EnableKey(k) => change_state(&kms, move |kms| kms.enable_key(&k.key_id)).await,
        KmsRequest::DisableKey(k) => {
            change_state(&kms, move |kms| kms.disable_key(&k.key_id)).await
        }
        KmsRequest::CancelKeyDeletion(k) => {
            change_state(&kms, move |kms| kms.cancel_key_deletion(&k.key_id)).await
        }
        KmsRequest::ScheduleKeyDeletion(r) => {
            change_state(&kms, move |kms| {
                kms.schedule_key_deletion(&r.key_id, r.pending_window_in_days)
            })
            .await
        }
        KmsRequest::GenerateDataKey(r) => generate_data_key(&kms, r).await,
        KmsRequest::Encrypt(r) => encrypt(&kms, r).await,
        KmsRequest::Decrypt(r) => decrypt(&kms, r).await,
        KmsRequest::GetParametersForImport(k) => get_parameters_for_import(&kms, k).await,
        KmsRequest::ImportKeyMaterial(r) => import_key_material(&kms, r).await,
        KmsRequest::RotateMasterKey => rotate_master(ctx.state.clone()).await,
    }
}

/// CreateKey: an AES-256 CMK, Enabled, or PendingImport for `EXTERNAL` material.
async fn create_key(kms: &Arc<LocalKms>, r: CreateKey, owner: String) -> Result<Value, Failure> {
    let origin = r.origin.unwrap_or(Origin::Kms);
    let description = r.description.unwrap_or_default();
    blocking(kms, move |kms| {
        let record = kms.create_key(&description, origin, &owner)?;
        answer(KeyMetadataResponse {
            key_metadata: metadata(kms, &record),
        })
    })
    .await
}

/// ListKeys: one page of every key, oldest first.
async fn list_keys(kms: &Arc<LocalKms>, r: ListKeys) -> Result<Value, Failure> {
    let page_number = u64::from(r.page_number.unwrap_or(1));
    let page_size = u64::from(r.page_size.unwrap_or(10));
    blocking(kms, move |kms| {
        let keys = kms.list_keys();
        let start = ((page_number - 1) * page_size) as usize;
        let page = keys
            .iter()
            .skip(start)
            .take(page_size as usize)
            .map(|r| KeyListEntry {
                key_id: r.id.clone(),
                key_arn: kms.arn(&r.id),
            })
            .collect();
        answer(ListKeysResponse {
            keys: KeyList { key: page },
            total_count: keys.len() as u64,
            page_number,
            page_size,
        })
    })
    .await
}

/// DescribeKey.
async fn describe_key(kms: &Arc<LocalKms>, k: KeyId) -> Result<Value, Failure> {
    blocking(kms, move |kms| {
        let record = kms.describe_key(&k.key_id)?;
        answer(KeyMetadataResponse {
            key_metadata: metadata(kms, &record),
        })
    })
    .await
}

/// EnableKey, DisableKey, ScheduleKeyDeletion and CancelKeyDeletion: a change of state that
/// answers nothing but the request id.
async fn change_state(
    kms: &Arc<LocalKms>,
    change: impl FnOnce(&LocalKms) -> Result<CmkRecord, OpError> + Send + 'static,
) -> Result<Value, Failure> {
    blocking(kms, move |kms| {
        change(kms)?;
        answer(EmptyResponse {})
    })
    .await
}

/// GenerateDataKey: random bytes, and them wrapped under the CMK (the default one without
/// `KeyId`).
async fn generate_data_key(kms: &Arc<LocalKms>, r: GenerateDataKey) -> Result<Value, Failure> {
    let len = r.key_len();
    let context = canonical_context(r.encryption_context.as_deref())?;
    blocking(kms, move |kms| {
        let mut plain = Zeroizing::new(vec![0u8; len]);
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), plain.as_mut_slice());
        let sealed = kms.encrypt(r.key_id.as_deref(), &plain, &context)?;
        answer(GenerateDataKeyResponse {
            key_id: sealed.key_id,
            key_version_id: sealed.key_version_id,
            plaintext: BASE64.encode(plain.as_slice()),
            ciphertext_blob: BASE64.encode(&sealed.blob),
        })
    })
    .await
}

/// Encrypt: the plaintext wrapped under the CMK.
async fn encrypt(kms: &Arc<LocalKms>, r: Encrypt) -> Result<Value, Failure> {
    let context = canonical_context(r.encryption_context.as_deref())?;
    blocking(kms, move |kms| {
        let sealed = kms.encrypt(Some(&r.key_id), &r.plaintext, &context)?;
        answer(EncryptResponse {
            key_id: sealed.key_id,
            key_version_id: sealed.key_version_id,
            ciphertext_blob: BASE64.encode(&sealed.blob),
        })
    })
    .await
}

/// Decrypt: what Encrypt or GenerateDataKey wrapped, under the same context.
async fn decrypt(kms: &Arc<LocalKms>, r: Decrypt) -> Result<Value, Failure> {
    let context = canonical_context(r.encryption_context.as_deref())?;
    blocking(kms, move |kms| {
        let opened = kms.decrypt(&r.ciphertext_blob, &context)?;
        answer(kms::DecryptResponse {
            key_id: opened.key_id,
            key_version_id: opened.key_version_id,
            plaintext: BASE64.encode(opened.plaintext.as_slice()),
        })
    })
    .await
}

/// GetParametersForImport: a fresh RSA-2048 wrapping key and the token that names it.
async fn get_parameters_for_import(kms: &Arc<LocalKms>, k: KeyId) -> Result<Value, Failure> {
    blocking(kms, move |kms| {
        let (key_id, p) = kms.get_parameters_for_import(&k.key_id)?;
        answer(GetParametersForImportResponse {
            key_id,
            import_token: p.token,
            public_key: BASE64.encode(&p.public_key_der),
            token_expire_time: kms_date(p.expires_ms),
        })
    })
    .await
}

/// ImportKeyMaterial: the BYOK key becomes Enabled.
async fn import_key_material(kms: &Arc<LocalKms>, r: ImportKeyMaterial) -> Result<Value, Failure> {
    blocking(kms, move |kms| {
        kms.import_key_material(&r.key_id, &r.import_token, &r.encrypted_key_material)?;
        answer(EmptyResponse {})
    })
    .await
}

/// The canonical bytes of an `EncryptionContext` (already checked by the parser).
fn canonical_context(context: Option<&str>) -> Result<Vec<u8>, Failure> {
    super::blob::canonical_context(context).map_err(Failure::invalid)
}

/// ossvault's RotateMasterKey: a new SSE-OSS master key, every data key re-wrapped onto it.
async fn rotate_master(state: Arc<State>) -> Result<Value, Failure> {
    if state.sse.is_none() {
        return Err(Failure::new(
            KmsErrorCode::UnsupportedOperation,
            "Server-side encryption is off: this server was started without a root secret.",
        ));
    }
    tokio::task::spawn_blocking(move || {
        let report = crate::sse::rotate_master(&state)
            .map_err(|e| Failure::internal(format!("master key rotation failed: {e}")))?;
        let version = state
            .sse
            .as_ref()
            .expect("checked above")
            .master
            .current_version();
        answer(RotateMasterKeyResponse {
            version,
            rewrapped_objects: report.objects,
            rewrapped_uploads: report.uploads,
        })
    })
    .await
    .map_err(|e| Failure::internal(format!("the rotation task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query pairs of a test request.
    type Query<'a> = &'a [(&'a str, &'a str)];

    fn parse(query: Query<'_>, body: &str) -> Result<KmsRequest, String> {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_request(&q, body.as_bytes()).map_err(|f| f.code().to_owned())
    }

    #[test]
    fn requests_parse_from_query_and_body_alike() {
        let want = KmsRequest::DescribeKey(KeyId {
            key_id: "k1".into(),
        });
        assert_eq!(
            parse(&[("Action", "DescribeKey"), ("KeyId", "k1")], ""),
            Ok(want.clone())
        );
        assert_eq!(
            parse(&[("Action", "DescribeKey")], r#"{"KeyId":"k1"}"#),
            Ok(want)
        );
        assert_eq!(
            parse(&[("Action", "ListKeys")], ""),
            Ok(KmsRequest::ListKeys(ListKeys {
                page_number: Some(1),
                page_size: Some(10)
            }))
        );
    }

    #[test]
    fn bad_requests_get_kms_codes() {
        let cases: &[(Query<'_>, &str, &str)] = &[
            (&[], "", "MissingParameter"),
            (&[("Action", "Nope")], "", "InvalidAction.NotFound"),
            (&[("Action", "DescribeKey")], "", "MissingParameter"),
            (&[("Action", "DescribeKey")], "[1]", "InvalidParameter"),
            (
                &[("Action", "DescribeKey"), ("KeyId", "a")],
                r#"{"KeyId":"b"}"#,
                "InvalidParameter",
            ),
            (
                &[("Action", "Encrypt"), ("KeyId", "k"), ("Plaintext", "!!")],
                "",
                "InvalidParameter",
            ),
            (
                &[("Action", "GenerateDataKey"), ("NumberOfBytes", "0")],
                "",
                "InvalidParameter",
            ),
            (
                &[("Action", "GenerateDataKey"), ("EncryptionContext", "[]")],
                "",
                "InvalidParameter",
            ),
            (
                &[("Action", "ScheduleKeyDeletion"), ("KeyId", "k")],
                "",
                "MissingParameter",
            ),
            (
                &[
                    ("Action", "ScheduleKeyDeletion"),
                    ("KeyId", "k"),
                    ("PendingWindowInDays", "6"),
                ],
                "",
                "InvalidParameter",
            ),
        ];
        for (query, body, code) in cases {
            assert_eq!(
                parse(query, body),
                Err(code.to_string()),
                "{query:?} {body}"
            );
        }
    }

    #[test]
    fn answers_serialise_as_the_handwritten_json_did() {
        // The answer models go through a `Value` (keys sorted), as the `json!` bodies did, so
        // the bytes on the wire are unchanged.
        let m = KeyMetadata {
            key_id: "k".into(),
            arn: "acs:kms:cn-hangzhou:1:key/k".into(),
            key_state: "PendingDeletion".into(),
            creation_date: "2024-01-02T03:04:05Z".into(),
            description: "d".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            key_spec: "Aliyun_AES_256".into(),
            origin: "Aliyun_KMS".into(),
            creator: "1".into(),
            protection_level: Some("SOFTWARE".into()),
            automatic_rotation: Some("Disabled".into()),
            delete_date: Some("2024-02-02T03:04:05Z".into()),
            primary_key_version: None,
        };
        let mut ours = answer(KeyMetadataResponse { key_metadata: m }).unwrap();
        ours["RequestId"] = Value::String("r".into());
        let mut theirs = json!({ "KeyMetadata": {
            "KeyId": "k",
            "Arn": "acs:kms:cn-hangzhou:1:key/k",
            "KeyState": "PendingDeletion",
            "CreationDate": "2024-01-02T03:04:05Z",
            "Description": "d",
            "KeyUsage": "ENCRYPT/DECRYPT",
            "KeySpec": "Aliyun_AES_256",
            "Origin": "Aliyun_KMS",
            "Creator": "1",
            "ProtectionLevel": "SOFTWARE",
            "AutomaticRotation": "Disabled",
        }});
        theirs["KeyMetadata"]["DeleteDate"] = Value::String("2024-02-02T03:04:05Z".into());
        theirs["RequestId"] = Value::String("r".into());
        assert_eq!(
            serde_json::to_vec(&ours).unwrap(),
            serde_json::to_vec(&theirs).unwrap()
        );
        let mut empty = answer(EmptyResponse {}).unwrap();
        empty["RequestId"] = Value::String("r".into());
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"RequestId":"r"}"#
        );
    }
}

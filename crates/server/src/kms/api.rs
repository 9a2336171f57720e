//! The KMS HTTP API: `POST /_kms/?Action=<Name>&<Param>=<value>…` (GET works too). An
//! underscore is never valid in a bucket name, so the path cannot collide with a bucket.
//!
//! Requests are signed like any OSS request (V1 or V4, the same credentials), as if the bucket
//! were `_kms` and there were no key: V1 canonical resource `/_kms/`, V4 canonical URI
//! `/_kms/`. Anonymous requests are refused. V4 signs every query parameter; V1 (as for OSS
//! listing parameters) signs none of them, so prefer V4 or HTTPS off the loopback.
//!
//! Parameters come from the query string; a JSON object body is accepted too (string, number
//! or boolean values; an object value such as EncryptionContext is taken as its JSON text).
//! A body is never covered by the signature. A parameter given in both is refused.
//!
//! Answers are JSON with Alibaba Cloud KMS's field names, always with `RequestId`; errors are
//! `{"Code", "Message", "RequestId"}` with an HTTP status (codes as Alibaba Cloud KMS's where
//! it has one: `Forbidden.KeyNotFound`, `Rejected.Disabled`, `InvalidParameter`, …).
//! Binary values (Plaintext, CiphertextBlob, EncryptedKeyMaterial, PublicKey) are base64.
//! `RotateMasterKey` is ossvault's own: it rotates the SSE-OSS master key and re-wraps.

use super::import::{WRAPPING_ALGORITHM, WRAPPING_KEY_SPEC};
use super::records::{kms_date, CmkRecord, Origin};
use super::{LocalKms, OpError};
use crate::api::{ApiError, Ctx, State};
use crate::body::{self, Body};
use crate::sse::KmsError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::{header, Method, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The first path segment of the KMS API.
pub const SEGMENT: &str = "_kms";
/// Largest Encrypt plaintext, as on Alibaba Cloud KMS.
const MAX_PLAINTEXT: usize = 6 * 1024;
const MAX_DESCRIPTION: usize = 8192;

/// An error answer.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: String,
    message: String,
}

impl Failure {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameter", message)
    }

    fn missing(name: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        )
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalFailure", message)
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
        match e {
            KmsError::NotFound(_) => Failure::new(404, "Forbidden.KeyNotFound", message),
            KmsError::Disabled(_) => Failure::new(403, "Rejected.Disabled", message),
            KmsError::PendingDeletion(_) => Failure::new(403, "Rejected.PendingDeletion", message),
            KmsError::PendingImport(_) => Failure::new(403, "Rejected.UnexpectedKeyState", message),
            KmsError::InvalidCiphertext(_) => {
                Failure::new(400, "InvalidParameter.CiphertextBlob", message)
            }
            KmsError::Internal(_) => Failure::internal(message),
        }
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        use super::import::ImportError;
        let message = e.to_string();
        match e {
            OpError::Key(k) => k.into(),
            OpError::InvalidParameter(_) => Failure::invalid(message),
            OpError::UnexpectedState(_) => {
                Failure::new(403, "Rejected.UnexpectedKeyState", message)
            }
            OpError::ServiceManaged(_) => Failure::new(403, "Forbidden.ServiceManagedKey", message),
            OpError::Import(ImportError::UnknownToken | ImportError::OtherKey) => {
                Failure::new(400, "InvalidParameter.ImportToken", message)
            }
            OpError::Import(ImportError::Undecryptable | ImportError::WrongLength(_)) => {
                Failure::new(400, "InvalidParameter.EncryptedKeyMaterial", message)
            }
            OpError::Import(ImportError::KeyGeneration(_)) | OpError::Store(_) => {
                Failure::internal(message)
            }
        }
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

/// The request's parameters: query string and JSON body merged.
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn parse(query: &[(String, String)], body: &[u8]) -> Result<Params, Failure> {
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
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }

    pub(crate) fn number(
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

    pub(crate) fn base64(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
        BASE64
            .decode(self.required(name)?)
            .map(Zeroizing::new)
            .map_err(|_| Failure::invalid(format!("{name} is not valid base64.")))
    }

    pub(crate) fn context(&self) -> Result<Vec<u8>, Failure> {
        super::blob::canonical_context(self.get("EncryptionContext")).map_err(Failure::invalid)
    }

    /// `name` must be absent or one of `allowed`.
    pub(crate) fn one_of(&self, name: &str, allowed: &[&str]) -> Result<(), Failure> {
        match self.get(name) {
            Some(v) if !allowed.contains(&v) => Err(Failure::invalid(format!(
                "{name} '{v}' is not supported here (supported: {}).",
                allowed.join(", ")
            ))),
            _ => Ok(()),
        }
    }
}

/// KeyMetadata of a record.
fn metadata(kms: &LocalKms, r: &CmkRecord) -> Value {
    let mut m = json!({
        "KeyId": r.id,
        "Arn": kms.arn(&r.id),
        "KeyState": r.state.as_str(),
        "CreationDate": kms_date(r.created_ms),
        "Description": r.description,
        "KeyUsage": "ENCRYPT/DECRYPT",
        "KeySpec": "Aliyun_AES_256",
        "Origin": r.origin.as_str(),
        "Creator": r.creator,
        "ProtectionLevel": "SOFTWARE",
        "AutomaticRotation": "Disabled",
    });
    if let Some(ms) = r.delete_ms {
        m["DeleteDate"] = Value::String(kms_date(ms));
    }
    if let Some(v) = &r.key_version_id {
        m["PrimaryKeyVersion"] = Value::String(v.clone());
    }
    m
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
            405,
            "MethodNotAllowed",
            "The KMS API answers POST (and GET) only.",
        ));
    }
    let body = ctx
        .small_body()
        .await
        .map_err(|e| Failure::new(e.code.status(), e.code.as_str(), e.message))?;
    let params = Params::parse(&ctx.query.0, &body)?;
    let kms = ctx.state.kms.clone().ok_or_else(|| {
        Failure::new(
            501,
            "UnsupportedOperation",
            "The KMS is off: this server was started without a root secret.",
        )
    })?;
    let action = params.required("Action")?.to_owned();
    let owner = ctx.state.owner().id;
    match action.as_str() {
        "CreateKey" => {
            params.one_of("KeyUsage", &["ENCRYPT/DECRYPT"])?;
            params.one_of("KeySpec", &["Aliyun_AES_256"])?;
            params.one_of("ProtectionLevel", &["SOFTWARE"])?;
            let origin = match params.get("Origin") {
                None => Origin::Kms,
                Some(o) => Origin::parse(o)
                    .ok_or_else(|| Failure::invalid("Origin must be Aliyun_KMS or EXTERNAL."))?,
            };
            let description = params.get("Description").unwrap_or_default().to_owned();
            if description.len() > MAX_DESCRIPTION {
                return Err(Failure::invalid(
                    "Description is longer than 8192 characters.",
                ));
            }
            blocking(&kms, move |kms| {
                let r = kms.create_key(&description, origin, &owner)?;
                Ok(json!({ "KeyMetadata": metadata(kms, &r) }))
            })
            .await
        }
        "ListKeys" => {
            let page_number = params
                .number("PageNumber", 1..=u64::from(u32::MAX))?
                .unwrap_or(1);
            let page_size = params.number("PageSize", 1..=100)?.unwrap_or(10);
            blocking(&kms, move |kms| {
                let keys = kms.list_keys();
                let start = ((page_number - 1) * page_size) as usize;
                let page: Vec<Value> = keys
                    .iter()
                    .skip(start)
                    .take(page_size as usize)
                    .map(|r| json!({ "KeyId": r.id, "KeyArn": kms.arn(&r.id) }))
                    .collect();
                Ok(json!({
                    "Keys": { "Key": page },
                    "TotalCount": keys.len(),
                    "PageNumber": page_number,
                    "PageSize": page_size,
                }))
            })
            .await
        }
        "DescribeKey" => {
            let id = params.required("KeyId")?.to_owned();
            blocking(&kms, move |kms| {
                let r = kms.describe_key(&id)?;
                Ok(json!({ "KeyMetadata": metadata(kms, &r) }))
            })
            .await
        }
        "EnableKey" | "DisableKey" | "CancelKeyDeletion" => {
            let id = params.required("KeyId")?.to_owned();
            blocking(&kms, move |kms| {
                match action.as_str() {
                    "EnableKey" => kms.enable_key(&id)?,
                    "DisableKey" => kms.disable_key(&id)?,
                    _ => kms.cancel_key_deletion(&id)?,
                };
                Ok(json!({}))
            })
            .await
        }
        "ScheduleKeyDeletion" => {
            let id = params.required("KeyId")?.to_owned();
            params.required("PendingWindowInDays")?;
            let days = params
                .number(
                    "PendingWindowInDays",
                    u64::from(super::MIN_PENDING_DAYS)..=u64::from(super::MAX_PENDING_DAYS),
                )?
                .expect("required") as u32;
            blocking(&kms, move |kms| {
                kms.schedule_key_deletion(&id, days)?;
                Ok(json!({}))
            })
            .await
        }
        "GenerateDataKey" => {
            let id = params.get("KeyId").map(str::to_owned);
            let len = match (params.get("NumberOfBytes"), params.get("KeySpec")) {
                (Some(_), _) => {
                    params.number("NumberOfBytes", 1..=1024)?.expect("present") as usize
                }
                (None, None | Some("AES_256")) => 32,
                (None, Some("AES_128")) => 16,
                (None, Some(other)) => {
                    return Err(Failure::invalid(format!(
                        "KeySpec '{other}' is not supported (AES_256 or AES_128)."
                    )))
                }
            };
            let context = params.context()?;
            blocking(&kms, move |kms| {
                let mut plain = Zeroizing::new(vec![0u8; len]);
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), plain.as_mut_slice());
                let sealed = kms.encrypt(id.as_deref(), &plain, &context)?;
                Ok(json!({
                    "KeyId": sealed.key_id,
                    "KeyVersionId": sealed.key_version_id,
                    "Plaintext": BASE64.encode(plain.as_slice()),
                    "CiphertextBlob": BASE64.encode(&sealed.blob),
                }))
            })
            .await
        }
        "Encrypt" => {
            let id = params.required("KeyId")?.to_owned();
            let plain = params.base64("Plaintext")?;
            if plain.len() > MAX_PLAINTEXT {
                return Err(Failure::invalid("Plaintext is larger than 6 KiB."));
            }
            let context = params.context()?;
            blocking(&kms, move |kms| {
                let sealed = kms.encrypt(Some(&id), &plain, &context)?;
                Ok(json!({
                    "KeyId": sealed.key_id,
                    "KeyVersionId": sealed.key_version_id,
                    "CiphertextBlob": BASE64.encode(&sealed.blob),
                }))
            })
            .await
        }
        "Decrypt" => {
            let blob = params.base64("CiphertextBlob")?;
            let context = params.context()?;
            blocking(&kms, move |kms| {
                let opened = kms.decrypt(&blob, &context)?;
                Ok(json!({
                    "KeyId": opened.key_id,
                    "KeyVersionId": opened.key_version_id,
                    "Plaintext": BASE64.encode(opened.plaintext.as_slice()),
                }))
            })
            .await
        }
        "GetParametersForImport" => {
            let id = params.required("KeyId")?.to_owned();
            params.one_of("WrappingAlgorithm", &[WRAPPING_ALGORITHM])?;
            params.one_of("WrappingKeySpec", &[WRAPPING_KEY_SPEC])?;
            blocking(&kms, move |kms| {
                let (id, p) = kms.get_parameters_for_import(&id)?;
                Ok(json!({
                    "KeyId": id,
                    "ImportToken": p.token,
                    "PublicKey": BASE64.encode(&p.public_key_der),
                    "TokenExpireTime": kms_date(p.expires_ms),
                }))
            })
            .await
        }
        "ImportKeyMaterial" => {
            let id = params.required("KeyId")?.to_owned();
            let token = params.required("ImportToken")?.to_owned();
            let encrypted = params.base64("EncryptedKeyMaterial")?;
            if params
                .get("KeyMaterialExpireUnix")
                .is_some_and(|v| v != "0")
            {
                return Err(Failure::invalid(
                    "KeyMaterialExpireUnix is not supported: imported material does not expire here (give 0 or leave it out).",
                ));
            }
            blocking(&kms, move |kms| {
                kms.import_key_material(&id, &token, &encrypted)?;
                Ok(json!({}))
            })
            .await
        }
        "RotateMasterKey" => rotate_master(ctx.state.clone()).await,
        other => Err(Failure::new(
            400,
            "InvalidAction.NotFound",
            format!("The action '{other}' is not supported by this KMS."),
        )),
    }
}

/// ossvault's RotateMasterKey: a new SSE-OSS master key, every data key re-wrapped onto it.
async fn rotate_master(state: Arc<State>) -> Result<Value, Failure> {
    if state.sse.is_none() {
        return Err(Failure::new(
            501,
            "UnsupportedOperation",
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
        Ok(json!({
            "Version": version,
            "RewrappedObjects": report.objects,
            "RewrappedUploads": report.uploads,
        }))
    })
    .await
    .map_err(|e| Failure::internal(format!("the rotation task failed: {e}")))?
}

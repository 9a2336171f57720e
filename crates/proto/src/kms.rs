//! The local KMS's wire format: Alibaba Cloud KMS's actions, parameters, JSON answers and
//! error codes, shared by the server that answers them and the client that asks, as
//! [`crate::xml`] is for OSS.
//!
//! A request is `/_kms/?Action=<Name>&<Param>=<value>…` (parameters may also come as a JSON
//! object body); names and field spellings are Alibaba Cloud KMS's ("KMS API overview",
//! <https://www.alibabacloud.com/help/en/kms/developer-reference/api-overview>, and the
//! pages of each action, e.g. "GenerateDataKey",
//! <https://www.alibabacloud.com/help/en/kms/developer-reference/api-kms-2016-01-20-generatedatakey>).
//! Binary values (Plaintext, CiphertextBlob, EncryptedKeyMaterial, PublicKey) are standard
//! base64. `RotateMasterKey` is ossvault's own.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// The one wrapping algorithm of GetParametersForImport: RSAES-OAEP with SHA-256.
pub const WRAPPING_ALGORITHM: &str = "RSAES_OAEP_SHA_256";
/// The one wrapping key of GetParametersForImport: RSA-2048.
pub const WRAPPING_KEY_SPEC: &str = "RSA_2048";

/// The actions the local KMS answers (the `Action` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsAction {
    /// Makes a CMK.
    CreateKey,
    /// Lists CMKs, a page at a time.
    ListKeys,
    /// One CMK's metadata.
    DescribeKey,
    /// Makes a disabled CMK usable again.
    EnableKey,
    /// Stops a CMK from encrypting or decrypting.
    DisableKey,
    /// Deletes a CMK after a waiting period.
    ScheduleKeyDeletion,
    /// Stops a scheduled deletion.
    CancelKeyDeletion,
    /// A random data key, and it wrapped by a CMK.
    GenerateDataKey,
    /// Wraps up to 6 KiB under a CMK.
    Encrypt,
    /// Unwraps what Encrypt or GenerateDataKey wrapped.
    Decrypt,
    /// The public key and token to wrap BYOK key material with.
    GetParametersForImport,
    /// Imports wrapped BYOK key material.
    ImportKeyMaterial,
    /// ossvault's own: a new SSE-OSS master key, every data key re-wrapped onto it.
    RotateMasterKey,
}

impl KmsAction {
    /// Every action, in the order above.
    pub const ALL: [KmsAction; 13] = [
        KmsAction::CreateKey,
        KmsAction::ListKeys,
        KmsAction::DescribeKey,
        KmsAction::EnableKey,
        KmsAction::DisableKey,
        KmsAction::ScheduleKeyDeletion,
        KmsAction::CancelKeyDeletion,
        KmsAction::GenerateDataKey,
        KmsAction::Encrypt,
        KmsAction::Decrypt,
        KmsAction::GetParametersForImport,
        KmsAction::ImportKeyMaterial,
        KmsAction::RotateMasterKey,
    ];

    /// The action's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            KmsAction::CreateKey => "CreateKey",
            KmsAction::ListKeys => "ListKeys",
            KmsAction::DescribeKey => "DescribeKey",
            KmsAction::EnableKey => "EnableKey",
            KmsAction::DisableKey => "DisableKey",
            KmsAction::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            KmsAction::CancelKeyDeletion => "CancelKeyDeletion",
            KmsAction::GenerateDataKey => "GenerateDataKey",
            KmsAction::Encrypt => "Encrypt",
            KmsAction::Decrypt => "Decrypt",
            KmsAction::GetParametersForImport => "GetParametersForImport",
            KmsAction::ImportKeyMaterial => "ImportKeyMaterial",
            KmsAction::RotateMasterKey => "RotateMasterKey",
        }
    }

    /// The action named `name` (case-sensitive, as KMS), if it is one of these.
    pub fn parse(name: &str) -> Option<KmsAction> {
        KmsAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for KmsAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error codes of the KMS API, each with its HTTP status. Codes are Alibaba Cloud KMS's
/// where it has one ("KMS error codes",
/// <https://api.alibabacloud.com/document/Kms/2016-01-20/errorCode>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsErrorCode {
    /// A parameter has a value the action does not take.
    InvalidParameter,
    /// A mandatory parameter is absent or blank.
    MissingParameter,
    /// No CMK has the id given.
    KeyNotFound,
    /// The CMK is disabled.
    Disabled,
    /// The CMK is scheduled for deletion.
    PendingDeletion,
    /// The CMK's state does not allow the action (e.g. material not imported yet).
    UnexpectedKeyState,
    /// The CiphertextBlob is not one this KMS made, or was tampered with.
    InvalidCiphertext,
    /// The CMK is managed by the service (the default CMK) and cannot be changed.
    ServiceManagedKey,
    /// The ImportToken is unknown, expired or for another key.
    InvalidImportToken,
    /// The EncryptedKeyMaterial does not unwrap to 32 bytes.
    InvalidKeyMaterial,
    /// No such action.
    ActionNotFound,
    /// The HTTP method is not POST or GET.
    MethodNotAllowed,
    /// The server runs without what the action needs (a root secret).
    UnsupportedOperation,
    /// The KMS failed (storage, a task).
    InternalFailure,
}

impl KmsErrorCode {
    /// Every code, with its string and status: the one table both sides read.
    const TABLE: [(KmsErrorCode, &'static str, u16); 14] = [
        (KmsErrorCode::InvalidParameter, "InvalidParameter", 400),
        (KmsErrorCode::MissingParameter, "MissingParameter", 400),
        (KmsErrorCode::KeyNotFound, "Forbidden.KeyNotFound", 404),
        (KmsErrorCode::Disabled, "Rejected.Disabled", 403),
        (
            KmsErrorCode::PendingDeletion,
            "Rejected.PendingDeletion",
            403,
        ),
        (
            KmsErrorCode::UnexpectedKeyState,
            "Rejected.UnexpectedKeyState",
            403,
        ),
        (
            KmsErrorCode::InvalidCiphertext,
            "InvalidParameter.CiphertextBlob",
            400,
        ),
        (
            KmsErrorCode::ServiceManagedKey,
            "Forbidden.ServiceManagedKey",
            403,
        ),
        (
            KmsErrorCode::InvalidImportToken,
            "InvalidParameter.ImportToken",
            400,
        ),
        (
            KmsErrorCode::InvalidKeyMaterial,
            "InvalidParameter.EncryptedKeyMaterial",
            400,
        ),
        (KmsErrorCode::ActionNotFound, "InvalidAction.NotFound", 400),
        (KmsErrorCode::MethodNotAllowed, "MethodNotAllowed", 405),
        (
            KmsErrorCode::UnsupportedOperation,
            "UnsupportedOperation",
            501,
        ),
        (KmsErrorCode::InternalFailure, "InternalFailure", 500),
    ];

    fn entry(self) -> (&'static str, u16) {
        let (_, code, status) = Self::TABLE
            .iter()
            .find(|(c, _, _)| *c == self)
            .expect("every code is in the table");
        (code, *status)
    }

    /// The `Code` of the JSON error answer.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The HTTP status of the answer.
    pub fn status(self) -> u16 {
        self.entry().1
    }

    /// The code whose string is `code`, if it is one of these.
    pub fn parse(code: &str) -> Option<KmsErrorCode> {
        Self::TABLE
            .iter()
            .find(|(_, s, _)| *s == code)
            .map(|(c, _, _)| *c)
    }
}

impl fmt::Display for KmsErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a CMK's material came from (`Origin`); serialised as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyOrigin {
    /// Made by the KMS (`Aliyun_KMS`).
    #[serde(rename = "Aliyun_KMS")]
    Kms,
    /// Imported by the user, BYOK (`EXTERNAL`).
    #[serde(rename = "EXTERNAL")]
    External,
}

impl KeyOrigin {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Kms => "Aliyun_KMS",
            KeyOrigin::External => "EXTERNAL",
        }
    }

    /// The origin named `s`, if any.
    pub fn parse(s: &str) -> Option<KeyOrigin> {
        match s {
            "Aliyun_KMS" => Some(KeyOrigin::Kms),
            "EXTERNAL" => Some(KeyOrigin::External),
            _ => None,
        }
    }
}

/// A KMS request: the action and its parameters, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsRequest {
    /// CreateKey.
    CreateKey(CreateKey),
    /// ListKeys.
    ListKeys(ListKeys),
    /// DescribeKey.
    DescribeKey(KeyId),
    /// EnableKey.
    EnableKey(KeyId),
    /// DisableKey.
    DisableKey(KeyId),
    /// ScheduleKeyDeletion.
    ScheduleKeyDeletion(ScheduleKeyDeletion),
    /// CancelKeyDeletion.
    CancelKeyDeletion(KeyId),
    /// GenerateDataKey.
    GenerateDataKey(GenerateDataKey),
    /// Encrypt.
    Encrypt(Encrypt),
    /// Decrypt.
    Decrypt(Decrypt),
    /// GetParametersForImport (always RSAES_OAEP_SHA_256 with RSA_2048).
    GetParametersForImport(KeyId),
    /// ImportKeyMaterial.
    ImportKeyMaterial(ImportKeyMaterial),
    /// RotateMasterKey, which takes no parameter.
    RotateMasterKey,
}

/// The `KeyId` parameter of the actions that take only a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    /// The CMK's id.
    pub key_id: String,
}

/// CreateKey's parameters (KeyUsage, KeySpec and ProtectionLevel have one value each here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateKey {
    /// Free text, at most 8192 bytes.
    pub description: Option<String>,
    /// `None` is the KMS's own material.
    pub origin: Option<KeyOrigin>,
}

/// ListKeys's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKeys {
    /// From 1; default 1.
    pub page_number: Option<u32>,
    /// 1..=100; default 10.
    pub page_size: Option<u32>,
}

/// ScheduleKeyDeletion's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleKeyDeletion {
    /// The CMK's id.
    pub key_id: String,
    /// 7..=366 days.
    pub pending_window_in_days: u32,
}

/// The length GenerateDataKey is asked for by name (`KeySpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKeySpec {
    /// 32 bytes (`AES_256`).
    Aes256,
    /// 16 bytes (`AES_128`).
    Aes128,
}

impl DataKeySpec {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKeySpec::Aes256 => "AES_256",
            DataKeySpec::Aes128 => "AES_128",
        }
    }

    /// The data key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            DataKeySpec::Aes256 => 32,
            DataKeySpec::Aes128 => 16,
        }
    }
}

/// GenerateDataKey's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateDataKey {
    /// `None` is the server's default CMK.
    pub key_id: Option<String>,
    /// 1..=1024 bytes; wins over `key_spec`.
    pub number_of_bytes: Option<u32>,
    /// The length by name; neither given means 32 bytes.
    pub key_spec: Option<DataKeySpec>,
    /// A JSON object of strings bound to the ciphertext.
    pub encryption_context: Option<String>,
}

impl GenerateDataKey {
    /// The length of the data key asked for.
    pub fn key_len(&self) -> usize {
        match (self.number_of_bytes, self.key_spec) {
            (Some(n), _) => n as usize,
            (None, Some(spec)) => spec.key_len(),
            (None, None) => 32,
        }
    }
}

/// Encrypt's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypt {
    /// The CMK's id.
    pub key_id: String,
    /// At most [`MAX_PLAINTEXT`] bytes; zeroed when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// A JSON object of strings bound to the ciphertext.
    pub encryption_context: Option<String>,
}

/// Decrypt's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypt {
    /// What Encrypt or GenerateDataKey answered (decoded).
    pub ciphertext_blob: Vec<u8>,
    /// The context the ciphertext was bound to.
    pub encryption_context: Option<String>,
}

/// ImportKeyMaterial's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKeyMaterial {
    /// The CMK's id.
    pub key_id: String,
    /// GetParametersForImport's token.
    pub import_token: String,
    /// The material wrapped by GetParametersForImport's public key (decoded).
    pub encrypted_key_material: Vec<u8>,
}

/// Largest Encrypt plaintext, as on Alibaba Cloud KMS ("Encrypt": "up to 6 KB").
pub const MAX_PLAINTEXT: usize = 6 * 1024;
/// Largest CreateKey description.
pub const MAX_DESCRIPTION: usize = 8192;

impl KmsRequest {
    /// The request's action.
    pub fn action(&self) -> KmsAction {
        match self {
            KmsRequest::CreateKey(_) => KmsAction::CreateKey,
            KmsRequest::ListKeys(_) => KmsAction::ListKeys,
            KmsRequest::DescribeKey(_) => KmsAction::DescribeKey,
            KmsRequest::EnableKey(_) => KmsAction::EnableKey,
            KmsRequest::DisableKey(_) => KmsAction::DisableKey,
            KmsRequest::ScheduleKeyDeletion(_) => KmsAction::ScheduleKeyDeletion,
            KmsRequest::CancelKeyDeletion(_) => KmsAction::CancelKeyDeletion,
            KmsRequest::GenerateDataKey(_) => KmsAction::GenerateDataKey,
            KmsRequest::Encrypt(_) => KmsAction::Encrypt,
            KmsRequest::Decrypt(_) => KmsAction::Decrypt,
            KmsRequest::GetParametersForImport(_) => KmsAction::GetParametersForImport,
            KmsRequest::ImportKeyMaterial(_) => KmsAction::ImportKeyMaterial,
            KmsRequest::RotateMasterKey => KmsAction::RotateMasterKey,
        }
    }

    /// The request's parameters as query pairs, `Action` first; absent optional ones are
    /// left out. Values that carry secrets come back zeroed on drop.
    pub fn params(&self) -> Vec<(&'static str, Zeroizing<String>)> {
        let mut p: Vec<(&'static str, Option<String>)> =
            vec![("Action", Some(self.action().as_str().to_owned()))];
        let context = |c: &Option<String>| ("EncryptionContext", c.clone());
        match self {
            KmsRequest::CreateKey(r) => {
                p.push(("Description", r.description.clone()));
                p.push(("Origin", r.origin.map(|o| o.as_str().to_owned())));
            }
            KmsRequest::ListKeys(r) => {
                p.push(("PageNumber", r.page_number.map(|n| n.to_string())));
                p.push(("PageSize", r.page_size.map(|n| n.to_string())));
            }
            KmsRequest::DescribeKey(k)
            | KmsRequest::EnableKey(k)
            | KmsRequest::DisableKey(k)
            | KmsRequest::CancelKeyDeletion(k) => p.push(("KeyId", Some(k.key_id.clone()))),
            KmsRequest::ScheduleKeyDeletion(r) => {
                p.push(("KeyId", Some(r.key_id.clone())));
                p.push((
                    "PendingWindowInDays",
                    Some(r.pending_window_in_days.to_string()),
                ));
            }
            KmsRequest::GenerateDataKey(r) => {
                p.push(("KeyId", r.key_id.clone()));
                p.push(("NumberOfBytes", r.number_of_bytes.map(|n| n.to_string())));
                p.push(("KeySpec", r.key_spec.map(|s| s.as_str().to_owned())));
                p.push(context(&r.encryption_context));
            }
            KmsRequest::Encrypt(r) => {
                p.push(("KeyId", Some(r.key_id.clone())));
                p.push(("Plaintext", Some(BASE64.encode(r.plaintext.as_slice()))));
                p.push(context(&r.encryption_context));
            }
            KmsRequest::Decrypt(r) => {
                p.push(("CiphertextBlob", Some(BASE64.encode(&r.ciphertext_blob))));
                p.push(context(&r.encryption_context));
            }
            KmsRequest::GetParametersForImport(k) => {
                p.push(("KeyId", Some(k.key_id.clone())));
                p.push(("WrappingAlgorithm", Some(WRAPPING_ALGORITHM.to_owned())));
                p.push(("WrappingKeySpec", Some(WRAPPING_KEY_SPEC.to_owned())));
            }
            KmsRequest::ImportKeyMaterial(r) => {
                p.push(("KeyId", Some(r.key_id.clone())));
                p.push(("ImportToken", Some(r.import_token.clone())));
                p.push((
                    "EncryptedKeyMaterial",
                    Some(BASE64.encode(&r.encrypted_key_material)),
                ));
            }
            KmsRequest::RotateMasterKey => {}
        }
        p.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, Zeroizing::new(v))))
            .collect()
    }
}

/// A CMK's description (`KeyMetadata`). Dates are as `2024-01-02T03:04:05Z`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The CMK's id.
    pub key_id: String,
    /// `acs:kms:<region>:<account>:key/<id>`.
    #[serde(default)]
    pub arn: String,
    /// `Enabled`, `Disabled`, `PendingDeletion` or `PendingImport`.
    pub key_state: String,
    /// When the key was made.
    #[serde(default)]
    pub creation_date: String,
    /// Free text given at creation.
    #[serde(default)]
    pub description: String,
    /// `ENCRYPT/DECRYPT`.
    #[serde(default)]
    pub key_usage: String,
    /// `Aliyun_AES_256`.
    #[serde(default)]
    pub key_spec: String,
    /// `Aliyun_KMS` or `EXTERNAL` (BYOK).
    #[serde(default)]
    pub origin: String,
    /// The account that made the key.
    #[serde(default)]
    pub creator: String,
    /// `SOFTWARE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_level: Option<String>,
    /// `Disabled`: keys here do not rotate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_rotation: Option<String>,
    /// When a key pending deletion is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_date: Option<String>,
    /// The key version new ciphertexts use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key_version: Option<String>,
}

/// The answer to CreateKey and DescribeKey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// One key of a ListKeys page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The CMK's id.
    pub key_id: String,
    /// Its ARN.
    #[serde(default)]
    pub key_arn: String,
}

/// The `Keys` wrapper of a ListKeys page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyList {
    /// The page's keys.
    #[serde(default)]
    pub key: Vec<KeyListEntry>,
}

/// The answer to ListKeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// The page.
    pub keys: KeyList,
    /// Keys in all pages.
    pub total_count: u64,
    /// This page's number, from 1.
    pub page_number: u64,
    /// Keys per page.
    pub page_size: u64,
}

/// The answer to GenerateDataKey.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The CMK that wrapped the key.
    pub key_id: String,
    /// Its version.
    #[serde(default)]
    pub key_version_id: String,
    /// The data key, base64 (the client moves it into a zeroing buffer).
    pub plaintext: String,
    /// The data key wrapped, base64 (what Decrypt takes).
    pub ciphertext_blob: String,
}

/// The answer to Encrypt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The CMK used.
    pub key_id: String,
    /// Its version.
    #[serde(default)]
    pub key_version_id: String,
    /// Base64.
    pub ciphertext_blob: String,
}

/// The answer to Decrypt.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// The CMK that had wrapped it.
    pub key_id: String,
    /// Its version.
    #[serde(default)]
    pub key_version_id: String,
    /// Base64 (the client moves it into a zeroing buffer).
    pub plaintext: String,
}

/// Never prints the plaintext.
impl fmt::Debug for GenerateDataKeyResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenerateDataKeyResponse")
            .field("key_id", &self.key_id)
            .field("key_version_id", &self.key_version_id)
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob", &self.ciphertext_blob)
            .finish()
    }
}

/// Never prints the plaintext.
impl fmt::Debug for DecryptResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptResponse")
            .field("key_id", &self.key_id)
            .field("key_version_id", &self.key_version_id)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// The answer to GetParametersForImport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    /// The CMK the material is for.
    pub key_id: String,
    /// What ImportKeyMaterial must present.
    pub import_token: String,
    /// The RSA-2048 wrapping key: base64 of its DER SubjectPublicKeyInfo.
    pub public_key: String,
    /// When the token and key expire.
    pub token_expire_time: String,
}

/// The answer to RotateMasterKey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateMasterKeyResponse {
    /// The new SSE-OSS master key version.
    pub version: u32,
    /// Objects whose data keys were re-wrapped.
    pub rewrapped_objects: u64,
    /// Multipart uploads whose data keys were re-wrapped.
    pub rewrapped_uploads: u64,
}

/// The answer of the actions that return nothing but the request id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyResponse {}

/// An error answer (`RequestId` is added to every answer by the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorResponse {
    /// A [`KmsErrorCode`] string, or an OSS code for errors met before the action ran.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// The request's id.
    #[serde(default)]
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in KmsAction::ALL {
            assert_eq!(KmsAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(KmsAction::parse("createkey"), None);
        assert_eq!(KmsAction::parse(""), None);
    }

    #[test]
    fn error_table_is_complete_and_codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (code, s, status) in KmsErrorCode::TABLE {
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(KmsErrorCode::parse(s), Some(code));
            assert_eq!((code.as_str(), code.status()), (s, status));
        }
        assert_eq!(KmsErrorCode::KeyNotFound.as_str(), "Forbidden.KeyNotFound");
        assert_eq!(KmsErrorCode::KeyNotFound.status(), 404);
    }

    #[test]
    fn params_name_every_given_value_and_nothing_else() {
        let r = KmsRequest::GenerateDataKey(GenerateDataKey {
            key_id: None,
            number_of_bytes: Some(16),
            key_spec: None,
            encryption_context: Some(r#"{"a":"1"}"#.into()),
        });
        let p: Vec<(&str, String)> = r
            .params()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        assert_eq!(
            p,
            [
                ("Action", "GenerateDataKey".to_owned()),
                ("NumberOfBytes", "16".to_owned()),
                ("EncryptionContext", r#"{"a":"1"}"#.to_owned()),
            ]
        );
        let e = KmsRequest::Encrypt(Encrypt {
            key_id: "k".into(),
            plaintext: Zeroizing::new(b"hi".to_vec()),
            encryption_context: None,
        });
        assert!(e
            .params()
            .iter()
            .any(|(k, v)| *k == "Plaintext" && **v == "aGk="));
    }

    #[test]
    fn metadata_uses_alibaba_cloud_field_names() {
        let m: KeyMetadata = serde_json::from_str(
            r#"{"KeyId":"k","KeyState":"Enabled","Arn":"a","DeleteDate":"d","Extra":1}"#,
        )
        .unwrap();
        assert_eq!(m.key_id, "k");
        assert_eq!(m.delete_date.as_deref(), Some("d"));
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["KeyState"], "Enabled");
        assert!(back.get("PrimaryKeyVersion").is_none());
    }
}

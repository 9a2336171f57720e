//! The embedded server's local KMS (`/_kms/`): Alibaba Cloud KMS's actions, typed.
//!
//! The API exists only on ossvault's own server, so requests always go path-style to
//! `<endpoint>/_kms/?Action=…`, signed as if `_kms` were a bucket — always with V4 and the
//! body's SHA-256, whatever the client's configured version, because the server accepts
//! nothing else there (V1 signs neither the action nor its parameters). Every parameter
//! travels in the query string, which V4 signs (the server never logs query strings). Errors
//! come back as [`Error::Service`] with the KMS code (`Forbidden.KeyNotFound`,
//! `Rejected.Disabled`, `InvalidParameter`, …).

use crate::error::Error;
use crate::request::{Client, Op};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures_util::StreamExt;
use http::Method;
use ossvault_proto::kms::{
    self as wire, DecryptResponse, EmptyResponse, EncryptResponse, GenerateDataKeyResponse,
    GetParametersForImportResponse, KeyMetadataResponse, KmsRequest, ListKeysResponse,
    RotateMasterKeyResponse,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

pub use ossvault_proto::kms::{KeyListEntry, KeyMetadata};

/// The path segment of the KMS API.
const KMS: &str = "_kms";
/// Largest KMS answer read.
const MAX_RESPONSE: usize = 1 << 20;

/// A page of ListKeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<KeyListEntry>,
    pub total_count: u64,
    pub page_number: u64,
    pub page_size: u64,
}

/// GenerateDataKey's answer. `plaintext` is zeroed when dropped.
#[derive(Clone)]
pub struct GeneratedDataKey {
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The wrapped data key, base64 (what Decrypt takes).
    pub ciphertext_blob: String,
}

impl std::fmt::Debug for GeneratedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedDataKey")
            .field("key_id", &self.key_id)
            .field("key_version_id", &self.key_version_id)
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob", &self.ciphertext_blob)
            .finish()
    }
}

/// Encrypt's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub key_id: String,
    pub key_version_id: String,
    /// Base64.
    pub ciphertext_blob: String,
}

/// Decrypt's answer. `plaintext` is zeroed when dropped.
#[derive(Clone)]
pub struct Decrypted {
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("key_id", &self.key_id)
            .field("key_version_id", &self.key_version_id)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// GetParametersForImport's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportParameters {
    pub key_id: String,
    pub import_token: String,
    /// The RSA-2048 wrapping key: base64 of its DER SubjectPublicKeyInfo.
    pub public_key: String,
    pub token_expire_time: String,
}

/// RotateMasterKey's answer: the new SSE-OSS master key version and what was re-wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterKeyRotation {
    pub version: u32,
    pub rewrapped_objects: u64,
    pub rewrapped_uploads: u64,
}

/// How a key is created.
#[derive(Debug, Clone, Default)]
pub struct CreateKeyOptions {
    pub description: Option<String>,
    /// BYOK: `Origin=EXTERNAL`, PendingImport until material is imported.
    pub external: bool,
}

/// Wraps 32 bytes of key material for ImportKeyMaterial: RSAES-OAEP with SHA-256 (and MGF1
/// SHA-256) under `public_key` (base64 DER SubjectPublicKeyInfo); returns base64.
pub fn wrap_key_material(public_key: &str, material: &[u8]) -> Result<String, Error> {
    use rsa::pkcs8::DecodePublicKey;
    let der = BASE64
        .decode(public_key.trim())
        .map_err(|_| Error::InvalidResponse("the import public key is not base64".into()))?;
    let key = rsa::RsaPublicKey::from_public_key_der(&der)
        .map_err(|e| Error::InvalidResponse(format!("the import public key is not RSA: {e}")))?;
    let wrapped = key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha2::Sha256>(),
            material,
        )
        .map_err(|e| Error::InvalidInput(format!("cannot wrap the key material: {e}")))?;
    Ok(BASE64.encode(wrapped))
}

fn context_json(context: Option<&BTreeMap<String, String>>) -> Option<String> {
    context
        .filter(|c| !c.is_empty())
        .map(|c| serde_json::to_string(c).expect("strings serialise"))
}

fn plaintext(b64: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    BASE64
        .decode(b64)
        .map(Zeroizing::new)
        .map_err(|_| Error::InvalidResponse("Plaintext is not base64".into()))
}

/// The bytes of a base64 value handed in by the caller (a blob or material from an answer).
fn decoded(name: &str, b64: &str) -> Result<Vec<u8>, Error> {
    BASE64
        .decode(b64.trim())
        .map_err(|_| Error::InvalidInput(format!("{name} is not base64")))
}

impl Client {
    /// Sends one KMS request and reads its JSON answer.
    async fn kms<T: DeserializeOwned>(
        &self,
        request: &KmsRequest,
        idempotent: bool,
    ) -> Result<T, Error> {
        let action = request.action();
        let mut op = Op::new(Method::POST, Some(KMS), None)
            .path_style()
            .signed_payload()
            .idempotent(idempotent);
        for (name, value) in request.params() {
            op = op.query(name, value.as_str());
        }
        let response = self.send(op).await?.response;
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_RESPONSE)
        {
            return Err(Error::InvalidResponse("KMS answer too large".into()));
        }
        let mut stream = response.bytes_stream();
        let mut buf = Zeroizing::new(Vec::new());
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
            if buf.len() > MAX_RESPONSE {
                return Err(Error::InvalidResponse("KMS answer too large".into()));
            }
        }
        serde_json::from_slice(&buf)
            .map_err(|e| Error::InvalidResponse(format!("KMS answer to {action}: {e}")))
    }

    /// CreateKey: an AES-256 CMK, Enabled (or PendingImport when `external`).
    pub async fn create_key(&self, options: &CreateKeyOptions) -> Result<KeyMetadata, Error> {
        let request = KmsRequest::CreateKey(wire::CreateKey {
            description: options.description.clone(),
            origin: options.external.then_some(wire::KeyOrigin::External),
        });
        let answer: KeyMetadataResponse = self.kms(&request, false).await?;
        Ok(answer.key_metadata)
    }

    /// One page of ListKeys (`page_number` from 1, `page_size` 1..=100).
    pub async fn list_keys(&self, page_number: u32, page_size: u32) -> Result<KeyPage, Error> {
        let request = KmsRequest::ListKeys(wire::ListKeys {
            page_number: Some(page_number),
            page_size: Some(page_size),
        });
        let a: ListKeysResponse = self.kms(&request, true).await?;
        Ok(KeyPage {
            keys: a.keys.key,
            total_count: a.total_count,
            page_number: a.page_number,
            page_size: a.page_size,
        })
    }

    /// Every key (pages through ListKeys).
    pub async fn all_keys(&self) -> Result<Vec<KeyListEntry>, Error> {
        let mut all = Vec::new();
        for page_number in 1.. {
            let page = self.list_keys(page_number, 100).await?;
            let done =
                page.keys.is_empty() || all.len() + page.keys.len() >= page.total_count as usize;
            all.extend(page.keys);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// DescribeKey.
    pub async fn describe_key(&self, key_id: &str) -> Result<KeyMetadata, Error> {
        let a: KeyMetadataResponse = self
            .kms(&KmsRequest::DescribeKey(key(key_id)), true)
            .await?;
        Ok(a.key_metadata)
    }

    /// EnableKey: objects and blobs under the key are usable again.
    pub async fn enable_key(&self, key_id: &str) -> Result<(), Error> {
        let _: EmptyResponse = self.kms(&KmsRequest::EnableKey(key(key_id)), true).await?;
        Ok(())
    }

    /// DisableKey: nothing under the key decrypts until it is enabled again.
    pub async fn disable_key(&self, key_id: &str) -> Result<(), Error> {
        let _: EmptyResponse = self.kms(&KmsRequest::DisableKey(key(key_id)), true).await?;
        Ok(())
    }

    /// ScheduleKeyDeletion: the key is deleted after `pending_days` (7..=366).
    pub async fn schedule_key_deletion(
        &self,
        key_id: &str,
        pending_days: u32,
    ) -> Result<(), Error> {
        let request = KmsRequest::ScheduleKeyDeletion(wire::ScheduleKeyDeletion {
            key_id: key_id.to_owned(),
            pending_window_in_days: pending_days,
        });
        let _: EmptyResponse = self.kms(&request, false).await?;
        Ok(())
    }

    /// CancelKeyDeletion: back to the state the key had.
    pub async fn cancel_key_deletion(&self, key_id: &str) -> Result<(), Error> {
        let _: EmptyResponse = self
            .kms(&KmsRequest::CancelKeyDeletion(key(key_id)), false)
            .await?;
        Ok(())
    }

    /// GenerateDataKey: `number_of_bytes` random bytes (default 32), and them wrapped under
    /// the key (the server's default CMK when `key_id` is `None`).
    pub async fn generate_data_key(
        &self,
        key_id: Option<&str>,
        number_of_bytes: Option<u32>,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<GeneratedDataKey, Error> {
        let request = KmsRequest::GenerateDataKey(wire::GenerateDataKey {
            key_id: key_id.map(str::to_owned),
            number_of_bytes,
            key_spec: None,
            encryption_context: context_json(context),
        });
        let a: GenerateDataKeyResponse = self.kms(&request, false).await?;
        Ok(GeneratedDataKey {
            plaintext: plaintext(&Zeroizing::new(a.plaintext))?,
            ciphertext_blob: a.ciphertext_blob,
            key_id: a.key_id,
            key_version_id: a.key_version_id,
        })
    }

    /// Encrypt: at most 6 KiB under the key.
    pub async fn encrypt(
        &self,
        key_id: &str,
        data: &[u8],
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<Encrypted, Error> {
        let request = KmsRequest::Encrypt(wire::Encrypt {
            key_id: key_id.to_owned(),
            plaintext: Zeroizing::new(data.to_vec()),
            encryption_context: context_json(context),
        });
        let a: EncryptResponse = self.kms(&request, false).await?;
        Ok(Encrypted {
            ciphertext_blob: a.ciphertext_blob,
            key_id: a.key_id,
            key_version_id: a.key_version_id,
        })
    }

    /// Decrypt a CiphertextBlob (base64) made by Encrypt or GenerateDataKey.
    pub async fn decrypt(
        &self,
        ciphertext_blob: &str,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<Decrypted, Error> {
        let request = KmsRequest::Decrypt(wire::Decrypt {
            ciphertext_blob: decoded("CiphertextBlob", ciphertext_blob)?,
            encryption_context: context_json(context),
        });
        let a: DecryptResponse = self.kms(&request, true).await?;
        Ok(Decrypted {
            plaintext: plaintext(&Zeroizing::new(a.plaintext))?,
            key_id: a.key_id,
            key_version_id: a.key_version_id,
        })
    }

    /// GetParametersForImport (RSAES_OAEP_SHA_256, RSA_2048) for a key created external.
    pub async fn get_parameters_for_import(&self, key_id: &str) -> Result<ImportParameters, Error> {
        let a: GetParametersForImportResponse = self
            .kms(&KmsRequest::GetParametersForImport(key(key_id)), false)
            .await?;
        Ok(ImportParameters {
            key_id: a.key_id,
            import_token: a.import_token,
            public_key: a.public_key,
            token_expire_time: a.token_expire_time,
        })
    }

    /// ImportKeyMaterial: `encrypted_key_material` is base64 of the material wrapped by the
    /// import public key (see [`wrap_key_material`]). The key becomes Enabled.
    pub async fn import_key_material(
        &self,
        key_id: &str,
        import_token: &str,
        encrypted_key_material: &str,
    ) -> Result<(), Error> {
        let request = KmsRequest::ImportKeyMaterial(wire::ImportKeyMaterial {
            key_id: key_id.to_owned(),
            import_token: import_token.to_owned(),
            encrypted_key_material: decoded("EncryptedKeyMaterial", encrypted_key_material)?,
        });
        let _: EmptyResponse = self.kms(&request, false).await?;
        Ok(())
    }

    /// The whole BYOK import of 32 bytes of raw material: parameters, local wrapping, import.
    pub async fn import_raw_key_material(
        &self,
        key_id: &str,
        material: &[u8],
    ) -> Result<(), Error> {
        if material.len() != 32 {
            return Err(Error::InvalidInput(format!(
                "key material must be 32 bytes (AES-256), not {}",
                material.len()
            )));
        }
        let params = self.get_parameters_for_import(key_id).await?;
        let wrapped = wrap_key_material(&params.public_key, material)?;
        self.import_key_material(key_id, &params.import_token, &wrapped)
            .await
    }

    /// ossvault's RotateMasterKey: a new SSE-OSS master key; every data key is re-wrapped.
    pub async fn rotate_master_key(&self) -> Result<MasterKeyRotation, Error> {
        let a: RotateMasterKeyResponse = self.kms(&KmsRequest::RotateMasterKey, false).await?;
        Ok(MasterKeyRotation {
            version: a.version,
            rewrapped_objects: a.rewrapped_objects,
            rewrapped_uploads: a.rewrapped_uploads,
        })
    }
}

/// The `KeyId` parameter.
fn key(key_id: &str) -> wire::KeyId {
    wire::KeyId {
        key_id: key_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_json_objects() {
        let mut c = BTreeMap::new();
        assert_eq!(context_json(Some(&c)), None);
        c.insert("b".to_owned(), "2".to_owned());
        c.insert("a".to_owned(), "1".to_owned());
        assert_eq!(context_json(Some(&c)).unwrap(), r#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn bad_public_keys_are_refused() {
        assert!(wrap_key_material("not base64!", &[0; 32]).is_err());
        assert!(wrap_key_material("AAAA", &[0; 32]).is_err());
    }
}

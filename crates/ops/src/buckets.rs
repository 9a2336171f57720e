//! A bucket's settings as a person switches them: its default server-side encryption (none,
//! SSE-OSS `AES256` or `SM4`, or SSE-KMS with an optional CMK and optional SM4 data encryption)
//! and whether it is HTTPS-only (a bucket policy denying every request not made over TLS).

use crate::error::{Error, Result};
use crate::sse::DataEncryption;
use ossvault_client::Client;
use ossvault_proto::policy::https_only;
use ossvault_proto::xml::{ApplyServerSideEncryptionByDefault, ServerSideEncryptionRule};

/// The encryption new objects get when their request names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultEncryption {
    None,
    /// SSE-OSS: data keys wrapped by the service's master key.
    Aes256,
    /// SSE-OSS with SM4 (国密) instead of AES-256.
    Sm4,
    /// SSE-KMS: data keys from a CMK (the region's default one when `None`), the data encrypted
    /// with AES-256 or `data_encryption`.
    Kms {
        key_id: Option<String>,
        data_encryption: Option<DataEncryption>,
    },
}

impl DefaultEncryption {
    /// The rule as OSS states it; `None` for no default encryption.
    pub fn to_rule(&self) -> Option<ServerSideEncryptionRule> {
        let (algorithm, key_id, data) = match self {
            DefaultEncryption::None => return None,
            DefaultEncryption::Aes256 => ("AES256", None, None),
            DefaultEncryption::Sm4 => ("SM4", None, None),
            DefaultEncryption::Kms {
                key_id,
                data_encryption,
            } => ("KMS", key_id.clone(), *data_encryption),
        };
        Some(ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
                sse_algorithm: algorithm.to_owned(),
                kms_master_key_id: key_id,
                kms_data_encryption: data.map(|d| d.as_str().to_owned()),
            },
        })
    }

    /// Reads a rule as OSS states it.
    pub fn from_rule(rule: Option<&ServerSideEncryptionRule>) -> Result<DefaultEncryption> {
        let Some(rule) = rule else {
            return Ok(DefaultEncryption::None);
        };
        let r = &rule.apply_server_side_encryption_by_default;
        match r.sse_algorithm.as_str() {
            "AES256" => Ok(DefaultEncryption::Aes256),
            "SM4" => Ok(DefaultEncryption::Sm4),
            "KMS" => Ok(DefaultEncryption::Kms {
                key_id: r.kms_master_key_id.clone().filter(|k| !k.is_empty()),
                data_encryption: DataEncryption::parse(r.kms_data_encryption.as_deref())
                    .map_err(Error::InvalidInput)?,
            }),
            "" | "None" => Ok(DefaultEncryption::None),
            other => Err(Error::InvalidInput(format!(
                "the bucket's default encryption {other:?} is not one this version knows"
            ))),
        }
    }
}

/// The rule that gives new objects what one upload would ask for.
impl From<crate::sse::ObjectSse> for DefaultEncryption {
    fn from(sse: crate::sse::ObjectSse) -> Self {
        use crate::sse::ObjectSse;
        match sse {
            ObjectSse::Aes256 => DefaultEncryption::Aes256,
            ObjectSse::Sm4 => DefaultEncryption::Sm4,
            ObjectSse::Kms {
                key_id,
                data_encryption,
            } => DefaultEncryption::Kms {
                key_id,
                data_encryption,
            },
        }
    }
}

/// The bucket's default encryption.
pub async fn default_encryption(client: &Client, bucket: &str) -> Result<DefaultEncryption> {
    DefaultEncryption::from_rule(client.bucket_encryption(bucket).await?.as_ref())
}

/// Sets (or, with [`DefaultEncryption::None`], removes) the bucket's default encryption.
/// Existing objects keep theirs. A rule naming a CMK is saved even when the CMK does not exist
/// (as OSS does: writes then fail with `KmsKeyNotFound`); what the endpoint's KMS says of that
/// CMK comes back as a warning (see [`cmk_warning`]).
pub async fn set_default_encryption(
    client: &Client,
    bucket: &str,
    encryption: &DefaultEncryption,
) -> Result<Option<CmkWarning>> {
    match encryption.to_rule() {
        Some(rule) => client.set_bucket_encryption(bucket, &rule).await?,
        None => client.delete_bucket_encryption(bucket).await?,
    }
    Ok(match encryption {
        DefaultEncryption::Kms {
            key_id: Some(id), ..
        } => cmk_warning(client, id).await,
        _ => None,
    })
}

/// A CMK that SSE-KMS writes cannot use (yet): writes under a rule naming it fail until it
/// exists and is enabled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CmkWarning {
    pub key_id: String,
    /// `None`: the KMS has no such key; else the key's state (`Disabled`, `PendingDeletion`,
    /// `PendingImport`).
    pub key_state: Option<String>,
}

impl std::fmt::Display for CmkWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key_state {
            None => write!(
                f,
                "the CMK {} is not in this server's KMS: writes to the bucket fail \
                 (KmsKeyNotFound) until it exists",
                self.key_id
            ),
            Some(state) => write!(
                f,
                "the CMK {} is {state}: writes to the bucket fail until it is enabled",
                self.key_id
            ),
        }
    }
}

/// What the endpoint's KMS says of CMK `id_or_arn` (an id or `acs:kms:…:key/<id>`), when it
/// makes SSE-KMS writes fail: not there, or not enabled. The embedded server's local KMS can
/// be asked; another endpoint (OSS itself, whose KMS is a separate service) cannot, and then
/// nothing is said.
pub async fn cmk_warning(client: &Client, id_or_arn: &str) -> Option<CmkWarning> {
    let id = id_or_arn.trim();
    let id = match id.strip_prefix("acs:kms:") {
        Some(rest) => rest.rsplit_once(":key/").map_or(id, |(_, id)| id),
        None => id,
    };
    let keys = client.all_keys().await.ok()?;
    let warning = |key_state| {
        Some(CmkWarning {
            key_id: id_or_arn.trim().to_owned(),
            key_state,
        })
    };
    if !keys.iter().any(|k| k.key_id == id) {
        return warning(None);
    }
    match client.describe_key(id).await {
        Ok(meta) if meta.key_state != "Enabled" => warning(Some(meta.key_state)),
        _ => None,
    }
}

/// `policy` is exactly the HTTPS-only policy of `bucket` (compared as JSON documents).
pub fn is_https_only_policy(bucket: &str, policy: &str) -> bool {
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
    matches!((parse(policy), parse(&https_only(bucket))), (Some(a), Some(b)) if a == b)
}

/// The bucket's policy is the HTTPS-only one. (A request over plain HTTP cannot read the policy
/// of such a bucket: ask over HTTPS.)
pub async fn https_only_status(client: &Client, bucket: &str) -> Result<bool> {
    Ok(client
        .bucket_policy(bucket)
        .await?
        .is_some_and(|p| is_https_only_policy(bucket, &p)))
}

/// Makes the bucket HTTPS-only, or lifts it. Another policy of the bucket is never replaced or
/// deleted by this switch: that is refused with a clear error (edit the policy instead).
pub async fn set_https_only(client: &Client, bucket: &str, on: bool) -> Result<()> {
    let current = client.bucket_policy(bucket).await?;
    let ours = current
        .as_deref()
        .is_some_and(|p| is_https_only_policy(bucket, p));
    match (on, current.is_some(), ours) {
        (true, _, true) | (false, false, _) => Ok(()),
        (true, false, _) => Ok(client
            .set_bucket_policy(bucket, &https_only(bucket))
            .await?),
        (false, true, true) => Ok(client.delete_bucket_policy(bucket).await?),
        (_, true, false) => Err(Error::InvalidInput(format!(
            "oss://{bucket} has a bucket policy of its own: edit it to change HTTPS-only access"
        ))),
    }
}

/// A bucket as a list shows it, with its encryption and HTTPS-only badges.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketOverview {
    pub name: String,
    pub region: String,
    pub created: String,
    pub storage_class: String,
    /// `None` when it could not be read (`badge_error` says why).
    pub encryption: Option<EncryptionView>,
    pub https_only: Option<bool>,
    /// Why a badge could not be read (e.g. `AccessDenied` over plain HTTP).
    pub badge_error: Option<String>,
}

/// [`DefaultEncryption`] as front ends exchange it: `{"algorithm": "none" | "AES256" | "SM4" | "KMS",
/// "keyId": …, "dataEncryption": "SM4"}` (the last two with KMS only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionView {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_encryption: Option<DataEncryption>,
}

impl From<&DefaultEncryption> for EncryptionView {
    fn from(e: &DefaultEncryption) -> Self {
        let (algorithm, key_id, data_encryption) = match e {
            DefaultEncryption::None => ("none", None, None),
            DefaultEncryption::Aes256 => ("AES256", None, None),
            DefaultEncryption::Sm4 => ("SM4", None, None),
            DefaultEncryption::Kms {
                key_id,
                data_encryption,
            } => ("KMS", key_id.clone(), *data_encryption),
        };
        EncryptionView {
            algorithm: algorithm.to_owned(),
            key_id,
            data_encryption,
        }
    }
}

impl TryFrom<&EncryptionView> for DefaultEncryption {
    type Error = Error;

    fn try_from(v: &EncryptionView) -> Result<DefaultEncryption> {
        let key_id = v.key_id.as_deref().map(str::trim).filter(|k| !k.is_empty());
        if v.data_encryption.is_some() && v.algorithm != "KMS" {
            return Err(Error::InvalidInput(
                "only KMS encryption takes a data encryption (SM4)".into(),
            ));
        }
        match (v.algorithm.as_str(), key_id) {
            ("none", None) => Ok(DefaultEncryption::None),
            ("AES256", None) => Ok(DefaultEncryption::Aes256),
            ("SM4", None) => Ok(DefaultEncryption::Sm4),
            ("KMS", key_id) => {
                if let Some(k) = key_id {
                    if k.len() > 256 || k.chars().any(|c| c.is_control() || c.is_whitespace()) {
                        return Err(Error::InvalidInput(format!("invalid KMS key id {k:?}")));
                    }
                }
                Ok(DefaultEncryption::Kms {
                    key_id: key_id.map(str::to_owned),
                    data_encryption: v.data_encryption,
                })
            }
            (_, Some(_)) => Err(Error::InvalidInput(
                "only KMS encryption takes a key id".into(),
            )),
            (other, None) => Err(Error::InvalidInput(format!(
                "unknown encryption {other:?}: none, AES256, SM4 or KMS"
            ))),
        }
    }
}

/// Every bucket with its badges, the badges of up to 8 buckets read at once. A badge that
/// cannot be read leaves the bucket listed, with the reason.
pub async fn overview(client: &Client) -> Result<Vec<BucketOverview>> {
    use futures_util::StreamExt;
    let buckets = client.all_buckets().await?;
    let rows = futures_util::stream::iter(buckets)
        .map(|b| async move {
            let (encryption, https_only) = tokio::join!(
                default_encryption(client, &b.name),
                https_only_status(client, &b.name)
            );
            let badge_error = match (&encryption, &https_only) {
                (Err(e), _) | (_, Err(e)) => Some(e.code().to_owned()),
                _ => None,
            };
            BucketOverview {
                encryption: encryption.ok().as_ref().map(EncryptionView::from),
                https_only: https_only.ok(),
                badge_error,
                region: if b.region.is_empty() {
                    b.location
                } else {
                    b.region
                },
                created: b.creation_date,
                storage_class: b.storage_class,
                name: b.name,
            }
        })
        .buffered(8)
        .collect()
        .await;
    Ok(rows)
}

/// A bucket's settings, as a settings panel shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketSettings {
    pub encryption: EncryptionView,
    pub https_only: bool,
    pub acl: String,
}

/// Reads a bucket's default encryption, HTTPS-only switch and ACL.
pub async fn settings(client: &Client, bucket: &str) -> Result<BucketSettings> {
    let (encryption, https_only, acl) = tokio::join!(
        default_encryption(client, bucket),
        https_only_status(client, bucket),
        client.bucket_acl(bucket)
    );
    Ok(BucketSettings {
        encryption: EncryptionView::from(&encryption?),
        https_only: https_only?,
        acl: acl?,
    })
}

/// The canned ACLs a bucket can have.
pub const BUCKET_ACLS: [&str; 3] = ["private", "public-read", "public-read-write"];

/// Creates a bucket after checking its name as OSS does.
pub async fn create(client: &Client, bucket: &str, acl: Option<&str>) -> Result<()> {
    if !ossvault_proto::names::is_valid_bucket_name(bucket) {
        return Err(Error::InvalidInput(format!(
            "invalid bucket name {bucket:?}: 3 to 63 lowercase letters, digits and hyphens, \
             not starting or ending with a hyphen"
        )));
    }
    if let Some(acl) = acl {
        check_acl(acl)?;
    }
    Ok(client.create_bucket(bucket, acl).await?)
}

/// Refuses an ACL that is not one of [`BUCKET_ACLS`].
pub fn check_acl(acl: &str) -> Result<()> {
    if BUCKET_ACLS.contains(&acl) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "unknown ACL {acl:?}: private, public-read or public-read-write"
        )))
    }
}

/// Deletes a bucket. A bucket with objects is refused (`BucketNotEmpty`) unless `empty_first`:
/// then every object and unfinished multipart upload in it is deleted first.
pub async fn remove(client: &Client, bucket: &str, empty_first: bool) -> Result<u64> {
    let mut deleted = 0;
    if empty_first {
        let never = ossvault_client::transfer::CancellationToken::new();
        deleted = crate::delete::delete_prefix(client, bucket, "", &|_| {}, &never)
            .await?
            .deleted;
        // A versioned bucket keeps noncurrent versions and the delete markers just added.
        if client.bucket_versioning(bucket).await?.is_some() {
            deleted += crate::delete::delete_all_versions(client, bucket, "", false).await?;
        }
        crate::delete::abort_uploads(client, bucket, "").await?;
    }
    client.delete_bucket(bucket).await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        for e in [
            DefaultEncryption::None,
            DefaultEncryption::Aes256,
            DefaultEncryption::Sm4,
            DefaultEncryption::Kms {
                key_id: None,
                data_encryption: None,
            },
            DefaultEncryption::Kms {
                key_id: Some("cmk-1".into()),
                data_encryption: None,
            },
            DefaultEncryption::Kms {
                key_id: Some("cmk-1".into()),
                data_encryption: Some(DataEncryption::Sm4),
            },
        ] {
            assert_eq!(
                DefaultEncryption::from_rule(e.to_rule().as_ref()).unwrap(),
                e
            );
        }
    }

    #[test]
    fn encryption_views_convert_both_ways_and_refuse_nonsense() {
        for e in [
            DefaultEncryption::None,
            DefaultEncryption::Aes256,
            DefaultEncryption::Sm4,
            DefaultEncryption::Kms {
                key_id: None,
                data_encryption: None,
            },
            DefaultEncryption::Kms {
                key_id: Some("cmk-1".into()),
                data_encryption: None,
            },
            DefaultEncryption::Kms {
                key_id: Some("cmk-1".into()),
                data_encryption: Some(DataEncryption::Sm4),
            },
        ] {
            let view = EncryptionView::from(&e);
            assert_eq!(DefaultEncryption::try_from(&view).unwrap(), e);
        }
        for (algorithm, key_id) in [
            ("AES256", Some("k")),
            ("none", Some("k")),
            ("SM4", Some("k")),
            ("SM2", None),
            ("KMS", Some("a b")),
        ] {
            let view = EncryptionView {
                algorithm: algorithm.into(),
                key_id: key_id.map(Into::into),
                data_encryption: None,
            };
            assert_eq!(
                DefaultEncryption::try_from(&view).unwrap_err().code(),
                "InvalidInput"
            );
        }
        let sm4_without_kms = EncryptionView {
            algorithm: "SM4".into(),
            key_id: None,
            data_encryption: Some(DataEncryption::Sm4),
        };
        assert!(DefaultEncryption::try_from(&sm4_without_kms).is_err());
        assert!(check_acl("public-read").is_ok());
        assert!(check_acl("public").is_err());
    }

    #[test]
    fn the_https_only_policy_is_recognised_as_a_document() {
        let p = https_only("photos");
        assert!(is_https_only_policy("photos", &p));
        let reformatted =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&p).unwrap())
                .unwrap();
        assert!(is_https_only_policy("photos", &reformatted));
        assert!(!is_https_only_policy("other", &p));
        assert!(!is_https_only_policy("photos", "{}"));
        assert!(!is_https_only_policy("photos", "not json"));
    }
}

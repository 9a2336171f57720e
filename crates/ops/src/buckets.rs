//! A bucket's settings as a person switches them: its default server-side encryption (none,
//! SSE-OSS `AES256`, or SSE-KMS with an optional CMK) and whether it is HTTPS-only (a bucket
//! policy denying every request not made over TLS).

use crate::error::{Error, Result};
use ossvault_client::Client;
use ossvault_proto::policy::https_only;
use ossvault_proto::xml::{ApplyServerSideEncryptionByDefault, ServerSideEncryptionRule};

/// The encryption new objects get when their request names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultEncryption {
    None,
    /// SSE-OSS: data keys wrapped by the service's master key.
    Aes256,
    /// SSE-KMS: data keys from a CMK (the region's default one when `None`).
    Kms {
        key_id: Option<String>,
    },
}

impl DefaultEncryption {
    /// The rule as OSS states it; `None` for no default encryption.
    pub fn to_rule(&self) -> Option<ServerSideEncryptionRule> {
        let (algorithm, key_id) = match self {
            DefaultEncryption::None => return None,
            DefaultEncryption::Aes256 => ("AES256", None),
            DefaultEncryption::Kms { key_id } => ("KMS", key_id.clone()),
        };
        Some(ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
                sse_algorithm: algorithm.to_owned(),
                kms_master_key_id: key_id,
                kms_data_encryption: None,
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
            "KMS" => Ok(DefaultEncryption::Kms {
                key_id: r.kms_master_key_id.clone(),
            }),
            "" | "None" => Ok(DefaultEncryption::None),
            other => Err(Error::InvalidInput(format!(
                "the bucket's default encryption {other:?} is not one this version knows"
            ))),
        }
    }
}

/// The bucket's default encryption.
pub async fn default_encryption(client: &Client, bucket: &str) -> Result<DefaultEncryption> {
    DefaultEncryption::from_rule(client.bucket_encryption(bucket).await?.as_ref())
}

/// Sets (or, with [`DefaultEncryption::None`], removes) the bucket's default encryption.
/// Existing objects keep theirs.
pub async fn set_default_encryption(
    client: &Client,
    bucket: &str,
    encryption: &DefaultEncryption,
) -> Result<()> {
    match encryption.to_rule() {
        Some(rule) => client.set_bucket_encryption(bucket, &rule).await?,
        None => client.delete_bucket_encryption(bucket).await?,
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        for e in [
            DefaultEncryption::None,
            DefaultEncryption::Aes256,
            DefaultEncryption::Kms { key_id: None },
            DefaultEncryption::Kms {
                key_id: Some("cmk-1".into()),
            },
        ] {
            assert_eq!(
                DefaultEncryption::from_rule(e.to_rule().as_ref()).unwrap(),
                e
            );
        }
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

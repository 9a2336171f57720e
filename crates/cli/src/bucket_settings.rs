//! `ossvault bucket-encryption` and `ossvault bucket-policy`: a bucket's default server-side
//! encryption and its policy (HTTPS-only in one flag).

use crate::output::Output;
use crate::{BucketEncryptionArgs, BucketPolicyArgs, DataEncryptionArg, SseArg};
use anyhow::{anyhow, bail, Context, Result};
use ossvault_client::Client;
use ossvault_ops::buckets::{self, DefaultEncryption};
use ossvault_ops::location::parse_bucket_url;
use ossvault_ops::sse::{DataEncryption, ObjectSse};
use ossvault_proto::xml::ApplyServerSideEncryptionByDefault;
use serde_json::json;

fn bucket_of(url: &str) -> Result<String> {
    let url = parse_bucket_url(url).map_err(|e| anyhow!(e))?;
    if !url.key.is_empty() {
        bail!("give a bucket (oss://bucket), not an object");
    }
    Ok(url.bucket)
}

pub async fn encryption(client: &Client, out: &Output, args: &BucketEncryptionArgs) -> Result<()> {
    let bucket = bucket_of(&args.bucket)?;
    let wanted = match (args.delete, args.sse) {
        (true, _) => Some(DefaultEncryption::None),
        (false, Some(sse)) => Some(
            sse.object_sse(args.kms_key_id.as_deref(), args.sse_data_encryption)?
                .into(),
        ),
        (false, None) => None,
    };
    let current = match wanted {
        Some(w) => {
            let warning = buckets::set_default_encryption(client, &bucket, &w).await?;
            if let Some(warning) = warning {
                out.warn(format!("warning: {warning}"));
            }
            // After a removal there is nothing to read back.
            if w == DefaultEncryption::None {
                return report(out, &bucket, None);
            }
            buckets::default_encryption(client, &bucket).await?
        }
        None => buckets::default_encryption(client, &bucket).await?,
    };
    report(
        out,
        &bucket,
        current
            .to_rule()
            .map(|r| r.apply_server_side_encryption_by_default),
    )
}

fn report(
    out: &Output,
    bucket: &str,
    rule: Option<ApplyServerSideEncryptionByDefault>,
) -> Result<()> {
    if out.json {
        out.json(&json!({
            "bucket": bucket,
            "sse_algorithm": rule.as_ref().map(|r| r.sse_algorithm.clone()),
            "kms_master_key_id": rule.as_ref().and_then(|r| r.kms_master_key_id.clone()),
            "kms_data_encryption": rule.as_ref().and_then(|r| r.kms_data_encryption.clone()),
        }))?;
        return Ok(());
    }
    let Some(r) = rule else {
        return Ok(out.line(format!("oss://{bucket}: no default encryption"))?);
    };
    let mut line = format!("oss://{bucket}: default encryption {}", r.sse_algorithm);
    if let Some(data) = r.kms_data_encryption {
        line.push_str(&format!(" (data {data})"));
    }
    if let Some(id) = r.kms_master_key_id {
        line.push_str(&format!(" with CMK {id}"));
    }
    Ok(out.line(line)?)
}

pub async fn policy(client: &Client, out: &Output, args: &BucketPolicyArgs) -> Result<()> {
    let bucket = bucket_of(&args.bucket)?;
    if args.status {
        let public = client.bucket_policy_is_public(&bucket).await?;
        if out.json {
            out.json(&json!({ "bucket": bucket, "is_public": public }))?;
        } else if public {
            out.line(format!(
                "oss://{bucket}: the bucket policy grants public access"
            ))?;
        } else {
            out.line(format!(
                "oss://{bucket}: the bucket policy grants no public access"
            ))?;
        }
        return Ok(());
    }
    // What was set is echoed rather than read back: after --https-only a plain-HTTP client
    // may no longer read it.
    let policy = if args.delete {
        client.delete_bucket_policy(&bucket).await?;
        None
    } else if args.https_only {
        buckets::set_https_only(client, &bucket, true).await?;
        Some(ossvault_proto::policy::https_only(&bucket))
    } else if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        client.set_bucket_policy(&bucket, &text).await?;
        Some(text)
    } else {
        client.bucket_policy(&bucket).await?
    };
    if out.json {
        let parsed = policy
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
            .transpose()?;
        out.json(&json!({ "bucket": bucket, "policy": parsed }))?;
    } else {
        match policy {
            None => out.line(format!("oss://{bucket}: no bucket policy"))?,
            Some(p) => out.line(p)?,
        }
    }
    Ok(())
}

impl SseArg {
    /// The encryption asked for on new objects (`--kms-key-id` names the CMK of KMS,
    /// `--sse-data-encryption` its data encryption, which only KMS takes).
    pub fn object_sse(
        self,
        kms_key_id: Option<&str>,
        data: Option<DataEncryptionArg>,
    ) -> Result<ObjectSse> {
        if data.is_some() && self != SseArg::Kms {
            bail!("--sse-data-encryption goes with --sse KMS (for SSE-OSS with SM4: --sse SM4)");
        }
        Ok(match self {
            SseArg::Aes256 => ObjectSse::Aes256,
            SseArg::Sm4 => ObjectSse::Sm4,
            SseArg::Kms => ObjectSse::Kms {
                key_id: kms_key_id.map(str::to_owned),
                data_encryption: data.map(|DataEncryptionArg::Sm4| DataEncryption::Sm4),
            },
        })
    }
}

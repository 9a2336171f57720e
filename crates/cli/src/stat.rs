//! `ossvault stat`: an object's metadata, or a bucket's information and statistics.

use crate::output::{time_json, time_text, Output};
use crate::StatArgs;
use anyhow::{anyhow, Result};
use ossvault_client::Client;
use ossvault_ops::location::{parse_bucket_url, OssUrl};
use ossvault_ops::properties::{client_side, ClientSide, SSE_HEADERS};
use ossvault_proto::time::parse_iso8601;
use serde_json::{json, Map, Value};

pub async fn run(client: &Client, out: &Output, args: &StatArgs) -> Result<()> {
    let url = parse_bucket_url(&args.url).map_err(|e| anyhow!(e))?;
    if url.key.is_empty() {
        bucket(client, out, &url.bucket).await
    } else {
        object(client, out, &url, args).await
    }
}

async fn object(client: &Client, out: &Output, url: &OssUrl, args: &StatArgs) -> Result<()> {
    let meta = client
        .head_object_version(&url.bucket, &url.key, args.version_id.as_deref())
        .await?;
    let version = meta
        .header(ossvault_proto::headers::VERSION_ID)
        .map(str::to_owned);
    let cse = client_side(&meta.headers, meta.size, || {
        crate::cse::open_keystore(&args.keystore)
            .map_err(|e| ossvault_ops::Error::InvalidInput(e.to_string()))
    });
    let user: Map<String, Value> = meta
        .user_metadata()
        .map(|(n, v)| {
            let name = n.strip_prefix("x-oss-meta-").unwrap_or(n);
            (name.to_owned(), Value::String(v.to_owned()))
        })
        .collect();
    let sse: Map<String, Value> = SSE_HEADERS
        .iter()
        .filter_map(|h| Some((h.to_string(), Value::String(meta.header(h)?.to_owned()))))
        .collect();
    if out.json {
        return Ok(out.json(&json!({
            "url": url.to_string(),
            "bucket": url.bucket,
            "key": url.key,
            "size": meta.size,
            "etag": meta.etag.trim_matches('"'),
            "crc64": meta.crc64.map(|c| c.to_string()),
            "content_type": meta.content_type,
            "last_modified": time_json(meta.last_modified),
            "object_type": meta.object_type,
            "storage_class": meta.storage_class,
            "version_id": version,
            "user_metadata": user,
            "server_side_encryption": sse,
            "client_side_encryption": cse_json(&cse),
        }))?);
    }
    let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let mut rows = vec![
        ("URL", url.to_string()),
        ("Content-Length", meta.size.to_string()),
        ("ETag", meta.etag.trim_matches('"').to_owned()),
        ("CRC-64", dash(meta.crc64.map(|c| c.to_string()).as_deref())),
        ("Content-Type", dash(meta.content_type.as_deref())),
        ("Last-Modified", time_text(meta.last_modified)),
        ("Object-Type", dash(meta.object_type.as_deref())),
        ("Storage-Class", dash(meta.storage_class.as_deref())),
    ];
    if let Some(v) = &version {
        rows.push(("Version-Id", v.clone()));
    }
    let owned: Vec<(String, String)> = meta
        .user_metadata()
        .chain(
            SSE_HEADERS
                .iter()
                .filter_map(|h| Some((*h, meta.header(h)?))),
        )
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    rows.extend(owned.iter().map(|(n, v)| (n.as_str(), v.clone())));
    rows.extend(cse_rows(&cse));
    print_rows(out, &rows)
}

async fn bucket(client: &Client, out: &Output, name: &str) -> Result<()> {
    let info = client.bucket_info(name).await?.bucket;
    let stat = client.bucket_stat(name).await?;
    let created = parse_iso8601(&info.creation_date);
    let sse = &info.server_side_encryption_rule;
    let sse_text = match sse.sse_algorithm.as_str() {
        "" | "None" => "none".to_owned(),
        alg => match &sse.kms_master_key_id {
            Some(key) => format!("{alg} (key {key})"),
            None => alg.to_owned(),
        },
    };
    if out.json {
        return Ok(out.json(&json!({
            "url": format!("oss://{name}"),
            "name": info.name,
            "location": info.location,
            "creation_date": time_json(created),
            "storage_class": info.storage_class,
            "acl": info.access_control_list.grant,
            "data_redundancy_type": info.data_redundancy_type,
            "extranet_endpoint": info.extranet_endpoint,
            "intranet_endpoint": info.intranet_endpoint,
            "server_side_encryption": {
                "algorithm": sse.sse_algorithm,
                "kms_master_key_id": sse.kms_master_key_id,
                "kms_data_encryption": sse.kms_data_encryption,
            },
            "storage": stat.storage,
            "object_count": stat.object_count,
            "multipart_upload_count": stat.multipart_upload_count,
        }))?);
    }
    let rows = [
        ("Name", info.name.clone()),
        ("Location", info.location.clone()),
        ("CreationDate", time_text(created)),
        ("StorageClass", info.storage_class.clone()),
        ("ACL", info.access_control_list.grant.clone()),
        ("DataRedundancyType", info.data_redundancy_type.clone()),
        ("ExtranetEndpoint", info.extranet_endpoint.clone()),
        ("IntranetEndpoint", info.intranet_endpoint.clone()),
        ("ServerSideEncryption", sse_text),
        ("Storage", stat.storage.to_string()),
        ("ObjectCount", stat.object_count.to_string()),
        (
            "MultipartUploadCount",
            stat.multipart_upload_count.to_string(),
        ),
    ];
    print_rows(out, &rows)
}

fn print_rows(out: &Output, rows: &[(&str, String)]) -> Result<()> {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, value) in rows {
        let value = if value.is_empty() { "-" } else { value };
        out.line(format!("{name:<width$} : {value}"))?;
    }
    Ok(())
}

fn cse_json(cse: &ClientSide) -> Value {
    match cse {
        ClientSide::None => Value::Null,
        ClientSide::Invalid(e) => json!({ "error": e }),
        ClientSide::Encrypted {
            format,
            wrap_alg,
            fingerprint,
            keystore,
            kms_key_id,
            matdesc,
            plaintext_len,
        } => json!({
            "format": format,
            "wrap_alg": wrap_alg,
            "key_fingerprint": fingerprint,
            "key_in_keystore": keystore.as_ref().ok().map(|k| k.is_some()),
            "keystore_key": keystore.as_ref().ok().cloned().flatten(),
            "keystore_error": keystore.as_ref().err(),
            "kms_key_id": kms_key_id,
            "matdesc": matdesc,
            "plaintext_length": plaintext_len,
        }),
    }
}

fn cse_rows(cse: &ClientSide) -> Vec<(&'static str, String)> {
    match cse {
        ClientSide::None => vec![("Client-Side-Encryption", "none".into())],
        ClientSide::Invalid(e) => vec![("Client-Side-Encryption", format!("invalid: {e}"))],
        ClientSide::Encrypted {
            format,
            wrap_alg,
            fingerprint,
            keystore,
            kms_key_id,
            matdesc,
            plaintext_len,
        } => {
            let mut rows = vec![
                ("Client-Side-Encryption", format.clone()),
                ("CSE-Wrap-Alg", wrap_alg.clone()),
            ];
            let key = match (fingerprint, kms_key_id, keystore) {
                (_, Some(id), _) => format!("KMS key {id}"),
                (None, None, _) => {
                    "not recorded (written by an OSS SDK: any RSA key of the keystore is tried)"
                        .into()
                }
                (Some(fp), None, Ok(Some(k))) => format!("{fp} (in the keystore: {k})"),
                (Some(fp), None, Ok(None)) => format!("{fp} (not in the keystore)"),
                (Some(fp), None, Err(e)) => format!("{fp} (keystore unavailable: {e})"),
            };
            rows.push(("CSE-Key", key));
            if let Some(m) = matdesc {
                rows.push(("CSE-Matdesc", m.clone()));
            }
            if let Some(n) = plaintext_len {
                rows.push(("CSE-Plaintext-Length", n.to_string()));
            }
            rows
        }
    }
}

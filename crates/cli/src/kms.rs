//! `ossvault kms`: the embedded server's local KMS (customer master keys for SSE-KMS).
//!
//! Self-contained: `KmsArgs` is a clap `Args` with one subcommand per action, and [`run`]
//! prints text, or JSON with `--json`. Only ossvault's own server has this API.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ossvault_client::{Client, CreateKeyOptions, KeyMetadata};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Manage the server's KMS keys (CMKs) used by SSE-KMS.
#[derive(Debug, Args)]
pub struct KmsArgs {
    #[command(subcommand)]
    pub command: KmsCommand,
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Create a key (AES-256), enabled; with --byok it waits for imported material.
    Create {
        #[arg(long)]
        description: Option<String>,
        /// Bring your own key: Origin EXTERNAL, PendingImport until `kms import`.
        #[arg(long)]
        byok: bool,
    },
    /// List the keys with their states.
    Ls,
    /// Show a key.
    Describe { key_id: String },
    /// Enable a disabled key: what it protects is readable again.
    Enable { key_id: String },
    /// Disable a key: nothing it protects can be read or written until it is enabled.
    Disable { key_id: String },
    /// Schedule a key's deletion after a pending window; data under it is lost after that.
    ScheduleDelete {
        key_id: String,
        /// Pending window in days (7 to 366).
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Cancel a scheduled deletion.
    CancelDelete { key_id: String },
    /// Import 32 bytes of key material into a --byok key (wrapped here with RSA-OAEP-SHA256
    /// under the server's import key; the raw material never leaves this process).
    Import {
        key_id: String,
        /// File with the material: 32 raw bytes, or 64 hex digits.
        #[arg(long, value_name = "FILE")]
        material_file: PathBuf,
    },
    /// Rotate the SSE-OSS master key and re-wrap every data key onto it.
    RotateMaster,
}

fn metadata_json(m: &KeyMetadata) -> Value {
    json!({
        "KeyId": m.key_id,
        "Arn": m.arn,
        "KeyState": m.key_state,
        "CreationDate": m.creation_date,
        "Description": m.description,
        "KeyUsage": m.key_usage,
        "KeySpec": m.key_spec,
        "Origin": m.origin,
        "Creator": m.creator,
        "DeleteDate": m.delete_date,
        "ProtectionLevel": m.protection_level,
        "PrimaryKeyVersion": m.primary_key_version,
    })
}

fn metadata_text(m: &KeyMetadata) -> String {
    let mut rows = vec![
        ("KeyId", m.key_id.clone()),
        ("Arn", m.arn.clone()),
        ("KeyState", m.key_state.clone()),
        ("CreationDate", m.creation_date.clone()),
        ("Description", m.description.clone()),
        ("Origin", m.origin.clone()),
        ("KeySpec", m.key_spec.clone()),
        ("Creator", m.creator.clone()),
    ];
    if let Some(d) = &m.delete_date {
        rows.push(("DeleteDate", d.clone()));
    }
    rows.iter().map(|(k, v)| format!("{k:<13} {v}\n")).collect()
}

fn print(json: bool, value: Value, text: impl FnOnce() -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", text())?;
    }
    out.flush()?;
    Ok(())
}

/// 32 bytes of material: the file's raw bytes, or 64 hex digits (whitespace ignored).
fn read_material(path: &Path) -> Result<Vec<u8>> {
    let mut raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.len() == 32 {
        return Ok(raw);
    }
    let digits: String = String::from_utf8_lossy(&raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    wipe(&mut raw);
    let decoded = hex::decode(&digits).ok().filter(|b| b.len() == 32);
    let mut digits = digits.into_bytes();
    wipe(&mut digits);
    match decoded {
        Some(material) => Ok(material),
        None => bail!(
            "{} must hold 32 raw bytes or 64 hex digits (AES-256 key material)",
            path.display()
        ),
    }
}

/// Overwrites a secret before it is dropped.
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// Runs one `ossvault kms` subcommand against `client`'s endpoint.
pub async fn run(client: &Client, args: KmsArgs, json: bool) -> Result<()> {
    match args.command {
        KmsCommand::Create { description, byok } => {
            let m = client
                .create_key(&CreateKeyOptions {
                    description,
                    external: byok,
                })
                .await?;
            print(json, metadata_json(&m), || {
                let mut t = metadata_text(&m);
                if byok {
                    t.push_str(&format!(
                        "import its material with: ossvault kms import {} --material-file FILE\n",
                        m.key_id
                    ));
                }
                t
            })
        }
        KmsCommand::Ls => {
            let mut keys = Vec::new();
            for entry in client.all_keys().await? {
                keys.push(client.describe_key(&entry.key_id).await?);
            }
            print(
                json,
                Value::Array(keys.iter().map(metadata_json).collect()),
                || {
                    let mut t = format!(
                        "{:<36}  {:<15}  {:<20}  DESCRIPTION\n",
                        "KEY ID", "STATE", "CREATED"
                    );
                    for k in &keys {
                        t.push_str(&format!(
                            "{:<36}  {:<15}  {:<20}  {}\n",
                            k.key_id, k.key_state, k.creation_date, k.description
                        ));
                    }
                    t
                },
            )
        }
        KmsCommand::Describe { key_id } => {
            let m = client.describe_key(&key_id).await?;
            print(json, metadata_json(&m), || metadata_text(&m))
        }
        KmsCommand::Enable { key_id } => {
            client.enable_key(&key_id).await?;
            state_changed(client, &key_id, json).await
        }
        KmsCommand::Disable { key_id } => {
            client.disable_key(&key_id).await?;
            state_changed(client, &key_id, json).await
        }
        KmsCommand::ScheduleDelete { key_id, days } => {
            client.schedule_key_deletion(&key_id, days).await?;
            state_changed(client, &key_id, json).await
        }
        KmsCommand::CancelDelete { key_id } => {
            client.cancel_key_deletion(&key_id).await?;
            state_changed(client, &key_id, json).await
        }
        KmsCommand::Import {
            key_id,
            material_file,
        } => {
            let mut material = read_material(&material_file)?;
            let result = client.import_raw_key_material(&key_id, &material).await;
            wipe(&mut material);
            result?;
            state_changed(client, &key_id, json).await
        }
        KmsCommand::RotateMaster => {
            let r = client.rotate_master_key().await?;
            print(
                json,
                json!({
                    "Version": r.version,
                    "RewrappedObjects": r.rewrapped_objects,
                    "RewrappedUploads": r.rewrapped_uploads,
                }),
                || {
                    format!(
                        "SSE-OSS master key is now version {}; re-wrapped {} object(s) and {} upload(s)\n",
                        r.version, r.rewrapped_objects, r.rewrapped_uploads
                    )
                },
            )
        }
    }
}

/// Prints a key's state after a change.
async fn state_changed(client: &Client, key_id: &str, json: bool) -> Result<()> {
    let m = client.describe_key(key_id).await?;
    print(json, metadata_json(&m), || {
        let mut t = format!("{}: {}", m.key_id, m.key_state);
        if let Some(d) = &m.delete_date {
            t.push_str(&format!(" (deleted on {d})"));
        }
        t.push('\n');
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kms: KmsArgs,
    }

    #[test]
    fn arguments_parse() {
        let c = Cli::try_parse_from(["kms", "schedule-delete", "abc", "--days", "7"]).unwrap();
        assert!(matches!(
            c.kms.command,
            KmsCommand::ScheduleDelete { ref key_id, days: 7 } if key_id == "abc"
        ));
        let c = Cli::try_parse_from(["kms", "create", "--byok", "--description", "d"]).unwrap();
        assert!(matches!(
            c.kms.command,
            KmsCommand::Create { byok: true, .. }
        ));
        assert!(Cli::try_parse_from(["kms", "import", "abc"]).is_err());
        assert!(Cli::try_parse_from(["kms", "rotate-master"]).is_ok());
    }

    #[test]
    fn material_files_are_raw_or_hex() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [7u8; 32]).unwrap();
        assert_eq!(read_material(&raw).unwrap(), [7u8; 32]);
        let hexed = dir.path().join("hex");
        std::fs::write(&hexed, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
        assert_eq!(read_material(&hexed).unwrap(), [9u8; 32]);
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd").unwrap();
        assert!(read_material(&short).is_err());
    }
}

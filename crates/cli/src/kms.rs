//! `ossvault kms`: the embedded server's local KMS (customer master keys for SSE-KMS).
//!
//! Self-contained: `KmsArgs` is a clap `Args` with one subcommand per action, and [`run`]
//! prints text, or JSON with `--json`. Only ossvault's own server has this API.

use anyhow::Result;
use clap::{Args, Subcommand};
use ossvault_client::{Client, CreateKeyOptions, KeyMetadata};
use ossvault_ops::kms;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

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
            let keys = kms::list_keys(client).await?;
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
            let material = kms::read_key_material(&material_file)?;
            let m = kms::import_key_material(client, &key_id, &material).await?;
            print_state(&m, json)
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
    print_state(&client.describe_key(key_id).await?, json)
}

fn print_state(m: &KeyMetadata, json: bool) -> Result<()> {
    print(json, metadata_json(m), || {
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
}

//! `ossvault key`: master keys for client-side encryption (generate, import, export/restore
//! backups, list, public key, rename, delete, rotate), and `key rotate --rewrap`, which moves the
//! objects under a prefix to the key's new version by rewriting their wrapped content key with a
//! server-side CopyObject onto itself: the content is never downloaded nor uploaded again.

use crate::cse::{self, open_keystore};
use crate::output::{time_json, time_text, Output};
use crate::{KeyAction, KeyCommandArgs, KeyRotateArgs, KeyTypeArg};
use anyhow::{anyhow, bail, Context, Result};
use ossvault_client::transfer::CancellationToken;
use ossvault_keystore::{DeleteCheck, KeyInfo, KeyKind, Keystore};
use ossvault_ops::location::parse_bucket_url;
use ossvault_ops::rewrap::{self, RewrapEvent, RewrapTarget};
use ossvault_sync::PairStore;
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::SystemTime;
use zeroize::Zeroizing;

pub async fn run(args: KeyCommandArgs, out: &Output) -> Result<()> {
    let ks = open_keystore(&args.keystore)?;
    let ks_err = |e: ossvault_keystore::Error| anyhow!("{e}");
    match args.action {
        KeyAction::Gen { name, kind } => {
            let info = ks.generate(&name, kind.into()).map_err(ks_err)?;
            print_key(out, "generated", &info)
        }
        KeyAction::Import { name, file } => {
            let input = read_input(&file)?;
            let info = ks.import(&name, &input).map_err(ks_err)?;
            print_key(out, "imported", &info)
        }
        KeyAction::Export {
            name,
            out: file,
            passphrase_env,
        } => {
            let passphrase = passphrase(passphrase_env.as_deref(), true)?;
            let backup = ks.export_backup(&name, &passphrase).map_err(ks_err)?;
            write_new_private(&file, &backup)?;
            ks.record_export(&name).map_err(ks_err)?;
            if out.json {
                out.json(&json!({ "exported": name, "file": file.display().to_string() }))?;
            } else {
                out.line(format!(
                    "exported {name} (every version) to {}",
                    file.display()
                ))?;
            }
            Ok(())
        }
        KeyAction::Restore {
            file,
            name,
            passphrase_env,
        } => {
            let backup =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let passphrase = passphrase(passphrase_env.as_deref(), false)?;
            let info = ks
                .restore_backup_as(&backup, &passphrase, name.as_deref())
                .map_err(ks_err)?;
            print_key(out, "restored", &info)
        }
        KeyAction::Ls => list(&ks, out),
        KeyAction::Public { name } => {
            let pem = ks.public_key_pem(&name).map_err(ks_err)?;
            if out.json {
                out.json(&json!({ "name": name, "public_key_pem": pem }))?;
            } else {
                out.line(pem.trim_end())?;
            }
            Ok(())
        }
        KeyAction::Rm { name, force } => {
            ks.get(&name).map_err(ks_err)?;
            // A key a sync folder encrypts with is refused, even with --force.
            let pairs = PairStore::open_default()?.using_key(&name)?;
            let check = DeleteCheck {
                in_use_by_sync: !pairs.is_empty(),
                ..Default::default()
            };
            if check.in_use_by_sync {
                bail!(
                    "key {name} is used by the sync folder(s) {}: remove them first (ossvault \
                     sync rm NAME), or what they stored becomes unreadable",
                    pairs.join(", ")
                );
            }
            if !force {
                confirm_delete(&name)?;
            }
            // Which objects only this key opens is not known here: the user confirmed (or
            // forced) the deletion knowing that its objects become unreadable.
            ks.delete(&name, check, true).map_err(ks_err)?;
            if out.json {
                out.json(&json!({ "deleted": name }))?;
            } else {
                out.line(format!("deleted key {name}"))?;
            }
            Ok(())
        }
        KeyAction::Rename { old, new } => {
            let renamed = PairStore::open_default()?.rename_key(&ks, &old, &new)?;
            if out.json {
                let mut v = key_json(&renamed.key);
                v["action"] = json!("renamed");
                v["old_name"] = json!(old);
                v["sync_pairs"] = json!(renamed.pairs);
                out.json(&v)?;
            } else {
                out.line(format!(
                    "renamed key {old} to {new} (fingerprint {}, unchanged)",
                    renamed.key.fingerprint
                ))?;
                if !renamed.pairs.is_empty() {
                    out.line(format!(
                        "the sync folder(s) {} now use {new}",
                        renamed.pairs.join(", ")
                    ))?;
                }
            }
            Ok(())
        }
        KeyAction::Rotate(a) => rotate(&ks, a, out).await,
    }
}

impl From<KeyTypeArg> for KeyKind {
    fn from(k: KeyTypeArg) -> KeyKind {
        match k {
            KeyTypeArg::Aes256 => KeyKind::Aes256,
            KeyTypeArg::Rsa2048 => KeyKind::Rsa2048,
            KeyTypeArg::Rsa3072 => KeyKind::Rsa3072,
            KeyTypeArg::Rsa4096 => KeyKind::Rsa4096,
        }
    }
}

fn read_input(file: &PathBuf) -> Result<Zeroizing<Vec<u8>>> {
    let mut input = Zeroizing::new(Vec::new());
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut input)
            .context("cannot read the key from stdin")?;
    } else {
        let mut f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        f.read_to_end(&mut input)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    Ok(input)
}

/// A backup's passphrase: from the environment variable named, else asked (twice for a new
/// backup).
fn passphrase(env: Option<&str>, confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(var) = env {
        let value = std::env::var(var)
            .map_err(|_| anyhow!("--passphrase-env {var}: the variable is not set"))?;
        if value.is_empty() {
            bail!("--passphrase-env {var}: the variable is empty");
        }
        return Ok(Zeroizing::new(value));
    }
    let first = cse::prompt_secret("Backup passphrase: ")
        .context("a backup passphrase is needed: give --passphrase-env VAR or run on a terminal")?;
    if confirm {
        let again = cse::prompt_secret("Backup passphrase (again): ")?;
        if *again != *first {
            bail!("the passphrases differ");
        }
    }
    Ok(first)
}

/// Writes a new file, mode 0600, refusing to replace an existing one.
fn write_new_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = ossvault_fs::create_new_private(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn confirm_delete(name: &str) -> Result<()> {
    let warning = format!(
        "deleting key {name} makes every object it encrypted unreadable for good (export a \
         backup first: ossvault key export {name} --out FILE)"
    );
    if !std::io::stdin().is_terminal() {
        bail!("{warning}; add --force to delete it");
    }
    eprintln!("ossvault: {warning}.");
    eprint!("Type the key's name to delete it: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != name {
        bail!("not deleted");
    }
    Ok(())
}

fn key_json(info: &KeyInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "type": info.kind.to_string(),
        "fingerprint": info.fingerprint,
        "current_version": info.current_version,
        "versions": info.versions.iter().map(|v| json!({
            "version": v.version,
            "fingerprint": v.fingerprint,
            "created": time_json(Some(SystemTime::from(v.created))),
        })).collect::<Vec<_>>(),
        "created": time_json(Some(SystemTime::from(info.created))),
        "default": info.default,
    })
}

fn print_key(out: &Output, verb: &str, info: &KeyInfo) -> Result<()> {
    if out.json {
        let mut v = key_json(info);
        v["action"] = json!(verb);
        out.json(&v)?;
    } else {
        out.line(format!(
            "{verb} key {} ({}, v{}, fingerprint {})",
            info.name, info.kind, info.current_version, info.fingerprint
        ))?;
    }
    Ok(())
}

fn list(ks: &Keystore, out: &Output) -> Result<()> {
    let keys = ks.list().map_err(|e| anyhow!("{e}"))?;
    if out.json {
        for k in &keys {
            out.json(&key_json(k))?;
        }
        return Ok(());
    }
    if keys.is_empty() {
        out.line("no keys (ossvault key gen --name NAME, or key import / key restore)")?;
        return Ok(());
    }
    let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(4).max(4);
    out.line(format!(
        "{:<width$}  {:<8}  {:>7}  {:<16}  {:<23}  DEFAULT",
        "NAME", "TYPE", "VERSION", "FINGERPRINT", "CREATED"
    ))?;
    for k in &keys {
        out.line(format!(
            "{:<width$}  {:<8}  {:>7}  {:<16}  {:<23}  {}",
            k.name,
            k.kind.to_string(),
            format!("v{}", k.current_version),
            &k.fingerprint[..16.min(k.fingerprint.len())],
            time_text(Some(SystemTime::from(k.created))),
            if k.default { "*" } else { "" }
        ))?;
    }
    Ok(())
}

// ---- rotation ----

async fn rotate(ks: &Keystore, a: KeyRotateArgs, out: &Output) -> Result<()> {
    let url = a
        .rewrap
        .as_deref()
        .map(parse_bucket_url)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let target = url.as_ref().map(|u| RewrapTarget {
        bucket: &u.bucket,
        prefix: &u.key,
        jobs: a.jobs as usize,
    });
    let start = rewrap::start_rotation(ks, &a.name, target.as_ref(), !a.no_rotate)?;
    let info = &start.key;
    if start.resumed {
        out.line(format!(
            "resuming the interrupted rewrap of {url} to {}@v{}",
            info.name,
            info.current_version,
            url = a.rewrap.as_deref().unwrap_or_default()
        ))?;
    } else if start.rotated {
        if out.json {
            let mut v = key_json(info);
            v["action"] = json!("rotated");
            out.json(&v)?;
        } else {
            out.line(format!(
                "rotated key {}: new objects use v{} (fingerprint {}); older versions are kept to decrypt",
                info.name, info.current_version, info.fingerprint
            ))?;
        }
    }
    out.flush()?;
    let (Some(url), Some(target)) = (&url, &target) else {
        return Ok(());
    };
    let client = crate::connection::client(&a.conn)?;
    let (name, to) = (&info.name, info.current_version);
    let on_event = |event: RewrapEvent| match event {
        RewrapEvent::Rewrapped { key, from_version } => {
            if !out.json {
                let _ = out.line(format!(
                    "rewrap: {} ({name}@v{from_version} -> v{to})",
                    url.with_key(key)
                ));
                let _ = out.flush();
            }
        }
        RewrapEvent::Failed { key, error } => {
            out.warn(format!(
                "{}: {}",
                url.with_key(key),
                crate::output::render_error(&error.into())
            ));
        }
    };
    let counts = rewrap::rewrap(
        &client,
        ks,
        info,
        target,
        &on_event,
        &CancellationToken::new(),
    )
    .await?;
    let url = a.rewrap.as_deref().unwrap_or_default();
    if out.json {
        out.json(&json!({
            "operation": "rewrap",
            "url": url,
            "key": info.name,
            "version": info.current_version,
            "rewrapped": counts.rewrapped,
            "skipped": counts.skipped,
            "failed": counts.failed,
        }))?;
    } else {
        out.line(format!(
            "rewrap {url}: {} rewrapped, {} skipped, {} failed",
            counts.rewrapped, counts.skipped, counts.failed
        ))?;
    }
    if counts.failed > 0 {
        bail!(
            "{} objects could not be rewrapped; they are still readable with the older version: \
             run the same command again",
            counts.failed
        );
    }
    Ok(())
}

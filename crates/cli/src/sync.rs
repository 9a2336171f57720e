//! `ossvault sync …`: watched-folder sync. Parsing and printing only; the work is
//! `ossvault_sync`.

use crate::connection::ConnectionArgs;
use crate::output::Output;
use crate::KeystoreArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ossvault_ops::location::parse_oss;
use ossvault_sync::{Pair, PairStore, PairSync, PassReport, RunOptions, SyncEngine};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub keystore: KeystoreArgs,
    #[command(subcommand)]
    pub action: SyncAction,
}

#[derive(Subcommand)]
pub enum SyncAction {
    /// Pair a local folder with oss://bucket/prefix/: `sync add ~/Documents oss://b/docs/`.
    Add {
        /// The local folder (created if missing).
        local: PathBuf,
        /// oss://bucket/prefix/
        remote: String,
        /// Encrypt with this master key (a keystore key name, or kms:CMK_ID); none: plain.
        #[arg(long, value_name = "NAME|kms:ID")]
        key: Option<String>,
        /// upload (local → remote mirror), two-way, or download (remote → local mirror).
        #[arg(long, default_value = "upload")]
        mode: String,
        /// The pair's name [default: the folder's name].
        #[arg(long)]
        name: Option<String>,
        /// Refuse a pass that deletes more than this share of the files (0..1).
        #[arg(long, value_name = "SHARE")]
        max_delete_share: Option<f64>,
        /// Refuse a pass that deletes more than this many files.
        #[arg(long, value_name = "N")]
        max_delete_count: Option<u64>,
        /// Bytes per second, up and down together (e.g. 1048576).
        #[arg(long, value_name = "BYTES")]
        bandwidth_limit: Option<u64>,
        /// The connection (only --profile is recorded with the pair).
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// List the pairs.
    Ls,
    /// The state of a pair (or of every pair), as the process that syncs it reports it.
    Status { pair: Option<String> },
    /// Stop syncing a pair (a running `sync run --watch` pauses within seconds).
    Pause { pair: String },
    /// Sync a paused pair again.
    Resume { pair: String },
    /// Forget a pair (its index and checkpoints; the folder and the objects stay).
    Rm { pair: String },
    /// Sync one pair (or every pair that is not paused): one pass, or with --watch keep
    /// watching in the foreground.
    Run {
        pair: Option<String>,
        /// Keep watching the folder (and polling the remote side) until interrupted.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// The conflicts recorded (both versions were kept).
    Conflicts { pair: Option<String> },
    /// Restore a deleted or overwritten version from the trash.
    Restore {
        /// oss://bucket/prefix/path/of/file
        url: String,
        /// The newest version kept at or before this time (RFC 3339, or "YYYY-MM-DD HH:MM:SS" UTC).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Where to write it [default: its place in the pair's folder].
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
}

fn keystore_opener(ks: &KeystoreArgs) -> ossvault_ops::copy::KeystoreOpener {
    let ks = ks.clone();
    Arc::new(move || {
        crate::cse::open_keystore(&ks).map_err(|e| ossvault_ops::Error::InvalidInput(e.to_string()))
    })
}

fn connector(conn: &ConnectionArgs) -> ossvault_sync::Connector {
    let conn = conn.clone();
    Arc::new(move |pair: &Pair| {
        let mut settings = conn.settings();
        if settings.profile.is_none() {
            settings.profile = pair.profile.clone();
        }
        Ok(ossvault_ops::connection::client(&settings)?)
    })
}

pub async fn run(args: SyncArgs, out: &Output) -> Result<()> {
    let store = PairStore::open_default()?;
    match args.action {
        SyncAction::Add {
            local,
            remote,
            key,
            mode,
            name,
            max_delete_share,
            max_delete_count,
            bandwidth_limit,
            conn,
        } => {
            let url = parse_oss(&remote).map_err(anyhow::Error::msg)?;
            std::fs::create_dir_all(&local)
                .with_context(|| format!("cannot create {}", local.display()))?;
            let local = std::fs::canonicalize(&local)?;
            let name = match name {
                Some(n) => n,
                None => local
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("name the pair with --name")?
                    .to_owned(),
            };
            let mut pair = Pair::new(&name, local, &url.bucket, &url.key);
            pair.mode = mode.parse()?;
            pair.key = key;
            pair.profile = conn.profile.clone();
            pair.bandwidth_limit = bandwidth_limit;
            if let Some(s) = max_delete_share {
                pair.max_delete_share = s;
            }
            if let Some(c) = max_delete_count {
                pair.max_delete_count = c;
            }
            store.add(pair.clone())?;
            if out.json {
                out.json(&pair_json(&pair))?;
            } else {
                out.line(format!(
                    "pair {:?}: {} ⇄ {} ({}, {})",
                    pair.name,
                    pair.local.display(),
                    pair.remote_url(),
                    pair.mode,
                    pair.key
                        .as_deref()
                        .map(|k| format!("encrypted with {k}"))
                        .unwrap_or_else(|| "not encrypted".into())
                ))?;
            }
            Ok(())
        }
        SyncAction::Ls => {
            for p in store.list()? {
                if out.json {
                    out.json(&pair_json(&p))?;
                } else {
                    out.line(format!(
                        "{}\t{}\t{}\t{}\t{}{}",
                        p.name,
                        p.local.display(),
                        p.remote_url(),
                        p.mode,
                        p.key.as_deref().unwrap_or("-"),
                        if p.paused { "\tpaused" } else { "" }
                    ))?;
                }
            }
            Ok(())
        }
        SyncAction::Status { pair } => {
            let names = match pair {
                Some(p) => vec![p],
                None => store.list()?.into_iter().map(|p| p.name).collect(),
            };
            for n in names {
                let status = ossvault_sync::read_status(&store, &n)?;
                if out.json {
                    out.json(&serde_json::to_value(&status)?)?;
                } else {
                    out.line(format!("{n}: {}", status.summary()))?;
                    for (path, state) in &status.files {
                        out.line(format!("  {path}: {}", serde_json::to_value(state)?))?;
                    }
                }
            }
            Ok(())
        }
        SyncAction::Pause { pair } => set_paused(&store, out, &pair, true),
        SyncAction::Resume { pair } => set_paused(&store, out, &pair, false),
        SyncAction::Rm { pair } => {
            store.remove(&pair)?;
            if !out.json {
                out.line(format!(
                    "pair {pair:?} removed (the folder and the objects stay)"
                ))?;
            }
            Ok(())
        }
        SyncAction::Run { pair, watch, conn } => {
            let engine = SyncEngine::new(
                store.clone(),
                connector(&conn),
                keystore_opener(&args.keystore),
                RunOptions::default(),
            );
            let names: Vec<String> = match pair {
                Some(p) => vec![p],
                None => store
                    .list()?
                    .into_iter()
                    .filter(|p| !p.paused)
                    .map(|p| p.name)
                    .collect(),
            };
            if names.is_empty() {
                bail!(
                    "no pair to sync (add one with `ossvault sync add LOCAL oss://bucket/prefix/`)"
                );
            }
            if watch {
                watch_pairs(&engine, &names, out).await
            } else {
                let mut failed = false;
                for n in &names {
                    let sync = engine.open(n).await?;
                    let report = sync.run_once(4).await?;
                    print_report(out, n, &report)?;
                    failed |= !report.failed.is_empty() || report.refused_deletions.is_some();
                }
                if failed {
                    bail!("some files were not synced (see above); the next run retries them");
                }
                Ok(())
            }
        }
        SyncAction::Conflicts { pair } => {
            let names = match pair {
                Some(p) => vec![p],
                None => store.list()?.into_iter().map(|p| p.name).collect(),
            };
            for n in names {
                for c in ossvault_sync::conflicts(&store, &n)? {
                    if out.json {
                        out.json(&json!({"pair": n, "path": c.path, "copy": c.copy, "time_ms": c.time_ms}))?;
                    } else {
                        let when =
                            std::time::UNIX_EPOCH + std::time::Duration::from_millis(c.time_ms);
                        out.line(format!(
                            "{n}\t{}\t{} (the other version)\t{}",
                            c.path,
                            c.copy,
                            crate::output::time_text(Some(when))
                        ))?;
                    }
                }
            }
            Ok(())
        }
        SyncAction::Restore { url, at, to, conn } => {
            let url = parse_oss(&url).map_err(anyhow::Error::msg)?;
            let at = at
                .map(|t| ossvault_sync::restore::parse_time(&t))
                .transpose()?;
            let client = crate::connection::client(&conn)?;
            let pairs = store.list()?;
            let restored = ossvault_sync::restore::restore(
                &client,
                &keystore_opener(&args.keystore),
                &pairs,
                &url.bucket,
                &url.key,
                at,
                to.as_deref(),
            )
            .await?;
            if out.json {
                out.json(&json!({
                    "from": format!("oss://{}/{}", url.bucket, restored.version.key),
                    "version": restored.version.stamp,
                    "path": restored.path,
                    "bytes": restored.bytes,
                }))?;
            } else {
                out.line(format!(
                    "restored the version of {} replaced at {} to {} ({} bytes)",
                    url,
                    restored.version.stamp,
                    restored.path.display(),
                    restored.bytes
                ))?;
            }
            Ok(())
        }
    }
}

fn set_paused(store: &PairStore, out: &Output, name: &str, paused: bool) -> Result<()> {
    store.update(name, |p| p.paused = paused)?;
    if !out.json {
        out.line(format!(
            "pair {name:?} {}",
            if paused { "paused" } else { "resumed" }
        ))?;
    }
    Ok(())
}

fn pair_json(p: &Pair) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

fn print_report(out: &Output, name: &str, r: &PassReport) -> Result<()> {
    if out.json {
        let mut v = serde_json::to_value(r)?;
        v["pair"] = json!(name);
        out.json(&v)?;
        return Ok(());
    }
    out.line(format!(
        "{name}: {} uploaded, {} downloaded, {} moved, {} deleted remotely, {} deleted locally, {} conflicts, {} failed",
        r.uploaded,
        r.downloaded,
        r.renamed,
        r.deleted_remote,
        r.deleted_local,
        r.conflicts.len(),
        r.failed.len()
    ))?;
    for c in &r.conflicts {
        out.warn(format!(
            "conflict: both versions kept, the other one as {c}"
        ));
    }
    for (path, code, msg) in &r.failed {
        out.warn(format!("{path}: {msg} [{code}]"));
    }
    for (path, reason) in &r.skipped {
        out.warn(format!("not synced: {path}: {reason}"));
    }
    if let Some(refused) = &r.refused_deletions {
        out.warn(refused);
    }
    Ok(())
}

async fn watch_pairs(engine: &SyncEngine, names: &[String], out: &Output) -> Result<()> {
    let mut syncs: Vec<Arc<PairSync>> = Vec::new();
    for n in names {
        syncs.push(engine.start(n).await?);
    }
    let live = std::io::stderr().is_terminal() && !out.json;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(250));
    let mut last = String::new();
    // A pause, a resume or a removal made elsewhere (the app, another `sync` command) reaches
    // the running pairs at once.
    let follow = engine.follow_store(ossvault_sync::Follow::Started);
    let mut follow = std::pin::pin!(follow);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut follow => {}
            _ = ticker.tick() => {
                if syncs.iter().all(|s| engine.get(&s.pair().name).is_none()) {
                    out.warn("the pairs were removed (`sync rm`): nothing left to watch");
                    break;
                }
                let line = syncs
                    .iter()
                    .map(|s| { let st = s.status(); format!("{}: {}", st.pair, st.summary()) })
                    .collect::<Vec<_>>()
                    .join(" | ");
                if line != last {
                    if live {
                        let mut e = std::io::stderr();
                        let _ = write!(e, "\r\x1b[2K{line}");
                        let _ = e.flush();
                    } else if out.json {
                        for s in &syncs {
                            out.json(&serde_json::to_value(s.status())?)?;
                        }
                        out.flush()?;
                    } else {
                        out.line(&line)?;
                        out.flush()?;
                    }
                    last = line;
                }
            }
        }
    }
    if live {
        eprintln!();
    }
    drop(syncs);
    engine.stop_all().await;
    // A pair removed meanwhile: its index and checkpoints go now that this process lets go.
    for n in names {
        if engine.store().get(n).is_err() && !engine.clear_removed_state(n).await? {
            out.warn(format!(
                "the state of the removed pair {n:?} stays: it is still in use"
            ));
        }
    }
    Ok(())
}

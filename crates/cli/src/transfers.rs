//! `ossvault transfers`: the queue the desktop app shares (`ossvault_ops::transfers`): list
//! it, run what is unfinished in the foreground, clear what is finished.

use crate::connection::ConnectionArgs;
use crate::output::{Cancelled, Output};
use crate::units::human_bytes;
use crate::KeystoreArgs;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use ossvault_ops::connection::ConnectionSettings;
use ossvault_ops::transfers::{
    default_state_dir, stored_transfers, Direction, QueueSettings, TransferEvent, TransferInfo,
    TransferQueue, TransferState, ENV_TRANSFERS_DIR,
};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct TransfersArgs {
    /// The queue's directory [default: <data dir>/ossvault/transfers, the app's]
    #[arg(long, value_name = "DIR", env = ENV_TRANSFERS_DIR, global = true)]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub action: TransfersAction,
}

#[derive(Subcommand)]
pub enum TransfersAction {
    /// List the queued, running, paused and finished transfers.
    Ls,
    /// Run the unfinished transfers (queued, interrupted, paused) in the foreground until they
    /// are done (Ctrl-C stops them; they resume from their checkpoints next time). Each runs on the connection (profile)
    /// it was queued on; flags override its settings.
    Resume {
        #[command(flatten)]
        keystore: KeystoreArgs,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// Remove the finished transfers (completed, cancelled, failed) from the queue.
    Clear {
        #[command(flatten)]
        keystore: KeystoreArgs,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
}

pub async fn run(args: TransfersArgs, out: &Output) -> Result<()> {
    let dir = match args.state_dir {
        Some(d) => d,
        None => default_state_dir()?,
    };
    match args.action {
        TransfersAction::Ls => {
            for t in stored_transfers(&dir)? {
                print(out, &t)?;
            }
            Ok(())
        }
        TransfersAction::Resume { keystore, conn } => {
            let queue = open(dir, true, keystore, conn)?;
            for t in queue.list() {
                if t.state == TransferState::Paused {
                    queue.resume(t.id).await?;
                }
            }
            let unfinished = queue.list().iter().any(|t| t.state.is_active());
            if !unfinished {
                if !out.json {
                    out.line("nothing to resume")?;
                }
                return Ok(());
            }
            follow(&queue, out).await
        }
        TransfersAction::Clear { keystore, conn } => {
            let queue = open(dir, false, keystore, conn)?;
            let cleared = queue.clear_finished().await?;
            if out.json {
                out.json(&serde_json::json!({ "cleared": cleared }))?;
            } else {
                out.line(format!("{cleared} finished transfers cleared"))?;
            }
            Ok(())
        }
    }
}

fn open(
    dir: PathBuf,
    start: bool,
    keystore: KeystoreArgs,
    conn: ConnectionArgs,
) -> Result<TransferQueue> {
    let settings = QueueSettings {
        start,
        ..QueueSettings::new(dir)
    };
    // The transfer's own profile, unless --profile names another; without that profile, the
    // flags and the environment alone.
    let clients = Arc::new(move |name: &str| {
        let settings = conn.settings();
        if settings.profile.is_some() {
            return ossvault_ops::connection::client(&settings);
        }
        let named = ConnectionSettings {
            profile: Some(name.to_owned()),
            ..settings.clone()
        };
        match ossvault_ops::connection::client(&named) {
            Err(ossvault_ops::Error::NoSuchProfile(_)) => {
                ossvault_ops::connection::client(&settings)
            }
            other => other,
        }
    });
    let keystore = Arc::new(move || {
        crate::cse::open_keystore(&keystore)
            .map_err(|e| ossvault_ops::Error::InvalidInput(e.to_string()))
    });
    Ok(TransferQueue::open(settings, clients, keystore)?)
}

/// Runs the queue until it is idle: one progress line over every transfer, a line per
/// transfer as it ends.
async fn follow(queue: &TransferQueue, out: &Output) -> Result<()> {
    let mut events = queue.subscribe();
    let active: Vec<TransferInfo> = queue
        .list()
        .into_iter()
        .filter(|t| t.state.is_active())
        .collect();
    let total: u64 = active.iter().filter_map(|t| t.total).sum();
    let bar = out.bar(Some(total), format!("{} transfers", active.len()));
    let mut done: std::collections::HashMap<u64, u64> =
        active.iter().map(|t| (t.id, t.done)).collect();
    let (mut failed, mut finished) = (0u64, 0u64);
    let idle = queue.wait_idle();
    tokio::pin!(idle);
    loop {
        tokio::select! {
            _ = &mut idle => break,
            _ = tokio::signal::ctrl_c() => {
                queue.shutdown().await;
                bar.finish_and_clear();
                return Err(Cancelled.into());
            }
            event = events.recv() => match event {
                Ok(TransferEvent::Progress { id, done: d, .. }) => {
                    done.insert(id, d);
                }
                Ok(TransferEvent::Changed { transfer }) if transfer.state.is_finished() => {
                    done.insert(transfer.id, transfer.done);
                    finished += 1;
                    if matches!(transfer.state, TransferState::Failed { .. }) {
                        failed += 1;
                    }
                    print(out, &transfer)?;
                }
                _ => {}
            }
        }
        bar.set_position(done.values().sum());
        bar.set_message(format!("{finished} of {} transfers", active.len()));
    }
    bar.finish_and_clear();
    if failed > 0 {
        bail!("{failed} transfers failed (`ossvault transfers ls` shows why)");
    }
    Ok(())
}

fn print(out: &Output, t: &TransferInfo) -> Result<()> {
    if out.json {
        out.json(&serde_json::to_value(t)?)?;
        return Ok(());
    }
    let (state, why) = match &t.state {
        TransferState::Failed {
            code,
            message,
            request_id,
        } => {
            let id = request_id
                .as_ref()
                .map(|r| format!(" (request id {r})"))
                .unwrap_or_default();
            ("failed", format!(": {code}: {message}{id}"))
        }
        other => (
            match other {
                TransferState::Queued => "queued",
                TransferState::Running => "running",
                TransferState::Paused => "paused",
                TransferState::Completed => "completed",
                _ => "cancelled",
            },
            String::new(),
        ),
    };
    let remote = format!("oss://{}/{}", t.bucket, t.key);
    let local = t.local.display();
    let (verb, route) = match t.direction {
        Direction::Upload => ("upload", format!("{local} -> {remote}")),
        Direction::Download => ("download", format!("{remote} -> {local}")),
    };
    let size = match t.total {
        Some(total) => format!("{}/{}", human_bytes(t.done), human_bytes(total)),
        None => human_bytes(t.done),
    };
    out.line(format!(
        "{:>4} {state:<9} {verb}: {route} ({size}){why}",
        t.id
    ))?;
    Ok(())
}

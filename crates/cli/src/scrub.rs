//! `ossvault scrub`: check every stored object and quarantine what is damaged, offline on a
//! data directory no server holds, or online: the running server the connection reaches
//! scrubs itself (ossvault's admin API) and streams its progress back.

use crate::connection::{self, ConnectionArgs};
use crate::output::Output;
use crate::serve::RootSecretArgs;
use crate::units::{human_bytes, parse_size};
use anyhow::{bail, Context, Result};
use clap::Args;
use ossvault_server::scrub::{scrub_data_dir, ScrubOptions};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScrubArgs {
    /// Scrub this data directory of a stopped server (offline; a running server holds it
    /// locked). Without it, the server the connection reaches scrubs its own store (online).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Most bytes read per second, e.g. `100MiB`; 0 is unbounded [default: offline 0, online
    /// the server's --scrub-rate]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_rate: Option<u64>,
    /// Only report damage; do not mark the objects corrupt.
    #[arg(long)]
    no_quarantine: bool,
    /// Offline: the keys to check encrypted objects with.
    #[command(flatten)]
    root: RootSecretArgs,
    /// Online: the server to reach.
    #[command(flatten)]
    conn: ConnectionArgs,
}

pub async fn run(args: ScrubArgs, out: &Output) -> Result<()> {
    let report = match &args.data_dir {
        Some(data_dir) => {
            let root = args.root.read_existing(data_dir)?;
            if root.is_none() {
                out.warn("no root secret found: encrypted objects are listed as unchecked");
            }
            let options = ScrubOptions {
                max_bytes_per_sec: args.max_rate.unwrap_or(0),
                quarantine: !args.no_quarantine,
                ..Default::default()
            };
            scrub_data_dir(data_dir, root, &options)
                .with_context(|| format!("scrubbing {}", data_dir.display()))?
        }
        None => {
            let client = connection::client(&args.conn)?;
            let live = !out.json && std::io::stderr().is_terminal();
            let report = client
                .scrub(args.max_rate, !args.no_quarantine, |objects, bytes| {
                    if live {
                        eprint!("\rscrubbing: {objects} objects, {} ", human_bytes(bytes));
                    }
                })
                .await
                .context("scrubbing through the server")?;
            if live {
                eprintln!();
            }
            report
        }
    };
    if out.json {
        out.json(&json!(report))?;
    } else {
        out.line(format!(
            "checked {} objects, {} in {:.1} s ({}/s)",
            report.objects,
            human_bytes(report.bytes),
            report.seconds,
            human_bytes(report.bytes_per_sec as u64)
        ))?;
        for c in &report.corrupt {
            out.line(format!(
                "corrupt: oss://{}/{}: {}",
                c.bucket, c.key, c.detail
            ))?;
        }
        for u in &report.unchecked {
            out.line(format!(
                "unchecked: oss://{}/{}: {}",
                u.bucket, u.key, u.reason
            ))?;
        }
    }
    if !report.corrupt.is_empty() {
        bail!(
            "{} corrupt objects (quarantined: reads answer an error until they are overwritten or deleted)",
            report.corrupt.len()
        );
    }
    Ok(())
}

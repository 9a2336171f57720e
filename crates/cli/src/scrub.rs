//! `ossvault scrub`: check every stored object of a data directory (offline) and quarantine
//! what is damaged.

use crate::output::Output;
use crate::serve::RootSecretArgs;
use crate::units::{human_bytes, parse_size};
use anyhow::{bail, Context, Result};
use clap::Args;
use ossvault_server::scrub::{scrub_data_dir, ScrubOptions};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScrubArgs {
    /// The data directory of a server that is not running (a running server holds it locked
    /// and scrubs itself with `serve --scrub-interval`).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    root: RootSecretArgs,
    /// Most bytes read per second, e.g. `100MiB`; 0 is unbounded.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_size)]
    max_rate: u64,
    /// Only report damage; do not mark the objects corrupt.
    #[arg(long)]
    no_quarantine: bool,
}

pub fn run(args: ScrubArgs, out: &Output) -> Result<()> {
    let root = args.root.read_existing(&args.data_dir)?;
    if root.is_none() {
        out.warn("no root secret found: encrypted objects are listed as unchecked");
    }
    let options = ScrubOptions {
        max_bytes_per_sec: args.max_rate,
        quarantine: !args.no_quarantine,
        ..Default::default()
    };
    let report = scrub_data_dir(&args.data_dir, root, &options)
        .with_context(|| format!("scrubbing {}", args.data_dir.display()))?;
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

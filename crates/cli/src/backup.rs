//! `ossvault backup` and `ossvault restore`: a stopped server's data directory copied to a new
//! one, consistently (the copy is itself a data directory `serve` opens). A server running on
//! the directory holds it locked: the app, which embeds the server, backs up while serving
//! (`RunningServer::backup`); from the command line, stop `serve` first.

use crate::output::Output;
use crate::units::human_bytes;
use anyhow::{Context, Result};
use clap::Args;
use ossvault_server::store::Store;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct BackupArgs {
    /// The data directory to copy (no server may be running on it).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Where the copy goes: a new directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup (a directory made by `ossvault backup`).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The data directory to restore into: a new directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

pub fn backup(args: BackupArgs, out: &Output) -> Result<()> {
    copy(&args.data_dir, &args.out, out, "backed up")
}

pub fn restore(args: RestoreArgs, out: &Output) -> Result<()> {
    copy(&args.from, &args.data_dir, out, "restored")
}

fn copy(from: &std::path::Path, to: &std::path::Path, out: &Output, done: &str) -> Result<()> {
    anyhow::ensure!(
        from.join("meta.redb").is_file(),
        "{} holds no ossvault data",
        from.display()
    );
    let store = Store::open(from).with_context(|| format!("opening {}", from.display()))?;
    let report = store
        .backup(to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    if out.json {
        out.json(&json!({
            "from": from.display().to_string(),
            "to": to.display().to_string(),
            "objects": report.objects,
            "blobs": report.blobs,
            "blob_bytes": report.blob_bytes,
            "inline_blobs": report.inline_blobs,
            "inline_bytes": report.inline_bytes,
        }))?;
    } else {
        out.line(format!(
            "{done} {} objects ({} blob files, {}; {} inline, {}) from {} to {}",
            report.objects,
            report.blobs,
            human_bytes(report.blob_bytes),
            report.inline_blobs,
            human_bytes(report.inline_bytes),
            from.display(),
            to.display()
        ))?;
        out.warn(
            "the root secret is not in the copy: keep <data-dir>.root-key (or OSSVAULT_ROOT_SECRET) \
             apart, and give it to the server you start on the copy",
        );
    }
    Ok(())
}

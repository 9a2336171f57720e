//! `ossvault du`: how many objects and bytes under a prefix, in all and per storage class.

use crate::output::Output;
use crate::units::human_bytes;
use crate::DuArgs;
use anyhow::{anyhow, Result};
use futures_util::StreamExt;
use ossvault_client::{Client, ListRequest};
use ossvault_ops::location::parse_bucket_url;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Default, Clone, Copy)]
struct Usage {
    objects: u64,
    bytes: u64,
}

pub async fn run(client: &Client, out: &Output, args: &DuArgs) -> Result<()> {
    let url = parse_bucket_url(&args.url).map_err(|e| anyhow!(e))?;
    let request = ListRequest {
        prefix: url.key.clone(),
        ..Default::default()
    };
    let bar = out.counter(format!("counting {url}"));
    let mut total = Usage::default();
    let mut classes: BTreeMap<String, Usage> = BTreeMap::new();
    let mut pages = Box::pin(client.list_pages(&url.bucket, request));
    while let Some(page) = pages.next().await {
        for o in page?.objects {
            let class = classes.entry(o.storage_class).or_default();
            class.objects += 1;
            class.bytes += o.size;
            total.objects += 1;
            total.bytes += o.size;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if out.json {
        let per_class: serde_json::Map<String, serde_json::Value> = classes
            .iter()
            .map(|(c, u)| (c.clone(), json!({ "objects": u.objects, "bytes": u.bytes })))
            .collect();
        out.json(&json!({
            "url": url.to_string(),
            "objects": total.objects,
            "bytes": total.bytes,
            "storage_classes": per_class,
        }))?;
        return Ok(());
    }
    out.line(format!(
        "{:<16}{:>16}{:>20}",
        "StorageClass", "Objects", "Bytes"
    ))?;
    for (class, u) in &classes {
        out.line(format!("{class:<16}{:>16}{:>20}", u.objects, u.bytes))?;
    }
    out.line(format!(
        "{:<16}{:>16}{:>20}",
        "total", total.objects, total.bytes
    ))?;
    out.line(format!(
        "\n{url}: {} objects, {} bytes ({})",
        total.objects,
        total.bytes,
        human_bytes(total.bytes)
    ))?;
    Ok(())
}

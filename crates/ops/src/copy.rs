//! Server-side copies: what an object's copy keeps of its metadata.

use ossvault_client::{ObjectMeta, PutOptions};

/// The metadata a copy keeps (user metadata and content headers), as write options.
pub fn carried_metadata(meta: &ObjectMeta) -> PutOptions {
    const KEPT: [&str; 4] = [
        "cache-control",
        "content-disposition",
        "content-encoding",
        "expires",
    ];
    let headers = meta
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-oss-meta-") || KEPT.contains(&n.as_str()))
        .cloned()
        .collect();
    PutOptions {
        content_type: meta.content_type.clone(),
        headers,
        ..Default::default()
    }
}

//! Deleting many objects: everything under a prefix (listed and deleted page by page, in
//! batches of at most 1000 keys, so memory does not grow with the prefix), and the unfinished
//! multipart uploads under one; together they empty a bucket.

use crate::error::Result;
use futures_util::StreamExt;
use ossvault_client::transfer::CancellationToken;
use ossvault_client::{Client, ListRequest, VersionListRequest};
use ossvault_proto::limits::MAX_DELETE_KEYS;

/// What a prefix deletion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteSummary {
    pub deleted: u64,
    /// Listed keys the service did not report deleted (a policy refusing them, a race).
    pub not_deleted: u64,
}

/// Deletes every object under `prefix` as the listing pages arrive. `on_deleted` hears each
/// batch's count as it is deleted. Cancelling stops before the next batch.
pub async fn delete_prefix(
    client: &Client,
    bucket: &str,
    prefix: &str,
    on_deleted: &(dyn Fn(u64) + Sync),
    cancel: &CancellationToken,
) -> Result<DeleteSummary> {
    let request = ListRequest {
        prefix: prefix.to_owned(),
        ..Default::default()
    };
    let mut pages = Box::pin(client.list_pages(bucket, request));
    let mut summary = DeleteSummary::default();
    while let Some(page) = pages.next().await {
        let keys: Vec<String> = page?.objects.into_iter().map(|o| o.key).collect();
        // A page holds at most 1000 keys, the most one DeleteObjects takes.
        for batch in keys.chunks(MAX_DELETE_KEYS) {
            if cancel.is_cancelled() {
                return Err(crate::Error::Cancelled);
            }
            let done = client.delete_objects(bucket, batch).await?;
            summary.deleted += done.len() as u64;
            summary.not_deleted += (batch.len() - done.len().min(batch.len())) as u64;
            on_deleted(done.len() as u64);
        }
    }
    Ok(summary)
}

/// Deletes these objects (in batches of 1000) and everything under these prefixes; returns
/// the summary of both.
pub async fn delete_selection(
    client: &Client,
    bucket: &str,
    keys: &[String],
    prefixes: &[String],
) -> Result<DeleteSummary> {
    let never = CancellationToken::new();
    let mut summary = DeleteSummary::default();
    for batch in keys.chunks(MAX_DELETE_KEYS) {
        let done = client.delete_objects(bucket, batch).await?;
        summary.deleted += done.len() as u64;
        summary.not_deleted += (batch.len() - done.len().min(batch.len())) as u64;
    }
    for prefix in prefixes {
        let s = delete_prefix(client, bucket, prefix, &|_| {}, &never).await?;
        summary.deleted += s.deleted;
        summary.not_deleted += s.not_deleted;
    }
    Ok(summary)
}

/// Deletes every version and delete marker of the keys under `prefix` (of the key `prefix`
/// alone when `exact`), in batches of 1000; returns how many went. What a versioned bucket
/// keeps after its objects are deleted.
pub async fn delete_all_versions(
    client: &Client,
    bucket: &str,
    prefix: &str,
    exact: bool,
) -> Result<u64> {
    let mut removed = 0u64;
    loop {
        // Listed again from the start after each batch: what was deleted is gone from it.
        let page = client
            .list_object_versions(
                bucket,
                &VersionListRequest {
                    prefix: prefix.to_owned(),
                    max_keys: Some(MAX_DELETE_KEYS as u32),
                    ..Default::default()
                },
            )
            .await?;
        let batch: Vec<(String, Option<String>)> = page
            .versions
            .into_iter()
            .filter(|v| !exact || v.key == prefix)
            .map(|v| (v.key, Some(v.version_id)))
            .collect();
        if batch.is_empty() {
            return Ok(removed);
        }
        let done = client.delete_object_versions(bucket, &batch).await?;
        removed += done.len() as u64;
        if page.next.is_none() && (exact || batch.len() < MAX_DELETE_KEYS) {
            return Ok(removed);
        }
    }
}

/// Aborts every unfinished multipart upload under `prefix`; returns how many.
pub async fn abort_uploads(client: &Client, bucket: &str, prefix: &str) -> Result<u64> {
    let mut aborted = 0;
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let (uploads, next) = client
            .list_multipart_uploads(bucket, prefix, &key_marker, &id_marker)
            .await?;
        for upload in uploads {
            client
                .abort_multipart(bucket, &upload.key, &upload.upload_id)
                .await?;
            aborted += 1;
        }
        match next {
            Some((k, u)) => (key_marker, id_marker) = (k, u),
            None => return Ok(aborted),
        }
    }
}

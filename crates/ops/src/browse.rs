//! One page of a bucket's listing, as an object browser shows it: the "folders" (common
//! prefixes under `/`) and the objects of one level, at most 1000 per page, so that a browser
//! holds only the pages it shows, however many objects a prefix has.

use crate::error::Result;
use ossvault_client::{Client, ListRequest};
use serde::Serialize;

/// An object of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRow {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// RFC 3339.
    pub last_modified: Option<String>,
    pub storage_class: String,
}

/// One page of one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPage {
    /// Common prefixes, each ending in `/`.
    pub folders: Vec<String>,
    pub objects: Vec<ObjectRow>,
    /// Pass back for the next page; `None` on the last.
    pub next_token: Option<String>,
}

/// The page of `prefix` (a folder ending in `/`, optionally followed by the start of names to
/// filter on) after `token`; `max` entries at most (1..=1000).
pub async fn page(
    client: &Client,
    bucket: &str,
    prefix: &str,
    token: Option<String>,
    max: u32,
) -> Result<ObjectPage> {
    let request = ListRequest {
        prefix: prefix.to_owned(),
        delimiter: "/".to_owned(),
        continuation_token: token,
        max_keys: Some(max.clamp(1, 1000)),
        ..Default::default()
    };
    let page = client.list_objects(bucket, &request).await?;
    Ok(ObjectPage {
        folders: page.prefixes,
        objects: page
            .objects
            .into_iter()
            // The folder's own marker object ("photos/") is the folder, not a row in it.
            .filter(|o| o.key != prefix || !prefix.ends_with('/'))
            .map(|o| ObjectRow {
                last_modified: o.last_modified.map(crate::properties::rfc3339),
                key: o.key,
                size: o.size,
                etag: o.etag,
                storage_class: o.storage_class,
            })
            .collect(),
        next_token: page.next_token,
    })
}

/// Makes an empty "folder" object `prefix/` (OSS has no folders; consoles make these).
pub async fn create_folder(client: &Client, bucket: &str, folder: &str) -> Result<String> {
    let name = folder.trim_matches('/');
    if name.is_empty() {
        return Err(crate::Error::InvalidInput(
            "the folder name is empty".into(),
        ));
    }
    let key = format!("{name}/");
    client
        .put_object(
            bucket,
            &key,
            ossvault_client::RequestBody::Empty,
            &Default::default(),
        )
        .await?;
    Ok(key)
}

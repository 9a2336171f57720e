//! Versioning: a bucket's versioning state, ListObjectVersions as pages or a stream, and
//! deleting many versions at once. Reads, deletes and copies of one version are the
//! `*_version` methods beside their plain forms in `ops`.

use crate::error::Error;
use crate::ops::{decode, DeletedVersion};
use crate::request::{read_xml, Client, Op, RequestBody};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::Method;
use md5::{Digest, Md5};
use ossvault_proto::headers;
use ossvault_proto::limits::MAX_LIST_PAGE;
use ossvault_proto::time::parse_iso8601;
use ossvault_proto::xml::{
    self, Delete, DeleteObjectEntry, DeleteResult, ListVersionsResult, VersionListing,
    VersioningConfiguration,
};
use std::time::SystemTime;

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    /// As OSS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }

    /// Parses `Enabled` / `Suspended` (any case, as typed on a command line).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "enabled" => Some(VersioningStatus::Enabled),
            "suspended" => Some(VersioningStatus::Suspended),
            _ => None,
        }
    }
}

/// One version or delete marker of a listing, key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersionEntry {
    pub key: String,
    /// `null` for the null version.
    pub version_id: String,
    /// The key's newest version.
    pub is_latest: bool,
    pub delete_marker: bool,
    /// 0 for a delete marker.
    pub size: u64,
    /// Empty for a delete marker.
    pub etag: String,
    pub last_modified: Option<SystemTime>,
    /// Empty for a delete marker.
    pub storage_class: String,
}

/// Parameters of a ListObjectVersions listing.
#[derive(Debug, Clone, Default)]
pub struct VersionListRequest {
    pub prefix: String,
    pub delimiter: String,
    pub key_marker: String,
    /// With `key_marker`: start at that key's versions older than this one.
    pub version_id_marker: String,
    /// 1..=1000; default 1000.
    pub max_keys: Option<u32>,
}

/// One page of ListObjectVersions, decoded: keys ascending, each key's versions newest first,
/// versions and delete markers in one list as OSS orders them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionPage {
    pub versions: Vec<ObjectVersionEntry>,
    pub prefixes: Vec<String>,
    /// Pass back (as `key_marker`, `version_id_marker`) for the next page; `None` on the last.
    pub next: Option<(String, String)>,
}

impl Client {
    /// GetBucketVersioning: `None` for a bucket never versioned.
    pub async fn bucket_versioning(&self, bucket: &str) -> Result<Option<VersioningStatus>, Error> {
        let op = Op::new(Method::GET, Some(bucket), None).query("versioning", "");
        let config: VersioningConfiguration = read_xml(self.send(op).await?.response).await?;
        match config.status.as_deref() {
            None => Ok(None),
            Some(s) => VersioningStatus::parse(s)
                .map(Some)
                .ok_or_else(|| Error::InvalidResponse(format!("unknown versioning status {s:?}"))),
        }
    }

    /// PutBucketVersioning. A bucket once versioned can only be Suspended, never unversioned.
    pub async fn set_bucket_versioning(
        &self,
        bucket: &str,
        status: VersioningStatus,
    ) -> Result<(), Error> {
        let body = xml::to_xml(
            "VersioningConfiguration",
            &VersioningConfiguration {
                status: Some(status.as_str().to_owned()),
            },
        );
        let op = Op::new(Method::PUT, Some(bucket), None)
            .query("versioning", "")
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(body)))
            .idempotent(true);
        self.send(op).await?;
        Ok(())
    }

    /// One page of ListObjectVersions (keys URL-encoded on the wire, decoded here).
    pub async fn list_object_versions(
        &self,
        bucket: &str,
        req: &VersionListRequest,
    ) -> Result<VersionPage, Error> {
        let mut op = Op::new(Method::GET, Some(bucket), None)
            .query("versions", "")
            .query("encoding-type", "url")
            .query(
                "max-keys",
                req.max_keys.unwrap_or(MAX_LIST_PAGE as u32).to_string(),
            );
        for (name, value) in [
            ("prefix", &req.prefix),
            ("delimiter", &req.delimiter),
            ("key-marker", &req.key_marker),
            ("version-id-marker", &req.version_id_marker),
        ] {
            if !value.is_empty() {
                op = op.query(name, value.as_str());
            }
        }
        let result: ListVersionsResult = read_xml(self.send(op).await?.response).await?;
        let url = result.encoding_type.as_deref() == Some("url");
        // In listing order (keys ascending, each key's versions newest first), versions and
        // delete markers interleaved as the service writes them.
        let mut versions = Vec::with_capacity(result.entries.len());
        for entry in result.entries {
            versions.push(match entry {
                VersionListing::Version(v) => ObjectVersionEntry {
                    key: decode(&v.key, url)?,
                    version_id: v.version_id,
                    is_latest: v.is_latest,
                    delete_marker: false,
                    size: v.size,
                    etag: v.etag,
                    last_modified: parse_iso8601(&v.last_modified),
                    storage_class: v.storage_class,
                },
                VersionListing::DeleteMarker(m) => ObjectVersionEntry {
                    key: decode(&m.key, url)?,
                    version_id: m.version_id,
                    is_latest: m.is_latest,
                    delete_marker: true,
                    size: 0,
                    etag: String::new(),
                    last_modified: parse_iso8601(&m.last_modified),
                    storage_class: String::new(),
                },
            });
        }
        let next = if result.is_truncated {
            match result.next_key_marker {
                Some(k) => Some((
                    decode(&k, url)?,
                    result.next_version_id_marker.unwrap_or_default(),
                )),
                None => {
                    return Err(Error::InvalidResponse(
                        "a truncated version listing without NextKeyMarker".into(),
                    ))
                }
            }
        } else {
            None
        };
        Ok(VersionPage {
            versions,
            prefixes: result
                .common_prefixes
                .iter()
                .map(|p| decode(&p.prefix, url))
                .collect::<Result<_, _>>()?,
            next,
        })
    }

    /// Every page of a version listing, fetched as the stream is polled.
    pub fn version_pages(
        &self,
        bucket: &str,
        req: VersionListRequest,
    ) -> impl Stream<Item = Result<VersionPage, Error>> + '_ {
        let bucket = bucket.to_owned();
        crate::ops::paged(req, move |req: VersionListRequest| {
            let bucket = bucket.clone();
            async move {
                let page = self.list_object_versions(&bucket, &req).await?;
                let next =
                    page.next
                        .clone()
                        .map(|(key_marker, version_id_marker)| VersionListRequest {
                            key_marker,
                            version_id_marker,
                            ..req
                        });
                Ok((page, next))
            }
        })
    }

    /// The versions of exactly `key` (delete markers included), newest first: what a
    /// "versions" panel shows for one object.
    pub async fn key_versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<ObjectVersionEntry>, Error> {
        let mut out = Vec::new();
        let pages = self.version_pages(
            bucket,
            VersionListRequest {
                prefix: key.to_owned(),
                ..Default::default()
            },
        );
        let mut pages = std::pin::pin!(pages);
        while let Some(page) = pages.next().await {
            let page = page?;
            let past = page.versions.iter().any(|v| v.key.as_str() > key);
            out.extend(page.versions.into_iter().filter(|v| v.key == key));
            if past {
                break;
            }
        }
        Ok(out)
    }

    /// Deletes up to 1000 (key, version) pairs in one request (a `None` version adds a delete
    /// marker on a versioned bucket); returns what each deleted.
    pub async fn delete_object_versions(
        &self,
        bucket: &str,
        items: &[(String, Option<String>)],
    ) -> Result<Vec<DeletedVersion>, Error> {
        let request = Delete {
            quiet: Some(false),
            object: items
                .iter()
                .map(|(key, version_id)| DeleteObjectEntry {
                    key: key.clone(),
                    version_id: version_id.clone(),
                })
                .collect(),
        };
        let body = Bytes::from(xml::to_xml("Delete", &request));
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        let op = Op::new(Method::POST, Some(bucket), None)
            .query("delete", "")
            .query("encoding-type", "url")
            .header(headers::CONTENT_MD5, &md5)?
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(body))
            .idempotent(true);
        let result: DeleteResult = read_xml(self.send(op).await?.response).await?;
        let url = result.encoding_type.as_deref() == Some("url");
        if let Some(e) = result.error.first() {
            return Err(Error::InvalidResponse(format!(
                "{} of the versions were not deleted; the first, {}: {} {}",
                result.error.len(),
                decode(&e.key, url)?,
                e.code,
                e.message
            )));
        }
        result
            .deleted
            .into_iter()
            .map(|d| {
                Ok(DeletedVersion {
                    key: decode(&d.key, url)?,
                    delete_marker: d.delete_marker == Some(true),
                    version_id: d.version_id.or(d.delete_marker_version_id),
                })
            })
            .collect()
    }
}

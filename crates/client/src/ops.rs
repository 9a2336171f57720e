//! Every single-request OSS operation, typed.

use crate::error::Error;
use crate::request::{read_xml, Client, Op, RequestBody};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method};
use md5::{Digest, Md5};
use ossvault_proto::encode;
use ossvault_proto::encode::percent_decode;
use ossvault_proto::headers::{self, SYMLINK_TARGET};
use ossvault_proto::limits::MAX_LIST_PAGE;
use ossvault_proto::range::RangeSpec;
use ossvault_proto::time::{parse_http_date, parse_iso8601};
use ossvault_proto::xml::{
    self, AccessControlPolicy, BucketInfo, BucketStat, BucketSummary, CompleteMultipartUpload,
    CompleteMultipartUploadResult, CompletePart, CopyObjectResult, CopyPartResult, Delete,
    DeleteObjectEntry, DeleteResult, InitiateMultipartUploadResult, ListAllMyBucketsResult,
    ListBucketResultV2, ListMultipartUploadsResult, ListPartsResult, PartSummary,
    ServerSideEncryptionRule, UploadSummary,
};
use std::time::SystemTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Every listing asks for the largest page OSS gives.
const LIST_PAGE: u32 = MAX_LIST_PAGE as u32;

/// Options of a write (PutObject, InitiateMultipartUpload, AppendObject, CopyObject REPLACE).
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    /// Other headers to store: `x-oss-meta-*`, `Cache-Control`, `Content-Disposition`, SSE…
    pub headers: Vec<(String, String)>,
    /// Send `Content-MD5` (computed here; only for in-memory bodies).
    pub content_md5: bool,
    /// Fail with FileAlreadyExists rather than replace an existing object.
    pub forbid_overwrite: bool,
}

impl PutOptions {
    fn apply<'a>(&self, mut op: Op<'a>) -> Result<Op<'a>, Error> {
        if let Some(ct) = &self.content_type {
            op = op.header(headers::CONTENT_TYPE, ct)?;
        }
        for (name, value) in &self.headers {
            op = op.header(name, value)?;
        }
        if self.forbid_overwrite {
            op = op.header(headers::FORBID_OVERWRITE, "true")?;
        }
        if self.content_md5 {
            if let RequestBody::Bytes(b) = &op.body {
                let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b));
                op = op.header(headers::CONTENT_MD5, &md5)?;
            }
        }
        Ok(op)
    }
}

/// The answer to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub etag: String,
    pub crc64: Option<u64>,
    pub request_id: String,
    /// `x-oss-server-side-encryption` of the stored object (`AES256`, `KMS`), if encrypted.
    pub server_side_encryption: Option<String>,
    /// `x-oss-server-side-encryption-key-id`: the CMK of an SSE-KMS object.
    pub sse_key_id: Option<String>,
    /// `x-oss-version-id`: the version written, on a versioned bucket (`null` on a Suspended
    /// one); `None` on a bucket never versioned.
    pub version_id: Option<String>,
}

/// An object's metadata, from HEAD or GET.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    /// The whole object's size (from Content-Range on ranged answers).
    pub size: u64,
    pub etag: String,
    /// The whole object's CRC-64, when the answer carried it.
    pub crc64: Option<u64>,
    pub last_modified: Option<SystemTime>,
    pub content_type: Option<String>,
    pub object_type: Option<String>,
    pub storage_class: Option<String>,
    /// Every response header, names lowercase (user metadata, SSE, Content-*…).
    pub headers: Vec<(String, String)>,
}

impl ObjectMeta {
    fn from_headers(h: &HeaderMap) -> Self {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let size = get("content-range")
            .and_then(|r| r.rsplit('/').next().and_then(|t| t.parse().ok()))
            .or_else(|| get("content-length").and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        ObjectMeta {
            size,
            etag: get("etag").unwrap_or_default(),
            crc64: get(headers::HASH_CRC64).and_then(|v| v.parse().ok()),
            last_modified: get("last-modified").and_then(|v| parse_http_date(&v)),
            content_type: get(headers::CONTENT_TYPE),
            object_type: get(headers::OBJECT_TYPE),
            storage_class: get(headers::STORAGE_CLASS),
            headers: h
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        }
    }

    /// A response header by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `x-oss-meta-*` headers.
    pub fn user_metadata(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.starts_with(headers::META_PREFIX))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// One object of a listing, key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: Option<SystemTime>,
    pub storage_class: String,
    pub object_type: String,
}

/// One page of a ListObjectsV2 listing, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectEntry>,
    /// Common prefixes ("folders"), when a delimiter was given.
    pub prefixes: Vec<String>,
    /// Pass back to get the next page; `None` on the last.
    pub next_token: Option<String>,
    /// ossvault's own server only: the bucket's listing token
    /// (`ossvault_proto::headers::LISTING_TOKEN`); equal tokens, unchanged listings.
    pub listing_token: Option<String>,
}

/// Parameters of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: String,
    pub start_after: String,
    pub continuation_token: Option<String>,
    /// 1..=1000; default 1000.
    pub max_keys: Option<u32>,
}

/// An uploaded part, as Complete wants it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartInfo {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    pub crc64: Option<u64>,
}

/// The answer to CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteResult {
    pub etag: String,
    pub crc64: Option<u64>,
}

/// The pages of a listing as a stream, each fetched when the stream is polled: `fetch` answers
/// one request with its page and the request of the page after it (`None`: the last).
pub(crate) fn paged<'a, R, P, Fut>(
    first: R,
    fetch: impl FnMut(R) -> Fut + 'a,
) -> impl Stream<Item = Result<P, Error>> + 'a
where
    R: 'a,
    P: 'a,
    Fut: std::future::Future<Output = Result<(P, Option<R>), Error>> + 'a,
{
    futures_util::stream::unfold((Some(first), fetch), |(request, mut fetch)| async move {
        match fetch(request?).await {
            Ok((page, next)) => Some((Ok(page), (next, fetch))),
            Err(e) => Some((Err(e), (None, fetch))),
        }
    })
}

/// A CopyObject request of `src_bucket/src_key` (that version of it, if given) onto
/// `bucket/key`.
fn copy_op<'a>(
    src_bucket: &str,
    src_key: &str,
    src_version_id: Option<&str>,
    bucket: &'a str,
    key: &'a str,
) -> Result<Op<'a>, Error> {
    let mut source = format!(
        "/{src_bucket}/{}",
        ossvault_proto::encode::uri_encode(src_key)
    );
    if let Some(v) = src_version_id {
        source.push_str("?versionId=");
        source.push_str(&ossvault_proto::encode::uri_encode(v));
    }
    Op::new(Method::PUT, Some(bucket), Some(key)).header(headers::COPY_SOURCE, &source)
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn crc_header(h: &HeaderMap) -> Option<u64> {
    header_str(h, headers::HASH_CRC64).and_then(|v| v.parse().ok())
}

/// Checks the service's CRC of an upload against the CRC of the bytes sent.
fn check_upload_crc(what: &str, h: &HeaderMap, sent: u64) -> Result<Option<u64>, Error> {
    match crc_header(h) {
        Some(crc) if crc != sent => Err(Error::Crc {
            what: what.to_owned(),
            expected: sent,
            actual: crc,
        }),
        other => Ok(other),
    }
}

/// Adds `versionId` to a request when one is given.
pub(crate) fn with_version<'a>(op: Op<'a>, version_id: Option<&str>) -> Op<'a> {
    match version_id {
        Some(v) => op.query("versionId", v),
        None => op,
    }
}

/// What a DeleteObject (or one entry of a multiple delete) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedVersion {
    pub key: String,
    /// The version removed, or the delete marker added (`x-oss-version-id`); `None` for a
    /// plain delete on a bucket never versioned.
    pub version_id: Option<String>,
    /// A delete marker was added or removed.
    pub delete_marker: bool,
}

pub(crate) fn decode(s: &str, url: bool) -> Result<String, Error> {
    if url {
        percent_decode(s)
            .ok_or_else(|| Error::InvalidResponse(format!("bad URL encoding in {s:?}")))
    } else {
        Ok(s.to_owned())
    }
}

impl Client {
    // ---- service and buckets ----

    /// One page of ListBuckets.
    pub async fn list_buckets(
        &self,
        prefix: &str,
        marker: &str,
        max: u32,
    ) -> Result<ListAllMyBucketsResult, Error> {
        let mut op = Op::new(Method::GET, None, None).query("max-keys", max.to_string());
        if !prefix.is_empty() {
            op = op.query("prefix", prefix);
        }
        if !marker.is_empty() {
            op = op.query("marker", marker);
        }
        read_xml(self.send(op).await?.response).await
    }

    /// Every bucket (pages through ListBuckets).
    pub async fn all_buckets(&self) -> Result<Vec<BucketSummary>, Error> {
        let mut all = Vec::new();
        let mut marker = String::new();
        loop {
            let page = self.list_buckets("", &marker, LIST_PAGE).await?;
            all.extend(page.buckets.bucket);
            match (page.is_truncated, page.next_marker) {
                (Some(true), Some(next)) if !next.is_empty() => marker = next,
                _ => return Ok(all),
            }
        }
    }

    /// Creates a bucket (`acl`: private, public-read, public-read-write).
    pub async fn create_bucket(&self, bucket: &str, acl: Option<&str>) -> Result<(), Error> {
        self.create_bucket_of_class(bucket, acl, None).await
    }

    /// Creates a bucket whose objects default to `storage_class` (Standard, IA, Archive,
    /// ColdArchive, DeepColdArchive; `None`: Standard).
    pub async fn create_bucket_of_class(
        &self,
        bucket: &str,
        acl: Option<&str>,
        storage_class: Option<&str>,
    ) -> Result<(), Error> {
        let mut op = Op::new(Method::PUT, Some(bucket), None);
        if let Some(acl) = acl {
            op = op.header(headers::ACL, acl)?;
        }
        if let Some(class) = storage_class {
            let config = xml::CreateBucketConfiguration {
                storage_class: Some(class.to_owned()),
                ..Default::default()
            };
            op = op
                .header(headers::CONTENT_TYPE, "application/xml")?
                .body(RequestBody::Bytes(Bytes::from(xml::to_xml(
                    "CreateBucketConfiguration",
                    &config,
                ))));
        }
        self.send(op).await?;
        Ok(())
    }

    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), Error> {
        self.send(Op::new(Method::DELETE, Some(bucket), None))
            .await?;
        Ok(())
    }

    pub async fn bucket_info(&self, bucket: &str) -> Result<BucketInfo, Error> {
        read_xml(
            self.send(Op::new(Method::GET, Some(bucket), None).query("bucketInfo", ""))
                .await?
                .response,
        )
        .await
    }

    pub async fn bucket_stat(&self, bucket: &str) -> Result<BucketStat, Error> {
        read_xml(
            self.send(Op::new(Method::GET, Some(bucket), None).query("stat", ""))
                .await?
                .response,
        )
        .await
    }

    pub async fn bucket_acl(&self, bucket: &str) -> Result<String, Error> {
        let policy: AccessControlPolicy = read_xml(
            self.send(Op::new(Method::GET, Some(bucket), None).query("acl", ""))
                .await?
                .response,
        )
        .await?;
        Ok(policy.access_control_list.grant)
    }

    pub async fn set_bucket_acl(&self, bucket: &str, acl: &str) -> Result<(), Error> {
        self.send(
            Op::new(Method::PUT, Some(bucket), None)
                .query("acl", "")
                .header(headers::ACL, acl)?,
        )
        .await?;
        Ok(())
    }

    /// The bucket's default encryption rule; `Ok(None)` when none is set.
    pub async fn bucket_encryption(
        &self,
        bucket: &str,
    ) -> Result<Option<ServerSideEncryptionRule>, Error> {
        match self
            .send(Op::new(Method::GET, Some(bucket), None).query("encryption", ""))
            .await
        {
            Ok(sent) => Ok(Some(read_xml(sent.response).await?)),
            Err(e) if e.code() == Some("NoSuchServerSideEncryptionRule") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_bucket_encryption(
        &self,
        bucket: &str,
        rule: &ServerSideEncryptionRule,
    ) -> Result<(), Error> {
        let body = xml::to_xml("ServerSideEncryptionRule", rule);
        let op = Op::new(Method::PUT, Some(bucket), None)
            .query("encryption", "")
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(body)));
        self.send(op).await?;
        Ok(())
    }

    pub async fn delete_bucket_encryption(&self, bucket: &str) -> Result<(), Error> {
        self.send(Op::new(Method::DELETE, Some(bucket), None).query("encryption", ""))
            .await?;
        Ok(())
    }

    /// The bucket policy JSON, verbatim; `Ok(None)` when none is set.
    pub async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, Error> {
        match self
            .send(Op::new(Method::GET, Some(bucket), None).query("policy", ""))
            .await
        {
            Ok(sent) => {
                let body = sent.response.bytes().await?;
                Ok(Some(String::from_utf8_lossy(&body).into_owned()))
            }
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GetBucketPolicyStatus: whether the bucket policy grants public access (`false` without
    /// a policy).
    pub async fn bucket_policy_is_public(&self, bucket: &str) -> Result<bool, Error> {
        let status: xml::PolicyStatus = read_xml(
            self.send(Op::new(Method::GET, Some(bucket), None).query("policyStatus", ""))
                .await?
                .response,
        )
        .await?;
        Ok(status.is_public)
    }

    pub async fn set_bucket_policy(&self, bucket: &str, policy_json: &str) -> Result<(), Error> {
        let body = Bytes::from(policy_json.to_owned());
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
        let op = Op::new(Method::PUT, Some(bucket), None)
            .query("policy", "")
            .header(headers::CONTENT_MD5, &md5)?
            .body(RequestBody::Bytes(body));
        self.send(op).await?;
        Ok(())
    }

    pub async fn delete_bucket_policy(&self, bucket: &str) -> Result<(), Error> {
        self.send(Op::new(Method::DELETE, Some(bucket), None).query("policy", ""))
            .await?;
        Ok(())
    }

    // ---- objects ----

    /// PutObject; checks the service's CRC-64 against the bytes sent.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: RequestBody,
        opts: &PutOptions,
    ) -> Result<PutResult, Error> {
        let op = opts.apply(Op::new(Method::PUT, Some(bucket), Some(key)).body(body))?;
        let sent = self.send(op).await?;
        let h = sent.response.headers();
        Ok(PutResult {
            crc64: check_upload_crc(key, h, sent.sent_crc64)?,
            etag: header_str(h, "etag").unwrap_or_default(),
            request_id: header_str(h, headers::REQUEST_ID).unwrap_or_default(),
            server_side_encryption: header_str(h, headers::SERVER_SIDE_ENCRYPTION),
            sse_key_id: header_str(h, headers::SERVER_SIDE_ENCRYPTION_KEY_ID),
            version_id: header_str(h, headers::VERSION_ID),
        })
    }

    /// GetObject: the metadata and the response whose body streams the content.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<RangeSpec>,
    ) -> Result<(ObjectMeta, reqwest::Response), Error> {
        self.get_object_version(bucket, key, None, range).await
    }

    /// [`Client::get_object`] of one version (`None`: the current one; `"null"`: the null
    /// version).
    pub async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<RangeSpec>,
    ) -> Result<(ObjectMeta, reqwest::Response), Error> {
        let mut op = with_version(Op::new(Method::GET, Some(bucket), Some(key)), version_id);
        if let Some(r) = range {
            op = op
                .header("range", &r.to_string())?
                .header(headers::RANGE_BEHAVIOR, "standard")?;
        }
        let response = self.send(op).await?.response;
        Ok((ObjectMeta::from_headers(response.headers()), response))
    }

    /// Downloads an object (or a range) into `out`, paced by `limiter` chunk by chunk if given,
    /// calling `progress` with each chunk's length. A whole-object download is checked against
    /// the object's CRC-64.
    pub async fn download<W: AsyncWrite + Unpin>(
        &self,
        bucket: &str,
        key: &str,
        range: Option<RangeSpec>,
        out: &mut W,
        limiter: Option<&crate::transfer::RateLimiter>,
        progress: impl FnMut(u64),
    ) -> Result<ObjectMeta, Error> {
        self.download_version(bucket, key, None, range, out, limiter, progress)
            .await
    }

    /// [`Client::download`] of one version (`None`: the current one).
    #[allow(clippy::too_many_arguments)]
    pub async fn download_version<W: AsyncWrite + Unpin>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<RangeSpec>,
        out: &mut W,
        limiter: Option<&crate::transfer::RateLimiter>,
        mut progress: impl FnMut(u64),
    ) -> Result<ObjectMeta, Error> {
        let (meta, response) = self
            .get_object_version(bucket, key, version_id, range)
            .await?;
        let whole = response.status() == reqwest::StatusCode::OK;
        let mut crc = ossvault_proto::crc64::Crc64::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if let Some(limiter) = limiter {
                limiter.acquire(chunk.len() as u64).await;
            }
            crc.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| Error::io("cannot write the download", e))?;
            progress(chunk.len() as u64);
        }
        out.flush()
            .await
            .map_err(|e| Error::io("cannot write the download", e))?;
        if let (true, Some(expected)) = (whole, meta.crc64) {
            if crc.finish() != expected {
                return Err(Error::Crc {
                    what: key.to_owned(),
                    expected,
                    actual: crc.finish(),
                });
            }
        }
        Ok(meta)
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        self.head_object_version(bucket, key, None).await
    }

    /// HeadObject of one version (`None`: the current one).
    pub async fn head_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta, Error> {
        let op = with_version(Op::new(Method::HEAD, Some(bucket), Some(key)), version_id);
        let sent = self.send(op).await?;
        Ok(ObjectMeta::from_headers(sent.response.headers()))
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.delete_object_version(bucket, key, None).await?;
        Ok(())
    }

    /// DeleteObject with or without a version id: without one, a versioned bucket adds a
    /// delete marker; with one, that version (or delete marker) goes for good.
    pub async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeletedVersion, Error> {
        let op = with_version(Op::new(Method::DELETE, Some(bucket), Some(key)), version_id);
        let sent = self.send(op).await?;
        let h = sent.response.headers();
        Ok(DeletedVersion {
            key: key.to_owned(),
            version_id: header_str(h, headers::VERSION_ID),
            delete_marker: header_str(h, headers::DELETE_MARKER).as_deref() == Some("true"),
        })
    }

    /// Deletes up to [`ossvault_proto::limits::MAX_DELETE_KEYS`] keys in one request; returns the keys reported deleted.
    pub async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<String>, Error> {
        let request = Delete {
            quiet: Some(false),
            object: keys
                .iter()
                .map(|k| DeleteObjectEntry {
                    key: k.clone(),
                    version_id: None,
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
        result.deleted.iter().map(|d| decode(&d.key, url)).collect()
    }

    /// CopyObject; `replace` gives new metadata (directive REPLACE), else it is copied.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        key: &str,
        replace: Option<&PutOptions>,
    ) -> Result<PutResult, Error> {
        self.copy_object_version(src_bucket, src_key, None, bucket, key, replace)
            .await
    }

    /// [`Client::copy_object`] from one version of the source (`None`: its current one);
    /// copying an old version onto its own key is how a previous version is restored.
    pub async fn copy_object_version(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version_id: Option<&str>,
        bucket: &str,
        key: &str,
        replace: Option<&PutOptions>,
    ) -> Result<PutResult, Error> {
        let mut op = copy_op(src_bucket, src_key, src_version_id, bucket, key)?;
        if let Some(opts) = replace {
            op = opts.apply(op.header(headers::METADATA_DIRECTIVE, "REPLACE")?)?;
        }
        self.send_copy(op).await
    }

    /// CopyObject within `bucket`, metadata copied, only while the source still has
    /// `source_etag` (else `PreconditionFailed`) and onto a key that does not exist yet (else
    /// `FileAlreadyExists`): a move that never replaces anything.
    pub async fn copy_object_guarded(
        &self,
        bucket: &str,
        src_key: &str,
        key: &str,
        source_etag: &str,
    ) -> Result<PutResult, Error> {
        let op = copy_op(bucket, src_key, None, bucket, key)?
            .header(headers::COPY_SOURCE_IF_MATCH, source_etag)?
            .header(headers::FORBID_OVERWRITE, "true")?;
        self.send_copy(op).await
    }

    async fn send_copy(&self, op: Op<'_>) -> Result<PutResult, Error> {
        let sent = self.send(op).await?;
        let h = sent.response.headers().clone();
        let result: CopyObjectResult = read_xml(sent.response).await?;
        Ok(PutResult {
            etag: result.etag,
            crc64: crc_header(&h),
            request_id: header_str(&h, headers::REQUEST_ID).unwrap_or_default(),
            server_side_encryption: header_str(&h, headers::SERVER_SIDE_ENCRYPTION),
            sse_key_id: header_str(&h, headers::SERVER_SIDE_ENCRYPTION_KEY_ID),
            version_id: header_str(&h, headers::VERSION_ID),
        })
    }

    /// AppendObject at `position`; returns the next position and the whole object's CRC.
    pub async fn append_object(
        &self,
        bucket: &str,
        key: &str,
        position: u64,
        body: RequestBody,
        opts: &PutOptions,
    ) -> Result<(u64, Option<u64>), Error> {
        let op = Op::new(Method::POST, Some(bucket), Some(key))
            .query("append", "")
            .query("position", position.to_string())
            .body(body);
        let sent = self.send(opts.apply(op)?).await?;
        let h = sent.response.headers();
        let next = header_str(h, headers::NEXT_APPEND_POSITION)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Error::InvalidResponse(
                    "AppendObject answer without x-oss-next-append-position".into(),
                )
            })?;
        Ok((next, crc_header(h)))
    }

    pub async fn object_acl(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let op = Op::new(Method::GET, Some(bucket), Some(key)).query("acl", "");
        let policy: AccessControlPolicy = read_xml(self.send(op).await?.response).await?;
        Ok(policy.access_control_list.grant)
    }

    pub async fn set_object_acl(&self, bucket: &str, key: &str, acl: &str) -> Result<(), Error> {
        let op = Op::new(Method::PUT, Some(bucket), Some(key))
            .query("acl", "")
            .header(headers::OBJECT_ACL, acl)?;
        self.send(op).await?;
        Ok(())
    }

    /// The object's tags (key, value), in the server's order; empty when it has none.
    pub async fn object_tagging(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let op = Op::new(Method::GET, Some(bucket), Some(key)).query("tagging", "");
        let tagging: xml::Tagging = read_xml(self.send(op).await?.response).await?;
        Ok(tagging
            .tag_set
            .tag
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect())
    }

    /// PutObjectTagging: replaces the object's tags with `tags`.
    pub async fn set_object_tagging(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), Error> {
        let tagging = xml::Tagging {
            tag_set: xml::TagSet {
                tag: tags
                    .iter()
                    .map(|(k, v)| xml::Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            },
        };
        let op = Op::new(Method::PUT, Some(bucket), Some(key))
            .query("tagging", "")
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(xml::to_xml(
                "Tagging", &tagging,
            ))));
        self.send(op).await?;
        Ok(())
    }

    pub async fn delete_object_tagging(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.send(Op::new(Method::DELETE, Some(bucket), Some(key)).query("tagging", ""))
            .await?;
        Ok(())
    }

    /// RestoreObject of an archived object: `days` readable once restored, `tier` for
    /// ColdArchive (`Expedited`, `Standard`, `Bulk`). `Ok(true)`: a restore started (202);
    /// `Ok(false)`: it was already restored and its days start again (200).
    pub async fn restore_object(
        &self,
        bucket: &str,
        key: &str,
        days: Option<u64>,
        tier: Option<&str>,
    ) -> Result<bool, Error> {
        let request = xml::RestoreRequest {
            days,
            job_parameters: tier.map(|t| xml::JobParameters { tier: t.to_owned() }),
        };
        let op = Op::new(Method::POST, Some(bucket), Some(key))
            .query("restore", "")
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(xml::to_xml(
                "RestoreRequest",
                &request,
            ))));
        let sent = self.send(op).await?;
        Ok(sent.response.status() == http::StatusCode::ACCEPTED)
    }

    /// The restore state of an archived object (`x-oss-restore`), if one was asked.
    pub async fn restore_state(&self, bucket: &str, key: &str) -> Result<Option<String>, Error> {
        let sent = self
            .send(Op::new(Method::HEAD, Some(bucket), Some(key)))
            .await?;
        Ok(header_str(sent.response.headers(), "x-oss-restore"))
    }

    /// Block Public Access: the bucket's, or the server's (OSS: the account's) when `None`.
    pub async fn public_access_block(&self, bucket: Option<&str>) -> Result<bool, Error> {
        let op = Op::new(Method::GET, bucket, None).query("publicAccessBlock", "");
        let doc: xml::PublicAccessBlockConfiguration =
            read_xml(self.send(op).await?.response).await?;
        Ok(doc.block_public_access.eq_ignore_ascii_case("true"))
    }

    pub async fn set_public_access_block(
        &self,
        bucket: Option<&str>,
        on: bool,
    ) -> Result<(), Error> {
        let doc = xml::PublicAccessBlockConfiguration {
            block_public_access: on.to_string(),
        };
        let op = Op::new(Method::PUT, bucket, None)
            .query("publicAccessBlock", "")
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(xml::to_xml(
                "PublicAccessBlockConfiguration",
                &doc,
            ))));
        self.send(op).await?;
        Ok(())
    }

    /// PutSymlink: `key` becomes a symlink to `target` (a key of the same bucket, which need
    /// not exist yet).
    pub async fn put_symlink(&self, bucket: &str, key: &str, target: &str) -> Result<(), Error> {
        let op = Op::new(Method::PUT, Some(bucket), Some(key))
            .query("symlink", "")
            .header(SYMLINK_TARGET, &encode::uri_encode(target))?;
        self.send(op).await?;
        Ok(())
    }

    /// GetSymlink: the key a symlink points to.
    pub async fn symlink_target(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let op = Op::new(Method::GET, Some(bucket), Some(key)).query("symlink", "");
        let sent = self.send(op).await?;
        let raw = header_str(sent.response.headers(), SYMLINK_TARGET).unwrap_or_default();
        Ok(encode::percent_decode(&raw).unwrap_or(raw))
    }

    // ---- listing ----

    /// One page of ListObjectsV2 (keys URL-encoded on the wire, decoded here).
    pub async fn list_objects(&self, bucket: &str, req: &ListRequest) -> Result<ListPage, Error> {
        let mut op = Op::new(Method::GET, Some(bucket), None)
            .query("list-type", "2")
            .query("encoding-type", "url")
            .query("max-keys", req.max_keys.unwrap_or(LIST_PAGE).to_string());
        for (name, value) in [
            ("prefix", &req.prefix),
            ("delimiter", &req.delimiter),
            ("start-after", &req.start_after),
        ] {
            if !value.is_empty() {
                op = op.query(name, value.as_str());
            }
        }
        if let Some(token) = &req.continuation_token {
            op = op.query("continuation-token", token.as_str());
        }
        let response = self.send(op).await?.response;
        let listing_token = response
            .headers()
            .get(ossvault_proto::headers::LISTING_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let result: ListBucketResultV2 = read_xml(response).await?;
        let url = result.encoding_type.as_deref() == Some("url");
        Ok(ListPage {
            listing_token,
            objects: result
                .contents
                .into_iter()
                .map(|c| {
                    Ok(ObjectEntry {
                        key: decode(&c.key, url)?,
                        size: c.size,
                        etag: c.etag,
                        last_modified: parse_iso8601(&c.last_modified),
                        storage_class: c.storage_class,
                        object_type: c.object_type,
                    })
                })
                .collect::<Result<_, Error>>()?,
            prefixes: result
                .common_prefixes
                .iter()
                .map(|p| decode(&p.prefix, url))
                .collect::<Result<_, _>>()?,
            next_token: if result.is_truncated {
                result.next_continuation_token
            } else {
                None
            },
        })
    }

    /// Every page of a listing, fetched as the stream is polled (never the whole bucket in
    /// memory).
    pub fn list_pages(
        &self,
        bucket: &str,
        req: ListRequest,
    ) -> impl Stream<Item = Result<ListPage, Error>> + '_ {
        let bucket = bucket.to_owned();
        paged(req, move |req: ListRequest| {
            let bucket = bucket.clone();
            async move {
                let page = self.list_objects(&bucket, &req).await?;
                let next = page.next_token.clone().map(|t| ListRequest {
                    continuation_token: Some(t),
                    ..req
                });
                Ok((page, next))
            }
        })
    }

    // ---- multipart ----

    pub async fn initiate_multipart(
        &self,
        bucket: &str,
        key: &str,
        opts: &PutOptions,
    ) -> Result<String, Error> {
        let op = opts.apply(Op::new(Method::POST, Some(bucket), Some(key)).query("uploads", ""))?;
        let result: InitiateMultipartUploadResult = read_xml(self.send(op).await?.response).await?;
        Ok(result.upload_id)
    }

    /// UploadPart; checks the service's CRC-64 against the bytes sent.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: RequestBody,
    ) -> Result<PartInfo, Error> {
        self.upload_part_with_headers(bucket, key, upload_id, number, body, &[])
            .await
    }

    /// UploadPart with extra request headers (the OSS SDKs' client-side encryption repeats its
    /// `x-oss-meta-client-side-encryption-*` headers on every part).
    pub async fn upload_part_with_headers(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: RequestBody,
        headers: &[(String, String)],
    ) -> Result<PartInfo, Error> {
        let size = body.len();
        let mut op = Op::new(Method::PUT, Some(bucket), Some(key))
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id)
            .body(body);
        for (name, value) in headers {
            op = op.header(name, value)?;
        }
        let sent = self.send(op).await?;
        let h = sent.response.headers();
        Ok(PartInfo {
            number,
            etag: header_str(h, "etag").unwrap_or_default(),
            size,
            crc64: check_upload_crc(&format!("{key} part {number}"), h, sent.sent_crc64)?,
        })
    }

    /// UploadPartCopy of `range` (inclusive) of a source object.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> Result<PartInfo, Error> {
        let source = format!(
            "/{src_bucket}/{}",
            ossvault_proto::encode::uri_encode(src_key)
        );
        let op = Op::new(Method::PUT, Some(bucket), Some(key))
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id)
            .header(headers::COPY_SOURCE, &source)?
            .header(
                headers::COPY_SOURCE_RANGE,
                &format!("bytes={}-{}", range.0, range.1),
            )?;
        let sent = self.send(op).await?;
        let crc = crc_header(sent.response.headers());
        let result: CopyPartResult = read_xml(sent.response).await?;
        Ok(PartInfo {
            number,
            etag: result.etag,
            size: range.1 - range.0 + 1,
            crc64: crc,
        })
    }

    /// CompleteMultipartUpload with `parts` in order; checks the CRC-64 when every part's is
    /// known. Not retried after the request went out: a second Complete could not tell a
    /// lost answer from a failure.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> Result<CompleteResult, Error> {
        self.complete_multipart_with_headers(bucket, key, upload_id, parts, &[])
            .await
    }

    /// CompleteMultipartUpload with extra request headers: `If-Match` (replace only the
    /// object with this ETag) or `x-oss-forbid-overwrite` (create only).
    pub async fn complete_multipart_with_headers(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        extra: &[(String, String)],
    ) -> Result<CompleteResult, Error> {
        let request = CompleteMultipartUpload {
            part: parts
                .iter()
                .map(|p| CompletePart {
                    part_number: p.number,
                    etag: p.etag.clone(),
                })
                .collect(),
        };
        let mut op = Op::new(Method::POST, Some(bucket), Some(key))
            .query("uploadId", upload_id)
            .header(headers::CONTENT_TYPE, "application/xml")?
            .body(RequestBody::Bytes(Bytes::from(xml::to_xml(
                "CompleteMultipartUpload",
                &request,
            ))));
        for (name, value) in extra {
            op = op.header(name, value)?;
        }
        let sent = self.send(op).await?;
        let crc = crc_header(sent.response.headers());
        let result: CompleteMultipartUploadResult = read_xml(sent.response).await?;
        let expected = parts.iter().try_fold(0u64, |acc, p| {
            p.crc64
                .map(|c| ossvault_proto::crc64::combine(acc, c, p.size))
        });
        if let (Some(expected), Some(actual)) = (expected, crc) {
            if expected != actual {
                return Err(Error::Crc {
                    what: key.to_owned(),
                    expected,
                    actual,
                });
            }
        }
        Ok(CompleteResult {
            etag: result.etag,
            crc64: crc,
        })
    }

    pub async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        self.send(Op::new(Method::DELETE, Some(bucket), Some(key)).query("uploadId", upload_id))
            .await?;
        Ok(())
    }

    /// Every uploaded part of an upload (pages through ListParts).
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartSummary>, Error> {
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let op = Op::new(Method::GET, Some(bucket), Some(key))
                .query("uploadId", upload_id)
                .query("max-parts", LIST_PAGE.to_string())
                .query("part-number-marker", marker.to_string());
            let page: ListPartsResult = read_xml(self.send(op).await?.response).await?;
            let truncated = page.is_truncated;
            marker = page.next_part_number_marker;
            parts.extend(page.part);
            if !truncated {
                return Ok(parts);
            }
        }
    }

    /// One page of in-progress uploads under `prefix`, after the given markers.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
    ) -> Result<(Vec<UploadSummary>, Option<(String, String)>), Error> {
        let mut op = Op::new(Method::GET, Some(bucket), None)
            .query("uploads", "")
            .query("encoding-type", "url")
            .query("max-uploads", LIST_PAGE.to_string());
        for (name, value) in [
            ("prefix", prefix),
            ("key-marker", key_marker),
            ("upload-id-marker", upload_id_marker),
        ] {
            if !value.is_empty() {
                op = op.query(name, value);
            }
        }
        let result: ListMultipartUploadsResult = read_xml(self.send(op).await?.response).await?;
        let url = result.encoding_type.as_deref() == Some("url");
        let uploads = result
            .upload
            .into_iter()
            .map(|u| {
                Ok(UploadSummary {
                    key: decode(&u.key, url)?,
                    ..u
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = result
            .is_truncated
            .then(|| {
                Ok::<_, Error>((
                    decode(&result.next_key_marker, url)?,
                    result.next_upload_id_marker,
                ))
            })
            .transpose()?;
        Ok((uploads, next))
    }
}

//! The OSS API: request context, dispatch, and the handlers of each family of operations.

mod bucket;
mod encryption;
mod error;
mod list;
mod multipart;
pub(crate) mod object;
mod object_copy;
mod public_access;
mod restore;
mod router;
#[cfg(test)]
mod security_tests;
mod service;
mod symlink;
mod tagging;
pub(crate) mod versioning;

pub use error::ApiError;
pub use public_access::SETTING as PUBLIC_ACCESS_BLOCK_SETTING;
pub use router::{AclNeed, Endpoint, OtherResources};

use crate::auth;
use crate::body::{self, Body};
use crate::limits::{BodyLimits, RequestBody};
use crate::store::Store;
use crate::Config;
use base64::Engine as _;
use futures_util::FutureExt as _;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use ossvault_proto::xml::{self, ErrorBody, Owner};
use ossvault_proto::{encode, headers, names, time as oss_time, ErrorCode};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// What every request handler shares.
pub struct State {
    pub store: Store,
    pub config: Config,
    /// Encryption keys; `None` when the server has no root secret (then SSE is refused).
    pub sse: Option<crate::sse::Sse>,
    /// The local KMS (also behind `sse.kms`); `None` without a root secret.
    pub kms: Option<Arc<crate::kms::LocalKms>>,
    /// The endpoint clients reach us at, `host:port` (ExtranetEndpoint in listings).
    pub public_host: String,
    /// The server-wide Block Public Access switch (kept in the store's settings; read here on
    /// every anonymous request).
    pub public_access_block: std::sync::atomic::AtomicBool,
}

impl State {
    /// The owner of every bucket: the single tenant of this server.
    pub fn owner(&self) -> Owner {
        let id = self
            .config
            .credentials
            .first()
            .map(|c| c.access_key_id.clone())
            .unwrap_or_default();
        Owner {
            id: id.clone(),
            display_name: id,
        }
    }
}

/// Decoded query parameters in received order.
#[derive(Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// The first value of `name` (empty for `?acl`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` unless absent or empty (clients send empty list parameters).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// `encoding-type=url` was asked for.
    pub fn url_encoded(&self) -> bool {
        self.get("encoding-type")
            .is_some_and(|v| v.eq_ignore_ascii_case("url"))
    }
}

/// One request, parsed, authenticated and routed.
pub struct Ctx {
    pub state: Arc<State>,
    pub endpoint: Endpoint,
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Option<RequestBody>,
    pub conn: Connection,
    /// The id this request is answered with (`x-oss-request-id`).
    pub request_id: String,
    /// The addressed bucket's record as authorisation read it (`None`: no bucket addressed,
    /// or it does not exist), so handlers do not read it a second time.
    pub bucket_record: Option<crate::store::BucketRecord>,
    /// The access key id that signed; `None` when anonymous.
    pub principal: Option<String>,
    /// A copy's source, authorised for reading (set for CopyObject and UploadPartCopy only).
    pub copy_source: Option<auth::CopySource>,
}

impl Ctx {
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// The server's encryption keys, or a clear error when it runs without a root secret.
    pub fn sse(&self) -> Result<&crate::sse::Sse, ApiError> {
        self.state.sse.as_ref().ok_or_else(|| {
            ApiError::msg(
                ErrorCode::NotImplemented,
                "Server-side encryption is off: this server was started without a root secret.",
            )
        })
    }

    /// The bucket name; every bucket and object endpoint has one.
    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    /// The object key; every object endpoint has one.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }

    /// A request header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn take_body(&mut self) -> Option<RequestBody> {
        self.body.take()
    }

    /// The whole (small) request body, bounded by the configured XML limit and checked
    /// against a declared `x-oss-content-sha256`.
    pub async fn small_body(&mut self) -> Result<bytes::Bytes, ApiError> {
        let sha256 = crate::payload::declared(&self.headers)?;
        let bytes = match self.body.take() {
            Some(b) => body::read_limited(b, self.state.config.max_xml_body).await?,
            None => bytes::Bytes::new(),
        };
        crate::payload::check_bytes(sha256, &bytes)?;
        Ok(bytes)
    }

    /// `Content-Length`, if sent and valid.
    pub fn content_length(&self) -> Result<Option<u64>, ApiError> {
        match self.header(header::CONTENT_LENGTH.as_str()) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid_argument("Content-Length is not a number.")),
        }
    }
}

/// Connection facts the handlers need.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub remote: SocketAddr,
    /// The request came over TLS.
    pub secure: bool,
}

/// Serves one request: every response, success or error, leaves through here and gets the
/// common headers.
pub async fn serve(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
    conn: Connection,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let is_head = method == Method::HEAD;
    // A request with a body that fails may not have had its body read (a handler refusing it
    // before reading): such a connection cannot carry another request, and the client must be
    // told, or it sends its next request on a connection hyper is closing.
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut action = "";
    let (resource, result) = match prepare(&state, req, conn, &request_id).await {
        Ok(ctx) => {
            action = ctx.endpoint.action();
            let resource = (ctx.bucket.clone(), ctx.key.clone());
            // The last net: a bug that panics in a handler answers 500 for this request instead
            // of dropping the connection. The panic hook has logged the panic itself (once, in
            // `ossvault serve` without a backtrace); the 500 is logged with the request id below.
            let result = AssertUnwindSafe(dispatch(ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(ApiError::internal("the server failed on this request")));
            (resource, result)
        }
        Err((resource, e)) => (resource, Err(e)),
    };
    let mut response = match result {
        Ok(r) => r,
        // The KMS API answers in JSON, whatever failed.
        Err(e) if resource.0.as_deref() == Some(crate::kms::api::SEGMENT) => {
            crate::kms::api::error_from_api(e, &request_id)
        }
        Err(e) => {
            let e = if has_body && !e.headers.iter().any(|(n, _)| *n == "connection") {
                e.with_header("connection", "close")
            } else {
                e
            };
            error_response(e, &request_id, &state, resource, is_head)
        }
    };
    let h = response.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
    if let Ok(v) = HeaderValue::from_str(&oss_time::http_date(SystemTime::now())) {
        h.insert(header::DATE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(headers::REQUEST_ID, v);
    }
    tracing::info!(
        %method,
        action,
        path = %path,
        status = response.status().as_u16(),
        request_id = %request_id,
        remote = %conn.remote,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

type Resource = (Option<String>, Option<String>);

/// Parses the path and query, routes, and authenticates.
async fn prepare(
    state: &Arc<State>,
    req: hyper::Request<Incoming>,
    conn: Connection,
    request_id: &str,
) -> Result<Ctx, (Resource, ApiError)> {
    use hyper::body::Body as _;
    let (parts, incoming) = req.into_parts();
    // A request refused here never has its body read, so its connection cannot carry another
    // request: say so, and hyper closes it instead of draining what may be gigabytes.
    let unread_body = !incoming.is_end_stream();
    let closing = |e: ApiError| {
        if unread_body {
            e.with_header("connection", "close")
        } else {
            e
        }
    };
    let (bucket, key) = split_path(parts.uri.path()).map_err(|e| ((None, None), closing(e)))?;
    let resource = (bucket.clone(), key.clone());
    let fail = |e: ApiError| (resource.clone(), closing(e));
    let query = match parts.uri.query() {
        None => Query::default(),
        Some(raw) => Query(encode::parse_query(raw).ok_or_else(|| {
            fail(ApiError::invalid_argument(
                "The query string is not valid UTF-8.",
            ))
        })?),
    };
    // `/_kms/`: the KMS API. No bucket name has an underscore, so it cannot shadow one.
    let endpoint = if bucket.as_deref() == Some(crate::kms::api::SEGMENT) {
        if key.is_some() {
            return Err(fail(ApiError::msg(
                ErrorCode::InvalidArgument,
                "The KMS API is at /_kms/ (with ?Action=...); nothing lies below it.",
            )));
        }
        Endpoint::Kms
    } else if bucket.as_deref() == Some(ossvault_proto::admin::SEGMENT) {
        if key.is_some() {
            return Err(fail(ApiError::msg(
                ErrorCode::InvalidArgument,
                "The admin API is at /_admin/ (with ?Action=...); nothing lies below it.",
            )));
        }
        Endpoint::Admin
    } else {
        if let Some(b) = &bucket {
            if !names::is_valid_bucket_name(b) {
                return Err(fail(ApiError::new(ErrorCode::InvalidBucketName)));
            }
        }
        if let Some(k) = &key {
            if !names::is_valid_object_key(k) {
                return Err(fail(ApiError::new(ErrorCode::InvalidObjectName)));
            }
        }
        Endpoint::route(
            &parts.method,
            bucket.as_deref(),
            key.as_deref(),
            &query,
            &parts.headers,
        )
        .map_err(|refusal| {
            let request = ossvault_proto::sign::RequestParts {
                method: parts.method.as_str(),
                bucket: bucket.as_deref(),
                key: key.as_deref(),
                query: &query.0,
                headers: &parts.headers,
            };
            fail(crate::auth::authenticate_refusal(state, &request, refusal))
        })?
    };
    let mut ctx = Ctx {
        state: state.clone(),
        endpoint,
        method: parts.method,
        bucket,
        key,
        query,
        headers: parts.headers,
        body: Some(RequestBody::new(
            incoming,
            BodyLimits::from_config(&state.config),
        )),
        conn,
        request_id: request_id.to_owned(),
        bucket_record: None,
        principal: None,
        copy_source: None,
    };
    let authorized = auth::authorize(&ctx).await.map_err(fail)?;
    ctx.bucket_record = authorized.bucket;
    ctx.principal = authorized.principal;
    ctx.copy_source = authorized.copy_source;
    Ok(ctx)
}

/// Splits a raw (still percent-encoded) path into bucket and key. The key is decoded exactly
/// once and never split or normalised: `%2F` is a `/` inside the key, `//` and `..` are kept.
fn split_path(raw: &str) -> Result<(Option<String>, Option<String>), ApiError> {
    let rest = raw.strip_prefix('/').unwrap_or(raw);
    if rest.is_empty() {
        return Ok((None, None));
    }
    let (bucket, key) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let bad = || {
        ApiError::msg(
            ErrorCode::InvalidObjectName,
            "The path is not valid percent-encoded UTF-8.",
        )
    };
    let bucket = encode::percent_decode(bucket).ok_or_else(bad)?;
    let key = if key.is_empty() {
        None
    } else {
        Some(encode::percent_decode(key).ok_or_else(bad)?)
    };
    Ok((Some(bucket), key))
}

/// A request carrying this header panics in `dispatch` (test builds only): how the tests
/// reach the panic net without a real bug.
#[cfg(test)]
const TEST_PANIC_HEADER: &str = "x-ossvault-test-panic";

async fn dispatch(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    use Endpoint::*;
    #[cfg(test)]
    if ctx.headers.contains_key(TEST_PANIC_HEADER) {
        panic!("a test asked this handler to panic");
    }
    match ctx.endpoint {
        ListBuckets => service::list_buckets(ctx).await,
        DescribeRegions => service::describe_regions(ctx).await,
        GetPublicAccessBlock => public_access::get(ctx).await,
        PutPublicAccessBlock => public_access::put(ctx).await,
        DeletePublicAccessBlock => public_access::delete(ctx).await,
        GetBucketPublicAccessBlock => public_access::get_bucket(ctx).await,
        PutBucketPublicAccessBlock => public_access::put_bucket(ctx).await,
        DeleteBucketPublicAccessBlock => public_access::delete_bucket(ctx).await,
        PutBucket => bucket::put_bucket(ctx).await,
        DeleteBucket => bucket::delete_bucket(ctx).await,
        GetBucketInfo => bucket::get_bucket_info(ctx).await,
        GetBucketLocation => bucket::get_bucket_location(ctx).await,
        GetBucketStat => bucket::get_bucket_stat(ctx).await,
        GetBucketAcl => bucket::get_bucket_acl(ctx).await,
        PutBucketAcl => bucket::put_bucket_acl(ctx).await,
        GetBucketEncryption => encryption::get_bucket_encryption(ctx).await,
        PutBucketEncryption => encryption::put_bucket_encryption(ctx).await,
        DeleteBucketEncryption => encryption::delete_bucket_encryption(ctx).await,
        GetBucketPolicy => bucket::get_bucket_policy(ctx).await,
        GetBucketPolicyStatus => bucket::get_bucket_policy_status(ctx).await,
        PutBucketPolicy => bucket::put_bucket_policy(ctx).await,
        DeleteBucketPolicy => bucket::delete_bucket_policy(ctx).await,
        GetBucketVersioning => versioning::get_bucket_versioning(ctx).await,
        PutBucketVersioning => versioning::put_bucket_versioning(ctx).await,
        ListObjectVersions => versioning::list_object_versions(ctx).await,
        ListLiveChannels => bucket::list_live_channels(ctx).await,
        ListObjects => list::list_objects_v1(ctx).await,
        ListObjectsV2 => list::list_objects_v2(ctx).await,
        ListMultipartUploads => multipart::list_uploads(ctx).await,
        DeleteMultipleObjects => object::delete_multiple(ctx).await,
        PutObject => object::put_object(ctx).await,
        CopyObject => object_copy::copy_object(ctx).await,
        GetObject => object::get_object(ctx, true).await,
        HeadObject => object::get_object(ctx, false).await,
        GetObjectMeta => object::get_object_meta(ctx).await,
        DeleteObject => object::delete_object(ctx).await,
        AppendObject => object::append_object(ctx).await,
        GetObjectAcl => object::get_object_acl(ctx).await,
        PutObjectAcl => object::put_object_acl(ctx).await,
        GetObjectTagging => tagging::get_object_tagging(ctx).await,
        PutObjectTagging => tagging::put_object_tagging(ctx).await,
        DeleteObjectTagging => tagging::delete_object_tagging(ctx).await,
        PutSymlink => symlink::put_symlink(ctx).await,
        GetSymlink => symlink::get_symlink(ctx).await,
        RestoreObject => restore::restore_object(ctx).await,
        CleanRestoredObject => restore::clean_restored_object(ctx).await,
        InitiateMultipartUpload => multipart::initiate(ctx).await,
        UploadPart => multipart::upload_part(ctx).await,
        UploadPartCopy => object_copy::upload_part_copy(ctx).await,
        CompleteMultipartUpload => multipart::complete(ctx).await,
        AbortMultipartUpload => multipart::abort(ctx).await,
        ListParts => multipart::list_parts(ctx).await,
        Kms => crate::kms::api::handle(ctx).await,
        Admin => crate::admin::handle(ctx).await,
    }
}

/// 24 uppercase hex characters, like OSS's request ids.
fn new_request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode_upper(bytes)
}

fn error_response(
    e: ApiError,
    request_id: &str,
    state: &State,
    (bucket, key): Resource,
    is_head: bool,
) -> Response<Body> {
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    for (name, value) in &e.headers {
        builder = builder.header(*name, value);
    }
    if e.code == ErrorCode::NotModified {
        return builder.body(body::empty()).expect("valid response");
    }
    if e.code.status() >= 500 {
        tracing::warn!(code = %e.code, message = %e.message, request_id, "server error");
    }
    let ec = e.ec.or(e.code.ec());
    if let Some(ec) = ec {
        builder = builder.header(headers::OSS_EC, ec);
    }
    let error = ErrorBody {
        code: e.code.as_str().to_owned(),
        ec: ec.map(str::to_owned),
        message: e.message,
        request_id: request_id.to_owned(),
        host_id: state.public_host.clone(),
        string_to_sign: e.string_to_sign,
        oss_access_key_id: e.access_key_id,
        bucket_name: bucket,
        key,
        ..Default::default()
    };
    let xml = xml::to_xml("Error", &error);
    builder = builder.header(header::CONTENT_TYPE, "application/xml");
    if is_head {
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
        builder
            .header(headers::OSS_ERR, encoded)
            .body(body::empty())
            .expect("valid response")
    } else {
        builder
            .header(header::CONTENT_LENGTH, xml.len())
            .body(body::full(xml))
            .expect("valid response")
    }
}

/// A 200 response with an XML document.
pub fn xml_ok<T: serde::Serialize>(root: &str, value: &T) -> Response<Body> {
    let xml = xml::to_xml(root, value);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, xml.len())
        .body(body::full(xml))
        .expect("valid response")
}

/// Adds the SSE headers of an upload or object to a response.
pub fn with_sse(
    mut response: Response<Body>,
    sse: Option<&crate::store::SseRecord>,
) -> Response<Body> {
    for (name, value) in crate::sse::response_headers(sse) {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// A write's XML answer with the written object's (or part's) ETag and CRC-64 as headers.
pub fn xml_ok_with_etag<T: serde::Serialize>(
    root: &str,
    value: &T,
    etag: &str,
    crc64: u64,
) -> Result<Response<Body>, ApiError> {
    let mut response = xml_ok(root, value);
    let h = response.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).map_err(|_| ApiError::internal("bad ETag"))?,
    );
    h.insert(headers::HASH_CRC64, crc64.into());
    Ok(response)
}

/// An empty response with `status`.
pub fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, 0)
        .body(body::empty())
        .expect("valid response")
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `SystemTime` from milliseconds since the epoch.
pub fn time_of(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

/// Validates an ACL value; `allow_default` for object ACLs.
pub fn parse_acl(value: &str, allow_default: bool) -> Result<String, ApiError> {
    match value {
        "private" | "public-read" | "public-read-write" => Ok(value.to_owned()),
        "default" if allow_default => Ok(value.to_owned()),
        _ => Err(ApiError::invalid_argument(format!(
            "The ACL '{value}' is not valid."
        ))),
    }
}

//! Building, signing and sending one request, with retries.

use crate::config::{AddressStyle, ClientConfig, SignVersion};
use crate::error::{Error, ServiceError};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use ossvault_proto::crc64::Crc64;
use ossvault_proto::encode::uri_encode;
use ossvault_proto::headers;
use ossvault_proto::sign::{v1, v4, RequestParts};
use ossvault_proto::xml::{self, ErrorBody};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Largest XML response read into memory.
const MAX_XML_RESPONSE: usize = 16 << 20;
const USER_AGENT: &str = concat!("ossvault/", env!("CARGO_PKG_VERSION"));

/// What a request sends. `Bytes` and `File` can be sent again on a retry; `Stream` cannot.
#[derive(Debug)]
pub enum RequestBody {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`, read as they are sent.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    /// A one-shot stream of known length.
    Stream {
        body: reqwest::Body,
        len: u64,
    },
}

impl RequestBody {
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(b) => b.len() as u64,
            RequestBody::File { len, .. } | RequestBody::Stream { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn replayable(&self) -> bool {
        !matches!(self, RequestBody::Stream { .. })
    }
}

/// One operation, before signing.
pub(crate) struct Op<'a> {
    pub method: Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// Sending it twice has the same effect as once (GET, PUT, DELETE, most POSTs are not).
    pub idempotent: bool,
    /// Address the bucket in the path even when the client uses virtual-hosted style (the
    /// embedded server's `/_kms/` API).
    pub path_style: bool,
    /// Sign with V4 and the body's SHA-256 (`x-oss-content-sha256`), whatever the configured
    /// version: the embedded server's `/_kms/` API accepts nothing else. The body must be
    /// `Empty` or `Bytes`.
    pub signed_payload: bool,
}

impl<'a> Op<'a> {
    pub fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        let idempotent = method != Method::POST;
        Op {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            idempotent,
            path_style: false,
            signed_payload: false,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidInput(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::InvalidInput(format!("invalid value for header {name}")))?;
        self.headers.append(name, value);
        Ok(self)
    }

    pub fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Always a path-style URL (`<endpoint>/<bucket>/…`).
    pub fn path_style(mut self) -> Self {
        self.path_style = true;
        self
    }

    /// Always V4 with the body's SHA-256 signed (see [`Op::signed_payload`]).
    pub fn signed_payload(mut self) -> Self {
        self.signed_payload = true;
        self
    }
}

/// A response, with the CRC-64 of the body that was sent (when there was one).
pub(crate) struct Sent {
    pub response: reqwest::Response,
    pub sent_crc64: u64,
}

/// The OSS client. Cheap to clone; share one per endpoint.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    endpoint: url::Url,
    path_style: bool,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let endpoint = url::Url::parse(&config.endpoint).map_err(|e| {
            Error::InvalidInput(format!("invalid endpoint {:?}: {e}", config.endpoint))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Error::InvalidInput(format!(
                "endpoint {:?} is not an http(s) URL",
                config.endpoint
            )));
        }
        let host_is_local = match endpoint.host() {
            Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) => true,
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let path_style = match config.address_style {
            AddressStyle::Auto => host_is_local,
            AddressStyle::Path => true,
            AddressStyle::Virtual => false,
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            // At least as many as a caller keeps in flight (a folder sync: 128 small files):
            // fewer, and every burst of requests closes connections it then opens again.
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true);
        if let Some(pem) = &config.pinned_certificate_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                Error::InvalidInput(format!("the pinned certificate is not valid PEM: {e}"))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build()?;
        Ok(Client {
            http,
            config: Arc::new(config),
            endpoint,
            path_style,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The URL of a bucket or object, with `query` (values not yet encoded).
    pub fn url(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> Result<String, Error> {
        self.url_styled(bucket, key, query, self.path_style)
    }

    fn url_styled(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
        path_style: bool,
    ) -> Result<String, Error> {
        let scheme = self.endpoint.scheme();
        let host = self.endpoint.host_str().unwrap_or_default();
        let port = self
            .endpoint
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let encoded_key = match key {
            // `.` and `..` would be resolved away by every URL parser on the way.
            Some("." | "..") => {
                return Err(Error::InvalidInput(format!(
                    "the key {key:?} cannot be addressed in a URL"
                )))
            }
            // `/` is encoded too, so no part of a key is ever taken for a path segment.
            Some(k) => uri_encode(k),
            None => String::new(),
        };
        let mut url = match bucket {
            None => format!("{scheme}://{host}{port}/"),
            Some(b) if path_style => format!("{scheme}://{host}{port}/{b}/{encoded_key}"),
            Some(b) => format!("{scheme}://{b}.{host}{port}/{encoded_key}"),
        };
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        uri_encode(k)
                    } else {
                        format!("{}={}", uri_encode(k), uri_encode(v))
                    }
                })
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        Ok(url)
    }

    /// A presigned URL for `method` on an object, valid for `expires`.
    pub fn presign(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<String, Error> {
        let headers = HeaderMap::new();
        let parts = RequestParts {
            method,
            bucket: Some(bucket),
            key: Some(key),
            query: &[],
            headers: &headers,
        };
        let creds = &self.config.credentials;
        let now = SystemTime::now();
        let query = match self.config.sign_version {
            SignVersion::V1 => {
                let expires_at = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    + expires;
                v1::presign(
                    &parts,
                    &creds.access_key_id,
                    &creds.access_key_secret,
                    expires_at.as_secs(),
                )
            }
            SignVersion::V4 => v4::presign(
                &parts,
                &creds.access_key_id,
                &creds.access_key_secret,
                &self.config.region,
                now,
                expires.as_secs(),
            ),
        };
        self.url(Some(bucket), Some(key), &query)
    }

    /// Sends an operation: signs it afresh for every attempt, retries connection errors,
    /// 5xx and 429 with backoff (only what is safe to repeat), and turns error answers into
    /// [`Error::Service`].
    pub(crate) async fn send(&self, mut op: Op<'_>) -> Result<Sent, Error> {
        let policy = &self.config.retry;
        let attempts = if op.body.replayable() {
            policy.max_attempts.max(1)
        } else {
            1
        };
        let mut body = Some(std::mem::replace(&mut op.body, RequestBody::Empty));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let this_body = match body.take() {
                Some(RequestBody::Stream { body: b, len }) => RequestBody::Stream { body: b, len },
                Some(other) => {
                    let copy = clone_replayable(&other);
                    body = Some(other);
                    copy
                }
                None => unreachable!("a one-shot body is sent once"),
            };
            let crc = Arc::new(Mutex::new(Crc64::new()));
            let result = self.send_once(&op, this_body, crc.clone()).await;
            let last = attempt >= attempts;
            match result {
                Ok(response) if response.status().is_success() => {
                    let sent_crc64 = crc.lock().map(|c| c.finish()).unwrap_or(0);
                    return Ok(Sent {
                        response,
                        sent_crc64,
                    });
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retryable = (status >= 500 || status == 429) && op.idempotent;
                    if retryable && !last {
                        tracing::debug!(status, attempt, "retrying after a server error");
                        tokio::time::sleep(policy.delay(attempt)).await;
                        continue;
                    }
                    return Err(Error::Service(service_error(response).await));
                }
                Err(Error::Transport(e)) => {
                    // A connect error means nothing was sent: always safe to repeat.
                    let retryable = e.is_connect()
                        || (op.idempotent && (e.is_timeout() || e.is_request() || e.is_body()));
                    if retryable && !last {
                        tracing::debug!(error = %e, attempt, "retrying after a network error");
                        tokio::time::sleep(policy.delay(attempt)).await;
                        continue;
                    }
                    return Err(Error::Transport(e));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_once(
        &self,
        op: &Op<'_>,
        body: RequestBody,
        crc: Arc<Mutex<Crc64>>,
    ) -> Result<reqwest::Response, Error> {
        let (method, bucket, key, query) = (&op.method, op.bucket, op.key, &op.query);
        let url = self.url_styled(bucket, key, query, op.path_style || self.path_style)?;
        let mut headers = op.headers.clone();
        let len = body.len();
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        let payload_hash = if op.signed_payload {
            Some(v4::payload_sha256(match &body {
                RequestBody::Empty => &[],
                RequestBody::Bytes(b) => b,
                _ => {
                    return Err(Error::InvalidInput(
                        "a signed payload must be held in memory".into(),
                    ))
                }
            }))
        } else {
            None
        };
        self.sign(method, bucket, key, query, &mut headers, payload_hash)?;
        let body = into_reqwest(body, crc).await?;
        Ok(self
            .http
            .request(method.clone(), url)
            .headers(headers)
            .body(body)
            .send()
            .await?)
    }

    /// Signs with the configured version, or with V4 and `payload_hash` as
    /// `x-oss-content-sha256` when one is given.
    fn sign(
        &self,
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
        headers: &mut HeaderMap,
        payload_hash: Option<String>,
    ) -> Result<(), Error> {
        let creds = &self.config.credentials;
        let now = SystemTime::now();
        let header_value = |v: String| {
            HeaderValue::from_str(&v).map_err(|_| Error::InvalidInput("unsignable request".into()))
        };
        let version = match payload_hash {
            Some(_) => SignVersion::V4,
            None => self.config.sign_version,
        };
        match version {
            SignVersion::V1 => {
                headers.insert(
                    http::header::DATE,
                    header_value(ossvault_proto::time::http_date(now))?,
                );
                let parts = RequestParts {
                    method: method.as_str(),
                    bucket,
                    key,
                    query,
                    headers,
                };
                let auth =
                    v1::authorization(&parts, &creds.access_key_id, &creds.access_key_secret);
                headers.insert(http::header::AUTHORIZATION, header_value(auth)?);
            }
            SignVersion::V4 => {
                let parts = RequestParts {
                    method: method.as_str(),
                    bucket,
                    key,
                    query,
                    headers,
                };
                let (extra, auth) = v4::authorization_with_payload(
                    &parts,
                    &creds.access_key_id,
                    &creds.access_key_secret,
                    &self.config.region,
                    now,
                    &[],
                    payload_hash.as_deref().unwrap_or(v4::UNSIGNED_PAYLOAD),
                );
                for (name, value) in extra {
                    headers.insert(name, header_value(value)?);
                }
                headers.insert(http::header::AUTHORIZATION, header_value(auth)?);
            }
        }
        Ok(())
    }
}

fn clone_replayable(body: &RequestBody) -> RequestBody {
    match body {
        RequestBody::Empty => RequestBody::Empty,
        RequestBody::Bytes(b) => RequestBody::Bytes(b.clone()),
        RequestBody::File { path, offset, len } => RequestBody::File {
            path: path.clone(),
            offset: *offset,
            len: *len,
        },
        RequestBody::Stream { .. } => unreachable!("streams are not replayable"),
    }
}

/// Turns a body into reqwest's, updating `crc` with every byte as it is sent.
async fn into_reqwest(body: RequestBody, crc: Arc<Mutex<Crc64>>) -> Result<reqwest::Body, Error> {
    Ok(match body {
        RequestBody::Empty => reqwest::Body::from(Bytes::new()),
        RequestBody::Bytes(b) => {
            if let Ok(mut c) = crc.lock() {
                c.update(&b);
            }
            reqwest::Body::from(b)
        }
        RequestBody::File { path, offset, len } => {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io(format!("cannot seek in {}", path.display()), e))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10)
                .map(move |chunk| {
                    if let (Ok(data), Ok(mut c)) = (&chunk, crc.lock()) {
                        c.update(data);
                    }
                    chunk
                });
            reqwest::Body::wrap_stream(stream)
        }
        RequestBody::Stream { body, .. } => body,
    })
}

/// Reads an error answer: the `<Error>` body, or for bodiless answers (HEAD) the `x-oss-err`
/// header; anything else becomes a code named after the status.
async fn service_error(response: reqwest::Response) -> ServiceError {
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header(headers::REQUEST_ID).unwrap_or_default();
    let ec_header = header(headers::OSS_EC);
    let err_header = header(headers::OSS_ERR);
    let body = response.bytes().await.unwrap_or_default();
    let xml_text = if body.is_empty() {
        err_header
            .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
            .and_then(|b| String::from_utf8(b).ok())
    } else {
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    match xml_text
        .as_deref()
        .and_then(|t| xml::from_xml::<ErrorBody>(t).ok())
    {
        Some(e) => ServiceError {
            status: status.as_u16(),
            code: e.code,
            message: e.message,
            request_id: if e.request_id.is_empty() {
                request_id
            } else {
                e.request_id
            },
            ec: e.ec.or(ec_header),
        },
        None => match xml_text.as_deref().and_then(json_error) {
            // The embedded server's KMS API answers errors in JSON, as Alibaba Cloud KMS does.
            Some((code, message, id)) => ServiceError {
                status: status.as_u16(),
                code,
                message,
                request_id: id.unwrap_or(request_id),
                ec: ec_header,
            },
            None => ServiceError {
                status: status.as_u16(),
                code: status
                    .canonical_reason()
                    .unwrap_or("UnknownError")
                    .replace(' ', ""),
                message: xml_text.unwrap_or_default().chars().take(200).collect(),
                request_id,
                ec: ec_header,
            },
        },
    }
}

/// `{"Code": …, "Message": …, "RequestId": …}`: code, message and request id.
fn json_error(text: &str) -> Option<(String, String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let field = |name: &str| v.get(name).and_then(|f| f.as_str()).map(str::to_owned);
    Some((
        field("Code")?,
        field("Message").unwrap_or_default(),
        field("RequestId"),
    ))
}

/// Reads an XML answer into `T`.
pub(crate) async fn read_xml<T: for<'de> serde::Deserialize<'de>>(
    response: reqwest::Response,
) -> Result<T, Error> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_XML_RESPONSE)
    {
        return Err(Error::InvalidResponse("XML answer too large".into()));
    }
    let mut stream = response.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        if buf.len() > MAX_XML_RESPONSE {
            return Err(Error::InvalidResponse("XML answer too large".into()));
        }
    }
    let text = String::from_utf8(buf)
        .map_err(|_| Error::InvalidResponse("XML answer is not UTF-8".into()))?;
    xml::from_xml(&text).map_err(|e| Error::InvalidResponse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientConfig, Credentials};
    use ossvault_proto::sign::{verify, Verified};

    fn client(endpoint: &str, style: AddressStyle, version: SignVersion) -> Client {
        let creds = Credentials {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
        };
        let mut config = ClientConfig::new(endpoint, "cn-hangzhou", creds);
        config.address_style = style;
        config.sign_version = version;
        Client::new(config).unwrap()
    }

    #[test]
    fn addressing_is_path_style_for_ip_and_localhost_and_virtual_hosted_otherwise() {
        let key = Some("dir/a b+c%.txt");
        let q = [
            ("uploadId".to_owned(), "x/y".to_owned()),
            ("acl".to_owned(), String::new()),
        ];
        let real = client(
            "https://oss-cn-hangzhou.aliyuncs.com",
            AddressStyle::Auto,
            SignVersion::V4,
        );
        assert_eq!(
            real.url(Some("bucket"), key, &q).unwrap(),
            "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir%2Fa%20b%2Bc%25.txt?uploadId=x%2Fy&acl"
        );
        assert_eq!(
            real.url(Some("bucket"), None, &[]).unwrap(),
            "https://bucket.oss-cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            real.url(None, None, &[]).unwrap(),
            "https://oss-cn-hangzhou.aliyuncs.com/"
        );
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            let c = client(local, AddressStyle::Auto, SignVersion::V4);
            assert_eq!(
                c.url(Some("b"), key, &[]).unwrap(),
                format!("{local}/b/dir%2Fa%20b%2Bc%25.txt")
            );
        }
        let forced = client(
            "https://oss-cn-hangzhou.aliyuncs.com",
            AddressStyle::Path,
            SignVersion::V1,
        );
        assert_eq!(
            forced.url(Some("b"), Some("k"), &[]).unwrap(),
            "https://oss-cn-hangzhou.aliyuncs.com/b/k"
        );
        let virt = client(
            "http://127.0.0.1:9000",
            AddressStyle::Virtual,
            SignVersion::V1,
        );
        assert_eq!(
            virt.url(Some("b"), Some("k"), &[]).unwrap(),
            "http://b.127.0.0.1:9000/k"
        );
        assert!(
            real.url(Some("b"), Some(".."), &[]).is_err(),
            "dot segments cannot be addressed"
        );
        assert!(Client::new(ClientConfig::new(
            "ftp://x",
            "r",
            Credentials {
                access_key_id: "a".into(),
                access_key_secret: "s".into()
            }
        ))
        .is_err());
    }

    /// A presigned URL made by the client verifies with the server's verifier (both schemes,
    /// both address styles), and fails with another secret.
    #[test]
    fn presigned_urls_verify_on_the_server_side() {
        for endpoint in [
            "http://127.0.0.1:9000",
            "https://oss-cn-hangzhou.aliyuncs.com",
        ] {
            for version in [SignVersion::V1, SignVersion::V4] {
                let c = client(endpoint, AddressStyle::Auto, version);
                let url = c
                    .presign("GET", "bucket", "dir/a b+c.txt", Duration::from_secs(600))
                    .unwrap();
                let raw_query = url.split_once('?').unwrap().1;
                let query = ossvault_proto::encode::parse_query(raw_query).unwrap();
                let headers = HeaderMap::new();
                let parts = RequestParts {
                    method: "GET",
                    bucket: Some("bucket"),
                    key: Some("dir/a b+c.txt"),
                    query: &query,
                    headers: &headers,
                };
                let ok = verify(
                    &parts,
                    "cn-hangzhou",
                    |id| (id == "ak").then(|| "sk".to_owned()),
                    SystemTime::now(),
                );
                assert_eq!(
                    ok,
                    Ok(Verified::Signed {
                        access_key_id: "ak".into()
                    }),
                    "{url}"
                );
                let bad = verify(
                    &parts,
                    "cn-hangzhou",
                    |_| Some("other".to_owned()),
                    SystemTime::now(),
                );
                assert!(bad.is_err(), "{url}");
            }
        }
    }
}

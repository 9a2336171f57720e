//! ListObjects (v1) and ListObjectsV2.

use super::{time_of, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::{ListEntry, ListPage};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::Response;
use ossvault_proto::encode::uri_encode;
use ossvault_proto::limits::{DEFAULT_LIST_KEYS, MAX_LIST_PAGE};
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{CommonPrefix, ListBucketResult, ListBucketResultV2, ObjectSummary};

struct Listing {
    prefix: String,
    delimiter: String,
    max_keys: usize,
    url: bool,
}

impl Listing {
    fn from(ctx: &Ctx) -> Result<Self, ApiError> {
        let max_keys = match ctx.query.non_empty("max-keys") {
            None => DEFAULT_LIST_KEYS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_argument("max-keys must be between 1 and 1000.")
                })?,
        };
        Ok(Listing {
            prefix: ctx.query.non_empty("prefix").unwrap_or_default().to_owned(),
            delimiter: ctx
                .query
                .non_empty("delimiter")
                .unwrap_or_default()
                .to_owned(),
            max_keys,
            url: ctx.query.url_encoded(),
        })
    }

    /// Encodes a listed string as the request asked.
    fn enc(&self, s: &str) -> String {
        if self.url {
            uri_encode(s)
        } else {
            s.to_owned()
        }
    }

    async fn page(&self, ctx: &Ctx, after: String) -> Result<ListPage, ApiError> {
        let (bucket, prefix, delimiter, max) = (
            ctx.bucket().to_owned(),
            self.prefix.clone(),
            self.delimiter.clone(),
            self.max_keys,
        );
        blocking(ctx.store(), move |s| {
            s.list_objects(&bucket, &prefix, &delimiter, &after, max)
        })
        .await
    }

    /// Splits a page into `<Contents>` and `<CommonPrefixes>`, and names its last entry.
    fn render(
        &self,
        ctx: &Ctx,
        page: &ListPage,
        with_owner: bool,
    ) -> (Vec<ObjectSummary>, Vec<CommonPrefix>, Option<String>) {
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let mut last = None;
        for entry in &page.entries {
            match entry {
                ListEntry::Object { key, record } => {
                    contents.push(ObjectSummary {
                        key: self.enc(key),
                        last_modified: iso8601(time_of(record.last_modified_ms)),
                        etag: record.etag.clone(),
                        object_type: record.object_type.as_str().to_owned(),
                        size: record.size,
                        storage_class: record.storage_class.clone(),
                        owner: with_owner.then(|| ctx.state.owner()),
                        restore_info: super::restore::restore_info(record),
                    });
                    last = Some(key.clone());
                }
                ListEntry::Prefix(p) => {
                    prefixes.push(CommonPrefix {
                        prefix: self.enc(p),
                    });
                    last = Some(p.clone());
                }
            }
        }
        (contents, prefixes, last)
    }
}

pub async fn list_objects_v1(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let listing = Listing::from(&ctx)?;
    let marker = ctx.query.non_empty("marker").unwrap_or_default().to_owned();
    let page = listing.page(&ctx, marker.clone()).await?;
    let (contents, common_prefixes, last) = listing.render(&ctx, &page, true);
    let result = ListBucketResult {
        name: ctx.bucket().to_owned(),
        prefix: listing.enc(&listing.prefix),
        marker: listing.enc(&marker),
        max_keys: listing.max_keys as u32,
        delimiter: listing.enc(&listing.delimiter),
        encoding_type: listing.url.then(|| "url".to_owned()),
        is_truncated: page.truncated,
        next_marker: if page.truncated {
            last.map(|l| listing.enc(&l))
        } else {
            None
        },
        contents,
        common_prefixes,
    };
    Ok(with_token(xml_ok("ListBucketResult", &result), &page))
}

pub async fn list_objects_v2(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let listing = Listing::from(&ctx)?;
    let token = ctx.query.non_empty("continuation-token").map(str::to_owned);
    let start_after = ctx.query.non_empty("start-after").map(str::to_owned);
    let after = match &token {
        Some(t) => decode_token(t)?,
        None => start_after.clone().unwrap_or_default(),
    };
    let fetch_owner = ctx.query.get("fetch-owner") == Some("true");
    let page = listing.page(&ctx, after).await?;
    let (contents, common_prefixes, last) = listing.render(&ctx, &page, fetch_owner);
    let result = ListBucketResultV2 {
        name: ctx.bucket().to_owned(),
        prefix: listing.enc(&listing.prefix),
        continuation_token: token,
        start_after: start_after.map(|s| listing.enc(&s)),
        max_keys: listing.max_keys as u32,
        delimiter: listing.enc(&listing.delimiter),
        encoding_type: listing.url.then(|| "url".to_owned()),
        is_truncated: page.truncated,
        next_continuation_token: if page.truncated {
            last.map(|l| encode_token(&l))
        } else {
            None
        },
        key_count: page.entries.len() as u32,
        contents,
        common_prefixes,
    };
    Ok(with_token(xml_ok("ListBucketResult", &result), &page))
}

/// The listing token header (ossvault's own; clients of OSS ignore it).
fn with_token(mut response: Response<Body>, page: &ListPage) -> Response<Body> {
    if let Ok(value) = http::HeaderValue::from_str(&page.token) {
        response
            .headers_mut()
            .insert(ossvault_proto::headers::LISTING_TOKEN, value);
    }
    response
}

/// Continuation tokens are the last listed key (or prefix), URL-safe base64: opaque to
/// clients, and made of characters that survive oss2's URL-decoding of the token.
fn encode_token(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(after.as_bytes())
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid_argument("The continuation token provided is incorrect."))
}

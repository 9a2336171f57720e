//! Object tagging: `?tagging` (Put/Get/DeleteObjectTagging) and the `x-oss-tagging` header of
//! the writes (PutObject, the first AppendObject, InitiateMultipartUpload, CopyObject with
//! `x-oss-tagging-directive`, PutSymlink).

use super::object::load_object;
use super::{empty, versioning, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::ObjectRecord;
use http::{Response, StatusCode};
use ossvault_proto::xml::{self, Tag, TagSet, Tagging};
use ossvault_proto::{encode, ErrorCode};

use ossvault_proto::headers::{TAGGING, TAGGING_DIRECTIVE};

/// OSS's limits: at most 10 tags per object, keys of 1–128 characters, values up to 256.
const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// An object's tags, in the order they were given.
pub type Tags = Vec<(String, String)>;

/// Checks tags against OSS's rules: count, lengths, unique keys, and the characters tags may
/// hold (letters and digits of any script, space and `+ - = . _ : / @`).
pub fn validate(tags: &Tags) -> Result<(), ApiError> {
    let invalid = |m: String| ApiError::msg(ErrorCode::InvalidTag, m);
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!(
            "An object can have at most {MAX_TAGS} tags; {} were given.",
            tags.len()
        )));
    }
    let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
    for (i, (key, value)) in tags.iter().enumerate() {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_KEY_CHARS || !key.chars().all(allowed) {
            return Err(invalid(format!(
                "The tag key '{key}' is not valid (1 to {MAX_KEY_CHARS} letters, digits, spaces \
                 or + - = . _ : / @)."
            )));
        }
        if value.chars().count() > MAX_VALUE_CHARS || !value.chars().all(allowed) {
            return Err(invalid(format!(
                "The value of tag '{key}' is not valid (up to {MAX_VALUE_CHARS} letters, digits, \
                 spaces or + - = . _ : / @)."
            )));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid(format!("The tag key '{key}' is given twice.")));
        }
    }
    Ok(())
}

/// The tags of `x-oss-tagging` (none when absent), validated.
pub fn from_header(ctx: &Ctx) -> Result<Tags, ApiError> {
    let Some(raw) = ctx.header(TAGGING) else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            encode::percent_decode(s).ok_or_else(|| {
                ApiError::msg(
                    ErrorCode::InvalidTag,
                    "x-oss-tagging is not valid percent-encoded UTF-8.",
                )
            })
        };
        tags.push((decode(k)?, decode(v)?));
    }
    validate(&tags)?;
    Ok(tags)
}

/// A copy's tags: the source's (`x-oss-tagging-directive: COPY`, the default) or the
/// request's (`REPLACE`).
pub fn for_copy(ctx: &Ctx, source: &Tags) -> Result<Tags, ApiError> {
    match ctx.header(TAGGING_DIRECTIVE).unwrap_or("COPY") {
        d if d.eq_ignore_ascii_case("COPY") => Ok(source.clone()),
        d if d.eq_ignore_ascii_case("REPLACE") => from_header(ctx),
        d => Err(ApiError::invalid_argument(format!(
            "Unknown tagging directive '{d}'."
        ))),
    }
}

pub async fn get_object_tagging(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = load_object(&ctx).await?;
    let response = xml_ok("Tagging", &to_xml_model(&record.tags));
    Ok(versioning::with_answered(&ctx, response, &record))
}

pub async fn put_object_tagging(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let raw = ctx.small_body().await?;
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::new(ErrorCode::MalformedXML))?;
    let request: Tagging =
        xml::from_xml(text).map_err(|e| ApiError::msg(ErrorCode::MalformedXML, e.to_string()))?;
    let tags: Tags = request
        .tag_set
        .tag
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    validate(&tags)?;
    let record = set(&ctx, tags).await?;
    Ok(versioning::with_answered(
        &ctx,
        empty(StatusCode::OK),
        &record,
    ))
}

pub async fn delete_object_tagging(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let record = set(&ctx, Vec::new()).await?;
    Ok(versioning::with_answered(
        &ctx,
        empty(StatusCode::NO_CONTENT),
        &record,
    ))
}

/// Sets the tags of the current object, or of the version `versionId` names.
async fn set(ctx: &Ctx, tags: Tags) -> Result<ObjectRecord, ApiError> {
    let version = versioning::requested(ctx)?;
    let (bucket, key) = (ctx.bucket().to_owned(), ctx.key().to_owned());
    blocking(ctx.store(), move |s| {
        s.update_version(&bucket, &key, version.as_deref(), move |o| o.tags = tags)
    })
    .await
}

fn to_xml_model(tags: &Tags) -> Tagging {
    Tagging {
        tag_set: TagSet {
            tag: tags
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn oss_limits() {
        assert!(validate(&tags(&[(&"a".repeat(128), &"b".repeat(256))])).is_ok());
        assert!(validate(&tags(&[
            ("+-.:", "_/"),
            (" +/ ", "中文"),
            ("中文", "test++/")
        ]))
        .is_ok());
        assert!(validate(&tags(&[("k", "")])).is_ok());
        let code = |t: Tags| validate(&t).unwrap_err().code;
        assert_eq!(
            code(tags(&[(&"a".repeat(129), "v")])),
            ErrorCode::InvalidTag
        );
        assert_eq!(
            code(tags(&[("k", &"v".repeat(257))])),
            ErrorCode::InvalidTag
        );
        assert_eq!(code(tags(&[("k", "%abc")])), ErrorCode::InvalidTag);
        assert_eq!(code(tags(&[("", "v")])), ErrorCode::InvalidTag);
        assert_eq!(code(tags(&[("k", "1"), ("k", "2")])), ErrorCode::InvalidTag);
        let eleven: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(code(eleven), ErrorCode::InvalidTag);
    }
}

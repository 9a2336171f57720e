//! Pieces of canonicalisation shared by V1 and V4, signer and verifier alike.

use http::{HeaderMap, HeaderValue};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// A header value as text. Values are signed as their bytes, which clients produce from UTF-8
/// strings; anything else cannot match a signature anyway, so a lossy conversion is enough.
pub(crate) fn header_text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// Every value of header `name`, each trimmed, joined by `,` (how OSS merges repeated headers);
/// `None` if the header is absent.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let joined: Vec<String> = values.map(|v| header_text(v).trim().to_owned()).collect();
    Some(joined.join(","))
}

/// `name:value\n` for every header selected by `signed`, sorted by name (names in a `HeaderMap`
/// are already lowercase).
pub(crate) fn canonical_headers(headers: &HeaderMap, signed: impl Fn(&str) -> bool) -> String {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| signed(name))
        .collect();
    names.sort_unstable();
    let mut out = String::new();
    for name in names {
        // Present by construction: the name came from the map.
        let value = header(headers, name).unwrap_or_default();
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out
}

/// Appends `?name=value&name…` (a parameter without a value as its bare name) to a canonical
/// resource, in the order given.
pub(crate) fn push_query<N: AsRef<str>, V: AsRef<str>>(
    resource: &mut String,
    params: impl IntoIterator<Item = (N, V)>,
) {
    for (i, (name, value)) in params.into_iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(name.as_ref());
        if !value.as_ref().is_empty() {
            resource.push('=');
            resource.push_str(value.as_ref());
        }
    }
}

/// The first value of query parameter `name`.
pub(crate) fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Seconds since the epoch, negative before it, for window arithmetic.
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_trims_repeated_headers() {
        let mut h = HeaderMap::new();
        h.append("x-oss-meta-a", HeaderValue::from_static(" 1 "));
        h.append("x-oss-meta-a", HeaderValue::from_static("2"));
        h.append("x-oss-meta-b", HeaderValue::from_static("b"));
        h.append("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(header(&h, "x-oss-meta-a").as_deref(), Some("1,2"));
        assert_eq!(header(&h, "X-OSS-META-B").as_deref(), Some("b"));
        assert_eq!(header(&h, "x-oss-meta-c"), None);
        assert_eq!(
            canonical_headers(&h, |n| n.starts_with("x-oss-")),
            "x-oss-meta-a:1,2\nx-oss-meta-b:b\n"
        );
    }

    #[test]
    fn utf8_header_values() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-oss-meta-name",
            HeaderValue::from_bytes("中文".as_bytes()).unwrap(),
        );
        assert_eq!(header(&h, "x-oss-meta-name").as_deref(), Some("中文"));
    }

    #[test]
    fn unix_seconds() {
        use std::time::Duration;
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}

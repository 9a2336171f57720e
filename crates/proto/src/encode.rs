//! The URL encodings OSS uses in paths, queries, signatures and listings.
//!
//! Two directions, deliberately asymmetric:
//! - decoding ([`percent_decode`], [`parse_query`]) is strict: a malformed escape or non-UTF-8
//!   result is an error rather than being passed through, because the decoded text is what gets
//!   signed and stored, and a lenient decoder would let two different URLs name the same key;
//! - encoding ([`uri_encode`], [`uri_encode_path`]) is the RFC 3986 form every SDK agrees on.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters (`A-Za-z0-9-_.~`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`RFC3986`], but `/` is kept (paths).
const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// Percent-decodes once, as UTF-8 (`%2F` → `/`, `+` stays `+`). `None` if the result is not UTF-8
/// or an escape is malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    // Fast path: nothing to decode, and the input is already valid UTF-8.
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a query string (`a=b&c&d=`) into pairs, in order; names and values form-decoded: `+`
/// is a space (oss2 sends `prefix=space+dir`; a literal plus arrives as `%2B`), then
/// percent-decoded. A name without `=` has an empty value.
///
/// Empty segments (`a=1&&b=2`, a trailing `&`) carry nothing and are skipped. Only the first `=`
/// separates name and value, so `a=b=c` is `("a", "b=c")`.
pub fn parse_query(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            let form_decode = |s: &str| percent_decode(&s.replace('+', " "));
            Some((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// RFC 3986 encoding: `A-Za-z0-9-_.~` kept, everything else `%XX` (uppercase), `/` included.
/// This is the encoding of `encoding-type=url` listings and of V4 canonical query parts.
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// As [`uri_encode`] but keeps `/` (the V4 canonical URI and path-style object URLs).
pub fn uri_encode_path(s: &str) -> String {
    utf8_percent_encode(s, RFC3986_PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_basic() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%20").as_deref(), Some(" "));
        assert_eq!(percent_decode("").as_deref(), Some(""));
        assert_eq!(
            percent_decode("%E4%B8%AD%E6%96%87").as_deref(),
            Some("中文")
        );
        // Already-decoded UTF-8 passes through.
        assert_eq!(percent_decode("中文").as_deref(), Some("中文"));
    }

    #[test]
    fn decode_only_once() {
        assert_eq!(percent_decode("%252F").as_deref(), Some("%2F"));
    }

    #[test]
    fn decode_malformed() {
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("a%g1"), None);
        // Not UTF-8 once decoded.
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("%E4%B8"), None);
    }

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query(""), Some(vec![]));
        assert_eq!(
            parse_query("a=b&c&d=").unwrap(),
            vec![
                ("a".into(), "b".into()),
                ("c".into(), "".into()),
                ("d".into(), "".into())
            ]
        );
        assert_eq!(
            parse_query("acl").unwrap(),
            vec![("acl".to_string(), String::new())]
        );
        assert_eq!(
            parse_query("k=a%3Db=c&%2Bx=1+2").unwrap(),
            vec![("k".into(), "a=b=c".into()), ("+x".into(), "1 2".into())]
        );
        assert_eq!(
            parse_query("a=1&&b=2&").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        // Order and duplicates are kept.
        assert_eq!(
            parse_query("z=1&a=2&z=3").unwrap(),
            vec![
                ("z".into(), "1".into()),
                ("a".into(), "2".into()),
                ("z".into(), "3".into())
            ]
        );
        assert_eq!(parse_query("a=%zz"), None);
        assert_eq!(parse_query("%FF=1"), None);
    }

    #[test]
    fn encode_rfc3986() {
        assert_eq!(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(uri_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(uri_encode("+|=&;:?#"), "%2B%7C%3D%26%3B%3A%3F%23");
        assert_eq!(uri_encode("中"), "%E4%B8%AD");
        assert_eq!(uri_encode("\u{1}\u{7}"), "%01%07");
        assert_eq!(uri_encode("%"), "%25");
    }

    #[test]
    fn encode_path_keeps_slash() {
        assert_eq!(
            uri_encode_path("/bucket/1234+-/123/1.txt"),
            "/bucket/1234%2B-/123/1.txt"
        );
        assert_eq!(uri_encode_path("/a b/"), "/a%20b/");
    }

    #[test]
    fn encode_decode_round_trip() {
        for s in [
            "",
            "a/b",
            "阿里云/加油/:?;@&=+$, /<>{}[]|/",
            "中文+_)(*&^%$#@!前缀",
            "\u{1}",
        ] {
            assert_eq!(percent_decode(&uri_encode(s)).as_deref(), Some(s));
            assert_eq!(percent_decode(&uri_encode_path(s)).as_deref(), Some(s));
        }
    }
}

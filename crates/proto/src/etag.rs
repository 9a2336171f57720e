//! ETag rules: `"` + uppercase hex MD5 + `"`; multipart `"UPPER(hex(MD5(P1‖…‖Pn)))-N"`.
//!
//! The multipart formula hashes the part ETags as ASCII hex text, not their binary MD5s as S3
//! does. Sources: two real OSS captures, oss2 `unittests/test_multipart.py::test_complete` and
//! aliyun-oss-go-sdk `oss/download_test.go` (100 KiB parts of `sample/BingWallpaper-2015-11-07.jpg`).

use md5::{Digest, Md5};

/// ETag of a simple object or a part from its MD5, with the quotes.
pub fn from_md5(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode_upper(md5))
}

/// Multipart ETag, with quotes, from the part ETags in part order (quoted or not, any case).
pub fn multipart<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Md5::new();
    let mut count = 0usize;
    for etag in part_etags {
        hasher.update(normalize(etag).as_bytes());
        count += 1;
    }
    format!("\"{}-{count}\"", hex::encode_upper(hasher.finalize()))
}

/// An ETag without quotes, uppercased, for comparisons (`"abc"` and `ABC` compare equal).
pub fn normalize(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_uppercase()
}

/// Whether an `If-Match`/`If-None-Match` header value (a list, or `*`) matches `etag`.
///
/// Entries may be quoted or not and may carry the weak prefix `W/`: OSS ETags are opaque
/// strong validators, and a client quoting one back as weak still means the same object.
pub fn matches_condition(header: &str, etag: &str) -> bool {
    let wanted = normalize(etag);
    split_list(header).any(|entry| {
        let entry = entry.trim();
        let entry = entry
            .strip_prefix("W/")
            .or_else(|| entry.strip_prefix("w/"))
            .unwrap_or(entry);
        entry == "*" || (!entry.is_empty() && normalize(entry) == wanted)
    })
}

/// Splits a comma-separated list of entity tags, ignoring commas inside quotes (RFC 9110 allows
/// any visible character inside an entity tag, commas included).
fn split_list(header: &str) -> impl Iterator<Item = &str> {
    let mut in_quotes = false;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, c) in header.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                pieces.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&header[start..]);
    pieces.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_etag() {
        let md5: [u8; 16] = Md5::digest(b"hello world").into();
        assert_eq!(from_md5(&md5), "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"");
    }

    #[test]
    fn multipart_vector() {
        let parts = [
            "4DE8075FB607DF4D13FBC480EA488EFA",
            "AF947EC157726CEA88ED83B3C989063B",
        ];
        let expected = "\"1C787C506EABFB9B45EAAA8DB039F4B2-2\"";
        assert_eq!(multipart(parts), expected);
        // Quoted and lowercase inputs give the same result.
        assert_eq!(
            multipart([
                "\"4de8075fb607df4d13fbc480ea488efa\"",
                "\"AF947EC157726CEA88ED83B3C989063B\""
            ]),
            expected
        );
        let owned: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
        assert_eq!(multipart(owned.iter().map(String::as_str)), expected);
    }

    #[test]
    fn multipart_single_part() {
        let etag = multipart(["5EB63BBBE01EEED093CB22BB8F5ACDC3"]);
        let md5 = Md5::digest(b"5EB63BBBE01EEED093CB22BB8F5ACDC3");
        assert_eq!(etag, format!("\"{}-1\"", hex::encode_upper(md5)));
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize("\"abc\""), "ABC");
        assert_eq!(normalize("ABC"), "ABC");
        assert_eq!(normalize(" \"aBc-2\" "), "ABC-2");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn conditions() {
        let etag = "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"";
        assert!(matches_condition("*", etag));
        assert!(matches_condition(" * ", etag));
        assert!(matches_condition(etag, etag));
        assert!(matches_condition("5eb63bbbe01eeed093cb22bb8f5acdc3", etag));
        assert!(matches_condition(
            "W/\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"",
            etag
        ));
        assert!(matches_condition(
            "\"0000\", \"5EB63BBBE01EEED093CB22BB8F5ACDC3\"",
            etag
        ));
        assert!(matches_condition(
            "\"0000\",5EB63BBBE01EEED093CB22BB8F5ACDC3",
            etag
        ));
        assert!(matches_condition("\"0000\", *", etag));
        assert!(!matches_condition("\"0000\"", etag));
        assert!(!matches_condition("", etag));
        assert!(!matches_condition(" , ", etag));
        assert!(!matches_condition(
            "\"5EB63BBBE01EEED093CB22BB8F5ACDC\"",
            etag
        ));
        // A comma inside quotes does not split the entry.
        assert!(matches_condition("\"a,b\"", "\"A,B\""));
        assert!(!matches_condition("\"a,b\"", "\"A\""));
    }
}

//! ETag rules: `"` + uppercase hex MD5 + `"`; multipart `"UPPER(hex(MD5(P1‖…‖Pn)))-N"`.

/// ETag of a simple object or a part from its MD5, with the quotes.
pub fn from_md5(md5: &[u8; 16]) -> String { todo!() }

/// Multipart ETag, with quotes, from the part ETags in part order (quoted or not, any case).
pub fn multipart<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> String { todo!() }

/// An ETag without quotes, uppercased, for comparisons (`"abc"` and `ABC` compare equal).
pub fn normalize(etag: &str) -> String { todo!() }

/// Whether an `If-Match`/`If-None-Match` header value (a list, or `*`) matches `etag`.
pub fn matches_condition(header: &str, etag: &str) -> bool { todo!() }

//! The URL encodings OSS uses in paths, queries, signatures and listings.

/// Percent-decodes once, as UTF-8 (`%2F` → `/`, `+` stays `+`). `None` if the result is not UTF-8
/// or an escape is malformed.
pub fn percent_decode(s: &str) -> Option<String> { todo!() }

/// Decodes a query string (`a=b&c&d=`) into pairs, in order; names and values percent-decoded
/// (`+` is a literal plus). A name without `=` has an empty value.
pub fn parse_query(raw: &str) -> Option<Vec<(String, String)>> { todo!() }

/// RFC 3986 encoding: `A-Za-z0-9-_.~` kept, everything else `%XX` (uppercase), `/` included.
/// This is the encoding of `encoding-type=url` listings and of V4 canonical query parts.
pub fn uri_encode(s: &str) -> String { todo!() }

/// As [`uri_encode`] but keeps `/` (the V4 canonical URI and path-style object URLs).
pub fn uri_encode_path(s: &str) -> String { todo!() }

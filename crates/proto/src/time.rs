//! Date formats exactly as OSS writes and reads them.

use std::time::SystemTime;

/// `Sat, 05 Dec 2015 11:10:29 GMT` (RFC 1123, two-digit day).
pub fn http_date(t: SystemTime) -> String { todo!() }
/// Parses an HTTP date (RFC 1123; RFC 850 and asctime also accepted, as HTTP requires).
pub fn parse_http_date(s: &str) -> Option<SystemTime> { todo!() }
/// `2015-02-02T05:15:13.000Z`: always `.000Z`, the SDKs' parsers insist on it.
pub fn iso8601(t: SystemTime) -> String { todo!() }
/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_iso8601(s: &str) -> Option<SystemTime> { todo!() }
/// V4 timestamp `20231216T162057Z`.
pub fn v4_timestamp(t: SystemTime) -> String { todo!() }
/// Parses a V4 timestamp `YYYYMMDDTHHMMSSZ`.
pub fn parse_v4_timestamp(s: &str) -> Option<SystemTime> { todo!() }

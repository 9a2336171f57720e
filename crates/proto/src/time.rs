//! Date formats exactly as OSS writes and reads them.
//!
//! Formatting never fails: times outside 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z are
//! clamped into that range (HTTP dates cannot express earlier times, and four-digit years end at
//! 9999), and sub-second precision is dropped, since none of these formats carries it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// 9999-12-31T23:59:59Z, the last second every format here can write.
const MAX_UNIX_SECS: u64 = 253_402_300_799;

/// Whole seconds since the epoch, clamped to the range all formats support.
fn clamped_unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_UNIX_SECS)
}

fn to_utc(t: SystemTime) -> OffsetDateTime {
    // In range by construction: clamped_unix_secs ≤ MAX_UNIX_SECS fits both i64 and the time
    // crate's default year range.
    OffsetDateTime::from_unix_timestamp(clamped_unix_secs(t) as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn format(t: SystemTime, description: &[time::format_description::FormatItem<'_>]) -> String {
    // Formatting a valid date with a fixed, well-formed description cannot fail; an empty string
    // is returned rather than panicking should that ever change.
    to_utc(t).format(description).unwrap_or_default()
}

/// `Sat, 05 Dec 2015 11:10:29 GMT` (RFC 1123, two-digit day).
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(clamped_unix_secs(t)))
}

/// Parses an HTTP date (RFC 1123; RFC 850 and asctime also accepted, as HTTP requires).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// `2015-02-02T05:15:13.000Z`: always `.000Z`, the SDKs' parsers insist on it.
pub fn iso8601(t: SystemTime) -> String {
    format(
        t,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z"),
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let description = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]Z"
    );
    let parsed = PrimitiveDateTime::parse(s, description).ok()?;
    Some(parsed.assume_utc().into())
}

/// V4 timestamp `20231216T162057Z`.
pub fn v4_timestamp(t: SystemTime) -> String {
    format(
        t,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
}

/// Parses a V4 timestamp `YYYYMMDDTHHMMSSZ`.
pub fn parse_v4_timestamp(s: &str) -> Option<SystemTime> {
    let description = format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = PrimitiveDateTime::parse(s, description).ok()?;
    Some(parsed.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates() {
        // 2015-12-05T11:10:29Z
        assert_eq!(http_date(at(1449313829)), "Sat, 05 Dec 2015 11:10:29 GMT");
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            parse_http_date("Sat, 05 Dec 2015 11:10:29 GMT"),
            Some(at(1449313829))
        );
        assert_eq!(
            parse_http_date("Wed, 28 Dec 2022 10:27:41 GMT"),
            Some(at(1672223261))
        );
        // RFC 850 and asctime.
        assert_eq!(
            parse_http_date("Saturday, 05-Dec-15 11:10:29 GMT"),
            Some(at(1449313829))
        );
        assert_eq!(
            parse_http_date("Sat Dec  5 11:10:29 2015"),
            Some(at(1449313829))
        );
        assert_eq!(parse_http_date("20151205T111029Z"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(at(1422854113)), "2015-02-02T05:15:13.000Z");
        // Sub-second precision is dropped, never rounded up.
        assert_eq!(
            iso8601(at(1422854113) + Duration::from_millis(999)),
            "2015-02-02T05:15:13.000Z"
        );
        assert_eq!(
            parse_iso8601("2015-02-02T05:15:13.000Z"),
            Some(at(1422854113))
        );
        assert_eq!(parse_iso8601("2015-02-02T05:15:13Z"), Some(at(1422854113)));
        assert_eq!(
            parse_iso8601("2015-02-02T05:15:13.5Z"),
            Some(at(1422854113) + Duration::from_millis(500))
        );
        assert_eq!(
            parse_iso8601("2015-02-02T05:15:13.123456Z"),
            Some(at(1422854113) + Duration::from_micros(123456))
        );
        assert_eq!(parse_iso8601("2015-02-02T05:15:13.000"), None);
        assert_eq!(parse_iso8601("2015-02-02 05:15:13Z"), None);
        assert_eq!(parse_iso8601("2015-02-30T05:15:13Z"), None);
        assert_eq!(parse_iso8601("2015-02-02T05:15:13.Z"), None);
    }

    #[test]
    fn v4_timestamps() {
        assert_eq!(v4_timestamp(at(1702743657)), "20231216T162057Z");
        assert_eq!(v4_timestamp(at(1702784856)), "20231217T034736Z");
        assert_eq!(parse_v4_timestamp("20231216T162057Z"), Some(at(1702743657)));
        assert_eq!(parse_v4_timestamp("20231216T162057"), None);
        assert_eq!(parse_v4_timestamp("2023-12-16T16:20:57Z"), None);
        assert_eq!(parse_v4_timestamp("20231316T162057Z"), None);
    }

    #[test]
    fn round_trips() {
        for secs in [
            0,
            1,
            951782400,
            1449313829,
            1702743657,
            4102444800,
            MAX_UNIX_SECS,
        ] {
            let t = at(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
            assert_eq!(parse_iso8601(&iso8601(t)), Some(t), "{secs}");
            assert_eq!(parse_v4_timestamp(&v4_timestamp(t)), Some(t), "{secs}");
        }
    }

    #[test]
    fn out_of_range_is_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso8601(before), "1970-01-01T00:00:00.000Z");
        let far = at(MAX_UNIX_SECS + 1_000_000);
        assert_eq!(iso8601(far), "9999-12-31T23:59:59.000Z");
        assert_eq!(v4_timestamp(far), "99991231T235959Z");
        assert_eq!(http_date(far), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}

//! Byte ranges: the `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) and
//! `x-oss-copy-source-range`, parsed once for the server and the clients.
//!
//! A header is first parsed into the [`RangeSpec`] it asks for, independent of any object,
//! then resolved against an object's size into the half-open [`ByteRange`] it selects. The
//! resolution here is the standard one (RFC 9110 §14.1.2, and OSS with
//! `x-oss-range-behavior: standard`): an end past the object is clamped, a start past it is
//! unsatisfiable. OSS's default leniency (an invalid range serves the whole object, "GetObject"
//! and <https://help.aliyun.com/document_detail/39571.htm>) is the server's to apply on top.

use std::fmt;

/// The bytes `start..end` of an object: half-open, `start < end` once resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// How many bytes the range covers.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range covers no byte (never true of a resolved range).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// The range a request asks for, before the object's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `a-b` (`end: Some(b)`, inclusive, as on the wire) or `a-` (`end: None`, to the end).
    From {
        /// The first byte asked for.
        start: u64,
        /// The last byte asked for, inclusive; `None` for the rest of the object.
        end: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Last(u64),
}

/// Why a range header cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The header does not start with `bytes=`.
    #[error("the range is not in bytes (expected bytes=a-b, bytes=a- or bytes=-n)")]
    NotBytes,
    /// The range is not `a-b`, `a-` or `-n` with decimal numbers.
    #[error("the range is not a-b, a- or -n with decimal byte positions")]
    Malformed,
    /// `a-b` with `b < a`.
    #[error("the range ends before it starts")]
    Reversed,
}

/// The range selects no byte of the object: it starts at or past its end, or asks for the
/// last 0 bytes, or the object is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the range selects no byte of a {size}-byte object")]
pub struct Unsatisfiable {
    /// The size of the object the range was resolved against.
    pub size: u64,
}

/// Parses a `Range` header value: `bytes=` then one or more comma-separated ranges, of which
/// only the first is honoured, as OSS does ("GetObject", multiple ranges). Whitespace around
/// the value and each number is ignored.
pub fn parse_range_header(value: &str) -> Result<RangeSpec, RangeError> {
    let set = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::NotBytes)?;
    parse_range_spec(set.split(',').next().unwrap_or_default())
}

/// Parses one range without the `bytes=` unit: `a-b`, `a-` or `-n` (what `ossvault cp --range`
/// takes, and each element of a `Range` header).
pub fn parse_range_spec(spec: &str) -> Result<RangeSpec, RangeError> {
    let (a, b) = spec.trim().split_once('-').ok_or(RangeError::Malformed)?;
    let (a, b) = (a.trim(), b.trim());
    let number = |t: &str| t.parse::<u64>().map_err(|_| RangeError::Malformed);
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Err(RangeError::Malformed),
        (true, false) => Ok(RangeSpec::Last(number(b)?)),
        (false, true) => Ok(RangeSpec::From {
            start: number(a)?,
            end: None,
        }),
        (false, false) => {
            let (start, end) = (number(a)?, number(b)?);
            if end < start {
                return Err(RangeError::Reversed);
            }
            Ok(RangeSpec::From {
                start,
                end: Some(end),
            })
        }
    }
}

impl RangeSpec {
    /// The bytes of a `size`-byte object this range selects, by the standard rules: an end
    /// past the object is clamped to it; a start at or past the end, `-0`, or an empty object
    /// is [`Unsatisfiable`].
    pub fn resolve(self, size: u64) -> Result<ByteRange, Unsatisfiable> {
        let unsatisfiable = Unsatisfiable { size };
        match self {
            RangeSpec::Last(n) => {
                if n == 0 || size == 0 {
                    return Err(unsatisfiable);
                }
                Ok(ByteRange {
                    start: size.saturating_sub(n),
                    end: size,
                })
            }
            RangeSpec::From { start, end } => {
                if start >= size {
                    return Err(unsatisfiable);
                }
                Ok(ByteRange {
                    start,
                    end: end.map_or(size, |e| e.min(size - 1) + 1),
                })
            }
        }
    }

    /// Whether the range names an explicit last byte at or past the end of a `size`-byte
    /// object (the case OSS serves whole without `x-oss-range-behavior: standard`).
    pub fn ends_past(self, size: u64) -> bool {
        matches!(self, RangeSpec::From { end: Some(e), .. } if e >= size)
    }
}

/// The header value: `bytes=a-b`, `bytes=a-` or `bytes=-n`.
impl fmt::Display for RangeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeSpec::From {
                start,
                end: Some(end),
            } => write!(f, "bytes={start}-{end}"),
            RangeSpec::From { start, end: None } => write!(f, "bytes={start}-"),
            RangeSpec::Last(n) => write!(f, "bytes=-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(start: u64, end: Option<u64>) -> RangeSpec {
        RangeSpec::From { start, end }
    }

    fn bytes(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn header_parsing() {
        use RangeError::*;
        let cases: &[(&str, Result<RangeSpec, RangeError>)] = &[
            ("bytes=0-9", Ok(from(0, Some(9)))),
            ("bytes=90-", Ok(from(90, None))),
            ("bytes=-10", Ok(RangeSpec::Last(10))),
            ("bytes=-0", Ok(RangeSpec::Last(0))),
            ("  bytes= 3 - 4 ", Ok(from(3, Some(4)))),
            // Only the first of several ranges counts.
            ("bytes=0-1,5-6", Ok(from(0, Some(1)))),
            ("bytes=0-1,garbage", Ok(from(0, Some(1)))),
            ("bytes=5-5", Ok(from(5, Some(5)))),
            ("bytes=9-3", Err(Reversed)),
            ("bytes=-", Err(Malformed)),
            ("bytes=", Err(Malformed)),
            ("bytes=a-3", Err(Malformed)),
            ("bytes=1-2-3", Err(Malformed)),
            ("bytes=--5", Err(Malformed)),
            ("bytes=18446744073709551616-", Err(Malformed)),
            ("items=0-3", Err(NotBytes)),
            ("Bytes=0-3", Err(NotBytes)),
            ("0-3", Err(NotBytes)),
        ];
        for (header, want) in cases {
            assert_eq!(parse_range_header(header), *want, "{header:?}");
        }
    }

    #[test]
    fn spec_parsing_without_unit() {
        assert_eq!(parse_range_spec("0-99"), Ok(from(0, Some(99))));
        assert_eq!(parse_range_spec("100-"), Ok(from(100, None)));
        assert_eq!(parse_range_spec("-5"), Ok(RangeSpec::Last(5)));
        assert_eq!(parse_range_spec("5"), Err(RangeError::Malformed));
        // A comma is not a separator here: `x-oss-copy-source-range` takes one range.
        assert_eq!(parse_range_spec("0-1,5-6"), Err(RangeError::Malformed));
    }

    #[test]
    fn resolution_against_a_size() {
        let cases: &[(RangeSpec, u64, Result<ByteRange, Unsatisfiable>)] = &[
            (from(0, Some(9)), 100, Ok(bytes(0, 10))),
            (from(90, None), 100, Ok(bytes(90, 100))),
            (RangeSpec::Last(10), 100, Ok(bytes(90, 100))),
            (RangeSpec::Last(1000), 100, Ok(bytes(0, 100))),
            (from(99, Some(99)), 100, Ok(bytes(99, 100))),
            // The end is clamped; the start is not.
            (from(50, Some(200)), 100, Ok(bytes(50, 100))),
            (from(100, None), 100, Err(Unsatisfiable { size: 100 })),
            (from(100, Some(200)), 100, Err(Unsatisfiable { size: 100 })),
            (RangeSpec::Last(0), 100, Err(Unsatisfiable { size: 100 })),
            (RangeSpec::Last(5), 0, Err(Unsatisfiable { size: 0 })),
            (from(0, None), 0, Err(Unsatisfiable { size: 0 })),
            (from(0, Some(u64::MAX)), u64::MAX, Ok(bytes(0, u64::MAX))),
        ];
        for (spec, size, want) in cases {
            assert_eq!(spec.resolve(*size), *want, "{spec:?} of {size}");
        }
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        for spec in [from(0, Some(9)), from(7, None), RangeSpec::Last(3)] {
            assert_eq!(parse_range_header(&spec.to_string()), Ok(spec));
        }
        assert_eq!(from(0, Some(9)).to_string(), "bytes=0-9");
    }

    #[test]
    fn ends_past_only_for_an_explicit_end() {
        assert!(from(0, Some(100)).ends_past(100));
        assert!(!from(0, Some(99)).ends_past(100));
        assert!(!from(0, None).ends_past(100));
        assert!(!RangeSpec::Last(500).ends_past(100));
    }
}

//! The OSS wire format, without I/O.
//!
//! Everything both sides of an OSS connection must agree on lives here: request signing and
//! verification (V1 and V4, header and presigned URL), the XML bodies, the local KMS's JSON
//! API, ossvault's admin API (scrub), error codes, CRC-64/XZ, ETag rules, byte ranges, date formats, URL encodings, the
//! naming rules for buckets and keys, and OSS's size and count limits.

pub mod admin;
pub mod crc64;
pub mod encode;
pub mod error;
pub mod etag;
pub mod headers;
pub mod kms;
pub mod limits;
pub mod names;
pub mod policy;
pub mod range;
pub mod sign;
pub mod time;
pub mod xml;

pub use error::ErrorCode;

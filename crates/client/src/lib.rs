//! An async client for the OSS API, used by the `ossvault` CLI, the desktop app and the sync
//! engine alike.
//!
//! [`Client`] sends signed requests (V4 by default, V1 on request) with retries, and exposes
//! every bucket, object, listing and multipart operation; [`transfer`] builds streaming,
//! resumable, parallel uploads and downloads with progress and cancellation on top of it.
//! It works unchanged against the embedded server and against Alibaba Cloud OSS.

mod admin;
mod config;
mod error;
mod kms;
mod ops;
mod request;
pub mod transfer;
mod versions;

pub use config::{AddressStyle, ClientConfig, Credentials, RetryPolicy, SignVersion};
pub use error::{Error, ServiceError};
pub use kms::{
    wrap_key_material, CreateKeyOptions, Decrypted, Encrypted, GeneratedDataKey, ImportParameters,
    KeyListEntry, KeyMetadata, KeyPage, MasterKeyRotation,
};
pub use ops::*;
// The range a GET asks for, as `ossvault_proto::range` parses and prints it.
pub use ossvault_proto::admin::{CorruptObject, ScrubReport, UncheckedObject};
pub use ossvault_proto::range::RangeSpec;
pub use request::{Client, RequestBody};
pub use versions::{ObjectVersionEntry, VersionListRequest, VersionPage, VersioningStatus};

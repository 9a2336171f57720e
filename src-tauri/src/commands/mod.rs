//! The commands, one module per domain.

pub mod app;
pub mod buckets;
pub mod connections;
pub mod keys;
pub mod kms;
pub mod objects;
pub mod settings;
pub mod transfers;

//! Input checks shared by the commands: a command refuses bad input before it calls anything.

use crate::error::{CmdResult, CommandError};

/// A connection name: a profile name (letters, digits, `-`, `_`, `.`).
pub fn connection(name: &str) -> CmdResult<()> {
    ossvault_ops::profiles::validate_name(name).map_err(CommandError::from)
}

/// A bucket name as OSS allows it.
pub fn bucket(name: &str) -> CmdResult<()> {
    if ossvault_proto::names::is_valid_bucket_name(name) {
        Ok(())
    } else {
        Err(CommandError::invalid(format!(
            "invalid bucket name {name:?}: 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen"
        )))
    }
}

/// An object key as OSS allows it.
pub fn key(key: &str) -> CmdResult<()> {
    if ossvault_proto::names::is_valid_object_key(key) {
        Ok(())
    } else {
        Err(CommandError::invalid(format!("invalid object key {key:?}")))
    }
}

/// A listing prefix: empty, or a valid key.
pub fn prefix(prefix: &str) -> CmdResult<()> {
    if prefix.is_empty() {
        Ok(())
    } else {
        key(prefix)
    }
}

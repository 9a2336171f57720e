//! The one error shape every command returns to the UI: `{code, message, requestId}`. The code
//! is stable (the OSS error code, or one of `ossvault_ops::Error::code`'s own), so the UI words
//! it in the user's language; the message is the library's English detail; the request id,
//! when OSS answered, is what its support asks for.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandError {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl CommandError {
    /// Input the command refuses before calling anything.
    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError {
            code: "InvalidInput".into(),
            message: message.into(),
            request_id: None,
        }
    }

    /// The embedded server is not running (it failed to start).
    pub fn server_down(message: impl Into<String>) -> Self {
        CommandError {
            code: "ServerNotRunning".into(),
            message: message.into(),
            request_id: None,
        }
    }
}

impl From<ossvault_ops::Error> for CommandError {
    fn from(e: ossvault_ops::Error) -> Self {
        CommandError {
            code: e.code().to_owned(),
            request_id: e.request_id().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

impl From<ossvault_client::Error> for CommandError {
    fn from(e: ossvault_client::Error) -> Self {
        ossvault_ops::Error::from(e).into()
    }
}

impl From<ossvault_keystore::Error> for CommandError {
    fn from(e: ossvault_keystore::Error) -> Self {
        ossvault_ops::Error::from(e).into()
    }
}

impl From<ossvault_sync::Error> for CommandError {
    fn from(e: ossvault_sync::Error) -> Self {
        match e {
            ossvault_sync::Error::Ops(e) => e.into(),
            e => CommandError {
                code: e.code().to_owned(),
                request_id: None,
                message: e.to_string(),
            },
        }
    }
}

pub type CmdResult<T> = Result<T, CommandError>;

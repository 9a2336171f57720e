//! What the server's benchmarks share: a server configuration and a client for it, with one
//! credential.

use ossvault_client::{Client, ClientConfig, Credentials};
use ossvault_server::{Config, Credential, RunningServer};
use std::path::PathBuf;

const ACCESS_KEY_ID: &str = "ak";
const ACCESS_KEY_SECRET: &str = "sk";

/// A server on a free port of 127.0.0.1 keeping its data in `data_dir`.
pub fn config(data_dir: PathBuf) -> Config {
    Config::new(
        data_dir,
        "127.0.0.1:0".parse().unwrap(),
        vec![Credential {
            access_key_id: ACCESS_KEY_ID.into(),
            access_key_secret: ACCESS_KEY_SECRET.into(),
        }],
    )
}

/// A client of `server` with the credential of [`config`].
pub fn client(server: &RunningServer) -> Client {
    Client::new(ClientConfig::new(
        server.endpoint(),
        "cn-hangzhou",
        Credentials {
            access_key_id: ACCESS_KEY_ID.into(),
            access_key_secret: ACCESS_KEY_SECRET.into(),
        },
    ))
    .unwrap()
}

//! A real embedded server on 127.0.0.1 for the client's tests.

#![allow(dead_code)]

use ossvault_client::{Client, ClientConfig, Credentials, SignVersion};
use ossvault_server::{Config, Credential, RunningServer};

pub const AK: &str = "client-test-ak";
pub const SK: &str = "client-test-secret";

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let credentials = vec![Credential {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        }];
        let config = Config::new(
            dir.path().join("data"),
            "127.0.0.1:0".parse().unwrap(),
            credentials,
        );
        let server = ossvault_server::start(config).await.unwrap();
        TestServer { server, dir }
    }

    pub fn client(&self, version: SignVersion) -> Client {
        let creds = Credentials {
            access_key_id: AK.into(),
            access_key_secret: SK.into(),
        };
        let mut config = ClientConfig::new(self.server.endpoint(), "cn-hangzhou", creds);
        config.sign_version = version;
        Client::new(config).unwrap()
    }
}

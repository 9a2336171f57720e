//! What the server's integration tests share: one access key and a configuration on a fresh
//! data directory.

use ossvault_server::{Config, Credential};

pub const AK: &str = "test-ak";
pub const SK: &str = "test-secret";

/// A configuration for 127.0.0.1 (any port) with its data in `<dir>/data`.
pub fn config_in(dir: &std::path::Path) -> Config {
    let credentials = vec![Credential {
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
    }];
    Config::new(
        dir.join("data"),
        "127.0.0.1:0".parse().unwrap(),
        credentials,
    )
}

/// [`config_in`] a fresh temporary directory, adjusted; the directory lives as long as the
/// returned handle.
pub fn test_config(adjust: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    adjust(&mut config);
    (dir, config)
}

//! How to reach and authenticate to an OSS endpoint.

use std::time::Duration;

/// An access key pair. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// The request signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignVersion {
    V1,
    #[default]
    V4,
}

/// Where the bucket goes in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressStyle {
    /// Path style for IP and `localhost` endpoints, virtual-hosted otherwise (as the SDKs do).
    #[default]
    Auto,
    /// `https://host/bucket/key`.
    Path,
    /// `https://bucket.host/key`.
    Virtual,
}

/// Retries with exponential backoff and full jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (attempt counts from 1): a random duration up to
    /// `min(max_delay, base_delay · 2^(attempt-1))`, so that clients failing together do not
    /// retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }
}

/// Everything a [`crate::Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `http://127.0.0.1:9000` or `https://oss-cn-hangzhou.aliyuncs.com`.
    pub endpoint: String,
    /// e.g. `cn-hangzhou` (V4 signs it).
    pub region: String,
    pub credentials: Credentials,
    pub sign_version: SignVersion,
    pub address_style: AddressStyle,
    /// A PEM certificate trusted in addition to the system roots (the embedded server's
    /// self-signed one).
    pub pinned_certificate_pem: Option<Vec<u8>>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Longest silence on an established connection before the request fails.
    pub read_timeout: Duration,
}

impl ClientConfig {
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            region: region.into(),
            credentials,
            sign_version: SignVersion::V4,
            address_style: AddressStyle::Auto,
            pinned_certificate_pem: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

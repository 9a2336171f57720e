//! Server configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::sse::RootSecret;
pub use crate::tls::TlsSource;

/// An access key pair accepted by the server. The secret is never logged (`Debug` hides it).
#[derive(Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Plain-HTTP listen address (port 0 picks a free port).
    pub address: SocketAddr,
    /// HTTPS listen address, if HTTPS is wanted.
    pub https_address: Option<SocketAddr>,
    /// The HTTPS certificate.
    pub tls: TlsSource,
    pub credentials: Vec<Credential>,
    /// Region reported for buckets, e.g. `cn-hangzhou`.
    pub region: String,
    /// Time allowed to send a request head (slowloris guard), and how long a keep-alive
    /// connection may sit idle waiting for its next request (hyper starts the same timer then).
    pub header_timeout: Duration,
    /// A request body whose next byte takes longer than this is cut: `RequestTimeout`, and the
    /// connection closes.
    pub body_idle_timeout: Duration,
    /// A request body arriving slower than this on average (bytes per second of waiting on
    /// the client) is cut the same way once `body_rate_grace` has passed; 0 turns it off.
    pub body_min_rate: u64,
    /// How long a body may wait on the client before `body_min_rate` applies.
    pub body_rate_grace: Duration,
    /// A connection whose client takes no byte of what is sent to it for this long is closed
    /// (a client that asks for a large object and stops reading).
    pub send_timeout: Duration,
    /// Largest object or part body accepted (OSS: 5 GiB).
    pub max_object_size: u64,
    /// Largest XML or JSON request body accepted.
    pub max_xml_body: usize,
    /// Most connections served at once by each listener (HTTP and HTTPS count separately);
    /// more wait in that listener's accept queue.
    pub max_connections: usize,
    /// Most connections open at once from one client address, over both listeners; more are
    /// closed as soon as they are accepted.
    pub max_connections_per_ip: usize,
    /// The secret all server keys are wrapped by; without it, server-side encryption is off.
    pub root_secret: Option<RootSecret>,
    /// How often the SSE-OSS master key rotates (checked hourly).
    pub master_key_rotation: Duration,
    /// Scrub every stored object this often (the first one interval after start); `None`: never.
    pub scrub_interval: Option<Duration>,
    /// Most bytes per second a periodic scrub reads.
    pub scrub_rate: u64,
    /// Free bytes kept on the data directory's disk: uploads that would eat into them are
    /// refused (503 ServiceUnavailable naming the cause) while metadata commits and deletes
    /// still succeed. 0: no reserve.
    pub min_free_space: u64,
    /// How long RestoreObject takes before an archived object is readable (OSS: a minute for
    /// Archive, hours for ColdArchive).
    pub restore_delay: Duration,
    /// Most memory the metadata database's page cache takes (it fills up to the database's
    /// size as objects are written and read).
    pub metadata_cache: usize,
    /// Content (an object, a part, an append) of at most this many bytes is stored inline in
    /// the metadata database rather than in a file of its own; 0: always a file.
    pub inline_max: usize,
}

impl Config {
    /// Blocking-pool threads the server may hold at once; the tokio runtime it runs on must
    /// allow at least this many (`Builder::max_blocking_threads`; tokio's default is 512).
    /// An upload holds two for as long as its body takes to arrive (the disk writer and the
    /// hasher wait on the network), a GET one for as long as the client takes to read: with
    /// fewer, a few hundred slow clients exhaust the pool and every request that touches the
    /// store waits behind them.
    pub fn blocking_threads(&self) -> usize {
        let listeners = 1 + usize::from(self.https_address.is_some());
        // Plus room for the short store calls (metadata, recovery, key maintenance).
        2 * self.max_connections * listeners + 64
    }

    /// Defaults for everything but where and as whom to serve.
    pub fn new(data_dir: PathBuf, address: SocketAddr, credentials: Vec<Credential>) -> Self {
        Config {
            data_dir,
            address,
            https_address: None,
            tls: TlsSource::SelfSigned,
            credentials,
            region: "cn-hangzhou".to_owned(),
            header_timeout: Duration::from_secs(30),
            // Long enough to ride out a few TCP retransmissions on a bad link, short enough
            // that a stalled upload frees its slot within half a minute.
            body_idle_timeout: Duration::from_secs(30),
            // Apache's mod_reqtimeout asks 500 B/s by default; 1 KiB/s is still far below any
            // usable upload, yet makes an attacker pay a real stream per held connection.
            body_min_rate: 1024,
            body_rate_grace: Duration::from_secs(10),
            // A minute of a full send buffer and a closed window is a dead or hostile client.
            send_timeout: Duration::from_secs(60),
            max_object_size: 5 << 30,
            max_xml_body: 4 << 20,
            max_connections: 1024,
            // Room for a NATed office or a parallel uploader, while five addresses (not one)
            // are needed to fill a listener.
            max_connections_per_ip: 256,
            root_secret: None,
            master_key_rotation: Duration::from_secs(90 * 24 * 3600),
            scrub_interval: None,
            // A background chore: a fraction of the disk's ~430 MB/s.
            scrub_rate: 50 << 20,
            min_free_space: 256 << 20,
            restore_delay: Duration::from_secs(60),
            metadata_cache: crate::store::DEFAULT_CACHE_BYTES,
            inline_max: crate::store::DEFAULT_INLINE_MAX,
        }
    }
}

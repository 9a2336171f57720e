//! ossvault's own admin API on the embedded server (not an OSS or KMS API), shared by the
//! server that answers it and the client that asks.
//!
//! `POST /_admin/?Action=Scrub[&MaxRate=<bytes per second>][&Quarantine=false]`, signed as the
//! KMS API is (V4 in the Authorization header, the body's SHA-256 signed; the body is empty):
//! the server reads every stored object back at the given rate (its `--scrub-rate` when
//! absent; 0 is unbounded), checks CRC-64s and AES-GCM tags, and quarantines what fails. The
//! answer streams JSON lines ([`ScrubEvent`]): progress about once a second, then the report
//! (or an error). Closing the connection stops the scrub.

use serde::{Deserialize, Serialize};

/// The first path segment of the admin API (no bucket name has an underscore).
pub const SEGMENT: &str = "_admin";
/// The `Action` of a scrub.
pub const SCRUB: &str = "Scrub";

/// An object a scrub found damaged (or already marked so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptObject {
    pub bucket: String,
    pub key: String,
    /// What is wrong, e.g. `blob …: sealed chunk 3 fails authentication`.
    pub detail: String,
    /// It carried a corrupt mark before this scrub (found by an earlier read or scrub).
    pub already_marked: bool,
}

/// An object a scrub could not check (its data key does not open: no root secret given, or a
/// KMS key deleted). Not counted as corrupt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncheckedObject {
    pub bucket: String,
    pub key: String,
    pub reason: String,
}

/// What a scrub did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Objects checked.
    pub objects: u64,
    /// Plaintext bytes read and checked.
    pub bytes: u64,
    pub seconds: f64,
    /// `bytes / seconds`.
    pub bytes_per_sec: f64,
    pub corrupt: Vec<CorruptObject>,
    pub unchecked: Vec<UncheckedObject>,
}

/// One line of a scrub's answer: `{"progress":{…}}`, `{"report":{…}}` or `{"error":"…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrubEvent {
    /// So far: objects checked and bytes read.
    Progress { objects: u64, bytes: u64 },
    /// The scrub is done.
    Report(ScrubReport),
    /// The scrub stopped on an error (damage found is not one: it is in the report).
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json_lines() {
        let line = serde_json::to_string(&ScrubEvent::Progress {
            objects: 2,
            bytes: 10,
        })
        .unwrap();
        assert_eq!(line, r#"{"progress":{"objects":2,"bytes":10}}"#);
        let report: ScrubEvent =
            serde_json::from_str(r#"{"report":{"objects":1,"bytes":5,"seconds":0.5,"bytes_per_sec":10.0,"corrupt":[],"unchecked":[]}}"#)
                .unwrap();
        assert!(matches!(report, ScrubEvent::Report(r) if r.objects == 1 && r.bytes == 5));
        assert!(matches!(
            serde_json::from_str(r#"{"error":"x"}"#).unwrap(),
            ScrubEvent::Error(e) if e == "x"
        ));
    }
}

//! ossvault's admin API on its embedded server ([`ossvault_proto::admin`]): the online scrub.

use crate::error::Error;
use crate::request::{Client, Op};
use futures_util::StreamExt;
use http::Method;
use ossvault_proto::admin::{ScrubEvent, ScrubReport, SCRUB, SEGMENT};

/// Longest line of a scrub's answer (a report listing many corrupt objects is one line).
const MAX_LINE: usize = 64 << 20;

impl Client {
    /// Scrubs the store of the ossvault server this client talks to: every object is read back
    /// at `max_rate` bytes per second (the server's own `--scrub-rate` when `None`; 0 is
    /// unbounded) and checked, damaged ones are quarantined unless `quarantine` is false.
    /// `progress` is told (objects, bytes) about once a second. Waits for the end.
    pub async fn scrub(
        &self,
        max_rate: Option<u64>,
        quarantine: bool,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ScrubReport, Error> {
        let mut op = Op::new(Method::POST, Some(SEGMENT), None)
            .path_style()
            .signed_payload()
            .idempotent(false)
            .query("Action", SCRUB);
        if let Some(rate) = max_rate {
            op = op.query("MaxRate", rate.to_string());
        }
        if !quarantine {
            op = op.query("Quarantine", "false");
        }
        let response = self.send(op).await?.response;
        let mut stream = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let event: ScrubEvent = serde_json::from_slice(&line)
                    .map_err(|e| Error::InvalidResponse(format!("scrub answer: {e}")))?;
                match event {
                    ScrubEvent::Progress { objects, bytes } => progress(objects, bytes),
                    ScrubEvent::Report(report) => return Ok(report),
                    ScrubEvent::Error(message) => {
                        return Err(Error::InvalidResponse(format!(
                            "the scrub failed on the server: {message}"
                        )))
                    }
                }
            }
            if buf.len() > MAX_LINE {
                return Err(Error::InvalidResponse("scrub answer line too long".into()));
            }
        }
        Err(Error::InvalidResponse(
            "the scrub's answer ended before its report".into(),
        ))
    }
}

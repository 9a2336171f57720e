//! ossvault's admin API at `/_admin/` (wire format and signing rule:
//! [`ossvault_proto::admin`]). One action: `Scrub`, the online scrub of the store this server
//! runs on, streamed back as JSON lines.

use crate::api::{ApiError, Ctx};
use crate::body::Body;
use crate::scrub::{scrub, Progress, ScrubOptions};
use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use ossvault_proto::admin::{ScrubEvent, SCRUB};
use ossvault_proto::ErrorCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn handle(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    if ctx.method != Method::POST {
        return Err(ApiError::msg(
            ErrorCode::MethodNotAllowed,
            "The admin API answers POST only.",
        ));
    }
    // Read (and so checked against its signed hash) even though no action takes a body.
    ctx.small_body().await?;
    match ctx.query.get("Action") {
        Some(SCRUB) => start_scrub(&ctx),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "The admin API has no action {other:?} (it has {SCRUB})."
        ))),
        None => Err(ApiError::invalid_argument(
            "The admin API needs an Action parameter.",
        )),
    }
}

/// Starts a scrub of the store on the blocking pool and answers with its events as they come.
fn start_scrub(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let max_bytes_per_sec = match ctx.query.non_empty("MaxRate") {
        Some(v) => v.parse().map_err(|_| {
            ApiError::invalid_argument(format!(
                "MaxRate {v:?} is not a number of bytes per second."
            ))
        })?,
        None => ctx.state.config.scrub_rate,
    };
    let quarantine = match ctx.query.non_empty("Quarantine") {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => {
            return Err(ApiError::invalid_argument(format!(
                "Quarantine {v:?} is neither true nor false."
            )))
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let cancel = Arc::new(AtomicBool::new(false));
    let progress = {
        let (tx, cancel) = (tx.clone(), cancel.clone());
        Progress(Arc::new(move |so_far| {
            let event = ScrubEvent::Progress {
                objects: so_far.objects,
                bytes: so_far.bytes,
            };
            if tx.blocking_send(line(&event)).is_err() {
                // The client went away: nobody wants the rest.
                cancel.store(true, Ordering::Relaxed);
            }
        }))
    };
    let options = ScrubOptions {
        max_bytes_per_sec,
        quarantine,
        cancel,
        progress: Some(progress),
    };
    let state = ctx.state.clone();
    tracing::info!(max_bytes_per_sec, quarantine, "online scrub started");
    tokio::task::spawn_blocking(move || {
        let event = match scrub(&state.store, state.sse.as_ref(), &options) {
            Ok(report) => ScrubEvent::Report(report),
            Err(e) => {
                tracing::error!(error = %e, "online scrub failed");
                ScrubEvent::Error(e.to_string())
            }
        };
        let _ = tx.blocking_send(line(&event));
    });
    let mut rx = rx;
    let frames = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|line| line.map(|l| Ok::<_, std::io::Error>(Frame::data(l))))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn line(event: &ScrubEvent) -> Bytes {
    let mut text = serde_json::to_vec(event).expect("scrub events serialise");
    text.push(b'\n');
    Bytes::from(text)
}

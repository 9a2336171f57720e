//! Text or JSON on stdout, progress bars on a terminal's stderr, and how failures are told.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Where results go. Text lines and JSON documents are written to stdout; bars (only on a
/// terminal and never with `--json`) to stderr, suspended while a line is printed.
pub struct Output {
    pub json: bool,
    bars: Option<MultiProgress>,
    stdout: Mutex<BufWriter<Stdout>>,
    /// Flush after every line (stdout is a terminal, or bars share the screen).
    eager: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        let bars = (!json && io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let eager = io::stdout().is_terminal() || bars.is_some();
        Output {
            json,
            bars,
            stdout: Mutex::new(BufWriter::new(io::stdout())),
            eager,
        }
    }

    /// One line of text output (text mode only).
    pub fn line(&self, line: impl fmt::Display) -> io::Result<()> {
        self.write_line(&line.to_string())
    }

    /// One JSON document on one line.
    pub fn json(&self, value: &serde_json::Value) -> io::Result<()> {
        self.write_line(&value.to_string())
    }

    fn write_line(&self, line: &str) -> io::Result<()> {
        let write = || {
            let mut out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(out, "{line}")?;
            if self.eager {
                out.flush()?;
            }
            Ok(())
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    /// A warning or per-item failure on stderr, not disturbing the bars.
    pub fn warn(&self, message: impl fmt::Display) {
        let message = one_line(&message.to_string());
        match &self.bars {
            Some(bars) => bars.suspend(|| eprintln!("ossvault: {message}")),
            None => eprintln!("ossvault: {message}"),
        }
    }

    pub fn flush(&self) -> io::Result<()> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }

    /// A byte-progress bar (`total` known) or counter (unknown); hidden when bars are off.
    pub fn bar(&self, total: Option<u64>, message: impl Into<String>) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let style = match total {
            Some(_) => ProgressStyle::with_template(
                "{msg:30!} [{bar:30.cyan/blue}] {bytes:>10}/{total_bytes:<10} \
                 {binary_bytes_per_sec:>12} ETA {eta}",
            ),
            None => ProgressStyle::with_template(
                "{spinner} {msg:30!} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed}",
            ),
        }
        .expect("valid template")
        .progress_chars("=> ");
        let bar = bars.add(ProgressBar::with_draw_target(
            total,
            ProgressDrawTarget::hidden(),
        ));
        bar.set_style(style);
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A spinner counting items (objects listed, deleted…); hidden when bars are off.
    pub fn counter(&self, message: impl Into<String>) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let bar = bars.add(ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::hidden(),
        ));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} {per_sec} {elapsed}")
                .expect("valid template"),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Clears the bars before a final message.
    pub fn finish_bars(&self) {
        if let Some(bars) = &self.bars {
            let _ = bars.clear();
        }
    }
}

/// The transfers were cancelled (Ctrl-C): exit code 130.
#[derive(Debug)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled; checkpoints are kept: run the same command again to resume")
    }
}

impl std::error::Error for Cancelled {}

/// Some items of a recursive command failed (each was reported as it happened).
#[derive(Debug)]
pub struct PartialFailure {
    pub failed: u64,
    pub total: u64,
}

impl fmt::Display for PartialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} objects failed", self.failed, self.total)
    }
}

impl std::error::Error for PartialFailure {}

pub fn exit_code(e: &anyhow::Error) -> u8 {
    let cancelled = e.chain().any(|c| {
        c.is::<Cancelled>()
            || matches!(
                c.downcast_ref::<ossvault_client::Error>(),
                Some(ossvault_client::Error::Cancelled)
            )
            || c.downcast_ref::<ossvault_ops::Error>()
                .is_some_and(|e| e.code() == "Cancelled")
    });
    if cancelled {
        130
    } else {
        1
    }
}

pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// One line: the context chain, with the service's error rendered as
/// `Code: message (request id …)`.
pub fn render_error(e: &anyhow::Error) -> String {
    if exit_code(e) == 130 {
        return Cancelled.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        if let Some(client_error) = cause.downcast_ref::<ossvault_client::Error>() {
            parts.push(render_client_error(client_error));
            break;
        }
        if let Some(ossvault_ops::Error::Client(client_error)) =
            cause.downcast_ref::<ossvault_ops::Error>()
        {
            parts.push(render_client_error(client_error));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.dedup();
    one_line(&parts.join(": "))
}

pub fn render_client_error(e: &ossvault_client::Error) -> String {
    use ossvault_client::Error;
    match e {
        Error::Service(s) => {
            let mut text = s.code.clone();
            if !s.message.is_empty() {
                text.push_str(": ");
                text.push_str(&s.message);
            } else {
                text.push_str(&format!(" (HTTP {})", s.status));
            }
            if !s.request_id.is_empty() {
                text.push_str(&format!(" (request id {})", s.request_id));
            }
            text
        }
        Error::Transport(t) => {
            // reqwest's own text is terse; the reason is in its sources.
            let mut text = format!("network error: {t}");
            let mut source = std::error::Error::source(t);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
        other => other.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2024-05-01 12:00:00 UTC` (or `-`).
pub fn time_text(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => {
            let description = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            );
            time::OffsetDateTime::from(t)
                .format(description)
                .unwrap_or_else(|_| "-".into())
        }
        None => "-".into(),
    }
}

/// RFC 3339 in UTC (or JSON null).
pub fn time_json(t: Option<SystemTime>) -> serde_json::Value {
    t.and_then(|t| {
        time::OffsetDateTime::from(t)
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .map_or(serde_json::Value::Null, serde_json::Value::String)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossvault_client::{Error, ServiceError};

    #[test]
    fn renders_service_errors_on_one_line() {
        let e = anyhow::Error::new(Error::Service(ServiceError {
            status: 404,
            code: "NoSuchBucket".into(),
            message: "The specified bucket\ndoes not exist.".into(),
            request_id: "abc".into(),
            ec: None,
        }));
        assert_eq!(
            render_error(&e),
            "NoSuchBucket: The specified bucket does not exist. (request id abc)"
        );
        assert_eq!(exit_code(&e), 1);
        let e = e.context("oss://b/k");
        assert!(render_error(&e).starts_with("oss://b/k: NoSuchBucket: "));
        let e = anyhow::Error::new(Error::Cancelled).context("upload");
        assert_eq!(exit_code(&e), 130);
        assert_eq!(exit_code(&anyhow::Error::new(Cancelled)), 130);
    }

    #[test]
    fn times() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86400 + 61);
        assert_eq!(time_text(Some(t)), "1970-01-02 00:01:01 UTC");
        assert_eq!(time_json(Some(t)), "1970-01-02T00:01:01Z");
        assert_eq!(time_text(None), "-");
    }
}

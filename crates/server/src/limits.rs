//! Limits that keep slow or greedy clients from holding the server: a request body that
//! stalls or crawls is cut ([`RequestBody`]), so is a client that stops reading its response
//! ([`SendTimeout`]), and one address cannot hold more than its share of connections
//! ([`PerIp`]).

use crate::Config;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How slow a request body may arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Longest wait for the next byte.
    pub idle: Duration,
    /// Lowest average rate, in bytes per second of waiting; 0 turns the check off.
    pub min_rate: u64,
    /// Waiting time before the average rate is enforced (a connection's first bytes are slow).
    pub grace: Duration,
}

impl BodyLimits {
    pub fn from_config(config: &Config) -> Self {
        BodyLimits {
            idle: config.body_idle_timeout,
            min_rate: config.body_min_rate,
            grace: config.body_rate_grace,
        }
    }
}

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Network(#[from] hyper::Error),
    #[error("no byte of the request body arrived for {0:?}")]
    Idle(Duration),
    #[error("the request body arrived slower than {0} bytes per second")]
    TooSlow(u64),
}

/// A request body that fails with [`BodyError::Idle`] or [`BodyError::TooSlow`] when the
/// client stalls. Only time spent waiting on the client counts: while the handler is busy
/// (writing to disk) and not asking for data, the clock stops, so a slow disk never gets a
/// client cut off.
pub struct RequestBody {
    inner: Incoming,
    limits: BodyLimits,
    /// Data bytes received so far.
    received: u64,
    /// Time spent waiting on the client in finished waits.
    waited: Duration,
    /// The wait in progress: when it began, and which limit it hits first.
    waiting: Option<(Instant, BodyError)>,
    /// Fires at the current wait's deadline; made on the first wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl RequestBody {
    pub fn new(inner: Incoming, limits: BodyLimits) -> Self {
        RequestBody {
            inner,
            limits,
            received: 0,
            waited: Duration::ZERO,
            waiting: None,
            timer: None,
        }
    }

    /// When a wait starting `now` must end, and the error it ends with.
    fn deadline(&self, now: Instant) -> (Instant, BodyError) {
        let idle = now + self.limits.idle;
        if self.limits.min_rate == 0 {
            return (idle, BodyError::Idle(self.limits.idle));
        }
        // The bytes so far buy this much waiting in total at the minimum rate (never less
        // than the grace period); what is left of it is this wait's allowance.
        let earned = Duration::from_secs_f64(self.received as f64 / self.limits.min_rate as f64);
        let allowed = earned.max(self.limits.grace);
        let rate = now + allowed.saturating_sub(self.waited);
        if rate < idle {
            (rate, BodyError::TooSlow(self.limits.min_rate))
        } else {
            (idle, BodyError::Idle(self.limits.idle))
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some((since, _)) = this.waiting.take() {
                    this.waited += since.elapsed();
                }
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    this.received += data.map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame.map(|f| f.map_err(BodyError::Network)))
            }
            Poll::Pending => {
                if this.waiting.is_none() {
                    let now = Instant::now();
                    let (deadline, error) = this.deadline(now);
                    match &mut this.timer {
                        Some(timer) => timer.as_mut().reset(deadline),
                        None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    this.waiting = Some((now, error));
                }
                let timer = this.timer.as_mut().expect("armed above");
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let (since, error) = this.waiting.take().expect("set above");
                this.waited += since.elapsed();
                tracing::debug!(%error, received = this.received, "request body cut off");
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail once the client has taken nothing for `timeout`: a client
/// that asks for a large object and then stops reading would otherwise hold its connection
/// (and the thread reading the object for it) for ever.
pub struct SendTimeout<S> {
    inner: S,
    timeout: Duration,
    /// Set while a write waits on the client; fires `timeout` after the wait began.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<S> SendTimeout<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        SendTimeout {
            inner,
            timeout,
            stall: None,
        }
    }

    /// Passes a write's result on, failing it when it has waited on the client too long.
    fn watch<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.stall = None;
            return result;
        }
        let timeout = self.timeout;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                tracing::debug!(?timeout, "the client stopped reading; closing");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client took no byte for {timeout:?}"),
                )))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(result, cx)
    }
}

/// Open connections per client address, shared by all listeners, so that one address (or a
/// few) cannot take every connection slot.
#[derive(Clone)]
pub struct PerIp {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    pub fn new(max: usize) -> Self {
        PerIp {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` when it has `max` open already.
    pub fn acquire(&self, ip: IpAddr) -> Option<IpSlot> {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; count it as a.b.c.d.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

/// One connection's place in its address's count; released on drop.
pub struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // Forget idle addresses, or the map grows with every client ever seen.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_released() {
        let per_ip = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = per_ip.acquire(a).unwrap();
        let _second = per_ip.acquire(mapped).unwrap();
        assert!(per_ip.acquire(a).is_none(), "a third connection is refused");
        assert!(per_ip.acquire(b).is_some(), "another address is not");
        drop(first);
        assert!(
            per_ip.acquire(a).is_some(),
            "a closed connection frees its slot"
        );
        drop(per_ip.acquire(b));
        assert_eq!(per_ip.open.lock().unwrap().get(&b), None);
    }
}

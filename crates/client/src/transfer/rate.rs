//! A token bucket that paces transfers to a rate in bytes per second: the transfer queue's
//! bandwidth limits and each sync pair's share it. Changing the rate takes effect at once, also
//! for the transfers in flight: one waiting out what it owes pays the rest at the new rate.

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket (`None` rate: unlimited), shared by the transfers it paces.
#[derive(Debug)]
pub struct RateLimiter {
    inner: std::sync::Mutex<Bucket>,
    /// The rate as last set, for the transfers waiting.
    changes: tokio::sync::watch::Sender<Option<u64>>,
}

#[derive(Debug)]
struct Bucket {
    rate: Option<u64>,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: Option<u64>) -> RateLimiter {
        let rate = rate.filter(|r| *r > 0);
        RateLimiter {
            inner: std::sync::Mutex::new(Bucket {
                rate,
                tokens: rate.unwrap_or(0) as f64,
                last: Instant::now(),
            }),
            changes: tokio::sync::watch::Sender::new(rate),
        }
    }

    /// The rate, bytes per second (`None`: unlimited).
    pub fn rate(&self) -> Option<u64> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).rate
    }

    /// Changes the rate (bytes per second; `None`: unlimited).
    pub fn set_rate(&self, rate: Option<u64>) {
        let rate = rate.filter(|r| *r > 0);
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        b.rate = rate;
        b.tokens = b.tokens.min(rate.unwrap_or(0) as f64);
        drop(b);
        self.changes
            .send_if_modified(|r| std::mem::replace(r, rate) != rate);
    }

    /// Waits until `n` bytes may go (a request larger than a second's worth goes into debt,
    /// which later requests wait out).
    pub async fn acquire(&self, n: u64) {
        // Before the bucket is read: a change made after it reaches this wait.
        let mut changes = self.changes.subscribe();
        let (mut rate, wait) = {
            let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let Some(rate) = b.rate else {
                return;
            };
            let now = Instant::now();
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.last = now;
            b.tokens = (b.tokens + elapsed * rate as f64).min(rate as f64);
            b.tokens -= n as f64;
            if b.tokens >= 0.0 {
                return;
            }
            (rate, Duration::from_secs_f64(-b.tokens / rate as f64))
        };
        let mut deadline = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                Ok(()) = changes.changed() => {
                    // What is still owed, in bytes at the old rate, is paid at the new one.
                    let Some(new) = *changes.borrow_and_update() else {
                        return;
                    };
                    let now = Instant::now();
                    let owed = deadline.saturating_duration_since(now).as_secs_f64() * rate as f64;
                    deadline = now + Duration::from_secs_f64(owed / new as f64);
                    rate = new;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_token_bucket_paces_to_its_rate() {
        let limiter = RateLimiter::new(Some(1000));
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire(1000).await;
        }
        // One second of burst, then 1000 bytes a second.
        let took = start.elapsed().as_secs_f64();
        assert!((3.9..=4.5).contains(&took), "{took}");
        let unlimited = RateLimiter::new(None);
        let start = tokio::time::Instant::now();
        unlimited.acquire(1 << 30).await;
        assert!(start.elapsed() < Duration::from_millis(1));
    }

    /// Transfers already waiting at a low rate pay what they still owe at a raised one, and go
    /// at once when the limit is lifted (before, they slept out the old rate's wait).
    #[tokio::test(start_paused = true)]
    async fn a_new_rate_reaches_the_transfers_already_waiting() {
        let limiter = std::sync::Arc::new(RateLimiter::new(Some(1000)));
        limiter.acquire(1000).await;
        let start = tokio::time::Instant::now();
        let waiting = |n| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire(n).await;
                start.elapsed().as_secs_f64()
            })
        };
        // Owe 10 s and 20 s at 1000 B/s.
        let (first, second) = (waiting(10_000), waiting(10_000));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // 8,000 and 18,000 bytes left: 2 s and 4.5 s at 4000 B/s.
        limiter.set_rate(Some(4000));
        let took = first.await.unwrap();
        assert!((3.9..=4.1).contains(&took), "{took}");
        limiter.set_rate(None);
        let took = second.await.unwrap();
        assert!((3.9..=4.1).contains(&took), "{took}");
    }
}

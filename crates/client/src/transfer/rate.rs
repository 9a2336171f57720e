//! A token bucket that paces transfers to a rate in bytes per second: the transfer queue's
//! bandwidth limits and each sync pair's share it. Changing the rate takes effect at once, also
//! for the transfers in flight.

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket (`None` rate: unlimited), shared by the transfers it paces.
#[derive(Debug)]
pub struct RateLimiter {
    inner: std::sync::Mutex<Bucket>,
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
        }
    }

    /// The rate, bytes per second (`None`: unlimited).
    pub fn rate(&self) -> Option<u64> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).rate
    }

    /// Changes the rate (bytes per second; `None`: unlimited).
    pub fn set_rate(&self, rate: Option<u64>) {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        b.rate = rate.filter(|r| *r > 0);
        b.tokens = b.tokens.min(b.rate.unwrap_or(0) as f64);
    }

    /// Waits until `n` bytes may go (a request larger than a second's worth goes into debt,
    /// which later requests wait out).
    pub async fn acquire(&self, n: u64) {
        let wait = {
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
            Duration::from_secs_f64(-b.tokens / rate as f64)
        };
        tokio::time::sleep(wait).await;
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
}

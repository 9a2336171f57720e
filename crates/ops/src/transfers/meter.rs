//! Speed of a transfer, smoothed: an exponentially weighted average of the rate between
//! samples, with a time constant of a few seconds, so that parts finishing in bursts read
//! as a steady figure and a stall brings the figure down.

use std::time::Instant;

/// Time constant of the smoothing, in seconds.
const TAU: f64 = 3.0;

#[derive(Debug, Default)]
pub(super) struct Meter {
    /// The previous sample; none until bytes first move, so that the bytes a resume finds
    /// already done (reported at once) do not count as speed.
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl Meter {
    /// Takes a sample of the bytes done; returns the smoothed speed in bytes per second.
    pub fn sample(&mut self, now: Instant, done: u64) -> u64 {
        match self.last {
            None if done > 0 => self.last = Some((now, done)),
            None => {}
            Some((then, before)) => {
                let dt = now.saturating_duration_since(then).as_secs_f64();
                if dt > 0.0 {
                    let instant = done.saturating_sub(before) as f64 / dt;
                    let weight = 1.0 - (-dt / TAU).exp();
                    self.rate += weight * (instant - self.rate);
                    self.last = Some((now, done));
                }
            }
        }
        self.rate.round() as u64
    }

    /// Seconds left for `total - done` bytes at `speed`.
    pub fn eta(speed: u64, done: u64, total: u64) -> Option<u64> {
        (speed > 0).then(|| total.saturating_sub(done).div_ceil(speed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn steady_rate_converges_and_resumed_bytes_are_not_speed() {
        let start = Instant::now();
        let mut m = Meter::default();
        // A resume reports 1 GB at once: no speed from it.
        assert_eq!(m.sample(start, 1 << 30), 0);
        let mut speed = 0;
        for i in 1..=40u64 {
            speed = m.sample(
                start + Duration::from_millis(250 * i),
                (1 << 30) + i * 250_000,
            );
        }
        // 1 MB/s after 10 s of steady progress.
        assert!((900_000..=1_000_000).contains(&speed), "{speed}");
        assert_eq!(Meter::eta(1_000_000, 0, 2_500_000), Some(3));
        assert_eq!(Meter::eta(0, 0, 1), None);
        // A stall brings it down.
        let stalled = m.sample(start + Duration::from_secs(20), (1 << 30) + 40 * 250_000);
        assert!(stalled < speed / 10, "{stalled}");
    }
}

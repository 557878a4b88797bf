//! A retry schedule: exponential backoff with full jitter. A leaf: the config file describes one
//! per target, and `aws::call` (the one place that retries) sleeps by it.

use std::time::Duration;

use rand::Rng;

/// Retry schedule of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Backoff {
    /// The delay before retry number `retry` (1-based): "full jitter" over the exponential step
    /// `min(max_delay, base * 2^(retry-1))`, floored at a quarter of the step so that no retry is
    /// ever sent without a delay.
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = 2f64.powi(retry.saturating_sub(1).min(30) as i32);
        let step = (self.base.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        let low = step / 4.0;
        Duration::from_secs_f64(rng.random_range(low..=step.max(low)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_is_capped_and_never_zero() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_attempts: 8,
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for retry in 1..=10 {
            let step = (0.1 * 2f64.powi(retry as i32 - 1)).min(2.0);
            for _ in 0..200 {
                let d = b.delay(retry, &mut rng).as_secs_f64();
                assert!(
                    d >= step / 4.0 - 1e-9 && d <= step + 1e-9,
                    "retry {retry}: {d}"
                );
            }
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
            max_attempts: 8,
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<u128> =
            (0..50).map(|_| b.delay(3, &mut rng).as_micros()).collect();
        assert!(delays.len() > 40, "delays barely vary: {delays:?}");
    }
}

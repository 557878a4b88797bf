//! Per-account token buckets, like a service's request-rate limit.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A token bucket: `rps` tokens per second, at most `burst` stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    pub rps: f64,
    pub burst: u32,
}

impl Throttle {
    /// The CLI's rule: burst defaults to the rate rounded up (at least 1).
    pub fn from_rate(rps: f64, burst: Option<u32>) -> Self {
        let burst = burst.unwrap_or_else(|| rps.ceil().clamp(1.0, u32::MAX as f64) as u32);
        Throttle { rps, burst }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// One bucket per account, all with the same [`Throttle`]; changing it resets them.
#[derive(Debug, Default)]
pub struct AccountBuckets {
    throttle: Option<Throttle>,
    buckets: HashMap<String, Bucket>,
}

impl AccountBuckets {
    pub fn new(throttle: Option<Throttle>) -> Self {
        AccountBuckets {
            throttle,
            buckets: HashMap::new(),
        }
    }

    pub fn throttle(&self) -> Option<Throttle> {
        self.throttle
    }

    pub fn set(&mut self, throttle: Option<Throttle>) {
        self.throttle = throttle;
        self.buckets.clear();
    }

    /// Takes one token from the account's bucket; false when it is empty (throttle the call).
    pub fn try_acquire(&mut self, account: &str, now: Instant) -> bool {
        let Some(t) = self.throttle else {
            return true;
        };
        let burst = f64::from(t.burst.max(1));
        let bucket = match self.buckets.get_mut(account) {
            Some(b) => b,
            None => self.buckets.entry(account.to_string()).or_insert(Bucket {
                tokens: burst,
                refilled: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * t.rps.max(0.0)).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let mut b = AccountBuckets::new(Some(Throttle { rps: 5.0, burst: 5 }));
        let t0 = Instant::now();
        let granted = (0..50)
            .filter(|_| b.try_acquire("111111111111", t0))
            .count();
        assert_eq!(granted, 5);
        // Another account has its own bucket.
        assert!(b.try_acquire("222222222222", t0));
        // 200 ms later, one token is back.
        let t1 = t0 + Duration::from_millis(200);
        assert!(b.try_acquire("111111111111", t1));
        assert!(!b.try_acquire("111111111111", t1));
        // A paced caller never runs dry.
        let mut t = t1;
        for _ in 0..100 {
            t += Duration::from_millis(200);
            assert!(b.try_acquire("111111111111", t));
        }
    }
}

//! Pacing of the calls to one target: a governor token bucket whose rate adapts to throttling.
//!
//! S3 Control documents no per-API rate limit, so the configured rate is an upper bound, not a
//! promise. Every `TooManyRequestsException` lowers the pace multiplicatively (at most once per
//! adaptation epoch, so a burst of throttled in-flight calls counts as one signal); every second
//! without throttling raises it by a fixed step, up to the configured rate (AIMD, as TCP does).
//! The step is a fraction of the rate found at the last decrease, so the search works the same
//! at 5 and at 500 requests per second.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Multiplicative decrease on a throttle.
const DECREASE: f64 = 0.7;
/// Additive increase per second, as a fraction of the rate at the last decrease.
const INCREASE_FRACTION: f64 = 0.02;
/// The pace never drops below this (requests per second).
const FLOOR_RPS: f64 = 0.2;

#[derive(Debug)]
struct PaceState {
    rate: f64,
    limiter: Arc<DefaultDirectRateLimiter>,
    last_decrease: Option<Instant>,
    last_adjust: Instant,
    step: f64,
}

/// An adaptive request pace (requests per second) for one target.
#[derive(Debug)]
pub struct AdaptivePace {
    configured: f64,
    burst: u32,
    state: Mutex<PaceState>,
}

fn limiter(rate: f64, burst: u32, start_empty: bool) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(FLOOR_RPS));
    // A bucket never holds more than about one second of requests at the current rate, so a
    // lowered pace does not start with a burst the service has just refused.
    let burst = burst.min(rate.floor().max(1.0) as u32).max(1);
    let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst_nz);
    let limiter = RateLimiter::direct(quota);
    if start_empty {
        let _ = limiter.check_n(burst_nz);
    }
    Arc::new(limiter)
}

impl AdaptivePace {
    /// A pace of `rps` requests per second with bursts of up to `burst`.
    pub fn new(rps: f64, burst: u32) -> Self {
        let rps = if rps.is_finite() && rps > 0.0 {
            rps
        } else {
            FLOOR_RPS
        };
        AdaptivePace {
            configured: rps,
            burst: burst.max(1),
            state: Mutex::new(PaceState {
                rate: rps,
                limiter: limiter(rps, burst, false),
                last_decrease: None,
                last_adjust: Instant::now(),
                step: (rps * INCREASE_FRACTION).max(0.05),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        // A poisoned lock only means another task panicked mid-update; the state is still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current pace in requests per second.
    pub fn current_rps(&self) -> f64 {
        self.lock().rate
    }

    /// The configured (maximum) pace.
    pub fn configured_rps(&self) -> f64 {
        self.configured
    }

    /// Waits until one request may be sent.
    pub async fn acquire(&self) {
        loop {
            let limiter = self.lock().limiter.clone();
            match limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
    }

    /// A `TooManyRequestsException` arrived: slow down, once per epoch.
    pub fn on_throttled(&self) {
        let now = Instant::now();
        let mut st = self.lock();
        let epoch = Duration::from_secs_f64((2.0 / st.rate).max(1.0));
        if st.last_decrease.is_some_and(|t| now.duration_since(t) < epoch) {
            return;
        }
        st.rate = (st.rate * DECREASE).max(FLOOR_RPS);
        st.step = (st.rate / DECREASE * INCREASE_FRACTION).max(0.05);
        st.last_decrease = Some(now);
        st.last_adjust = now;
        st.limiter = limiter(st.rate, self.burst, true);
    }

    /// A call went through without throttling: recover gradually towards the configured pace.
    pub fn on_success(&self) {
        let now = Instant::now();
        let mut st = self.lock();
        if st.rate >= self.configured {
            return;
        }
        let elapsed = now.duration_since(st.last_adjust);
        if elapsed < Duration::from_secs(1) {
            return;
        }
        st.rate = (st.rate + st.step * elapsed.as_secs_f64()).min(self.configured);
        st.last_adjust = now;
        st.limiter = limiter(st.rate, self.burst, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lowers_once_per_epoch() {
        let pace = AdaptivePace::new(50.0, 10);
        pace.on_throttled();
        let after_one = pace.current_rps();
        assert!((after_one - 35.0).abs() < 1e-9, "{after_one}");
        // A second throttle in the same epoch (in-flight calls) does not count again.
        pace.on_throttled();
        assert_eq!(pace.current_rps(), after_one);
    }

    #[test]
    fn never_below_floor_and_never_above_configured() {
        let pace = AdaptivePace::new(0.0, 0);
        assert!(pace.current_rps() >= FLOOR_RPS);
        let pace = AdaptivePace::new(5.0, 5);
        pace.on_success();
        assert_eq!(pace.current_rps(), 5.0);
    }

    #[tokio::test]
    async fn paces_requests() {
        let pace = AdaptivePace::new(20.0, 1);
        let start = std::time::Instant::now();
        for _ in 0..6 {
            pace.acquire().await;
        }
        // 6 permits at 20/s with a burst of 1: at least 5 intervals of 50 ms.
        assert!(start.elapsed() >= Duration::from_millis(240), "{:?}", start.elapsed());
    }
}

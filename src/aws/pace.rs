//! Pacing of the calls to one target: a governor token bucket whose rate adapts to throttling.
//!
//! S3 Control documents no per-API rate limit, so the configured rate is an upper bound, not a
//! promise. A `TooManyRequestsException` for a request sent at the current pace lowers the pace
//! multiplicatively; throttles of requests sent before the last decrease are ignored (they say
//! nothing about the new pace, as TCP counts one loss per window). Every second without
//! throttling raises the pace by a step, up to the configured rate. The first step is a fraction
//! of the rate found at the last decrease, so the search works the same at 5 and at 500 requests
//! per second; it grows by a quarter each quiet second, so after a storm that drove the pace to
//! the floor the configured rate is back within about half a minute. The bucket starts empty:
//! the first requests are paced, not burst, so an unknown limit is met by one request too many,
//! not by a whole burst.
//!
//! The bucket runs on tokio's clock ([`TokioClock`]), not governor's default (quanta): paused
//! time in tests drives it like every other timer of the daemon.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// governor's clock on `tokio::time::Instant`: nanoseconds since the limiter was built.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// Multiplicative decrease on a throttle.
const DECREASE: f64 = 0.7;
/// First increase step per second, as a fraction of the rate at the last decrease.
const INCREASE_FRACTION: f64 = 0.02;
/// Each further second without throttling makes the step this much larger, so a pace that fell
/// far (a throttle storm) comes back in tens of seconds, while near the limit it probes gently.
const STEP_GROWTH: f64 = 1.25;
/// The pace never drops below this (requests per second).
const FLOOR_RPS: f64 = 0.2;

#[derive(Debug)]
struct PaceState {
    rate: f64,
    limiter: Arc<Limiter>,
    /// Bumped by every decrease; a permit carries the generation it was given under.
    generation: u64,
    last_adjust: Instant,
    step: f64,
}

/// The pace generation a request was sent under (see [`AdaptivePace::on_throttled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit(u64);

/// An adaptive request pace (requests per second) for one target.
#[derive(Debug)]
pub struct AdaptivePace {
    configured: f64,
    burst: u32,
    state: Mutex<PaceState>,
}

fn limiter(rate: f64, burst: u32, start_empty: bool) -> Arc<Limiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(FLOOR_RPS));
    // A bucket never holds more than about one second of requests at the current rate, so a
    // lowered pace does not start with a burst the service has just refused.
    let burst = burst.min(rate.floor().max(1.0) as u32).max(1);
    let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst_nz);
    let clock = TokioClock {
        origin: Instant::now(),
    };
    let limiter = RateLimiter::direct_with_clock(quota, clock);
    if start_empty {
        let _ = limiter.check_n(burst_nz);
    }
    Arc::new(limiter)
}

impl AdaptivePace {
    /// The slowest pace (requests per second): calls are never spaced more than 5 s apart.
    pub const FLOOR_RPS: f64 = FLOOR_RPS;

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
                limiter: limiter(rps, burst, true),
                generation: 0,
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

    /// Waits until one request may be sent. Cancel-safe: dropping the future takes no permit.
    pub async fn acquire(&self) -> Permit {
        loop {
            match self.try_acquire() {
                Ok(permit) => return permit,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// A permit now, or how long until one may be available.
    pub fn try_acquire(&self) -> Result<Permit, Duration> {
        let (limiter, generation) = {
            let st = self.lock();
            (st.limiter.clone(), st.generation)
        };
        match limiter.check() {
            Ok(()) => Ok(Permit(generation)),
            Err(not_until) => {
                let now = limiter.clock().now();
                Err(not_until.wait_time_from(now).max(Duration::from_millis(1)))
            }
        }
    }

    /// A `TooManyRequestsException` arrived for a request sent under `permit`: slow down,
    /// unless the pace was already lowered since that request was sent.
    pub fn on_throttled(&self, permit: Permit) {
        let now = Instant::now();
        let mut st = self.lock();
        if permit.0 != st.generation {
            return;
        }
        st.generation += 1;
        st.rate = (st.rate * DECREASE).max(FLOOR_RPS);
        st.step = (st.rate / DECREASE * INCREASE_FRACTION).max(0.05);
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
        let secs = elapsed.as_secs_f64();
        st.rate = (st.rate + st.step * secs).min(self.configured);
        st.step *= STEP_GROWTH.powf(secs.min(10.0));
        st.last_adjust = now;
        st.limiter = limiter(st.rate, self.burst, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn throttle_lowers_once_per_generation() {
        let pace = AdaptivePace::new(50.0, 10);
        let a = pace.acquire().await;
        let b = pace.acquire().await;
        pace.on_throttled(a);
        let after_one = pace.current_rps();
        assert!((after_one - 35.0).abs() < 1e-9, "{after_one}");
        // A request sent before the decrease says nothing about the new pace.
        pace.on_throttled(b);
        assert_eq!(pace.current_rps(), after_one);
        // One sent after it does.
        let c = pace.acquire().await;
        pace.on_throttled(c);
        assert!((pace.current_rps() - 24.5).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_storm_stops_at_the_floor() {
        let pace = AdaptivePace::new(50.0, 10);
        for _ in 0..100 {
            let p = pace.acquire().await;
            pace.on_throttled(p);
            assert!(pace.current_rps() >= FLOOR_RPS, "{}", pace.current_rps());
        }
        assert_eq!(pace.current_rps(), FLOOR_RPS);
        // A rate that cannot be honoured is raised to the floor.
        assert_eq!(AdaptivePace::new(0.0, 0).current_rps(), FLOOR_RPS);
    }

    #[tokio::test(start_paused = true)]
    async fn recovers_to_the_configured_rate_and_never_passes_it() {
        let pace = AdaptivePace::new(20.0, 5);
        for _ in 0..20 {
            let p = pace.acquire().await;
            pace.on_throttled(p);
        }
        assert_eq!(pace.current_rps(), FLOOR_RPS);
        let mut reached = None;
        let mut last = pace.current_rps();
        for second in 1..=120 {
            tokio::time::advance(Duration::from_secs(1)).await;
            pace.on_success();
            let now = pace.current_rps();
            assert!(
                now <= 20.0,
                "second {second}: {now} above the configured rate"
            );
            assert!(
                now >= last,
                "second {second}: fell from {last} to {now} without a throttle"
            );
            last = now;
            if now == 20.0 && reached.is_none() {
                reached = Some(second);
            }
        }
        let reached = reached.expect("the configured rate is reached again");
        assert!(reached <= 60, "took {reached} s to recover");
    }

    #[tokio::test(start_paused = true)]
    async fn paces_requests() {
        let pace = AdaptivePace::new(20.0, 1);
        let start = Instant::now();
        for _ in 0..6 {
            pace.acquire().await;
        }
        // 6 permits at 20/s, starting from an empty bucket: 6 intervals of 50 ms.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(320),
            "{took:?}"
        );
        // try_acquire says how long to wait instead of waiting.
        let wait = pace.try_acquire().expect_err("no permit yet");
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
    }
}

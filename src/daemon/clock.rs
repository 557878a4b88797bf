//! The daemon's clock. The policy reads no clock itself: the loop passes `now` in. The demo runs
//! a time-lapse clock (simulated time passes `speed` times faster) so a business day fits into
//! a minute; everything else runs at speed 1.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin_real: Instant,
    origin: DateTime<Utc>,
    speed: f64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::real()
    }
}

impl Clock {
    /// The wall clock.
    pub fn real() -> Self {
        Clock {
            origin_real: Instant::now(),
            origin: Utc::now(),
            speed: 1.0,
        }
    }

    /// Simulated time starting at `start`, running `speed` times faster than real time.
    pub fn time_lapse(start: DateTime<Utc>, speed: f64) -> Self {
        Clock {
            origin_real: Instant::now(),
            origin: start,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    pub fn is_real(&self) -> bool {
        self.speed == 1.0
    }

    pub fn now(&self) -> DateTime<Utc> {
        if self.is_real() {
            return Utc::now();
        }
        let elapsed = self.origin_real.elapsed().as_secs_f64() * self.speed;
        self.origin + chrono::Duration::microseconds((elapsed * 1e6) as i64)
    }

    /// Real time to wait until the clock reads `t` (zero if it already passed).
    pub fn real_until(&self, t: DateTime<Utc>) -> Duration {
        let sim = (t - self.now()).to_std().unwrap_or(Duration::ZERO);
        Duration::from_secs_f64(sim.as_secs_f64() / self.speed)
    }
}

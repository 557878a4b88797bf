//! How a target's pace is shared within a cycle: writes first, reads within their shares.
//!
//! - [`ReadShare`]: while a write is ready to go, reads that may find a change get at most
//!   `read_share` of the permits (0.5: one read per write), so writes never stop the reads that
//!   find the next urgent job; other reads (refreshes, the memory of jobs the policy leaves as
//!   they are) wait for the writes, so a long refresh never starves them.
//! - [`RefreshBudget`]: re-reads of tags already read (scheduled refreshes) get at most
//!   `tags_refresh_share` of the pace, over time: a token bucket that fills at that share of the
//!   target's current rate and holds a minute's worth. A cycle never waits for it; refreshes it
//!   cannot afford wait for a later cycle.

use std::time::Duration;

use tokio::time::Instant;

/// Credit of reads while writes are ready.
#[derive(Debug, Clone)]
pub(super) struct ReadShare {
    /// Reads per write: share / (1 - share).
    per_write: f64,
    credit: f64,
}

impl ReadShare {
    pub fn new(share: f64) -> Self {
        let share = share.clamp(0.0, 0.9);
        ReadShare {
            per_write: share / (1.0 - share),
            credit: 0.0,
        }
    }

    /// With a write ready, may a read take this permit instead? Takes the credit if so.
    pub fn read_instead_of_write(&mut self) -> bool {
        if self.credit >= 1.0 {
            self.credit -= 1.0;
            true
        } else {
            false
        }
    }

    /// A write took a permit: reads earn their share of it.
    pub fn wrote(&mut self) {
        self.credit = (self.credit + self.per_write).min(self.per_write.max(1.0));
    }
}

/// Tokens for scheduled tag refreshes.
#[derive(Debug, Clone)]
pub(super) struct RefreshBudget {
    share: f64,
    tokens: f64,
    last: Instant,
}

/// The bucket holds this long a time's worth of refreshes.
const REFRESH_WINDOW: Duration = Duration::from_secs(60);

impl RefreshBudget {
    pub fn new(share: f64, now: Instant) -> Self {
        RefreshBudget {
            share: share.max(0.0),
            tokens: 0.0,
            last: now,
        }
    }

    pub fn set_share(&mut self, share: f64) {
        self.share = share.max(0.0);
    }

    /// Fills the bucket for the time since the last call, at `share` of `rps`.
    fn fill(&mut self, rps: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let rate = self.share * rps.max(0.0);
        let cap = (rate * REFRESH_WINDOW.as_secs_f64()).max(1.0);
        self.tokens = (self.tokens + elapsed * rate).min(cap);
    }

    /// Whether a refresh may go now.
    pub fn can_take(&mut self, rps: f64, now: Instant) -> bool {
        self.fill(rps, now);
        self.tokens >= 1.0
    }

    /// Takes one refresh token (after [`RefreshBudget::can_take`] said yes).
    pub fn take(&mut self, rps: f64, now: Instant) {
        self.fill(rps, now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Takes one refresh token if there is one.
    #[cfg(test)]
    pub fn try_take(&mut self, rps: f64, now: Instant) -> bool {
        let ok = self.can_take(rps, now);
        if ok {
            self.take(rps, now);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_share_alternates_reads_and_writes() {
        let mut s = ReadShare::new(0.5);
        let mut order = String::new();
        for _ in 0..8 {
            if s.read_instead_of_write() {
                order.push('R');
            } else {
                s.wrote();
                order.push('W');
            }
        }
        assert_eq!(order, "WRWRWRWR");
    }

    #[test]
    fn a_quarter_share_gives_one_read_in_four_permits() {
        let mut s = ReadShare::new(0.25);
        let reads = (0..400)
            .filter(|_| {
                let r = s.read_instead_of_write();
                if !r {
                    s.wrote();
                }
                r
            })
            .count();
        assert!((99..=101).contains(&reads), "{reads}");
        let mut none = ReadShare::new(0.0);
        none.wrote();
        assert!(!none.read_instead_of_write());
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_get_their_share_of_the_rate_over_time() {
        let start = Instant::now();
        let mut b = RefreshBudget::new(0.05, start);
        // 10 req/s at 5%: half a refresh per second.
        let mut taken = 0;
        for _ in 0..600 {
            tokio::time::advance(Duration::from_millis(100)).await;
            if b.try_take(10.0, Instant::now()) {
                taken += 1;
            }
        }
        assert!((29..=30).contains(&taken), "{taken} in 60 s");
        // An idle hour saves at most a minute's worth.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let burst = (0..1000)
            .filter(|_| b.try_take(10.0, Instant::now()))
            .count();
        assert_eq!(burst, 30);
    }
}

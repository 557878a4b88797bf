//! On-demand cycles (`POST /reconcile`, SIGUSR1), coalesced and rate-limited.
//!
//! A request starts a cycle of every target at once, unless one was started less than
//! [`MIN_INTERVAL`] ago: then it waits for the end of that interval, and every request that
//! arrives meanwhile joins it. So at most one request is ever pending, and requests start at
//! most one cycle per interval however many arrive (each started cycle ends the one running).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::OnDemand;
use crate::telemetry::http::ReconcileAdmission;

/// On-demand cycles start at most this often.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct GateState {
    /// When the last requested cycle was started.
    last_started: Option<Instant>,
    /// A request waiting for the interval to end: whether it asks for a tag refresh.
    pending: Option<bool>,
}

/// Turns requests into bumps of the [`OnDemand`] counters the target loops watch.
#[derive(Debug)]
pub struct RequestGate {
    tx: watch::Sender<OnDemand>,
    state: Mutex<GateState>,
    min_interval: Duration,
}

impl RequestGate {
    pub fn new(tx: watch::Sender<OnDemand>, min_interval: Duration) -> Arc<Self> {
        Arc::new(RequestGate {
            tx,
            state: Mutex::new(GateState::default()),
            min_interval,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a cycle of every target (`refresh_tags`: read every known tag set again).
    pub fn request(self: &Arc<Self>, refresh_tags: bool) -> ReconcileAdmission {
        let now = Instant::now();
        let mut st = self.lock();
        let due = st.last_started.map(|t| t + self.min_interval);
        match due {
            Some(due) if due > now => {
                let starts_in = due - now;
                if let Some(pending) = st.pending.as_mut() {
                    *pending |= refresh_tags;
                    return ReconcileAdmission::Joined { starts_in };
                }
                st.pending = Some(refresh_tags);
                let gate = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(due).await;
                    gate.start_pending();
                });
                ReconcileAdmission::Queued { starts_in }
            }
            _ => {
                st.last_started = Some(now);
                self.start(refresh_tags);
                ReconcileAdmission::Started
            }
        }
    }

    fn start_pending(&self) {
        let mut st = self.lock();
        if let Some(refresh_tags) = st.pending.take() {
            st.last_started = Some(Instant::now());
            self.start(refresh_tags);
        }
    }

    fn start(&self, refresh_tags: bool) {
        self.tx.send_modify(|d| {
            d.cycles += 1;
            if refresh_tags {
                d.tag_refreshes += 1;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_requests_starts_one_cycle_now_and_one_after_the_interval() {
        let (tx, rx) = watch::channel(OnDemand::default());
        let gate = RequestGate::new(tx, MIN_INTERVAL);
        assert_eq!(gate.request(false), ReconcileAdmission::Started);
        assert_eq!(
            gate.request(false),
            ReconcileAdmission::Queued {
                starts_in: MIN_INTERVAL
            }
        );
        for _ in 0..5_000 {
            assert!(matches!(
                gate.request(true),
                ReconcileAdmission::Joined { .. }
            ));
        }
        assert_eq!(
            *rx.borrow(),
            OnDemand {
                cycles: 1,
                tag_refreshes: 0
            }
        );
        tokio::time::advance(MIN_INTERVAL).await;
        tokio::task::yield_now().await;
        // The pending request started, carrying the tag refresh one of its joiners asked for.
        assert_eq!(
            *rx.borrow(),
            OnDemand {
                cycles: 2,
                tag_refreshes: 1
            }
        );
        tokio::time::advance(MIN_INTERVAL * 10).await;
        tokio::task::yield_now().await;
        assert_eq!(rx.borrow().cycles, 2, "nothing more was pending");
        // A request after a quiet interval starts at once.
        assert_eq!(gate.request(false), ReconcileAdmission::Started);
        assert_eq!(rx.borrow().cycles, 3);
    }
}

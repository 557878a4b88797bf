//! What `/healthz` and `/readyz` report.
//!
//! Liveness is about s3prio's own loops only (an AWS outage must not make Kubernetes restart the
//! pod); readiness adds "the config is loaded and the last cycle of every target succeeded".
//!
//! Liveness means progress, not "a cycle ended": a target loop beats its [`Heartbeat`] at every
//! step of a cycle and whenever one of its calls returns (success or error), so a cycle of an
//! hour stays live. Each heartbeat carries its own bound, derived from what one step may take
//! (see `reconcile::liveness_bound`); a loop silent for longer is stuck.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A loop's sign of life: the time of its last step, and how long it may stay silent.
#[derive(Debug)]
pub struct Heartbeat {
    name: String,
    origin: Instant,
    last_ms: AtomicU64,
    bound_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new("loop", DEFAULT_STUCK_AFTER)
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new(name: &str, bound: Duration) -> Self {
        Heartbeat {
            name: name.to_string(),
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            bound_ms: AtomicU64::new(millis(bound)),
        }
    }

    pub fn beat(&self) {
        let ms = millis(self.origin.elapsed());
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let now = millis(self.origin.elapsed());
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// How long the loop may go without a beat before it counts as stuck.
    pub fn bound(&self) -> Duration {
        Duration::from_millis(self.bound_ms.load(Ordering::Relaxed))
    }

    pub fn set_bound(&self, bound: Duration) {
        self.bound_ms.store(millis(bound), Ordering::Relaxed);
    }

    /// `Err` with the reason when the loop has been silent for longer than its bound.
    pub fn check(&self) -> Result<(), String> {
        let (age, bound) = (self.age(), self.bound());
        if age > bound {
            return Err(format!(
                "{}: no progress for {:.1} s (bound {:.0} s)",
                self.name,
                age.as_secs_f64(),
                bound.as_secs_f64()
            ));
        }
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Default)]
struct TargetHealth {
    last_ok: Option<Instant>,
    /// Why the last cycle failed; `None` when it succeeded.
    last_failure: Option<String>,
}

/// The longest failure reason `/readyz` shows (a cycle error can quote a response body).
const MAX_REASON_CHARS: usize = 300;

/// Shared health state.
#[derive(Debug, Default)]
pub struct Health {
    config_loaded: AtomicBool,
    targets: Mutex<BTreeMap<String, TargetHealth>>,
    loops: Mutex<Vec<std::sync::Arc<Heartbeat>>>,
}

/// The bound of a heartbeat that was given none.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(60);

impl Health {
    pub fn set_config_loaded(&self) {
        self.config_loaded.store(true, Ordering::Relaxed);
    }

    pub fn register_loop(&self, hb: std::sync::Arc<Heartbeat>) {
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hb);
    }

    /// A target's loop stopped for good (the target left the config, the organization or this
    /// shard): it no longer counts for liveness or readiness.
    pub fn forget_target(&self, name: &str, hb: &std::sync::Arc<Heartbeat>) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l| !std::sync::Arc::ptr_eq(l, hb));
    }

    pub fn register_target(&self, name: &str) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default();
    }

    /// A cycle of `target` ended: `Ok` when clean, else why not (shown by `/readyz`).
    pub fn cycle_finished(&self, target: &str, outcome: Result<(), String>) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let e = t.entry(target.to_string()).or_default();
        match outcome {
            Ok(()) => {
                e.last_failure = None;
                e.last_ok = Some(Instant::now());
            }
            Err(reason) => {
                let mut reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
                if reason.is_empty() {
                    reason = "(no reason given)".into();
                }
                e.last_failure = Some(reason);
            }
        }
    }

    /// Every registered loop beat within its bound.
    pub fn live(&self) -> Result<(), String> {
        let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        loops.iter().try_for_each(|hb| hb.check())
    }

    /// Config loaded, and every target's last cycle succeeded within `max_age`.
    pub fn ready(&self, max_age: Duration) -> Result<(), String> {
        if !self.config_loaded.load(Ordering::Relaxed) {
            return Err("config not loaded".into());
        }
        let t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_empty() {
            return Err("no target".into());
        }
        for (name, h) in t.iter() {
            if let Some(reason) = &h.last_failure {
                return Err(format!("target {name}: last cycle failed: {reason}"));
            }
            match h.last_ok {
                None => return Err(format!("target {name}: no successful cycle yet")),
                Some(at) if at.elapsed() > max_age => {
                    return Err(format!(
                        "target {name}: last successful cycle {:?} ago",
                        at.elapsed()
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_loop_is_live_while_it_beats_and_stuck_once_silent_past_its_bound() {
        let health = Health::default();
        let hb = Arc::new(Heartbeat::new("target a", Duration::from_secs(10)));
        health.register_loop(hb.clone());
        // Beating every 4 s for a minute: live throughout.
        for _ in 0..15 {
            tokio::time::advance(Duration::from_secs(4)).await;
            hb.beat();
            assert_eq!(health.live(), Ok(()));
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(health.live(), Ok(()), "exactly at the bound is still live");
        tokio::time::advance(Duration::from_secs(1)).await;
        let err = health.live().expect_err("silent past the bound");
        assert!(
            err.contains("target a: no progress for 11.0 s (bound 10 s)"),
            "{err}"
        );
        hb.beat();
        assert_eq!(health.live(), Ok(()));
    }
}

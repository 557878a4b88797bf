//! What `/healthz` and `/readyz` report.
//!
//! Liveness is about s3prio's own loops only (an AWS outage must not make Kubernetes restart the
//! pod); readiness adds "the config is loaded and the last cycle of every target succeeded".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A loop's sign of life: the time of its last step.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

#[derive(Debug, Clone)]
struct TargetHealth {
    last_ok: Option<Instant>,
    last_failed: bool,
}

/// Shared health state.
#[derive(Debug, Default)]
pub struct Health {
    config_loaded: AtomicBool,
    targets: Mutex<BTreeMap<String, TargetHealth>>,
    loops: Mutex<Vec<std::sync::Arc<Heartbeat>>>,
}

/// A loop that has not beaten for this long is considered stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

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

    pub fn register_target(&self, name: &str) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_insert(TargetHealth {
                last_ok: None,
                last_failed: false,
            });
    }

    pub fn cycle_finished(&self, target: &str, ok: bool) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let e = t.entry(target.to_string()).or_insert(TargetHealth {
            last_ok: None,
            last_failed: false,
        });
        e.last_failed = !ok;
        if ok {
            e.last_ok = Some(Instant::now());
        }
    }

    /// All loops beat within `STUCK_AFTER`.
    pub fn live(&self) -> Result<(), String> {
        let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        for (i, hb) in loops.iter().enumerate() {
            if hb.age() > STUCK_AFTER {
                return Err(format!("loop {i} has made no progress for {:?}", hb.age()));
            }
        }
        Ok(())
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
            match h.last_ok {
                None => return Err(format!("target {name}: no successful cycle yet")),
                Some(_) if h.last_failed => {
                    return Err(format!("target {name}: last cycle failed"))
                }
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

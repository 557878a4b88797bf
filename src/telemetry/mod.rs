//! Logs, metrics, the audit trail, health, and the `/metrics` `/healthz` `/readyz` server.

pub mod audit;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;

pub use audit::{Audit, AuditEvent};
pub use health::{Health, Heartbeat};
pub use metrics::{CallOutcome, Metrics};

use std::sync::Arc;

/// What the daemon shows of itself, shared with its embedder (the `run` and `demo` commands,
/// tests): metrics, the audit trail of changes, health. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub health: Arc<Health>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let metrics = Arc::new(Metrics::new());
        Telemetry {
            audit: Audit::new(metrics.clone()),
            metrics,
            health: Arc::new(Health::default()),
        }
    }
}

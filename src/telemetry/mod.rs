//! Logs, metrics, the audit trail, health, and the `/metrics` `/healthz` `/readyz` server.

pub mod audit;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;

pub use audit::{Audit, AuditEvent};
pub use health::{Health, Heartbeat};
pub use metrics::{CallOutcome, Metrics};

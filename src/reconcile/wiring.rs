//! What a target's reconciler is wired to, how long its loop may go without progress, and
//! building one reconciler per target.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::TargetReconciler;
use crate::aws::pace::AdaptivePace;
use crate::aws::MemoryStore;
use crate::config::{Config, Target};
use crate::telemetry::{Audit, Heartbeat, Metrics};

/// How long a credential check may take when a target's client is built.
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a target loop may go without progress before it counts as stuck: the longest one
/// step can take when nothing is wrong. A call returns within `request_timeout` (or the
/// credential check's 30 s); a retry waits at most `backoff.max_delay`; the slowest pace
/// spaces calls by 1/rate (the pace never drops below 0.2 req/s); plus a margin.
pub fn liveness_bound(target: &Target) -> Duration {
    target.request_timeout.max(CREDENTIALS_TIMEOUT)
        + target.backoff.max_delay
        + Duration::from_secs_f64(1.0 / AdaptivePace::FLOOR_RPS)
        + Duration::from_secs(10)
}

/// What a reconciler shares with the rest of the daemon.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// The HTTP client, credential chain and role providers every target's client is made of.
    pub clients: Arc<crate::aws::SharedClients>,
    pub store: Arc<MemoryStore>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub shutdown: CancellationToken,
    /// The target loop's heartbeat: every call that returns beats it.
    pub heartbeat: Arc<Heartbeat>,
}

/// Builds the reconciler of one target: its client, checked once for credentials. A failure is
/// counted in `s3prio_credential_errors_total` and logged here, once, for every caller.
pub async fn connect(
    target: &Target,
    wiring: Wiring,
) -> Result<TargetReconciler, crate::aws::SetupError> {
    match wiring.clients.client_for(target).await {
        Ok(client) => Ok(TargetReconciler::new(target.clone(), client, wiring)),
        Err(e) => {
            wiring
                .metrics
                .credential_errors
                .get_or_create(&Metrics::target(&target.name))
                .inc();
            tracing::error!(target_name = %target.name, error = %e, "target unavailable");
            Err(e)
        }
    }
}

/// Builds a reconciler per target, each with its own heartbeat (for one-shot commands).
pub async fn build_reconcilers(
    config: &Config,
    wiring: &Wiring,
) -> Vec<Result<TargetReconciler, crate::aws::SetupError>> {
    let mut out = Vec::new();
    for target in &config.targets {
        let heartbeat = Arc::new(Heartbeat::new(
            &format!("target {}", target.name),
            liveness_bound(target),
        ));
        let wiring = Wiring {
            heartbeat,
            ..wiring.clone()
        };
        out.push(connect(target, wiring).await);
    }
    out
}

//! What a cycle saw and did, how to ask it to end early, and why it could not run to its end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::memory::StoreError;
use crate::aws::CallError;
use crate::model::{JobStatus, ObservedJob};
use crate::plan::Plan;
use crate::telemetry::metrics::JobLabels;
use crate::telemetry::Metrics;

/// Asks a running cycle to end early. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CycleStop {
    token: CancellationToken,
    abandon: Arc<AtomicBool>,
}

impl CycleStop {
    /// Stop reading; changes already decided still go out (a cadence tick, an on-demand cycle).
    pub fn wind_down(&self) {
        self.token.cancel();
    }

    /// Stop; changes not yet committed are dropped, their decision may be stale (a window
    /// boundary passed, the policy was reloaded).
    pub fn abandon(&self) {
        self.abandon.store(true, Ordering::Relaxed);
        self.token.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(super) fn is_abandoned(&self) -> bool {
        self.abandon.load(Ordering::Relaxed)
    }

    /// Resolves when the cycle is asked to stop.
    pub(super) fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// What one cycle saw and did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub target: String,
    pub listed: usize,
    /// Every decision of the cycle: the changes planned (made or not), hands-off and ignored
    /// jobs. Jobs whose needed reads were left for a later cycle are not in it.
    pub plan: Plan,
    pub written: usize,
    pub vanished: usize,
    pub failed_writes: usize,
    /// A change planned from older tags that a fresh read before the write made unnecessary.
    pub skipped_at_write: usize,
    pub failed_reads: usize,
    /// Reads left for a later cycle (the cycle was asked to end, or refreshes over budget).
    pub deferred_reads: usize,
    /// Job ids the listing returned more than once (each is handled once).
    pub duplicates: usize,
    pub duration: Duration,
}

impl CycleReport {
    pub fn summary(&self) -> String {
        format!(
            "target {}: {} jobs, {} planned, {} written, {} vanished, {} failed, {} hands-off{}{}",
            self.target,
            self.listed,
            self.plan.changes.len(),
            self.written,
            self.vanished,
            self.failed_writes + self.failed_reads,
            self.plan.hands_off.len(),
            if self.deferred_reads > 0 {
                format!(", {} reads left for the next cycle", self.deferred_reads)
            } else {
                String::new()
            },
            match &self.plan.blocked {
                Some(b) => format!(
                    ", BLOCKED: would change {} jobs, limit {}",
                    b.would_change, b.limit
                ),
                None => String::new(),
            }
        )
    }

    /// True when every planned change landed (or was not needed anymore) and every read worked.
    pub fn is_clean(&self) -> bool {
        self.failed_writes == 0 && self.failed_reads == 0
    }

    /// Sets the target's metrics from this cycle (`jobs`: the listing) and logs what an
    /// operator must see: jobs left alone, a tripped blast-radius guard.
    pub(super) fn publish(&self, metrics: &Metrics, jobs: &[ObservedJob], current_rps: f64) {
        let name = &self.target;
        let labels = Metrics::target(name);
        let mut by_status = [0i64; JobStatus::ALL.len()];
        for o in jobs {
            if let Some(i) = JobStatus::ALL.iter().position(|s| *s == o.job.status) {
                by_status[i] += 1;
            }
        }
        for (st, count) in JobStatus::ALL.iter().zip(by_status) {
            metrics
                .jobs
                .get_or_create(&JobLabels {
                    target: name.clone(),
                    status: st.as_str().to_string(),
                })
                .set(count);
        }
        let hands_off = &self.plan.hands_off;
        metrics
            .hands_off_jobs
            .get_or_create(&labels)
            .set(i64::try_from(hands_off.len()).unwrap_or(i64::MAX));
        for h in hands_off {
            tracing::info!(target_name = %name, job_id = %h.job_id, observed = h.observed, baseline = h.baseline, "hands off: priority was changed by someone else; leaving it");
        }
        if let Some(b) = &self.plan.blocked {
            metrics.blast_radius_blocked.get_or_create(&labels).inc();
            tracing::warn!(
                target_name = %name,
                would_change = b.would_change,
                limit = b.limit,
                "blast-radius guard: this cycle would change more jobs than reconcile.max_changes_per_cycle allows; no job was changed. Check the policy with `s3prio plan`, then raise the limit or fix the rule"
            );
        }
        metrics
            .read_backlog
            .get_or_create(&labels)
            .set(i64::try_from(self.deferred_reads).unwrap_or(i64::MAX));
        metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(self.duration.as_secs_f64());
        metrics
            .rate_limit_current_rps
            .get_or_create(&labels)
            .set(current_rps);
    }
}

/// A cycle that could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("target {target}: listing jobs failed: {source}")]
    List {
        target: String,
        #[source]
        source: CallError,
    },
    #[error("target {target}: baseline store: {source}")]
    Store {
        target: String,
        #[source]
        source: StoreError,
    },
}

//! The audit trail: one event per priority write, emitted as a log line with stable field names
//! (`event`, `target_name`, `job_id`, `old_priority`, `new_priority`, `rule`, `reason`,
//! `dry_run`), counted in `s3prio_priority_changes_total`, and passed to any subscriber (the
//! `demo` command prints them).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::Metrics;
use crate::model::Priority;

/// Log target of audit lines: filter with `RUST_LOG=s3prio::audit=info`.
pub const AUDIT_TARGET: &str = "s3prio::audit";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEvent {
    pub target: String,
    pub job_id: String,
    pub old_priority: Priority,
    pub new_priority: Priority,
    /// The rule that decided, or `baseline` when the job went back to its own priority.
    pub rule: String,
    pub reason: String,
    pub dry_run: bool,
}

/// Emits audit events.
#[derive(Debug, Clone)]
pub struct Audit {
    metrics: Arc<Metrics>,
    subscribers: broadcast::Sender<AuditEvent>,
}

impl Audit {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        let (subscribers, _) = broadcast::channel(4096);
        Audit {
            metrics,
            subscribers,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AuditEvent> {
        self.subscribers.subscribe()
    }

    pub fn emit(&self, ev: AuditEvent) {
        tracing::info!(
            target: AUDIT_TARGET,
            event = if ev.dry_run { "priority_change_planned" } else { "priority_changed" },
            target_name = %ev.target,
            job_id = %ev.job_id,
            old_priority = ev.old_priority,
            new_priority = ev.new_priority,
            rule = %ev.rule,
            reason = %ev.reason,
            dry_run = ev.dry_run,
            "{}",
            if ev.dry_run { "dry run: would change priority" } else { "priority changed" }
        );
        if !ev.dry_run {
            self.metrics
                .priority_changes
                .get_or_create(&super::metrics::ChangeLabels {
                    target: ev.target.clone(),
                    rule: ev.rule.clone(),
                })
                .inc();
        }
        // No subscriber is the normal case.
        let _ = self.subscribers.send(ev);
    }
}

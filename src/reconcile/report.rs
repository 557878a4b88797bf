//! What a cycle may do, what it saw and did, and why it could not run to its end.

use std::time::Duration;

use crate::aws::memory::StoreError;
use crate::aws::CallError;
use crate::plan::Plan;

/// What a cycle may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleMode {
    /// Compute and log the changes, write nothing.
    pub dry_run: bool,
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

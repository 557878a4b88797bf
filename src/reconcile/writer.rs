//! The stages of one priority change, and what each leaves behind.
//!
//! 1. **Check** (when needed): read the job's tags first. The opt-out tag is honoured before
//!    every write (tags read within `tags_ttl` will do), and the tag store rewrites the whole tag
//!    set, so it needs tags read in this cycle: a person's tag edit is never overwritten. The job
//!    is planned again with what was read; the change may be dropped or altered.
//! 2. **Ready**: the memory to keep is computed and, with the file store, recorded (one atomic
//!    save for every change ready at that moment) before anything is sent.
//! 3. **Put** (tag store): the memory tags, with every other tag as read.
//! 4. **Update**: `UpdateJobPriority`, then one audit event.
//!
//! Once a change's memory tags are written, the change is committed: a cycle asked to stop still
//! sends its priority. Anything earlier is simply dropped; the memory is recorded before the
//! write it describes, with the job's current value as `prev_set`, so a change that never went
//! out leaves the job explained.

use crate::model::{JobMemory, Tags};
use crate::plan::Change;
use crate::telemetry::AuditEvent;

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Check,
    Ready,
    Put,
    Update,
}

/// One change on its way.
#[derive(Debug, Clone)]
pub(super) struct WriteItem {
    pub job: usize,
    pub change: Change,
    pub stage: Stage,
    /// The memory tag set to write (tag store), once ready.
    pub put_tags: Option<Tags>,
    /// The memory tags are written: the change is committed.
    pub committed: bool,
}

impl WriteItem {
    pub fn new(job: usize, change: Change, check_first: bool) -> Self {
        WriteItem {
            job,
            change,
            stage: if check_first {
                Stage::Check
            } else {
                Stage::Ready
            },
            put_tags: None,
            committed: false,
        }
    }

    /// Whether the next call of this change is a write (paced by the write pace too).
    pub fn next_call_writes(&self) -> bool {
        matches!(self.stage, Stage::Ready | Stage::Put | Stage::Update)
    }
}

/// The memory to record before writing `change`: the baseline is kept (or set on first change),
/// the job's current value becomes `prev_set` so a crash before the write leaves it explained.
pub fn next_memory(old: Option<JobMemory>, change: &Change) -> JobMemory {
    JobMemory {
        baseline: old.map(|m| m.baseline).unwrap_or(change.baseline),
        last_set: Some(change.to),
        prev_set: Some(change.from),
        hands_off: false,
    }
}

pub(super) fn audit_event(target: &str, c: &Change, dry_run: bool) -> AuditEvent {
    AuditEvent {
        target: target.to_string(),
        job_id: c.job_id.clone(),
        old_priority: c.from,
        new_priority: c.to,
        rule: c.rule.clone().unwrap_or_else(|| "baseline".to_string()),
        reason: c.reason.clone(),
        dry_run,
    }
}

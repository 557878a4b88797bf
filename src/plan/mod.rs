//! The planner: (policy, observed jobs, now) -> the priority changes to make, and why.
//!
//! Pure and idempotent: it reads no clock and does no I/O, and planning again after applying its
//! changes (job priority = `to`, memory `last_set = to`) yields no change.
//!
//! Files: this one decides each job's verdict and assembles the plan; `order` sorts jobs the
//! way the plan lists them; `render` writes a plan for people.

mod order;
mod render;

use std::borrow::Borrow;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{ObservedJob, Priority};
use crate::policy::{ManualChange, Policy, WindowStates};

pub use render::{render_next_boundary, render_table};

/// One priority change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub account_id: String,
    pub region: String,
    pub job_id: String,
    pub from: Priority,
    pub to: Priority,
    pub baseline: Priority,
    /// The rule that decided; `None` = back to baseline (no rule matched).
    pub rule: Option<String>,
    pub reason: String,
}

/// A job whose priority a person changed after s3prio did: left alone (`on_manual_change =
/// "respect"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandsOff {
    pub account_id: String,
    pub region: String,
    pub job_id: String,
    pub observed: Priority,
    pub baseline: Priority,
    pub last_set: Option<Priority>,
    /// What the policy would set if the job were not hands-off.
    pub desired: Priority,
}

/// The blast-radius guard tripped: the executor makes no change this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlastRadius {
    pub would_change: usize,
    pub limit: usize,
}

/// The planner's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub at: DateTime<Utc>,
    /// Jobs in managed statuses that were evaluated.
    pub evaluated: usize,
    /// Sorted by account, region, job id.
    pub changes: Vec<Change>,
    pub hands_off: Vec<HandsOff>,
    /// Ids of jobs carrying the ignore tag.
    pub ignored: Vec<String>,
    /// Jobs in statuses the policy does not manage.
    pub unmanaged: usize,
    pub blocked: Option<BlastRadius>,
}

/// Plans the changes that bring `jobs` to the policy's desired priorities at `now` (jobs or
/// references to them).
pub fn plan<J: Borrow<ObservedJob>>(policy: &Policy, jobs: &[J], now: DateTime<Utc>) -> Plan {
    let at = policy.at(now);
    let settings = policy.settings();
    // Evaluate in input order (memory-friendly), then emit in sorted order.
    let verdicts: Vec<Verdict> = jobs
        .iter()
        .map(|o| judge(policy, o.borrow(), &at))
        .collect();
    let mut out = Plan {
        at: now,
        evaluated: 0,
        changes: Vec::new(),
        hands_off: Vec::new(),
        ignored: Vec::new(),
        unmanaged: 0,
        blocked: None,
    };
    for (ObservedJob { job, memory }, verdict) in order::sorted(jobs, verdicts) {
        match verdict {
            Verdict::Unmanaged => out.unmanaged += 1,
            Verdict::Ignored => out.ignored.push(job.id.clone()),
            Verdict::Unchanged => out.evaluated += 1,
            Verdict::HandsOff { baseline, desired } => {
                out.evaluated += 1;
                out.hands_off.push(HandsOff {
                    account_id: job.account_id.to_string(),
                    region: job.region.to_string(),
                    job_id: job.id.clone(),
                    observed: job.priority,
                    baseline,
                    last_set: memory.and_then(|m| m.last_set),
                    desired,
                });
            }
            Verdict::Change(change) => {
                out.evaluated += 1;
                out.changes.push(*change);
            }
        }
    }
    if let Some(limit) = settings.max_changes_per_cycle {
        if out.changes.len() > limit {
            out.blocked = Some(BlastRadius {
                would_change: out.changes.len(),
                limit,
            });
        }
    }
    out
}

/// What the planner decided for one job.
enum Verdict {
    Unmanaged,
    Ignored,
    Unchanged,
    HandsOff {
        baseline: Priority,
        desired: Priority,
    },
    /// Built while evaluating, in input order, where the job's strings are still in cache.
    Change(Box<Change>),
}

fn judge(policy: &Policy, ObservedJob { job, memory }: &ObservedJob, at: &WindowStates) -> Verdict {
    if !policy.manages(job.status) {
        return Verdict::Unmanaged;
    }
    if policy.is_ignored(job) {
        return Verdict::Ignored;
    }
    let baseline = memory.map_or(job.priority, |m| m.baseline);
    let decision = policy.decision(job, baseline, at);
    let manual = memory.is_some_and(|m| m.hands_off || !m.explains(job.priority));
    if manual && policy.settings().on_manual_change == ManualChange::Respect {
        Verdict::HandsOff {
            baseline,
            desired: decision.desired,
        }
    } else if decision.desired != job.priority {
        // Text only for the jobs that change.
        let evaluation = policy.describe(&decision, baseline);
        Verdict::Change(Box::new(Change {
            account_id: job.account_id.to_string(),
            region: job.region.to_string(),
            job_id: job.id.clone(),
            from: job.priority,
            to: evaluation.desired,
            baseline,
            rule: evaluation.rule,
            reason: evaluation.reason,
        }))
    } else {
        Verdict::Unchanged
    }
}

#[cfg(test)]
mod tests;

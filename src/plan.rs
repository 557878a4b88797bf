//! The planner: (policy, observed jobs, now) -> the priority changes to make, and why.
//!
//! Pure and idempotent: it reads no clock and does no I/O, and planning again after applying its
//! changes (job priority = `to`, memory `last_set = to`) yields no change.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{ObservedJob, Priority};
use crate::policy::{ManualChange, Policy};

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

/// Plans the changes that bring `jobs` to the policy's desired priorities at `now`.
pub fn plan(policy: &Policy, jobs: &[ObservedJob], now: DateTime<Utc>) -> Plan {
    let at = policy.at(now);
    let settings = policy.settings();
    let mut out = Plan {
        at: now,
        evaluated: 0,
        changes: Vec::new(),
        hands_off: Vec::new(),
        ignored: Vec::new(),
        unmanaged: 0,
        blocked: None,
    };
    let mut order: Vec<&ObservedJob> = jobs.iter().collect();
    order.sort_by(|a, b| {
        (&a.job.account_id, &a.job.region, &a.job.id).cmp(&(&b.job.account_id, &b.job.region, &b.job.id))
    });
    for ObservedJob { job, memory } in order {
        if !policy.manages(job.status) {
            out.unmanaged += 1;
            continue;
        }
        if policy.is_ignored(job) {
            out.ignored.push(job.id.clone());
            continue;
        }
        out.evaluated += 1;
        let baseline = memory.map_or(job.priority, |m| m.baseline);
        let evaluation = policy.evaluate_at(job, baseline, &at);
        let manual = memory.is_some_and(|m| m.hands_off || !m.explains(job.priority));
        if manual && settings.on_manual_change == ManualChange::Respect {
            out.hands_off.push(HandsOff {
                account_id: job.account_id.clone(),
                region: job.region.clone(),
                job_id: job.id.clone(),
                observed: job.priority,
                baseline,
                last_set: memory.and_then(|m| m.last_set),
                desired: evaluation.desired,
            });
            continue;
        }
        if evaluation.desired != job.priority {
            out.changes.push(Change {
                account_id: job.account_id.clone(),
                region: job.region.clone(),
                job_id: job.id.clone(),
                from: job.priority,
                to: evaluation.desired,
                baseline,
                rule: evaluation.rule,
                reason: evaluation.reason,
            });
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

/// The human rendering of a plan (`s3prio plan --format table`).
pub fn render_table(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan at {}: {} change(s), {} job(s) evaluated, {} hands-off, {} ignored, {} unmanaged",
        plan.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        plan.changes.len(),
        plan.evaluated,
        plan.hands_off.len(),
        plan.ignored.len(),
        plan.unmanaged
    );
    if let Some(b) = &plan.blocked {
        let _ = writeln!(
            out,
            "BLOCKED: {} changes exceed max_changes_per_cycle = {}; none would be made",
            b.would_change, b.limit
        );
    }
    if !plan.changes.is_empty() {
        let headers = ["ACCOUNT", "REGION", "JOB", "FROM", "TO", "BASELINE", "RULE", "REASON"];
        let rows: Vec<[String; 8]> = plan
            .changes
            .iter()
            .map(|c| {
                [
                    c.account_id.clone(),
                    c.region.clone(),
                    c.job_id.clone(),
                    c.from.to_string(),
                    c.to.to_string(),
                    c.baseline.to_string(),
                    c.rule.clone().unwrap_or_else(|| "(baseline)".to_string()),
                    c.reason.clone(),
                ]
            })
            .collect();
        let _ = writeln!(out);
        write_table(&mut out, &headers, &rows);
    }
    if !plan.hands_off.is_empty() {
        let _ = writeln!(out, "\nhands-off (priority changed by a person; on_manual_change = \"respect\"):");
        let headers = ["ACCOUNT", "REGION", "JOB", "OBSERVED", "LAST SET", "BASELINE", "WOULD SET"];
        let rows: Vec<[String; 7]> = plan
            .hands_off
            .iter()
            .map(|h| {
                [
                    h.account_id.clone(),
                    h.region.clone(),
                    h.job_id.clone(),
                    h.observed.to_string(),
                    h.last_set.map_or_else(|| "-".to_string(), |v| v.to_string()),
                    h.baseline.to_string(),
                    h.desired.to_string(),
                ]
            })
            .collect();
        write_table(&mut out, &headers, &rows);
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(out, "\nignored (ignore tag): {}", plan.ignored.join(", "));
    }
    out
}

fn write_table<const N: usize>(out: &mut String, headers: &[&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, &mut headers.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

//! A plan written for people: the `plan --format table` tables and the next-window-change line.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Change, HandsOff, Plan};
use crate::policy::Policy;

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
        let _ = writeln!(out);
        write_table(&mut out, &CHANGE_HEADERS, &change_rows(&plan.changes));
    }
    if !plan.hands_off.is_empty() {
        let _ = writeln!(
            out,
            "\nhands-off (priority changed by a person; on_manual_change = \"respect\"):"
        );
        write_table(
            &mut out,
            &HANDS_OFF_HEADERS,
            &hands_off_rows(&plan.hands_off),
        );
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(out, "\nignored (ignore tag): {}", plan.ignored.join(", "));
    }
    out
}

const CHANGE_HEADERS: [&str; 8] = [
    "ACCOUNT", "REGION", "JOB", "FROM", "TO", "BASELINE", "RULE", "REASON",
];

fn change_rows(changes: &[Change]) -> Vec<[String; 8]> {
    changes
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
        .collect()
}

const HANDS_OFF_HEADERS: [&str; 7] = [
    "ACCOUNT",
    "REGION",
    "JOB",
    "OBSERVED",
    "LAST SET",
    "BASELINE",
    "WOULD SET",
];

fn hands_off_rows(hands_off: &[HandsOff]) -> Vec<[String; 7]> {
    hands_off
        .iter()
        .map(|h| {
            [
                h.account_id.clone(),
                h.region.clone(),
                h.job_id.clone(),
                h.observed.to_string(),
                h.last_set
                    .map_or_else(|| "-".to_string(), |v| v.to_string()),
                h.baseline.to_string(),
                h.desired.to_string(),
            ]
        })
        .collect()
}

/// The line under a plan table that says when a window some rule uses next opens or closes:
/// until then, the plan changes only if the jobs do.
pub fn render_next_boundary(policy: &Policy, after: DateTime<Utc>) -> String {
    let referenced = (0..policy.window_count()).any(|i| policy.window_is_referenced(i));
    if !referenced {
        return "next window change: none (no rule uses a time window)\n".to_string();
    }
    match policy.next_boundary(after) {
        Some(b) => format!(
            "next window change: {} {} at {} ({} {})\n",
            b.window.name,
            if b.opens { "opens" } else { "closes" },
            b.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            b.at.with_timezone(&b.window.tz)
                .format("%a %Y-%m-%d %H:%M %Z"),
            b.window.tz.name(),
        ),
        None => "next window change: none within 8 days\n".to_string(),
    }
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

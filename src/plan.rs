//! The planner: (policy, observed jobs, now) -> the priority changes to make, and why.
//!
//! Pure and idempotent: it reads no clock and does no I/O, and planning again after applying its
//! changes (job priority = `to`, memory `last_set = to`) yields no change.

use std::borrow::Borrow;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{ObservedJob, Priority};
use crate::policy::{ManualChange, Policy, WindowStates};

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
    for (ObservedJob { job, memory }, verdict) in sorted(jobs, verdicts) {
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

/// `jobs` in (account, region, job id) order, so the plan does not depend on input order.
/// Sorting is a large part of a plan of 100,000 jobs: compare an interned target index and the
/// first 8 bytes of the id (ids are UUIDs), and whole strings only on a tie. Yields each job with
/// its verdict (`verdicts` is in input order).
fn sorted<T, J: Borrow<ObservedJob>>(
    jobs: &[J],
    verdicts: Vec<T>,
) -> impl Iterator<Item = (&ObservedJob, T)> {
    let mut targets: Vec<(&str, &str)> = Vec::new();
    let mut keyed: Vec<(u32, u64, usize, &ObservedJob)> = Vec::with_capacity(jobs.len());
    let mut last: Option<(&str, &str, u32)> = None;
    for (n, o) in jobs.iter().map(Borrow::borrow).enumerate() {
        let t = (&*o.job.account_id, &*o.job.region);
        let index = match last {
            Some((a, r, i)) if (a, r) == t => i,
            _ => {
                let i = targets.iter().position(|x| *x == t).unwrap_or_else(|| {
                    targets.push(t);
                    targets.len() - 1
                });
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                last = Some((t.0, t.1, i));
                i
            }
        };
        let mut prefix = [0u8; 8];
        let id = o.job.id.as_bytes();
        let len = id.len().min(8);
        prefix[..len].copy_from_slice(&id[..len]);
        keyed.push((index, u64::from_be_bytes(prefix), n, o));
    }
    // Rank targets in (account, region) order.
    let mut by_name: Vec<u32> = (0..u32::try_from(targets.len()).unwrap_or(u32::MAX)).collect();
    by_name.sort_unstable_by_key(|&i| targets.get(i as usize).copied());
    let mut rank = vec![0u32; targets.len()];
    for (r, &i) in by_name.iter().enumerate() {
        if let Some(slot) = rank.get_mut(i as usize) {
            *slot = u32::try_from(r).unwrap_or(u32::MAX);
        }
    }
    for k in &mut keyed {
        k.0 = rank.get(k.0 as usize).copied().unwrap_or(u32::MAX);
    }
    keyed.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| a.3.job.id.cmp(&b.3.job.id))
    });
    let mut verdicts: Vec<Option<T>> = verdicts.into_iter().map(Some).collect();
    keyed
        .into_iter()
        .filter_map(move |(_, _, i, o)| verdicts.get_mut(i).and_then(Option::take).map(|v| (o, v)))
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
        let headers = [
            "ACCOUNT", "REGION", "JOB", "FROM", "TO", "BASELINE", "RULE", "REASON",
        ];
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
        let _ = writeln!(
            out,
            "\nhands-off (priority changed by a person; on_manual_change = \"respect\"):"
        );
        let headers = [
            "ACCOUNT",
            "REGION",
            "JOB",
            "OBSERVED",
            "LAST SET",
            "BASELINE",
            "WOULD SET",
        ];
        let rows: Vec<[String; 7]> = plan
            .hands_off
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
            .collect();
        write_table(&mut out, &headers, &rows);
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(out, "\nignored (ignore tag): {}", plan.ignored.join(", "));
    }
    out
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::tests::{job, policy, utc, DAY, HEADER, NIGHT};
    use crate::model::{Job, JobMemory, JobStatus};

    fn observed(id: &str, f: impl FnOnce(&mut Job), memory: Option<JobMemory>) -> ObservedJob {
        let mut j = job();
        j.id = id.to_string();
        f(&mut j);
        ObservedJob { job: j, memory }
    }

    fn urgent(j: &mut Job) {
        j.tags
            .get_or_insert_with(Default::default)
            .insert("urgent".into(), "true".into());
    }

    const URGENT: &str = r#"
[[rules]]
name = "urgent-business-hours"
when = { tags = { urgent = "true" }, in_window = "biz" }
action = { set = 900 }
"#;

    /// What the executor records after a write (mirrors `reconcile::next_memory`).
    fn apply(jobs: &mut [ObservedJob], changes: &[Change]) {
        for c in changes {
            if let Some(o) = jobs.iter_mut().find(|o| {
                (&*o.job.account_id, &*o.job.region, o.job.id.as_str())
                    == (c.account_id.as_str(), c.region.as_str(), c.job_id.as_str())
            }) {
                o.memory = Some(JobMemory {
                    baseline: o.memory.map_or(c.from, |m| m.baseline),
                    last_set: Some(c.to),
                    prev_set: Some(c.from),
                    hands_off: false,
                });
                o.job.priority = c.to;
            }
        }
    }

    #[test]
    fn raises_in_window_and_returns_to_baseline_after() {
        let p = policy(URGENT);
        let mut jobs = vec![observed("u", urgent, None), observed("plain", |_| {}, None)];
        let day = plan(&p, &jobs, utc(DAY));
        assert_eq!(day.changes.len(), 1);
        let c = &day.changes[0];
        assert_eq!(
            (c.job_id.as_str(), c.from, c.to, c.baseline),
            ("u", 100, 900, 100)
        );
        assert_eq!(c.rule.as_deref(), Some("urgent-business-hours"));
        apply(&mut jobs, &day.changes);
        assert!(plan(&p, &jobs, utc(DAY)).changes.is_empty(), "idempotent");
        let night = plan(&p, &jobs, utc(NIGHT));
        assert_eq!(night.changes.len(), 1);
        let c = &night.changes[0];
        assert_eq!((c.from, c.to, c.rule.as_deref()), (900, 100, None));
        apply(&mut jobs, &night.changes);
        assert!(plan(&p, &jobs, utc(NIGHT)).changes.is_empty());
    }

    #[test]
    fn unmanaged_and_ignored_jobs_are_left_alone() {
        let p = policy(URGENT);
        let jobs = vec![
            observed(
                "done",
                |j| {
                    urgent(j);
                    j.status = JobStatus::Complete;
                },
                None,
            ),
            observed(
                "ignored",
                |j| {
                    urgent(j);
                    j.tags
                        .get_or_insert_with(Default::default)
                        .insert("s3prio/ignore".into(), "true".into());
                },
                None,
            ),
            observed(
                "not-really-ignored",
                |j| {
                    urgent(j);
                    j.tags
                        .get_or_insert_with(Default::default)
                        .insert("s3prio/ignore".into(), "false".into());
                },
                None,
            ),
        ];
        let out = plan(&p, &jobs, utc(DAY));
        assert_eq!(out.unmanaged, 1);
        assert_eq!(out.ignored, vec!["ignored".to_string()]);
        assert_eq!(
            out.changes
                .iter()
                .map(|c| c.job_id.as_str())
                .collect::<Vec<_>>(),
            ["not-really-ignored"]
        );
    }

    #[test]
    fn manual_changes_are_respected_or_overridden() {
        let memory = Some(JobMemory {
            baseline: 100,
            last_set: Some(900),
            prev_set: None,
            hands_off: false,
        });
        let jobs = vec![
            observed(
                "person",
                |j| {
                    urgent(j);
                    j.priority = 500;
                },
                memory,
            ),
            observed(
                "flagged",
                |j| {
                    urgent(j);
                    j.priority = 900;
                },
                memory.map(|m| JobMemory {
                    hands_off: true,
                    ..m
                }),
            ),
            observed("ours", |j| j.priority = 900, memory),
        ];
        let respect = plan(&policy(URGENT), &jobs, utc(DAY));
        assert_eq!(
            respect
                .hands_off
                .iter()
                .map(|h| h.job_id.as_str())
                .collect::<Vec<_>>(),
            ["flagged", "person"]
        );
        assert_eq!(respect.hands_off[1].desired, 900);
        // "ours" is at s3prio's own last value: not hands-off; no rule matches it, so back to baseline.
        assert_eq!(respect.changes.len(), 1);
        assert_eq!(
            (respect.changes[0].job_id.as_str(), respect.changes[0].to),
            ("ours", 100)
        );
        let over = policy(&format!(
            "[reconcile]\non_manual_change = \"override\"\n{URGENT}"
        ));
        // The [reconcile] table must precede [[targets]]? No: TOML allows it anywhere; check the setting took.
        assert_eq!(over.settings().on_manual_change, ManualChange::Override);
        let out = plan(&over, &jobs, utc(DAY));
        assert!(out.hands_off.is_empty());
        let ids: Vec<(&str, Priority)> = out
            .changes
            .iter()
            .map(|c| (c.job_id.as_str(), c.to))
            .collect();
        assert_eq!(ids, [("ours", 100), ("person", 900)]);
    }

    #[test]
    fn blast_radius_blocks_but_lists() {
        let p = policy(&format!("[reconcile]\nmax_changes_per_cycle = 2\n{URGENT}"));
        let jobs: Vec<ObservedJob> = (0..3)
            .map(|i| observed(&format!("j{i}"), urgent, None))
            .collect();
        let out = plan(&p, &jobs, utc(DAY));
        assert_eq!(
            out.blocked,
            Some(BlastRadius {
                would_change: 3,
                limit: 2
            })
        );
        assert_eq!(out.changes.len(), 3);
        assert!(
            plan(&p, &jobs[..2], utc(DAY)).blocked.is_none(),
            "at the limit is allowed"
        );
        assert!(render_table(&out).contains("BLOCKED"));
    }

    #[test]
    fn output_is_sorted_and_rendered() {
        let p = policy(URGENT);
        let jobs = vec![
            observed(
                "b",
                |j| {
                    urgent(j);
                    j.region = "us-west-2".into();
                },
                None,
            ),
            observed("c", urgent, None),
            observed(
                "a",
                |j| {
                    urgent(j);
                    j.region = "us-west-2".into();
                },
                None,
            ),
        ];
        let out = plan(&p, &jobs, utc(DAY));
        let keys: Vec<(&str, &str)> = out
            .changes
            .iter()
            .map(|c| (c.region.as_str(), c.job_id.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("us-east-1", "c"), ("us-west-2", "a"), ("us-west-2", "b")]
        );
        // Ids sharing their first 8 bytes are ordered by the whole id.
        let long: Vec<ObservedJob> = ["abcdefgh-2", "abcdefgh-10", "abcdefgh-1", "abcdefg"]
            .iter()
            .map(|id| observed(id, urgent, None))
            .collect();
        let ids: Vec<String> = plan(&p, &long, utc(DAY))
            .changes
            .into_iter()
            .map(|c| c.job_id)
            .collect();
        assert_eq!(ids, ["abcdefg", "abcdefgh-1", "abcdefgh-10", "abcdefgh-2"]);
        let table = render_table(&out);
        assert!(
            table.contains("urgent-business-hours") && table.contains("3 change(s)"),
            "{table}"
        );
        let json = serde_json::to_value(&out).expect("serializable");
        assert_eq!(json["changes"][0]["to"], 900);
    }

    // ---- property: planning is deterministic and idempotent over random jobs and policies ----

    const CONDITIONS: &[&str] = &[
        r#"tags = { urgent = "true" }"#,
        r#"tags_in = { team = ["a", "b"] }"#,
        r#"tags_glob = { team = "a*" }"#,
        r#"tags_exist = ["team"]"#,
        r#"tags_absent = ["urgent"]"#,
        r#"status = ["Active", "Suspended"]"#,
        r#"operation = ["S3PutObjectCopy"]"#,
        r#"older_than = "6h""#,
        r#"newer_than = "1d""#,
        r#"percent_done = { max = 50 }"#,
        r#"total_tasks = { min = 100 }"#,
        r#"priority = { min = 50, max = 500 }"#,
        r#"region = ["us-east-1"]"#,
        r#"in_window = "biz""#,
        r#"outside_window = "biz""#,
        r#"description_glob = "nightly-*""#,
        r#"role_arn = "*batch*""#,
        r#"any = [{ status = ["New"] }, { tags = { team = "b" } }]"#,
        r#"not = { tags = { urgent = "true" } }"#,
    ];

    const ACTIONS: &[&str] = &[
        "set = 900",
        "set = 0",
        "raise = 150",
        "lower = 70",
        "raise = 2147483000",
        "at_least = 300",
        "at_most = 200",
        "raise = 50, at_most = 400",
        "baseline = true",
        r#"age_boost = { every = "1h", by = 7, max = 300 }"#,
    ];

    fn arb_policy() -> impl Strategy<Value = String> {
        let rule = (
            proptest::sample::subsequence((0..CONDITIONS.len()).collect::<Vec<_>>(), 0..3),
            0..ACTIONS.len(),
        );
        (
            proptest::collection::vec(rule, 0..8),
            any::<bool>(),
            proptest::option::of(1usize..6),
        )
            .prop_map(|(rules, override_manual, limit)| {
                let mut s = String::from("[reconcile]\n");
                if override_manual {
                    s.push_str("on_manual_change = \"override\"\n");
                }
                if let Some(l) = limit {
                    s.push_str(&format!("max_changes_per_cycle = {l}\n"));
                }
                s.push_str(HEADER);
                for (i, (conds, action)) in rules.into_iter().enumerate() {
                    let when: Vec<&str> = conds.iter().map(|&c| CONDITIONS[c]).collect();
                    s.push_str(&format!(
                        "\n[[rules]]\nname = \"r{i}\"\nwhen = {{ {} }}\naction = {{ {} }}\n",
                        when.join(", "),
                        ACTIONS[action]
                    ));
                }
                s
            })
    }

    prop_compose! {
        fn arb_job(i: usize)(
            status in proptest::sample::select(JobStatus::ALL.to_vec()),
            priority in prop_oneof![0..1000i32, Just(i32::MAX)],
            urgent in any::<bool>(),
            team in proptest::option::of(proptest::sample::select(vec!["a", "b", "ab", "c"])),
            ignore in proptest::bool::weighted(0.1),
            region in proptest::sample::select(vec!["us-east-1", "eu-west-1"]),
            hours_old in 0i64..100,
            done in 0i64..=100,
            role in proptest::option::of(proptest::sample::select(vec!["arn:aws:iam::1:role/batch", "arn:aws:iam::1:role/x"])),
            memory in proptest::option::of((0..1000i32, any::<bool>(), any::<bool>())),
        ) -> ObservedJob {
            let mut j = job();
            j.id = format!("job-{i:03}");
            j.status = status;
            j.priority = priority;
            j.region = region.into();
            j.creation_time = Some(utc("2026-12-01T00:00:00Z") - chrono::Duration::hours(hours_old));
            j.progress = Some(crate::model::Progress { total_tasks: 100, tasks_succeeded: done, tasks_failed: 0, elapsed_active_seconds: None });
            j.details = Some(crate::model::JobDetails { role_arn: role.map(str::to_string) });
            let tags = j.tags.get_or_insert_with(Default::default);
            if urgent { tags.insert("urgent".into(), "true".into()); }
            if let Some(t) = team { tags.insert("team".into(), t.into()); }
            if ignore { tags.insert("s3prio/ignore".into(), "true".into()); }
            // Memory either explains the observed priority (s3prio set it) or not (a person did).
            let memory = memory.map(|(baseline, ours, flagged)| JobMemory {
                baseline,
                last_set: Some(if ours { priority } else { priority.wrapping_add(1) }),
                prev_set: None,
                hands_off: flagged && !ours,
            });
            ObservedJob { job: j, memory }
        }
    }

    fn arb_jobs() -> impl Strategy<Value = Vec<ObservedJob>> {
        (0usize..40).prop_flat_map(|n| (0..n).map(arb_job).collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn planning_is_deterministic_and_idempotent(
            src in arb_policy(),
            mut jobs in arb_jobs(),
            minutes in 0i64..(60 * 24 * 14),
            seed in any::<u64>(),
        ) {
            let cfg = crate::config::parse(&src, "prop.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let p = &cfg.policy;
            let now = utc("2026-11-28T00:00:00Z") + chrono::Duration::minutes(minutes);
            let first = plan(p, &jobs, now);
            // Deterministic: same input, same plan; input order does not matter.
            prop_assert_eq!(&first, &plan(p, &jobs, now));
            let mut shuffled = jobs.clone();
            let len = shuffled.len();
            if len > 1 {
                shuffled.rotate_left((seed as usize) % len);
                shuffled.swap(0, (seed as usize / 7) % len);
            }
            prop_assert_eq!(&first, &plan(p, &shuffled, now));
            // Every change lands in range and actually changes something.
            for c in &first.changes {
                prop_assert!(c.from != c.to && (0..=i32::MAX).contains(&c.to));
            }
            // Idempotent: after applying, nothing is left to do.
            apply(&mut jobs, &first.changes);
            let again = plan(p, &jobs, now);
            prop_assert!(again.changes.is_empty(), "second plan: {:?}", again.changes);
            prop_assert_eq!(again.hands_off.len(), first.hands_off.len());
        }
    }
}

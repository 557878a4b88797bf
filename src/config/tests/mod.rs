//! Policy behaviour as a config file states it: each test writes rules in TOML, loads them
//! through the config and checks what the compiled policy decides. Shared helpers here (the
//! planner's tests use them too); conditions, actions and precedence, and needs / windows /
//! explain in their own files.

mod actions;
mod conditions;
mod needs;

use chrono::{DateTime, Utc};

use crate::model::{Job, JobDetails, JobStatus, Progress, Tags};
use crate::policy::Policy;

/// 2026-12-01 is a Tuesday: 15:00Z is 10:00 in New York (business hours), 03:00Z is 22:00 Monday.
pub(crate) const DAY: &str = "2026-12-01T15:00:00Z";
pub(crate) const NIGHT: &str = "2026-12-01T03:00:00Z";

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .with_timezone(&Utc)
}

pub(crate) const HEADER: &str = r#"
[[targets]]
account_id = "123456789012"
region = "us-east-1"

[windows.biz]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]
exclude_dates = ["2026-12-25"]
"#;

pub(crate) fn policy(rules: &str) -> Policy {
    let src = format!("{HEADER}\n{rules}");
    let cfg = crate::config::parse(&src, "test.toml")
        .unwrap_or_else(|e| panic!("config should load:\n{e}"));
    Policy::clone(&cfg.policy)
}

/// A deciding rule that holds for urgent jobs in business hours.
const URGENT_BIZ: &str = r#"
[[rules]]
name = "urgent-business-hours"
when = { tags = { urgent = "true" }, in_window = "biz" }
action = { set = 900 }
"#;

pub(crate) fn job() -> Job {
    Job {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        id: "j".into(),
        description: Some("nightly-copy".into()),
        operation: Some("S3PutObjectCopy".into()),
        priority: 100,
        status: JobStatus::Active,
        creation_time: Some(utc("2026-12-01T00:00:00Z")),
        termination_date: None,
        progress: Some(Progress {
            total_tasks: 1000,
            tasks_succeeded: 200,
            tasks_failed: 50,
            elapsed_active_seconds: None,
        }),
        tags: Some(Tags::new()),
        details: Some(JobDetails { role_arn: None }),
    }
}

pub(crate) fn tag(mut j: Job, k: &str, v: &str) -> Job {
    j.tags
        .get_or_insert_with(Tags::new)
        .insert(k.into(), v.into());
    j
}

pub(crate) fn with(f: impl FnOnce(&mut Job)) -> Job {
    let mut j = job();
    f(&mut j);
    j
}

/// Whether a rule with condition `cond` matches `job` at `at`.
/// Whether a rule with condition `cond` matches `job` at `at`.
pub(crate) fn matches(cond: &str, job: &Job, at: &str) -> bool {
    let p = policy(&format!(
        "[[rules]]\nname = \"r\"\nwhen = {{ {cond} }}\naction = {{ set = 999 }}\n"
    ));
    p.evaluate(job, job.priority, utc(at)).desired == 999
}

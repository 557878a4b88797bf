//! Planner benchmark: plan 100,000 jobs against a 50-rule policy and print the time.
//!
//! Run: `cargo bench --bench plan` (target: under 100 ms per plan in release).
// Wall time is what this benchmark measures, and it runs no tokio runtime.
#![allow(clippy::disallowed_types)]

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use s3prio::model::{Job, JobDetails, JobMemory, JobStatus, ObservedJob, Progress, Tags};

const JOBS: usize = 100_000;
const RULES: usize = 50;

fn policy_source() -> String {
    let mut s = String::from(
        r#"
[[targets]]
account_id = "123456789012"
region = "us-east-1"

[windows.business-hours]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]
exclude_dates = ["2026-12-25"]

[windows.overnight]
timezone = "Europe/Berlin"
ranges = ["22:00-06:00"]
"#,
    );
    // A realistic mix: most rules test tags, some time, operation, age and progress.
    for i in 0..RULES {
        let when = match i % 10 {
            0 => format!(r#"tags = {{ team = "team-{i}" }}, in_window = "business-hours""#),
            1 => format!(r#"tags_in = {{ project = ["p{i}", "q{i}"] }}"#),
            2 => {
                format!(r#"tags_glob = {{ project = "etl-{i}-*" }}, status = ["Active", "Ready"]"#)
            }
            3 => r#"operation = ["S3InitiateRestoreObject"], in_window = "overnight""#.to_string(),
            4 => format!(r#"description_glob = "nightly-{i}-*""#),
            5 => format!(r#"older_than = "{}h", tags_absent = ["hold"]"#, 24 + i),
            6 => format!(
                r#"percent_done = {{ min = {}, max = {} }}, total_tasks = {{ min = 1000 }}"#,
                i,
                i + 1
            ),
            7 => format!(
                r#"any = [{{ tags = {{ tier = "t{i}" }} }}, {{ region = ["ap-south-{i}"] }}]"#
            ),
            8 => format!(r#"description_regex = '^backfill-{i}-\d+$'"#),
            _ => format!(
                r#"not = {{ tags_exist = ["owner"] }}, priority = {{ min = {}, max = {} }}"#,
                i * 10,
                i * 10 + 5
            ),
        };
        let action = match i % 5 {
            0 => "set = 900".to_string(),
            1 => format!("raise = {}", i * 3),
            2 => "lower = 10, at_least = 1".to_string(),
            3 => r#"age_boost = { every = "1h", by = 5, max = 300 }"#.to_string(),
            _ => format!("at_most = {}", 5000 - i),
        };
        s.push_str(&format!(
            "\n[[rules]]\nname = \"rule-{i}\"\nwhen = {{ {when} }}\naction = {{ {action} }}\n"
        ));
    }
    s
}

fn jobs(now: DateTime<Utc>) -> Vec<ObservedJob> {
    let statuses = [
        JobStatus::Active,
        JobStatus::Ready,
        JobStatus::Suspended,
        JobStatus::New,
        JobStatus::Complete,
    ];
    let ops = [
        "S3PutObjectCopy",
        "S3InitiateRestoreObject",
        "LambdaInvoke",
        "S3PutObjectTagging",
    ];
    (0..JOBS)
        .map(|i| {
            let mut tags = Tags::new();
            tags.insert("team".into(), format!("team-{}", i % 97));
            tags.insert("project".into(), format!("etl-{}-x", i % 53));
            if i % 3 == 0 {
                tags.insert("owner".into(), "someone".into());
            }
            if i % 11 == 0 {
                tags.insert("tier".into(), format!("t{}", i % 60));
            }
            let total = 500 + (i as i64 % 5000);
            ObservedJob {
                job: Job {
                    account_id: "123456789012".into(),
                    region: "us-east-1".into(),
                    id: format!("{:08x}-job", i.wrapping_mul(2_654_435_761) % 0xffff_ffff),
                    description: Some(format!("nightly-{}-{}", i % 50, i)),
                    operation: Some(ops[i % ops.len()].into()),
                    priority: (i % 1000) as i32,
                    status: statuses[i % statuses.len()],
                    creation_time: Some(now - Duration::minutes((i % 10_000) as i64)),
                    termination_date: None,
                    progress: Some(Progress {
                        total_tasks: total,
                        tasks_succeeded: total * (i as i64 % 100) / 100,
                        tasks_failed: 0,
                        elapsed_active_seconds: None,
                    }),
                    tags: Some(tags),
                    details: Some(JobDetails::default()),
                },
                memory: (i % 4 == 0).then_some(JobMemory {
                    baseline: (i % 1000) as i32,
                    last_set: None,
                    prev_set: None,
                    hands_off: false,
                }),
            }
        })
        .collect()
}

fn main() {
    let cfg = match s3prio::config::parse(&policy_source(), "bench.toml") {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let now = DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    let jobs = jobs(now);
    let mut times = Vec::new();
    let mut changes = 0;
    for _ in 0..7 {
        let start = Instant::now();
        let plan = s3prio::plan::plan(&cfg.policy, &jobs, now);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        changes = plan.changes.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "plan: {JOBS} jobs x {} rules: median {:.1} ms, min {:.1} ms, max {:.1} ms ({changes} changes)",
        cfg.policy.rule_count(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}

//! Config parsing + validation + planning: no input may panic.
//!
//! The input is split at the first NUL byte: before it, the config text; after it, bytes that
//! drive a set of jobs (statuses, priorities, tags, ages) and the instant of evaluation.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use s3prio::model::{Job, JobMemory, JobStatus, ObservedJob, Progress, Tags};

fn jobs_from(bytes: &[u8]) -> (Vec<ObservedJob>, DateTime<Utc>) {
    let now_secs = bytes.iter().take(4).fold(1_700_000_000i64, |a, b| a.wrapping_mul(31).wrapping_add(*b as i64));
    let now = Utc.timestamp_opt(now_secs.rem_euclid(4_000_000_000), 0).single().unwrap_or_default();
    let mut jobs = Vec::new();
    for (i, chunk) in bytes.chunks(8).enumerate().take(64) {
        let b = |k: usize| chunk.get(k).copied().unwrap_or(0);
        let mut tags = Tags::new();
        if b(1) & 1 == 1 {
            tags.insert("urgent".into(), "true".into());
        }
        if b(1) & 2 == 2 {
            tags.insert("team".into(), format!("t{}", b(2) % 4));
        }
        let priority = i32::from_le_bytes([b(3), b(4), b(5), b(6) & 0x7f]);
        let memory = (b(7) & 1 == 1).then(|| JobMemory {
            baseline: (b(7) as i32) * 3,
            last_set: (b(7) & 2 == 2).then_some(priority),
            prev_set: None,
            hands_off: false,
        });
        jobs.push(ObservedJob {
            job: Job {
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                id: format!("job-{i:05}"),
                description: Some(format!("desc {}", b(0))),
                operation: Some(s3prio::model::OPERATION_NAMES[b(0) as usize % 11].to_string()),
                priority,
                status: JobStatus::ALL[b(2) as usize % JobStatus::ALL.len()],
                creation_time: Some(now - chrono::Duration::seconds(b(5) as i64 * 977)),
                termination_date: None,
                progress: Some(Progress {
                    total_tasks: b(4) as i64,
                    tasks_succeeded: b(5) as i64,
                    tasks_failed: b(6) as i64,
                    elapsed_active_seconds: None,
                }),
                tags: Some(tags),
                details: None,
            },
            memory,
        });
    }
    (jobs, now)
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(cfg) = s3prio::config::parse(text, "fuzz.toml") else {
        return;
    };
    let rest = data.get(split + 1..).unwrap_or(&[]);
    let (jobs, now) = jobs_from(rest);
    let plan = s3prio::plan::plan(&cfg.policy, &jobs, now);
    let _ = cfg.policy.next_window_change(now);
    for o in jobs.iter().take(4) {
        let _ = cfg.policy.explain(&o.job, o.job.priority, now).render_text();
    }
    // Idempotent: applying the plan and planning again changes nothing.
    let applied: Vec<ObservedJob> = jobs
        .into_iter()
        .map(|mut o| {
            if let Some(c) = plan.changes.iter().find(|c| c.job_id == o.job.id) {
                o.memory = Some(JobMemory {
                    baseline: o.memory.map(|m| m.baseline).unwrap_or(c.baseline),
                    last_set: Some(c.to),
                    prev_set: Some(c.from),
                    hands_off: false,
                });
                o.job.priority = c.to;
            }
            o
        })
        .collect();
    if plan.blocked.is_none() {
        let again = s3prio::plan::plan(&cfg.policy, &applied, now);
        assert!(again.changes.is_empty(), "plan not idempotent: {:?}", again.changes);
    }
});

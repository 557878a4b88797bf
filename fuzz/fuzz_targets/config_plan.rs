//! Config parsing + validation + planning: no input may panic, and a plan is idempotent (with
//! the blast-radius guard and without it).
//!
//! The input is split at the first NUL byte: before it, the config text; after it, bytes that
//! drive a set of jobs (statuses, priorities, tags, ages) and the instant of evaluation.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use s3prio::model::{Job, JobMemory, JobStatus, ObservedJob, Progress, Tags};
use s3prio::plan::Change;
use s3prio::policy::{PlannerSettings, Policy};
use s3prio::reconcile::next_memory;

fn jobs_from(bytes: &[u8]) -> (Vec<ObservedJob>, DateTime<Utc>) {
    let now_secs = bytes.iter().take(4).fold(1_700_000_000i64, |a, b| {
        a.wrapping_mul(31).wrapping_add(*b as i64)
    });
    let now = Utc
        .timestamp_opt(now_secs.rem_euclid(4_000_000_000), 0)
        .single()
        .unwrap_or_default();
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
        let _ = cfg
            .policy
            .explain(&o.job, o.job.priority, now)
            .render_text();
    }
    // The blast-radius guard only flags a plan: the same policy without it decides the same
    // changes and is never blocked.
    let unguarded = Policy::new(
        cfg.policy.rules().to_vec(),
        cfg.policy.windows().to_vec(),
        PlannerSettings {
            max_changes_per_cycle: None,
            ..cfg.policy.settings().clone()
        },
    );
    let free = s3prio::plan::plan(&unguarded, &jobs, now);
    assert!(free.blocked.is_none(), "blocked without a guard");
    assert_eq!(free.changes, plan.changes, "the guard changed a decision");
    // Idempotent, guard or no guard: applying the changes and planning again changes nothing.
    let applied = apply(jobs, &free.changes);
    let again = s3prio::plan::plan(&unguarded, &applied, now);
    assert!(
        again.changes.is_empty(),
        "plan not idempotent: {:?}",
        again.changes
    );
    let again = s3prio::plan::plan(&cfg.policy, &applied, now);
    assert!(
        again.changes.is_empty() && again.blocked.is_none(),
        "plan not idempotent under the guard: {:?}",
        again.changes
    );
});

/// The jobs as they are once `changes` were written: the new priority, and the memory the
/// writer records for it.
fn apply(jobs: Vec<ObservedJob>, changes: &[Change]) -> Vec<ObservedJob> {
    jobs.into_iter()
        .map(|mut o| {
            if let Some(c) = changes.iter().find(|c| c.job_id == o.job.id) {
                o.memory = Some(next_memory(o.memory, c));
                o.job.priority = c.to;
            }
            o
        })
        .collect()
}

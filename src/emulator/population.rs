//! A realistic, seeded job population: mixed operations, statuses, ages, progress,
//! descriptions and tags (`urgent`, `team`, `cost-center`).

use chrono::{DateTime, Duration, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::job::{uuid_from_bits, EmulatorJob, JobSpec, JobStatus, OperationName, Progress, Tag};

const TEAMS: [&str; 5] = [
    "data-platform",
    "analytics",
    "ml-training",
    "billing",
    "media",
];
const COST_CENTERS: [&str; 4] = ["cc-1001", "cc-2040", "cc-3300", "cc-4711"];
const DESCRIPTIONS: [&str; 8] = [
    "Nightly restore of archived invoices",
    "Tag raw events for lifecycle expiry",
    "Copy training set to us-west-2",
    "Re-encrypt media bucket with the new KMS key",
    "Apply legal hold to case 2291 evidence",
    "Checksum audit of backup tier",
    "Replicate customer exports",
    "Strip public ACLs from legacy prefixes",
];

/// Generates `n` jobs for `account`, the same ones for the same seed (times are relative to
/// `now`). At most `max_active` of them are Active: the highest-priority runnable ones.
pub fn generate(
    account: &str,
    n: usize,
    seed: u64,
    now: DateTime<Utc>,
    max_active: usize,
) -> Vec<EmulatorJob> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut jobs: Vec<EmulatorJob> = (0..n).map(|i| one(&mut rng, account, i, now)).collect();
    // Bounded concurrency: only the top `max_active` runnable jobs run; the rest wait or pause.
    let mut runnable: Vec<usize> = (0..jobs.len())
        .filter(|&i| {
            matches!(
                jobs[i].status,
                JobStatus::Active | JobStatus::Ready | JobStatus::Paused
            )
        })
        .collect();
    runnable.sort_by_key(|&i| (std::cmp::Reverse(jobs[i].priority), jobs[i].creation_time));
    for (rank, &i) in runnable.iter().enumerate() {
        let job = &mut jobs[i];
        if rank < max_active {
            job.status = JobStatus::Active;
        } else if job.status == JobStatus::Active {
            job.status = if job.progress.succeeded > 0 {
                JobStatus::Paused
            } else {
                JobStatus::Ready
            };
        }
    }
    jobs
}

/// One job. The draws happen in a fixed order (the same seed gives the same population), so
/// a new draw goes at the end.
fn one(rng: &mut SmallRng, account: &str, i: usize, now: DateTime<Utc>) -> EmulatorJob {
    let id = uuid_from_bits(rng.random());
    let operation = OperationName::ALL[rng.random_range(0..OperationName::ALL.len())];
    let status = draw_status(rng);
    let age = draw_age(rng, status);
    let creation_time = now - age;
    let progress = draw_progress(rng, status);
    let tags = draw_tags(rng);
    let description = draw_description(rng, i);
    let spec = JobSpec {
        account_id: account.to_string(),
        id: None,
        description,
        operation,
        priority: rng.random_range(10..=500),
        status,
        creation_time: Some(creation_time),
        termination_date: status.is_terminal().then(|| {
            creation_time + Duration::minutes(rng.random_range(5..age.num_minutes().max(6)))
        }),
        tags,
        progress,
        role_arn: None,
        confirmation_required: status == JobStatus::Suspended || rng.random_bool(0.1),
    };
    let mut job = spec.into_job(id, now);
    if status == JobStatus::Failed {
        job.failure_reasons.push(super::job::Failure {
            code: "TaskFailureThresholdExceeded".into(),
            reason: "More than half of the tasks failed".into(),
        });
    }
    job
}

/// The status mix: mostly Ready, Complete and Suspended, a few in every other status.
fn draw_status(rng: &mut SmallRng) -> JobStatus {
    let roll: u32 = rng.random_range(0..100);
    match roll {
        0..=3 => JobStatus::New,
        4..=7 => JobStatus::Preparing,
        8..=19 => JobStatus::Suspended,
        20..=49 => JobStatus::Ready,
        50..=57 => JobStatus::Paused,
        58..=61 => JobStatus::Active,
        62..=63 => JobStatus::Completing,
        64..=83 => JobStatus::Complete,
        84..=90 => JobStatus::Failed,
        _ => JobStatus::Cancelled,
    }
}

/// Unfinished jobs are recent; finished ones spread over half a year (some past the 90-day
/// listing horizon).
fn draw_age(rng: &mut SmallRng, status: JobStatus) -> Duration {
    if status.is_terminal() {
        Duration::minutes(rng.random_range(60..180 * 24 * 60))
    } else {
        Duration::minutes(rng.random_range(1..21 * 24 * 60))
    }
}

/// Task counts from a thousand to fifty million; how many are done follows the status.
fn draw_progress(rng: &mut SmallRng, status: JobStatus) -> Progress {
    let total: i64 = match rng.random_range(0..10) {
        0..=5 => rng.random_range(1_000..100_000),
        6..=8 => rng.random_range(100_000..5_000_000),
        _ => rng.random_range(5_000_000..50_000_000),
    };
    let done = match status {
        JobStatus::Complete | JobStatus::Completing => total,
        JobStatus::Active | JobStatus::Paused | JobStatus::Failed | JobStatus::Cancelled => {
            rng.random_range(0..total)
        }
        _ => 0,
    };
    let failed = if status == JobStatus::Failed {
        done / 2
    } else {
        done / 1000
    };
    Progress {
        total_tasks: total,
        succeeded: done - failed,
        failed,
        elapsed_active_seconds: if done > 0 {
            rng.random_range(60..86_400)
        } else {
            0
        },
        active_millis: 0,
    }
}

/// Most jobs carry `team` (and usually `cost-center`); about one in ten is `urgent`.
fn draw_tags(rng: &mut SmallRng) -> Vec<Tag> {
    let mut tags = Vec::new();
    if rng.random_range(0..100) >= 15 {
        tags.push(Tag::new("team", TEAMS[rng.random_range(0..TEAMS.len())]));
        if rng.random_bool(0.8) {
            tags.push(Tag::new(
                "cost-center",
                COST_CENTERS[rng.random_range(0..COST_CENTERS.len())],
            ));
        }
    }
    if rng.random_range(0..100) < 10 {
        tags.push(Tag::new("urgent", "true"));
    }
    tags
}

/// One job in twenty has no description; the others are numbered by position.
fn draw_description(rng: &mut SmallRng, i: usize) -> Option<String> {
    if rng.random_range(0..20) == 0 {
        None
    } else {
        Some(format!(
            "{} #{}",
            DESCRIPTIONS[rng.random_range(0..DESCRIPTIONS.len())],
            i + 1
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_jobs_and_a_realistic_mix() {
        let now = Utc::now();
        let a = generate("123456789012", 2000, 7, now, 4);
        let b = generate("123456789012", 2000, 7, now, 4);
        assert_eq!(a, b);
        assert_ne!(a, generate("123456789012", 2000, 8, now, 4));
        assert!(a
            .iter()
            .all(|j| super::super::job::is_valid_job_id(&j.id) && j.id.len() == 36));
        let urgent = a.iter().filter(|j| j.tag("urgent") == Some("true")).count();
        assert!((120..=280).contains(&urgent), "{urgent}");
        assert!(a.iter().any(|j| j.tags.is_empty()));
        assert_eq!(
            a.iter().filter(|j| j.status == JobStatus::Active).count(),
            4
        );
        let cutoff = now - Duration::days(90);
        assert!(a
            .iter()
            .any(|j| j.termination_date.is_some_and(|t| t < cutoff)));
        assert!(a.iter().filter(|j| !j.status.is_terminal()).count() > 1000);
        assert!(a.iter().all(|j| (10..=500).contains(&j.priority)));
    }
}

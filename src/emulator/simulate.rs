//! The living population: jobs move through the status flow, and per account at most
//! `max_active` runnable jobs are Active — the highest priorities first — so a priority change
//! has a visible effect. Time is simulated seconds (wall time multiplied by `time_scale`).

use chrono::{DateTime, Utc};

use super::job::{EmulatorJob, Failure, JobStatus};
use super::store::Store;

/// Simulated seconds each transitional status lasts.
const NEW_SECS: f64 = 5.0;
const PREPARING_SECS: f64 = 10.0;
const ENDING_SECS: f64 = 5.0;
const PAUSING_SECS: f64 = 3.0;
/// A running job finishes its tasks in about this many simulated seconds.
const RUN_SECS: f64 = 600.0;

/// Advances every account by `dt` simulated seconds; true if any job changed.
pub fn tick(store: &mut Store, dt: f64, max_active: usize, now: DateTime<Utc>) -> bool {
    let mut changed = false;
    for acc in store.accounts.values_mut() {
        // Who may run: the top `max_active` runnable jobs by (priority desc, older first).
        let mut runnable: Vec<(i32, i64, &str)> = acc
            .jobs
            .values()
            .filter(|j| {
                matches!(
                    j.status,
                    JobStatus::Ready | JobStatus::Active | JobStatus::Paused
                )
            })
            .map(|j| {
                (
                    j.priority,
                    j.creation_time.timestamp_millis(),
                    j.id.as_str(),
                )
            })
            .collect();
        let order = |a: &(i32, i64, &str), b: &(i32, i64, &str)| {
            b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2))
        };
        if runnable.len() > max_active && max_active > 0 {
            runnable.select_nth_unstable_by(max_active - 1, order);
        }
        runnable.truncate(max_active);
        let chosen: Vec<String> = runnable.iter().map(|r| r.2.to_string()).collect();

        for job in acc.jobs.values_mut() {
            if job.status.is_terminal() {
                continue;
            }
            job.seconds_in_status += dt;
            let runs = chosen.contains(&job.id);
            let before = (job.status, job.progress);
            step(job, dt, runs, now);
            changed |= before != (job.status, job.progress);
        }
    }
    changed
}

fn step(job: &mut EmulatorJob, dt: f64, may_run: bool, now: DateTime<Utc>) {
    let waited = job.seconds_in_status;
    match job.status {
        JobStatus::New if waited >= NEW_SECS => job.enter(JobStatus::Preparing, now),
        JobStatus::Preparing if waited >= PREPARING_SECS => {
            let next = if job.confirmation_required {
                JobStatus::Suspended
            } else {
                JobStatus::Ready
            };
            job.enter(next, now);
        }
        JobStatus::Ready | JobStatus::Paused if may_run => job.enter(JobStatus::Active, now),
        JobStatus::Active if !may_run => job.enter(JobStatus::Pausing, now),
        JobStatus::Active => run(job, dt, now),
        JobStatus::Pausing if waited >= PAUSING_SECS => job.enter(JobStatus::Paused, now),
        JobStatus::Completing if waited >= ENDING_SECS => job.enter(JobStatus::Complete, now),
        JobStatus::Failing if waited >= ENDING_SECS => job.enter(JobStatus::Failed, now),
        JobStatus::Cancelling if waited >= ENDING_SECS => job.enter(JobStatus::Cancelled, now),
        _ => {}
    }
}

/// Processes tasks; about one job in twenty has a bad manifest and fails half its tasks.
fn run(job: &mut EmulatorJob, dt: f64, now: DateTime<Utc>) {
    let p = &mut job.progress;
    let millis = p.active_millis + (dt * 1000.0).round() as i64;
    p.elapsed_active_seconds += millis / 1000;
    p.active_millis = millis % 1000;
    let remaining = (p.total_tasks - p.succeeded - p.failed).max(0);
    let per_sec = (p.total_tasks as f64 / RUN_SECS).max(1.0);
    let batch = ((per_sec * dt).ceil() as i64).min(remaining);
    let failing = crate::hash::fnv1a64(job.id.as_bytes()) % 20 == 0;
    let failed = if failing { batch / 2 } else { batch / 1000 };
    p.failed += failed;
    p.succeeded += batch - failed;
    if p.succeeded + p.failed >= p.total_tasks {
        if p.failed * 2 >= p.total_tasks && p.total_tasks > 0 {
            job.failure_reasons.push(Failure {
                code: "TaskFailureThresholdExceeded".into(),
                reason: "More than half of the tasks failed".into(),
            });
            job.enter(JobStatus::Failing, now);
        } else {
            job.enter(JobStatus::Completing, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::job::{JobSpec, Progress};
    use crate::emulator::DEFAULT_ACCOUNT_ID as ACCT;

    #[test]
    fn highest_priorities_run_and_a_raise_takes_a_slot() {
        let now = Utc::now();
        let mut store = Store::new(1);
        let ids: Vec<String> = (0..6)
            .map(|p| {
                store.insert_spec(
                    JobSpec {
                        priority: 10 + p,
                        status: JobStatus::Ready,
                        progress: Progress {
                            total_tasks: 1_000_000,
                            ..Progress::default()
                        },
                        ..JobSpec::default()
                    },
                    now,
                )
            })
            .collect();
        tick(&mut store, 1.0, 2, now);
        let status = |s: &Store, i: usize| s.job(ACCT, &ids[i]).unwrap().status;
        assert_eq!(status(&store, 5), JobStatus::Active);
        assert_eq!(status(&store, 4), JobStatus::Active);
        assert_eq!(status(&store, 0), JobStatus::Ready);
        tick(&mut store, 1.0, 2, now);
        assert!(store.job(ACCT, &ids[5]).unwrap().progress.succeeded > 0);
        assert_eq!(store.job(ACCT, &ids[0]).unwrap().progress.succeeded, 0);
        // A person raises job 0 above everyone: it runs, the lowest runner pauses.
        store.job_mut(ACCT, &ids[0]).unwrap().priority = 1000;
        tick(&mut store, 1.0, 2, now);
        assert_eq!(status(&store, 0), JobStatus::Active);
        assert_eq!(status(&store, 4), JobStatus::Pausing);
        tick(&mut store, PAUSING_SECS, 2, now);
        assert_eq!(status(&store, 4), JobStatus::Paused);
    }

    #[test]
    fn new_jobs_walk_the_flow_to_the_end() {
        let now = Utc::now();
        let mut store = Store::new(1);
        let id = store.insert_spec(
            JobSpec {
                status: JobStatus::New,
                progress: Progress {
                    total_tasks: 100,
                    ..Progress::default()
                },
                ..JobSpec::default()
            },
            now,
        );
        let mut seen = vec![JobStatus::New];
        for _ in 0..2000 {
            tick(&mut store, 1.0, 4, now);
            let s = store.job(ACCT, &id).unwrap().status;
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
        let last = *seen.last().unwrap();
        assert!(
            last == JobStatus::Complete || last == JobStatus::Failed,
            "{seen:?}"
        );
        assert_eq!(
            &seen[..4],
            [
                JobStatus::New,
                JobStatus::Preparing,
                JobStatus::Ready,
                JobStatus::Active
            ]
        );
        assert!(store.job(ACCT, &id).unwrap().termination_date.is_some());
    }
}

//! Reconciling one target: list its jobs, decide each, and send what the decisions need.
//!
//! A cycle is made of parts a newcomer can name:
//! - the **observer** (`book`): what is known of each listed job across cycles, and which reads
//!   a cycle should make, by value;
//! - the **planner** (`crate::plan`, pure): observed jobs + policy + now -> changes;
//! - the **scheduler** (`pipeline`) with the **write stages** (`writer`): reads and writes under
//!   the target's pace, a change written as soon as its job is decided;
//! - the **budgets** (`budget`): writes first, reads within their shares.
//!
//! Cost model: one `ListJobs` per 1,000 managed jobs per cycle. `GetJobTagging` when a rule needs
//! a job's tags and they were never read (or their refresh interval passed, within the refresh
//! budget), once per job per process for the tag store's memory, and before a write whose tags
//! are too old for the opt-out check or the tag store. `DescribeJob` only when a rule needs a
//! field `ListJobs` lacks, cached while the job is listed. `UpdateJobPriority` (and, with the tag
//! store, `PutJobTagging`) only where the desired priority differs.

mod book;
mod budget;
mod pipeline;
mod report;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::call::Backoff;
use crate::aws::pace::AdaptivePace;
use crate::aws::{observe, CallContext, CallError, MemoryStore};
use crate::config::{Config, Target};
use crate::model::{ObservedJob, Tags};
use crate::telemetry::{Audit, Heartbeat, Metrics};

use book::{JobBook, TagSchedule, TriageContext};
use budget::RefreshBudget;
use pipeline::{Io, Pipeline, Rules};

pub use pipeline::CycleStop;
pub use report::{CycleError, CycleMode, CycleReport};
pub use writer::next_memory;

/// How long a credential check may take when a target's client is built.
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a target loop may go without progress before it counts as stuck: the longest one
/// step can take when nothing is wrong. A call returns within `request_timeout` (or the
/// credential check's 30 s); a retry waits at most `backoff.max_delay`; the slowest pace
/// spaces calls by 1/rate (the pace never drops below 0.2 req/s); plus a margin.
pub fn liveness_bound(target: &Target) -> Duration {
    target.request_timeout.max(CREDENTIALS_TIMEOUT)
        + target.backoff.max_delay
        + Duration::from_secs_f64(1.0 / AdaptivePace::FLOOR_RPS)
        + Duration::from_secs(10)
}

/// The long-lived state of one target: its client, pace, and what it knows of the jobs.
pub struct TargetReconciler {
    target: Target,
    client: aws_sdk_s3control::Client,
    ctx: CallContext,
    book: JobBook,
    refresh: RefreshBudget,
    store: Arc<MemoryStore>,
    audit: Audit,
    /// Jobs in the last listing: the next listing's capacity.
    last_listed: usize,
}

impl std::fmt::Debug for TargetReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetReconciler")
            .field("target", &self.target.name)
            .field("known_jobs", &self.book.len())
            .finish()
    }
}

/// What a reconciler shares with the rest of the daemon.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub store: Arc<MemoryStore>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub shutdown: CancellationToken,
    /// The target loop's heartbeat: every call that returns beats it.
    pub heartbeat: Arc<Heartbeat>,
}

fn backoff_of(target: &Target) -> Backoff {
    Backoff {
        base: target.backoff.base,
        max_delay: target.backoff.max_delay,
        max_attempts: target.backoff.max_attempts,
    }
}

impl TargetReconciler {
    pub fn new(target: Target, client: aws_sdk_s3control::Client, wiring: Wiring) -> Self {
        let ctx = CallContext {
            target: target.name.clone(),
            pace: Arc::new(AdaptivePace::new(
                target.rate_limit.requests_per_second,
                target.rate_limit.burst,
            )),
            write_pace: target
                .rate_limit
                .write_requests_per_second
                .map(|w| Arc::new(AdaptivePace::new(w, 1))),
            backoff: backoff_of(&target),
            request_timeout: target.request_timeout,
            metrics: wiring.metrics,
            shutdown: wiring.shutdown,
            heartbeat: wiring.heartbeat,
        };
        ctx.metrics.init_target(&target.name);
        ctx.metrics
            .rate_limit_current_rps
            .get_or_create(&Metrics::target(&target.name))
            .set(ctx.pace.current_rps());
        TargetReconciler {
            target,
            client,
            ctx,
            book: JobBook::default(),
            refresh: RefreshBudget::new(0.0, Instant::now()),
            store: wiring.store,
            audit: wiring.audit,
            last_listed: 0,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Applies settings of a reloaded config that can change live (pace, backoff, timeouts).
    /// What is known of the jobs and the pace's adaptation survive unless the rate changed.
    pub fn update_target(&mut self, target: Target) {
        if target.rate_limit.requests_per_second != self.target.rate_limit.requests_per_second
            || target.rate_limit.burst != self.target.rate_limit.burst
        {
            self.ctx.pace = Arc::new(AdaptivePace::new(
                target.rate_limit.requests_per_second,
                target.rate_limit.burst,
            ));
        }
        if target.rate_limit.write_requests_per_second
            != self.target.rate_limit.write_requests_per_second
        {
            self.ctx.write_pace = target
                .rate_limit
                .write_requests_per_second
                .map(|w| Arc::new(AdaptivePace::new(w, 1)));
        }
        self.ctx.backoff = backoff_of(&target);
        self.ctx.request_timeout = target.request_timeout;
        self.target = target;
    }

    /// Reads one job's tags (uncached), for `explain`.
    pub async fn read_tags(&self, job_id: &str) -> Result<Tags, CallError> {
        observe::job_tags(
            &self.client,
            &self.ctx,
            &self.target.account_id,
            job_id,
            None,
        )
        .await
    }

    pub fn current_rps(&self) -> f64 {
        self.ctx.pace.current_rps()
    }

    /// The next cycle reads every known tag set again, ahead of scheduled refreshes and outside
    /// their budget (`SIGUSR1`, `POST /reconcile?refresh=tags`).
    pub fn force_tag_refresh(&mut self) {
        self.book.force_refresh();
    }

    /// Reads the managed jobs with what planning needs of each, and what is remembered; makes
    /// no write. Returns the jobs that could be read and the number of failed reads.
    pub async fn observe(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ObservedJob>, usize), CycleError> {
        let run = self
            .run(
                config,
                now,
                CycleMode::default(),
                CycleStop::default(),
                true,
            )
            .await?;
        // Jobs whose needed reads failed or vanished sit out.
        let jobs = run
            .jobs
            .into_iter()
            .zip(run.decided)
            .filter_map(|(o, decided)| decided.then_some(o))
            .collect();
        Ok((jobs, run.outcome.failed_reads))
    }

    /// One full cycle: list, decide, write (unless dry-run or blocked).
    pub async fn cycle(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        mode: CycleMode,
    ) -> Result<CycleReport, CycleError> {
        self.cycle_until(config, now, mode, CycleStop::default())
            .await
    }

    /// [`TargetReconciler::cycle`] that ends early when `stop` says so.
    pub async fn cycle_until(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        mode: CycleMode,
        stop: CycleStop,
    ) -> Result<CycleReport, CycleError> {
        let started = Instant::now();
        let run = self.run(config, now, mode, stop, false).await?;
        let report = self.report(run, started);
        if let Some(source) = report.1 {
            return Err(CycleError::Store {
                target: self.target.name.clone(),
                source,
            });
        }
        Ok(report.0)
    }

    async fn run(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        mode: CycleMode,
        stop: CycleStop,
        observe_only: bool,
    ) -> Result<Run, CycleError> {
        let t = &self.target;
        let mut jobs = observe::list_jobs(
            &self.client,
            &self.ctx,
            &t.account_id,
            &t.region,
            &config.reconcile.managed_statuses,
            self.last_listed,
        )
        .await
        .map_err(|source| CycleError::List {
            target: t.name.clone(),
            source,
        })?;
        self.ctx.heartbeat.beat();
        let duplicates = self.book.merge(&mut jobs);
        if duplicates > 0 {
            tracing::warn!(target_name = %t.name, duplicates, "ListJobs returned some job ids more than once; each job is handled once");
        }
        self.last_listed = jobs.len();
        {
            let live: std::collections::HashSet<&str> =
                jobs.iter().map(|o| o.job.id.as_str()).collect();
            self.store
                .mark_seen(&t.account_id, &t.region, &live, now.timestamp())
                .map_err(|source| CycleError::Store {
                    target: t.name.clone(),
                    source,
                })?;
        }
        let r = &config.reconcile;
        let schedule = TagSchedule {
            ttl: r.tags_ttl,
            ttl_max: r.tags_ttl_max,
        };
        self.refresh.set_share(r.tags_refresh_share);
        let triage = self.book.triage(
            &mut jobs,
            &TriageContext {
                policy: &config.policy,
                store: &self.store,
                now,
                next_boundary: config.policy.next_window_change(now),
                schedule,
                clock: Instant::now(),
            },
        );
        self.ctx.heartbeat.beat();
        let listed = jobs.len();
        let rules = Rules {
            policy: &config.policy,
            now,
            schedule,
            dry_run: mode.dry_run || r.dry_run,
            observe_only,
            guard: r.max_changes_per_cycle,
            read_share: r.read_share,
            check_ignore: !r.ignore_tag.is_empty(),
            store: &self.store,
            audit: &self.audit,
            target: &self.target.name,
            heartbeat: &self.ctx.heartbeat,
        };
        let io = Io {
            client: &self.client,
            ctx: &self.ctx,
            account: &self.target.account_id,
        };
        let mut pipeline = Pipeline::new(io, rules, &mut self.book, &mut self.refresh, stop, jobs);
        pipeline.seed(&triage.complete, triage.pending, triage.reads);
        let (jobs, decided, outcome) = pipeline.run().await;
        Ok(Run {
            jobs,
            decided,
            listed,
            duplicates,
            outcome,
            now,
        })
    }

    /// The report of a finished run, with its metrics; and the store error that ended it, if any.
    fn report(
        &self,
        run: Run,
        started: Instant,
    ) -> (CycleReport, Option<crate::aws::memory::StoreError>) {
        let name = &self.target.name;
        let labels = Metrics::target(name);
        let metrics = &self.ctx.metrics;
        let mut outcome = run.outcome;
        let mut plan = outcome.plan.take().unwrap_or_else(|| crate::plan::Plan {
            at: run.now,
            evaluated: 0,
            changes: Vec::new(),
            hands_off: Vec::new(),
            ignored: Vec::new(),
            unmanaged: 0,
            blocked: None,
        });
        pipeline::sort_changes(&mut plan.changes);
        let mut by_status = std::collections::HashMap::<&'static str, i64>::new();
        for o in &run.jobs {
            *by_status.entry(o.job.status.as_str()).or_default() += 1;
        }
        for st in crate::model::JobStatus::ALL {
            metrics
                .jobs
                .get_or_create(&crate::telemetry::metrics::JobLabels {
                    target: name.clone(),
                    status: st.as_str().to_string(),
                })
                .set(by_status.get(st.as_str()).copied().unwrap_or(0));
        }
        metrics
            .hands_off_jobs
            .get_or_create(&labels)
            .set(plan.hands_off.len() as i64);
        for h in &plan.hands_off {
            tracing::info!(target_name = %name, job_id = %h.job_id, observed = h.observed, baseline = h.baseline, "hands off: priority was changed by someone else; leaving it");
        }
        if let Some(b) = &plan.blocked {
            metrics.blast_radius_blocked.get_or_create(&labels).inc();
            tracing::warn!(
                target_name = %name,
                would_change = b.would_change,
                limit = b.limit,
                "blast-radius guard: this cycle would change more jobs than reconcile.max_changes_per_cycle allows; no job was changed. Check the policy with `s3prio plan`, then raise the limit or fix the rule"
            );
        }
        metrics
            .read_backlog
            .get_or_create(&labels)
            .set(i64::try_from(outcome.deferred_reads).unwrap_or(i64::MAX));
        let duration = started.elapsed();
        metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        metrics
            .rate_limit_current_rps
            .get_or_create(&labels)
            .set(self.ctx.pace.current_rps());
        let report = CycleReport {
            target: name.clone(),
            listed: run.listed,
            plan,
            written: outcome.written,
            vanished: outcome.vanished,
            failed_writes: outcome.failed_writes,
            skipped_at_write: outcome.skipped_at_write,
            failed_reads: outcome.failed_reads,
            deferred_reads: outcome.deferred_reads,
            duplicates: run.duplicates,
            duration,
        };
        (report, outcome.store_error.take())
    }
}

/// What one run of the scheduler left.
struct Run {
    jobs: Vec<ObservedJob>,
    /// Per job: it was decided in this run (every needed read came back).
    decided: Vec<bool>,
    listed: usize,
    duplicates: usize,
    outcome: pipeline::Outcome,
    now: DateTime<Utc>,
}

/// Builds a reconciler per target (clients checked for credentials up front).
pub async fn build_reconcilers(
    config: &Config,
    overrides: &crate::aws::ClientOverrides,
    wiring: &Wiring,
) -> Vec<Result<TargetReconciler, crate::aws::SetupError>> {
    let mut out = Vec::new();
    for target in &config.targets {
        let r = crate::aws::build_client(target, overrides)
            .await
            .map(|client| {
                TargetReconciler::new(
                    target.clone(),
                    client,
                    Wiring {
                        heartbeat: Arc::new(Heartbeat::new(
                            &format!("target {}", target.name),
                            liveness_bound(target),
                        )),
                        ..wiring.clone()
                    },
                )
            });
        if let Err(e) = &r {
            wiring
                .metrics
                .credential_errors
                .get_or_create(&Metrics::target(&target.name))
                .inc();
            tracing::error!(target_name = %target.name, error = %e, "target unavailable");
        }
        out.push(r);
    }
    out
}

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
mod calls;
mod completions;
mod pipeline;
mod progress;
mod report;
mod wiring;
mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::aws::pace::AdaptivePace;
use crate::aws::{observe, CallContext, CallError, MemoryStore};
use crate::config::{Config, Target};
use crate::model::ObservedJob;
use crate::telemetry::{Audit, Metrics};

use book::{JobBook, TagSchedule, TriageContext};
use budget::RefreshBudget;
use calls::Io;
use pipeline::{Pipeline, Rules};

pub use progress::{CycleProgress, ProgressSnapshot};
pub use report::{CycleError, CycleReport, CycleStop};
pub use wiring::{build_reconcilers, connect, liveness_bound, Wiring, CREDENTIALS_TIMEOUT};
pub use writer::next_memory;

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
    progress: Arc<CycleProgress>,
}

impl std::fmt::Debug for TargetReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetReconciler")
            .field("target", &self.target.name)
            .field("known_jobs", &self.book.len())
            .finish()
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
            backoff: target.backoff,
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
            progress: Arc::new(CycleProgress::default()),
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
        self.ctx.backoff = target.backoff;
        self.ctx.request_timeout = target.request_timeout;
        self.target = target;
    }

    pub fn current_rps(&self) -> f64 {
        self.ctx.pace.current_rps()
    }

    /// Where the running (or last) cycle stands.
    pub fn progress(&self) -> Arc<CycleProgress> {
        self.progress.clone()
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
        let run = self.run(config, now, CycleStop::default(), true).await?;
        // Jobs whose needed reads failed or vanished sit out.
        let jobs = run
            .jobs
            .into_iter()
            .zip(run.decided)
            .filter_map(|(o, decided)| decided.then_some(o))
            .collect();
        Ok((jobs, run.outcome.failed_reads))
    }

    /// One job, read without listing the account: `DescribeJob` (everything `ListJobs` has,
    /// and its details), then its tags when a rule, the opt-out tag or the tag store can need
    /// them: at most two requests. `Ok(None)` when the target has no such job.
    pub async fn observe_job(
        &self,
        config: &Config,
        job_id: &str,
    ) -> Result<Option<ObservedJob>, CallError> {
        let t = &self.target;
        let found =
            observe::describe_job(&self.client, &self.ctx, &t.account_id, &t.region, job_id).await;
        let mut job = match found {
            Ok(job) => job,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let wants_tags = config.policy.uses_tags()
            || self.store.uses_tags()
            || !config.reconcile.ignore_tag.is_empty();
        if wants_tags {
            match observe::job_tags(&self.client, &self.ctx, &t.account_id, &job.id, None).await {
                Ok(tags) => job.tags = Some(tags),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let memory = self.store.memory_for(&job);
        Ok(Some(ObservedJob { job, memory }))
    }

    /// One full cycle: list, decide, write (unless dry-run or blocked).
    pub async fn cycle(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<CycleReport, CycleError> {
        self.cycle_until(config, now, CycleStop::default()).await
    }

    /// [`TargetReconciler::cycle`] that ends early when `stop` says so.
    pub async fn cycle_until(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        stop: CycleStop,
    ) -> Result<CycleReport, CycleError> {
        let started = Instant::now();
        let run = self.run(config, now, stop, false).await?;
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
        stop: CycleStop,
        observe_only: bool,
    ) -> Result<Run, CycleError> {
        self.progress.start();
        let (mut jobs, duplicates) = self.list(config, now).await?;
        self.progress.listed(
            jobs.len(),
            jobs.len().div_ceil(observe::PAGE_SIZE as usize).max(1),
        );
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
            dry_run: r.dry_run,
            observe_only,
            guard: r.max_changes_per_cycle,
            read_share: r.read_share,
            check_ignore: !r.ignore_tag.is_empty(),
            store: &self.store,
            audit: &self.audit,
            target: &self.target.name,
            heartbeat: &self.ctx.heartbeat,
            progress: &self.progress,
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

    /// The managed jobs, each listed once, with what is known of them attached; and how many
    /// duplicate entries the listing had.
    async fn list(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ObservedJob>, usize), CycleError> {
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
        let live: std::collections::HashSet<&str> =
            jobs.iter().map(|o| o.job.id.as_str()).collect();
        self.store
            .mark_seen(&t.account_id, &t.region, &live, now.timestamp())
            .map_err(|source| CycleError::Store {
                target: t.name.clone(),
                source,
            })?;
        Ok((jobs, duplicates))
    }

    /// The report of a finished run (its metrics published); and the store error that ended
    /// it, if any.
    fn report(
        &self,
        run: Run,
        started: Instant,
    ) -> (CycleReport, Option<crate::aws::memory::StoreError>) {
        let mut outcome = run.outcome;
        let mut plan = outcome
            .plan
            .take()
            .unwrap_or_else(|| completions::empty_plan(run.now));
        completions::sort_changes(&mut plan.changes);
        let report = CycleReport {
            target: self.target.name.clone(),
            listed: run.listed,
            plan,
            written: outcome.written,
            vanished: outcome.vanished,
            failed_writes: outcome.failed_writes,
            skipped_at_write: outcome.skipped_at_write,
            failed_reads: outcome.failed_reads,
            deferred_reads: outcome.deferred_reads,
            duplicates: run.duplicates,
            duration: started.elapsed(),
        };
        report.publish(&self.ctx.metrics, &run.jobs, self.ctx.pace.current_rps());
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
    outcome: pipeline::Tally,
    now: DateTime<Utc>,
}

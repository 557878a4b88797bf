//! One reconcile cycle for one target: observe (at minimal cost), plan, write.
//!
//! Cost model: one `ListJobs` per 1,000 managed jobs per cycle; `GetJobTagging` only for jobs
//! whose outcome depends on tags (or every job once when baselines live in tags), cached for
//! `tags_ttl`; `DescribeJob` only when a rule needs a field `ListJobs` lacks, cached while the
//! job is listed; `UpdateJobPriority` only where the desired priority differs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::call::{Backoff, CallContext, CallError, FailureKind};
use crate::aws::memory::{job_key, MemoryStore, StoreError};
use crate::aws::observe;
use crate::aws::pace::AdaptivePace;
use crate::config::{Config, Target};
use crate::model::{JobDetails, JobMemory, ObservedJob, Tags};
use crate::plan::{self, Change, Plan};
use crate::telemetry::{Audit, AuditEvent, Metrics};

/// Calls in flight at once per target (each still waits for the target's pace).
const IN_FLIGHT: usize = 16;

/// What a cycle may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleMode {
    /// Compute and log the changes, write nothing.
    pub dry_run: bool,
}

/// What one cycle saw and did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub target: String,
    pub listed: usize,
    pub plan: Plan,
    pub written: usize,
    pub vanished: usize,
    pub failed_writes: usize,
    pub skipped_at_write: usize,
    pub failed_reads: usize,
    pub duration: Duration,
}

impl CycleReport {
    pub fn summary(&self) -> String {
        format!(
            "target {}: {} jobs, {} planned, {} written, {} vanished, {} failed, {} hands-off{}",
            self.target,
            self.listed,
            self.plan.changes.len(),
            self.written,
            self.vanished,
            self.failed_writes + self.failed_reads,
            self.plan.hands_off.len(),
            match &self.plan.blocked {
                Some(b) => format!(
                    ", BLOCKED: would change {} jobs, limit {}",
                    b.would_change, b.limit
                ),
                None => String::new(),
            }
        )
    }

    /// True when every planned change landed (or was not needed anymore) and every read worked.
    pub fn is_clean(&self) -> bool {
        self.failed_writes == 0 && self.failed_reads == 0
    }
}

/// A cycle that could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("target {target}: listing jobs failed: {source}")]
    List {
        target: String,
        #[source]
        source: CallError,
    },
    #[error("target {target}: baseline store: {source}")]
    Store {
        target: String,
        #[source]
        source: StoreError,
    },
    #[error("target {target}: {report}")]
    Incomplete { target: String, report: String },
}

#[derive(Debug, Clone)]
struct CachedTags {
    tags: Tags,
    fetched: Instant,
}

/// The long-lived state of one target: its client, pace, caches.
pub struct TargetReconciler {
    target: Target,
    client: aws_sdk_s3control::Client,
    ctx: CallContext,
    tags: HashMap<String, CachedTags>,
    details: HashMap<String, JobDetails>,
    store: Arc<MemoryStore>,
    audit: Audit,
    /// Jobs in the last listing: the next listing's capacity.
    last_listed: usize,
}

impl std::fmt::Debug for TargetReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetReconciler")
            .field("target", &self.target.name)
            .field("cached_tags", &self.tags.len())
            .field("cached_details", &self.details.len())
            .finish()
    }
}

impl TargetReconciler {
    pub fn new(
        target: Target,
        client: aws_sdk_s3control::Client,
        store: Arc<MemoryStore>,
        metrics: Arc<Metrics>,
        audit: Audit,
        shutdown: CancellationToken,
    ) -> Self {
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
            metrics,
            shutdown,
            heartbeat: Arc::new(crate::telemetry::Heartbeat::default()),
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
            tags: HashMap::new(),
            details: HashMap::new(),
            store,
            audit,
            last_listed: 0,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Applies settings of a reloaded config that can change live (pace, backoff, timeouts).
    /// Caches and the pace's adaptation survive unless the rate itself changed.
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
        observe::job_tags(&self.client, &self.ctx, &self.target.account_id, job_id).await
    }

    /// Beaten by every call this target makes.
    pub fn heartbeat(&self) -> Arc<crate::telemetry::Heartbeat> {
        self.ctx.heartbeat.clone()
    }

    pub fn current_rps(&self) -> f64 {
        self.ctx.pace.current_rps()
    }

    /// Reads the managed jobs with what the policy needs of each, and what is remembered.
    pub async fn observe(
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

        // Jobs that left the listing leave every cache.
        self.last_listed = jobs.len();
        {
            let live: HashSet<&str> = jobs.iter().map(|o| o.job.id.as_str()).collect();
            self.tags.retain(|id, _| live.contains(id.as_str()));
            self.details.retain(|id, _| live.contains(id.as_str()));
            self.store
                .mark_seen(&t.account_id, &t.region, &live, now.timestamp())
                .map_err(|source| CycleError::Store {
                    target: t.name.clone(),
                    source,
                })?;
        }

        let ttl = config.reconcile.tags_ttl;
        let policy = &config.policy;
        let mut want_tags = Vec::new();
        let mut want_details = Vec::new();
        for (i, o) in jobs.iter_mut().enumerate() {
            let job = &mut o.job;
            if let Some(c) = self.tags.get(&job.id) {
                if c.fetched.elapsed() < ttl {
                    job.tags = Some(c.tags.clone());
                }
            }
            if let Some(d) = self.details.get(&job.id) {
                job.details = Some(d.clone());
            }
            // `needs_for` also asks for tags when the job would change: the opt-out tag is
            // honoured before any write.
            let baseline = self
                .store
                .memory_for(job)
                .map(|m| m.baseline)
                .unwrap_or(job.priority);
            let needs = policy.needs_for(job, baseline, now);
            if job.tags.is_none() && (needs.tags || self.store.uses_tags()) {
                want_tags.push(i);
            }
            if job.details.is_none() && needs.details {
                want_details.push(i);
            }
        }

        let mut failed_reads = 0usize;
        // Jobs that vanished, or whose needed data could not be read, sit out this cycle.
        let mut skip = vec![false; jobs.len()];

        let (client, ctx, account) = (&self.client, &self.ctx, t.account_id.as_str());
        let tag_results: Vec<(usize, Result<Tags, CallError>)> = stream::iter(want_tags)
            .map(|i| {
                let id = jobs[i].job.id.clone();
                async move { (i, observe::job_tags(client, ctx, account, &id).await) }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for (i, r) in tag_results {
            match r {
                Ok(tags) => {
                    self.tags.insert(
                        jobs[i].job.id.clone(),
                        CachedTags {
                            tags: tags.clone(),
                            fetched: Instant::now(),
                        },
                    );
                    jobs[i].job.tags = Some(tags);
                }
                Err(e) if e.is_not_found() => skip[i] = true,
                Err(e) => {
                    tracing::warn!(target_name = %t.name, job_id = %jobs[i].job.id, error = %e, "reading tags failed; job skipped this cycle");
                    skip[i] = true;
                    failed_reads += 1;
                }
            }
        }
        let detail_results: Vec<(usize, Result<JobDetails, CallError>)> =
            stream::iter(want_details)
                .map(|i| {
                    let id = jobs[i].job.id.clone();
                    async move { (i, observe::job_details(client, ctx, account, &id).await) }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
        for (i, r) in detail_results {
            match r {
                Ok(d) => {
                    self.details.insert(jobs[i].job.id.clone(), d.clone());
                    jobs[i].job.details = Some(d);
                }
                Err(e) if e.is_not_found() => skip[i] = true,
                Err(e) => {
                    tracing::warn!(target_name = %t.name, job_id = %jobs[i].job.id, error = %e, "DescribeJob failed; job skipped this cycle");
                    skip[i] = true;
                    failed_reads += 1;
                }
            }
        }

        let mut i = 0;
        jobs.retain_mut(|o| {
            let keep = !skip[i];
            i += 1;
            if keep {
                o.memory = self.store.memory_for(&o.job);
            }
            keep
        });
        let observed = jobs;
        Ok((observed, failed_reads))
    }

    /// One full cycle: observe, plan, and (unless dry-run or blocked) write.
    pub async fn cycle(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        mode: CycleMode,
    ) -> Result<CycleReport, CycleError> {
        let started = Instant::now();
        let target_labels = Metrics::target(&self.target.name);
        let (observed, failed_reads) = self.observe(config, now).await?;
        let plan = plan::plan(&config.policy, &observed, now);

        let metrics = self.ctx.metrics.clone();
        let mut by_status: HashMap<&'static str, i64> = HashMap::new();
        for o in &observed {
            *by_status.entry(o.job.status.as_str()).or_default() += 1;
        }
        for st in crate::model::JobStatus::ALL {
            metrics
                .jobs
                .get_or_create(&crate::telemetry::metrics::JobLabels {
                    target: self.target.name.clone(),
                    status: st.as_str().to_string(),
                })
                .set(by_status.get(st.as_str()).copied().unwrap_or(0));
        }
        metrics
            .hands_off_jobs
            .get_or_create(&target_labels)
            .set(plan.hands_off.len() as i64);
        for h in &plan.hands_off {
            tracing::info!(target_name = %self.target.name, job_id = %h.job_id, observed = h.observed, baseline = h.baseline, "hands off: priority was changed by someone else; leaving it");
        }

        let mut report = CycleReport {
            target: self.target.name.clone(),
            listed: observed.len(),
            plan: plan.clone(),
            written: 0,
            vanished: 0,
            failed_writes: 0,
            skipped_at_write: 0,
            failed_reads,
            duration: Duration::ZERO,
        };

        if let Some(b) = &plan.blocked {
            metrics
                .blast_radius_blocked
                .get_or_create(&target_labels)
                .inc();
            tracing::warn!(
                target_name = %self.target.name,
                would_change = b.would_change,
                limit = b.limit,
                "blast-radius guard: this cycle would change more jobs than reconcile.max_changes_per_cycle allows; no job was changed. Check the policy with `s3prio plan`, then raise the limit or fix the rule"
            );
        } else if mode.dry_run || config.reconcile.dry_run {
            for c in &plan.changes {
                self.audit.emit(audit_event(&self.target.name, c, true));
            }
        } else if !plan.changes.is_empty() {
            let by_id: HashMap<&str, &ObservedJob> =
                observed.iter().map(|o| (o.job.id.as_str(), o)).collect();
            self.write_changes(config, now, &plan.changes, &by_id, &mut report)
                .await?;
        }

        report.duration = started.elapsed();
        metrics
            .reconcile_duration
            .get_or_create(&target_labels)
            .observe(report.duration.as_secs_f64());
        metrics
            .rate_limit_current_rps
            .get_or_create(&target_labels)
            .set(self.ctx.pace.current_rps());
        Ok(report)
    }

    async fn write_changes(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        changes: &[Change],
        by_id: &HashMap<&str, &ObservedJob>,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let ttl = config.reconcile.tags_ttl;
        let check_ignore = !config.reconcile.ignore_tag.is_empty();
        let uses_tag_store = self.store.uses_tags();

        // 1. Before changing a job, know its current tags: the opt-out tag is honoured before
        //    every write, and the tag store needs the full set to rewrite it. Re-plan the job with
        //    those tags: they may take it out of management or change the decision.
        let prepared: Vec<(Change, Option<Tags>)> = changes
            .iter()
            .map(|c| {
                let fresh_enough = self
                    .tags
                    .get(&c.job_id)
                    .filter(|t| !uses_tag_store && t.fetched.elapsed() < ttl)
                    .map(|t| t.tags.clone());
                (c.clone(), fresh_enough)
            })
            .collect();
        let (client, ctx, account) = (
            self.client.clone(),
            self.ctx.clone(),
            self.target.account_id.clone(),
        );
        let (client, ctx, account) = (&client, &ctx, account.as_str());
        let refreshed: Vec<(Change, Result<Option<Tags>, CallError>)> = stream::iter(prepared)
            .map(|(c, fresh_enough)| async move {
                if fresh_enough.is_some() || !(check_ignore || uses_tag_store) {
                    return (c, Ok(fresh_enough));
                }
                let r = observe::job_tags(client, ctx, account, &c.job_id)
                    .await
                    .map(Some);
                (c, r)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;

        let mut final_changes: Vec<(Change, JobMemory, Option<Tags>)> = Vec::new();
        for (c, r) in refreshed {
            let Some(obs) = by_id.get(c.job_id.as_str()) else {
                continue;
            };
            let tags = match r {
                Ok(t) => t,
                Err(e) if e.is_not_found() => {
                    self.forget(&c.job_id);
                    report.vanished += 1;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(target_name = %self.target.name, job_id = %c.job_id, error = %e, "reading tags before a write failed; job skipped this cycle");
                    report.failed_writes += 1;
                    continue;
                }
            };
            let change = match &tags {
                Some(tags) if obs.job.tags.as_ref() != Some(tags) => {
                    self.tags.insert(
                        c.job_id.clone(),
                        CachedTags {
                            tags: tags.clone(),
                            fetched: Instant::now(),
                        },
                    );
                    let mut again = (*obs).clone();
                    again.job.tags = Some(tags.clone());
                    again.memory = self.store.memory_for(&again.job).or(obs.memory);
                    match plan::plan(&config.policy, std::slice::from_ref(&again), now)
                        .changes
                        .into_iter()
                        .next()
                    {
                        Some(c2) => c2,
                        None => {
                            report.skipped_at_write += 1;
                            continue;
                        }
                    }
                }
                _ => c,
            };
            let memory = next_memory(obs.memory, &change);
            final_changes.push((change, memory, tags));
        }

        // 2. Record the memories before any write is sent (the file store in one save).
        let entries: Vec<(String, JobMemory)> = final_changes
            .iter()
            .filter_map(|(c, m, _)| by_id.get(c.job_id.as_str()).map(|o| (job_key(&o.job), *m)))
            .collect();
        self.store
            .record_file(&entries, now.timestamp())
            .map_err(|source| CycleError::Store {
                target: self.target.name.clone(),
                source,
            })?;

        // 3. Write: tag memory first (tag store), then the priority.
        let store = self.store.clone();
        let results: Vec<(Change, Option<Tags>, Result<(), CallError>)> =
            stream::iter(final_changes)
                .map(|(c, memory, tags)| {
                    let store = store.clone();
                    async move {
                        let mut new_tags = None;
                        if let Some(t) = tags
                            .as_ref()
                            .and_then(|t| store.tags_with_memory(t, &memory))
                        {
                            if let Err(e) =
                                observe::put_tags(client, ctx, account, &c.job_id, &t).await
                            {
                                return (c, None, Err(e));
                            }
                            new_tags = Some(t);
                        }
                        let r = observe::update_priority(client, ctx, account, &c.job_id, c.to)
                            .await
                            .map(|_| ());
                        (c, new_tags, r)
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;

        for (c, new_tags, r) in results {
            if let Some(tags) = new_tags {
                self.tags.insert(
                    c.job_id.clone(),
                    CachedTags {
                        tags,
                        fetched: Instant::now(),
                    },
                );
            }
            match r {
                Ok(()) => {
                    report.written += 1;
                    self.audit.emit(audit_event(&self.target.name, &c, false));
                }
                Err(e) if e.is_not_found() => {
                    tracing::info!(target_name = %self.target.name, job_id = %c.job_id, "job finished or vanished before its priority was changed; dropped");
                    self.forget(&c.job_id);
                    report.vanished += 1;
                }
                Err(e) => {
                    if e.kind() == Some(FailureKind::BadRequest) {
                        tracing::error!(target_name = %self.target.name, job_id = %c.job_id, priority = c.to, error = %e, "UpdateJobPriority rejected as a bad request; not retried");
                    } else {
                        tracing::warn!(target_name = %self.target.name, job_id = %c.job_id, priority = c.to, error = %e, "priority change failed; will be retried next cycle");
                    }
                    report.failed_writes += 1;
                }
            }
        }
        Ok(())
    }

    fn forget(&mut self, job_id: &str) {
        self.tags.remove(job_id);
        self.details.remove(job_id);
    }
}

fn backoff_of(target: &Target) -> Backoff {
    Backoff {
        base: target.backoff.base,
        max_delay: target.backoff.max_delay,
        max_attempts: target.backoff.max_attempts,
    }
}

/// The memory to record before writing `change`: the baseline is kept (or set on first change),
/// the job's current value becomes `prev_set` so a crash before the write leaves it explained.
pub fn next_memory(old: Option<JobMemory>, change: &Change) -> JobMemory {
    JobMemory {
        baseline: old.map(|m| m.baseline).unwrap_or(change.baseline),
        last_set: Some(change.to),
        prev_set: Some(change.from),
        hands_off: false,
    }
}

fn audit_event(target: &str, c: &Change, dry_run: bool) -> AuditEvent {
    AuditEvent {
        target: target.to_string(),
        job_id: c.job_id.clone(),
        old_priority: c.from,
        new_priority: c.to,
        rule: c.rule.clone().unwrap_or_else(|| "baseline".to_string()),
        reason: c.reason.clone(),
        dry_run,
    }
}

/// Builds a reconciler per target (clients checked for credentials up front).
pub async fn build_reconcilers(
    config: &Config,
    overrides: &crate::aws::ClientOverrides,
    store: Arc<MemoryStore>,
    metrics: Arc<Metrics>,
    audit: Audit,
    shutdown: CancellationToken,
) -> Vec<Result<TargetReconciler, crate::aws::SetupError>> {
    let mut out = Vec::new();
    for target in &config.targets {
        let r = crate::aws::build_client(target, overrides)
            .await
            .map(|client| {
                TargetReconciler::new(
                    target.clone(),
                    client,
                    store.clone(),
                    metrics.clone(),
                    audit.clone(),
                    shutdown.clone(),
                )
            });
        if let Err(e) = &r {
            metrics
                .credential_errors
                .get_or_create(&Metrics::target(&target.name))
                .inc();
            tracing::error!(target_name = %target.name, error = %e, "target unavailable");
        }
        out.push(r);
    }
    out
}

//! One cycle's scheduler: sends the reads and writes of a target under its pace, by value.
//!
//! The scheduler takes each pace permit itself and only then picks what to send with it: a
//! change ready to go first (reads get at most `read_share` of the permits while one is), then
//! the most valuable read (see `book`). A change is written as soon as its job is decided,
//! without waiting for unrelated reads. The cycle ends when nothing is left to send, or when it
//! is asked to stop ([`CycleStop`]); what it could not read waits for the next cycle.
//!
//! Everything here runs in the target loop's task (no spawned work): a read or a write is a
//! future polled from [`FuturesUnordered`], so a panic or a stall shows in that loop's heartbeat.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::book::{JobBook, ReadClass, ReadItem, ReadWhat, TagSchedule};
use super::budget::{ReadShare, RefreshBudget};
use super::writer::{audit_event, next_memory, Stage, WriteItem};
use crate::aws::memory::{job_key, StoreError};
use crate::aws::pace::Permit;
use crate::aws::{observe, CallContext, CallError, FailureKind, MemoryStore, Permits};
use crate::model::{JobDetails, ObservedJob, Tags};
use crate::plan::{self, Change, Plan};
use crate::policy::Policy;
use crate::telemetry::{Audit, Heartbeat};

/// Calls in flight at once per target (each sent under its own pace permit).
const IN_FLIGHT: usize = 16;

/// Asks a running cycle to end early. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CycleStop {
    token: CancellationToken,
    abandon: Arc<AtomicBool>,
}

impl CycleStop {
    /// Stop reading; changes already decided still go out (a cadence tick, an on-demand cycle).
    pub fn wind_down(&self) {
        self.token.cancel();
    }

    /// Stop; changes not yet committed are dropped, their decision may be stale (a window
    /// boundary passed, the policy was reloaded).
    pub fn abandon(&self) {
        self.abandon.store(true, Ordering::Relaxed);
        self.token.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    fn is_abandoned(&self) -> bool {
        self.abandon.load(Ordering::Relaxed)
    }
}

/// What the scheduler talks to.
#[derive(Clone, Copy)]
pub(super) struct Io<'a> {
    pub client: &'a aws_sdk_s3control::Client,
    pub ctx: &'a CallContext,
    pub account: &'a str,
}

/// How a cycle may act, and what it works with.
pub(super) struct Rules<'a> {
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
    pub schedule: TagSchedule,
    pub dry_run: bool,
    /// Only read what planning needs: no write, no refresh.
    pub observe_only: bool,
    pub guard: Option<usize>,
    pub read_share: f64,
    pub check_ignore: bool,
    pub store: &'a MemoryStore,
    pub audit: &'a Audit,
    pub target: &'a str,
    pub heartbeat: &'a Heartbeat,
}

enum Fetched {
    Tags(Tags),
    Details(JobDetails),
}

enum Done {
    Read(ReadItem, Result<Fetched, CallError>),
    Write(Box<WriteItem>, Result<Option<Tags>, CallError>),
}

type Call<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

/// What a cycle did, for its report.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub plan: Option<Plan>,
    pub written: usize,
    pub vanished: usize,
    pub failed_writes: usize,
    pub failed_reads: usize,
    pub skipped_at_write: usize,
    pub deferred_reads: usize,
    pub store_error: Option<StoreError>,
}

/// One cycle's scheduler.
pub(super) struct Pipeline<'a> {
    io: Io<'a>,
    rules: Rules<'a>,
    book: &'a mut JobBook,
    refresh: &'a mut RefreshBudget,
    stop: CycleStop,
    pub jobs: Vec<ObservedJob>,
    index: HashMap<String, usize>,
    /// Needed reads each job still waits for.
    pending: Vec<u8>,
    /// A change of this job was decided in this cycle (no refresh for it).
    deciding: Vec<bool>,
    gone: Vec<bool>,
    reads: BinaryHeap<ReadItem>,
    writes: VecDeque<WriteItem>,
    /// Guard mode: changes wait here until every decision of the cycle is known.
    held: Vec<WriteItem>,
    in_flight: FuturesUnordered<Call<'a>>,
    reads_in_flight: usize,
    held_permit: Option<Permit>,
    share: ReadShare,
    started: Instant,
    stopping: bool,
    out: Outcome,
}

enum Start {
    Started,
    /// Nothing can use the permit now; the earliest a change could go, if one waits.
    NotNow(Option<Duration>),
}

impl<'a> Pipeline<'a> {
    pub fn new(
        io: Io<'a>,
        rules: Rules<'a>,
        book: &'a mut JobBook,
        refresh: &'a mut RefreshBudget,
        stop: CycleStop,
        jobs: Vec<ObservedJob>,
    ) -> Self {
        let n = jobs.len();
        let index = jobs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.job.id.clone(), i))
            .collect();
        Pipeline {
            share: ReadShare::new(rules.read_share),
            io,
            rules,
            book,
            refresh,
            stop,
            jobs,
            index,
            pending: vec![0; n],
            deciding: vec![false; n],
            gone: vec![false; n],
            reads: BinaryHeap::new(),
            writes: VecDeque::new(),
            held: Vec::new(),
            in_flight: FuturesUnordered::new(),
            reads_in_flight: 0,
            held_permit: None,
            started: Instant::now(),
            stopping: false,
            out: Outcome::default(),
        }
    }

    /// Decides the complete jobs at once and queues the reads the others need.
    pub fn seed(&mut self, complete: &[usize], pending: Vec<u8>, reads: Vec<ReadItem>) {
        self.pending = pending;
        let refs: Vec<&ObservedJob> = complete.iter().map(|&i| &self.jobs[i]).collect();
        let plan = plan::plan(self.rules.policy, &refs, self.rules.now);
        self.absorb(plan, true);
        self.reads.extend(reads.into_iter().filter(|r| {
            r.class == ReadClass::Needed || (!self.rules.observe_only && !self.deciding[r.job])
        }));
    }

    /// Runs until nothing is left to send, or the cycle is asked to stop and what it committed
    /// has landed.
    pub async fn run(mut self) -> (Vec<ObservedJob>, Vec<bool>, Outcome) {
        loop {
            self.rules.heartbeat.beat();
            if self.stop.is_stopping() && !self.stopping {
                self.begin_stopping();
            }
            self.release_held();
            let can_start = self.in_flight.len() < IN_FLIGHT && self.has_work();
            if !can_start && self.in_flight.is_empty() {
                break;
            }
            if !can_start {
                self.wait_for_completion().await;
                continue;
            }
            let permit = match self.held_permit.take() {
                Some(p) => p,
                None => {
                    let pace = self.io.ctx.pace.clone();
                    let stop = self.stop.token.clone();
                    tokio::select! {
                        biased;
                        Some(done) = self.in_flight.next() => { self.complete(done); continue; }
                        _ = stop.cancelled(), if !self.stopping => continue,
                        p = pace.acquire() => p,
                    }
                }
            };
            if let Start::NotNow(wait) = self.start(permit) {
                self.held_permit = Some(permit);
                let stop = self.stop.token.clone();
                let wait = wait.unwrap_or(Duration::from_millis(100));
                tokio::select! {
                    biased;
                    Some(done) = self.in_flight.next() => self.complete(done),
                    _ = stop.cancelled(), if !self.stopping => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        if !self.stopping {
            // Scheduled refreshes over budget wait for a later cycle.
            self.out.deferred_reads = self.reads.len();
        }
        let decided = self
            .pending
            .iter()
            .zip(&self.gone)
            .map(|(&p, &g)| p == 0 && !g)
            .collect();
        (self.jobs, decided, self.out)
    }

    async fn wait_for_completion(&mut self) {
        let stop = self.stop.token.clone();
        tokio::select! {
            biased;
            Some(done) = self.in_flight.next() => self.complete(done),
            _ = stop.cancelled(), if !self.stopping => {}
        }
    }

    /// Asked to stop: no new read; changes not committed go too when the decision is stale.
    fn begin_stopping(&mut self) {
        self.stopping = true;
        self.out.deferred_reads = self.reads.len();
        self.reads.clear();
        if self.stop.is_abandoned() {
            self.writes.retain(|w| w.committed);
            self.held.clear();
        }
    }

    /// Guard mode: once every decision of the cycle is known (or the cycle winds down), the
    /// held changes go out if they are few enough, else none does.
    fn release_held(&mut self) {
        let Some(limit) = self.rules.guard else {
            return;
        };
        let reads_done = self.reads_in_flight == 0
            && self
                .reads
                .peek()
                .is_none_or(|r| r.class == ReadClass::Refresh);
        if !(reads_done || self.stopping) || self.held.is_empty() {
            return;
        }
        let plan = self
            .out
            .plan
            .get_or_insert_with(|| empty_plan(self.rules.now));
        let would_change = plan.changes.len();
        if would_change > limit {
            plan.blocked = Some(plan::BlastRadius {
                would_change,
                limit,
            });
            self.held.clear();
        } else {
            for w in std::mem::take(&mut self.held) {
                self.send_or_report(w);
            }
        }
    }

    fn has_work(&mut self) -> bool {
        !self.writes.is_empty() || self.next_read_affordable()
    }

    /// Whether the best queued read may go now (a scheduled refresh needs budget).
    fn next_read_affordable(&mut self) -> bool {
        while let Some(top) = self.reads.peek() {
            if self.gone[top.job] {
                self.reads.pop();
                continue;
            }
            return top.class != ReadClass::Refresh
                || self
                    .refresh
                    .can_take(self.io.ctx.pace.current_rps(), Instant::now());
        }
        false
    }

    /// Sends the most valuable thing `permit` can carry.
    fn start(&mut self, permit: Permit) -> Start {
        let read_ok = self.next_read_affordable();
        if self.writes.is_empty() {
            return if read_ok {
                self.start_read(permit);
                Start::Started
            } else {
                Start::NotNow(None)
            };
        }
        if read_ok && self.share.read_instead_of_write() {
            self.start_read(permit);
            return Start::Started;
        }
        match self.take_startable_write() {
            Ok((w, write_permit)) => {
                self.share.wrote();
                self.start_write(
                    w,
                    Permits {
                        target: permit,
                        write: write_permit,
                    },
                );
                Start::Started
            }
            Err(wait) if self.stop.is_stopping() => Start::NotNow(Some(wait)),
            Err(_) if read_ok => {
                self.start_read(permit);
                Start::Started
            }
            Err(wait) => Start::NotNow(Some(wait)),
        }
    }

    /// The first change that may be sent now, with its write-pace permit when it needs one.
    fn take_startable_write(&mut self) -> Result<(WriteItem, Option<Permit>), Duration> {
        let Some(front) = self.writes.front() else {
            return Err(Duration::from_millis(100));
        };
        let write_pace = match (&self.io.ctx.write_pace, front.next_call_writes()) {
            (Some(wp), true) => Some(wp.clone()),
            _ => None,
        };
        let write_permit = match write_pace.map(|wp| wp.try_acquire()) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(wait)) => {
                // The write pace holds the next write back; a check read may go meanwhile.
                return match self.writes.iter().position(|w| w.stage == Stage::Check) {
                    Some(pos) => self.writes.remove(pos).map(|w| (w, None)).ok_or(wait),
                    None => Err(wait),
                };
            }
        };
        if front.stage == Stage::Ready {
            if let Err(e) = self.make_ready() {
                self.out.store_error = Some(e);
                self.stop.abandon();
                return Err(Duration::ZERO);
            }
        }
        self.writes
            .pop_front()
            .map(|w| (w, write_permit))
            .ok_or(Duration::from_millis(100))
    }

    /// Every change that is ready: its memory computed, and recorded in the file store in one
    /// save, before any of them is sent.
    fn make_ready(&mut self) -> Result<(), StoreError> {
        let mut entries = Vec::new();
        for w in self.writes.iter_mut().filter(|w| w.stage == Stage::Ready) {
            let o = &self.jobs[w.job];
            let memory = next_memory(o.memory, &w.change);
            entries.push((job_key(&o.job), memory));
            w.put_tags = o
                .job
                .tags
                .as_ref()
                .and_then(|t| self.rules.store.tags_with_memory(t, &memory));
            w.stage = if w.put_tags.is_some() {
                Stage::Put
            } else {
                Stage::Update
            };
        }
        self.rules
            .store
            .record_file(&entries, self.rules.now.timestamp())
    }

    fn start_read(&mut self, permit: Permit) {
        let Some(item) = self.reads.pop() else {
            return;
        };
        if item.class == ReadClass::Refresh {
            self.refresh
                .take(self.io.ctx.pace.current_rps(), Instant::now());
        }
        let io = self.io;
        let id = self.jobs[item.job].job.id.clone();
        let first = Some(Permits {
            target: permit,
            write: None,
        });
        self.reads_in_flight += 1;
        self.in_flight.push(Box::pin(async move {
            let result = match item.what {
                ReadWhat::Tags => observe::job_tags(io.client, io.ctx, io.account, &id, first)
                    .await
                    .map(Fetched::Tags),
                ReadWhat::Details => {
                    observe::job_details(io.client, io.ctx, io.account, &id, first)
                        .await
                        .map(Fetched::Details)
                }
            };
            Done::Read(item, result)
        }));
    }

    fn start_write(&mut self, w: WriteItem, permits: Permits) {
        let io = self.io;
        let id = w.change.job_id.clone();
        let w = Box::new(w);
        self.in_flight.push(Box::pin(async move {
            let result = match w.stage {
                Stage::Check => {
                    observe::job_tags(io.client, io.ctx, io.account, &id, Some(permits))
                        .await
                        .map(Some)
                }
                Stage::Put => match &w.put_tags {
                    Some(t) => {
                        observe::put_tags(io.client, io.ctx, io.account, &id, t, Some(permits))
                            .await
                            .map(|()| None)
                    }
                    None => Ok(None),
                },
                Stage::Ready | Stage::Update => observe::update_priority(
                    io.client,
                    io.ctx,
                    io.account,
                    &id,
                    w.change.to,
                    Some(permits),
                )
                .await
                .map(|_| None),
            };
            Done::Write(w, result)
        }));
    }

    fn complete(&mut self, done: Done) {
        match done {
            Done::Read(item, result) => {
                self.reads_in_flight -= 1;
                self.read_done(item, result);
            }
            Done::Write(w, result) => self.write_done(*w, result),
        }
    }

    fn read_done(&mut self, item: ReadItem, result: Result<Fetched, CallError>) {
        let i = item.job;
        let id = self.jobs[i].job.id.clone();
        let fetched = match result {
            Ok(f) => f,
            Err(e) => {
                if e.is_not_found() {
                    self.vanish(i);
                } else if e.kind().is_some() {
                    tracing::warn!(target_name = %self.rules.target, job_id = %id, error = %e, "reading the job failed; it sits out this cycle");
                    self.out.failed_reads += 1;
                }
                // A needed read that failed leaves its job undecided this cycle.
                if item.class == ReadClass::Needed {
                    self.gone[i] = true;
                }
                return;
            }
        };
        let changed = match fetched {
            Fetched::Tags(tags) => {
                let changed = self.book.record_read_tags(
                    &id,
                    tags.clone(),
                    Instant::now(),
                    self.rules.schedule,
                );
                self.jobs[i].job.tags = Some(tags);
                changed
            }
            Fetched::Details(d) => {
                self.book
                    .record_details(&id, d.clone(), self.rules.schedule);
                self.jobs[i].job.details = Some(d);
                true
            }
        };
        if item.class == ReadClass::Needed {
            self.pending[i] = self.pending[i].saturating_sub(1);
            if self.pending[i] == 0 && !self.gone[i] {
                self.needed_read_done(i);
            }
        } else if changed && !self.deciding[i] && !self.rules.observe_only {
            // Tags changed under a decided job: decide it again.
            let plan = plan::plan(self.rules.policy, &[&self.jobs[i]], self.rules.now);
            self.absorb(plan, false);
        }
    }

    /// A job's needed reads are in: it may need more (details once the tags are known), or be
    /// decided now.
    fn needed_read_done(&mut self, i: usize) {
        let o = &self.jobs[i];
        let memory = self.rules.store.memory_for(&o.job);
        let baseline = memory.map_or(o.job.priority, |m| m.baseline);
        let needs = self
            .rules
            .policy
            .needs_for(&o.job, baseline, self.rules.now);
        if needs.details && o.job.details.is_none() {
            self.pending[i] = 1;
            self.reads.push(ReadItem {
                job: i,
                what: ReadWhat::Details,
                class: ReadClass::Needed,
                rank: (i64::MAX, 0),
            });
            return;
        }
        self.jobs[i].memory = memory;
        let plan = plan::plan(self.rules.policy, &[&self.jobs[i]], self.rules.now);
        self.absorb(plan, true);
    }

    fn write_done(&mut self, mut w: WriteItem, result: Result<Option<Tags>, CallError>) {
        let i = w.job;
        let target = self.rules.target;
        match result {
            Err(e) if e.is_not_found() => {
                tracing::info!(target_name = %target, job_id = %w.change.job_id, "job finished or vanished before its priority was changed; dropped");
                self.vanish(i);
            }
            Err(e) => {
                if e.kind() == Some(FailureKind::BadRequest) {
                    tracing::error!(target_name = %target, job_id = %w.change.job_id, priority = w.change.to, error = %e, "the change was rejected as a bad request; not retried");
                } else if w.stage == Stage::Check {
                    tracing::warn!(target_name = %target, job_id = %w.change.job_id, error = %e, "reading tags before a write failed; the job sits out this cycle");
                } else {
                    tracing::warn!(target_name = %target, job_id = %w.change.job_id, priority = w.change.to, error = %e, "priority change failed; will be tried again next cycle");
                }
                self.out.failed_writes += 1;
            }
            Ok(tags) => match w.stage {
                Stage::Check => {
                    let tags = tags.unwrap_or_default();
                    self.book.record_read_tags(
                        &w.change.job_id,
                        tags.clone(),
                        Instant::now(),
                        self.rules.schedule,
                    );
                    let o = &mut self.jobs[i];
                    o.job.tags = Some(tags);
                    o.memory = self.rules.store.memory_for(&o.job).or(o.memory);
                    let again = plan::plan(self.rules.policy, &[&self.jobs[i]], self.rules.now);
                    match again.changes.into_iter().next() {
                        Some(c) if !self.stop.is_abandoned() => {
                            w.change = c;
                            w.stage = Stage::Ready;
                            self.queue_ready(w);
                        }
                        Some(_) => {}
                        None => self.out.skipped_at_write += 1,
                    }
                }
                Stage::Put => {
                    if let Some(t) = w.put_tags.take() {
                        self.book.record_written_tags(
                            &w.change.job_id,
                            t.clone(),
                            self.rules.schedule,
                        );
                        let o = &mut self.jobs[i];
                        o.job.tags = Some(t);
                        o.memory = self.rules.store.memory_for(&o.job);
                    }
                    w.committed = true;
                    w.stage = Stage::Update;
                    // Committed: its priority goes next.
                    self.writes.push_front(w);
                }
                Stage::Ready | Stage::Update => {
                    self.out.written += 1;
                    self.rules.audit.emit(audit_event(target, &w.change, false));
                }
            },
        }
    }

    fn vanish(&mut self, i: usize) {
        if !self.gone[i] {
            self.gone[i] = true;
            self.out.vanished += 1;
            self.book.forget(&self.jobs[i].job.id);
        }
    }

    /// Adds the decisions of `plan` to the cycle's, and queues its changes.
    fn absorb(&mut self, mut plan: Plan, count: bool) {
        let changes = std::mem::take(&mut plan.changes);
        let total = self.out.plan.get_or_insert_with(|| empty_plan(plan.at));
        if count {
            total.evaluated += plan.evaluated;
            total.unmanaged += plan.unmanaged;
        }
        total.hands_off.append(&mut plan.hands_off);
        total.ignored.append(&mut plan.ignored);
        total.changes.extend(changes.iter().cloned());
        for c in changes {
            let Some(&i) = self.index.get(&c.job_id) else {
                continue;
            };
            self.deciding[i] = true;
            if self.rules.observe_only {
                continue;
            }
            let w = WriteItem::new(i, c, self.must_check(i));
            if w.stage == Stage::Check {
                self.queue(w);
            } else {
                self.queue_ready(w);
            }
        }
    }

    /// A decided change with fresh enough tags.
    fn queue_ready(&mut self, w: WriteItem) {
        if self.rules.guard.is_some() {
            self.held.push(w);
        } else {
            self.send_or_report(w);
        }
    }

    fn queue(&mut self, w: WriteItem) {
        if self.rules.guard.is_some() {
            self.held.push(w);
        } else {
            self.writes.push_back(w);
        }
    }

    /// In a dry run a ready change is only reported; otherwise it goes to the writes.
    fn send_or_report(&mut self, w: WriteItem) {
        if self.rules.dry_run && w.stage == Stage::Ready {
            self.rules
                .audit
                .emit(audit_event(self.rules.target, &w.change, true));
        } else {
            self.writes.push_back(w);
        }
    }

    /// Whether the job's tags must be read again before its change: the opt-out tag needs tags
    /// read within `tags_ttl`; the tag store, tags read in this cycle.
    fn must_check(&self, i: usize) -> bool {
        let read = self.book.tags_read(&self.jobs[i].job.id);
        let now = Instant::now();
        let fresh_for_ignore = !self.rules.check_ignore
            || read.is_some_and(|t| now.saturating_duration_since(t) <= self.rules.schedule.ttl);
        let fresh_for_store = self.rules.dry_run
            || !self.rules.store.uses_tags()
            || read.is_some_and(|t| t >= self.started);
        !(fresh_for_ignore && fresh_for_store)
    }
}

fn empty_plan(at: DateTime<Utc>) -> Plan {
    Plan {
        at,
        evaluated: 0,
        changes: Vec::new(),
        hands_off: Vec::new(),
        ignored: Vec::new(),
        unmanaged: 0,
        blocked: None,
    }
}

/// The changes of a finished cycle in the planner's order.
pub(super) fn sort_changes(changes: &mut [Change]) {
    changes.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.job_id).cmp(&(&b.account_id, &b.region, &b.job_id))
    });
}

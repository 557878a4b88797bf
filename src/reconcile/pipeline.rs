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

use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::book::{JobBook, ReadClass, ReadItem, TagSchedule};
use super::budget::{ReadShare, RefreshBudget};
use super::calls::{self, Call, Io};
use super::completions::empty_plan;
use super::progress::CycleProgress;
use super::report::CycleStop;
use super::writer::{next_memory, Stage, WriteItem};
use crate::aws::memory::{job_key, StoreError};
use crate::aws::pace::Permit;
use crate::aws::{MemoryStore, Permits};
use crate::model::ObservedJob;
use crate::plan::{self, Plan};
use crate::policy::Policy;
use crate::telemetry::{Audit, Heartbeat};

/// Calls in flight at once per target (each sent under its own pace permit).
const IN_FLIGHT: usize = 16;

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
    pub progress: &'a CycleProgress,
}

/// What a cycle did, for its report.
#[derive(Debug, Default)]
pub(super) struct Tally {
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
    pub(super) io: Io<'a>,
    pub(super) rules: Rules<'a>,
    pub(super) book: &'a mut JobBook,
    pub(super) refresh: &'a mut RefreshBudget,
    pub(super) stop: CycleStop,
    pub(super) jobs: Vec<ObservedJob>,
    pub(super) index: JobIndex,
    /// Needed reads each job still waits for.
    pub(super) pending: Vec<u8>,
    /// A change of this job was decided in this cycle (no refresh for it).
    pub(super) deciding: Vec<bool>,
    pub(super) gone: Vec<bool>,
    pub(super) reads: BinaryHeap<ReadItem>,
    pub(super) writes: VecDeque<WriteItem>,
    /// Guard mode: changes wait here until every decision of the cycle is known.
    pub(super) held: Vec<WriteItem>,
    /// Jobs still waiting for a needed read (not decided, not gone): with the guard, the held
    /// changes may go once even all of them changing would stay within the limit.
    pub(super) undecided: usize,
    pub(super) in_flight: FuturesUnordered<Call<'a>>,
    pub(super) reads_in_flight: usize,
    pub(super) held_permit: Option<Permit>,
    pub(super) share: ReadShare,
    pub(super) started: Instant,
    pub(super) stopping: bool,
    pub(super) out: Tally,
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
        let index = JobIndex::new(&jobs);
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
            undecided: 0,
            in_flight: FuturesUnordered::new(),
            reads_in_flight: 0,
            held_permit: None,
            started: Instant::now(),
            stopping: false,
            out: Tally::default(),
        }
    }

    /// Decides the complete jobs at once and queues the reads the others need.
    pub fn seed(&mut self, complete: &[usize], pending: Vec<u8>, reads: Vec<ReadItem>) {
        self.undecided = pending.iter().filter(|&&p| p > 0).count();
        self.pending = pending;
        let refs: Vec<&ObservedJob> = complete.iter().map(|&i| &self.jobs[i]).collect();
        let plan = plan::plan(self.rules.policy, &refs, self.rules.now);
        self.absorb(plan, true);
        self.reads.extend(reads.into_iter().filter(|r| {
            r.class == ReadClass::Needed || (!self.rules.observe_only && !self.deciding[r.job])
        }));
        self.rules.progress.read_queued(self.reads.len());
    }

    /// Runs until nothing is left to send, or the cycle is asked to stop and what it committed
    /// has landed.
    pub async fn run(mut self) -> (Vec<ObservedJob>, Vec<bool>, Tally) {
        loop {
            self.rules.heartbeat.beat();
            if self.io.ctx.shutdown.is_cancelled() && !self.stop.is_abandoned() {
                // Shutting down: calls not sent yet never will be.
                self.stop.abandon();
            }
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
                    let stop = self.stop_signal();
                    tokio::select! {
                        biased;
                        Some(done) = self.in_flight.next() => { self.complete(done); continue; }
                        _ = stop, if !self.stopping => continue,
                        p = pace.acquire() => p,
                    }
                }
            };
            if let Start::NotNow(wait) = self.start(permit) {
                self.held_permit = Some(permit);
                let stop = self.stop_signal();
                let wait = wait.unwrap_or(Duration::from_millis(100));
                tokio::select! {
                    biased;
                    Some(done) = self.in_flight.next() => self.complete(done),
                    _ = stop, if !self.stopping => {}
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
        let stop = self.stop_signal();
        tokio::select! {
            biased;
            Some(done) = self.in_flight.next() => self.complete(done),
            _ = stop, if !self.stopping => {}
        }
    }

    /// Resolves when the cycle is asked to stop or the process shuts down.
    fn stop_signal(&self) -> impl std::future::Future<Output = ()> + 'static {
        let (stop, shutdown) = (self.stop.token(), self.io.ctx.shutdown.clone());
        async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = shutdown.cancelled() => {}
            }
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

    /// Guard mode: whether a decided change must wait, because the cycle could still pass the
    /// limit (the changes decided so far plus every undecided job exceed it).
    pub(super) fn must_hold(&self) -> bool {
        self.rules.guard.is_some_and(|limit| {
            let decided_changes = self.out.plan.as_ref().map_or(0, |p| p.changes.len());
            decided_changes + self.undecided > limit
        })
    }

    /// Guard mode: the held changes go out once the limit cannot be passed any more (the
    /// changes decided so far plus every undecided job stay within it), or once every decision
    /// of the cycle is known (or the cycle winds down) if they are few enough; else none does.
    fn release_held(&mut self) {
        let Some(limit) = self.rules.guard else {
            return;
        };
        let reads_done = self.reads_in_flight == 0
            && self
                .reads
                .peek()
                .is_none_or(|r| r.class == ReadClass::Refresh);
        if !(reads_done || self.stopping || !self.must_hold()) || self.held.is_empty() {
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
        // While a change is ready, only a read that may find another one shares the pace.
        let decisive = self.reads.peek().is_some_and(|r| r.decisive);
        if read_ok && decisive && self.share.read_instead_of_write() {
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
        let id = self.jobs[item.job].job.id.clone();
        self.reads_in_flight += 1;
        self.in_flight.push(calls::read(self.io, item, id, permit));
    }

    fn start_write(&mut self, w: WriteItem, permits: Permits) {
        self.in_flight.push(calls::write(self.io, w, permits));
    }
}

/// Job id -> index in the cycle's jobs, in 12 bytes a job (a map of cloned ids would hold a
/// second copy of every id: 10 MB at 100,000 jobs).
pub(super) struct JobIndex {
    hasher: RandomState,
    /// (hash of the id, index), sorted.
    keys: Vec<(u64, u32)>,
}

impl JobIndex {
    fn new(jobs: &[ObservedJob]) -> Self {
        let hasher = RandomState::new();
        let mut keys: Vec<(u64, u32)> = jobs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    hasher.hash_one(&o.job.id),
                    u32::try_from(i).unwrap_or(u32::MAX),
                )
            })
            .collect();
        keys.sort_unstable();
        JobIndex { hasher, keys }
    }

    /// The index of the job with this id in `jobs` (the slice it was built from).
    pub(super) fn get(&self, jobs: &[ObservedJob], id: &str) -> Option<usize> {
        let h = self.hasher.hash_one(id);
        let start = self.keys.partition_point(|(k, _)| *k < h);
        self.keys[start..]
            .iter()
            .take_while(|(k, _)| *k == h)
            .map(|&(_, i)| i as usize)
            .find(|&i| jobs.get(i).is_some_and(|o| o.job.id == id))
    }
}

//! The observer's memory of one target's jobs across cycles, and the reads a cycle should make.
//!
//! What is kept per listed job: its tags (and when they were read), the interval after which
//! they are read again, and its `DescribeJob` details. A job that leaves the listing leaves the
//! book.
//!
//! Which reads a cycle makes, by value ([`ReadClass`]):
//! 1. **Needed**: the job cannot be decided without them (a rule reads tags or details that were
//!    never read, the opt-out tag of a job about to change, or the tag store's memory of a job not
//!    read yet in this process). Jobs likely to change first, then those a rule needs the tags
//!    of, then those whose memory only is unknown; the newest first within each, so a new urgent
//!    job is acted on in the first cycle that lists it. Only the first two kinds may find a
//!    change: only they share the pace with writes that are ready (see `budget`).
//! 2. **Soon**: a window opens or closes within `tags_ttl` and the job's outcome then depends on
//!    tags that would be older than `tags_ttl` (or were never read); and every job after a forced
//!    refresh. The soonest boundary first.
//! 3. **Refresh**: tags a rule depends on whose refresh interval has passed, stalest first. The
//!    interval starts at `tags_ttl` and doubles each time a read finds the tags unchanged, up to
//!    `tags_ttl_max`; a change resets it. These reads take at most `tags_refresh_share` of the pace.
//!
//! The tag store's memory tags are s3prio's own: they are read once per job per process (and
//! again before each write), never on a schedule, so a policy without tag conditions costs only
//! `ListJobs` in steady state.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::aws::MemoryStore;
use crate::model::{JobDetails, ObservedJob, Tags};
use crate::policy::{self, Policy};

/// What is known of one listed job.
#[derive(Debug, Clone)]
struct JobRecord {
    tags: Option<Tags>,
    /// When `tags` were read from the service (`None`: never).
    tags_read: Option<Instant>,
    /// Re-read the tags this long after `tags_read` (when a rule depends on them).
    refresh_every: Duration,
    /// A forced refresh asked for these tags again.
    forced: bool,
    details: Option<JobDetails>,
}

/// What a read fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadWhat {
    Tags,
    Details,
}

/// The value of a read; a greater class goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ReadClass {
    Refresh,
    Soon,
    Needed,
}

/// One read to make, ordered by value (the greatest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReadItem {
    pub job: usize,
    pub what: ReadWhat,
    pub class: ReadClass,
    /// Within a class, greater goes first.
    pub rank: (i64, i64),
    /// The read may find a change (a rule needs what it reads, or the job is likely to
    /// change): only such reads share the pace with writes that are ready.
    pub decisive: bool,
}

impl Ord for ReadItem {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.class, self.rank)
            .cmp(&(other.class, other.rank))
            // Deterministic among equals: the earlier job first.
            .then_with(|| other.job.cmp(&self.job))
            .then_with(|| (self.what as u8).cmp(&(other.what as u8)))
    }
}

impl PartialOrd for ReadItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What triage found for the jobs of one listing.
#[derive(Debug, Default)]
pub(super) struct Triage {
    /// Jobs that can be decided now (their memory attached).
    pub complete: Vec<usize>,
    /// Per job: how many needed reads it still waits for (0 for complete jobs).
    pub pending: Vec<u8>,
    pub reads: Vec<ReadItem>,
}

/// The settings triage works with.
#[derive(Debug, Clone, Copy)]
pub(super) struct TagSchedule {
    pub ttl: Duration,
    pub ttl_max: Duration,
}

/// The observer's memory of one target's jobs.
#[derive(Debug)]
pub(super) struct JobBook {
    records: HashMap<String, JobRecord>,
    origin: Instant,
}

impl Default for JobBook {
    fn default() -> Self {
        JobBook {
            records: HashMap::new(),
            origin: Instant::now(),
        }
    }
}

impl JobBook {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Drops duplicate job ids from `jobs` (the first listed stays), forgets jobs that are not
    /// listed any more, and attaches what is known (tags, details) to each job. Returns the
    /// number of duplicates dropped.
    pub fn merge(&mut self, jobs: &mut Vec<ObservedJob>) -> usize {
        let before = jobs.len();
        let mut keep = vec![true; jobs.len()];
        {
            let mut seen = HashSet::with_capacity(jobs.len());
            for (k, o) in keep.iter_mut().zip(jobs.iter()) {
                *k = seen.insert(o.job.id.as_str());
            }
            self.records.retain(|id, _| seen.contains(id.as_str()));
        }
        let mut keep = keep.into_iter();
        jobs.retain(|_| keep.next().unwrap_or(true));
        for o in jobs.iter_mut() {
            if let Some(r) = self.records.get(&o.job.id) {
                o.job.tags = r.tags.clone();
                o.job.details = r.details.clone();
            }
        }
        before - jobs.len()
    }

    /// Records tags read from the service at `at`. Returns whether they differ from the tags
    /// known before (a first read counts as a change). Unchanged tags double the job's refresh
    /// interval, up to `ttl_max`; changed ones reset it to `ttl`.
    pub fn record_read_tags(
        &mut self,
        id: &str,
        tags: Tags,
        at: Instant,
        schedule: TagSchedule,
    ) -> bool {
        let r = self.entry(id, schedule);
        let changed = r.tags.as_ref() != Some(&tags);
        r.refresh_every = if changed || r.tags_read.is_none() {
            schedule.ttl
        } else {
            (r.refresh_every * 2).min(schedule.ttl_max)
        };
        r.tags = Some(tags);
        r.tags_read = Some(at);
        r.forced = false;
        changed
    }

    /// Records the tag set s3prio itself just wrote (the read it was based on keeps its time).
    pub fn record_written_tags(&mut self, id: &str, tags: Tags, schedule: TagSchedule) {
        self.entry(id, schedule).tags = Some(tags);
    }

    pub fn record_details(&mut self, id: &str, details: JobDetails, schedule: TagSchedule) {
        self.entry(id, schedule).details = Some(details);
    }

    fn entry(&mut self, id: &str, schedule: TagSchedule) -> &mut JobRecord {
        self.records
            .entry(id.to_string())
            .or_insert_with(|| JobRecord {
                tags: None,
                tags_read: None,
                refresh_every: schedule.ttl,
                forced: false,
                details: None,
            })
    }

    /// When the job's tags were last read from the service.
    pub fn tags_read(&self, id: &str) -> Option<Instant> {
        self.records.get(id).and_then(|r| r.tags_read)
    }

    pub fn forget(&mut self, id: &str) {
        self.records.remove(id);
    }

    /// Every known tag set is read again in the next cycle (`SIGUSR1`, `POST
    /// /reconcile?refresh=tags`), ahead of scheduled refreshes and outside their budget.
    pub fn force_refresh(&mut self) {
        for r in self.records.values_mut() {
            r.forced = r.tags.is_some();
        }
    }

    fn millis_since_origin(&self, t: Instant) -> i64 {
        i64::try_from(t.saturating_duration_since(self.origin).as_millis()).unwrap_or(i64::MAX)
    }

    /// Sorts the jobs of a listing (after [`JobBook::merge`]) into those that can be decided now
    /// and the reads to make, by value. Attaches each complete job's memory.
    pub fn triage(&self, jobs: &mut [ObservedJob], cx: &TriageContext<'_>) -> Triage {
        let mut out = Triage {
            complete: Vec::with_capacity(jobs.len()),
            pending: vec![0; jobs.len()],
            reads: Vec::new(),
        };
        let at = cx.policy.at(cx.now);
        let boundary = cx.next_boundary.and_then(|b| {
            let soon = (b - cx.now).to_std().ok()? <= cx.schedule.ttl;
            soon.then(|| (b, cx.policy.at(b + chrono::Duration::seconds(1))))
        });
        for (i, o) in jobs.iter_mut().enumerate() {
            let memory = cx.store.memory_for(&o.job);
            let baseline = memory.map_or(o.job.priority, |m| m.baseline);
            let policy_needs = cx.policy.needs_for(&o.job, baseline, cx.now);
            // The tag store's memory of this job was never read in this process.
            let memory_unread = cx.store.uses_tags() && o.job.tags.is_none();
            let missing_tags = (policy_needs.tags || memory_unread) && o.job.tags.is_none();
            let missing_details = policy_needs.details && o.job.details.is_none();
            if missing_tags || missing_details {
                let likely_change = cx.policy.desired_at(&o.job, baseline, &at) != o.job.priority;
                // A read the policy needs, or of a job likely to change, may find a change; one
                // that only learns the memory of a job the policy leaves as it is rarely does.
                let decisive = likely_change || policy_needs.tags || policy_needs.details;
                let created = o.job.creation_time.map_or(0, |t| t.timestamp());
                let rank = (i64::from(decisive) + i64::from(likely_change), created);
                for (missing, what) in [
                    (missing_tags, ReadWhat::Tags),
                    (missing_details, ReadWhat::Details),
                ] {
                    if missing {
                        out.pending[i] += 1;
                        out.reads.push(ReadItem {
                            job: i,
                            what,
                            class: ReadClass::Needed,
                            rank,
                            decisive,
                        });
                    }
                }
                continue;
            }
            o.memory = memory;
            out.complete.push(i);
            if let Some(item) = self.refresh(i, o, baseline, &at, boundary.as_ref(), cx) {
                out.reads.push(item);
            }
        }
        out
    }

    /// The refresh or prefetch read of a complete job, if it is due and worth it.
    fn refresh(
        &self,
        i: usize,
        o: &mut ObservedJob,
        baseline: crate::model::Priority,
        at: &policy::WindowStates,
        boundary: Option<&(DateTime<Utc>, policy::WindowStates)>,
        cx: &TriageContext<'_>,
    ) -> Option<ReadItem> {
        let record = self.records.get(&o.job.id);
        if record.is_some_and(|r| r.forced) {
            return Some(ReadItem {
                job: i,
                what: ReadWhat::Tags,
                class: ReadClass::Soon,
                rank: (i64::MAX, 0),
                decisive: false,
            });
        }
        if !cx.policy.uses_tags() {
            return None;
        }
        let read = record.and_then(|r| r.tags_read);
        let due =
            record.is_some_and(|r| r.tags_read.is_some_and(|t| t + r.refresh_every <= cx.clock));
        // Tags older than tags_ttl at a boundary within tags_ttl (or never read) are read
        // before it, if the outcome then depends on them.
        let soon = boundary.filter(|(b, _)| match read {
            None => true,
            Some(t) => {
                let age_at_boundary = cx.clock.saturating_duration_since(t)
                    + (*b - cx.now).to_std().unwrap_or_default();
                age_at_boundary > cx.schedule.ttl
            }
        });
        if !due && soon.is_none() {
            return None;
        }
        // Does the outcome depend on the tags, now or at the boundary? Look without them.
        let tags = o.job.tags.take();
        let now_depends = cx.policy.needs_at(&o.job, Some(baseline), at).tags;
        let boundary_depends =
            soon.is_some_and(|(_, at_b)| cx.policy.needs_at(&o.job, Some(baseline), at_b).tags);
        o.job.tags = tags;
        if let (Some((b, _)), true) = (soon, boundary_depends) {
            return Some(ReadItem {
                job: i,
                what: ReadWhat::Tags,
                class: ReadClass::Soon,
                rank: (-b.timestamp(), 0),
                decisive: false,
            });
        }
        (due && now_depends).then(|| ReadItem {
            job: i,
            what: ReadWhat::Tags,
            class: ReadClass::Refresh,
            rank: (-read.map_or(0, |t| self.millis_since_origin(t)), 0),
            decisive: false,
        })
    }
}

/// What triage needs besides the jobs.
pub(super) struct TriageContext<'a> {
    pub policy: &'a Policy,
    pub store: &'a MemoryStore,
    pub now: DateTime<Utc>,
    /// The next window boundary of the policy, if any.
    pub next_boundary: Option<DateTime<Utc>>,
    pub schedule: TagSchedule,
    /// The loop's monotonic clock now.
    pub clock: Instant,
}

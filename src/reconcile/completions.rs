//! What each returned call means for its job: record what was read, decide the job, queue the
//! next stage of a change, count what went wrong.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::book::{ReadClass, ReadItem, ReadWhat};
use super::calls::{Done, Fetched};
use super::pipeline::Pipeline;
use super::writer::{audit_event, Stage, WriteItem};
use crate::aws::{CallError, FailureKind};
use crate::model::Tags;
use crate::plan::{self, Change, Plan};

impl Pipeline<'_> {
    pub(super) fn complete(&mut self, done: Done) {
        match done {
            Done::Read(item, result) => {
                self.reads_in_flight -= 1;
                self.rules.progress.read_done();
                self.read_done(item, result);
            }
            Done::Write(w, result) => {
                self.rules.progress.call_done();
                self.write_done(*w, result);
            }
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
                if item.class == ReadClass::Needed && !self.gone[i] {
                    self.leave_undecided(i);
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
            self.rules.progress.read_queued(1);
            self.reads.push(ReadItem {
                job: i,
                what: ReadWhat::Details,
                class: ReadClass::Needed,
                rank: (i64::MAX, 0),
                decisive: true,
            });
            return;
        }
        self.jobs[i].memory = memory;
        self.undecided = self.undecided.saturating_sub(1);
        let plan = plan::plan(self.rules.policy, &[&self.jobs[i]], self.rules.now);
        self.absorb(plan, true);
    }

    /// Job `i` will not be decided this cycle (gone, or a needed read failed).
    fn leave_undecided(&mut self, i: usize) {
        if self.pending[i] > 0 {
            self.undecided = self.undecided.saturating_sub(1);
        }
    }

    fn write_done(&mut self, mut w: WriteItem, result: Result<Option<Tags>, CallError>) {
        let i = w.job;
        let target = self.rules.target;
        match result {
            Err(e) if e.is_not_found() => {
                tracing::info!(target_name = %target, job_id = %w.change.job_id, "job finished or vanished before its priority was changed; dropped");
                self.vanish(i);
                self.rules.progress.change_settled();
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
                self.rules.progress.change_settled();
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
                            self.queue_checked(w);
                        }
                        Some(_) => self.rules.progress.change_settled(),
                        None => {
                            self.out.skipped_at_write += 1;
                            self.rules.progress.change_settled();
                        }
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
                    self.rules.progress.change_settled();
                    self.rules.audit.emit(audit_event(target, &w.change, false));
                }
            },
        }
    }

    fn vanish(&mut self, i: usize) {
        if !self.gone[i] {
            self.leave_undecided(i);
            self.gone[i] = true;
            self.out.vanished += 1;
            self.book.forget(&self.jobs[i].job.id);
        }
    }

    /// Adds the decisions of `plan` to the cycle's, and queues its changes.
    pub(super) fn absorb(&mut self, mut plan: Plan, count: bool) {
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
            let Some(i) = self.index.get(&self.jobs, &c.job_id) else {
                continue;
            };
            self.deciding[i] = true;
            self.rules.progress.change_planned();
            if self.rules.observe_only {
                continue;
            }
            let w = WriteItem::new(i, c, self.must_check(i));
            if w.stage == Stage::Check {
                self.queue(w);
            } else if self.must_hold() {
                self.held.push(w);
            } else {
                self.send_or_report(w);
            }
        }
    }

    /// A change whose tags were just checked: it goes next, before the checks of other
    /// changes, so each change lands as soon as it can (the first one within a few requests,
    /// not after every check of the cycle).
    fn queue_checked(&mut self, w: WriteItem) {
        if self.must_hold() {
            self.held.push(w);
        } else if self.rules.dry_run {
            self.send_or_report(w);
        } else {
            self.writes.push_front(w);
        }
    }

    fn queue(&mut self, w: WriteItem) {
        if self.must_hold() {
            self.held.push(w);
        } else {
            self.writes.push_back(w);
        }
    }

    /// In a dry run a ready change is only reported; otherwise it goes to the writes.
    pub(super) fn send_or_report(&mut self, w: WriteItem) {
        if self.rules.dry_run && w.stage == Stage::Ready {
            self.rules.progress.change_settled();
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

pub(super) fn empty_plan(at: DateTime<Utc>) -> Plan {
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

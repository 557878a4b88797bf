//! Where a running cycle stands, for the progress lines of the live commands (`plan`,
//! `apply --once`). Counters only: the scheduler bumps them, a reader takes snapshots.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Live counters of one target's current cycle.
#[derive(Debug, Default)]
pub struct CycleProgress {
    listed: AtomicUsize,
    listing_done: AtomicBool,
    reads_queued: AtomicUsize,
    reads_done: AtomicUsize,
    changes_planned: AtomicUsize,
    changes_settled: AtomicUsize,
    calls_done: AtomicUsize,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Jobs listed so far, and whether the listing is complete.
    pub listed: usize,
    pub listing_done: bool,
    /// Reads (tags, details) queued in this cycle, and how many came back.
    pub reads_queued: usize,
    pub reads_done: usize,
    /// Changes decided, and how many were written or settled otherwise (vanished, failed,
    /// not needed after all).
    pub changes_planned: usize,
    pub changes_settled: usize,
    /// Every call of this cycle that returned (the pace actually achieved).
    pub calls_done: usize,
}

fn bump(c: &AtomicUsize, n: usize) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl CycleProgress {
    pub(super) fn start(&self) {
        for c in [
            &self.listed,
            &self.reads_queued,
            &self.reads_done,
            &self.changes_planned,
            &self.changes_settled,
            &self.calls_done,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.listing_done.store(false, Ordering::Relaxed);
    }

    pub(super) fn listed(&self, jobs: usize, pages: usize) {
        self.listed.store(jobs, Ordering::Relaxed);
        self.listing_done.store(true, Ordering::Relaxed);
        bump(&self.calls_done, pages);
    }

    pub(super) fn read_queued(&self, n: usize) {
        bump(&self.reads_queued, n);
    }

    pub(super) fn read_done(&self) {
        bump(&self.reads_done, 1);
        bump(&self.calls_done, 1);
    }

    pub(super) fn change_planned(&self) {
        bump(&self.changes_planned, 1);
    }

    pub(super) fn change_settled(&self) {
        bump(&self.changes_settled, 1);
    }

    pub(super) fn call_done(&self) {
        bump(&self.calls_done, 1);
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        ProgressSnapshot {
            listed: get(&self.listed),
            listing_done: self.listing_done.load(Ordering::Relaxed),
            reads_queued: get(&self.reads_queued),
            reads_done: get(&self.reads_done),
            changes_planned: get(&self.changes_planned),
            changes_settled: get(&self.changes_settled),
            calls_done: get(&self.calls_done),
        }
    }
}

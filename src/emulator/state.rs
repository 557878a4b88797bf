//! What the request handlers, the background tasks and the handle share: the jobs, the
//! per-account throttle buckets, the counters, the injected faults and the logs benchmarks read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::time::Instant;

use super::org::Directory;
use super::stats::Stats;
use super::store::Store;
use super::throttle::{AccountBuckets, Throttle};

/// One successful UpdateJobPriority, for benchmarks that measure when the last change landed.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityUpdate {
    pub account_id: String,
    pub job_id: String,
    pub priority: i32,
    pub at: Instant,
    pub wall: SystemTime,
}

/// One request as the emulator saw it, for benchmarks that time what a client did to a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub at: Instant,
    pub operation: &'static str,
    pub job_id: Option<String>,
    /// `ok`, an error code, or `dropped`.
    pub outcome: String,
}

/// The update log keeps at most this many entries (oldest dropped first).
const MAX_PRIORITY_UPDATES: usize = 1_000_000;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    pub fault_rate: f64,
    /// Fraction of requests answered with TooManyRequestsException whatever the bucket says
    /// (a throttle storm).
    pub throttle_fraction: f64,
    pub drop_rate: f64,
    pub latency: Duration,
    pub down: bool,
    pub down_until: Option<Instant>,
}

/// Everything the request handlers, background tasks and the handle share.
pub(crate) struct EmulatorState {
    pub store: Mutex<Store>,
    pub buckets: Mutex<AccountBuckets>,
    pub stats: Mutex<Stats>,
    pub faults: Mutex<Faults>,
    pub rng: Mutex<SmallRng>,
    pub priority_updates: Mutex<Vec<PriorityUpdate>>,
    /// The organization and the roles of every account (Organizations and STS).
    pub org: Mutex<Directory>,
    /// Every job-API request, when turned on (`EmulatorHandle::start_request_log`).
    pub request_log: Mutex<Option<Vec<RequestRecord>>>,
    pub request_counter: AtomicU64,
    pub seed: u64,
    /// Set by every change to the jobs; cleared when the state file is written.
    pub dirty: AtomicBool,
}

/// Locks a mutex, recovering the data if a previous holder panicked: one failed request must
/// not take the emulator down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EmulatorState {
    /// A fresh state over `store`: zeroed counters, empty logs, fault draws seeded from `seed`.
    pub fn new(store: Store, throttle: Option<Throttle>, faults: Faults, seed: u64) -> Self {
        EmulatorState {
            store: Mutex::new(store),
            buckets: Mutex::new(AccountBuckets::new(throttle)),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(faults),
            rng: Mutex::new(SmallRng::seed_from_u64(seed.wrapping_add(17))),
            priority_updates: Mutex::new(Vec::new()),
            org: Mutex::new(Directory::default()),
            request_log: Mutex::new(None),
            request_counter: AtomicU64::new(0),
            seed,
            dirty: AtomicBool::new(false),
        }
    }

    pub fn is_down(&self) -> bool {
        let f = lock(&self.faults);
        f.down || f.down_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        // splitmix64: ids look random but are unique per emulator.
        let mut z = n
            .wrapping_add(self.seed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016X}", z ^ (z >> 31))
    }

    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Counts one request under its operation name, account (when it acts in one) and
    /// outcome, and logs it when the request log is on.
    pub fn record(
        &self,
        operation: &'static str,
        account: Option<&str>,
        job_id: Option<&str>,
        outcome: &str,
    ) {
        lock(&self.stats).record(operation, account, outcome);
        if let Some(log) = lock(&self.request_log).as_mut() {
            if log.len() < MAX_PRIORITY_UPDATES {
                log.push(RequestRecord {
                    at: Instant::now(),
                    operation,
                    job_id: job_id.map(str::to_string),
                    outcome: outcome.to_string(),
                });
            }
        }
    }

    /// Appends to the priority-update log, dropping the oldest tenth when it is full.
    pub fn log_priority_update(&self, account_id: &str, job_id: &str, priority: i32) {
        let mut log = lock(&self.priority_updates);
        if log.len() >= MAX_PRIORITY_UPDATES {
            log.drain(..MAX_PRIORITY_UPDATES / 10);
        }
        log.push(PriorityUpdate {
            account_id: account_id.to_string(),
            job_id: job_id.to_string(),
            priority,
            at: Instant::now(),
            wall: SystemTime::now(),
        });
    }

    /// Zeroes the counters and clears the priority-update log.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
        lock(&self.priority_updates).clear();
    }
}

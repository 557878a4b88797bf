//! The job population: per account, jobs ordered for listing, with an id index and the
//! CreateJob idempotency tokens. All methods are synchronous; the server holds one lock around
//! the store for the duration of one operation.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::job::{uuid_from_bits, EmulatorJob, JobSpec, JobStatus, Tag};

/// ListJobs shows unfinished jobs and jobs that ended in the last 90 days.
pub const LIST_RETENTION_DAYS: i64 = 90;

/// Listing order: newest first, ties broken by id. The key is
/// `(Reverse(creation millis), id)` so a forward range walk yields that order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListKey(Reverse<i64>, String);

impl ListKey {
    fn of(job: &EmulatorJob) -> Self {
        ListKey(
            Reverse(job.creation_time.timestamp_millis()),
            job.id.clone(),
        )
    }

    /// The opaque `NextToken`: a version digit and the hex of `millis:id`.
    pub fn to_token(&self) -> String {
        let raw = format!("{}:{}", self.0 .0, self.1);
        let mut token = String::with_capacity(1 + raw.len() * 2);
        token.push('1');
        for b in raw.bytes() {
            token.push_str(&format!("{b:02x}"));
        }
        token
    }

    pub fn from_token(token: &str) -> Option<Self> {
        let hex = token.strip_prefix('1')?;
        if hex.is_empty() || hex.len() % 2 != 0 || token.len() > 1024 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let raw = String::from_utf8(bytes?).ok()?;
        let (millis, id) = raw.split_once(':')?;
        let millis: i64 = millis.parse().ok()?;
        super::job::is_valid_job_id(id).then(|| ListKey(Reverse(millis), id.to_string()))
    }
}

/// One account's jobs.
#[derive(Debug, Default)]
pub struct AccountJobs {
    pub(super) jobs: BTreeMap<ListKey, EmulatorJob>,
    pub(super) by_id: HashMap<String, ListKey>,
    /// ClientRequestToken -> (request fingerprint, job id).
    pub(super) tokens: HashMap<String, (u64, String)>,
}

impl AccountJobs {
    pub fn get(&self, id: &str) -> Option<&EmulatorJob> {
        self.by_id.get(id).and_then(|k| self.jobs.get(k))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut EmulatorJob> {
        let key = self.by_id.get(id)?;
        self.jobs.get_mut(key)
    }

    fn insert(&mut self, job: EmulatorJob) {
        let key = ListKey::of(&job);
        if let Some(old) = self.by_id.insert(job.id.clone(), key.clone()) {
            self.jobs.remove(&old);
        }
        self.jobs.insert(key, job);
    }

    fn remove(&mut self, id: &str) -> Option<EmulatorJob> {
        let key = self.by_id.remove(id)?;
        self.jobs.remove(&key)
    }
}

/// One page of ListJobs.
pub struct ListPage<'a> {
    pub jobs: Vec<&'a EmulatorJob>,
    pub next: Option<ListKey>,
}

/// What is saved in the state file.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoreSnapshot {
    pub version: u32,
    pub jobs: Vec<EmulatorJob>,
    /// (account, token, fingerprint, job id)
    #[serde(default)]
    pub tokens: Vec<(String, String, u64, String)>,
}

pub struct Store {
    pub(super) accounts: HashMap<String, AccountJobs>,
    rng: SmallRng,
}

impl Store {
    pub fn new(seed: u64) -> Self {
        Store {
            accounts: HashMap::new(),
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed_cafe),
        }
    }

    pub fn account(&self, account: &str) -> Option<&AccountJobs> {
        self.accounts.get(account)
    }

    pub fn job(&self, account: &str, id: &str) -> Option<&EmulatorJob> {
        self.accounts.get(account)?.get(id)
    }

    pub fn job_mut(&mut self, account: &str, id: &str) -> Option<&mut EmulatorJob> {
        self.accounts.get_mut(account)?.get_mut(id)
    }

    /// The job, or NotFoundException as the service words it.
    pub fn existing(&self, account: &str, id: &str) -> Result<&EmulatorJob, ApiError> {
        self.job(account, id).ok_or_else(|| ApiError::not_found(id))
    }

    pub fn existing_mut(&mut self, account: &str, id: &str) -> Result<&mut EmulatorJob, ApiError> {
        self.job_mut(account, id)
            .ok_or_else(|| ApiError::not_found(id))
    }

    pub fn job_count(&self) -> usize {
        self.accounts.values().map(|a| a.jobs.len()).sum()
    }

    /// A fresh id, unique in the account.
    pub fn new_id(&mut self, account: &str) -> String {
        loop {
            let id = uuid_from_bits(self.rng.random());
            if self.job(account, &id).is_none() {
                return id;
            }
        }
    }

    pub fn insert(&mut self, job: EmulatorJob) {
        self.accounts
            .entry(job.account_id.clone())
            .or_default()
            .insert(job);
    }

    pub fn insert_spec(&mut self, mut spec: JobSpec, now: DateTime<Utc>) -> String {
        let id = match spec.id.take() {
            Some(id) => id,
            None => self.new_id(&spec.account_id),
        };
        self.insert(spec.into_job(id.clone(), now));
        id
    }

    pub fn remove(&mut self, account: &str, id: &str) -> Option<EmulatorJob> {
        self.accounts.get_mut(account)?.remove(id)
    }

    /// Idempotency lookup: `Ok(Some(id))` when this token already created a job from the same
    /// request, IdempotencyException when it created one from a different request.
    pub fn token_job(
        &self,
        account: &str,
        token: &str,
        fingerprint: u64,
    ) -> Result<Option<String>, ApiError> {
        match self.accounts.get(account).and_then(|a| a.tokens.get(token)) {
            None => Ok(None),
            Some((fp, id)) if *fp == fingerprint => Ok(Some(id.clone())),
            Some(_) => Err(ApiError::idempotency(token)),
        }
    }

    pub fn remember_token(&mut self, account: &str, token: String, fingerprint: u64, id: String) {
        self.accounts
            .entry(account.to_string())
            .or_default()
            .tokens
            .insert(token, (fingerprint, id));
    }

    /// One ListJobs page: walks from the cursor in listing order and stops after `max` matches
    /// (plus one to know whether a next page exists). `statuses` is a bit set; 0 means all.
    pub fn list(
        &self,
        account: &str,
        statuses: u16,
        max: usize,
        after: Option<&ListKey>,
        now: DateTime<Utc>,
    ) -> ListPage<'_> {
        let mut page = ListPage {
            jobs: Vec::with_capacity(max.min(1000)),
            next: None,
        };
        let Some(acc) = self.accounts.get(account) else {
            return page;
        };
        let cutoff = now - chrono::Duration::days(LIST_RETENTION_DAYS);
        let iter: Box<dyn Iterator<Item = (&ListKey, &EmulatorJob)>> = match after {
            Some(k) => Box::new(acc.jobs.range((
                std::ops::Bound::Excluded(k.clone()),
                std::ops::Bound::Unbounded,
            ))),
            None => Box::new(acc.jobs.iter()),
        };
        let mut last: Option<&ListKey> = None;
        for (key, job) in iter {
            if statuses != 0 && statuses & job.status.bit() == 0 {
                continue;
            }
            if job.status.is_terminal() && job.termination_date.is_some_and(|t| t < cutoff) {
                continue;
            }
            if page.jobs.len() == max {
                page.next = last.cloned();
                break;
            }
            page.jobs.push(job);
            last = Some(key);
        }
        page
    }

    pub fn snapshot(&self) -> StoreSnapshot {
        let mut jobs = Vec::with_capacity(self.job_count());
        let mut tokens = Vec::new();
        for (account, acc) in &self.accounts {
            jobs.extend(acc.jobs.values().cloned());
            for (token, (fp, id)) in &acc.tokens {
                tokens.push((account.clone(), token.clone(), *fp, id.clone()));
            }
        }
        StoreSnapshot {
            version: 1,
            jobs,
            tokens,
        }
    }

    pub fn restore(&mut self, snapshot: StoreSnapshot) {
        self.accounts.clear();
        for job in snapshot.jobs {
            self.insert(job);
        }
        for (account, token, fp, id) in snapshot.tokens {
            self.remember_token(&account, token, fp, id);
        }
    }

    /// Replaces the whole tag set (PutJobTagging).
    pub fn put_tags(&mut self, account: &str, id: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        self.existing_mut(account, id)?.tags = tags;
        Ok(())
    }

    /// UpdateJobStatus: `Ready` confirms a Suspended job; `Cancelled` cancels an unfinished one
    /// (directly when it is not running, through Cancelling when it is).
    pub fn request_status(
        &mut self,
        account: &str,
        id: &str,
        requested: JobStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<&EmulatorJob, ApiError> {
        let job = self.existing_mut(account, id)?;
        let next = match (requested, job.status) {
            (JobStatus::Ready, JobStatus::Suspended) => JobStatus::Ready,
            (
                JobStatus::Cancelled,
                JobStatus::New | JobStatus::Ready | JobStatus::Suspended | JobStatus::Paused,
            ) => JobStatus::Cancelled,
            (
                JobStatus::Cancelled,
                JobStatus::Preparing | JobStatus::Active | JobStatus::Pausing,
            ) => JobStatus::Cancelling,
            (JobStatus::Ready | JobStatus::Cancelled, current) => {
                return Err(ApiError::job_status(format!(
                    "job {id} is {current}; it cannot be moved to {requested}"
                )))
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "requestedJobStatus must be Ready or Cancelled, not {other}"
                )))
            }
        };
        job.enter(next, now);
        if let Some(reason) = reason {
            job.status_update_reason = Some(reason);
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_token_round_trips_and_rejects_garbage() {
        let key = ListKey(Reverse(1_700_000_000_123), "abcde-123".into());
        let token = key.to_token();
        assert!(token.len() <= 1024);
        assert_eq!(ListKey::from_token(&token), Some(key));
        for bad in ["", "1", "2abc", "1zz", "1abc", "1616263", "not a token"] {
            assert_eq!(ListKey::from_token(bad), None, "{bad}");
        }
    }

    fn spec(prio: i32, status: JobStatus, minutes_ago: i64, now: DateTime<Utc>) -> JobSpec {
        JobSpec {
            priority: prio,
            status,
            creation_time: Some(now - chrono::Duration::minutes(minutes_ago)),
            ..JobSpec::default()
        }
    }

    #[test]
    fn lists_newest_first_across_pages_without_gaps() {
        let now = Utc::now();
        let mut store = Store::new(1);
        let mut ids = Vec::new();
        for i in 0..25 {
            ids.push(store.insert_spec(spec(1, JobStatus::Ready, i, now), now));
        }
        let acct = super::super::DEFAULT_ACCOUNT_ID;
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list(acct, 0, 10, cursor.as_ref(), now);
            seen.extend(page.jobs.iter().map(|j| j.id.clone()));
            match page.next {
                Some(k) => cursor = Some(k),
                None => break,
            }
        }
        assert_eq!(seen, ids);
    }

    #[test]
    fn hides_jobs_that_ended_more_than_90_days_ago() {
        let now = Utc::now();
        let mut store = Store::new(1);
        let mut old = spec(1, JobStatus::Complete, 60 * 24 * 100, now);
        old.termination_date = Some(now - chrono::Duration::days(91));
        store.insert_spec(old, now);
        let recent = store.insert_spec(spec(1, JobStatus::Complete, 60, now), now);
        let page = store.list(super::super::DEFAULT_ACCOUNT_ID, 0, 100, None, now);
        let listed: Vec<_> = page.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(listed, [recent.as_str()]);
    }

    #[test]
    fn status_requests_follow_the_flow() {
        let now = Utc::now();
        let mut store = Store::new(1);
        let acct = super::super::DEFAULT_ACCOUNT_ID;
        let suspended = store.insert_spec(spec(1, JobStatus::Suspended, 1, now), now);
        let active = store.insert_spec(spec(1, JobStatus::Active, 2, now), now);
        let done = store.insert_spec(spec(1, JobStatus::Complete, 3, now), now);
        let s = store
            .request_status(acct, &suspended, JobStatus::Ready, None, now)
            .unwrap();
        assert_eq!(s.status, JobStatus::Ready);
        let a = store.request_status(acct, &active, JobStatus::Cancelled, Some("x".into()), now);
        assert_eq!(a.unwrap().status, JobStatus::Cancelling);
        let e = store
            .request_status(acct, &done, JobStatus::Cancelled, None, now)
            .unwrap_err();
        assert_eq!(e.code, "JobStatusException");
        let e = store
            .request_status(acct, &active, JobStatus::Ready, None, now)
            .unwrap_err();
        assert_eq!(e.code, "JobStatusException");
        let e = store
            .request_status(acct, "nope-nope", JobStatus::Ready, None, now)
            .unwrap_err();
        assert_eq!(e.code, "NotFoundException");
    }
}

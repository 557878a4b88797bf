//! Request counts by operation and outcome, for tests, benchmarks and `GET /_emulator/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Every job-API request (the `/_emulator/` endpoints are not counted).
    pub total: u64,
    /// Requests answered with TooManyRequestsException.
    pub throttled: u64,
    /// Requests answered with an injected InternalServiceException.
    pub faults: u64,
    /// Connections dropped instead of answered (injected drops and outage).
    pub dropped: u64,
    /// Job-API requests signed with credentials this emulator's STS handed out (an assumed
    /// role), and of those, the ones whose role is in another account than the request's
    /// `x-amz-account-id` (a client that mixed up its targets' credentials).
    pub assumed_role_calls: u64,
    pub foreign_role_calls: u64,
    /// operation -> outcome (`ok`, an error code, or `dropped`) -> count.
    pub by_operation: BTreeMap<String, BTreeMap<String, u64>>,
    /// principal -> `ACCOUNT/REGION` -> ListJobs requests: who listed which target. The
    /// principal is the long-term access key behind the request (through any assumed role),
    /// the region the one the request was signed for.
    pub list_jobs_by_principal: BTreeMap<String, BTreeMap<String, u64>>,
    /// account -> operation -> outcome -> count, for the requests that act in one account: job
    /// operations (the `x-amz-account-id` header, when valid) and AssumeRole (the role's
    /// account). Organizations listings act for the whole organization and are not in here.
    pub by_account: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
}

impl Stats {
    pub fn count(&self, operation: &str, outcome: &str) -> u64 {
        self.by_operation
            .get(operation)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation` in `account` that ended in `outcome`.
    pub fn account_count(&self, account: &str, operation: &str, outcome: &str) -> u64 {
        self.by_account
            .get(account)
            .and_then(|ops| ops.get(operation))
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation` in `account`, whatever their outcome.
    pub fn account_total(&self, account: &str, operation: &str) -> u64 {
        self.by_account
            .get(account)
            .and_then(|ops| ops.get(operation))
            .map_or(0, |m| m.values().sum())
    }

    pub(crate) fn record(&mut self, operation: &str, account: Option<&str>, outcome: &str) {
        if let Some(account) = account {
            *self
                .by_account
                .entry(account.to_string())
                .or_default()
                .entry(operation.to_string())
                .or_default()
                .entry(outcome.to_string())
                .or_default() += 1;
        }
        self.total += 1;
        match outcome {
            "TooManyRequestsException" => self.throttled += 1,
            OUTCOME_DROPPED => self.dropped += 1,
            _ => {}
        }
        *self
            .by_operation
            .entry(operation.to_string())
            .or_default()
            .entry(outcome.to_string())
            .or_default() += 1;
    }
}

pub const OUTCOME_OK: &str = "ok";
pub const OUTCOME_DROPPED: &str = "dropped";

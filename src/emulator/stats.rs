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
    /// operation -> outcome (`ok`, an error code, or `dropped`) -> count.
    pub by_operation: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn count(&self, operation: &str, outcome: &str) -> u64 {
        self.by_operation
            .get(operation)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn record(&mut self, operation: &str, outcome: &str) {
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

//! The observed state of S3 Batch Operations jobs, as the policy engine sees them.
//!
//! These types are filled from `ListJobs` (+ `GetJobTagging`, + `DescribeJob` when needed) by the
//! client layer, or from a JSON snapshot by the offline commands. They carry no AWS SDK types so
//! the policy and the planner stay pure and testable.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A job priority as S3 Control accepts it: 0..=2147483647 (`i32::MAX`).
pub type Priority = i32;

/// Highest priority S3 Control accepts.
pub const MAX_PRIORITY: Priority = i32::MAX;

/// A job's tags (`GetJobTagging`). Keys are unique; ordered for deterministic output.
pub type Tags = BTreeMap<String, String>;

/// Status of a Batch Operations job (the `JobStatus` enum of the S3 Control model).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum JobStatus {
    Active,
    Cancelled,
    Cancelling,
    Complete,
    Completing,
    Failed,
    Failing,
    New,
    Paused,
    Pausing,
    Preparing,
    Ready,
    Suspended,
}

impl JobStatus {
    pub const ALL: [JobStatus; 13] = [
        JobStatus::Active,
        JobStatus::Cancelled,
        JobStatus::Cancelling,
        JobStatus::Complete,
        JobStatus::Completing,
        JobStatus::Failed,
        JobStatus::Failing,
        JobStatus::New,
        JobStatus::Paused,
        JobStatus::Pausing,
        JobStatus::Preparing,
        JobStatus::Ready,
        JobStatus::Suspended,
    ];

    /// Statuses a job never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Cancelled | JobStatus::Complete | JobStatus::Failed
        )
    }

    /// Every status a job can still leave: the default set of managed statuses.
    pub fn non_terminal() -> Vec<JobStatus> {
        Self::ALL.into_iter().filter(|s| !s.is_terminal()).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Active => "Active",
            JobStatus::Cancelled => "Cancelled",
            JobStatus::Cancelling => "Cancelling",
            JobStatus::Complete => "Complete",
            JobStatus::Completing => "Completing",
            JobStatus::Failed => "Failed",
            JobStatus::Failing => "Failing",
            JobStatus::New => "New",
            JobStatus::Paused => "Paused",
            JobStatus::Pausing => "Pausing",
            JobStatus::Preparing => "Preparing",
            JobStatus::Ready => "Ready",
            JobStatus::Suspended => "Suspended",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a status name S3 Control does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status `{0}` (expected one of: Active, Cancelled, Cancelling, Complete, Completing, Failed, Failing, New, Paused, Pausing, Preparing, Ready, Suspended)")]
pub struct UnknownJobStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownJobStatus(s.to_string()))
    }
}

/// The S3 Batch Operations operations (`OperationName`).
pub const OPERATION_NAMES: [&str; 11] = [
    "LambdaInvoke",
    "S3PutObjectCopy",
    "S3PutObjectAcl",
    "S3PutObjectTagging",
    "S3DeleteObjectTagging",
    "S3InitiateRestoreObject",
    "S3PutObjectLegalHold",
    "S3PutObjectRetention",
    "S3ReplicateObject",
    "S3ComputeObjectChecksum",
    "S3UpdateObjectEncryption",
];

/// `ProgressSummary` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub total_tasks: i64,
    pub tasks_succeeded: i64,
    pub tasks_failed: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_active_seconds: Option<i64>,
}

impl Progress {
    /// Percent of tasks done (succeeded + failed), 0.0 when the total is unknown or zero.
    pub fn percent_done(&self) -> f64 {
        if self.total_tasks <= 0 {
            return 0.0;
        }
        let done = (self.tasks_succeeded + self.tasks_failed).clamp(0, self.total_tasks);
        done as f64 * 100.0 / self.total_tasks as f64
    }
}

/// Fields only `DescribeJob` returns. Fetched only when a rule's conditions need them; they do
/// not change over a job's life, so they are cached for as long as the job is listed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// One job as observed in one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Shared by every job of a target (one allocation, not one per job).
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub id: String,
    pub description: Option<String>,
    pub operation: Option<String>,
    pub priority: Priority,
    pub status: JobStatus,
    pub creation_time: Option<DateTime<Utc>>,
    pub termination_date: Option<DateTime<Utc>>,
    pub progress: Option<Progress>,
    /// `None`: not read (the policy did not need them for this job).
    pub tags: Option<Tags>,
    /// `None`: `DescribeJob` not called (the policy did not need it for this job).
    pub details: Option<JobDetails>,
}

/// What s3prio remembers durably about a job it has changed.
///
/// `baseline` is the priority the job had before s3prio first changed it. `last_set` is the value
/// of s3prio's most recent write and `prev_set` the one before it: a write is recorded before it
/// is sent, so after a crash between the two the job may still sit at `prev_set`, which is still
/// s3prio's own doing and not a person's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMemory {
    pub baseline: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_set: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_set: Option<Priority>,
    /// A person changed the job's priority; s3prio leaves it alone (unless configured to override).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hands_off: bool,
}

impl JobMemory {
    /// Whether `observed` is a value s3prio itself put there (or the job's own baseline).
    pub fn explains(&self, observed: Priority) -> bool {
        observed == self.baseline
            || Some(observed) == self.last_set
            || Some(observed) == self.prev_set
    }
}

/// A job plus what s3prio remembers about it: the planner's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedJob {
    pub job: Job,
    pub memory: Option<JobMemory>,
}

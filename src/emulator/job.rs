//! The emulator's own job model. Deliberately independent of the daemon's job model: the
//! emulator is written from the wire reference so that a misunderstanding on the client side
//! cannot cancel itself out here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::xml::XmlNode;

/// `JobStatus` as the S3 Control model spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// Cancelled, Complete and Failed never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Cancelled | JobStatus::Complete | JobStatus::Failed
        )
    }

    /// A bit for status-set filters (13 statuses fit in a `u16`).
    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(())
    }
}

/// `OperationName` (ListJobs) and the element name inside `Operation` (CreateJob, DescribeJob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationName {
    LambdaInvoke,
    S3PutObjectCopy,
    S3PutObjectAcl,
    S3PutObjectTagging,
    S3DeleteObjectTagging,
    S3InitiateRestoreObject,
    S3PutObjectLegalHold,
    S3PutObjectRetention,
    S3ReplicateObject,
    S3ComputeObjectChecksum,
    S3UpdateObjectEncryption,
}

impl OperationName {
    pub const ALL: [OperationName; 11] = [
        OperationName::LambdaInvoke,
        OperationName::S3PutObjectCopy,
        OperationName::S3PutObjectAcl,
        OperationName::S3PutObjectTagging,
        OperationName::S3DeleteObjectTagging,
        OperationName::S3InitiateRestoreObject,
        OperationName::S3PutObjectLegalHold,
        OperationName::S3PutObjectRetention,
        OperationName::S3ReplicateObject,
        OperationName::S3ComputeObjectChecksum,
        OperationName::S3UpdateObjectEncryption,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationName::LambdaInvoke => "LambdaInvoke",
            OperationName::S3PutObjectCopy => "S3PutObjectCopy",
            OperationName::S3PutObjectAcl => "S3PutObjectAcl",
            OperationName::S3PutObjectTagging => "S3PutObjectTagging",
            OperationName::S3DeleteObjectTagging => "S3DeleteObjectTagging",
            OperationName::S3InitiateRestoreObject => "S3InitiateRestoreObject",
            OperationName::S3PutObjectLegalHold => "S3PutObjectLegalHold",
            OperationName::S3PutObjectRetention => "S3PutObjectRetention",
            OperationName::S3ReplicateObject => "S3ReplicateObject",
            OperationName::S3ComputeObjectChecksum => "S3ComputeObjectChecksum",
            OperationName::S3UpdateObjectEncryption => "S3UpdateObjectEncryption",
        }
    }
}

impl fmt::Display for OperationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperationName {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        OperationName::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or(())
    }
}

/// One `S3Tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// `JobProgressSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub total_tasks: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub elapsed_active_seconds: i64,
    /// Active time not yet a whole second (milliseconds): the simulation steps a quarter of a
    /// second at a time.
    #[serde(default)]
    pub active_millis: i64,
}

/// One `JobFailure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub reason: String,
}

/// A job as the emulator stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmulatorJob {
    pub id: String,
    pub account_id: String,
    pub description: Option<String>,
    pub operation: OperationName,
    pub priority: i32,
    pub status: JobStatus,
    pub creation_time: DateTime<Utc>,
    pub termination_date: Option<DateTime<Utc>>,
    pub tags: Vec<Tag>,
    pub progress: Progress,
    pub role_arn: String,
    pub confirmation_required: bool,
    pub status_update_reason: Option<String>,
    pub failure_reasons: Vec<Failure>,
    pub suspended_date: Option<DateTime<Utc>>,
    pub suspended_cause: Option<String>,
    /// The request's `Operation`, `Manifest`, `ManifestGenerator` and `Report` elements, echoed
    /// by DescribeJob. Generated jobs leave them empty and DescribeJob synthesises them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_xml: Option<XmlNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_xml: Option<XmlNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_generator_xml: Option<XmlNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_xml: Option<XmlNode>,
    /// Simulated seconds spent in the current status (drives the status flow).
    #[serde(default)]
    pub seconds_in_status: f64,
}

impl EmulatorJob {
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:us-east-1:{}:job/{}", self.account_id, self.id)
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Moves to `status`, stamping the dates the wire shows.
    pub(crate) fn enter(&mut self, status: JobStatus, now: DateTime<Utc>) {
        if self.status == status {
            return;
        }
        self.status = status;
        self.seconds_in_status = 0.0;
        if status.is_terminal() {
            self.termination_date = Some(now);
        }
        if status == JobStatus::Suspended {
            self.suspended_date = Some(now);
            self.suspended_cause
                .get_or_insert_with(|| "AwaitingConfirmation".to_string());
        }
    }
}

/// What a test or benchmark hands to [`super::EmulatorHandle::insert_job`]. Every field has a
/// sensible default; only set what the test is about.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub account_id: String,
    /// `None`: a fresh UUID-like id.
    pub id: Option<String>,
    pub description: Option<String>,
    pub operation: OperationName,
    pub priority: i32,
    pub status: JobStatus,
    /// `None`: now.
    pub creation_time: Option<DateTime<Utc>>,
    /// `None` for a terminal status: the creation time plus one hour.
    pub termination_date: Option<DateTime<Utc>>,
    pub tags: Vec<Tag>,
    pub progress: Progress,
    pub role_arn: Option<String>,
    pub confirmation_required: bool,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            account_id: super::DEFAULT_ACCOUNT_ID.to_string(),
            id: None,
            description: Some("emulator job".to_string()),
            operation: OperationName::S3PutObjectTagging,
            priority: 10,
            status: JobStatus::Ready,
            creation_time: None,
            termination_date: None,
            tags: Vec::new(),
            progress: Progress {
                total_tasks: 1000,
                ..Progress::default()
            },
            role_arn: None,
            confirmation_required: false,
        }
    }
}

impl JobSpec {
    pub(crate) fn into_job(self, id: String, now: DateTime<Utc>) -> EmulatorJob {
        let creation_time = self.creation_time.unwrap_or(now);
        let termination_date = match (self.termination_date, self.status.is_terminal()) {
            (Some(t), _) => Some(t),
            (None, true) => Some(creation_time + chrono::Duration::hours(1)),
            (None, false) => None,
        };
        let role_arn = self
            .role_arn
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/batch-operations", self.account_id));
        EmulatorJob {
            id,
            description: self.description,
            operation: self.operation,
            priority: self.priority,
            status: self.status,
            creation_time,
            termination_date,
            tags: self.tags,
            progress: self.progress,
            role_arn,
            confirmation_required: self.confirmation_required,
            status_update_reason: None,
            failure_reasons: Vec::new(),
            suspended_date: (self.status == JobStatus::Suspended).then_some(creation_time),
            suspended_cause: (self.status == JobStatus::Suspended)
                .then(|| "AwaitingConfirmation".to_string()),
            operation_xml: None,
            manifest_xml: None,
            manifest_generator_xml: None,
            report_xml: None,
            seconds_in_status: 0.0,
            account_id: self.account_id,
        }
    }
}

/// A job id as the model allows it: 5..36 characters of `[a-zA-Z0-9\-_]`.
pub fn is_valid_job_id(id: &str) -> bool {
    (5..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An account id as S3 Control requires it: exactly 12 digits.
pub fn is_valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A UUID-v4-shaped id from 128 random bits.
pub fn uuid_from_bits(bits: u128) -> String {
    let b = (bits & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

//! The config file as written: serde structs with `deny_unknown_fields`, also the source of the
//! JSON Schema. Values that need checking (durations, time zones, cron, ranges) stay strings
//! here and are validated in `validate/`, where each error gets its location.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::JobStatus;
use crate::policy::ManualChange;

/// s3prio configuration.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// When and how reconcile cycles run.
    #[serde(default)]
    pub reconcile: RawReconcile,
    /// Where the priority a job had before s3prio first changed it is remembered.
    #[serde(default)]
    pub baseline: RawBaseline,
    /// The metrics / health HTTP server.
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub log: RawLog,
    /// The (account, region) pairs whose jobs are managed. At least one target or target set.
    #[serde(default)]
    pub targets: Vec<RawTarget>,
    /// Targets discovered from AWS Organizations: accounts times regions, through a role.
    #[serde(default)]
    pub target_sets: Vec<RawTargetSet>,
    /// Named time windows, referred to by `in_window` / `outside_window` conditions.
    #[serde(default)]
    pub windows: BTreeMap<String, RawWindow>,
    /// Ordered rules. See docs/policy.md for precedence.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReconcile {
    /// Time between cycles, e.g. "30s" (default). Exclusive with `cron`.
    pub interval: Option<String>,
    /// 6-field cron expression (seconds first), evaluated in UTC, e.g. "0 */5 * * * *".
    pub cron: Option<String>,
    /// Job statuses s3prio changes (default: every non-terminal status).
    pub managed_statuses: Option<Vec<JobStatus>>,
    /// Compute and log changes without making them.
    #[serde(default)]
    pub dry_run: bool,
    /// Blast-radius guard: a cycle that would make more changes than this makes none.
    pub max_changes_per_cycle: Option<i64>,
    /// First refresh interval of a job's tags, and the most a tag set may have aged when it is
    /// used for the opt-out check before a write (default "10m").
    pub tags_ttl: Option<String>,
    /// Longest refresh interval of a job's tags: each re-read that finds them unchanged doubles
    /// the job's interval, up to this (default "4h").
    pub tags_ttl_max: Option<String>,
    /// While writes wait, reads get at most this share of a target's pace (default 0.5).
    pub read_share: Option<f64>,
    /// Re-reads of tags already read get at most this share of a target's pace (default 0.05).
    pub tags_refresh_share: Option<f64>,
    /// How long a shutdown waits for an in-flight cycle (default "10s").
    pub shutdown_timeout: Option<String>,
    /// When a person changed a priority s3prio had set: "respect" (default, leave it) or "override".
    pub on_manual_change: Option<ManualChange>,
    /// Jobs whose tag of this key is "true" are never changed (default "s3prio/ignore"; "" disables).
    pub ignore_tag: Option<String>,
}

/// Where baselines are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Job tags `<tag_prefix>baseline` etc. on the job itself.
    Tag,
    /// A local JSON state file (`state_file`).
    File,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBaseline {
    /// Stores, in order of preference (default ["tag"]); [] disables memory, and with it
    /// relative actions.
    pub store: Option<Vec<StoreKind>>,
    /// The state file of the "file" store.
    pub state_file: Option<PathBuf>,
    /// Prefix of the tags of the "tag" store (default "s3prio/").
    pub tag_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Listen address of /metrics, /healthz, /readyz (default "127.0.0.1:9464").
    pub listen: Option<String>,
    /// A file holding a bearer token: `POST /reconcile` then needs `Authorization: Bearer
    /// TOKEN`. Without it, only clients on the loopback address may ask for a cycle.
    pub reconcile_token_file: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<LogFormat>,
    /// A tracing filter such as "info" or "s3prio=debug".
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Display name (default "ACCOUNT/REGION"); unique.
    pub name: Option<String>,
    /// 12-digit AWS account id, as a string.
    pub account_id: String,
    pub region: String,
    /// Role to assume for this target.
    pub role_arn: Option<String>,
    /// Endpoint URL (the emulator, or a VPC endpoint).
    pub endpoint_url: Option<String>,
    pub rate_limit: Option<RawRateLimit>,
    pub backoff: Option<RawBackoff>,
    /// Timeout of one request (default "10s").
    pub request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTargetSet {
    /// Names the set in logs, metrics and `plan`; unique.
    pub name: String,
    /// The role assumed in each account, with `{account_id}` as its account field:
    /// "arn:aws:iam::{account_id}:role/s3prio".
    pub role_arn: String,
    /// Every selected account is one target per region.
    pub regions: Vec<String>,
    /// Only accounts in these OUs (or the root, "r-..."), and in every OU below them (default:
    /// the whole organization).
    pub organizational_units: Option<Vec<String>>,
    /// Only these account ids (default: every account the scope lists).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Never these account ids.
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
    /// Only accounts whose name matches this glob, e.g. "prod-*".
    pub account_name: Option<String>,
    /// How often Organizations is listed again (default "10m").
    pub discovery_interval: Option<String>,
    /// S3 Control endpoint of every target of the set (a VPC endpoint, or the emulator).
    pub endpoint_url: Option<String>,
    /// Organizations endpoint (the emulator); default: AWS.
    pub organizations_endpoint_url: Option<String>,
    /// STS endpoint the roles are assumed through (a VPC endpoint, or the emulator); default: AWS.
    pub sts_endpoint_url: Option<String>,
    /// Per target, as in [[targets]].
    pub rate_limit: Option<RawRateLimit>,
    pub backoff: Option<RawBackoff>,
    /// Timeout of one request (default "10s").
    pub request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Default 10.
    pub requests_per_second: Option<f64>,
    /// Default 10.
    pub burst: Option<i64>,
    /// A lower rate for UpdateJobPriority calls (default: same bucket as reads).
    pub write_requests_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    /// First retry delay (default "100ms").
    pub base: Option<String>,
    /// Longest retry delay (default "20s").
    pub max_delay: Option<String>,
    /// Attempts including the first (default 8).
    pub max_attempts: Option<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// IANA time zone, e.g. "America/New_York".
    pub timezone: String,
    /// Days on which ranges start: "Mon".."Sun" (or full names), "Mon-Fri" spans; default every day.
    pub days: Option<Vec<String>>,
    /// "HH:MM-HH:MM" local wall-clock ranges; an end at or before the start crosses midnight and
    /// belongs to the day it starts on. End exclusive; "24:00" allowed as an end.
    pub ranges: Vec<String>,
    /// Local dates ("YYYY-MM-DD") on which no range starts (holidays).
    #[serde(default)]
    pub exclude_dates: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique name, reported in plans and metrics.
    pub name: String,
    /// Free text for people.
    pub description: Option<String>,
    /// Conditions; all given must hold. Omitted: always matches.
    pub when: Option<RawCondition>,
    pub action: RawAction,
}

/// Inclusive numeric bounds; give `min`, `max` or both.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBounds<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

/// Conditions. Every field is optional; all given must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// Tag key = exact value, e.g. { urgent = "true" }.
    pub tags: Option<BTreeMap<String, String>>,
    /// Tag key has one of these values, e.g. { team = ["data", "ml"] }.
    pub tags_in: Option<BTreeMap<String, Vec<String>>>,
    /// Tag value matches a glob, e.g. { project = "etl-*" }.
    pub tags_glob: Option<BTreeMap<String, String>>,
    /// These tag keys are present.
    pub tags_exist: Option<Vec<String>>,
    /// These tag keys are absent.
    pub tags_absent: Option<Vec<String>>,
    /// Glob on the job description (a job without one has description "").
    pub description_glob: Option<String>,
    /// Regular expression (Rust regex syntax, unanchored) on the job description.
    pub description_regex: Option<String>,
    /// Operation is one of these OperationName values, e.g. ["S3PutObjectCopy"].
    pub operation: Option<Vec<String>>,
    /// Status is one of these.
    pub status: Option<Vec<JobStatus>>,
    /// Created at least this long ago, e.g. "2h".
    pub older_than: Option<String>,
    /// Created less than this long ago.
    pub newer_than: Option<String>,
    /// Percent of tasks done (succeeded + failed), 0..100, inclusive bounds.
    pub percent_done: Option<RawBounds<f64>>,
    /// Total number of tasks, inclusive bounds.
    pub total_tasks: Option<RawBounds<i64>>,
    /// The job's baseline priority (its priority before s3prio changed it), inclusive bounds.
    pub priority: Option<RawBounds<i64>>,
    /// Account id is one of these.
    pub account: Option<Vec<String>>,
    /// Region is one of these.
    pub region: Option<Vec<String>>,
    /// The named window is open.
    pub in_window: Option<String>,
    /// The named window is closed.
    pub outside_window: Option<String>,
    /// Glob on the job's IAM role ARN (needs DescribeJob, called only for jobs this decides).
    pub role_arn: Option<String>,
    /// At least one of these holds.
    pub any: Option<Vec<RawCondition>>,
    /// All of these hold.
    pub all: Option<Vec<RawCondition>>,
    /// This does not hold.
    pub not: Option<Box<RawCondition>>,
}

/// Exactly one of set / raise / lower / age_boost / baseline (a deciding rule), and/or
/// at_least / at_most (alone: a clamp rule).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// Absolute priority, 0..=2147483647.
    pub set: Option<i64>,
    /// Baseline + N.
    pub raise: Option<i64>,
    /// Baseline - N.
    pub lower: Option<i64>,
    /// Baseline + `by` for every `every` of age, at most `max`.
    pub age_boost: Option<RawAgeBoost>,
    /// `true`: the baseline (an explicit "leave at baseline" that stops later deciding rules).
    pub baseline: Option<bool>,
    /// Lower bound.
    pub at_least: Option<i64>,
    /// Upper bound.
    pub at_most: Option<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAgeBoost {
    /// e.g. "1h".
    pub every: String,
    pub by: i64,
    pub max: i64,
}

//! The config file: TOML schema (serde, `deny_unknown_fields`), defaults, validation, located
//! errors and the JSON Schema. See `docs/policy.md` and `config/s3prio.example.toml`.

pub mod duration;
mod error;
mod raw;
mod validate;
mod warnings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{did_you_mean, display_path, ConfigError, Located, PathSeg, Warning};
pub use raw::{LogFormat, RawConfig, StoreKind};

use crate::model::JobStatus;
pub use crate::policy::ManualChange;
use crate::policy::Policy;

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub reconcile: ReconcileSettings,
    pub baseline: BaselineSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub targets: Vec<Target>,
    pub policy: Arc<Policy>,
}

/// When reconcile cycles run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    Interval(Duration),
    /// A validated 6-field (seconds first) cron expression, evaluated in UTC.
    Cron(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileSettings {
    pub cadence: Cadence,
    pub managed_statuses: Vec<JobStatus>,
    pub dry_run: bool,
    pub max_changes_per_cycle: Option<usize>,
    /// First refresh interval of a job's tags; the oldest tags the opt-out check may use.
    pub tags_ttl: Duration,
    /// Longest refresh interval of a job's tags (unchanged tags double the interval).
    pub tags_ttl_max: Duration,
    /// While writes wait, reads get at most this share of the pace.
    pub read_share: f64,
    /// Re-reads of known tags get at most this share of the pace.
    pub tags_refresh_share: f64,
    pub shutdown_timeout: Duration,
    pub on_manual_change: ManualChange,
    /// A job whose tag of this key has value "true" is never changed ("" disables).
    pub ignore_tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineSettings {
    pub stores: Vec<StoreKind>,
    pub state_file: Option<PathBuf>,
    pub tag_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub account_id: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    pub rate_limit: RateLimit,
    pub backoff: Backoff,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub requests_per_second: f64,
    pub burst: u32,
    pub write_requests_per_second: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&src, &path.display().to_string())
}

/// Parses and validates config text; `origin` names it in error messages (usually the path).
pub fn parse(src: &str, origin: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(src).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let path = validate::path_at(src, &span);
        let (message, help) = validate::explain_serde_error(e.message(), &path);
        ConfigError::Invalid(Box::new(Located::new(origin, src, span, message, help)))
    })?;
    validate::validate(&raw).map_err(|e| {
        let span = validate::span_of(src, &e);
        ConfigError::Invalid(Box::new(Located::new(
            origin,
            src,
            span,
            with_path(&e.message, &e.path),
            e.help,
        )))
    })
}

/// Reads and validates the config file at `path`, and lists what in it is valid but probably
/// not what was meant (see [`parse_with_warnings`]).
pub fn load_with_warnings(
    path: &Path,
    reference: chrono::DateTime<chrono::Utc>,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with_warnings(&src, &path.display().to_string(), reference)
}

/// [`parse`], plus warnings: deciding rules that can never decide, windows that never open
/// (or lose a day to a DST gap) in the year from `reference`, clamps that contradict each
/// other. Each warning carries the line it is about.
pub fn parse_with_warnings(
    src: &str,
    origin: &str,
    reference: chrono::DateTime<chrono::Utc>,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    let cfg = parse(src, origin)?;
    let mut warnings: Vec<Warning> = warnings::warnings(&cfg, reference)
        .into_iter()
        .map(|w| {
            let span = validate::span_of(src, &w);
            let at = Located::new(origin, src, span, String::new(), None);
            Warning {
                origin: origin.to_string(),
                line: at.line,
                column: at.column,
                message: with_path(&w.message, &w.path),
                help: w.help,
            }
        })
        .collect();
    warnings.sort_by_key(|w| (w.line, w.column));
    Ok((cfg, warnings))
}

/// `message (at `path`)`, or the bare message for an error about the whole file.
fn with_path(message: &str, path: &[PathSeg]) -> String {
    if path.is_empty() || message.contains(&format!("`{}`", display_path(path))) {
        message.to_string()
    } else {
        format!("{message} (at `{}`)", display_path(path))
    }
}

/// The JSON Schema of the config file.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RawConfig);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

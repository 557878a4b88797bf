//! The config file: TOML schema (serde, `deny_unknown_fields`), defaults, validation, located
//! errors and the JSON Schema. See `docs/policy.md` and `config/s3prio.example.toml`.

mod error;
mod overrides;
mod raw;
mod validate;
mod warnings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{did_you_mean, display_path, ConfigError, Located, PathSeg, Warning};
pub use overrides::Overrides;
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
    /// The `[[targets]]` tables; with target sets, the running daemon adds the discovered ones.
    pub targets: Vec<Target>,
    pub target_sets: Vec<TargetSetConfig>,
    pub policy: Arc<Policy>,
}

/// A `[[target_sets]]` table: which accounts of the organization, times which regions, through
/// which role, discovered how often.
#[derive(Debug, Clone)]
pub struct TargetSetConfig {
    pub set: crate::discovery::TargetSet<Pacing>,
    pub discovery_interval: Duration,
    pub organizations_endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
}

/// The pace, retries and timeout every target of a set gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    pub rate_limit: RateLimit,
    pub backoff: Backoff,
    pub request_timeout: Duration,
}

impl TargetSetConfig {
    pub fn name(&self) -> &str {
        &self.set.name
    }

    /// The targets the set makes of the listed accounts (ACTIVE, filtered), sorted by name.
    pub fn targets(&self, accounts: &[crate::discovery::OrgAccount]) -> Vec<Target> {
        crate::discovery::expand(&self.set, accounts)
            .into_iter()
            .map(|d| self.target(d))
            .collect()
    }

    pub fn target(&self, d: crate::discovery::DiscoveredTarget<Pacing>) -> Target {
        Target {
            name: d.name,
            account_id: d.account_id,
            region: d.region,
            role_arn: Some(d.role_arn),
            endpoint_url: d.endpoint_url,
            sts_endpoint_url: self.sts_endpoint_url.clone(),
            origin: Some(d.set),
            rate_limit: d.pacing.rate_limit,
            backoff: d.pacing.backoff,
            request_timeout: d.pacing.request_timeout,
        }
    }

    /// Whether `other` describes the same set (a reload that changes nothing here keeps the
    /// set's discovery running and its targets as they are).
    pub fn same_as(&self, other: &TargetSetConfig) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
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
    /// A file holding the bearer token `POST /reconcile` requires. Without it, only loopback
    /// clients may ask for a cycle.
    pub reconcile_token_file: Option<PathBuf>,
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
    /// Where `role_arn` is assumed (an STS VPC endpoint, or the emulator); default: AWS STS.
    pub sts_endpoint_url: Option<String>,
    /// The target set that discovered it; `None` for a `[[targets]]` table.
    pub origin: Option<String>,
    pub rate_limit: RateLimit,
    pub backoff: Backoff,
    pub request_timeout: Duration,
}

/// The slowest pace a target may be given: the adaptive pace never goes below it.
pub const MIN_REQUESTS_PER_SECOND: f64 = 0.2;
/// The fastest pace a target may be given. The timers that space calls tick every
/// millisecond, so a pace above 1,000 per second sends several calls per tick: its burst must
/// hold them (see [`min_burst`]).
pub const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;
/// The fastest write pace: its bucket holds one call, so one call per timer tick at most.
pub const MAX_WRITE_REQUESTS_PER_SECOND: f64 = 1000.0;
/// The largest burst a target may be given.
pub const MAX_BURST: u32 = 10_000;
/// A burst holds at least the calls of this long at the target's pace.
pub const MIN_BURST_WINDOW: Duration = Duration::from_millis(2);

/// The smallest burst that keeps a pace of `rps`: the calls of [`MIN_BURST_WINDOW`], so a
/// timer tick that comes late costs no calls.
pub fn min_burst(rps: f64) -> u32 {
    (rps * MIN_BURST_WINDOW.as_secs_f64()).ceil().max(1.0) as u32
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub requests_per_second: f64,
    pub burst: u32,
    pub write_requests_per_second: Option<f64>,
}

pub use crate::backoff::Backoff;

/// The largest config file s3prio reads. A policy of thousands of rules is a few hundred KiB;
/// anything larger is not a config file (or not one a person can review).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads the config file's bytes: every command and the daemon's reload read it this one way.
///
/// Refuses what is not a regular file after following symlinks (a FIFO would block the
/// reader until a writer comes, `/dev/zero` never ends, a directory is not a config), and
/// files larger than [`MAX_CONFIG_BYTES`]. Blocking: async callers run it on a blocking thread.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_regular(&meta).map_err(io)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been swapped between the two looks: judge what was opened.
    check_regular(&file.metadata().map_err(io)?).map_err(io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(1 << 20));
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is larger than {} KiB, the limit for a config file; is this the right file?",
                MAX_CONFIG_BYTES / 1024
            ),
        )));
    }
    Ok(bytes)
}

fn check_regular(meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; point the path at the TOML file itself"),
    ))
}

/// The config text of `bytes`, or a located error at the first byte that is not UTF-8 (TOML
/// is UTF-8; a file saved in Latin-1 is refused, never read lossily).
pub fn decode<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        // The valid prefix is the same in the lossy text, so `at` locates the byte there too.
        let lossy = String::from_utf8_lossy(bytes);
        ConfigError::Invalid(Box::new(Located::new(
            origin,
            &lossy,
            at..at + 1,
            format!(
                "the file is not valid UTF-8 (byte 0x{:02X})",
                bytes.get(at).copied().unwrap_or(0)
            ),
            Some("save the file as UTF-8 (TOML files are UTF-8)".to_string()),
        )))
    })
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, Overrides::default())
}

/// [`load`], with the command line's overrides applied.
pub fn load_with(path: &Path, overrides: Overrides) -> Result<Config, ConfigError> {
    let bytes = read_bytes(path)?;
    let origin = path.display().to_string();
    Ok(overrides.apply(parse(decode(&bytes, &origin)?, &origin)?))
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
    let bytes = read_bytes(path)?;
    let origin = path.display().to_string();
    parse_with_warnings(decode(&bytes, &origin)?, &origin, reference)
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

#[cfg(test)]
pub(crate) mod tests;

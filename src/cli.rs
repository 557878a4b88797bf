//! The command line: subcommands and their flags. Each command is implemented in the library;
//! `main.rs` only dispatches and maps errors to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `s3prio --version`: the package version and the source revision it was built from (see
/// `build.rs`), e.g. `s3prio 0.1.0 (revision 87647cbe72e9)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("S3PRIO_REVISION"),
    ")"
);

/// s3prio keeps Amazon S3 Batch Operations job priorities where a policy says they should be.
///
/// Start with `s3prio demo` (no AWS account needed), then `s3prio check` and `s3prio plan` on
/// your own config.
#[derive(Debug, Parser)]
#[command(name = "s3prio", version = VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file; print a one-line summary, or the located error (exit status 78).
    /// Warnings go to stderr, one line each (exit 0; 78 with --strict). --calendar lists when
    /// each window opens and closes.
    Check(CheckArgs),
    /// Show what would change and why: against a job snapshot (--jobs) or the live targets.
    Plan(PlanArgs),
    /// Show, for one job, every rule in order with each condition's result and the outcome.
    Explain(ExplainArgs),
    /// Run one reconcile cycle for every target and exit (use `run` for the service).
    Apply(ApplyArgs),
    /// Run the daemon: reconcile on the configured cadence, hot-reload the config file.
    Run(RunArgs),
    /// Print the JSON Schema of the config file (for editors such as taplo / Even Better TOML).
    Schema,
    /// Run the built-in S3 Control emulator (an HTTP server speaking the S3 Control job API).
    Emulator(EmulatorArgs),
    /// Start the emulator with a realistic population and run the daemon against it.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The config file to validate.
    #[arg(long, short, env = "S3PRIO_CONFIG")]
    pub config: PathBuf,
    /// Treat warnings as errors: exit with status 78 when there is any.
    #[arg(long)]
    pub strict: bool,
    /// Also list, per window, its openings and closings in its zone and in UTC, with DST shifts
    /// and excluded dates.
    #[arg(long)]
    pub calendar: bool,
    /// Start the calendar (and the year of window warnings) at this instant (RFC 3339, e.g.
    /// 2026-11-01T00:00:00Z) instead of now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Number of days the calendar covers.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=3660))]
    pub days: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The config file holding the policy.
    #[arg(long, short, env = "S3PRIO_CONFIG")]
    pub config: PathBuf,
    /// A job snapshot (JSON, see docs/snapshot.md). Without it, the live targets are read
    /// (read-only: no write is made).
    #[arg(long)]
    pub jobs: Option<PathBuf>,
    /// Evaluate the policy at this instant (RFC 3339, e.g. 2026-12-01T15:00:00Z) instead of now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Plan one job only, read with DescribeJob (and its tags) instead of listing the account.
    #[arg(long, value_name = "JOB_ID", conflicts_with = "jobs")]
    pub job: Option<String>,
    /// Progress lines on stderr while the live targets are read: `auto` (on a terminal only),
    /// `always`, `never`.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

/// When to show progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The config file holding the policy.
    #[arg(long, short, env = "S3PRIO_CONFIG")]
    pub config: PathBuf,
    /// A job snapshot (JSON). Without it, the job is read from the live targets.
    #[arg(long)]
    pub jobs: Option<PathBuf>,
    /// Evaluate the policy at this instant (RFC 3339) instead of now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// The job id to explain.
    pub job_id: String,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The config file holding the policy and targets.
    #[arg(long, short, env = "S3PRIO_CONFIG")]
    pub config: PathBuf,
    /// Run exactly one cycle and exit (the only mode of `apply`; kept explicit for scripts).
    #[arg(long)]
    pub once: bool,
    /// Compute and log the changes but make no write.
    #[arg(long)]
    pub dry_run: bool,
    /// Log format: json or text (default: text on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Progress lines on stderr: `auto` (on a terminal only), `always`, `never`.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file holding the policy and targets; edits are reloaded live.
    #[arg(long, short, env = "S3PRIO_CONFIG")]
    pub config: PathBuf,
    /// Compute and log the changes but make no write.
    #[arg(long)]
    pub dry_run: bool,
    /// Log format: json or text (default: text on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// A loop that makes no progress for this long turns /healthz 503 and stops the watchdog
    /// pings (default: derived from each target's request_timeout and backoff). For tests.
    #[arg(long, env = "S3PRIO_STUCK_AFTER", hide = true, value_parser = parse_positive_duration)]
    pub stuck_after: Option<std::time::Duration>,
    /// Run only the targets whose name hashes to shard I of N (rendezvous hashing), e.g. 0/3.
    /// Without it, a StatefulSet pod's ordinal is the index when S3PRIO_SHARD_FROM_POD_NAME
    /// (the pod's name) and S3PRIO_SHARD_COUNT (the replicas) are set; else every target runs.
    #[arg(long, env = "S3PRIO_SHARD", value_name = "I/N")]
    pub shard: Option<String>,
}

/// A duration in the grammar of the config file ("500ms", "1.5s", "10m", "1h30m").
fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse_duration(s)
}

fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match crate::duration::parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero, e.g. \"30s\"".to_string()),
        d => Ok(d),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Json,
    Text,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Number of jobs to create at start (for the account given by --account-id).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Seed of the generated population (same seed, same jobs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Account that owns the generated jobs.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// Token-bucket rate limit per account, in requests per second (unset: no throttling).
    #[arg(long)]
    pub throttle_rps: Option<f64>,
    /// Token-bucket burst per account (default: the rate, rounded up).
    #[arg(long)]
    pub throttle_burst: Option<u32>,
    /// Fraction (0..1) of requests answered with InternalServiceException or a dropped connection.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Latency added to every response, e.g. "20ms" or "1.5s".
    #[arg(long, value_parser = parse_duration_arg)]
    pub latency: Option<std::time::Duration>,
    /// Keep the jobs in this file across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Simulated time runs this many times faster than the wall clock (job progress, status flow).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Serve AWS Organizations and STS with an organization of this many accounts, the
    /// --account-id one being its management account; each holds its own jobs and a role that
    /// can be assumed (--org-role).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::emulator::MAX_GENERATED_ACCOUNTS as u64))]
    pub org_accounts: Option<u64>,
    /// Organizational units to spread the accounts over (half under the root, half nested).
    #[arg(long, default_value_t = 0, requires = "org_accounts")]
    pub org_ous: usize,
    /// Jobs generated in every member account (the management account's come from --jobs).
    #[arg(long, default_value_t = 0, requires = "org_accounts")]
    pub org_jobs_per_account: usize,
    /// The role assumable in every account: arn:aws:iam::ACCOUNT:role/NAME.
    #[arg(long, default_value = crate::emulator::DEFAULT_ROLE_NAME, requires = "org_accounts")]
    pub org_role: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo policy (default: the embedded config/demo.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this long (e.g. "60s" or "1.5m"); default: run until Ctrl-C.
    #[arg(long, value_parser = parse_positive_duration)]
    pub duration: Option<std::time::Duration>,
}

fn parse_rfc3339(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            format!("`{s}` is not an RFC 3339 instant ({e}); example: 2026-12-01T15:00:00Z")
        })
}

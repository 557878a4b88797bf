//! Every metric s3prio exports, in one registry. Each event that is counted here is also logged
//! by its caller, so a line in the log and a sample in `/metrics` always agree.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

/// The outcome of one S3 Control API call, as a metric label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CallOutcome {
    ok,
    throttled,
    not_found,
    bad_request,
    server_error,
    network_error,
    credentials_error,
    /// The response could not be used (not parseable, over the size cap, endless paging).
    bad_response,
    other_error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub target: String,
    pub operation: &'static str,
    pub outcome: CallOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabels {
    pub target: String,
    pub rule: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub target: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub shard: String,
    pub shards: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetLabels {
    pub set: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DiscoveryLabels {
    pub set: String,
    pub outcome: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

fn delay_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The daemon's metrics. Cheap to share (`Arc<Metrics>`); every field is internally atomic.
#[derive(Debug)]
pub struct Metrics {
    pub api_requests: Family<ApiLabels, Counter>,
    pub throttled: Family<TargetLabels, Counter>,
    pub priority_changes: Family<ChangeLabels, Counter>,
    pub jobs: Family<JobLabels, Gauge>,
    pub reconcile_duration: Family<TargetLabels, Histogram, fn() -> Histogram>,
    pub last_successful_reconcile: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    pub reconcile_failures: Family<TargetLabels, Counter>,
    pub config_last_reload_successful: Gauge<i64, AtomicI64>,
    pub config_reloads: Counter,
    pub rate_limit_current_rps: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    pub blast_radius_blocked: Family<TargetLabels, Counter>,
    pub hands_off_jobs: Family<TargetLabels, Gauge>,
    pub read_backlog: Family<TargetLabels, Gauge>,
    pub credential_errors: Family<TargetLabels, Counter>,
    pub retry_delay: Family<TargetLabels, Histogram, fn() -> Histogram>,
    pub target_loop_panics: Family<TargetLabels, Counter>,
    pub http_connections_refused: Counter,
    pub target_available: Family<TargetLabels, Gauge>,
    pub shard_info: Family<ShardLabels, Gauge>,
    pub targets: Family<KindLabels, Gauge>,
    pub discovery_runs: Family<DiscoveryLabels, Counter>,
    pub discovery_targets: Family<SetLabels, Gauge>,
    pub registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("s3prio");
        let config_last_reload_successful = Gauge::<i64, AtomicI64>::default();
        config_last_reload_successful.set(1);
        Metrics {
            api_requests: register(&mut r, "api_requests", Default::default()),
            throttled: register(&mut r, "throttled", Default::default()),
            priority_changes: register(&mut r, "priority_changes", Default::default()),
            jobs: register(&mut r, "jobs", Default::default()),
            reconcile_duration: register(
                &mut r,
                "reconcile_duration_seconds",
                Family::new_with_constructor(duration_histogram),
            ),
            last_successful_reconcile: register(
                &mut r,
                "last_successful_reconcile_timestamp_seconds",
                Default::default(),
            ),
            reconcile_failures: register(&mut r, "reconcile_failures", Default::default()),
            config_last_reload_successful: register(
                &mut r,
                "config_last_reload_successful",
                config_last_reload_successful,
            ),
            config_reloads: register(&mut r, "config_reloads", Default::default()),
            rate_limit_current_rps: register(&mut r, "rate_limit_current_rps", Default::default()),
            blast_radius_blocked: register(&mut r, "blast_radius_blocked", Default::default()),
            hands_off_jobs: register(&mut r, "hands_off_jobs", Default::default()),
            read_backlog: register(&mut r, "read_backlog", Default::default()),
            credential_errors: register(&mut r, "credential_errors", Default::default()),
            retry_delay: register(
                &mut r,
                "retry_delay_seconds",
                Family::new_with_constructor(delay_histogram),
            ),
            target_loop_panics: register(&mut r, "target_loop_panics", Default::default()),
            http_connections_refused: register(
                &mut r,
                "http_connections_refused",
                Default::default(),
            ),
            target_available: register(&mut r, "target_available", Default::default()),
            shard_info: register(&mut r, "shard_info", Default::default()),
            targets: register(&mut r, "targets", Default::default()),
            discovery_runs: register(&mut r, "discovery_runs", Default::default()),
            discovery_targets: register(&mut r, "discovery_targets", Default::default()),
            registry: r,
        }
    }

    /// The OpenMetrics text exposition (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Creates every per-target series at zero, so dashboards and alerts see them from the
    /// start rather than after the first event.
    pub fn init_target(&self, name: &str) {
        let t = Self::target(name);
        drop(self.throttled.get_or_create(&t));
        drop(self.blast_radius_blocked.get_or_create(&t));
        drop(self.reconcile_failures.get_or_create(&t));
        drop(self.credential_errors.get_or_create(&t));
        drop(self.target_loop_panics.get_or_create(&t));
        drop(self.hands_off_jobs.get_or_create(&t));
        drop(self.read_backlog.get_or_create(&t));
        drop(self.last_successful_reconcile.get_or_create(&t));
        drop(self.reconcile_duration.get_or_create(&t));
    }

    /// Creates the change counters of these rules (and of `baseline`, the restore) at zero.
    pub fn init_rules<'a>(&self, target: &str, rules: impl Iterator<Item = &'a str>) {
        for rule in rules.chain(std::iter::once("baseline")) {
            drop(self.priority_changes.get_or_create(&ChangeLabels {
                target: target.to_string(),
                rule: rule.to_string(),
            }));
        }
    }

    /// Drops the per-target series of a target that is no longer managed (it left the
    /// organization, or another shard owns it now). API call counters stay.
    pub fn forget_target(&self, name: &str) {
        let t = Self::target(name);
        self.throttled.remove(&t);
        self.blast_radius_blocked.remove(&t);
        self.reconcile_failures.remove(&t);
        self.credential_errors.remove(&t);
        self.target_loop_panics.remove(&t);
        self.hands_off_jobs.remove(&t);
        self.read_backlog.remove(&t);
        self.last_successful_reconcile.remove(&t);
        self.reconcile_duration.remove(&t);
        self.rate_limit_current_rps.remove(&t);
        self.retry_delay.remove(&t);
        self.target_available.remove(&t);
    }

    pub fn target(name: &str) -> TargetLabels {
        TargetLabels {
            target: name.to_string(),
        }
    }
}

/// Registers `metric` under `name`, with its help text from [`HELP`], and returns it (the
/// registry keeps a clone).
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, metric: M) -> M {
    let help = HELP
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| *h);
    registry.register(name, help, metric.clone());
    metric
}

/// Every metric's name (after the `s3prio_` prefix) and help text.
const HELP: &[(&str, &str)] = &[
    (
        "target_available",
        "1 while the target's client can be set up (credentials, and its role can be assumed); 0 while it cannot (see /readyz for why)",
    ),
    (
        "shard_info",
        "1, labelled with this replica's shard index and the shard count (0/1 when not sharded)",
    ),
    (
        "targets",
        "Targets this replica runs a loop for (kind=owned), and of those the [[targets]] tables (static) and the discovered ones (discovered)",
    ),
    (
        "discovery_runs",
        "Organizations listings of a target set, by outcome (ok, error); after an error the set's last good targets are kept",
    ),
    (
        "discovery_targets",
        "Targets the last good discovery of a set found (before sharding)",
    ),
    (
        "api_requests",
        "S3 Control API calls by target, operation and outcome",
    ),
    (
        "throttled",
        "TooManyRequestsException responses",
    ),
    (
        "priority_changes",
        "UpdateJobPriority writes that succeeded, by rule (\"baseline\" when restored)",
    ),
    (
        "jobs",
        "Jobs seen in the last cycle, by status",
    ),
    (
        "reconcile_duration_seconds",
        "Duration of reconcile cycles",
    ),
    (
        "last_successful_reconcile_timestamp_seconds",
        "Unix time of the last cycle that completed without error",
    ),
    (
        "reconcile_failures",
        "Reconcile cycles that failed",
    ),
    (
        "config_last_reload_successful",
        "1 if the config file, as last read, would load and is what runs (checked at start, on every change to the file, on SIGHUP and every 30 s); 0 if it cannot be read or is invalid: the running policy is then not what the file says",
    ),
    (
        "config_reloads",
        "Config reloads applied",
    ),
    (
        "rate_limit_current_rps",
        "Current request pace per target after throttling adaptation",
    ),
    (
        "blast_radius_blocked",
        "Cycles that made no write because they would have changed more jobs than allowed",
    ),
    (
        "hands_off_jobs",
        "Managed jobs left alone because a person changed their priority",
    ),
    (
        "read_backlog",
        "Reads the last cycle left for later cycles (it was asked to end, or refreshes were over budget)",
    ),
    (
        "credential_errors",
        "Calls that failed because no valid AWS credentials could be loaded, or the service refused them (expired, unknown key, bad signature, access denied)",
    ),
    (
        "retry_delay_seconds",
        "Backoff delays slept before retrying a call",
    ),
    (
        "target_loop_panics",
        "Panics caught in a target's loop (each restarted after a backoff)",
    ),
    (
        "http_connections_refused",
        "Connections to the metrics and health port closed at once because the connection cap was reached",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_its_help_text() {
        // A family is exposed once it has a series: give each one.
        let m = Metrics::new();
        m.init_target("t");
        m.init_rules("t", ["r"].into_iter());
        let t = Metrics::target("t");
        drop(m.api_requests.get_or_create(&ApiLabels {
            target: "t".into(),
            operation: "ListJobs",
            outcome: CallOutcome::ok,
        }));
        drop(m.jobs.get_or_create(&JobLabels {
            target: "t".into(),
            status: "Active".into(),
        }));
        drop(m.rate_limit_current_rps.get_or_create(&t));
        drop(m.retry_delay.get_or_create(&t));
        drop(m.target_available.get_or_create(&t));
        drop(m.shard_info.get_or_create(&ShardLabels {
            shard: "0".into(),
            shards: "1".into(),
        }));
        drop(m.targets.get_or_create(&KindLabels { kind: "owned" }));
        drop(m.discovery_runs.get_or_create(&DiscoveryLabels {
            set: "s".into(),
            outcome: "ok",
        }));
        drop(
            m.discovery_targets
                .get_or_create(&SetLabels { set: "s".into() }),
        );
        let text = m.encode();
        let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
        assert_eq!(helps.len(), HELP.len(), "{text}");
        for (name, help) in HELP {
            let prefix = format!("# HELP s3prio_{name} ");
            let line = helps.iter().find(|l| l.starts_with(&prefix));
            assert!(line.is_some_and(|l| l.contains(help)), "{name}: {line:?}");
        }
    }
}

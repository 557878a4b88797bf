//! The targets that run, and their loops.
//!
//! Two tasks, joined by the running config's channel:
//! - [`compose`]: the config that runs is the file's config with its `[[targets]]` plus every
//!   target set's last good discovery (a static target's name wins over a set's; the first set
//!   to list a name keeps it), kept to the targets this shard owns, sorted by name. Each set is
//!   listed by a discovery task of its own, at its own cadence; a listing that fails keeps the
//!   set's last good targets. A new config is published only when the file's config or the
//!   target list changed.
//! - [`manage`]: one supervised loop per target of the running config. A loop starts when its
//!   target appears and stops by itself when its target goes (see `target_loop`); its health
//!   and metrics are then forgotten.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::target_loop::{self, TargetLoop};
use super::{Clock, OnDemand};
use crate::aws::{MemoryStore, SharedClients};
use crate::config::{Config, Target, TargetSetConfig};
use crate::discovery::{discover, organizations_client, OrgDirectory};
use crate::reconcile::liveness_bound;
use crate::shard::ShardSpec;
use crate::telemetry::metrics::{DiscoveryLabels, KindLabels, SetLabels};
use crate::telemetry::{Heartbeat, Metrics, Telemetry};

/// After a failed listing, a set is listed again this soon (or at its cadence, if sooner).
const DISCOVERY_RETRY: Duration = Duration::from_secs(60);

/// The running config: `file` with its static targets and the discovered ones, those this
/// shard owns, sorted by name.
pub fn running_config(
    file: &Config,
    discovered: &BTreeMap<String, Vec<Target>>,
    shard: ShardSpec,
) -> Config {
    let mut by_name: BTreeMap<String, Target> = BTreeMap::new();
    for t in &file.targets {
        by_name.entry(t.name.clone()).or_insert_with(|| t.clone());
    }
    // Sets in the file's order: the first to list a name keeps it.
    for set in &file.target_sets {
        for t in discovered.get(set.name()).into_iter().flatten() {
            by_name.entry(t.name.clone()).or_insert_with(|| t.clone());
        }
    }
    let mut cfg = file.clone();
    cfg.targets = by_name
        .into_values()
        .filter(|t| shard.owns(&t.name))
        .collect();
    cfg
}

/// One listing of a set, as its discovery task reports it.
struct Found {
    set: String,
    /// The set's definition the listing was made for (a reload may have changed it since).
    definition: Arc<TargetSetConfig>,
    result: Result<Vec<Target>, String>,
}

/// A task aborted when dropped: a set's discovery stops when the set goes or changes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What [`compose`] keeps between events.
struct Composer {
    shard: ShardSpec,
    clients: Arc<SharedClients>,
    metrics: Arc<Metrics>,
    cfg_tx: watch::Sender<Arc<Config>>,
    found_tx: mpsc::Sender<Found>,
    tasks: HashMap<String, (Arc<TargetSetConfig>, Task)>,
    discovered: BTreeMap<String, Vec<Target>>,
}

/// Publishes the running config until shutdown: at every change of the file's config and at
/// every listing of a target set.
pub(super) async fn compose(
    mut file_rx: watch::Receiver<Arc<Config>>,
    cfg_tx: watch::Sender<Arc<Config>>,
    shard: ShardSpec,
    clients: Arc<SharedClients>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let (found_tx, mut found_rx) = mpsc::channel(16);
    let mut c = Composer {
        shard,
        clients,
        metrics,
        cfg_tx,
        found_tx,
        tasks: HashMap::new(),
        discovered: BTreeMap::new(),
    };
    loop {
        let file = file_rx.borrow_and_update().clone();
        c.sync_sets(&file);
        c.publish(&file);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = file_rx.changed() => if r.is_err() { return },
            Some(found) = found_rx.recv() => c.take(found),
        }
    }
}

impl Composer {
    /// Starts discovery for new or changed sets, stops it for sets that went (their targets
    /// go with them).
    fn sync_sets(&mut self, file: &Config) {
        let wanted: HashSet<&str> = file.target_sets.iter().map(|s| s.name()).collect();
        self.tasks.retain(|name, _| wanted.contains(name.as_str()));
        self.discovered
            .retain(|name, _| wanted.contains(name.as_str()));
        for set in &file.target_sets {
            let same = self
                .tasks
                .get(set.name())
                .is_some_and(|(running, _)| running.same_as(set));
            if same {
                continue;
            }
            // A changed set is listed again from scratch; its old targets run until then.
            let definition = Arc::new(set.clone());
            let task = Task(tokio::spawn(discovery_loop(
                definition.clone(),
                self.clients.clone(),
                self.found_tx.clone(),
            )));
            self.tasks
                .insert(set.name().to_string(), (definition, task));
        }
    }

    /// Keeps a listing's targets when it succeeded and is for the set as it is now.
    fn take(&mut self, found: Found) {
        let current = self
            .tasks
            .get(&found.set)
            .is_some_and(|(d, _)| Arc::ptr_eq(d, &found.definition));
        if !current {
            return;
        }
        let outcome = if found.result.is_ok() { "ok" } else { "error" };
        self.metrics
            .discovery_runs
            .get_or_create(&DiscoveryLabels {
                set: found.set.clone(),
                outcome,
            })
            .inc();
        match found.result {
            Ok(targets) => {
                self.metrics
                    .discovery_targets
                    .get_or_create(&SetLabels {
                        set: found.set.clone(),
                    })
                    .set(targets.len() as i64);
                let before = self.discovered.get(&found.set).map(Vec::len);
                if before != Some(targets.len()) {
                    tracing::info!(set = %found.set, targets = targets.len(), before = ?before, "target set discovered");
                }
                self.discovered.insert(found.set, targets);
            }
            Err(e) => {
                let kept = self.discovered.get(&found.set).map_or(0, Vec::len);
                tracing::error!(set = %found.set, error = %e, kept_targets = kept, "discovery failed; the set's last good targets are kept");
            }
        }
    }

    /// Sends the running config when it differs from the one that runs.
    fn publish(&self, file: &Config) {
        let next = running_config(file, &self.discovered, self.shard);
        let statics = next.targets.iter().filter(|t| t.origin.is_none()).count();
        let set_kind = |kind, n: usize| {
            self.metrics
                .targets
                .get_or_create(&KindLabels { kind })
                .set(n as i64)
        };
        set_kind("owned", next.targets.len());
        set_kind("static", statics);
        set_kind("discovered", next.targets.len() - statics);
        self.cfg_tx.send_if_modified(|cur| {
            let same = Arc::ptr_eq(&cur.policy, &next.policy)
                && cur.reconcile == next.reconcile
                && cur.targets == next.targets;
            if !same {
                *cur = Arc::new(next);
            }
            !same
        });
    }
}

/// Lists every target set of `file` once (for one-shot commands): the targets of each set.
pub async fn discover_once(
    file: &Config,
    clients: &SharedClients,
) -> Result<BTreeMap<String, Vec<Target>>, crate::discovery::DiscoveryError> {
    let mut out = BTreeMap::new();
    for set in &file.target_sets {
        out.insert(set.name().to_string(), list_set(set, clients).await?);
    }
    Ok(out)
}

/// One listing of `set`: its targets.
async fn list_set(
    set: &TargetSetConfig,
    clients: &SharedClients,
) -> Result<Vec<Target>, crate::discovery::DiscoveryError> {
    let client = organizations_client(
        clients.sdk_config().await,
        set.organizations_endpoint_url.as_deref(),
    );
    let d = discover(&OrgDirectory::new(client), &set.set).await?;
    tracing::debug!(set = %set.name(), accounts = d.accounts_listed, requests = d.requests, "organization listed");
    Ok(d.targets.into_iter().map(|t| set.target(t)).collect())
}

/// Lists one set at its cadence until aborted, reporting every listing.
async fn discovery_loop(
    set: Arc<TargetSetConfig>,
    clients: Arc<SharedClients>,
    found_tx: mpsc::Sender<Found>,
) {
    loop {
        let started = Instant::now();
        let result = list_set(&set, &clients).await.map_err(|e| e.to_string());
        let wait = if result.is_ok() {
            set.discovery_interval
        } else {
            set.discovery_interval.min(DISCOVERY_RETRY)
        };
        let found = Found {
            set: set.name().to_string(),
            definition: set.clone(),
            result,
        };
        if found_tx.send(found).await.is_err() {
            return;
        }
        tokio::time::sleep_until(started + wait).await;
    }
}

/// What every target loop is started with.
pub(super) struct LoopFactory {
    pub cfg_rx: watch::Receiver<Arc<Config>>,
    pub on_demand: watch::Sender<OnDemand>,
    pub cron_rx: watch::Receiver<u64>,
    pub telemetry: Telemetry,
    pub store: Arc<MemoryStore>,
    pub clients: Arc<SharedClients>,
    pub clock: Clock,
    pub shutdown: CancellationToken,
    pub stuck_after: Option<Duration>,
    /// The start of every loop's cadence grid (see `target_loop`).
    pub epoch: Instant,
}

impl LoopFactory {
    fn spawn(&self, target: &Target, loops: &mut JoinSet<(String, Arc<Heartbeat>)>) {
        let health = &self.telemetry.health;
        health.register_target(&target.name);
        let hb = Arc::new(Heartbeat::new(
            &format!("target {}", target.name),
            self.stuck_after.unwrap_or_else(|| liveness_bound(target)),
        ));
        health.register_loop(hb.clone());
        let l = TargetLoop {
            target_name: target.name.clone(),
            cfg_rx: self.cfg_rx.clone(),
            on_demand: self.on_demand.subscribe(),
            cron_rx: self.cron_rx.clone(),
            telemetry: self.telemetry.clone(),
            store: self.store.clone(),
            clients: self.clients.clone(),
            clock: self.clock,
            shutdown: self.shutdown.clone(),
            heartbeat: hb.clone(),
            stuck_after: self.stuck_after,
            epoch: self.epoch,
        };
        let name = target.name.clone();
        loops.spawn(async move {
            target_loop::run_supervised(l).await;
            (name, hb)
        });
    }
}

/// Runs a loop for every target of the running config until shutdown, then waits for the
/// loops to finish (the caller bounds that wait).
pub(super) async fn manage(f: LoopFactory) {
    let mut cfg_rx = f.cfg_rx.clone();
    let mut loops = JoinSet::new();
    let mut running: HashSet<String> = HashSet::new();
    loop {
        let cfg = cfg_rx.borrow_and_update().clone();
        for t in &cfg.targets {
            if !running.contains(&t.name) {
                running.insert(t.name.clone());
                f.spawn(t, &mut loops);
            }
        }
        tokio::select! {
            _ = f.shutdown.cancelled() => break,
            r = cfg_rx.changed() => if r.is_err() { break },
            Some(done) = loops.join_next() => {
                if let Ok((name, hb)) = done {
                    running.remove(&name);
                    f.telemetry.health.forget_target(&name, &hb);
                    f.telemetry.metrics.forget_target(&name);
                    tracing::info!(target_name = %name, "target no longer managed here; its loop stopped");
                }
            }
        }
    }
    while loops.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(src: &str) -> Config {
        crate::config::parse(src, "test.toml").unwrap_or_else(|e| panic!("config:\n{e}"))
    }

    const SETS: &str = r#"
[[targets]]
account_id = "111111111111"
region = "eu-west-1"

[[target_sets]]
name = "first"
role_arn = "arn:aws:iam::{account_id}:role/s3prio"
regions = ["eu-west-1"]

[[target_sets]]
name = "second"
role_arn = "arn:aws:iam::{account_id}:role/other"
regions = ["eu-west-1", "us-east-1"]
"#;

    fn found(cfg: &Config, set: usize, accounts: &[&str]) -> Vec<Target> {
        let accounts: Vec<_> = accounts
            .iter()
            .map(|id| crate::discovery::OrgAccount {
                id: id.to_string(),
                name: format!("acct-{id}"),
                status: crate::discovery::AccountStatus::Active,
                parent: None,
            })
            .collect();
        cfg.target_sets[set].targets(&accounts)
    }

    #[test]
    fn static_targets_win_then_the_first_set_and_the_list_is_sorted() {
        let file = config(SETS);
        let mut discovered = BTreeMap::new();
        discovered.insert(
            "second".to_string(),
            found(&file, 1, &["111111111111", "222222222222"]),
        );
        discovered.insert("first".to_string(), found(&file, 0, &["222222222222"]));
        let cfg = running_config(&file, &discovered, ShardSpec::WHOLE);
        let got: Vec<_> = cfg
            .targets
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.origin.as_deref(),
                    t.role_arn.as_deref().unwrap_or("-"),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("111111111111/eu-west-1", None, "-"),
                (
                    "111111111111/us-east-1",
                    Some("second"),
                    "arn:aws:iam::111111111111:role/other"
                ),
                (
                    "222222222222/eu-west-1",
                    Some("first"),
                    "arn:aws:iam::222222222222:role/s3prio"
                ),
                (
                    "222222222222/us-east-1",
                    Some("second"),
                    "arn:aws:iam::222222222222:role/other"
                ),
            ]
        );
    }

    #[test]
    fn shards_split_the_running_targets_without_overlap() {
        let file = config(SETS);
        let ids: Vec<String> = (0..50)
            .map(|i| format!("{:012}", 300_000_000_000u64 + i))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut discovered = BTreeMap::new();
        discovered.insert("second".to_string(), found(&file, 1, &refs));
        let whole = running_config(&file, &discovered, ShardSpec::WHOLE);
        let mut seen = HashSet::new();
        for i in 0..3 {
            let shard = ShardSpec::try_new(i, 3, "test").expect("shard");
            let part = running_config(&file, &discovered, shard);
            assert!(!part.targets.is_empty(), "shard {i} owns nothing");
            for t in part.targets {
                assert!(seen.insert(t.name.clone()), "{} owned twice", t.name);
            }
        }
        assert_eq!(seen.len(), whole.targets.len());
    }
}

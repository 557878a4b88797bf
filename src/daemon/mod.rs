//! The long-running service: one reconcile loop per target (`target_loop`), triggers, hot
//! reload, systemd notifications, graceful shutdown.

pub mod clock;
mod cron;
pub mod fleet;
pub mod notify;
pub mod on_demand;
pub mod reload;
mod signals;
mod target_loop;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;
pub use signals::{Sig, Signals};

use crate::aws::{ClientOverrides, MemoryStore, SharedClients};
use crate::config::{Cadence, Config, ConfigError, Overrides};
use crate::shard::ShardSpec;
use crate::telemetry::http::{HttpLimits, HttpOptions, HttpServer};
use crate::telemetry::{Health, Metrics, Telemetry};

/// On-demand requests (SIGUSR1, `POST /reconcile`): counters the target loops watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnDemand {
    /// Bumped for every request: every loop runs a cycle now.
    pub cycles: u64,
    /// Bumped when the request asks for every known tag set to be read again.
    pub tag_refreshes: u64,
}

/// Why the daemon could not start. Everything after start is logged and retried instead.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] crate::aws::memory::StoreError),
    #[error("cannot listen on {addr} for metrics and health: {source}. Fix: change [http] listen, or stop what uses the port")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Shard(#[from] crate::shard::ShardError),
    #[error("{}: error: cannot use the bearer token file of [http] reconcile_token_file: {reason}", path.display())]
    Token { path: PathBuf, reason: String },
}

/// How to run the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_path: PathBuf,
    pub dry_run: bool,
    pub overrides: ClientOverrides,
    pub clock: Clock,
    /// Handle SIGTERM/SIGINT/SIGHUP/SIGUSR1 (off when embedded in tests).
    pub signals: bool,
    /// A loop silent for this long is stuck (default: derived from each target's settings,
    /// see `reconcile::liveness_bound`). For tests of liveness.
    pub stuck_after: Option<Duration>,
    /// The targets this replica owns (`--shard I/N`); the whole by default.
    pub shard: ShardSpec,
}

impl DaemonOptions {
    pub fn new(config_path: PathBuf) -> Self {
        DaemonOptions {
            config_path,
            dry_run: false,
            overrides: ClientOverrides::default(),
            clock: Clock::real(),
            signals: true,
            stuck_after: None,
            shard: ShardSpec::WHOLE,
        }
    }
}

/// How long a successful cycle keeps the daemon ready.
fn ready_max_age(cfg: &Config) -> Duration {
    match &cfg.reconcile.cadence {
        Cadence::Interval(d) => (*d * 3).max(Duration::from_secs(60)) + Duration::from_secs(60),
        Cadence::Cron(_) => Duration::from_secs(3 * 3600),
    }
}

fn status_line(cfg: &Config) -> String {
    format!(
        "running: {} target(s), {} rule(s){}",
        cfg.targets.len(),
        cfg.policy.rule_count(),
        if cfg.reconcile.dry_run {
            ", dry run"
        } else {
            ""
        }
    )
}

/// Loads the config at start (with the command line's overrides), off the runtime's threads:
/// the same read and parse as `check`. Errors carry file:line:col.
pub async fn load_config(
    path: &std::path::Path,
    overrides: Overrides,
) -> Result<(reload::ConfigSource, Config), ConfigError> {
    reload::ConfigSource::load_async(path, overrides).await
}

/// Runs until `shutdown` is cancelled (or SIGTERM/SIGINT when `signals` is on). Returns after
/// the loops stopped, or gave up on in-flight writes after `reconcile.shutdown_timeout`.
pub async fn run(
    opts: DaemonOptions,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let signals = if opts.signals {
        Some(Signals::install().map_err(DaemonError::Signals)?)
    } else {
        None
    };
    let overrides = Overrides {
        dry_run: opts.dry_run,
    };
    let (source, cfg) = load_config(&opts.config_path, overrides).await?;
    run_loaded(opts, source, cfg, signals, telemetry, shutdown).await
}

/// [`run`] with the config already loaded and the signal handlers already installed (the
/// binary installs them before anything else, so a signal during start-up is handled, not
/// fatal; `opts.signals` is then ignored).
pub async fn run_loaded(
    opts: DaemonOptions,
    source: reload::ConfigSource,
    cfg: Config,
    mut signals: Option<Signals>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    telemetry.metrics.config_last_reload_successful.set(1);
    let store = open_store(&cfg).await?;
    let (on_demand, _) = watch::channel(OnDemand::default());
    let gate = on_demand::RequestGate::new(on_demand.clone(), on_demand::MIN_INTERVAL);
    let http = serve_http(&cfg, &telemetry, &gate, &shutdown).await?;
    telemetry.health.set_config_loaded();

    let shutdown_timeout = cfg.reconcile.shutdown_timeout;
    set_shard_info(&telemetry.metrics, opts.shard);
    let running = fleet::running_config(&cfg, &Default::default(), opts.shard);
    let (file_tx, file_rx) = watch::channel(Arc::new(cfg));
    let (cfg_tx, cfg_rx) = watch::channel(Arc::new(running));
    let mut loops = spawn_loops(
        &opts, file_rx, cfg_tx, &on_demand, store, &telemetry, &shutdown,
    );
    let mut reloader = Reloader {
        source,
        cfg_tx: file_tx,
        metrics: telemetry.metrics.clone(),
        ready_max_age_secs: http.ready_max_age_secs.clone(),
        watcher: watch_config(&opts.config_path),
    };
    // Watching starts before READY=1, and the file is looked at once more, so an edit made
    // while the daemon started is never missed.
    reloader.reload(reload::Trigger::Watch).await;
    let status = status_line(&cfg_rx.borrow());
    tracing::info!(shard = %opts.shard, "shard");
    notify::ready(&status);
    tracing::info!(%status, "s3prio started");
    if let Some(interval) = notify::watchdog_interval() {
        loops.spawn(watchdog_task(
            interval / 2,
            telemetry.health.clone(),
            shutdown.clone(),
        ));
    }

    supervise(&mut reloader, signals.as_mut(), &gate, &shutdown).await;
    notify::stopping();
    drain(loops, shutdown_timeout).await;
    drop(reloader);
    http.join().await;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the baseline store, reading the state file off the runtime's threads.
async fn open_store(cfg: &Config) -> Result<Arc<MemoryStore>, DaemonError> {
    let baseline = cfg.baseline.clone();
    let store = tokio::task::spawn_blocking(move || MemoryStore::open(&baseline))
        .await
        .map_err(|e| {
            DaemonError::Store(crate::aws::memory::StoreError::Io {
                path: cfg.baseline.state_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            })
        })??;
    if cfg.baseline.stores.is_empty() {
        tracing::warn!("no baseline store is configured: baselines are kept in memory only and are lost on restart");
    }
    Ok(Arc::new(store))
}

/// Serves /metrics, /healthz, /readyz and `POST /reconcile` (through the daemon's gate).
async fn serve_http(
    cfg: &Config,
    telemetry: &Telemetry,
    gate: &Arc<on_demand::RequestGate>,
    shutdown: &CancellationToken,
) -> Result<HttpServer, DaemonError> {
    let reconcile_token = match &cfg.http.reconcile_token_file {
        Some(path) => Some(token::read_token(path).await?),
        None => None,
    };
    let gate = gate.clone();
    let http = crate::telemetry::http::serve(
        HttpOptions {
            listen: cfg.http.listen,
            ready_max_age: ready_max_age(cfg),
            reconcile_token,
            limits: HttpLimits::default(),
        },
        telemetry.metrics.clone(),
        telemetry.health.clone(),
        Arc::new(move |refresh_tags| gate.request(refresh_tags)),
        shutdown.clone(),
    )
    .await
    .map_err(|source| DaemonError::Listen {
        addr: cfg.http.listen,
        source,
    })?;
    tracing::info!(addr = %http.addr, "serving /metrics, /healthz, /readyz, POST /reconcile");
    Ok(http)
}

/// The cron task, the composer of the running config (static targets, discovered ones, this
/// shard's share) and the manager of one supervised loop per running target.
fn spawn_loops(
    opts: &DaemonOptions,
    file_rx: watch::Receiver<Arc<Config>>,
    cfg_tx: watch::Sender<Arc<Config>>,
    on_demand: &watch::Sender<OnDemand>,
    store: Arc<MemoryStore>,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> JoinSet<()> {
    let mut loops = JoinSet::new();
    let cfg_rx = cfg_tx.subscribe();
    // Cron cadence: a UTC schedule on the daemon's clock that only signals the loops.
    let (cron_tx, cron_rx) = watch::channel(0u64);
    loops.spawn(cron::run(
        cfg_rx.clone(),
        cron_tx,
        opts.clock,
        shutdown.clone(),
    ));
    let clients = Arc::new(SharedClients::new(opts.overrides.clone()));
    loops.spawn(fleet::compose(
        file_rx,
        cfg_tx,
        opts.shard,
        clients.clone(),
        telemetry.metrics.clone(),
        shutdown.clone(),
    ));
    loops.spawn(fleet::manage(fleet::LoopFactory {
        cfg_rx,
        on_demand: on_demand.clone(),
        cron_rx,
        telemetry: telemetry.clone(),
        store,
        clients,
        clock: opts.clock,
        shutdown: shutdown.clone(),
        stuck_after: opts.stuck_after,
        epoch: tokio::time::Instant::now(),
    }));
    loops
}

/// `s3prio_shard_info{shard, shards} 1`: every replica's metrics say which share it runs.
fn set_shard_info(metrics: &Metrics, shard: ShardSpec) {
    metrics
        .shard_info
        .get_or_create(&crate::telemetry::metrics::ShardLabels {
            shard: shard.index().to_string(),
            shards: shard.count().to_string(),
        })
        .set(1);
}

/// Watches the config file; without a watcher the file is still looked at on a timer.
fn watch_config(path: &std::path::Path) -> Option<reload::ConfigWatcher> {
    match reload::ConfigWatcher::new(path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; it is looked at every {} s and on SIGHUP", reload::RECHECK_INTERVAL.as_secs());
            None
        }
    }
}

/// What a reload touches: the file, the running config, the gauges, the readiness bound.
struct Reloader {
    source: reload::ConfigSource,
    cfg_tx: watch::Sender<Arc<Config>>,
    metrics: Arc<Metrics>,
    ready_max_age_secs: Arc<std::sync::atomic::AtomicU64>,
    watcher: Option<reload::ConfigWatcher>,
}

impl Reloader {
    async fn reload(&mut self, trigger: reload::Trigger) {
        if let Some(w) = self.watcher.as_mut() {
            w.refresh();
        }
        self.source
            .reload(&self.cfg_tx, &self.metrics, trigger)
            .await;
        self.ready_max_age_secs.store(
            ready_max_age(&self.cfg_tx.borrow()).as_secs(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Resolves when the watcher saw the file change (never without a watcher).
    async fn changed(&mut self) -> Option<()> {
        match self.watcher.as_mut() {
            Some(w) => w.changed().await,
            None => std::future::pending().await,
        }
    }
}

/// Reloads on file changes, on a timer and on SIGHUP; requests a cycle on SIGUSR1; returns on
/// shutdown or SIGTERM/SIGINT.
async fn supervise(
    reloader: &mut Reloader,
    mut signals: Option<&mut Signals>,
    gate: &Arc<on_demand::RequestGate>,
    shutdown: &CancellationToken,
) {
    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + reload::RECHECK_INTERVAL,
        reload::RECHECK_INTERVAL,
    );
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next_signal = async {
            match signals.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some(()) = reloader.changed() => reloader.reload(reload::Trigger::Watch).await,
            _ = recheck.tick() => reloader.reload(reload::Trigger::Watch).await,
            sig = next_signal => match sig {
                Sig::Hup => {
                    tracing::info!("SIGHUP: reloading the config");
                    reloader.reload(reload::Trigger::Signal).await;
                }
                Sig::Usr1 => {
                    let admission = gate.request(true);
                    tracing::info!(?admission, "SIGUSR1: reconcile now, reading every known tag set again");
                }
                Sig::Term => {
                    tracing::info!("shutting down");
                    shutdown.cancel();
                    return;
                }
            },
        }
    }
}

/// Waits for the loops to finish their in-flight calls, up to `timeout`.
async fn drain(mut loops: JoinSet<()>, timeout: Duration) {
    let drained = tokio::time::timeout(timeout, async {
        while loops.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(?timeout, "in-flight calls did not finish within reconcile.shutdown_timeout; abandoned (every write is recorded before it is sent, so no baseline is lost)");
        loops.abort_all();
    }
}

async fn watchdog_task(every: Duration, health: Arc<Health>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                match health.live() {
                    Ok(()) => notify::watchdog(),
                    Err(e) => tracing::error!(error = %e, "a loop is stuck; withholding the systemd watchdog ping"),
                }
            }
        }
    }
}

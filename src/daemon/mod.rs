//! The long-running service: one reconcile loop per target (`target_loop`), triggers, hot
//! reload, systemd notifications, graceful shutdown.

pub mod clock;
pub mod notify;
pub mod reload;
mod target_loop;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;

use crate::aws::{ClientOverrides, MemoryStore};
use crate::config::{Cadence, Config, ConfigError};
use crate::reconcile::liveness_bound;
use crate::telemetry::{Audit, Health, Heartbeat, Metrics};

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
}

impl DaemonError {
    /// Exit status: 78 (EX_CONFIG) for what only an operator can fix, so systemd does not
    /// restart-loop on it; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) | DaemonError::Store(_) => 78,
            _ => 1,
        }
    }
}

/// What the daemon shares with its embedder (the `run` and `demo` commands, tests).
#[derive(Debug, Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub health: Arc<Health>,
}

impl Default for Shared {
    fn default() -> Self {
        let metrics = Arc::new(Metrics::new());
        Shared {
            audit: Audit::new(metrics.clone()),
            metrics,
            health: Arc::new(Health::default()),
        }
    }
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

/// Loads the config (with the `--dry-run` flag applied). Errors carry file:line:col.
pub fn load_config(
    path: &std::path::Path,
    dry_run: bool,
) -> Result<(reload::ConfigSource, Config), ConfigError> {
    let (source, mut cfg) = reload::ConfigSource::load(path)?;
    if dry_run {
        cfg.reconcile.dry_run = true;
    }
    Ok((source, cfg))
}

/// Runs until `shutdown` is cancelled (or SIGTERM/SIGINT when `signals` is on). Returns after
/// the loops stopped, or gave up on in-flight writes after `reconcile.shutdown_timeout`.
pub async fn run(
    opts: DaemonOptions,
    shared: Shared,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let (mut source, cfg) = load_config(&opts.config_path, opts.dry_run)?;
    shared.metrics.config_last_reload_successful.set(1);
    let store = Arc::new(MemoryStore::open(&cfg.baseline)?);
    if cfg.baseline.stores.is_empty() {
        tracing::warn!("no baseline store is configured: baselines are kept in memory only and are lost on restart");
    }
    let (on_demand, _) = watch::channel(OnDemand::default());
    let request = {
        let on_demand = on_demand.clone();
        move |refresh_tags: bool| {
            on_demand.send_modify(|d| {
                d.cycles += 1;
                if refresh_tags {
                    d.tag_refreshes += 1;
                }
            })
        }
    };
    let http = crate::telemetry::http::serve(
        cfg.http.listen,
        shared.metrics.clone(),
        shared.health.clone(),
        ready_max_age(&cfg),
        Arc::new(request.clone()),
        shutdown.clone(),
    )
    .await
    .map_err(|source| DaemonError::Listen {
        addr: cfg.http.listen,
        source,
    })?;
    tracing::info!(addr = %http.addr, "serving /metrics, /healthz, /readyz, POST /reconcile");
    shared.health.set_config_loaded();

    let shutdown_timeout = cfg.reconcile.shutdown_timeout;
    let (cfg_tx, cfg_rx) = watch::channel(Arc::new(cfg));

    let mut loops = JoinSet::new();
    // Cron cadence: a UTC schedule that only signals the loops.
    let (cron_tx, cron_rx) = watch::channel(0u64);
    loops.spawn(cron_task(cfg_rx.clone(), cron_tx, shutdown.clone()));

    for target in cfg_rx.borrow().targets.clone() {
        shared.health.register_target(&target.name);
        let hb = Arc::new(Heartbeat::new(
            &format!("target {}", target.name),
            opts.stuck_after.unwrap_or_else(|| liveness_bound(&target)),
        ));
        shared.health.register_loop(hb.clone());
        loops.spawn(target_loop::run(target_loop::TargetLoop {
            target_name: target.name.clone(),
            cfg_rx: cfg_rx.clone(),
            on_demand: on_demand.subscribe(),
            cron_rx: cron_rx.clone(),
            shared: shared.clone(),
            store: store.clone(),
            overrides: opts.overrides.clone(),
            clock: opts.clock,
            shutdown: shutdown.clone(),
            heartbeat: hb,
            stuck_after: opts.stuck_after,
        }));
    }
    notify::ready(&status_line(&cfg_rx.borrow()));
    tracing::info!(status = %status_line(&cfg_rx.borrow()), "s3prio started");

    if let Some(interval) = notify::watchdog_interval() {
        loops.spawn(watchdog_task(
            interval / 2,
            shared.health.clone(),
            shutdown.clone(),
        ));
    }

    // Reload and signals.
    let mut file_events = match reload::watch_dir(&opts.config_path, shutdown.clone()) {
        Ok(rx) => Some(rx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config directory; reload with SIGHUP");
            None
        }
    };
    let mut signals = if opts.signals {
        Some(Signals::install().map_err(DaemonError::Signals)?)
    } else {
        None
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = async { match file_events.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                source.reload(&cfg_tx, &shared.metrics, opts.dry_run);
                http.ready_max_age_secs.store(ready_max_age(&cfg_tx.borrow()).as_secs(), std::sync::atomic::Ordering::Relaxed);
            }
            sig = async { match signals.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                match sig {
                    Sig::Hup => {
                        tracing::info!("SIGHUP: reloading the config");
                        source.reload(&cfg_tx, &shared.metrics, opts.dry_run);
                    }
                    Sig::Usr1 => {
                        tracing::info!("SIGUSR1: reconcile now, reading every known tag set again");
                        request(true);
                    }
                    Sig::Term => {
                        tracing::info!("shutting down");
                        shutdown.cancel();
                        break;
                    }
                }
            }
        }
    }
    notify::stopping();
    let drained = tokio::time::timeout(shutdown_timeout, async {
        while loops.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?shutdown_timeout, "in-flight calls did not finish within reconcile.shutdown_timeout; abandoned (every write is recorded before it is sent, so no baseline is lost)");
        loops.abort_all();
    }
    http.join().await;
    tracing::info!("stopped");
    Ok(())
}

enum Sig {
    Hup,
    Usr1,
    Term,
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.hup.recv() => Sig::Hup,
            _ = self.usr1.recv() => Sig::Usr1,
            _ = self.term.recv() => Sig::Term,
            _ = self.int.recv() => Sig::Term,
        }
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

/// Runs the UTC cron schedule of the current config and signals `tx` on each firing. Rebuilt
/// when the cadence changes on reload.
async fn cron_task(
    mut cfg_rx: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    use tokio_cron_scheduler::{JobBuilder, JobScheduler};
    let tx = Arc::new(tx);
    loop {
        let cadence = cfg_rx.borrow().reconcile.cadence.clone();
        let mut scheduler = None;
        if let Cadence::Cron(expr) = &cadence {
            let tx2 = tx.clone();
            let built = async {
                let sched = JobScheduler::new().await?;
                let job = JobBuilder::new()
                    .with_timezone(chrono::Utc)
                    .with_cron_job_type()
                    .with_schedule(expr.as_str())?
                    .with_run_async(Box::new(move |_id, _l| {
                        let tx = tx2.clone();
                        Box::pin(async move {
                            tx.send_modify(|v| *v += 1);
                        })
                    }))
                    .build()?;
                sched.add(job).await?;
                sched.start().await?;
                Ok::<_, tokio_cron_scheduler::JobSchedulerError>(sched)
            };
            match built.await {
                Ok(s) => scheduler = Some(s),
                Err(e) => {
                    tracing::error!(cron = %expr, error = %e, "cannot start the cron schedule; falling back to reloads and triggers")
                }
            }
        }
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            r = cfg_rx.changed() => r.is_err(),
        };
        if let Some(mut s) = scheduler {
            let _ = s.shutdown().await;
        }
        if stop {
            return;
        }
        while cfg_rx.borrow().reconcile.cadence == cadence {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = cfg_rx.changed() => if r.is_err() { return },
            }
        }
    }
}

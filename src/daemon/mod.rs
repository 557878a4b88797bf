//! The long-running service: one reconcile loop per target (`target_loop`), triggers, hot
//! reload, systemd notifications, graceful shutdown.

pub mod clock;
mod cron;
pub mod notify;
pub mod on_demand;
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
use crate::telemetry::http::{HttpLimits, HttpOptions};
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
    #[error("{}: error: cannot use the bearer token file of [http] reconcile_token_file: {reason}", path.display())]
    Token { path: PathBuf, reason: String },
}

impl DaemonError {
    /// Exit status: 78 (EX_CONFIG) for what only an operator can fix, so systemd does not
    /// restart-loop on it; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) | DaemonError::Store(_) | DaemonError::Token { .. } => 78,
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

/// Loads the config at start (with the `--dry-run` flag applied), off the runtime's threads:
/// the same read and parse as `check`. Errors carry file:line:col.
pub async fn load_config(
    path: &std::path::Path,
    dry_run: bool,
) -> Result<(reload::ConfigSource, Config), ConfigError> {
    let (source, mut cfg) = reload::ConfigSource::load_async(path).await?;
    if dry_run {
        cfg.reconcile.dry_run = true;
    }
    Ok((source, cfg))
}

/// The longest bearer token file read (a token is one line).
const MAX_TOKEN_BYTES: u64 = 4096;

/// The bearer token of `POST /reconcile`, from `[http] reconcile_token_file`.
async fn read_token(path: &std::path::Path) -> Result<String, DaemonError> {
    let p = path.to_path_buf();
    let invalid = |reason: String| DaemonError::Token {
        path: path.to_path_buf(),
        reason,
    };
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        if !std::fs::metadata(&p)?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&p)?
            .take(MAX_TOKEN_BYTES + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    let bytes = match tokio::time::timeout(reload::READ_TIMEOUT, read).await {
        Ok(Ok(Ok(b))) => b,
        Ok(Ok(Err(e))) => return Err(invalid(e.to_string())),
        Ok(Err(e)) => return Err(invalid(e.to_string())),
        Err(_) => return Err(invalid("reading it took too long".into())),
    };
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "it is larger than {MAX_TOKEN_BYTES} bytes; it should hold one line, the token"
        )));
    }
    let token = String::from_utf8(bytes)
        .map_err(|_| invalid("it is not UTF-8 text".into()))?
        .trim()
        .to_string();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "the token must be one word of at least 16 characters (e.g. the output of `openssl rand -hex 32`)".into(),
        ));
    }
    Ok(token)
}

/// Runs until `shutdown` is cancelled (or SIGTERM/SIGINT when `signals` is on). Returns after
/// the loops stopped, or gave up on in-flight writes after `reconcile.shutdown_timeout`.
pub async fn run(
    opts: DaemonOptions,
    shared: Shared,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let signals = if opts.signals {
        Some(Signals::install().map_err(DaemonError::Signals)?)
    } else {
        None
    };
    let (source, cfg) = load_config(&opts.config_path, opts.dry_run).await?;
    run_loaded(opts, source, cfg, signals, shared, shutdown).await
}

/// [`run`] with the config already loaded and the signal handlers already installed (the
/// binary installs them before anything else, so a signal during start-up is handled, not
/// fatal; `opts.signals` is then ignored).
pub async fn run_loaded(
    opts: DaemonOptions,
    mut source: reload::ConfigSource,
    cfg: Config,
    mut signals: Option<Signals>,
    shared: Shared,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    shared.metrics.config_last_reload_successful.set(1);
    // The state file is read off the runtime's threads, like the config.
    let baseline = cfg.baseline.clone();
    let store = tokio::task::spawn_blocking(move || MemoryStore::open(&baseline))
        .await
        .map_err(|e| {
            DaemonError::Store(crate::aws::memory::StoreError::Io {
                path: cfg.baseline.state_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            })
        })??;
    let store = Arc::new(store);
    if cfg.baseline.stores.is_empty() {
        tracing::warn!("no baseline store is configured: baselines are kept in memory only and are lost on restart");
    }
    let reconcile_token = match &cfg.http.reconcile_token_file {
        Some(path) => Some(read_token(path).await?),
        None => None,
    };
    let (on_demand, _) = watch::channel(OnDemand::default());
    let gate = on_demand::RequestGate::new(on_demand.clone(), on_demand::MIN_INTERVAL);
    let http = crate::telemetry::http::serve(
        HttpOptions {
            listen: cfg.http.listen,
            ready_max_age: ready_max_age(&cfg),
            reconcile_token,
            limits: HttpLimits::default(),
        },
        shared.metrics.clone(),
        shared.health.clone(),
        {
            let gate = gate.clone();
            Arc::new(move |refresh_tags| gate.request(refresh_tags))
        },
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
    loops.spawn(cron::run(
        cfg_rx.clone(),
        cron_tx,
        opts.clock,
        shutdown.clone(),
    ));

    for target in cfg_rx.borrow().targets.clone() {
        shared.health.register_target(&target.name);
        let hb = Arc::new(Heartbeat::new(
            &format!("target {}", target.name),
            opts.stuck_after.unwrap_or_else(|| liveness_bound(&target)),
        ));
        shared.health.register_loop(hb.clone());
        loops.spawn(target_loop::run_supervised(target_loop::TargetLoop {
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
    let set_ready_age = |tx: &watch::Sender<Arc<Config>>| {
        http.ready_max_age_secs.store(
            ready_max_age(&tx.borrow()).as_secs(),
            std::sync::atomic::Ordering::Relaxed,
        );
    };
    // Watching starts before READY=1, and the file is looked at once more, so an edit made
    // while the daemon started is never missed.
    let mut watcher = match reload::ConfigWatcher::new(&opts.config_path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; it is looked at every {} s and on SIGHUP", reload::RECHECK_INTERVAL.as_secs());
            None
        }
    };
    source
        .reload(
            &cfg_tx,
            &shared.metrics,
            opts.dry_run,
            reload::Trigger::Watch,
        )
        .await;
    set_ready_age(&cfg_tx);
    notify::ready(&status_line(&cfg_rx.borrow()));
    tracing::info!(status = %status_line(&cfg_rx.borrow()), "s3prio started");

    if let Some(interval) = notify::watchdog_interval() {
        loops.spawn(watchdog_task(
            interval / 2,
            shared.health.clone(),
            shutdown.clone(),
        ));
    }

    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + reload::RECHECK_INTERVAL,
        reload::RECHECK_INTERVAL,
    );
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = async { match watcher.as_mut() { Some(w) => w.changed().await, None => std::future::pending().await } } => {
                if let Some(w) = watcher.as_mut() {
                    w.refresh();
                }
                source.reload(&cfg_tx, &shared.metrics, opts.dry_run, reload::Trigger::Watch).await;
                set_ready_age(&cfg_tx);
            }
            _ = recheck.tick() => {
                if let Some(w) = watcher.as_mut() {
                    w.refresh();
                }
                source.reload(&cfg_tx, &shared.metrics, opts.dry_run, reload::Trigger::Watch).await;
                set_ready_age(&cfg_tx);
            }
            sig = async { match signals.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                match sig {
                    Sig::Hup => {
                        tracing::info!("SIGHUP: reloading the config");
                        source.reload(&cfg_tx, &shared.metrics, opts.dry_run, reload::Trigger::Signal).await;
                        set_ready_age(&cfg_tx);
                    }
                    Sig::Usr1 => {
                        let admission = gate.request(true);
                        tracing::info!(?admission, "SIGUSR1: reconcile now, reading every known tag set again");
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
    drop(watcher);
    http.join().await;
    tracing::info!("stopped");
    Ok(())
}

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Hup,
    Usr1,
    Term,
}

/// The daemon's signal handlers. Installing them replaces the default dispositions for the
/// life of the process (SIGHUP and SIGUSR1 would otherwise kill it), and a signal that
/// arrives before anyone waits is kept for the next [`Signals::next`].
pub struct Signals {
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signals")
    }
}

impl Signals {
    /// Installs the handlers of SIGHUP, SIGUSR1, SIGTERM and SIGINT (within a tokio runtime).
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGTERM or SIGINT; a SIGHUP or SIGUSR1 meanwhile stays pending for
    /// [`Signals::next`].
    pub async fn terminated(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    pub async fn next(&mut self) -> Sig {
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

//! One target's loop: a cycle, then wait for the next trigger; a trigger that fires during a
//! cycle ends it early and starts the next.
//!
//! Triggers: the cadence (an interval from the start of the last cycle, or a tick of the UTC
//! cron schedule), the next window boundary of the policy (so a window opening is acted on
//! within a second, not at the next poll), a config reload, and an on-demand request (SIGUSR1,
//! `POST /reconcile`). During a cycle a cadence tick or a request winds it down (no new read;
//! decided changes still go out); a boundary, a reload or shutdown abandons what was not
//! committed, since those decisions may be stale. Cycles of one target never overlap.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{notify, status_line, Clock, OnDemand};
use crate::aws::{MemoryStore, SharedClients};
use crate::config::{Cadence, Config, Target};

use crate::policy::Policy;
use crate::reconcile::{liveness_bound, CycleStop, TargetReconciler, Wiring};
use crate::telemetry::Telemetry;
use crate::telemetry::{Heartbeat, Metrics};

/// How long after a window boundary the loop wakes (the boundary instant itself is inside the
/// new state; the margin absorbs timer granularity).
const BOUNDARY_MARGIN: Duration = Duration::from_millis(200);
/// First delay before a loop that panicked is started again; it doubles with each panic in a
/// row, up to `RESTART_MAX`.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A loop that ran this long before panicking starts again after `RESTART_MIN`.
const RESTART_RESET: Duration = Duration::from_secs(600);
/// A waiting loop beats at least this often (and four times within its liveness bound), so
/// the watchdog sees it alive. A thousand idle loops wake 70 times a second at this period.
const IDLE_BEAT: Duration = Duration::from_secs(15);
/// Retry period for a target whose client could not be set up (e.g. no credentials yet).
const SETUP_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(super) struct TargetLoop {
    pub target_name: String,
    pub cfg_rx: watch::Receiver<Arc<Config>>,
    pub on_demand: watch::Receiver<OnDemand>,
    pub cron_rx: watch::Receiver<u64>,
    pub telemetry: Telemetry,
    pub store: Arc<MemoryStore>,
    pub clients: Arc<SharedClients>,
    pub clock: Clock,
    pub shutdown: CancellationToken,
    pub heartbeat: Arc<Heartbeat>,
    /// Overrides the liveness bound derived from the target's settings (tests).
    pub stuck_after: Option<Duration>,
    /// The start of the cadence grid: with an interval cadence, the target that is i-th of the
    /// N running targets cycles at `epoch + (i/N + k) * interval`, so N targets spread their
    /// listings over the interval instead of all listing at once.
    pub epoch: Instant,
}

/// Why a loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Cadence,
    Boundary,
    Reload,
    Request,
    Shutdown,
}

impl Wake {
    /// Whether decisions made before this wake may be stale.
    fn invalidates_decisions(self) -> bool {
        matches!(self, Wake::Boundary | Wake::Reload | Wake::Shutdown)
    }
}

/// When the cadence and the next boundary fall, for one wait.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    cadence: Option<Instant>,
    boundary: Option<Instant>,
}

/// Runs the target's loop, and starts it again, after a backoff, whenever it panics: a bug in
/// one cycle must not leave the target unreconciled. Each panic is logged, counted in
/// `s3prio_target_loop_panics_total` and shown by `/readyz`.
pub(super) async fn run_supervised(l: TargetLoop) {
    let name = l.target_name.clone();
    let (metrics, health, shutdown) = (
        l.telemetry.metrics.clone(),
        l.telemetry.health.clone(),
        l.shutdown.clone(),
    );
    supervise(&name, &shutdown, || run(l.clone()), |message, delay| {
        metrics
            .target_loop_panics
            .get_or_create(&Metrics::target(&name))
            .inc();
        health.cycle_finished(
            &name,
            Err(format!("its loop panicked ({message}); restarted")),
        );
        tracing::error!(target_name = %name, panic = %message, restart_in_ms = delay.as_millis() as u64, "the target loop panicked; starting it again");
    })
    .await
}

/// Runs `start()` as a task until it returns; when it panics, calls `on_panic(message, delay)`
/// and starts it again after `delay` (doubling from `RESTART_MIN` to `RESTART_MAX`).
pub(super) async fn supervise<F, Fut>(
    name: &str,
    shutdown: &CancellationToken,
    mut start: F,
    mut on_panic: impl FnMut(&str, Duration),
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut delay = RESTART_MIN;
    loop {
        let started = Instant::now();
        let mut task = AbortOnDrop(tokio::spawn(start()));
        let result = (&mut task.0).await;
        let panic = match result {
            Ok(()) => return,
            Err(e) if e.is_panic() => e.into_panic(),
            // Aborted: the daemon is stopping.
            Err(_) => return,
        };
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        if started.elapsed() >= RESTART_RESET {
            delay = RESTART_MIN;
        }
        on_panic(&message, delay);
        tracing::debug!(loop_name = name, "waiting before the restart");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(RESTART_MAX);
    }
}

/// A task aborted when its handle is dropped (the supervisor is aborted at shutdown: the loop
/// it runs must stop with it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(mut l: TargetLoop) {
    let mut reconciler: Option<TargetReconciler> = None;
    let mut refreshes_seen = l.on_demand.borrow().tag_refreshes;
    let mut first = true;
    loop {
        l.heartbeat.beat();
        let cfg = l.cfg_rx.borrow_and_update().clone();
        let Some(index) = find_target(&cfg, &l.target_name) else {
            tracing::info!(target_name = %l.target_name, "target no longer in the running config; its loop stops");
            return;
        };
        let target = cfg.targets[index].clone();
        let phase = index as f64 / cfg.targets.len() as f64;
        l.heartbeat
            .set_bound(l.stuck_after.unwrap_or_else(|| liveness_bound(&target)));
        l.telemetry.metrics.init_target(&l.target_name);
        l.telemetry
            .metrics
            .init_rules(&l.target_name, cfg.policy.rule_names());
        let boundary = next_boundary_wake(&cfg.policy, &l.clock);
        if std::mem::take(&mut first) {
            // The first cycle waits for the target's slot on the grid.
            if let Cadence::Interval(d) = &cfg.reconcile.cadence {
                let slot = l.epoch + d.mul_f64(phase);
                if slot > Instant::now() {
                    let at = Deadlines {
                        cadence: Some(slot),
                        boundary,
                    };
                    match wait_for_trigger(&mut l, &cfg, at, true).await {
                        Wake::Shutdown => return,
                        Wake::Reload => {
                            first = true;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
        }
        let started = Instant::now();
        if reconciler
            .as_ref()
            .is_some_and(|rec| !same_connection(rec.target(), &target))
        {
            tracing::info!(target_name = %l.target_name, "the target's account, region, endpoint or role changed; connecting again");
            reconciler = None;
        }
        if reconciler.is_none() {
            reconciler = setup(&l, &target).await;
        }
        let deadlines = Deadlines {
            cadence: match (&cfg.reconcile.cadence, reconciler.is_some()) {
                (_, false) => Some(started + SETUP_RETRY),
                (Cadence::Interval(d), true) => Some(next_slot(l.epoch, phase, *d, started)),
                (Cadence::Cron(_), true) => None,
            },
            boundary,
        };
        let mut woke = None;
        if let Some(rec) = reconciler.as_mut() {
            if rec.target() != &target {
                rec.update_target(target.clone());
            }
            let requested = l.on_demand.borrow().tag_refreshes;
            if requested != refreshes_seen {
                refreshes_seen = requested;
                rec.force_tag_refresh();
            }
            woke = cycle(&mut l, rec, &cfg, deadlines).await;
        }
        if l.shutdown.is_cancelled() || woke == Some(Wake::Shutdown) {
            return;
        }
        if woke.is_none() && wait_for_trigger(&mut l, &cfg, deadlines, true).await == Wake::Shutdown
        {
            return;
        }
    }
}

/// Where the target called `name` is in the running config (sorted by name, so a binary
/// search: a thousand loops each looking once per cycle through a thousand names showed in
/// profiles).
fn find_target(cfg: &Config, name: &str) -> Option<usize> {
    cfg.targets
        .binary_search_by(|t| t.name.as_str().cmp(name))
        .ok()
        .or_else(|| cfg.targets.iter().position(|t| t.name == name))
}

/// The next cycle after one that started at `started`: the first point of the target's grid
/// (`epoch + (phase + k) * interval`) at least half an interval later, so a cycle brought
/// forward by a trigger does not shift the target off its slot.
fn next_slot(epoch: Instant, phase: f64, interval: Duration, started: Instant) -> Instant {
    let period = interval.as_secs_f64().max(0.001);
    let offset = period * phase;
    let since = started.saturating_duration_since(epoch).as_secs_f64() + period / 2.0 - offset;
    let k = (since / period).ceil().max(0.0);
    epoch + Duration::from_secs_f64(offset + k * period)
}

/// Whether a client made for `a` serves `b` (same account, region, endpoints and role).
fn same_connection(a: &Target, b: &Target) -> bool {
    (
        &a.account_id,
        &a.region,
        &a.endpoint_url,
        &a.role_arn,
        &a.sts_endpoint_url,
    ) == (
        &b.account_id,
        &b.region,
        &b.endpoint_url,
        &b.role_arn,
        &b.sts_endpoint_url,
    )
}

/// Whether a new running config concerns the loop of `name`: its policy, its reconcile
/// settings or its own target changed (or went). Other targets coming and going do not wake
/// it, so a discovery that adds an account does not restart every other target's cycle.
fn concerns(old: &Config, new: &Config, name: &str) -> bool {
    let old_target = find_target(old, name).map(|i| &old.targets[i]);
    let new_target = find_target(new, name).map(|i| &new.targets[i]);
    !Arc::ptr_eq(&old.policy, &new.policy)
        || old.reconcile != new.reconcile
        || old_target != new_target
}

/// Builds the target's reconciler; a failure counts as a failed cycle and is retried after
/// `SETUP_RETRY` (`connect` counts and logs the credential error itself).
async fn setup(l: &TargetLoop, target: &Target) -> Option<TargetReconciler> {
    let wiring = Wiring {
        clients: l.clients.clone(),
        store: l.store.clone(),
        metrics: l.telemetry.metrics.clone(),
        audit: l.telemetry.audit.clone(),
        shutdown: l.shutdown.clone(),
        heartbeat: l.heartbeat.clone(),
    };
    let available = |up: i64| {
        l.telemetry
            .metrics
            .target_available
            .get_or_create(&Metrics::target(&l.target_name))
            .set(up);
    };
    match crate::reconcile::connect(target, wiring).await {
        Ok(rec) => {
            available(1);
            Some(rec)
        }
        Err(e) => {
            available(0);
            l.telemetry
                .metrics
                .reconcile_failures
                .get_or_create(&Metrics::target(&l.target_name))
                .inc();
            l.telemetry
                .health
                .cycle_finished(&l.target_name, Err(e.to_string()));
            tracing::info!(target_name = %l.target_name, retry_in = ?SETUP_RETRY, "retrying the target's set-up");
            None
        }
    }
}

/// Runs one cycle; a trigger that fires meanwhile ends it early and is returned.
async fn cycle(
    l: &mut TargetLoop,
    rec: &mut TargetReconciler,
    cfg: &Config,
    deadlines: Deadlines,
) -> Option<Wake> {
    let now = l.clock.now();
    tracing::debug!(target_name = %l.target_name, %now, "cycle starts");
    let refused_before = credential_errors(l);
    let stop = CycleStop::default();
    let run = rec.cycle_until(cfg, now, stop.clone());
    tokio::pin!(run);
    let mut woke = None;
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            w = wait_for_trigger(l, cfg, deadlines, false), if woke.is_none() => {
                tracing::debug!(target_name = %l.target_name, wake = ?w, "trigger during a cycle: ending it early");
                if w.invalidates_decisions() {
                    stop.abandon();
                } else {
                    stop.wind_down();
                }
                woke = Some(w);
            }
        }
    };
    let refused = credential_errors(l).saturating_sub(refused_before);
    record(l, cfg, result, refused);
    woke
}

fn credential_errors(l: &TargetLoop) -> u64 {
    l.telemetry
        .metrics
        .credential_errors
        .get_or_create(&Metrics::target(&l.target_name))
        .get()
}

/// Health, metrics, logs and systemd status of a finished cycle.
fn record(
    l: &TargetLoop,
    cfg: &Config,
    result: Result<crate::reconcile::CycleReport, crate::reconcile::CycleError>,
    credential_errors: u64,
) {
    let labels = Metrics::target(&l.target_name);
    let metrics = &l.telemetry.metrics;
    // Why the cycle failed, as `/readyz` shows it: credentials first, they need a person.
    let reason = |what: String| {
        if credential_errors > 0 {
            format!("the service refused the credentials ({credential_errors} call(s), see s3prio_credential_errors_total): {what}")
        } else {
            what
        }
    };
    match result {
        Ok(report) => {
            let ok = report.is_clean();
            l.telemetry.health.cycle_finished(
                &l.target_name,
                if ok {
                    Ok(())
                } else {
                    Err(reason(report.summary()))
                },
            );
            if ok {
                metrics
                    .last_successful_reconcile
                    .get_or_create(&labels)
                    .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
            } else {
                metrics.reconcile_failures.get_or_create(&labels).inc();
            }
            let line = report.summary();
            if report.written > 0 || !ok || report.plan.blocked.is_some() {
                tracing::info!(target_name = %l.target_name, summary = %line, duration_ms = report.duration.as_millis() as u64, "cycle done");
            } else {
                tracing::debug!(target_name = %l.target_name, summary = %line, "cycle done");
            }
            notify::status(&format!("{}; last cycle: {}", status_line(cfg), line));
        }
        Err(e) => {
            l.telemetry
                .health
                .cycle_finished(&l.target_name, Err(reason(e.to_string())));
            metrics.reconcile_failures.get_or_create(&labels).inc();
            tracing::error!(target_name = %l.target_name, error = %e, "cycle failed; the loop goes on");
        }
    }
}

/// Waits for the next trigger. `beat`: the loop is idle, so waiting is its progress (never
/// while a cycle runs, or a stuck cycle would look alive).
async fn wait_for_trigger(l: &mut TargetLoop, cfg: &Config, at: Deadlines, beat: bool) -> Wake {
    loop {
        let idle = tokio::time::sleep(
            (l.heartbeat.bound() / 4).clamp(Duration::from_millis(100), IDLE_BEAT),
        );
        tokio::select! {
            biased;
            _ = l.shutdown.cancelled() => return Wake::Shutdown,
            r = l.cfg_rx.changed() => {
                if r.is_err() {
                    return Wake::Shutdown;
                }
                let new = l.cfg_rx.borrow_and_update().clone();
                if concerns(cfg, &new, &l.target_name) {
                    return Wake::Reload;
                }
            }
            // The senders live as long as the daemon: closed means shutting down.
            r = l.on_demand.changed() => {
                return if r.is_ok() { Wake::Request } else { Wake::Shutdown };
            }
            r = l.cron_rx.changed() => {
                return if r.is_ok() { Wake::Cadence } else { Wake::Shutdown };
            }
            _ = sleep_until_opt(at.cadence) => return Wake::Cadence,
            _ = sleep_until_opt(at.boundary) => return Wake::Boundary,
            _ = idle => if beat { l.heartbeat.beat() },
        }
    }
}

/// When the loop wakes for the next window boundary of `policy` on `clock`, if there is one.
fn next_boundary_wake(policy: &Policy, clock: &Clock) -> Option<Instant> {
    policy
        .next_window_change(clock.now())
        .map(|t| Instant::now() + clock.real_until(t) + BOUNDARY_MARGIN)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A window from 09:00 to 09:30 UTC on a clock 60 times faster than real time, started at
    /// 08:59:00: the loop wakes one real second later (plus the margin), inside the window, and
    /// its next wake is the closing, half a real minute on.
    #[tokio::test(start_paused = true)]
    async fn a_window_boundary_wakes_the_loop_just_after_it_on_the_daemon_clock() {
        use chrono::TimeZone;
        let src = format!(
            "{}\n[windows.w]\ntimezone = \"UTC\"\nranges = [\"09:00-09:30\"]\n\n[[rules]]\nname = \"in-w\"\nwhen = {{ in_window = \"w\" }}\naction = {{ set = 777 }}\n",
            "[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n"
        );
        let cfg = crate::config::parse(&src, "test.toml")
            .unwrap_or_else(|e| panic!("config should load:\n{e}"));
        let utc = |h, m, s| chrono::Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap();
        let clock = Clock::time_lapse(utc(8, 59, 0), 60.0);
        let start = Instant::now();

        let wake = next_boundary_wake(&cfg.policy, &clock).expect("the window opens");
        assert_eq!(wake - start, Duration::from_secs(1) + BOUNDARY_MARGIN);
        tokio::time::sleep_until(wake).await;
        let now = clock.now();
        assert!(
            now >= utc(9, 0, 0) && now < utc(9, 0, 13),
            "woke at {now}, not just after the opening"
        );

        let next = next_boundary_wake(&cfg.policy, &clock).expect("the window closes");
        let until_close = (utc(9, 30, 0) - now).to_std().expect("before the close");
        let expected = until_close.as_secs_f64() / 60.0 + BOUNDARY_MARGIN.as_secs_f64();
        let got = (next - Instant::now()).as_secs_f64();
        assert!(
            (got - expected).abs() < 0.01,
            "next wake in {got} s, expected {expected} s (the closing)"
        );
    }

    /// The i-th of N targets cycles at i/N of the interval, every interval, and a cycle that a
    /// trigger brought forward does not move it off its slot.
    #[tokio::test(start_paused = true)]
    async fn targets_keep_evenly_spread_slots_on_the_grid() {
        let epoch = Instant::now();
        let d = Duration::from_secs(30);
        let at = |s: f64| epoch + Duration::from_secs_f64(s);
        // Target 3 of 10: slot at 9 s, then 39 s, 69 s...
        assert_eq!(next_slot(epoch, 0.3, d, at(9.0)), at(39.0));
        assert_eq!(next_slot(epoch, 0.3, d, at(39.2)), at(69.0));
        // Brought forward to 30 s (a request): the next is 69 s, not 60 s or 39 s.
        assert_eq!(next_slot(epoch, 0.3, d, at(30.0)), at(69.0));
        // Brought forward to 20 s: 39 s is still at least half an interval away, so 39 s.
        assert_eq!(next_slot(epoch, 0.3, d, at(20.0)), at(39.0));
        // 1,000 targets: every second of the interval holds 33 or 34 slots.
        let mut per_second = [0u32; 30];
        for i in 0..1000 {
            let slot = next_slot(epoch, i as f64 / 1000.0, d, at(i as f64 * 0.03));
            let s = (slot - epoch).as_secs_f64() - 30.0;
            per_second[(s + 1e-6).floor() as usize] += 1;
        }
        assert!(
            per_second.iter().all(|&n| (33..=34).contains(&n)),
            "{per_second:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_panics_is_started_again_after_a_growing_delay() {
        let runs = Arc::new(AtomicUsize::new(0));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let mut panics = Vec::new();
        let origin = Instant::now();
        let shutdown = CancellationToken::new();
        let supervised = supervise(
            "t",
            &shutdown,
            || {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                starts
                    .lock()
                    .expect("lock")
                    .push(origin.elapsed().as_secs());
                async move {
                    if n < 3 {
                        panic!("cycle {n} broke");
                    }
                    std::future::pending::<()>().await
                }
            },
            |message, delay| panics.push((message.to_string(), delay.as_secs())),
        );
        // The fourth run never ends: the supervisor is still watching it when time runs out.
        let still_running = tokio::time::timeout(Duration::from_secs(600), supervised)
            .await
            .is_err();
        assert!(still_running);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
        assert_eq!(*starts.lock().expect("lock"), vec![0, 1, 3, 7]);
        assert_eq!(
            panics,
            vec![
                ("cycle 0 broke".to_string(), 1),
                ("cycle 1 broke".to_string(), 2),
                ("cycle 2 broke".to_string(), 4),
            ]
        );
    }
}
